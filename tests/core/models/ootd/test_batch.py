"""Batched denoising: each request's images equal its lone run's (own seed, guidance, samples,
garment), a cancelled request leaves without disturbing the others, and the backend batches."""

from __future__ import annotations

import pytest
import torch

from tests.core.models.ootd.helpers import max_pixel_diff
from vto.core.models.base import BatchItem, ModelInputs, RunParams
from vto.core.models.ootd.backend import OOTDHDBackend
from vto.core.models.ootd.batch import TryOnCall
from vto.core.types import Category
from vto.errors import Cancelled, InvalidInput

STEPS = 3


def call(garment, person, **kw) -> dict:
    args = dict(garment=garment["garment"], person=person["person"],
                person_masked=person["masked"], mask=person["mask"], num_steps=STEPS)
    args.update(kw)
    return args


@pytest.fixture(scope="module")
def mixed(small_inputs, other_inputs):
    """Different garments, persons, seeds, guidance (1.0 = one branch, 2.0) and sample counts."""
    a, b = small_inputs, other_inputs
    return [call(a, a, seed=1, image_scale=1.0, num_samples=1),
            call(b, b, seed=2, image_scale=2.0, num_samples=2),
            call(a, b, seed=3, image_scale=2.0, num_samples=1)]


@pytest.fixture(scope="module")
def alone(cached_pipe, mixed):
    cache, cached_pipe.cache = cached_pipe.cache, None  # alone = the plain uncached path
    try:
        return [cached_pipe(**c) for c in mixed]
    finally:
        cached_pipe.cache = cache


def vton_batch_sizes(pipe):
    seen = []
    return seen, pipe.unet_vton.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[0]))


def test_batched_equals_alone(cached_pipe, mixed, alone):
    seen, hook = vton_batch_sizes(cached_pipe)
    try:
        results = cached_pipe.run_batch(mixed)
    finally:
        hook.remove()
    assert seen == [1 + 4 + 2] * STEPS  # one try-on UNet call per step for all three
    for got, want in zip(results, alone):
        assert got.seed == want.seed and len(got.images) == len(want.images)
        assert max_pixel_diff(got.images, want.images) <= 1
    assert max_pixel_diff(results[0].images, results[2].images[:1]) > 0


def test_cancelled_request_leaves_the_batch_cleanly(cached_pipe, mixed, alone):
    steps = {0: [], 2: []}

    def cancel_at_two(k, n):
        if k == 2:
            raise Cancelled("job cancelled")

    calls = [dict(mixed[0], callback=lambda k, n: steps[0].append(k)),
             dict(mixed[1], callback=cancel_at_two),
             TryOnCall(**mixed[2], callback=lambda k, n: steps[2].append(k))]
    seen, hook = vton_batch_sizes(cached_pipe)
    try:
        results = cached_pipe.run_batch(calls)
    finally:
        hook.remove()
    assert isinstance(results[1], Cancelled)
    assert seen == [7, 7, 3]  # the cancelled request's 4 rows left after its second step
    assert steps == {0: [1, 2, 3], 2: [1, 2, 3]}
    for i in (0, 2):
        assert max_pixel_diff(results[i].images, alone[i].images) <= 1
    assert cached_pipe(**mixed[0]).images  # the pipeline is clean afterwards


def test_failures_stay_per_request_and_sizes_batch_apart(cached_pipe, small_inputs, mixed, alone):
    bad = dict(mixed[0], seed=-5)
    smaller = {k: v.resize((64, 96)) if hasattr(v, "resize") else v for k, v in mixed[2].items()}
    results = cached_pipe.run_batch([bad, mixed[2], smaller, dict(mixed[0], colour="red")])
    assert isinstance(results[0], InvalidInput) and isinstance(results[3], TypeError)
    assert max_pixel_diff(results[1].images, alone[2].images) <= 1
    assert results[2].images[0].size == (64, 96)


def test_backend_batches_like_run(cached_pipe, small_inputs, other_inputs):
    backend = OOTDHDBackend(cached_pipe)
    items = []
    for inputs, seed, scale in ((small_inputs, 4, 2.0), (other_inputs, 9, 1.0)):
        model_inputs = ModelInputs(person=inputs["person"], garment=inputs["garment"].resize((80, 100)),
                                   mask=inputs["mask"], masked_person=inputs["masked"])
        params = RunParams(category=Category.UPPER_BODY, size=(96, 128), num_inference_steps=2,
                           guidance_scale=scale, num_images_per_prompt=1, seed=seed)
        items.append(BatchItem(model_inputs, params))
    assert backend.batch_key(items[0].params) == backend.batch_key(items[1].params)
    other = RunParams(category=Category.UPPER_BODY, size=(96, 128), num_inference_steps=3)
    assert backend.batch_key(other) != backend.batch_key(items[0].params)
    batched = backend.run_batch(items)
    for item, images in zip(items, batched):
        assert max_pixel_diff(images, backend.run(item.inputs, item.params)) <= 1


def test_a_batch_too_big_for_the_device_splits_and_still_equals_alone(cached_pipe, mixed, alone,
                                                                      monkeypatch):
    """Out of memory from step 2 on above 4 rows: the halves continue one after the other."""
    real, sizes = cached_pipe.denoise, []

    def denoise(model_input, t, prompt):
        sizes.append(model_input.shape[0])
        if model_input.shape[0] > 4 and len(sizes) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model_input, t, prompt)

    monkeypatch.setattr(cached_pipe, "denoise", denoise)
    results = cached_pipe.run_batch(mixed)
    # step 1: 7 rows; step 2: 7 fails -> request 0 (1 row) steps 2-3, then requests 1+2 (6 rows)
    # fail -> request 1 (4 rows) steps 2-3, request 2 (2 rows) steps 2-3
    assert sizes == [7, 7, 1, 1, 6, 4, 4, 2, 2]
    for got, want in zip(results, alone):
        assert max_pixel_diff(got.images, want.images) <= 1
