"""Several try-on requests denoised as one batch, each exactly as it would run alone.

Compatible requests (one model type — one pipeline —, the same working size and step count)
share every try-on UNet call; anything else may differ: garments, categories, seeds, guidance
(a request at exactly 1.0 contributes only its garment branch), sample counts. Per request:
its own scheduler copy (UniPC keeps a history of model outputs per batch), its own noise from
its own seed, its own guidance, repaint and decode, its own callback. A callback that raises
(vto.errors.Cancelled, or anything) takes that request out before the next step; the others
continue with a smaller batch. A request's single-run path (``OOTDPipeline.__call__``) is this
same code with a batch of one, so "batched = alone" only differs by the matrix shapes.

A batch the device cannot hold (out of memory) splits in halves that continue one after the
other from the step it failed at.

Batch rows, per request, in order: n garment-branch rows, then (guided) n zero-garment rows —
the original's pairing. The fusion sees one garment row per distinct branch and a row map.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import torch
from PIL import Image

from vto.core.models.base import StepCallback
from vto.core.models.ootd.caching import garment_pass, garment_work, person_work
from vto.core.request import resolve_seed
from vto.core.types import Category

if TYPE_CHECKING:
    from vto.core.models.ootd.pipeline import OOTDPipeline


@dataclass
class TryOnOutput:
    """One request's result: its images and the seed they came from."""

    images: list[Image.Image]
    seed: int
    timings: dict[str, float] = field(default_factory=dict)


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


def _release(pipe: "OOTDPipeline") -> None:
    """Drop the batch's garment features; the tokens dict is left to garment passes (a catalog
    garment may be recording there from another thread)."""
    features = pipe.fusion.features
    with pipe.garment_lock:
        features.kv.clear()
        features.rows = None
        if pipe.original:
            features.tokens.clear()


def _install_layout(pipe: "OOTDPipeline", active: list[_Request]) -> tuple[torch.Tensor, torch.Tensor]:
    """Point the fusion at the active requests' garment rows; return the batch's prompt and
    masked-person latents (conditioning that stays fixed until a request leaves)."""
    features = pipe.fusion.features
    _release(pipe)
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


def _fail(requests: list[_Request], exc: BaseException, results: list) -> None:
    for r in requests:
        if results[r.index] is None:  # not already cancelled or failed on its own
            results[r.index] = exc


def _denoise(pipe: "OOTDPipeline", active: list[_Request], start: int, results: list
             ) -> list[_Request]:
    """Steps ``start``.. for ``active``; returns the requests that finished every step. A batch
    the device cannot hold (out of memory) is split in halves that continue one after the
    other from the same step (each request's state is its own, so nothing is lost)."""
    timesteps = active[0].scheduler.timesteps
    layout = None
    for i in range(start, len(timesteps)):
        t = timesteps[i]
        if layout is None:
            layout = _install_layout(pipe, active)
        prompt, masked = layout
        model_input = torch.cat([r.model_input(t) for r in active])
        try:
            noise_pred = pipe.denoise(torch.cat([model_input, masked], dim=1), t, prompt)
        except torch.OutOfMemoryError:
            if len(active) == 1:
                raise
            del model_input, layout, prompt, masked
            if pipe.device.type == "cuda":
                torch.cuda.empty_cache()
            half, finished = len(active) // 2, []
            for part in (active[:half], active[half:]):
                try:
                    finished += _denoise(pipe, part, i, results)
                except Exception as exc:  # noqa: BLE001 - that half's failure only
                    _fail(part, exc, results)
            return finished
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
            break
    return active


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
    try:
        finished = _denoise(pipe, active, 0, results)
    except Exception as exc:  # noqa: BLE001 - a shared UNet call failed: so did its requests
        _fail(active, exc, results)
        return
    finally:
        _release(pipe)
    for r in finished:
        try:
            results[r.index] = TryOnOutput(images=pipe.decode(r.latents), seed=r.seed)
        except Exception as exc:  # noqa: BLE001
            results[r.index] = exc


def run_batch(pipe: "OOTDPipeline", calls: Sequence["TryOnCall | Mapping"], *,
              original: bool = False) -> list[TryOnOutput | BaseException]:
    """One result per call, in order: its TryOnOutput or the exception that ended it. Calls of
    different working size or step count run as separate batches."""
    pipe.fusion.check()
    results: list = [None] * len(calls)
    groups: dict[tuple, list[tuple[int, TryOnCall]]] = {}
    for index, call in enumerate(calls):
        try:
            call = TryOnCall.of(call)
            key = (call.person.size, int(call.num_steps))
        except Exception as exc:  # noqa: BLE001 - a malformed call fails alone
            results[index] = exc
            continue
        groups.setdefault(key, []).append((index, call))
    for indexed in groups.values():
        _run_group(pipe, indexed, original, results)
    return results


CALL_FIELDS = tuple(f.name for f in fields(TryOnCall))
