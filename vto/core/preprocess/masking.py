"""The inpainting mask: which pixels of the person get re-generated (design doc §9).

:func:`get_mask_location` reproduces the original ``run/utils_ootd.py`` pixel for pixel from
the same label map and keypoints, with one documented fix (§12 #11): the original casts the
arm polyline's coordinates to ``uint16``, so a point left of / above the image (e.g. a
wrist extended past the border) wraps to ~65535 and draws a band across the image. vto
draws the true line and lets the drawing clip at the image border; for every coordinate in
[-1, 65536) both agree. ``original_uint16_wrap=True`` restores the original behaviour.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from vto.core.fidelity import warn_if_unverified_opencv
from vto.core.types import Category, ModelType, parse_category, parse_model_type

# ATR labels (see vto.core.preprocess.parsing)
BACKGROUND, HAT, SUNGLASSES, UPPER, SKIRT, PANTS, DRESS = 0, 1, 3, 4, 5, 6, 7
LEFT_SHOE, RIGHT_SHOE, FACE, LEFT_LEG, RIGHT_LEG, LEFT_ARM, RIGHT_ARM, BAG, NECK = (
    9, 10, 11, 12, 13, 14, 15, 16, 18)
ARM_WIDTH = {ModelType.HD: 60, ModelType.DC: 45}     # the only hd/dc difference
_KERNEL = np.ones((5, 5), np.uint8)
_COORD_LIMIT = 1 << 15          # keeps absurd user keypoints from making PIL draw for ages


def _isin(labels: np.ndarray, values: Sequence[int]) -> np.ndarray:
    return np.isin(labels, values)


def _fill_holes(binary_255: np.ndarray) -> np.ndarray:
    """The original's hole_fill: zero the 1-px border, fill what (0, 0) cannot reach."""
    img = np.pad(binary_255[1:-1, 1:-1], 1, mode="constant", constant_values=0)
    flooded = img.copy()
    cv2.floodFill(flooded, np.zeros((img.shape[0] + 2, img.shape[1] + 2), np.uint8), (0, 0), 255)
    return cv2.bitwise_or(img, cv2.bitwise_not(flooded))


def _largest_region(binary_255: np.ndarray) -> np.ndarray:
    """Keep only the contour with the largest |area| (first one on ties), drawn filled."""
    contours, _ = cv2.findContours(binary_255, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_TC89_L1)
    out = np.zeros_like(binary_255)
    if contours:
        areas = [abs(cv2.contourArea(c, True)) for c in contours]
        cv2.drawContours(out, contours, areas.index(max(areas)), color=255, thickness=-1)
    return out


def _arm_image(points: list[np.ndarray], shoulder: np.ndarray, line_width: int,
               size: tuple[int, int], wrap: bool) -> Image.Image:
    """Polyline of the arm plus a ring at the shoulder, white on a black "L" canvas."""
    image = Image.new("L", size)
    draw = ImageDraw.Draw(image)
    coords = np.concatenate(points)
    if wrap:
        flat = coords.astype(np.uint16).tolist()
    else:
        flat = np.trunc(np.clip(coords, -_COORD_LIMIT, _COORD_LIMIT)).astype(np.int64).tolist()
    draw.line(flat, "white", line_width, "curve")
    half = line_width // 2
    draw.arc([shoulder[0] - half, shoulder[1] - half, shoulder[0] + half, shoulder[1] + half],
             0, 360, "white", line_width // 2)
    return image


def _arm_mask(shoulder: np.ndarray, elbow: np.ndarray, wrist: np.ndarray, parsed_arm: np.ndarray,
              line_width: int, size: tuple[int, int], original_uint16_wrap: bool,
              from_shoulder: bool) -> np.ndarray:
    """One arm's region: a stroke to the wrist pushed 20% past it, or, when the wrist is
    "missing" (at (<=1, <=1)), the parsed arm itself."""
    if wrist[0] <= 1.0 and wrist[1] <= 1.0:
        return parsed_arm
    wrist = elbow + 1.2 * (wrist - elbow)
    points = [shoulder, elbow, wrist] if from_shoulder else [wrist, elbow, shoulder]
    return np.asarray(_arm_image(points, shoulder, line_width, size, original_uint16_wrap)) != 0


def _pose_array(keypoints: dict | Sequence) -> np.ndarray:
    data = keypoints["pose_keypoints_2d"] if isinstance(keypoints, dict) else keypoints
    return np.array(data, dtype=np.float64).reshape((-1, 2))


def get_mask_location(model_type: ModelType | str, category: Category | str,
                      label_map: np.ndarray | Image.Image, keypoints: dict | Sequence,
                      width: int = 384, height: int = 512, *,
                      original_uint16_wrap: bool = False) -> tuple[Image.Image, Image.Image]:
    """(mask, mask_gray): "L" images at width×height; mask is 255 where the garment goes,
    mask_gray 127 there (the grey the masked person shows). See the module docstring."""
    warn_if_unverified_opencv()  # outlines match the original's only on the verified OpenCV
    model_type = parse_model_type(model_type)
    category = parse_category(category)
    parse_image = label_map if isinstance(label_map, Image.Image) else Image.fromarray(
        np.asarray(label_map, dtype=np.uint8))
    labels = np.array(parse_image.resize((width, height), Image.NEAREST))

    head = _isin(labels, (HAT, SUNGLASSES, FACE))
    fixed = _isin(labels, (LEFT_SHOE, RIGHT_SHOE, HAT, SUNGLASSES, BAG))
    arms_left = labels == LEFT_ARM
    arms_right = labels == RIGHT_ARM
    if category is Category.DRESS:
        garment = _isin(labels, (DRESS, UPPER, SKIRT, PANTS))
    elif category is Category.UPPER_BODY:
        garment = _isin(labels, (UPPER, DRESS))
        fixed = fixed | _isin(labels, (SKIRT, PANTS))
    else:
        garment = _isin(labels, (PANTS, LEFT_LEG, RIGHT_LEG, SKIRT))
        fixed = fixed | _isin(labels, (UPPER, LEFT_ARM, RIGHT_ARM))
    changeable = (labels == BACKGROUND) | ((labels != 0) & ~fixed)

    pose = _pose_array(keypoints) * (height / 512.0)
    arm_left = arm_right = np.zeros(labels.shape, bool)
    if category in (Category.DRESS, Category.UPPER_BODY):
        line_width = int(ARM_WIDTH[model_type] / 512 * height)
        size = (width, height)
        # The original strokes the right arm shoulder->wrist and the left one wrist->shoulder.
        arm_right = _arm_mask(pose[2], pose[3], pose[4], arms_right, line_width, size,
                              original_uint16_wrap, from_shoulder=True)
        arm_left = _arm_mask(pose[5], pose[6], pose[7], arms_left, line_width, size,
                             original_uint16_wrap, from_shoulder=False)
        hands = (~arm_left & arms_left) | (~arm_right & arms_right)
        fixed = fixed | hands

    fixed = fixed | head
    garment = cv2.dilate(garment.astype(np.float32), _KERNEL, iterations=5) != 0
    if category in (Category.DRESS, Category.UPPER_BODY):
        neck = cv2.dilate((labels == NECK).astype(np.float32), _KERNEL, iterations=1) != 0
        garment = garment | (neck & ~head)
        arms = cv2.dilate((arm_left | arm_right).astype(np.float32), _KERNEL, iterations=4)
        garment = garment | (arms != 0)

    keep = (changeable & ~garment) | fixed
    region = _largest_region(_fill_holes(np.where(keep, 0, 255).astype(np.uint8)))
    inpaint = (region // 255).astype(np.uint8)
    return Image.fromarray(inpaint * 255), Image.fromarray(inpaint * 127)
