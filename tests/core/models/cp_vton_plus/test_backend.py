"""The backend on random weights in the published format: strict loading, one 192x256 image,
determinism, the step callback, the handoff modes."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from torch import nn

from vto.core.models.base import RunParams
from vto.core.models.cp_vton_plus.backend import CPVTONPlusBackend, load_state_dict
from vto.core.models.cp_vton_plus.handoff import Handoff
from vto.core.models.cp_vton_plus.spec import GMM_FILE, TOM_FILE
from vto.core.types import Category
from vto.errors import Cancelled, CheckpointError

PARAMS = RunParams(category=Category.UPPER_BODY, size=(192, 256))


def test_run_returns_one_rgb_image_and_steps_once(cpvton_backend, figure):
    steps = []
    images = cpvton_backend.run(figure, PARAMS, on_step=lambda s, t: steps.append((s, t)))
    assert len(images) == 1
    assert images[0].mode == "RGB" and images[0].size == (192, 256)
    assert steps == [(1, 1)]
    assert np.asarray(images[0]).std() > 5          # not a blank image


def test_run_is_deterministic(cpvton_backend, figure):
    first = np.asarray(cpvton_backend.run(figure, PARAMS)[0])
    second = np.asarray(cpvton_backend.run(figure, PARAMS)[0])
    assert np.array_equal(first, second)


def test_cancel_from_the_step_callback_propagates(cpvton_backend, figure):
    def cancel(step, total):
        raise Cancelled("stop")
    with pytest.raises(Cancelled):
        cpvton_backend.run(figure, PARAMS, on_step=cancel)


def test_tensors_have_the_originals_shapes(cpvton_backend, figure):
    t = cpvton_backend.tensors(figure)
    assert t["agnostic_gmm"].shape == t["agnostic_tom"].shape == (1, 22, 256, 192)
    assert t["cloth"].shape == (1, 3, 256, 192) and t["cloth_mask"].shape == (1, 1, 256, 192)
    out = cpvton_backend.forward(t)
    assert out["theta"].shape == (1, 50) and out["grid"].shape == (1, 256, 192, 2)
    assert torch.equal(out["tryon"], out["tom_cloth"] * out["composition_mask"]
                       + out["rendered"] * (1 - out["composition_mask"]))


def test_jpeg_handoff_changes_the_result_slightly(cpvton_backend, figure):
    assert cpvton_backend.handoff is Handoff.LOSSLESS           # the documented default
    tensors = cpvton_backend.tensors(figure)
    lossless = cpvton_backend.forward(tensors)
    cpvton_backend.handoff = Handoff.JPEG
    try:
        jpeg = cpvton_backend.forward(tensors)
    finally:
        cpvton_backend.handoff = Handoff.LOSSLESS
    assert torch.equal(jpeg["warped_cloth"], lossless["warped_cloth"])   # the GMM is the same
    garment_levels = (jpeg["tom_cloth"] - lossless["tom_cloth"]).abs() * 127.5
    assert 0 < garment_levels.mean() < 8        # q75 JPEG of a hard-edged stripe pattern
    mask_flips = (jpeg["tom_cloth_mask"] != lossless["tom_cloth_mask"]).sum()
    assert mask_flips < 0.02 * lossless["tom_cloth_mask"].sum()
    assert not torch.equal(jpeg["tryon"], lossless["tryon"])


def test_float16_request_runs_in_float32(cpvton_checkpoint):
    backend = CPVTONPlusBackend.load(cpvton_checkpoint, "cpu", torch.float16)
    assert next(backend.tom.parameters()).dtype == torch.float32


# --------------------------------------------------------------------------- strict loading

def test_missing_files_are_named(tmp_path):
    with pytest.raises(CheckpointError) as err:
        CPVTONPlusBackend.load(tmp_path, "cpu")
    assert GMM_FILE in str(err.value) and TOM_FILE in str(err.value)
    assert "1drv.ms" in str(err.value)


def test_a_missing_tensor_in_the_published_file_is_named(cpvton_checkpoint, tmp_path):
    state = torch.load(cpvton_checkpoint / GMM_FILE, weights_only=True)
    del state["regression.linear.bias"]
    (tmp_path / GMM_FILE).parent.mkdir(parents=True)
    torch.save(state, tmp_path / GMM_FILE, _use_new_zipfile_serialization=False)
    (tmp_path / TOM_FILE).parent.mkdir(parents=True)
    (tmp_path / TOM_FILE).symlink_to(cpvton_checkpoint / TOM_FILE)
    with pytest.raises(CheckpointError, match=r"missing tensors: regression\.linear\.bias"):
        CPVTONPlusBackend.load(tmp_path, "cpu")


def small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))


def save(state, path, zip_format=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)


@pytest.mark.parametrize("zip_format", [False, True])
def test_both_containers_load(tmp_path, zip_format):
    source = small()
    nn.init.normal_(source[0].weight)
    save(source.state_dict(), tmp_path / "w.pth", zip_format)
    target = small()
    load_state_dict(target, tmp_path, "w.pth")
    assert torch.equal(target[0].weight, source[0].weight)


def test_missing_batch_counter_is_tolerated(tmp_path):
    state = small().state_dict()
    del state["1.num_batches_tracked"]             # PyTorch < 0.4.1 did not save it
    save(state, tmp_path / "w.pth")
    load_state_dict(small(), tmp_path, "w.pth")


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"2.weight": torch.zeros(1)}), "unexpected tensors: 2.weight"),
    (lambda s: s.update({"0.weight": torch.zeros(2, 1, 5, 5)}),
     r"wrong shapes: 0.weight \(2, 1, 5, 5\)"),
    (lambda s: s.pop("1.running_var"), "missing tensors: 1.running_var"),
])
def test_mismatches_are_named(tmp_path, change, message):
    state = small().state_dict()
    change(state)
    save(state, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match=message):
        load_state_dict(small(), tmp_path, "w.pth")


def test_unreadable_and_foreign_files_are_checkpoint_errors(tmp_path):
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read garbage.pth"):
        load_state_dict(small(), tmp_path, "garbage.pth")
    save({"state_dict": collections.OrderedDict(small().state_dict())}, tmp_path / "wrapped.pth")
    with pytest.raises(CheckpointError, match="not a plain state dict"):
        load_state_dict(small(), tmp_path, "wrapped.pth")
    truncated = tmp_path / "truncated.pth"
    save(small().state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        load_state_dict(small(), tmp_path, "truncated.pth")
