"""INTERIM stand-in for ``vto.core.preprocess.convert`` (being written on another branch).

Delete this module and import from ``vto.core.preprocess.convert`` once that lands: the
functions here have its names and signatures, with minimal bodies:

* :func:`body25_keypoints`: COCO-18 (vto's 384x512 frame) -> BODY_25 (25, 3) at the model
  size, pixel centre to pixel centre; MidHip = mean of the hips (only when both are found),
  the six foot points missing.
* :func:`cihp_labels`: ATR (+18 = neck) -> CIHP labels by a plain table (LIP unused here).
* :func:`resize_labels`: NEAREST resize of a label map.
* :func:`render_body25`: OpenPose's colours and limb order, drawn with PIL on black (the
  real renderer reproduces OpenPose's GPU kernel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

FRAME = (384, 512)
MODEL_SIZE = (768, 1024)
COCO_TO_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
# ATR label -> CIHP label (ATR: vto.core.preprocess.parsing; CIHP: VITON-HD's datasets.py)
_ATR_TO_CIHP = np.array([0, 1, 2, 4, 5, 12, 9, 6, 9, 18, 19, 13, 16, 17, 14, 15, 0, 11, 10],
                        np.uint8)
BODY25_PAIRS = ((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10),
                (10, 11), (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16),
                (16, 18))
BODY25_COLOURS = ((255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0),
                  (170, 255, 0), (85, 255, 0), (0, 255, 0), (255, 0, 0), (0, 255, 85),
                  (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255),
                  (255, 0, 170), (170, 0, 255), (255, 0, 255), (85, 0, 255))


def body25_keypoints(keypoints: np.ndarray | Sequence, size: tuple[int, int] = MODEL_SIZE,
                     frame: tuple[int, int] = FRAME) -> np.ndarray:
    coco = np.zeros((18, 3))
    sx, sy = size[0] / frame[0], size[1] / frame[1]
    for i, (x, y) in enumerate(np.asarray(keypoints, np.float64).reshape(18, -1)[:, :2]):
        if not (x == 0.0 and y == 0.0):
            coco[i] = ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, 1.0)
    body = np.zeros((25, 3))
    body[list(COCO_TO_BODY25)] = coco
    if coco[8, 2] > 0 and coco[11, 2] > 0:
        body[8] = ((coco[8, 0] + coco[11, 0]) / 2, (coco[8, 1] + coco[11, 1]) / 2, 1.0)
    return body


def cihp_labels(atr: np.ndarray, lip: np.ndarray) -> np.ndarray:
    return _ATR_TO_CIHP[np.asarray(atr, np.uint8)]


def resize_labels(labels: np.ndarray, size: tuple[int, int] = MODEL_SIZE,
                  smooth: bool = True) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(labels, np.uint8)).resize(size, Image.NEAREST))


def render_body25(body25: np.ndarray, size: tuple[int, int] = MODEL_SIZE) -> Image.Image:
    image = Image.new("RGB", size, (0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = np.asarray(body25, np.float64).reshape(25, 3)
    width = max(1, round(min(size) / 60))
    for a, b in BODY25_PAIRS:
        if points[a, 2] > 0 and points[b, 2] > 0:
            draw.line([tuple(points[a, :2]), tuple(points[b, :2])], BODY25_COLOURS[b], width)
    radius = min(size) / 100
    for part in np.nonzero(points[:, 2] > 0)[0]:
        x, y = points[part, :2]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), BODY25_COLOURS[part])
    return image
