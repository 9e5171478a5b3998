"""VITON-HD's input builder: the agnostic maps on hand-made data, the hip quirk, the loader
arithmetic and the garment padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vto.core.models.base import ModelInputs
from vto.core.models.viton_hd import inputs as vi
from vto.errors import BodyPartsNotVisible, InvalidInput

H, W = 1024, 768


def body25(**points: tuple[float, float]) -> np.ndarray:
    """BODY_25 (25, 2) at 768x1024: a frontal upper body, overridable by name."""
    names = {"neck": 1, "r_shoulder": 2, "r_elbow": 3, "r_wrist": 4, "l_shoulder": 5,
             "l_elbow": 6, "l_wrist": 7, "r_hip": 9, "l_hip": 12}
    base = {"neck": (384, 260), "r_shoulder": (284, 270), "r_elbow": (250, 420),
            "r_wrist": (240, 560), "l_shoulder": (484, 270), "l_elbow": (518, 420),
            "l_wrist": (528, 560), "r_hip": (324, 590), "l_hip": (444, 590)}
    base.update(points)
    pose = np.zeros((25, 2))
    for name, xy in base.items():
        pose[names[name]] = xy
    return pose


def cihp_person() -> np.ndarray:
    """A hand-made CIHP map: hair, face, neck, upper clothes, both arms, pants."""
    parse = np.zeros((H, W), np.uint8)
    parse[60:140, 300:470] = 2          # hair
    parse[140:240, 320:450] = 13        # face
    parse[240:280, 350:420] = 10        # neck (torso-skin)
    parse[280:600, 280:490] = 5         # upper clothes
    parse[280:600, 180:280] = 15        # right arm (image left)
    parse[280:600, 490:590] = 14        # left arm (image right)
    parse[600:1024, 300:470] = 9        # pants
    return parse


def test_parse_agnostic_on_a_hand_made_map():
    parse, pose = cihp_person(), body25()
    out = vi.parse_agnostic(parse, pose)
    # torso and neck are gone; head, hair and pants untouched
    assert not np.isin(out, (5, 6, 7, 10)).any()
    for label in (2, 13, 9):
        assert (out == label).sum() == (parse == label).sum()
    # each arm is cleared near its chain (shoulder disc, 100 px line, elbow disc) ...
    assert out[300, 250] == 0 and out[300, 520] == 0
    # ... but kept far below the wrist (40 px disc there)
    assert out[599, 185] == 15 and out[599, 585] == 14
    assert out.dtype == np.uint8 and parse[300, 250] == 15   # input not modified


def test_parse_agnostic_missing_elbow_joins_shoulder_to_wrist():
    parse, pose = cihp_person(), body25(l_elbow=(0, 0))
    out = vi.parse_agnostic(parse, pose)
    # the left elbow is missing: the chain skips it, drawing shoulder -> wrist directly
    # (the original does not advance the chain's start past a skipped segment)
    x, y = 506, 415                                   # on the shoulder-wrist segment
    assert parse[y, x] == 14 and out[y, x] == 0
    full = vi.parse_agnostic(parse, body25())
    # the elbow's 150 px disc is absent: a pixel inside it but off the new line stays arm
    assert full[440, 585] == 0 and out[440, 585] == 14


def test_hip_rescale_quirk_is_pinned():
    pose = body25(r_hip=(354, 600), l_hip=(414, 600))    # hips 60 px apart, shoulders 200
    moved = vi.rescale_hips(pose)
    assert np.allclose(moved[vi.R_HIP], (284, 600)) and np.allclose(moved[vi.L_HIP], (484, 600))
    assert np.array_equal(pose[vi.R_HIP], (354, 600))     # a copy: the caller's array is kept
    untouched = np.delete(np.arange(25), [vi.R_HIP, vi.L_HIP])
    assert np.array_equal(moved[untouched], pose[untouched])
    # the original's exact float64 expression, step by step
    point = (pose[9] + pose[12]) / 2
    expect = point + (pose[9] - point) / np.linalg.norm(pose[12] - pose[9]) \
        * np.linalg.norm(pose[5] - pose[2])
    assert np.array_equal(moved[9], expect)


def test_img_agnostic_greys_torso_at_rescaled_hips():
    image = Image.new("RGB", (W, H), (10, 200, 30))
    parse = cihp_person()
    no_arms = dict(r_elbow=(0, 0), r_wrist=(0, 0), l_elbow=(0, 0), l_wrist=(0, 0))
    pose = body25(r_hip=(354, 600), l_hip=(414, 600), **no_arms)
    out = np.asarray(vi.img_agnostic(image, parse, pose))
    grey = (out == 128).all(axis=2)
    # the hip ellipses sit at the rescaled hips (284 and 484, shoulder width): pixels there
    # are grey, although the detected hips (354, 414) and their ellipses are far from them
    assert grey[590, 270] and grey[590, 498]
    narrow = np.asarray(vi.img_agnostic(image, parse, body25(r_hip=(354, 600), l_hip=(414, 600),
                                                             r_shoulder=(354, 270),
                                                             l_shoulder=(414, 270), **no_arms)))
    assert not (narrow[590, 270] == 128).all() and not (narrow[590, 498] == 128).all()
    assert grey[260, 384] and grey[300, 190]              # neck box, right shoulder disc
    # head and pants are pasted back from the photo; far background untouched
    assert (out[200, 384] == (10, 200, 30)).all() and (out[700, 384] == (10, 200, 30)).all()
    assert (out[950, 50] == (10, 200, 30)).all()


def test_missing_torso_points_are_refused():
    vi.check_keypoints(body25())
    with pytest.raises(BodyPartsNotVisible, match="right hip, left hip") as info:
        vi.check_keypoints(body25(r_hip=(0, 0), l_hip=(0, 0)))
    assert info.value.extra["missing"] == ["right hip", "left hip"]
    with pytest.raises(BodyPartsNotVisible):
        vi.rescale_hips(body25(r_hip=(400, 600), l_hip=(400, 600)))


def test_parse_onehot_groups():
    labels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    onehot = vi.parse_onehot(labels)
    assert onehot.shape == (13, 4, 5) and onehot.sum(0).eq(1).all()
    groups = onehot.argmax(0).flatten().tolist()
    # background+neck, hair+hat, face+sunglasses, upper/dress/coat, pants+skirt, arms, legs,
    # shoes, socks, glove+scarf (noise)
    assert groups == [0, 1, 1, 12, 2, 3, 3, 3, 11, 4, 0, 12, 4, 2, 5, 6, 7, 8, 9, 10]


def test_resize_short_side_is_torchvisions():
    image = Image.new("RGB", (384, 512))
    assert vi.resize_short_side(image, 768, Image.BILINEAR).size == (768, 1024)
    assert vi.resize_short_side(image, 384, Image.BILINEAR) is image
    assert vi.resize_short_side(Image.new("L", (1000, 700)), 768, Image.NEAREST).size == (1097, 768)
    assert vi.resize_short_side(Image.new("L", (769, 1025)), 768, Image.NEAREST).size == (768, 1023)


def test_to_normalized():
    image = Image.fromarray(np.array([[[0, 127, 255]]], np.uint8))
    tensor = vi.to_normalized(image)
    assert tensor.shape == (3, 1, 1) and tensor.dtype == torch.float32
    assert tensor.flatten().tolist() == pytest.approx([-1.0, 127 / 255 * 2 - 1, 1.0], abs=1e-7)


def test_garment_padded_to_three_by_four():
    cloth = Image.new("RGB", (300, 300), (255, 0, 0))
    mask = Image.new("L", (300, 300), 255)
    files = vi.garment_files(ModelInputs(person=None, garment=cloth, garment_mask=mask))
    assert files.cloth.size == (300, 400) and files.mask.size == (300, 400)
    assert files.cloth.getpixel((150, 10)) == (255, 255, 255)      # white above ...
    assert files.cloth.getpixel((150, 200)) == (255, 0, 0)          # garment centred
    assert files.mask.getpixel((150, 10)) == 0 and files.mask.getpixel((150, 200)) == 255
    same = Image.new("RGB", (384, 512))
    kept = vi.garment_files(ModelInputs(person=None, garment=same,
                                        garment_mask=Image.new("L", (384, 512))))
    assert kept.cloth is same or np.array_equal(np.asarray(kept.cloth), np.asarray(same))
    with pytest.raises(InvalidInput, match="garment mask"):
        vi.garment_files(ModelInputs(person=None, garment=same))


def test_load_tensors_shapes_and_ranges():
    parse = cihp_person()
    keypoints = np.concatenate([body25(), np.ones((25, 1))], axis=1)
    person = vi.PersonFiles(Image.new("RGB", (W, H), (90, 90, 90)), parse, keypoints,
                            Image.new("RGB", (W, H)))
    garment = vi.GarmentFiles(Image.new("RGB", (384, 512), "white"),
                              Image.new("L", (384, 512), 200))
    t = vi.load_tensors(person, garment)
    assert t.img_agnostic.shape == t.pose.shape == t.cloth.shape == (3, H, W)
    assert t.parse_agnostic.shape == (13, H, W) and t.cloth_mask.shape == (1, H, W)
    assert t.cloth_mask.unique().tolist() == [1.0]                 # 200 >= 128
    assert t.cloth.min() == 1.0 and t.pose.max() == -1.0
    assert t.parse_agnostic[3].sum() == 0                          # no upper clothes left


def test_repaint_mask_is_the_greyed_region():
    parse = cihp_person()
    keypoints = np.concatenate([body25(), np.ones((25, 1))], axis=1)
    files = vi.PersonFiles(Image.new("RGB", (W, H), (128, 128, 128)), parse, keypoints,
                           Image.new("RGB", (W, H)))
    mask = np.asarray(vi.repaint_mask(files))
    assert mask.dtype == np.uint8 and mask.shape == (H, W) and set(np.unique(mask)) == {0, 255}
    assert mask[400, 384] == 255 and mask[260, 384] == 255       # torso, neck
    assert mask[200, 384] == 0 and mask[700, 384] == 0           # face, pants kept
    assert mask[950, 50] == 0
