"""INTERIM stand-ins for ``vto.core.preprocess.convert`` (being written on another branch, not
on main yet): the same names and signatures, minimal bodies. Delete this module and import
from ``vto.core.preprocess.convert`` once it lands.

Minimal on purpose: the equivalence with the original does not depend on them (the original
is fed the very label map and keypoints they produce). Differences from the real module:
``cihp_labels`` takes LIP's classes plus ATR's neck (no per-class rules), ``resize_labels``
is NEAREST only, confidences are always 1.0.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FRAME = (384, 512)                 # (W, H) of vto's pose and parsing
MODEL_SIZE = (768, 1024)           # (W, H) of HR-VITON's data

# BODY_25 index of each COCO-18 part; BODY_25 adds MidHip (8) and the feet (19-24).
COCO_TO_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
MID_HIP, COCO_R_HIP, COCO_L_HIP = 8, 8, 11


def body25_keypoints(keypoints: np.ndarray, size: tuple[int, int] = MODEL_SIZE,
                     frame: tuple[int, int] = FRAME) -> np.ndarray:
    """(18, 2) COCO-18 keypoints in ``frame`` ((0, 0) = missing) -> (25, 3) float64 BODY_25
    [x, y, c] in a ``size`` image, pixel centre to pixel centre (``x' = (x + 0.5) W'/W -
    0.5``). MidHip is the hips' mean when both are present; the feet are missing."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    sx, sy = size[0] / frame[0], size[1] / frame[1]
    body = np.zeros((25, 3))
    for coco, part in enumerate(COCO_TO_BODY25):
        x, y = keypoints[coco, :2]
        if not (x == 0.0 and y == 0.0):
            body[part] = ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5, 1.0)
    right, left = body[COCO_TO_BODY25[COCO_R_HIP]], body[COCO_TO_BODY25[COCO_L_HIP]]
    if right[2] > 0 and left[2] > 0:
        body[MID_HIP] = ((right[0] + left[0]) / 2, (right[1] + left[1]) / 2, 1.0)
    return body


_CIHP_TORSO_SKIN, _LIP_JUMPSUIT, _CIHP_DRESS, _ATR_NECK = 10, 10, 6, 18


def cihp_labels(atr: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """CIHP labels (uint8 0..19) from vto's ATR (18 = neck) and LIP maps: LIP's classes (the
    same as CIHP's except 10, LIP's jumpsuit, taken as a dress), then the neck as torso skin."""
    cihp = np.asarray(lip, dtype=np.uint8).copy()
    cihp[cihp == _LIP_JUMPSUIT] = _CIHP_DRESS
    cihp[np.asarray(atr) == _ATR_NECK] = _CIHP_TORSO_SKIN
    return cihp


def resize_labels(labels: np.ndarray, size: tuple[int, int] = MODEL_SIZE,
                  smooth: bool = True) -> np.ndarray:
    """A label map at ``size`` (W, H), NEAREST (``smooth`` is not implemented here)."""
    return np.asarray(Image.fromarray(np.asarray(labels, np.uint8)).resize(size, Image.NEAREST))
