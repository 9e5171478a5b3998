"""Strict loading of the published files (on the tiny checkpoint and on hand-broken ones)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vto.core.models.viton_hd.checkpoints import load_networks, load_strict, read_state_dict
from vto.core.models.viton_hd.networks import ALIASGenerator, VitonHDConfig
from vto.errors import CheckpointError

NAMES = ("seg_final.pth", "gmm_final.pth", "alias_final.pth")


def linked_copy(src: Path, dst: Path, replace: dict[str, dict] | None = None) -> Path:
    """A checkpoint root whose files link to ``src``'s, except those in ``replace``."""
    folder = dst / "viton-hd"
    folder.mkdir(parents=True)
    for name in NAMES:
        if replace and name in replace:
            torch.save(replace[name], folder / name)
        else:
            (folder / name).symlink_to(src / "viton-hd" / name)
    return dst


def test_loads_the_tiny_checkpoint(viton_hd_root):
    nets = load_networks(viton_hd_root)
    assert nets.alias.conv_0.out_channels == 4 * 16                 # ngf read from the file
    assert nets.gmm.regression.linear.out_features == 50            # grid_size 5
    assert not hasattr(nets.alias.head_0.conv_0, "weight_orig")      # spectral norm folded
    assert not any(m.training for n in (nets.seg, nets.gmm, nets.alias) for m in n.modules())


def test_missing_files_are_named(tmp_path):
    (tmp_path / "viton-hd").mkdir()
    torch.save({}, tmp_path / "viton-hd" / "seg_final.pth")
    with pytest.raises(CheckpointError, match="gmm_final.pth, .*alias_final.pth") as info:
        load_networks(tmp_path)
    assert "drive.google.com" in str(info.value) and info.value.status == 503
    assert len(info.value.extra["missing"]) == 2


def test_a_missing_tensor_is_refused(viton_hd_root, tmp_path):
    state = torch.load(viton_hd_root / "viton-hd" / "alias_final.pth", weights_only=True)
    del state["up_4.norm_1.noise_scale"]
    root = linked_copy(viton_hd_root, tmp_path, {"alias_final.pth": state})
    with pytest.raises(CheckpointError, match=r"alias_final.pth .*missing: up_4.norm_1.noise_scale"):
        load_networks(root)


def test_unexpected_and_misshaped_tensors_are_refused(tmp_path):
    net = ALIASGenerator(VitonHDConfig(ngf=4, height=256, width=128))
    good = net.state_dict()
    load_strict(net, good, tmp_path / "a.pth")
    extra = dict(good, **{"head_0.extra": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="unexpected: head_0.extra"):
        load_strict(net, extra, tmp_path / "a.pth")
    shaped = dict(good, **{"conv_img.bias": torch.zeros(4)})
    with pytest.raises(CheckpointError, match="wrong shape: conv_img.bias"):
        load_strict(net, shaped, tmp_path / "a.pth")


def test_unreadable_files_are_refused(tmp_path):
    (tmp_path / "page.pth").write_text("<html>quota exceeded</html>")
    with pytest.raises(CheckpointError, match="not a readable PyTorch state dict"):
        read_state_dict(tmp_path / "page.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        read_state_dict(tmp_path / "list.pth")
