"""INTERIM stand-ins for ``vto.core.preprocess.convert`` (being written on another branch):
delete this module and import from there once it lands on main.

Minimal on purpose: the equivalence with the original does not depend on them (the
original is fed the very label map and keypoints these produce).
"""

from __future__ import annotations

import numpy as np

# COCO-18 index of each BODY_25 joint (-1: no COCO counterpart). BODY_25 = COCO-18 with
# MidHip (8) inserted after the wrists and the feet (19-24) appended.
_BODY25_FROM_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, -1, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                       -1, -1, -1, -1, -1, -1)
_R_HIP, _L_HIP = 8, 11  # COCO-18


def coco18_to_body25(keypoints: np.ndarray) -> np.ndarray:
    """(18, 2) COCO-18 -> (25, 2) BODY_25, (0, 0) = missing. MidHip is the hips' midpoint when
    both are present; the feet are missing."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    out = np.zeros((25, 2), np.float64)
    for body25, coco in enumerate(_BODY25_FROM_COCO18):
        if coco >= 0:
            out[body25] = keypoints[coco]
    hips = keypoints[[_R_HIP, _L_HIP]]
    if np.all(np.any(hips != 0, axis=1)):
        out[8] = hips.mean(axis=0)
    return out


_CIHP_TORSO_SKIN, _LIP_JUMPSUIT, _CIHP_DRESS, _ATR_NECK = 10, 10, 6, 18


def atr_lip_to_cihp(atr: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """CIHP labels (0..19) from vto's parsing: LIP's labels (the same classes as CIHP except
    10, LIP's jumpsuit, taken as a dress here), then ATR's neck (18) as CIHP torso skin (10)."""
    cihp = np.asarray(lip, dtype=np.uint8).copy()
    cihp[cihp == _LIP_JUMPSUIT] = _CIHP_DRESS
    cihp[np.asarray(atr) == _ATR_NECK] = _CIHP_TORSO_SKIN
    return cihp
