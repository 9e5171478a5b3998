"""CatVTON's attention on the stock SD1.5-inpainting ``UNet2DConditionModel``.

CatVTON has no text: the UNet is called with ``encoder_hidden_states=None`` and every
cross-attention (``attn2``) is "skipped" by a processor that returns its input. That input is
not zero: diffusers' ``BasicTransformerBlock`` computes

    h = h + attn1(norm1(h))
    h = h + attn2(norm2(h))      # skipped: attn2(x) = x, so h = h + norm2(h)
    h = h + ff(norm3(h))

so a skipped block still adds ``norm2(h)`` to the residual stream. That is what the original's
``SkipAttnProcessor`` does and what the released weights were trained with; a "skip" that drops
the term (returns zeros, or removes ``attn2``) is a different network.

Self-attention (``attn1``) is plain scaled-dot-product attention over the person ‖ garment
tokens: diffusers' own ``AttnProcessor2_0`` (the original's copy of it is the same math; its
default SDPA scale equals ``attn.scale`` = head_dim ** -0.5). Only the ``attn1`` projections
were trained; :mod:`vto.core.models.catvton.checkpoints` loads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.attention_processor import AttnProcessor2_0
from torch import nn


class SkippedCrossAttention:
    """``attn2`` without text: returns its input (``norm2(h)``), see the module docstring."""

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, **kwargs) -> torch.Tensor:
        return hidden_states


def transformer_blocks(unet: nn.Module) -> dict[str, BasicTransformerBlock]:
    """Every transformer block by module name, in ``named_modules()`` order.

    That order (down blocks, then up blocks, then the mid block: the order diffusers registers
    them) is also the order of the original's list of ``attn1`` modules, which numbers the
    tensors of the released attention file.
    """
    return {name: m for name, m in unet.named_modules() if isinstance(m, BasicTransformerBlock)}


@dataclass
class CatVTONAttention:
    """The processors installed on one UNet; :meth:`check` fails if something replaced them."""

    unet: nn.Module
    self_attention: dict[str, AttnProcessor2_0]
    cross_attention: dict[str, SkippedCrossAttention]

    def check(self) -> None:
        for name, block in transformer_blocks(self.unet).items():
            if (block.attn1.processor is not self.self_attention[name]
                    or block.attn2 is None
                    or block.attn2.processor is not self.cross_attention[name]):
                raise RuntimeError(f"CatVTON attention processor of {name} was replaced")


def install(unet: nn.Module) -> CatVTONAttention:
    """Stock SDPA self-attention and the skipped cross-attention on every transformer block."""
    blocks = transformer_blocks(unet)
    if not blocks or any(block.attn2 is None for block in blocks.values()):
        raise ValueError("not an SD1.5-shaped UNet: every transformer block needs attn1 and attn2")
    self_attention, cross_attention = {}, {}
    for name, block in blocks.items():
        self_attention[name] = AttnProcessor2_0()
        cross_attention[name] = SkippedCrossAttention()
        block.attn1.set_processor(self_attention[name])
        block.attn2.set_processor(cross_attention[name])
    return CatVTONAttention(unet, self_attention, cross_attention)
