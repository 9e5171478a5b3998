"""Human parsing (SCHP, ONNX): a 19-label map of a 384×512 person image (design doc §8).

Two sessions: ATR (input 512×512, 18 classes) gives the labels; LIP (473×473, 20 classes)
only tells the neck apart from the face (ATR face pixels that LIP does not call face become
label 18). The pre/post-processing reproduces the original's arithmetic: square affine crop,
BGR ImageNet normalisation, output index 1, bilinear ``align_corners=True`` upsampling,
per-channel inverse warp, argmax, and ATR's clothes hole filling.

ATR labels: 0 background, 1 hat, 2 hair, 3 sunglasses, 4 upper-clothes, 5 skirt, 6 pants,
7 dress, 8 belt, 9 left shoe, 10 right shoe, 11 face, 12 left leg, 13 right leg, 14 left arm,
15 right arm, 16 bag, 17 scarf, 18 neck (added).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

from vto.errors import CheckpointError

log = logging.getLogger(__name__)

ATR_SIZE, LIP_SIZE = 512, 473
ATR_CLASSES, LIP_CLASSES = 18, 20
NECK, ATR_FACE, LIP_FACE = 18, 11, 13
_MEAN = np.array([0.406, 0.456, 0.485], dtype=np.float32)   # ImageNet statistics, BGR order
_STD = np.array([0.225, 0.224, 0.229], dtype=np.float32)
_HOLE_MIN_AREA = 2000


def palette(num_classes: int = 19) -> list[int]:
    """The original's colour map for label images (PASCAL VOC style bit interleaving)."""
    colours = [0] * (num_classes * 3)
    for label in range(num_classes):
        value, bit = label, 0
        while value:
            for channel in range(3):
                colours[label * 3 + channel] |= ((value >> channel) & 1) << (7 - bit)
            bit += 1
            value >>= 3
    return colours


def to_palette_image(labels: np.ndarray) -> Image.Image:
    """Label map -> the "P" image the original's parser returns."""
    image = Image.fromarray(np.asarray(labels, dtype=np.uint8))
    image.putpalette(palette(19))
    return image


def _affine(width: int, height: int, size: int, inverse: bool) -> np.ndarray:
    """The original's crop: box [0, 0, w-1, h-1] squared up, centred in a size×size input."""
    cx, cy = np.float32(0 + (width - 1) * 0.5), np.float32(0 + (height - 1) * 0.5)
    side = max(width - 1, height - 1)          # aspect ratio 1: the longer side wins
    centre = np.array([cx, cy], dtype=np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = centre
    src[1] = centre + np.array([0, side * -0.5])
    dst[0] = [(size - 1) * 0.5, (size - 1) * 0.5]
    dst[1] = np.array([(size - 1) * 0.5, (size - 1) * 0.5]) + np.array(
        [0, (size - 1) * -0.5], np.float32)
    for pts in (src, dst):
        direction = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-direction[1], direction[0]], dtype=np.float32)
    if inverse:
        return cv2.getAffineTransform(np.float32(dst), np.float32(src))
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def _logits(session: ort.InferenceSession, bgr: np.ndarray, size: int) -> np.ndarray:
    """Class scores (H×W×C float32) at the image's own size."""
    height, width = bgr.shape[:2]
    crop = cv2.warpAffine(bgr, _affine(width, height, size, inverse=False), (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))
    tensor = ((crop.astype(np.float32) / 255 - _MEAN) / _STD).transpose(2, 0, 1)[None]
    outputs = session.run(None, {"input.1": np.ascontiguousarray(tensor, dtype=np.float32)})
    scores = torch.nn.functional.interpolate(torch.from_numpy(outputs[1][0]).unsqueeze(0),
                                             size=(size, size), mode="bilinear",
                                             align_corners=True)
    scores = scores[0].permute(1, 2, 0).numpy()
    back = _affine(width, height, size, inverse=True)
    return np.stack([cv2.warpAffine(scores[:, :, c], back, (width, height),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=0)
                     for c in range(scores.shape[2])], axis=2)


def _flood_holes(binary_255: np.ndarray) -> np.ndarray:
    """Fill regions not reachable from (0, 0) through zeros (the original's hole_fill)."""
    flooded = binary_255.copy()
    cv2.floodFill(flooded, np.zeros((binary_255.shape[0] + 2, binary_255.shape[1] + 2),
                                    np.uint8), (0, 0), 255)
    return cv2.bitwise_or(binary_255, cv2.bitwise_not(flooded))


def fill_clothes_holes(labels: np.ndarray) -> np.ndarray:
    """ATR clean-up: pixels enclosed by upper-clothes/arms become upper-clothes (4), except
    arms and enclosed regions larger than 2000 px, which keep their labels."""
    padded = np.pad(labels, 1, mode="constant", constant_values=0)
    arm = ((padded == 14) | (padded == 15)).astype(np.uint8)
    silhouette = np.where((padded == 4) | (arm == 1), 255, 0).astype(np.uint8)
    filled = _flood_holes(silhouette) == 255                  # label 4 after filling
    # int32 on purpose: the original hands cv2 an int32 image here, and findContours traces
    # a CV_32S image (a label image) slightly differently from a uint8 one.
    holes = np.where(filled & (padded != 4) & (arm == 0), 255, 0).astype(np.int32)
    contours, _ = cv2.findContours(holes, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_TC89_L1)
    keep = np.zeros(padded.shape, np.uint8)
    for index, contour in enumerate(contours):
        if abs(cv2.contourArea(contour, True)) > _HOLE_MIN_AREA:
            cv2.drawContours(keep, contours, index, color=255, thickness=-1)
    keep = keep + arm             # uint8 like the original: 255 + 1 wraps to 0 (kept as is)
    result = np.where(keep != 0, padded, np.where(filled, 4, padded))
    return result[1:-1, 1:-1]


def _session(path: Path, device: str) -> ort.InferenceSession:
    if not path.is_file():
        raise CheckpointError(f"human parsing model not found: {path}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        index = device.split(":", 1)[1] if ":" in device else "0"
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(index)}))
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise CheckpointError(f"cannot load human parsing model {path}: {exc}") from None


class HumanParser:
    """``parser(image_384x512) -> (512, 384) uint8 labels 0..18`` (ATR + neck from LIP)."""

    def __init__(self, atr: ort.InferenceSession, lip: ort.InferenceSession) -> None:
        self.atr = atr
        self.lip = lip

    @classmethod
    def from_checkpoint(cls, humanparsing_dir: Path, device: str = "cpu") -> "HumanParser":
        root = Path(humanparsing_dir)
        return cls(_session(root / "parsing_atr.onnx", device),
                   _session(root / "parsing_lip.onnx", device))

    def __call__(self, image: Image.Image) -> np.ndarray:
        return self.both(image)[0]

    def both(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """(ATR labels with the neck as 18, plain LIP labels 0..19), both (512, 384) uint8.

        Some models want LIP's own label set (e.g. CIHP-style maps); never read one map
        with the other's labels (their numbers differ, e.g. 10 and 13)."""
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, [2, 1, 0]])
        atr = fill_clothes_holes(np.argmax(_logits(self.atr, bgr, ATR_SIZE), axis=2))
        lip = np.argmax(_logits(self.lip, bgr, LIP_SIZE), axis=2)
        labels = np.where((atr == ATR_FACE) & (lip != LIP_FACE), NECK, atr)
        return labels.astype(np.uint8), lip.astype(np.uint8)

    def palette_image(self, image: Image.Image) -> Image.Image:
        """The original's return value: a "P" image of the labels."""
        return to_palette_image(self(image))
