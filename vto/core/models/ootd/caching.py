"""Garment and person work done once per content, kept in the shared byte-bounded cache.

What depends only on the garment (its prompt: CLIP image embedding beside the text token; its
VAE latents; every try-on block's garment keys/values from the outfitting UNet, for the garment
branch and, once a guided request needs it, the zero-garment branch) is computed on the first
request that brings that garment and read back after: a cached garment costs no CLIP, no
garment VAE encode and no garment-UNet pass. What depends only on the person photo (its VAE
latents and its masked version's) likewise, so a second garment on the same photo skips both
person encodes.

The raw garment tokens are not kept: with the keys/values hoisted nothing reads them again
(the original-math baseline, which does, runs uncached by definition), and they would only
add a third of the bytes.

Keys hold the content hash of every image, the model (a token of the pipeline's own UNets,
or of the VAE for person latents, which hd and dc share), category, working size, dtype and
device, so a hit is exactly the computation it replaces. Entries are never mutated: adding
the zero-garment branch replaces the entry (and re-counts its bytes).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from vto.core.cache import ByteLRU, image_hash
from vto.core.types import Category

if TYPE_CHECKING:
    from vto.core.models.ootd.pipeline import OOTDPipeline

KV = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class GarmentWork:
    prompt: torch.Tensor        # (1, L, C) in the pipeline dtype, same for both branches
    latents: torch.Tensor       # (1, 4, h, w) posterior mean of the garment
    kv: KV                      # garment branch: per block (k, v), each (1, N, inner)
    kv_zero: KV | None = None   # zero-garment (CFG) branch; None until a guided request needs it


@dataclass(frozen=True)
class PersonWork:
    latents: torch.Tensor         # (1, 4, h, w) person, unscaled posterior mean
    masked_latents: torch.Tensor  # (1, 4, h, w) masked person


def identity_token(obj: Any) -> str:
    """A process-unique token for a loaded module (ids are reused after garbage collection)."""
    token = getattr(obj, "_vto_cache_token", None)
    if token is None:
        token = uuid.uuid4().hex
        object.__setattr__(obj, "_vto_cache_token", token)
    return token


def garment_pass(pipe: "OOTDPipeline", latents: torch.Tensor,
                 prompt: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run the outfitting UNet once; return the tokens its fusion hooks recorded (a copy of the
    dict, so the next pass does not overwrite them)."""
    features = pipe.fusion.features
    features.tokens.clear()
    pipe.unet_garm(latents, 0, encoder_hidden_states=prompt, return_dict=False)
    tokens = dict(features.tokens)
    features.tokens.clear()
    return tokens


def garment_key(pipe: "OOTDPipeline", garment: Image.Image, category: Category) -> tuple:
    return ("ootd-garment", identity_token(pipe.unet_vton), pipe.model_type.value,
            image_hash(garment), Category(category).value, garment.size, str(pipe.dtype),
            str(pipe.device))


def garment_work(pipe: "OOTDPipeline", garment: Image.Image, category: Category, *,
                 zero_branch: bool, cache: ByteLRU | None) -> GarmentWork:
    """The garment's prompt, latents and hoisted K/V (with the zero-garment branch if asked),
    from ``cache`` when there, computed (garment UNet at batch 1, or 2 with the zero branch)
    and stored otherwise."""
    key = garment_key(pipe, garment, category)
    work = cache.get(key) if cache is not None else None
    if work is not None and (work.kv_zero is not None or not zero_branch):
        return work
    if work is None:
        prompt = pipe.encode_prompt(garment, category).to(pipe.dtype)
        latents = pipe.encode_latents(garment)
        branches = [latents, torch.zeros_like(latents)] if zero_branch else [latents]
        kv = pipe.fusion.hoist(garment_pass(pipe, torch.cat(branches),
                                            prompt.expand(len(branches), -1, -1)))
        work = GarmentWork(prompt, latents, {n: (k[:1], v[:1]) for n, (k, v) in kv.items()},
                           {n: (k[1:], v[1:]) for n, (k, v) in kv.items()} if zero_branch else None)
    else:  # cached without the zero branch: run only that row
        kv = pipe.fusion.hoist(garment_pass(pipe, torch.zeros_like(work.latents), work.prompt))
        work = dataclasses.replace(work, kv_zero=kv)
    if cache is not None:
        cache.put(key, work)
    return work


def person_work(pipe: "OOTDPipeline", person: Image.Image, person_masked: Image.Image, *,
                cache: ByteLRU | None) -> PersonWork:
    """Person and masked-person latents, from ``cache`` when there."""
    def compute() -> PersonWork:
        return PersonWork(pipe.encode_latents(person), pipe.encode_latents(person_masked))

    if cache is None:
        return compute()
    key = ("ootd-person", identity_token(pipe.vae), image_hash(person), image_hash(person_masked),
           person.size, str(pipe.dtype), str(pipe.device))
    return cache.get_or_compute(key, compute)
