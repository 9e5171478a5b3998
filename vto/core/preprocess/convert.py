"""From vto's pose and parsing to the inputs the classic GAN try-on models were trained on.

vto computes COCO-18 OpenPose keypoints in a 384×512 frame ((0, 0) = missing), ATR labels
0..17 + 18 = neck and LIP labels 0..19 (maps of 512 rows × 384 columns). VITON-HD
(shadow2496/VITON-HD ``datasets.py``) and HR-VITON (sangyun884/HR-VITON
``cp_dataset_test.py``, ``get_parse_agnostic.py``) read files other tools made:

===========================  =================================  ===================================
function                     produces                           read by (dataset folder → use)
===========================  =================================  ===================================
:func:`body25_keypoints`     (25, 3) [x, y, c], e.g. 768×1024   ``openpose-json``/``openpose_json``
:func:`openpose_json`        OpenPose 1.3 JSON of one person    → ``pose_keypoints_2d[:, :2]``:
                                                                agnostic image, parse agnostic
                                                                (c is never read)
:func:`render_body25`        RGB skeleton on black (OpenPose's  ``openpose-img``/``openpose_img``
                             GPU renderer, --disable_blending)  ``*_rendered.png`` → ``pose``
:func:`cihp_labels`          CIHP labels 0..19 (512×384)        ``image-parse`` (VITON-HD),
:func:`resize_labels`        … at the model's size              ``image-parse-v3`` (HR-VITON) →
:func:`cihp_palette_image`   "P" image, CIHP-PGN's colours      parse (agnostic), 13-group maps
:func:`coco18_keypoints`     (18, 3) [x, y, c] at any size      CP-VTON+ ``pose`` (pose_keypoints)
===========================  =================================  ===================================

Approximations (vto runs OpenPose's COCO-18 body model, the datasets used BODY_25):
MidHip is the mean of the two hips (missing unless both are found), the six foot points are
missing, and a part's confidence is the COCO model's peak score where the caller passes
scores, else 1.0; a missing part is written as OpenPose writes it, (0, 0, 0).
The datasets' own code reads only BODY_25 parts 1-7, 9 and 12 (neck, shoulders, elbows,
wrists, hips), all exact copies of COCO parts, so neither approximation reaches their
agnostic images or parse maps; only the rendered skeleton shows MidHip (and no feet).
Keypoints are mapped between frames pixel-centre to pixel-centre,
``x' = (x + 0.5) · W'/W - 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import cv2
import numpy as np
from PIL import Image

FRAME = (384, 512)                 # (W, H) of vto's pose and parsing
MODEL_SIZE = (768, 1024)           # (W, H) of VITON-HD's and HR-VITON's data

# BODY_25 index of each COCO-18 part (nose, neck, RShoulder … LEar).
COCO_TO_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
MID_HIP, COCO_R_HIP, COCO_L_HIP = 8, 8, 11

# 18 entries (x, y) or (x, y, score); None or (0, 0) = missing (e.g. ModelInputs.keypoints,
# Person.keypoints, keypoints_dict(person)["pose_keypoints_2d"]).
KeypointsLike = Union[np.ndarray, Sequence[Union[Sequence[float], None]]]


# --------------------------------------------------------------------------- keypoints

def coco18_keypoints(keypoints: KeypointsLike, size: tuple[int, int] = (192, 256),
                     frame: tuple[int, int] = FRAME,
                     scores: Sequence[float | None] | None = None) -> np.ndarray:
    """COCO-18 keypoints as (18, 3) float64 [x, y, c] in a ``size`` (W, H) image.

    ``keypoints``: 18 entries (x, y) or (x, y, score) in ``frame``; an entry that is None
    or (0, 0) is missing and becomes (0, 0, 0). ``scores`` (e.g. ``Person.part_scores``)
    overrides the confidences; without any, a present part gets c = 1.0.
    """
    points = np.zeros((18, 3))
    entries = list(keypoints)
    if len(entries) != 18:
        raise ValueError(f"expected 18 COCO keypoints, got {len(entries)}")
    sx, sy = size[0] / frame[0], size[1] / frame[1]
    for i, entry in enumerate(entries):
        if entry is None:
            continue
        values = [float(v) for v in entry]
        x, y = values[0], values[1]
        if (x == 0.0 and y == 0.0) or not (np.isfinite(x) and np.isfinite(y)):
            continue
        score = values[2] if len(values) > 2 else 1.0
        if scores is not None:
            given = scores[i]
            score = 1.0 if given is None else float(given)
        points[i] = ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, score)
    return points


def body25_keypoints(keypoints: KeypointsLike, size: tuple[int, int] = MODEL_SIZE,
                     frame: tuple[int, int] = FRAME,
                     scores: Sequence[float | None] | None = None) -> np.ndarray:
    """BODY_25 keypoints (25, 3) float64 [x, y, c] in a ``size`` image, from COCO-18 ones
    (arguments as :func:`coco18_keypoints`). MidHip = mean of the hips, feet missing."""
    coco = coco18_keypoints(keypoints, size, frame, scores)
    body = np.zeros((25, 3))
    body[list(COCO_TO_BODY25)] = coco
    right, left = coco[COCO_R_HIP], coco[COCO_L_HIP]
    if right[2] > 0 and left[2] > 0:
        body[MID_HIP] = ((right[0] + left[0]) / 2, (right[1] + left[1]) / 2,
                         min(right[2], left[2]))
    return body


def openpose_json(body25: np.ndarray) -> dict:
    """The JSON document OpenPose 1.3+ writes for one person (``--write_json``)."""
    flat = [float(v) for v in np.asarray(body25, np.float64).reshape(-1)]
    if len(flat) != 75:
        raise ValueError(f"expected 25 BODY_25 keypoints, got {len(flat) / 3:g}")
    person = {"person_id": [-1], "pose_keypoints_2d": flat, "face_keypoints_2d": [],
              "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
              "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
              "hand_right_keypoints_3d": []}
    return {"version": 1.3, "people": [person]}


# --------------------------------------------------------------------------- rendering

# OpenPose poseParametersRender.hpp: BODY_25 limbs (drawn in this order, each in the colour
# of its second part) and the part colours (RGB).
BODY25_PAIRS = ((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10),
                (10, 11), (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16),
                (16, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24))
BODY25_COLOURS = ((255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0),
                  (170, 255, 0), (85, 255, 0), (0, 255, 0), (255, 0, 0), (0, 255, 85),
                  (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255),
                  (255, 0, 170), (170, 0, 255), (255, 0, 255), (85, 0, 255), (0, 0, 255),
                  (0, 0, 255), (0, 0, 255), (0, 255, 255), (0, 255, 255), (0, 255, 255))
RENDER_THRESHOLD = 0.05            # --render_threshold default
ALPHA_POSE = 0.6                   # --alpha_pose default (applies with --disable_blending too)


def render_body25(body25: np.ndarray, size: tuple[int, int] = MODEL_SIZE) -> Image.Image:
    """The ``*_rendered.png`` OpenPose writes with ``--disable_blending`` (GPU renderer,
    ``renderKeypointsOld`` in render.hu), for keypoints already at ``size`` (W, H).

    Per pixel, in float32 as the CUDA kernel: every limb whose two parts score above 0.05
    is an ellipse over the segment (half-width min(W, H)/120 · s), every part a disc of
    radius min(W, H)/100 · s, where s = clamp((box width + box height)/400, 0.33, 1) of the
    keypoint box; each is blended over the black frame with alpha 0.6, limbs first. Only
    pixels within 50 px of the keypoint box are drawn. The datasets rendered at the image's
    own size (768×1024); render there and resize, as their loaders do, for other sizes.
    Differences left: no hand skeletons (HR-VITON's recipe runs ``--hand``; vto detects
    no hand keypoints); CUDA's ``sinf``/``atan2f``/FMA rounding may flip pixels lying
    exactly on an ellipse's edge.
    """
    width, height = size
    points = np.asarray(body25, np.float32).reshape(25, 3)
    canvas = np.zeros((height, width, 3), np.float32)
    visible = points[:, 2] > np.float32(RENDER_THRESHOLD)
    if not visible.any():
        return Image.fromarray(canvas.astype(np.uint8), "RGB")
    xs, ys = points[visible, 0], points[visible, 1]
    min_x, min_y = min(np.float32(width), xs.min()), min(np.float32(height), ys.min())
    max_x, max_y = max(np.float32(0), xs.max()), max(np.float32(0), ys.max())
    scale = np.float32(1.0)      # the kernel leaves it unset (garbage) in this corner case
    if max_x != 0 and max_y != 0:
        scale = np.float32(np.clip((max_x - min_x + (max_y - min_y)) / np.float32(400),
                                   np.float32(0.33), np.float32(1.0)))
        min_x, min_y = min_x - np.float32(50), min_y - np.float32(50)
        max_x, max_y = max_x + np.float32(50), max_y + np.float32(50)
    # Pixels the kernel visits: within the (expanded) keypoint box.
    box = (max(0, int(np.ceil(min_x))), max(0, int(np.ceil(min_y))),
           min(width - 1, int(np.floor(max_x))), min(height - 1, int(np.floor(max_y))))
    alpha = np.float32(ALPHA_POSE)
    keep = np.float32(1.0) - alpha
    colours = np.asarray(BODY25_COLOURS, np.float32)
    short = np.float32(min(width, height))
    line_sq = (short / np.float32(120)) ** 2
    radius_sq = (short / np.float32(100)) ** 2

    def window(cx: float, cy: float, reach: float) -> tuple[np.ndarray, np.ndarray, tuple]:
        """Pixel coordinates of the box part within ``reach`` of (cx, cy): nothing farther
        can be inside a shape, so evaluating only these keeps the result exact and fast."""
        x0, y0 = max(box[0], int(np.floor(cx - reach))), max(box[1], int(np.floor(cy - reach)))
        x1, y1 = min(box[2], int(np.ceil(cx + reach))), min(box[3], int(np.ceil(cy + reach)))
        gx = np.arange(x0, max(x0, x1 + 1), dtype=np.float32)[None, :]
        gy = np.arange(y0, max(y0, y1 + 1), dtype=np.float32)[:, None]
        return gx, gy, (slice(y0, y0 + gy.shape[0]), slice(x0, x0 + gx.shape[1]))

    def blend(where: np.ndarray, region: tuple, part: int) -> None:
        view = canvas[region]
        view[where] = keep * view[where] + alpha * colours[part]

    with np.errstate(divide="ignore", invalid="ignore"):
        for a, b in BODY25_PAIRS:
            if not (visible[a] and visible[b]):
                continue
            (xa, ya), (xb, yb) = points[a, :2], points[b, :2]
            b_sq = scale * scale * line_sq
            xp, yp = (xa + xb) / np.float32(2), (ya + yb) / np.float32(2)
            a_sq = (xa - xp) * (xa - xp) + (ya - yp) * (ya - yp)
            angle = np.arctan2(yb - ya, xb - xa)
            sine, cosine = np.sin(angle), np.cos(angle)
            gx, gy, region = window(xp, yp, float(np.sqrt(a_sq + b_sq)) + 2.0)
            along = cosine * (gx - xp) + sine * (gy - yp)
            across = sine * (gx - xp) - cosine * (gy - yp)
            judge = along * along / a_sq + across * across / b_sq
            blend((judge >= 0) & (judge <= 1), region, b)
        for part in np.nonzero(visible)[0]:
            x, y = points[part, :2]
            reach_sq = scale * scale * radius_sq
            gx, gy, region = window(x, y, float(np.sqrt(reach_sq)) + 2.0)
            dist_sq = (gx - x) * (gx - x) + (gy - y) * (gy - y)
            blend(dist_sq <= reach_sq, region, int(part))
    # cv::Mat::convertTo(CV_8UC3): round half to even, saturate.
    return Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), "RGB")


# --------------------------------------------------------------------------- labels

CIHP_LABELS = ("background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress",
               "coat", "socks", "pants", "torso-skin", "scarf", "skirt", "face", "left-arm",
               "right-arm", "left-leg", "right-leg", "left-shoe", "right-shoe")


@dataclass(frozen=True)
class CihpRule:
    """Pixels whose ATR label is in ``atr`` and LIP label in ``lip`` (None: any) get ``cihp``."""

    cihp: int
    atr: frozenset[int]
    lip: frozenset[int] | None = None


def _rule(cihp: int, atr: set[int], lip: set[int] | None = None) -> CihpRule:
    return CihpRule(cihp, frozenset(atr), None if lip is None else frozenset(lip))


# Applied top to bottom, a later row overriding an earlier one. ATR (the map vto and OOTD
# trust, neck included) gives every pixel a base class; LIP only adds the classes ATR lacks.
# LIP's own numbers are never copied: LIP 10 is "jumpsuits", CIHP 10 is "torso-skin".
# Left/right: ATR, LIP and CIHP all mean the person's side (ATR 14 and CIHP 14 go with the
# left shoulder/elbow/wrist keypoints in OOTD's and VITON-HD's masks alike).
CIHP_RULES: tuple[CihpRule, ...] = (
    _rule(0, {0}),                  # ATR background -> background
    _rule(1, {1}),                  # ATR hat -> hat
    _rule(2, {2}),                  # ATR hair -> hair
    _rule(4, {3}),                  # ATR sunglasses -> sunglasses
    _rule(5, {4}),                  # ATR upper-clothes -> upper-clothes (coats below)
    _rule(12, {5}),                 # ATR skirt -> skirt
    _rule(9, {6}),                  # ATR pants -> pants
    _rule(6, {7}),                  # ATR dress -> dress
    _rule(9, {8}),                  # ATR belt: CIHP has none; part of the lower garment
    _rule(18, {9}),                 # ATR left shoe -> left-shoe
    _rule(19, {10}),                # ATR right shoe -> right-shoe
    _rule(13, {11}),                # ATR face -> face
    _rule(16, {12}),                # ATR left leg -> left-leg
    _rule(17, {13}),                # ATR right leg -> right-leg
    _rule(14, {14}),                # ATR left arm -> left-arm
    _rule(15, {15}),                # ATR right arm -> right-arm
    _rule(0, {16}),                 # ATR bag: CIHP has none (unlabelled = background)
    _rule(11, {17}),                # ATR scarf -> scarf
    _rule(10, {18}),                # vto's neck (ATR face that LIP calls no face) -> torso-skin
    _rule(7, {4}, {7}),             # LIP coat on ATR upper-clothes -> coat
    _rule(3, {0, 14, 15}, {3}),     # LIP glove on ATR arm/background -> glove (ATR has none)
    _rule(8, {9, 10, 12, 13}, {8}),  # LIP socks on ATR leg/shoe -> socks (ATR has none)
    _rule(5, {8}, {5}),             # belt that LIP puts on upper-clothes -> upper-clothes
    _rule(6, {8}, {6}),             # belt that LIP puts on a dress -> dress
    _rule(7, {8}, {7}),             # belt that LIP puts on a coat -> coat
    _rule(12, {8}, {12}),           # belt that LIP puts on a skirt -> skirt
)


def cihp_labels(atr: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """CIHP labels (uint8 0..19, see CIHP_LABELS) from vto's ATR (0..18, 18 = neck) and LIP
    (0..19) maps of the same shape, by CIHP_RULES."""
    atr, lip = np.asarray(atr), np.asarray(lip)
    if atr.shape != lip.shape or atr.ndim != 2:
        raise ValueError(f"ATR and LIP maps must be 2-D and alike, got {atr.shape}, {lip.shape}")
    if atr.size and (atr.min() < 0 or atr.max() > 18 or lip.min() < 0 or lip.max() > 19):
        raise ValueError("ATR labels must be 0..18 and LIP labels 0..19")
    out = np.zeros(atr.shape, np.uint8)
    for rule in CIHP_RULES:
        where = np.isin(atr, list(rule.atr))
        if rule.lip is not None:
            where &= np.isin(lip, list(rule.lip))
        out[where] = rule.cihp
    return out


def resize_labels(labels: np.ndarray, size: tuple[int, int] = MODEL_SIZE,
                  smooth: bool = True) -> np.ndarray:
    """A label map at ``size`` (W, H).

    ``smooth``: each class's indicator is resized bilinearly and, when enlarging, blurred
    (Gaussian, σ = half the scale factor); the largest wins. Edges then advance one pixel at
    a time instead of in NEAREST's scale-sized stairs — HR-VITON smoothed its upsampled
    parse maps the same way (σ 3 at 4×) — while a part one source pixel wide survives.
    ``smooth=False``: NEAREST, what the datasets' own ``Resize(interpolation=0)`` does.
    """
    labels = np.asarray(labels, np.uint8)
    if not smooth:
        return cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    sigma = 0.5 * max(size[0] / labels.shape[1], size[1] / labels.shape[0])
    best = np.full((size[1], size[0]), -1.0, np.float32)
    out = np.zeros((size[1], size[0]), np.uint8)
    for label in np.unique(labels):     # ascending: ties go to the lower label
        score = cv2.resize((labels == label).astype(np.float32), size,
                           interpolation=cv2.INTER_LINEAR)
        if sigma > 0.5:
            score = cv2.GaussianBlur(score, (0, 0), sigma)
        better = score > best
        out[better], best[better] = label, score[better]
    return out


def cihp_palette() -> list[int]:
    """CIHP-PGN's label colours (RGB, 20 × 3), as its output and the datasets' maps use."""
    colours = ((0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0),
               (0, 0, 85), (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128),
               (0, 128, 0), (0, 0, 255), (51, 170, 221), (0, 255, 255), (85, 255, 170),
               (170, 255, 85), (255, 255, 0), (255, 170, 0))
    return [c for colour in colours for c in colour]


def cihp_palette_image(labels: np.ndarray) -> Image.Image:
    """A "P" image of CIHP labels; ``np.array(image)`` gives the labels back."""
    image = Image.fromarray(np.asarray(labels, np.uint8), "L")
    image.putpalette(cihp_palette())          # "L" -> "P", the values kept as indices
    return image
