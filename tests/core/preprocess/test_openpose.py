"""OpenPose: network layout and checkpoint loading, random-weight runs, and the original's
post-processing on hand-made heat maps / PAFs with known people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vto.core.preprocess.openpose import (BodyPoseDetector, BodyPoseNet, keypoints_dict,
                                          to_original_keypoints)
from vto.core.preprocess.openpose.decode import (_LIMB_SEQ, _MAP_IDX, estimate_from_maps,
                                                 people_from_detection)
from vto.dev.openpose_weights import write_random_body_model
from vto.errors import CheckpointError, InvalidInput
from tests.conftest import EXAMPLES

H, W = 512, 384


@pytest.fixture(scope="module")
def quiet_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pose") / "openpose" / "ckpts" / "body_pose_model.pth"
    write_random_body_model(path, seed=0)
    return path


@pytest.fixture(scope="module")
def busy_detector(tmp_path_factory) -> BodyPoseDetector:
    path = tmp_path_factory.mktemp("pose_busy") / "body_pose_model.pth"
    write_random_body_model(path, seed=1, heatmap_scale=1.0)
    return BodyPoseDetector.from_checkpoint(path)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(EXAMPLES / "person" / "model_1.png").convert("RGB").resize((W, H))


def test_architecture_and_published_key_names(quiet_model):
    net = BodyPoseNet()
    assert sum(p.numel() for p in net.parameters()) == 52_311_446
    weights = torch.load(quiet_model, weights_only=True)
    assert len(weights) == len(net.state_dict()) == 184
    assert "conv1_1.weight" in weights and "Mconv7_stage6_L2.bias" in weights
    assert not any(k.startswith("model") for k in weights)
    assert weights["Mconv1_stage2_L1.weight"].shape == (128, 185, 7, 7)
    # the original's no-ReLU list misses Mconv7_stage6_L2: heat maps end with a ReLU
    assert isinstance(net.model6_2[-1], torch.nn.ReLU)
    assert isinstance(net.model6_1[-1], torch.nn.Conv2d)
    assert isinstance(net.model5_2[-1], torch.nn.Conv2d)


def test_every_tensor_is_loaded_from_the_file(quiet_model):
    detector = BodyPoseDetector.from_checkpoint(quiet_model)
    weights = torch.load(quiet_model, weights_only=True)
    for key, value in detector.net.state_dict().items():
        assert torch.equal(value, weights[key.split(".", 1)[1]].float()), key


def test_random_writer_is_deterministic(tmp_path):
    write_random_body_model(tmp_path / "a.pth", seed=3)
    write_random_body_model(tmp_path / "b.pth", seed=3)
    write_random_body_model(tmp_path / "c.pth", seed=4)
    a, b, c = (torch.load(tmp_path / n, weights_only=True) for n in ("a.pth", "b.pth", "c.pth"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1_1.weight"], c["conv1_1.weight"])
    assert (tmp_path / "a.pth").stat().st_size < 40_000_000


def test_quiet_random_model_finds_nobody_but_maps_are_live(quiet_model, photo):
    detector = BodyPoseDetector.from_checkpoint(quiet_model)
    heat, paf = detector.maps(photo)
    assert heat.shape == (H, W, 19) and paf.shape == (H, W, 38)
    assert heat.dtype == np.float64
    assert 0 < heat.max() < 0.1 and np.abs(paf).max() > 0.1
    assert people_from_detection(*estimate_from_maps(heat, paf)) == []
    # grey input goes through HWC3 like the original's
    assert detector(Image.new("L", (W, H), 128)) == []


def test_busy_random_model_runs_end_to_end(busy_detector, photo):
    heat, paf = busy_detector.maps(photo)
    people = people_from_detection(*estimate_from_maps(heat, paf))
    again = people_from_detection(*estimate_from_maps(heat.copy(), paf.copy()))
    assert people and [p.keypoints for p in people] == [p.keypoints for p in again]
    prominence = [p.prominence for p in people]
    assert prominence == sorted(prominence, reverse=True)
    assert sorted(p.subset_index for p in people) == list(range(len(people)))
    for person in people:
        assert len(person.keypoints) == 18 and person.n_parts >= 4
        assert person.n_parts == len(person.visible)
        for point in person.keypoints:
            assert point is None or (0 <= point[0] < W and 0 <= point[1] < H)
    first = next(p for p in people if p.subset_index == 0)
    original = to_original_keypoints(first)["pose_keypoints_2d"]
    assert len(original) == 18 and all(len(xy) == 2 for xy in original)


def test_input_must_be_384x512(busy_detector):
    # the original's resize_image maps e.g. 400x500 to 384x512 too; 300x500 it cannot
    with pytest.raises(InvalidInput, match="384x512"):
        busy_detector.maps(Image.new("RGB", (300, 500)))


def test_checkpoint_errors(tmp_path, quiet_model):
    with pytest.raises(CheckpointError, match="not found"):
        BodyPoseDetector.from_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "broken.pth").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read"):
        BodyPoseDetector.from_checkpoint(tmp_path / "broken.pth")
    weights = torch.load(quiet_model, weights_only=True)
    del weights["Mconv7_stage6_L2.bias"]
    torch.save(weights, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="Mconv7_stage6_L2.bias"):
        BodyPoseDetector.from_checkpoint(tmp_path / "partial.pth")


# ---------------------------------------------------------------- designed maps

def _skeleton(dx: int, dy: int = 0, scale: float = 1.0) -> list[tuple[int, int] | None]:
    """A standing person, COCO-18 order, in 384×512 pixels."""
    base = [(60, 60), (60, 100), (35, 100), (25, 160), (20, 220), (85, 100), (95, 160),
            (100, 220), (45, 230), (45, 320), (45, 410), (75, 230), (75, 320), (75, 410),
            (52, 52), (68, 52), (45, 58), (75, 58)]
    return [(int(round(x * scale)) + dx, int(round(y * scale)) + dy) for x, y in base]


def _maps(people: list[list[tuple[int, int] | None]], extra_peaks=()) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    heat = np.zeros((H, W, 19))
    paf = np.zeros((H, W, 38))
    yy, xx = np.mgrid[0:H, 0:W]
    for points in people:
        for part, point in enumerate(points):
            if point is not None:
                heat[:, :, part] += np.exp(-((xx - point[0]) ** 2 + (yy - point[1]) ** 2) / 32.0)
        for (a, b), (cx, cy) in zip(_LIMB_SEQ, _MAP_IDX):
            pa, pb = points[a - 1], points[b - 1]
            if pa is None or pb is None:
                continue
            vec = np.subtract(pb, pa).astype(float)
            length = np.hypot(*vec)
            unit = vec / length
            # pixels within 4 px of the segment get the limb's unit vector
            rel_x, rel_y = xx - pa[0], yy - pa[1]
            along = rel_x * unit[0] + rel_y * unit[1]
            across = np.abs(rel_x * unit[1] - rel_y * unit[0])
            band = (along >= -2) & (along <= length + 2) & (across <= 4)
            paf[:, :, cx - 19][band] = unit[0]
            paf[:, :, cy - 19][band] = unit[1]
    for part, (x, y) in extra_peaks:
        heat[:, :, part] += 0.8 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 32.0)
    return heat, paf


def _assert_person(person, points):
    for part, point in enumerate(points):
        if point is None:
            assert person.keypoints[part] is None
        else:
            assert person.keypoints[part] == pytest.approx(point, abs=1e-9), part


def test_post_processing_finds_one_person():
    points = _skeleton(100, 20)
    points[4] = None                                   # right wrist not visible
    candidate, subset = estimate_from_maps(*_maps([points]))
    assert candidate.shape == (17, 4) and subset.shape == (1, 20)
    people = people_from_detection(candidate, subset)
    assert len(people) == 1
    _assert_person(people[0], points)
    assert people[0].n_parts == 17
    assert people[0].part_scores[0] == pytest.approx(1.0)
    assert keypoints_dict(people[0])["pose_keypoints_2d"][4] == [0, 0]
    assert to_original_keypoints(people[0]) == keypoints_dict(people[0])


def test_post_processing_finds_two_people_most_prominent_first():
    small = _skeleton(20, 60, scale=0.8)
    large = _skeleton(200, 0, scale=1.15)
    people = people_from_detection(*estimate_from_maps(*_maps([small, large])))
    assert len(people) == 2
    _assert_person(people[0], large)
    _assert_person(people[1], small)


def test_original_wrapper_quirk_is_reproduced_but_not_used():
    points = _skeleton(120, 40)
    # two spurious nose peaks above the person come first in raster order
    extra = [(0, (20, 8)), (0, (340, 10))]
    people = people_from_detection(*estimate_from_maps(*_maps([points], extra)))
    assert len(people) == 1
    _assert_person(people[0], points)                         # vto: the right nose
    original = to_original_keypoints(people[0])["pose_keypoints_2d"]
    assert original[0] == pytest.approx([340, 10])            # the original: a wrong peak
    assert original[1:] == keypoints_dict(people[0])["pose_keypoints_2d"][1:]
    # one spurious peak is handled by the original too
    people = people_from_detection(*estimate_from_maps(*_maps([points], extra[:1])))
    assert to_original_keypoints(people[0]) == keypoints_dict(people[0])


def test_no_peaks_means_no_people():
    heat, paf = _maps([])
    candidate, subset = estimate_from_maps(heat, paf)
    assert candidate.shape == (0, 4) and subset.shape == (0, 20)
    assert people_from_detection(candidate, subset) == []
