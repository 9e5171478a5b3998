"""Strict loading: every file and every tensor accounted for, errors that name them."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file, save_file

from vto.core.models.catvton import checkpoints, spec
from vto.errors import CheckpointError

# SD1.5 inpainting's UNet config (the released attention file was trained on it)
SD15_INPAINT = dict(in_channels=9, out_channels=4, sample_size=64, layers_per_block=2,
                    block_out_channels=(320, 640, 1280, 1280), attention_head_dim=8,
                    cross_attention_dim=768,
                    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)


def attention_path(root):
    return root / spec.ATTENTION_FILE


def test_missing_file_is_named_with_the_download_command(catvton_copy):
    (catvton_copy / spec.VAE_WEIGHTS).unlink()
    with pytest.raises(CheckpointError) as err:
        checkpoints.verify(catvton_copy)
    assert spec.VAE_WEIGHTS in str(err.value)
    assert f"vto download --dir {catvton_copy} --model catvton" in str(err.value)
    assert err.value.extra["missing"] == [spec.VAE_WEIGHTS]


def test_either_weights_format_satisfies_the_spec(catvton_copy):
    unet = catvton_copy / spec.UNET_WEIGHTS
    unet.rename(unet.with_suffix(".safetensors"))  # a converted base model
    checkpoints.verify(catvton_copy)


def test_released_layout_of_sd15_numbers_16_blocks_in_steps_of_8():
    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_INPAINT)
    names = checkpoints.released_names(unet)
    assert len(names) == 16 * 5
    first = [aliases[0] for aliases in names.values()]
    assert first[:5] == ["0.to_q.weight", "0.to_k.weight", "0.to_v.weight",
                         "0.to_out.0.weight", "0.to_out.0.bias"]
    assert first[-1] == "120.to_out.0.bias"
    # the original's list order: down blocks, up blocks, then the mid block
    blocks = list(dict.fromkeys(name.split(".attn1.")[0] for name in names))
    assert blocks[5].startswith("down_blocks.2") and blocks[6].startswith("up_blocks.1")
    assert blocks[-1].startswith("mid_block")
    # the paper's "49.57M trainable parameters" (198 MB in fp32)
    params = dict(unet.named_parameters())
    assert sum(params[n].numel() for n in names) == 49_574_080


def test_attention_weights_replace_the_base_models(catvton_root, catvton_pipeline):
    released = load_file(attention_path(catvton_root))
    base = torch.load(catvton_root / spec.UNET_WEIGHTS, weights_only=True)
    for param, aliases in checkpoints.released_names(catvton_pipeline.unet).items():
        loaded = catvton_pipeline.unet.get_parameter(param)
        assert torch.equal(loaded, released[aliases[0]])
        assert not torch.equal(loaded, base[param])


def test_any_alias_of_a_tensor_loads_the_same(catvton_copy, catvton_pipeline):
    path = attention_path(catvton_copy)
    state = load_file(path)
    # safetensors.save_model would keep the sorted-first names: "1.weight" for 0.to_q, ...
    renamed = {("1.weight" if k == "0.to_q.weight" else "5.bias" if k == "0.to_out.0.bias"
                else k): v for k, v in state.items()}
    renamed["8.to_q.weight"] = state["8.to_q.weight"]
    renamed["9.weight"] = state["8.to_q.weight"].clone()  # a duplicate with equal values: fine
    save_file(renamed, path)
    unet = checkpoints.load_unet(catvton_copy, torch.float32)
    checkpoints.load_attention(unet, catvton_copy)
    for name, param in unet.named_parameters():
        if ".attn1." in name:
            assert torch.equal(param, catvton_pipeline.unet.get_parameter(name)), name


@pytest.mark.parametrize("change, named", [
    (lambda s: s.pop("8.to_k.weight"), "lacks 1 tensor(s): 8.to_k.weight"),
    (lambda s: s.update({"80.to_q.weight": s["0.to_q.weight"].clone()}), "does not use: 80.to_q.weight"),
    (lambda s: s.update({"1.weight": s["0.to_q.weight"] + 1}), "0.to_q.weight and 1.weight"),
    (lambda s: s.update({"0.to_v.weight": s["0.to_v.weight"][:, :4].contiguous()}), "0.to_v.weight has shape"),
])
def test_attention_file_must_match_exactly(catvton_copy, change, named):
    path = attention_path(catvton_copy)
    state = load_file(path)
    change(state)
    save_file(state, path)
    unet = checkpoints.load_unet(catvton_copy, torch.float32)
    with pytest.raises(CheckpointError) as err:
        checkpoints.load_attention(unet, catvton_copy)
    assert named in str(err.value)


def test_missing_unet_tensor_is_named(catvton_copy):
    path = catvton_copy / spec.UNET_WEIGHTS
    state = torch.load(path, weights_only=True)
    del state["conv_in.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        checkpoints.load_unet(catvton_copy, torch.float32)
    assert "missing keys: conv_in.weight" in str(err.value)
    assert "--model catvton" in str(err.value)


def test_legacy_vae_attention_names_load(catvton_root, catvton_pipeline):
    state = load_file(catvton_root / spec.VAE_WEIGHTS)
    legacy = "decoder.mid_block.attentions.0.query.weight"
    assert legacy in state  # sd-vae-ft-mse's 2022 names
    loaded = catvton_pipeline.vae.get_parameter("decoder.mid_block.attentions.0.to_q.weight")
    assert torch.equal(loaded, state[legacy])
