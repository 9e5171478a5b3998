"""Outfitting fusion on stock diffusers UNets: a garment-feature hook and a try-on attention processor.

OOTDiffusion runs the garment ("outfitting") UNet once and feeds every transformer block's
*input tokens* into the self-attention of the same-named block of the try-on UNet (spec §2):

    g = garment tokens recorded before norm1 of garment block k        (B, N, C), raw residual stream
    h = norm1_vton(x), h_g = norm1_vton(g)                              the TRY-ON block's own norm1
    attn1 output = softmax(Q(h) · K([h ‖ h_g])ᵀ / √d) · V([h ‖ h_g])   queries: person tokens only

The original concatenates [x ‖ g], runs self-attention over all 2N tokens and keeps the first
N; restricting the queries to the N person tokens is the same math and half the query work.

An attention processor alone cannot do the garment side: garment attn1 only sees
``norm1_garm(g)`` and LayerNorm cannot be inverted, so a forward pre-hook on each garment
``BasicTransformerBlock`` records its raw input instead. Features are keyed by module name,
which is stable, unlike execution order vs ``named_modules()`` order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock
from torch import nn
from torch.utils.hooks import RemovableHandle


@dataclass
class GarmentFeatures:
    """Raw garment tokens per transformer-block name, filled by the garment UNet's forward."""

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)

    def clear(self) -> None:
        self.tokens.clear()


def transformer_blocks(unet: nn.Module) -> dict[str, BasicTransformerBlock]:
    return {name: m for name, m in unet.named_modules() if isinstance(m, BasicTransformerBlock)}


class GarmentFusionProcessor:
    """Self-attention of a try-on block over [person ‖ garment] keys/values (queries: person)."""

    def __init__(self, block_name: str, norm1: nn.Module, features: GarmentFeatures,
                 all_queries: bool = False) -> None:
        self.block_name = block_name
        self.norm1 = norm1  # the try-on block's own norm1 (applied to the garment tokens)
        self.features = features
        # all_queries: the original's literal 2N-query attention, then keep N (`vto bench` baseline)
        self.all_queries = all_queries

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, **kwargs) -> torch.Tensor:
        garment = self.features.tokens.get(self.block_name)
        if garment is None:
            raise RuntimeError(f"no garment features for {self.block_name}: run the garment UNet first")
        if garment.shape[0] != hidden_states.shape[0] or garment.shape[1] != hidden_states.shape[1]:
            raise RuntimeError(f"garment tokens {tuple(garment.shape)} do not pair with person "
                               f"tokens {tuple(hidden_states.shape)} in {self.block_name}")
        context = torch.cat([hidden_states, self.norm1(garment.to(hidden_states.dtype))], dim=1)

        batch, n_person, _ = hidden_states.shape
        query = attn.to_q(context if self.all_queries else hidden_states)
        key = attn.to_k(context)
        value = attn.to_v(context)
        head_dim = key.shape[-1] // attn.heads
        query, key, value = (t.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
                             for t in (query, key, value))
        out = F.scaled_dot_product_attention(query, key, value, scale=attn.scale)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))  # linear, dropout (identity in eval)
        return out[:, :n_person] if self.all_queries else out


@dataclass
class Fusion:
    """Installed fusion between one garment UNet and one try-on UNet; ``remove()`` undoes it."""

    features: GarmentFeatures
    unet_vton: nn.Module
    handles: list[RemovableHandle]
    original_processors: dict[str, object]
    processors: dict[str, GarmentFusionProcessor]

    def check(self) -> None:
        """Fail loudly if something (set_attn_processor, xformers, offload…) dropped the fusion."""
        for name, block in transformer_blocks(self.unet_vton).items():
            if block.attn1.processor is not self.processors[name]:
                raise RuntimeError(f"fusion processor of {name}.attn1 was replaced")

    def set_all_queries(self, enabled: bool) -> None:
        for processor in self.processors.values():
            processor.all_queries = enabled

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        for name, block in transformer_blocks(self.unet_vton).items():
            block.attn1.set_processor(self.original_processors[name])
        self.features.clear()


def install(unet_garm: nn.Module, unet_vton: nn.Module) -> Fusion:
    """Hook every garment transformer block and give every try-on attn1 the fusion processor."""
    features = GarmentFeatures()
    garm_blocks = transformer_blocks(unet_garm)
    vton_blocks = transformer_blocks(unet_vton)
    if set(garm_blocks) != set(vton_blocks) or not garm_blocks:
        raise ValueError("garment and try-on UNets have different transformer blocks")

    def recorder(name: str):
        def hook(module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            features.tokens[name] = hidden  # raw input, before norm1
        return hook

    handles = [block.register_forward_pre_hook(recorder(name), with_kwargs=True)
               for name, block in garm_blocks.items()]
    originals, processors = {}, {}
    for name, block in vton_blocks.items():
        originals[name] = block.attn1.processor
        processors[name] = GarmentFusionProcessor(name, block.norm1, features)
        block.attn1.set_processor(processors[name])
    return Fusion(features, unet_vton, handles, originals, processors)
