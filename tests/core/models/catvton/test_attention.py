"""The processors: where they sit, and that the skipped cross-attention keeps norm2(h)."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from vto.core.models.catvton.attention import SkippedCrossAttention, install, transformer_blocks


class DropsNorm2:
    """The naive reading of "skip cross-attention": contribute nothing."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 temb=None, **kwargs):
        return torch.zeros_like(hidden_states)


def unet_input(unet, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, unet.config.in_channels, 16, 11, generator=gen)


def test_every_block_gets_sdpa_self_attention_and_skipped_cross_attention(catvton_pipeline):
    unet = catvton_pipeline.unet
    processors = unet.attn_processors
    self_attn = [p for n, p in processors.items() if n.endswith("attn1.processor")]
    cross_attn = [p for n, p in processors.items() if n.endswith("attn2.processor")]
    # tiny UNet, one layer per block: 3 down + 2 x 3 up + 1 mid transformer blocks
    assert len(transformer_blocks(unet)) == len(self_attn) == len(cross_attn) == 10
    assert len(processors) == 20
    assert all(type(p) is AttnProcessor2_0 for p in self_attn)
    assert all(type(p) is SkippedCrossAttention for p in cross_attn)
    catvton_pipeline.attention.check()


def test_a_skipped_block_adds_norm2_of_its_input(catvton_pipeline):
    block = next(iter(transformer_blocks(catvton_pipeline.unet).values()))
    h = torch.randn(2, 24, block.norm1.normalized_shape[0], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h1 = h + block.attn1(block.norm1(h))
        h2 = h1 + block.norm2(h1)
        expected = h2 + block.ff(block.norm3(h2))
        assert torch.allclose(block(h, encoder_hidden_states=None), expected, atol=1e-6)


def test_dropping_norm2_is_a_different_network(catvton_root):
    from vto.core.models.catvton import checkpoints

    unet = checkpoints.load_unet(catvton_root, torch.float32)
    install(unet)
    x, t = unet_input(unet), torch.tensor(500)
    with torch.no_grad():
        faithful = unet(x, t, encoder_hidden_states=None).sample
        for block in transformer_blocks(unet).values():
            block.attn2.set_processor(DropsNorm2())
        naive = unet(x, t, encoder_hidden_states=None).sample
    assert (faithful - naive).abs().max() > 1e-2


def test_a_replaced_processor_is_caught(catvton_root):
    from vto.core.models.catvton import checkpoints

    unet = checkpoints.load_unet(catvton_root, torch.float32)
    attention = install(unet)
    attention.check()
    unet.set_attn_processor(AttnProcessor())  # e.g. someone resetting to the default
    with pytest.raises(RuntimeError, match="replaced"):
        attention.check()
