"""Several try-on requests denoised as one batch, each exactly as it would run alone.

Compatible requests (one model type — one pipeline —, the same working size and step count)
share every try-on UNet call; anything else may differ: garments, categories, seeds, guidance
(a request at exactly 1.0 contributes only its garment branch), sample counts. Per request:
its own scheduler copy (UniPC keeps a history of model outputs per batch), its own noise from
its own seed, its own guidance, repaint and decode, its own callback. A callback that raises
(vto.errors.Cancelled, or anything) takes that request out before the next step; the others
continue with a smaller batch. A request's single-run path (``OOTDPipeline.__call__``) is this
same code with a batch of one, so "batched = alone" only differs by the matrix shapes.

Batch rows, per request, in order: n garment-branch rows, then (guided) n zero-garment rows —
the original's pairing. The fusion sees one garment row per distinct branch and a row map.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch
from PIL import Image

from vto.core.models.base import StepCallback
from vto.core.models.ootd.caching import garment_pass, garment_work, person_work
from vto.core.request import resolve_seed
from vto.core.types import Category

if TYPE_CHECKING:
    from vto.core.models.ootd.pipeline import OOTDPipeline, TryOnOutput


@dataclass
class TryOnCall:
    """One request of ``OOTDPipeline.run_batch``: the keyword arguments of ``__call__``."""

    garment: Image.Image
    person: Image.Image
    person_masked: Image.Image
    mask: Image.Image
    category: Category = Category.UPPER_BODY
    num_samples: int = 1
    num_steps: int = 20
    image_scale: float = 2.0
    seed: int = -1
    callback: StepCallback | None = None

    @classmethod
    def of(cls, call: "TryOnCall | Mapping") -> "TryOnCall":
        return call if isinstance(call, TryOnCall) else cls(**dict(call))


class _Request:
    """One request's state through the loop."""

    def __init__(self, pipe: "OOTDPipeline", index: int, call: TryOnCall, original: bool) -> None:
        pipe.check_inputs(call.garment, call.person, call.person_masked, call.mask)
        self.index, self.callback = index, call.callback
        self.seed, self.n, self.scale = resolve_seed(call.seed), int(call.num_samples), call.image_scale
        # Guidance at exactly 1.0 is the identity: one branch (the original doubles it anyway).
        self.cfg = call.image_scale > 1.0 or (original and call.image_scale >= 1.0)
        self.rows = self.n * (2 if self.cfg else 1)
        category = Category(call.category)
        if original:  # the original's computation: nothing cached, garment UNet at full batch
            self.prompt = pipe.encode_prompt(call.garment, category).to(pipe.dtype)
            garment = pipe.encode_latents(call.garment).repeat(self.n, 1, 1, 1)
            if self.cfg:
                garment = torch.cat([garment, torch.zeros_like(garment)])
            self.person_masked = pipe.encode_latents(call.person_masked)
            self.person = pipe.encode_latents(call.person)
            self.tokens = garment_pass(pipe, garment, self.prompt.repeat(self.rows, 1, 1))
            self.branches = None
        else:
            cache = pipe.cache
            work = garment_work(pipe, call.garment, category, zero_branch=self.cfg, cache=cache)
            people = person_work(pipe, call.person, call.person_masked, cache=cache)
            self.prompt, self.person, self.person_masked = work.prompt, people.latents, \
                people.masked_latents
            self.branches = [work.kv] + ([work.kv_zero] if self.cfg else [])
        latent_hw = tuple(self.person.shape[-2:])
        self.mask = pipe.prepare_mask(call.mask, latent_hw).repeat(self.n, 1, 1, 1)
        self.known = (self.person * pipe.vae.config.scaling_factor).repeat(self.n, 1, 1, 1)
        self.scheduler = copy.deepcopy(pipe.scheduler)
        self.scheduler.set_timesteps(int(call.num_steps), device=pipe.device)
        self.scheduler.set_begin_index(0)  # add_noise uses the step index: no duplicate-t crash
        self.latents = pipe.prepare_noise(self.n, latent_hw, self.seed)
        self.noise = self.latents.clone()

    def model_input(self, t: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.latents] * 2) if self.cfg else self.latents
        return self.scheduler.scale_model_input(x, t)

    def step(self, i: int, t: torch.Tensor, noise_pred: torch.Tensor) -> None:
        if self.cfg:  # image guidance: garment branch vs zero-garment branch
            with_garment, without_garment = noise_pred.chunk(2)
            noise_pred = without_garment + self.scale * (with_garment - without_garment)
        latents = self.scheduler.step(noise_pred, t, self.latents, return_dict=False)[0]
        # repaint: outside the mask, the original noised to the next level (same noise each step)
        timesteps = self.scheduler.timesteps
        known = self.known
        if i < len(timesteps) - 1:
            known = self.scheduler.add_noise(known, self.noise, timesteps[i + 1:i + 2])
        self.latents = (1 - self.mask) * known + self.mask * latents


def _install_layout(pipe: "OOTDPipeline", active: list[_Request]) -> tuple[torch.Tensor, torch.Tensor]:
    """Point the fusion at the active requests' garment rows; return the batch's prompt and
    masked-person latents (conditioning that stays fixed until a request leaves)."""
    features = pipe.fusion.features
    features.clear()
    prompt = torch.cat([r.prompt.expand(r.rows, -1, -1) for r in active])
    masked = torch.cat([r.person_masked.expand(r.rows, -1, -1, -1) for r in active])
    if active[0].branches is None:  # original math: full-batch tokens, concatenated
        for name in active[0].tokens:
            features.tokens[name] = torch.cat([r.tokens[name] for r in active]) \
                if len(active) > 1 else active[0].tokens[name]
        return prompt, masked
    unique: dict[int, int] = {}
    branches, rows = [], []
    for r in active:
        for branch in r.branches:  # a branch shared by two requests (same garment) is one row
            if id(branch) not in unique:
                unique[id(branch)] = len(branches)
                branches.append(branch)
            rows += [unique[id(branch)]] * r.n
    for name in branches[0]:
        if len(branches) == 1:
            features.kv[name] = branches[0][name]
        else:
            features.kv[name] = tuple(torch.cat([b[name][j] for b in branches]) for j in (0, 1))
    if len(branches) > 1:
        features.rows = torch.tensor(rows, device=pipe.device)
    return prompt, masked


def _run_group(pipe: "OOTDPipeline", indexed: list[tuple[int, TryOnCall]], original: bool,
               results: list) -> None:
    active: list[_Request] = []
    for index, call in indexed:
        try:
            active.append(_Request(pipe, index, call, original))
        except Exception as exc:  # noqa: BLE001 - that request's failure, reported as its result
            results[index] = exc
    if not active:
        return
    from vto.core.models.ootd.pipeline import TryOnOutput

    timesteps = active[0].scheduler.timesteps
    layout = None
    try:
        for i, t in enumerate(timesteps):
            if layout is None:
                layout = _install_layout(pipe, active)
            prompt, masked = layout
            model_input = torch.cat([r.model_input(t) for r in active])
            try:
                noise_pred = pipe.denoise(torch.cat([model_input, masked], dim=1), t, prompt)
            except Exception as exc:  # noqa: BLE001 - the shared call failed: every request did
                for r in active:
                    results[r.index] = exc
                return
            left = []
            for r, pred in zip(active, noise_pred.split([r.rows for r in active])):
                try:
                    r.step(i, t, pred)
                    if r.callback is not None:
                        r.callback(i + 1, len(timesteps))
                    left.append(r)
                except Exception as exc:  # noqa: BLE001 - Cancelled (or a failure): it leaves
                    results[r.index] = exc
            if len(left) != len(active):
                layout = None
            active = left
            if not active:
                return
    finally:
        pipe.fusion.features.clear()
    for r in active:
        try:
            results[r.index] = TryOnOutput(images=pipe.decode(r.latents), seed=r.seed)
        except Exception as exc:  # noqa: BLE001
            results[r.index] = exc


def run_batch(pipe: "OOTDPipeline", calls: Sequence["TryOnCall | Mapping"], *,
              original: bool = False) -> "list[TryOnOutput | BaseException]":
    """One result per call, in order: its TryOnOutput or the exception that ended it. Calls of
    different working size or step count run as separate batches."""
    pipe.fusion.check()
    calls = [TryOnCall.of(c) for c in calls]
    results: list = [None] * len(calls)
    groups: dict[tuple, list[tuple[int, TryOnCall]]] = {}
    for index, call in enumerate(calls):
        groups.setdefault((call.person.size, int(call.num_steps)), []).append((index, call))
    for indexed in groups.values():
        _run_group(pipe, indexed, original, results)
    return results


CALL_FIELDS = tuple(f.name for f in fields(TryOnCall))
