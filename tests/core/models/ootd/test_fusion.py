"""The fusion equals the original's math, and the test can tell a wrong fusion from a right one."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor

from vto.core.models.ootd import fusion
from vto.core.types import ModelType


class NaiveOriginalProcessor:
    """The original BasicTransformerBlock, literally: x2 = [x ‖ g]; attend over all 2N; keep N.

    ``attn1`` receives ``norm1(x)``; the original normalises the *concatenation* with the same
    norm1, so the garment half is ``norm1(g)``. Full 2N x 2N attention with an explicit softmax,
    then the first N rows — no shared code with vto's processor.
    """

    def __init__(self, name, norm1, features):
        self.name, self.norm1, self.features = name, norm1, features

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        n = hidden_states.shape[1]
        both = torch.cat([hidden_states, self.norm1(self.features.tokens[self.name])], dim=1)
        q, k, v = attn.to_q(both), attn.to_k(both), attn.to_v(both)
        b, t, c = q.shape
        h = attn.heads
        q, k, v = (x.reshape(b, t, h, c // h).permute(0, 2, 1, 3) for x in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // h), dim=-1)
        out = (weights @ v).permute(0, 2, 1, 3).reshape(b, t, c)
        out = attn.to_out[1](attn.to_out[0](out))
        return out[:, :n]


@pytest.fixture(scope="module")
def unets(tiny_checkpoint):
    garm = UNet2DConditionModel.from_pretrained(tiny_checkpoint.unet(ModelType.DC, "unet_garm")).eval()
    vton = UNet2DConditionModel.from_pretrained(tiny_checkpoint.unet(ModelType.DC, "unet_vton")).eval()
    return garm, vton


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(0)
    return {"garment": torch.randn(2, 4, 16, 12, generator=g),
            "person": torch.randn(2, 8, 16, 12, generator=g),
            "prompt": torch.randn(2, 4, 32, generator=g)}


def _fused_output(garm, vton, inputs, processor_factory=None):
    garm, vton = copy.deepcopy(garm), copy.deepcopy(vton)
    fused = fusion.install(garm, vton)
    if processor_factory is not None:
        for name, block in fusion.transformer_blocks(vton).items():
            block.attn1.set_processor(processor_factory(name, block, garm, fused.features))
    with torch.no_grad():
        garm(inputs["garment"], 0, encoder_hidden_states=inputs["prompt"])
        return vton(inputs["person"], 500, encoder_hidden_states=inputs["prompt"]).sample


def test_records_sixteen_raw_block_inputs_in_execution_layout(unets, inputs):
    garm, vton = copy.deepcopy(unets[0]), copy.deepcopy(unets[1])
    fused = fusion.install(garm, vton)
    with torch.no_grad():
        garm(inputs["garment"], 0, encoder_hidden_states=inputs["prompt"])
    tokens = fused.features.tokens
    assert len(tokens) == 16
    # 16x12 latents: 192 tokens at level 0, 48 at level 1, 12 at level 2, 4 in the middle block
    assert tokens["down_blocks.0.attentions.0.transformer_blocks.0"].shape == (2, 192, 32)
    assert tokens["down_blocks.2.attentions.1.transformer_blocks.0"].shape == (2, 12, 64)
    assert tokens["mid_block.attentions.0.transformer_blocks.0"].shape == (2, 4, 64)
    assert tokens["up_blocks.3.attentions.2.transformer_blocks.0"].shape == (2, 192, 32)
    # raw residual stream, not norm1's output: a LayerNorm output would have ~zero mean per token
    block = fusion.transformer_blocks(garm)["down_blocks.0.attentions.0.transformer_blocks.0"]
    raw = tokens["down_blocks.0.attentions.0.transformer_blocks.0"]
    assert not torch.allclose(block.norm1(raw), raw, atol=1e-3)


def test_equals_naive_full_attention_over_2n_tokens(unets, inputs):
    vto_out = _fused_output(*unets, inputs)
    naive = _fused_output(*unets, inputs, lambda name, block, garm, feats:
                          NaiveOriginalProcessor(name, block.norm1, feats))
    assert (vto_out - naive).abs().max().item() < 1e-5


def test_wrong_norm_or_no_fusion_is_detected(unets, inputs):
    vto_out = _fused_output(*unets, inputs)
    garm_blocks = fusion.transformer_blocks(unets[0])
    wrong_norm = _fused_output(*unets, inputs, lambda name, block, garm, feats:
                               fusion.GarmentFusionProcessor(name, fusion.transformer_blocks(garm)[name].norm1, feats))
    assert garm_blocks  # the tiny checkpoint randomises norms, so the two norm1 differ
    assert (vto_out - wrong_norm).abs().max().item() > 1e-3
    no_fusion = _fused_output(*unets, inputs, lambda name, block, garm, feats: AttnProcessor())
    assert (vto_out - no_fusion).abs().max().item() > 1e-3


def test_check_notices_replaced_processors_and_remove_restores(unets, inputs):
    garm, vton = copy.deepcopy(unets[0]), copy.deepcopy(unets[1])
    before = {name: type(b.attn1.processor) for name, b in fusion.transformer_blocks(vton).items()}
    fused = fusion.install(garm, vton)
    fused.check()
    vton.set_attn_processor(AttnProcessor())  # what xformers/offload helpers do
    with pytest.raises(RuntimeError, match="replaced"):
        fused.check()
    fused.remove()
    assert {name: type(b.attn1.processor) for name, b in fusion.transformer_blocks(vton).items()} == before
    assert not garm._forward_pre_hooks and all(not b._forward_pre_hooks for b in fusion.transformer_blocks(garm).values())


def test_try_on_without_garment_pass_fails_clearly(unets, inputs):
    garm, vton = copy.deepcopy(unets[0]), copy.deepcopy(unets[1])
    fusion.install(garm, vton)
    with pytest.raises(RuntimeError, match="garment UNet first"), torch.no_grad():
        vton(inputs["person"], 500, encoder_hidden_states=inputs["prompt"])
