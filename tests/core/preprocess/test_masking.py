"""get_mask_location: pixel-identical to the original on designed label maps and keypoints.

The GOLDEN hashes were produced by the original ``run/utils_ootd.py`` (levihsu/OOTDiffusion
@13ef0fa, run unchanged on these exact inputs); see the report of the Preprocessing issue.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from vto.core.preprocess.masking import get_mask_location
from vto.core.types import Category, ModelType


def body_labels() -> np.ndarray:
    """A front-facing person in ATR labels, 384×512."""
    lab = np.zeros((512, 384), np.uint8)
    lab[20:90, 150:230] = 2            # hair
    lab[40:100, 160:220] = 11          # face
    lab[100:120, 170:210] = 18         # neck
    lab[120:300, 110:270] = 4          # upper clothes
    lab[120:320, 70:110] = 14          # left arm (image left)
    lab[120:320, 270:310] = 15         # right arm
    lab[300:480, 120:260] = 6          # pants
    lab[480:512, 120:190] = 9          # shoes
    lab[480:512, 190:260] = 10
    lab[150:200, 300:340] = 16         # bag
    return lab


def body_keypoints() -> list[list[float]]:
    kp = np.zeros((18, 2))
    kp[0] = [190, 70]
    kp[1] = [190, 115]
    kp[2], kp[3], kp[4] = [110.4, 125.2], [90.7, 220.1], [88.2, 300.9]     # right side
    kp[5], kp[6], kp[7] = [270.3, 124.8], [290.5, 219.6], [292.9, 301.3]   # left side
    kp[8], kp[11] = [150, 300], [230, 300]
    kp[9], kp[12] = [150, 390], [230, 390]
    kp[10], kp[13] = [150, 470], [230, 470]
    return kp.tolist()


def _hash(image: Image.Image) -> str:
    return hashlib.md5(np.asarray(image).tobytes()).hexdigest()[:16]


def _cases():
    labels = body_labels()
    base = body_keypoints()
    no_right_wrist = [list(p) for p in base]
    no_right_wrist[4] = [0, 0]
    no_wrists = [list(p) for p in no_right_wrist]
    no_wrists[7] = [0.5, 1.0]
    return {"full": (labels, base), "no_right_wrist": (labels, no_right_wrist),
            "no_wrists": (labels, no_wrists)}


COMBOS = [("hd", "upper_body"), ("dc", "upper_body"), ("dc", "lower_body"), ("dc", "dresses"),
          ("hd", "lower_body"), ("hd", "dresses")]

GOLDEN = {   # md5[:16] of the original's mask for each case (original code, its pins: OpenCV 4.7.0.72)
    ('full', 'hd', 'upper_body'): '55a32d5476a33119',
    ('full', 'dc', 'upper_body'): 'd83eb57f860f6974',
    ('full', 'dc', 'lower_body'): 'c23ffae386f66d3b',
    ('full', 'dc', 'dresses'): '5b0c16dc90bfc2a2',
    ('full', 'hd', 'lower_body'): 'c23ffae386f66d3b',
    ('full', 'hd', 'dresses'): '083dfe3e88afaf0b',
    ('no_right_wrist', 'hd', 'upper_body'): '098fcf90cc1ab1fe',
    ('no_right_wrist', 'dc', 'upper_body'): 'a584f88ae4615ffb',
    ('no_right_wrist', 'dc', 'lower_body'): 'c23ffae386f66d3b',
    ('no_right_wrist', 'dc', 'dresses'): '3056cc8c5d2a4a2a',
    ('no_right_wrist', 'hd', 'lower_body'): 'c23ffae386f66d3b',
    ('no_right_wrist', 'hd', 'dresses'): 'e362fb317a2be1b0',
    ('no_wrists', 'hd', 'upper_body'): 'e6e12301609b616e',
    ('no_wrists', 'dc', 'upper_body'): 'e6e12301609b616e',
    ('no_wrists', 'dc', 'lower_body'): 'c23ffae386f66d3b',
    ('no_wrists', 'dc', 'dresses'): 'aceb7155ff917f42',
    ('no_wrists', 'hd', 'lower_body'): 'c23ffae386f66d3b',
    ('no_wrists', 'hd', 'dresses'): 'aceb7155ff917f42',
    ('out_of_frame', 'hd', 'upper_body'): 'b5d5253f402c0e4b',
}


def _run(model_type, category, labels, keypoints, **kw):
    return get_mask_location(model_type, category, labels, {"pose_keypoints_2d": keypoints}, **kw)


@pytest.mark.parametrize("case", ["full", "no_right_wrist", "no_wrists"])
@pytest.mark.parametrize("model_type,category", COMBOS)
def test_matches_the_original(case, model_type, category):
    labels, keypoints = _cases()[case]
    mask, gray = _run(model_type, category, labels, keypoints)
    assert mask.mode == gray.mode == "L" and mask.size == (384, 512)
    values = np.asarray(mask)
    assert set(np.unique(values)) <= {0, 255}
    assert np.array_equal(np.asarray(gray), (values // 255 * 127).astype(np.uint8))
    assert _hash(mask) == GOLDEN[(case, model_type, category)]


def test_enum_and_original_names_agree():
    labels, keypoints = _cases()["full"]
    a, _ = _run(ModelType.DC, Category.DRESS, labels, keypoints)
    b, _ = _run("dc", "dresses", labels, keypoints)
    c, _ = get_mask_location("dc", "dress", Image.fromarray(labels), keypoints)   # flat list, PIL
    assert _hash(a) == _hash(b) == _hash(c)


def test_mask_semantics():
    labels, keypoints = _cases()["full"]
    upper = np.asarray(_run("hd", "upper_body", labels, keypoints)[0]) > 0
    lower = np.asarray(_run("dc", "lower_body", labels, keypoints)[0]) > 0
    assert upper[200, 190] and not upper[400, 190]       # shirt in, pants out
    assert lower[400, 190] and not lower[200, 190]       # pants in, shirt out
    for mask in (upper, lower):
        assert not mask[70, 190]                         # face never
        assert not mask[170, 320] and not mask[500, 150]  # bag, shoes never
    hd = np.asarray(_run("hd", "upper_body", labels, keypoints)[0]) > 0
    dc = np.asarray(_run("dc", "upper_body", labels, keypoints)[0]) > 0
    assert hd.sum() > dc.sum()                           # 60 px arm strokes vs 45 px


def test_lower_body_ignores_keypoints():
    labels, keypoints = _cases()["full"]
    moved = (np.array(keypoints) * 0.5).tolist()
    assert _hash(_run("dc", "lower_body", labels, keypoints)[0]) == \
        _hash(_run("dc", "lower_body", labels, moved)[0])


def _out_of_frame():
    labels, keypoints = _cases()["full"]
    keypoints = [list(p) for p in keypoints]
    keypoints[3], keypoints[4] = [40, 200], [5, 260]     # extended wrist: x = -2 -> wraps
    return labels, keypoints


def test_out_of_frame_arm_is_clipped_not_wrapped():
    labels, keypoints = _out_of_frame()
    fixed = np.asarray(_run("hd", "upper_body", labels, keypoints)[0]) > 0
    wrapped = np.asarray(_run("hd", "upper_body", labels, keypoints,
                              original_uint16_wrap=True)[0]) > 0
    assert _hash(Image.fromarray(wrapped)) != _hash(Image.fromarray(fixed))
    assert _hash(_run("hd", "upper_body", labels, keypoints, original_uint16_wrap=True)[0]) == \
        GOLDEN[("out_of_frame", "hd", "upper_body")]
    # the original's wrapped polyline paints a band across the image (to x ~ 65534)
    band = wrapped & ~fixed
    assert band.sum() > 2000 and np.nonzero(band)[1].max() > 300
    # the fix only differs where the original wrapped: the arm stroke itself is kept
    assert fixed[230:260, 30:60].any()


def test_in_frame_fix_equals_wrap():
    for case, (labels, keypoints) in _cases().items():
        for model_type, category in COMBOS:
            a = _run(model_type, category, labels, keypoints)[0]
            b = _run(model_type, category, labels, keypoints, original_uint16_wrap=True)[0]
            assert _hash(a) == _hash(b), (case, model_type, category)


def test_resizes_a_label_map_of_another_size_nearest():
    labels, keypoints = _cases()["full"]
    half = Image.fromarray(labels).resize((192, 256), Image.NEAREST)
    mask, _ = get_mask_location("hd", "upper_body", half, {"pose_keypoints_2d": keypoints})
    assert mask.size == (384, 512)
