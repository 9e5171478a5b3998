"""COCO-18 -> BODY_25, the OpenPose JSON and rendering, ATR/LIP -> CIHP, on hand-made inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vto.core.preprocess.convert import (BODY25_COLOURS, CIHP_LABELS, body25_keypoints,
                                         cihp_labels, cihp_palette_image, coco18_keypoints,
                                         openpose_json, render_body25, resize_labels)

# A front-facing person in the 384×512 frame (COCO-18 order).
COCO = np.zeros((18, 2))
COCO[0], COCO[1] = [190, 70], [190, 115]                                  # nose, neck
COCO[2], COCO[3], COCO[4] = [110, 125], [90, 220], [88, 300]               # right arm
COCO[5], COCO[6], COCO[7] = [270, 125], [290, 220], [292, 300]             # left arm
COCO[8], COCO[9], COCO[10] = [150, 300], [150, 400], [150, 490]            # right leg
COCO[11], COCO[12], COCO[13] = [230, 300], [230, 400], [230, 490]          # left leg
COCO[14], COCO[15], COCO[16], COCO[17] = [180, 60], [200, 60], [170, 65], [210, 65]

# BODY_25 names, to state the expected index of every COCO part independently.
BODY25 = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
          "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
          "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
COCO_NAMES = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
              "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar",
              "LEar")


def to_model(v: float) -> float:
    """384×512 -> 768×1024, pixel centre to pixel centre."""
    return (v + 0.5) * 2 - 0.5


# --------------------------------------------------------------------------- keypoints

def test_every_coco_part_lands_on_its_body25_index_scaled() -> None:
    body = body25_keypoints(COCO)
    assert body.shape == (25, 3)
    for coco_index, name in enumerate(COCO_NAMES):
        x, y, c = body[BODY25.index(name)]
        assert (x, y, c) == (to_model(COCO[coco_index, 0]), to_model(COCO[coco_index, 1]), 1.0)


def test_mid_hip_is_the_mean_of_the_hips() -> None:
    scores = [0.9] * 18
    scores[8], scores[11] = 0.7, 0.8
    body = body25_keypoints(COCO, scores=scores)
    mid = body[BODY25.index("MidHip")]
    assert mid[0] == pytest.approx((to_model(150) + to_model(230)) / 2)
    assert mid[1] == pytest.approx(to_model(300))
    assert mid[2] == pytest.approx(0.7)                  # the weaker hip's confidence


@pytest.mark.parametrize("hip", [8, 11])
def test_mid_hip_is_missing_without_both_hips(hip: int) -> None:
    points = COCO.copy()
    points[hip] = 0
    body = body25_keypoints(points)
    assert body[BODY25.index("MidHip")].tolist() == [0, 0, 0]
    assert body[BODY25.index(COCO_NAMES[hip])].tolist() == [0, 0, 0]


def test_feet_are_missing_and_missing_parts_are_zero() -> None:
    points = [tuple(p) for p in COCO]
    points[4] = None                                     # Person.keypoints style
    points[10] = (0.0, 0.0)                              # ModelInputs style
    body = body25_keypoints(points)
    for name in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel", "RWrist",
                 "RAnkle"):
        assert body[BODY25.index(name)].tolist() == [0, 0, 0]
    assert body[BODY25.index("LWrist")][2] == 1.0


def test_scores_from_the_keypoints_or_the_argument() -> None:
    with_scores = np.concatenate([COCO, np.full((18, 1), 0.42)], axis=1)
    assert body25_keypoints(with_scores)[BODY25.index("Neck")][2] == pytest.approx(0.42)
    scores: list[float | None] = [0.5] * 18
    scores[1] = None
    body = body25_keypoints(with_scores, scores=scores)
    assert body[BODY25.index("Nose")][2] == 0.5 and body[BODY25.index("Neck")][2] == 1.0


def test_other_sizes_and_frames() -> None:
    body = body25_keypoints(COCO, size=(192, 256))
    assert body[BODY25.index("Neck")][:2].tolist() == [(190.5 / 2) - 0.5, (115.5 / 2) - 0.5]
    same = body25_keypoints(COCO, size=(384, 512))
    assert same[BODY25.index("LKnee")][:2].tolist() == [230, 400]


def test_coco18_for_cp_vton_plus() -> None:
    points = COCO.copy()
    points[7] = 0
    coco = coco18_keypoints(points)                      # CP-VTON+ works at 192×256
    assert coco.shape == (18, 3)
    assert coco[7].tolist() == [0, 0, 0]
    assert coco[1].tolist() == [190.5 / 2 - 0.5, 115.5 / 2 - 0.5, 1.0]


def test_wrong_number_of_keypoints() -> None:
    with pytest.raises(ValueError, match="18"):
        body25_keypoints(COCO[:17])
    with pytest.raises(ValueError, match="25"):
        openpose_json(np.zeros((18, 3)))


def test_json_reads_back_as_the_datasets_read_it() -> None:
    body = body25_keypoints(COCO)
    document = json.loads(json.dumps(openpose_json(body)))
    assert document["version"] == 1.3
    flat = document["people"][0]["pose_keypoints_2d"]
    assert len(flat) == 75 and all(isinstance(v, float) for v in flat)
    pose_data = np.array(flat).reshape((-1, 3))[:, :2]   # VITON-HD / HR-VITON datasets
    assert np.array_equal(pose_data, body[:, :2])
    assert pose_data[BODY25.index("RHip")].tolist() == [to_model(150), to_model(300)]


# --------------------------------------------------------------------------- rendering

def rendered(points: np.ndarray = COCO, size=(768, 1024), **kwargs) -> np.ndarray:
    image = render_body25(body25_keypoints(points, size, **kwargs), size)
    assert image.mode == "RGB" and image.size == size
    return np.asarray(image)


def midpoint(body: np.ndarray, a: str, b: str) -> tuple[int, int]:
    pa, pb = body[BODY25.index(a)], body[BODY25.index(b)]
    return int(round((pa[0] + pb[0]) / 2)), int(round((pa[1] + pb[1]) / 2))


# (limb, colour it is drawn in: its second part's)
LIMBS = [(("Neck", "MidHip"), "MidHip"), (("RShoulder", "RElbow"), "RElbow"),
         (("RElbow", "RWrist"), "RWrist"), (("LShoulder", "LElbow"), "LElbow"),
         (("LElbow", "LWrist"), "LWrist"), (("RHip", "RKnee"), "RKnee"),
         (("RKnee", "RAnkle"), "RAnkle"), (("LHip", "LKnee"), "LKnee"),
         (("LKnee", "LAnkle"), "LAnkle"), (("Neck", "RShoulder"), "RShoulder"),
         (("Neck", "LShoulder"), "LShoulder"), (("Neck", "Nose"), "Nose")]


@pytest.mark.parametrize("limb, part", LIMBS, ids=[f"{a}-{b}" for (a, b), _ in LIMBS])
def test_limb_midpoints_have_the_limb_colour(limb: tuple[str, str], part: str) -> None:
    """A limb alone over black: its part's BODY_25 colour at alpha 0.6."""
    image = rendered()
    x, y = midpoint(body25_keypoints(COCO), *limb)
    expected = np.rint(0.6 * np.array(BODY25_COLOURS[BODY25.index(part)]))
    assert image[y, x].tolist() == expected.tolist()


def test_known_colours_and_background() -> None:
    image = rendered()
    body = body25_keypoints(COCO)
    assert image[midpoint(body, "Neck", "MidHip")[::-1]].tolist() == [153, 0, 0]    # red
    assert image[midpoint(body, "LElbow", "LWrist")[::-1]].tolist() == [0, 153, 0]  # green
    assert image[midpoint(body, "LKnee", "LAnkle")[::-1]].tolist() == [0, 0, 153]   # blue
    assert image[5, 5].tolist() == [0, 0, 0] and image[1015, 760].tolist() == [0, 0, 0]
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert len(colours) > 10                             # overlaps blend (alpha 0.6 each)
    assert image.max() < 255


def test_missing_parts_draw_nothing() -> None:
    points = COCO.copy()
    points[7] = 0                                        # left wrist
    image = rendered(points)
    x, y = midpoint(body25_keypoints(COCO), "LElbow", "LWrist")
    assert image[y, x].tolist() == [0, 0, 0]
    wrist = body25_keypoints(COCO)[BODY25.index("LWrist")]
    assert image[int(wrist[1]), int(wrist[0])].tolist() == [0, 0, 0]


def test_render_threshold_is_openposes() -> None:
    scores = [0.9] * 18
    scores[7] = 0.05                                     # not above --render_threshold
    x, y = midpoint(body25_keypoints(COCO), "LElbow", "LWrist")
    assert rendered(scores=scores)[y, x].tolist() == [0, 0, 0]
    scores[7] = 0.06
    assert rendered(scores=scores)[y, x].tolist() == [0, 153, 0]


def _limb_width(image: np.ndarray, x: int, y: int) -> int:
    """Pixels drawn along row y around the vertical limb through (x, y)."""
    row = image[y].any(axis=1)
    left = right = x
    while row[left - 1]:
        left -= 1
    while row[right + 1]:
        right += 1
    return right - left + 1


def test_line_width_scales_with_the_image() -> None:
    """Half-width min(W, H)/120: 6.4 px at 768×1024 around x = 380.5 (pixels 375..386),
    3.2 px at 384×512 around x = 190 (pixels 187..193)."""
    body = body25_keypoints(COCO)
    x, y = midpoint(body, "Neck", "MidHip")
    assert _limb_width(rendered(), x, y) == 12
    small = body25_keypoints(COCO, (384, 512))
    x, y = midpoint(small, "Neck", "MidHip")
    assert _limb_width(rendered(size=(384, 512)), x, y) == 7


def test_small_people_get_thinner_limbs() -> None:
    """The kernel scales by (box width + height)/400, at least 0.33."""
    tiny = COCO * 0.25 + 100                             # a 384-frame box of ~50×110 px
    body = body25_keypoints(tiny)
    x, y = midpoint(body, "Neck", "MidHip")
    assert _limb_width(rendered(tiny), x, y) < 12


def test_no_visible_part_gives_a_black_image() -> None:
    image = rendered(np.zeros((18, 2)))
    assert image.max() == 0


# --------------------------------------------------------------------------- labels

def labels(atr: int, lip: int) -> int:
    return int(cihp_labels(np.array([[atr]]), np.array([[lip]]))[0, 0])


# One row per CIHP class: an (ATR, LIP) pair that must give it.
CIHP_CASES = [
    (0, "background", 0, 0), (1, "hat", 1, 1), (2, "hair", 2, 2), (3, "glove", 14, 3),
    (4, "sunglasses", 3, 4), (5, "upper-clothes", 4, 5), (6, "dress", 7, 6), (7, "coat", 4, 7),
    (8, "socks", 12, 8), (9, "pants", 6, 9), (10, "torso-skin", 18, 0), (11, "scarf", 17, 11),
    (12, "skirt", 5, 12), (13, "face", 11, 13), (14, "left-arm", 14, 14),
    (15, "right-arm", 15, 15), (16, "left-leg", 12, 16), (17, "right-leg", 13, 17),
    (18, "left-shoe", 9, 18), (19, "right-shoe", 10, 19),
]


@pytest.mark.parametrize("cihp, name, atr, lip", CIHP_CASES, ids=[c[1] for c in CIHP_CASES])
def test_each_cihp_class(cihp: int, name: str, atr: int, lip: int) -> None:
    assert CIHP_LABELS[cihp] == name
    assert labels(atr, lip) == cihp


def test_lip_jumpsuit_is_never_torso_skin() -> None:
    """LIP 10 = jumpsuits, CIHP 10 = torso-skin: the ATR label decides."""
    assert labels(4, 10) == 5 and labels(6, 10) == 9 and labels(0, 10) == 0


def test_neck_is_torso_skin_whatever_lip_says() -> None:
    assert {labels(18, lip) for lip in range(20)} == {10}


def test_atr_alone_decides_where_lip_adds_nothing() -> None:
    """Base mapping for every ATR label with LIP background (LIP's own numbers unused)."""
    expected = {0: 0, 1: 1, 2: 2, 3: 4, 4: 5, 5: 12, 6: 9, 7: 6, 8: 9, 9: 18, 10: 19,
                11: 13, 12: 16, 13: 17, 14: 14, 15: 15, 16: 0, 17: 11, 18: 10}
    assert {atr: labels(atr, 0) for atr in range(19)} == expected


def test_lip_only_classes_need_atr_agreement() -> None:
    assert labels(0, 7) == 0                             # LIP coat on ATR background
    assert labels(11, 3) == 13                           # LIP glove on the ATR face
    assert labels(4, 8) == 5                             # LIP socks on ATR upper clothes
    assert labels(8, 12) == 12 and labels(8, 6) == 6 and labels(8, 0) == 9   # belts


def test_all_pairs_give_cihp_labels() -> None:
    atr, lip = np.meshgrid(np.arange(19), np.arange(20), indexing="ij")
    out = cihp_labels(atr, lip)
    assert out.dtype == np.uint8 and out.shape == (19, 20) and out.max() <= 19
    assert set(np.unique(out)) == set(range(20))


def test_label_checks() -> None:
    with pytest.raises(ValueError):
        cihp_labels(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError):
        cihp_labels(np.full((2, 2), 19), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        cihp_labels(np.zeros((2, 2)), np.full((2, 2), 20))


def test_resize_labels() -> None:
    small = np.zeros((512, 384), np.uint8)
    rows, cols = np.mgrid[0:512, 0:384]
    small[cols < 0.37 * rows + 20] = 14                 # a slanted edge
    small[50:150, 100] = 3                              # one pixel wide
    small[50:150, 200:260] = 5
    nearest = resize_labels(small, smooth=False)
    assert nearest.shape == (1024, 768)
    assert np.array_equal(nearest, small.repeat(2, 0).repeat(2, 1))
    smooth = resize_labels(small)
    assert smooth.shape == (1024, 768) and set(np.unique(smooth)) == {0, 3, 5, 14}
    assert smooth[200, 460] == 5 and smooth[1000, 10] == 14 and smooth[10, 700] == 0
    assert (smooth[200] == 3).sum() == 2                # the thin part survives
    # NEAREST moves the edge in 2-pixel stairs; smooth one pixel at a time
    assert set(np.diff((nearest == 14).sum(axis=1)[300:900])) == {0, 2}
    assert set(np.diff((smooth == 14).sum(axis=1)[300:900])) == {0, 1}
    assert np.array_equal(resize_labels(small, (384, 512)), small)


def test_palette_image() -> None:
    cihp = np.array([[0, 5], [10, 19]], np.uint8)
    image = cihp_palette_image(cihp)
    assert image.mode == "P"
    assert np.array_equal(np.array(image), cihp)                  # what the datasets read
    rgb = np.array(image.convert("RGB"))
    assert rgb[0, 1].tolist() == [255, 85, 0] and rgb[1, 1].tolist() == [255, 170, 0]
