"""The original's input tensors, checked on hand-made keypoints and label maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vto.core.models.cp_vton_plus import inputs as cp


def test_normalise_is_to_tensor_then_half_half():
    t = cp.normalise(np.array([[0, 128, 255]], np.uint8))
    assert t.shape == (1, 1, 3) and t.dtype == torch.float32
    assert t[0, 0, 0] == -1 and t[0, 0, 2] == 1
    assert t[0, 0, 1] == (torch.tensor(128.0) / 255 - 0.5) / 0.5


def test_keypoints_scale_from_the_preprocessing_frame():
    kp = np.zeros((18, 2))
    kp[0], kp[1] = (384, 512), (100.5, 61)
    out = cp.keypoints_to_working_frame(kp)
    assert out[0].tolist() == [192, 256] and out[1].tolist() == [50.25, 30.5]
    assert (out[2:] == 0).all()


def test_pose_map_is_an_11px_square_at_the_keypoint():
    kp = np.zeros((18, 2))
    kp[3] = (50, 30)
    maps = cp.pose_maps(kp)
    assert maps.shape == (18, 256, 192)
    on = maps[3] > 0
    ys, xs = torch.nonzero(on, as_tuple=True)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (25, 35, 45, 55)
    assert on.sum() == 11 * 11
    assert set(maps[3].unique().tolist()) == {-1.0, 1.0}
    assert (maps[torch.arange(18) != 3] == -1).all()       # missing points: empty maps


def test_pose_map_draws_only_points_beyond_one_and_clips_at_the_border():
    kp = np.zeros((18, 2))
    kp[0] = (1.0, 100)          # x == 1: not drawn (the original draws x > 1 and y > 1)
    kp[1] = (1.1, 100)          # drawn, clipped at the left edge: columns 0..6
    kp[2] = (190, 255)          # clipped at the right and bottom edges
    maps = cp.pose_maps(kp)
    assert (maps[0] == -1).all()
    cols = torch.nonzero((maps[1] > 0).any(0)).flatten()
    assert cols.min() == 0 and cols.max() == 6
    ys, xs = torch.nonzero(maps[2] > 0, as_tuple=True)
    assert xs.max() == 191 and ys.max() == 255 and xs.min() == 185 and ys.min() == 250


def test_head_regions_use_the_lip_labels_gmm_and_tom_differ(figure):
    maps = cp.person_maps(figure.person, figure.keypoints, figure.parse_lip, figure.parse)
    rep = cp.person_tensors(maps)
    person = cp.normalise(maps.image)
    face, hair, pants, clothes = (60, 96), (30, 96), (220, 96), (130, 96)   # (row, col) at 256x192
    for name, head, kept in (("gmm", rep.head_gmm, {face}),
                             ("tom", rep.head_tom, {face, hair, pants})):
        for point in (face, hair, pants, clothes):
            value = head[:, point[0], point[1]]
            if point in kept:
                assert torch.equal(value, person[:, point[0], point[1]]), (name, point)
            else:
                assert (value == -1).all(), (name, point)


def test_parse_new_adds_the_atr_neck_as_label_20_only_on_lip_background(figure):
    parse_new = cp.parse_new_from(figure.parse_lip, figure.parse)
    assert parse_new.shape == (256, 192)
    assert (parse_new[70:80, 88:104] == cp.PARSE_NEW_NECK).all()    # ATR 18 rows 140-160
    assert set(np.unique(parse_new)) == {0, 2, 5, 9, 13, 20}
    lip_only = cp.parse_new_from(figure.parse_lip, None)
    assert cp.PARSE_NEW_NECK not in lip_only


def test_body_mask_is_either_parsers_foreground(figure):
    mask = cp.body_mask_from(figure.parse_lip, figure.parse)
    assert mask[75, 96] == 255                                 # neck: ATR only
    assert cp.body_mask_from(figure.parse_lip, None)[75, 96] == 0
    assert mask[5, 5] == 0 and set(np.unique(mask)) == {0, 255}


def test_body_shape_is_blurred_to_a_sixteenth_and_back():
    full = cp.body_shape(np.full((256, 192), 255, np.uint8))
    assert full.shape == (1, 256, 192) and (full == 1).all()
    assert (cp.body_shape(np.zeros((256, 192), np.uint8)) == -1).all()
    half = np.zeros((256, 192), np.uint8)
    half[:, :96] = 255
    shape = cp.body_shape(half)[0]
    assert torch.equal(shape[0], shape[128])                   # no vertical structure
    row = shape[128]
    assert (row[1:] <= row[:-1]).all()                          # a ramp from body to background
    # the edge is 16-pixel coarse: well inside each side is flat, the edge band is neither
    assert row[:70].min() > 0.9 and row[122:].max() < -0.9
    assert (row[88:104].abs() < 0.9).all()


def test_garment_is_fitted_keeping_its_aspect_and_its_mask_binarised():
    garment = Image.new("RGB", (400, 300), (10, 20, 30))
    mask = Image.new("L", (400, 300), 255)
    maps = cp.garment_maps(garment, mask)
    assert maps.image.size == (192, 256) and maps.mask.size == (192, 256)
    image, m = np.asarray(maps.image), np.asarray(maps.mask)
    # 400x300 -> 192x144, centred vertically: 56 white rows above and below
    assert (image[:56] == 255).all() and (image[200:] == 255).all()
    assert (image[56:200] == (10, 20, 30)).all()
    assert (m[:56] == 0).all() and (m[56:200] == 255).all()
    assert set(np.unique(m)) == {0, 255}
    t = cp.garment_mask_tensor(maps.mask)
    assert t.shape == (1, 256, 192) and set(t.unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ValueError, match="garment mask"):
        cp.garment_maps(garment, Image.new("L", (10, 10)))


def test_agnostic_channels_are_shape_head_pose(figure):
    maps = cp.person_maps(figure.person, figure.keypoints, figure.parse_lip, figure.parse)
    rep = cp.person_tensors(maps)
    agnostic = rep.agnostic_gmm
    assert agnostic.shape == (22, 256, 192)
    assert torch.equal(agnostic[0:1], rep.shape) and torch.equal(agnostic[1:4], rep.head_gmm)
    assert torch.equal(agnostic[4:], rep.pose)
    assert torch.equal(rep.agnostic_tom[1:4], rep.head_tom)
    drawn = (rep.pose.reshape(18, -1) > 0).any(1)
    assert drawn.tolist() == [i in (0, 1, 2, 5, 8, 11) for i in range(18)]
