"""The input builder on hand-made maps: frames, the two agnostic maps, the garment, tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vto.core.models.hr_viton import inputs as hi
from vto.dev.hr_viton import synthetic_inputs, synthetic_keypoints, synthetic_labels
from vto.errors import BodyPartsNotVisible, InvalidInput

W, H = 768, 1024


def pose25(**joints) -> np.ndarray:
    """A frontal BODY_25 pose in the 768x1024 frame; keyword joints override (None: missing)."""
    pose = np.zeros((25, 2))
    base = {hi.NECK: (384, 250), hi.R_SHOULDER: (250, 270), hi.L_SHOULDER: (518, 270),
            hi.R_ELBOW: (190, 460), hi.R_WRIST: (140, 640), hi.L_ELBOW: (578, 460),
            hi.L_WRIST: (628, 640), hi.R_HIP: (320, 560), hi.L_HIP: (448, 560)}
    names = {"r_elbow": hi.R_ELBOW, "l_elbow": hi.L_ELBOW, "l_wrist": hi.L_WRIST,
             "l_hip": hi.L_HIP, "r_hip": hi.R_HIP}
    for name, value in joints.items():
        base[names[name]] = value
    for joint, value in base.items():
        pose[joint] = value if value is not None else (0, 0)
    return pose


def test_keypoints_become_body25_in_the_working_frame():
    coco = synthetic_keypoints("base")
    coco[7] = 0                                     # left wrist missing
    body = hi.pose_of(coco)
    assert body.shape == (25, 2) and body.dtype == np.float64
    assert body[hi.R_HIP].tolist() == (coco[8] * 2 + 0.5).tolist()  # COCO RHip -> BODY_25 9,
    assert body[hi.L_HIP].tolist() == (coco[11] * 2 + 0.5).tolist()  # pixel centres kept
    assert body[hi.L_WRIST].tolist() == [0, 0] and body[19:].sum() == 0


def test_cihp_labels_at_the_working_size():
    atr, lip = synthetic_labels("coat")
    labels = hi.labels_of(atr, lip)
    assert labels.shape == (H, W) and labels.dtype == np.uint8
    assert np.array_equal(labels, hi.resize_labels(hi.cihp_labels(atr, lip), (W, H)))
    big_atr = np.asarray(Image.fromarray(atr).resize((W, H), Image.NEAREST))
    assert (labels[big_atr == 18] == hi.TORSO_SKIN).mean() > 0.9        # the neck
    assert (labels[big_atr == 11] == hi.FACE).mean() > 0.9
    assert (labels == hi.COAT).any()


def test_missing_hips_are_refused_by_name():
    with pytest.raises(BodyPartsNotVisible, match="left hip"):
        hi.check_pose(pose25(l_hip=None))
    with pytest.raises(BodyPartsNotVisible, match="distinct"):
        hi.check_pose(pose25(l_hip=(320, 560)))
    hi.check_pose(pose25(l_elbow=None, l_wrist=None))            # arms may be missing


def labels_map() -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    labels[260:560, 250:518] = hi.UPPER_CLOTHES
    labels[200:250, 360:408] = hi.TORSO_SKIN
    labels[100:200, 330:440] = hi.FACE
    labels[560:900, 300:470] = 9                                 # pants
    labels[280:700, 540:700] = hi.LEFT_ARM                        # a wide left-arm band
    labels[280:700, 60:230] = hi.RIGHT_ARM
    return labels


def test_parse_agnostic_removes_clothes_neck_and_arms_near_the_chain():
    labels, pose = labels_map(), pose25()
    out = hi.parse_agnostic(labels, pose)
    assert (out[labels == hi.UPPER_CLOTHES] == 0).all() and (out[labels == hi.TORSO_SKIN] == 0).all()
    assert (out[labels == hi.FACE] == hi.FACE).all() and (out[labels == 9] == 9).all()
    assert out[460, 578] == 0                                    # on the left elbow
    assert out[690, 695] == hi.LEFT_ARM                          # far from the left chain
    assert out[460, 190] == 0 and out[690, 65] == hi.RIGHT_ARM
    assert labels[460, 578] == hi.LEFT_ARM and np.array_equal(hi.parse_agnostic(labels, pose), out)


def test_parse_agnostic_bridges_a_missing_elbow_from_the_last_drawn_joint():
    labels = labels_map()
    # on the straight shoulder-wrist line, far from both (and from an elbow out at (720, 300))
    x, y = 573, 455
    kept = hi.parse_agnostic(labels, pose25(l_elbow=(720, 300)))
    bridged = hi.parse_agnostic(labels, pose25(l_elbow=None))
    assert kept[y, x] == hi.LEFT_ARM and bridged[y, x] == 0


def test_agnostic_person_greys_the_torso_and_keeps_head_lower_body_and_far_arms():
    labels, pose = labels_map(), pose25()
    photo = Image.fromarray(np.full((H, W, 3), 30, np.uint8))
    out = np.asarray(hi.agnostic_person(photo, labels, pose))
    grey = (128, 128, 128)
    assert tuple(out[400, 384]) == grey                           # torso
    assert tuple(out[150, 384]) == (30, 30, 30)                   # face label inside the neck box
    assert tuple(out[240, 384]) == grey                           # neck
    assert tuple(out[600, 384]) == (30, 30, 30)                   # pants restored
    assert tuple(out[460, 578]) == grey                           # sleeve region of the left arm
    assert tuple(out[690, 695]) == (30, 30, 30)                   # greyed by the wrist, restored
    assert tuple(out[50, 50]) == (30, 30, 30)                     # background untouched
    # hips are pulled apart to shoulder width: the torso reaches x = 250 at hip height
    assert tuple(out[560, 255]) == grey


def test_fit_garment():
    garment = Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 384, 3), np.uint8))
    mask = Image.fromarray(np.full((512, 384), 255, np.uint8))
    cloth, silhouette = hi.fit_garment(garment, mask)           # 3:4: the original's Resize
    assert cloth.size == (W, H)
    assert np.array_equal(np.asarray(cloth), np.asarray(garment.resize((W, H), Image.BILINEAR)))
    same = Image.new("RGB", (W, H), (1, 2, 3))
    assert hi.fit_garment(same, Image.new("L", (W, H), 255))[0].tobytes() == same.tobytes()
    square, square_mask = hi.fit_garment(Image.new("RGB", (500, 500), (0, 0, 255)),
                                         Image.new("L", (500, 500), 255))
    a, m = np.asarray(square), np.asarray(square_mask)
    assert tuple(a[10, 384]) == (255, 255, 255) and m[10, 384] == 0     # padding
    assert tuple(a[512, 384]) == (0, 0, 255) and m[512, 384] == 255
    assert m[128:896].all() and not m[:128].any() and not m[896:].any()
    with pytest.raises(InvalidInput, match="garment_mask"):
        hi.fit_garment(Image.new("RGB", (500, 500)), Image.new("L", (400, 500)))


def test_to_tensor_is_totensor_then_normalize():
    image = Image.fromarray(np.array([[[0, 128, 255]]], np.uint8))
    t = hi.to_tensor(image)
    assert t.shape == (1, 3, 1, 1)
    middle = torch.tensor(128.0).div(255).sub(0.5).div(0.5).item()  # float32 arithmetic
    assert t.flatten().tolist() == [-1.0, middle, 1.0]


def test_build_tensors_and_the_low_resolution_inputs():
    inputs = synthetic_inputs("no_left_wrist", "plain")
    t = hi.build_tensors(inputs)
    for name in ("cloth", "densepose", "agnostic"):
        value = getattr(t, name)
        assert value.shape == (1, 3, H, W) and -1 <= value.min() and value.max() <= 1
    assert t.parse_agnostic.shape == (1, 13, H, W) and t.parse_agnostic.sum(1).eq(1).all()
    assert set(t.cloth_mask.unique().tolist()) == {0.0, 1.0}
    # the upper-clothes group is empty in the parse-agnostic map
    assert t.parse_agnostic[0, 3].sum() == 0
    cloth_in, person_in = hi.condition_inputs(t)
    assert cloth_in.shape == (1, 4, 256, 192) and person_in.shape == (1, 16, 256, 192)
    assert set(cloth_in[0, 3].unique().tolist()) <= {0.0, 1.0}   # nearest, still binary
    assert torch.equal(person_in[0, :13], t.parse_agnostic[0, :, ::4, ::4])


def test_build_tensors_refuses_what_preprocessing_did_not_provide():
    inputs = synthetic_inputs()
    inputs.densepose = None
    with pytest.raises(InvalidInput, match="densepose"):
        hi.build_tensors(inputs)
    inputs = synthetic_inputs()
    inputs.person = inputs.person.resize((384, 512))
    with pytest.raises(InvalidInput, match="768x1024"):
        hi.build_tensors(inputs)


def test_repaint_region_is_the_grey_area_and_the_old_garment_and_arms():
    inputs = synthetic_inputs("base", "plain")
    region = np.asarray(hi.repaint_region(inputs)) == 255
    labels = hi.labels_of(inputs.parse, inputs.parse_lip)
    agnostic = np.asarray(hi.agnostic_person(inputs.person, labels, hi.pose_of(inputs.keypoints)))
    grey = np.all(agnostic == hi.GREY, axis=-1)
    assert region[grey].all()                                     # every grey pixel
    assert region[np.isin(labels, (hi.UPPER_CLOTHES, hi.LEFT_ARM, hi.RIGHT_ARM))].all()
    assert not region[labels == hi.FACE].any() and not region[labels == 9].any()  # face, pants
    assert 0.05 < region.mean() < 0.6
