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

K/V hoisting: the garment half of every attn1's keys and values, ``to_k/to_v(norm1_vton(g))``,
does not change across denoising steps, so :meth:`Fusion.hoist` computes it once per garment
(and the garment cache keeps it across requests); each step then projects only the person
tokens and concatenates ``[k_person ‖ k_garment]``. ``all_queries`` keeps the original's literal
computation (2N queries, garment K/V recomputed every step) as the baseline of ``vto bench``.

Batches: the garment side holds one row per *distinct* garment branch (a garment, or its
zero-garment CFG branch); ``GarmentFeatures.rows`` maps each try-on batch row to its garment
row, so n identical samples never run the garment UNet n times.
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
    """What the try-on attention reads about the garment, per transformer-block name.

    ``tokens``: raw garment tokens, filled by the garment UNet's forward (hook).
    ``kv``: hoisted garment keys/values ``(k, v)``, each (G, N, inner); used when present
    (and not ``all_queries``). ``rows``: try-on batch row -> garment row (None: the garment
    side has one row, broadcast to the batch, or exactly the batch's rows).
    """

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    kv: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    rows: torch.Tensor | None = None

    def clear(self) -> None:
        self.tokens.clear()
        self.kv.clear()
        self.rows = None


def _pair(garment: torch.Tensor, batch: int, rows: torch.Tensor | None) -> torch.Tensor:
    """Garment rows for a try-on batch of ``batch`` rows (broadcast, gathered or as is)."""
    if rows is not None:
        return garment.index_select(0, rows)
    if garment.shape[0] == 1 and batch != 1:
        return garment.expand(batch, -1, -1)
    return garment


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
        batch, n_person, _ = hidden_states.shape
        hoisted = None if self.all_queries else self.features.kv.get(self.block_name)
        if hoisted is not None:  # garment K/V computed once per garment: project the person only
            k_garment, v_garment = (_pair(t, batch, self.features.rows) for t in hoisted)
            self._check(k_garment, hidden_states)
            query = attn.to_q(hidden_states)
            key = torch.cat([attn.to_k(hidden_states), k_garment.to(hidden_states.dtype)], dim=1)
            value = torch.cat([attn.to_v(hidden_states), v_garment.to(hidden_states.dtype)], dim=1)
        else:
            garment = self.features.tokens.get(self.block_name)
            if garment is None:
                raise RuntimeError(f"no garment features for {self.block_name}: run the garment "
                                   "UNet first")
            garment = _pair(garment, batch, self.features.rows)
            self._check(garment, hidden_states)
            context = torch.cat([hidden_states, self.norm1(garment.to(hidden_states.dtype))], dim=1)
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

    def _check(self, garment: torch.Tensor, hidden_states: torch.Tensor) -> None:
        if garment.shape[0] != hidden_states.shape[0] or garment.shape[1] != hidden_states.shape[1]:
            raise RuntimeError(f"garment tokens {tuple(garment.shape)} do not pair with person "
                               f"tokens {tuple(hidden_states.shape)} in {self.block_name}")


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

    @property
    def all_queries(self) -> bool:
        """True when the try-on attention runs the original's literal 2N-query math."""
        return any(p.all_queries for p in self.processors.values())

    def hoist(self, tokens: dict[str, torch.Tensor] | None = None
              ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Garment keys/values of every try-on attn1, ``to_k/to_v(norm1_vton(g))``, from recorded
        tokens (default: the last garment pass's). Same math as the per-step projection of the
        garment half of ``[h ‖ norm1(g)]`` (a linear layer acts on each token alone)."""
        tokens = self.features.tokens if tokens is None else tokens
        blocks = transformer_blocks(self.unet_vton)
        dtype = self.unet_vton.dtype  # the try-on stream's dtype, as the per-step path casts
        kv = {}
        for name, garment in tokens.items():
            block = blocks[name]
            normed = block.norm1(garment.to(dtype))
            kv[name] = (block.attn1.to_k(normed), block.attn1.to_v(normed))
        return kv

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
