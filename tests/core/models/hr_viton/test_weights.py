"""Strict loading of the published files: renaming, spectral-norm folding, refusals by name."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from vto.core.models.hr_viton.networks import SPADEGenerator, apply_spectral_norm
from vto.core.models.hr_viton.spec import CONDITION_FILE, GENERATOR_FILE
from vto.core.models.hr_viton.weights import (fold_spectral_norm, load_condition_generator,
                                              load_image_generator, rename_generator_keys)
from vto.errors import CheckpointError


def _resave(state, path, drop=(), add=None, rename=None):
    """A copy of a state dict with keys dropped / added / renamed, ``_metadata`` kept."""
    out = OrderedDict()
    for key, value in state.items():
        if key in drop:
            continue
        out[rename(key) if rename else key] = value
    out.update(add or {})
    out._metadata = OrderedDict((rename(k) if rename else k, v) for k, v in state._metadata.items())
    torch.save(out, path)
    return path


def test_published_keys_load_and_match_the_file(hr_checkpoint):
    state = torch.load(hr_checkpoint / GENERATOR_FILE)
    gen = load_image_generator(hr_checkpoint / GENERATOR_FILE)
    assert not gen.training and not any(p.requires_grad for p in gen.parameters())
    mine = gen.state_dict()
    # every plain tensor is the file's; spectral triples became one weight each
    assert mine["conv_img.weight"].equal(state["conv_img.weight"])
    assert mine["up_4.norm_1.noise_scale"].equal(state["up_4.norm_1.noise_scale"])
    assert "up_4.conv_0.weight" in mine and "up_4.conv_0.weight_orig" in state
    assert len(state) == len(mine) + 2 * sum(k.endswith(".weight_orig") for k in state)
    tocg = load_condition_generator(hr_checkpoint / CONDITION_FILE)
    tocg_state = torch.load(hr_checkpoint / CONDITION_FILE)
    assert set(tocg.state_dict()) == set(tocg_state)
    assert tocg.ClothEncoder[0].block[1].running_var.equal(
        tocg_state["ClothEncoder.0.block.1.running_var"])


@pytest.mark.parametrize("filename, loader, key", [
    (GENERATOR_FILE, load_image_generator, "up_2.norm_s.conv_gamma.bias"),
    (GENERATOR_FILE, load_image_generator, "head_0.conv_1.weight_v"),
    (CONDITION_FILE, load_condition_generator, "SegDecoder.3.block.4.running_mean"),
    (CONDITION_FILE, load_condition_generator, "conv2.1.weight"),   # unused, still required
])
def test_a_missing_tensor_is_named(hr_checkpoint, tmp_path, filename, loader, key):
    state = torch.load(hr_checkpoint / filename)
    path = _resave(state, tmp_path / "broken.pth", drop={key})
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")) as err:
        loader(path)
    assert key in err.value.extra["missing"]


def test_an_unexpected_tensor_is_named(hr_checkpoint, tmp_path):
    state = torch.load(hr_checkpoint / CONDITION_FILE)
    path = _resave(state, tmp_path / "extra.pth", add={"flow_conv.5.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"unexpected.*flow_conv\.5\.weight"):
        load_condition_generator(path)


def test_a_wrong_shape_is_refused(hr_checkpoint, tmp_path):
    state = torch.load(hr_checkpoint / CONDITION_FILE)
    state["out_layer.block.0.weight"] = torch.zeros(3, 3, 3, 3)
    path = _resave(state, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="out_layer.block.0.weight"):
        load_condition_generator(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "gen.pth"
    path.write_bytes(b"<html>Google Drive virus scan warning</html>")
    with pytest.raises(CheckpointError, match="not a readable PyTorch state dict"):
        load_image_generator(path)


def test_renaming_is_the_originals():
    state = OrderedDict([("head_0.norm_0.Spade.conv_gamma.weight", torch.zeros(1)),
                         ("up_0.ace_s.noise_scale", torch.ones(1)), ("conv_img.bias", torch.zeros(3))])
    state._metadata = OrderedDict([("head_0.norm_0.Spade", {"version": 1}), ("up_0.ace_s", {})])
    renamed = rename_generator_keys(state)
    assert list(renamed) == ["head_0.norm_0.conv_gamma.weight", "up_0.alias_s.noise_scale",
                             "conv_img.bias"]
    assert list(renamed._metadata) == ["head_0.norm_0", "up_0.alias_s"]


def test_keys_with_spade_segments_load_like_the_plain_ones(hr_checkpoint, tmp_path):
    """A file saved with ``.Spade`` inside the SPADE norms (what the original's renaming
    strips) gives the same network."""
    state = torch.load(hr_checkpoint / GENERATOR_FILE)

    def spade(key: str) -> str:
        parts = key.split(".")
        if len(parts) > 2 and parts[1].startswith("norm_") and parts[2] != "noise_scale":
            parts.insert(2, "Spade")
        return ".".join(parts)

    path = _resave(state, tmp_path / "spade.pth", rename=spade)
    assert any(".Spade." in k for k in torch.load(path))
    a, b = load_image_generator(hr_checkpoint / GENERATOR_FILE), load_image_generator(path)
    assert all(v.equal(b.state_dict()[k]) for k, v in a.state_dict().items())


def test_keys_with_ace_do_not_load(hr_checkpoint, tmp_path):
    """'ace' becomes 'alias', which no module of the network has: refused, by name."""
    state = torch.load(hr_checkpoint / GENERATOR_FILE)
    path = _resave(state, tmp_path / "ace.pth",
                   rename=lambda k: k.replace("norm_0.noise_scale", "ace_0.noise_scale"))
    with pytest.raises(CheckpointError, match=r"alias_0\.noise_scale"):
        load_image_generator(path)


def test_folding_is_torch_spectral_norm_in_eval_mode():
    torch.manual_seed(0)
    gen = apply_spectral_norm(SPADEGenerator(ngf=2, height=256, width=128))
    for _ in range(3):  # training-mode calls update u and v, as in a trained file
        gen.head_0.conv_0(torch.randn(1, 32, 4, 3))
    gen.eval()
    state = gen.state_dict()
    folded = fold_spectral_norm(state, ["head_0.conv_0"], "x.pth")
    conv = nn.Conv2d(32, 32, 3, padding=1).eval()
    conv.load_state_dict({"weight": folded["head_0.conv_0.weight"],
                          "bias": folded["head_0.conv_0.bias"]})
    x = torch.randn(2, 32, 5, 4)
    with torch.no_grad():
        assert conv(x).equal(gen.head_0.conv_0(x))
    with pytest.raises(CheckpointError, match=r"head_0\.conv_1\.weight_u"):
        fold_spectral_norm(OrderedDict((k, v) for k, v in state.items() if k != "head_0.conv_1.weight_u"),
                           ["head_0.conv_1"], "x.pth")
