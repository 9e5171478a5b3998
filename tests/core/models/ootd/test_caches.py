"""Garment and person caches: a hit skips exactly the passes it should (forward-call counters),
gives the same images, and the cache stays within its byte bound with real entries."""

from __future__ import annotations

import pytest

from tests.core.models.ootd.helpers import Counter, max_pixel_diff
from vto.core.cache import ByteLRU, nbytes
from vto.core.models.ootd.caching import garment_key

STEPS = 2


def run(pipe, garment, person, **kw):
    args = dict(garment=garment["garment"], person=person["person"],
                person_masked=person["masked"], mask=person["mask"], num_steps=STEPS, seed=5)
    args.update(kw)
    return pipe(**args)


@pytest.fixture
def counter(cached_pipe):
    pipe = cached_pipe
    pipe.cache.clear()
    with Counter(garm=pipe.unet_garm, clip=pipe.image_encoder, text=pipe.text_encoder,
                 vae_encoder=(pipe, "encode_latents"), vton=pipe.unet_vton) as counter:
        yield counter


def test_cached_garment_costs_no_garment_unet_clip_or_garment_encode(cached_pipe, counter,
                                                                     small_inputs, other_inputs):
    pipe = cached_pipe
    first = run(pipe, small_inputs, small_inputs)
    assert counter.counts == {"garm": 1, "clip": 1, "text": 1, "vae_encoder": 3, "vton": STEPS}
    counter.reset()
    # same garment, new person: only the two person encodes and the loop
    second = run(pipe, small_inputs, other_inputs)
    assert counter.counts == {"garm": 0, "clip": 0, "text": 0, "vae_encoder": 2, "vton": STEPS}
    cache, pipe.cache = pipe.cache, None
    try:
        uncached = run(pipe, small_inputs, other_inputs)
    finally:
        pipe.cache = cache
    assert max_pixel_diff(second.images, uncached.images) <= 1
    assert max_pixel_diff(first.images, second.images) > 0  # another person: another image


def test_cached_person_costs_no_person_encode(cached_pipe, counter, small_inputs, other_inputs):
    pipe = cached_pipe
    run(pipe, small_inputs, small_inputs)
    counter.reset()
    # new garment on the same photo: garment UNet, CLIP, one (garment) encode
    out = run(pipe, other_inputs, small_inputs)
    assert counter.counts == {"garm": 1, "clip": 1, "text": 1, "vae_encoder": 1, "vton": STEPS}
    counter.reset()
    again = run(pipe, other_inputs, small_inputs)  # both cached: the loop alone
    assert counter.counts == {"garm": 0, "clip": 0, "text": 0, "vae_encoder": 0, "vton": STEPS}
    assert max_pixel_diff(out.images, again.images) == 0


def test_zero_garment_branch_is_added_to_an_unguided_entry(cached_pipe, counter, small_inputs):
    pipe = cached_pipe
    run(pipe, small_inputs, small_inputs, image_scale=1.0)
    seen = []
    hook = pipe.unet_garm.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    try:
        counter.reset()
        guided = run(pipe, small_inputs, small_inputs, image_scale=2.0, num_samples=2)
    finally:
        hook.remove()
    # only the zero-garment row runs (batch 1), nothing else is recomputed
    assert counter.counts == {"garm": 1, "clip": 0, "text": 0, "vae_encoder": 0, "vton": STEPS}
    assert len(seen) == 1 and seen[0].shape[0] == 1 and seen[0].abs().max() == 0
    pipe.cache.clear()
    fresh = run(pipe, small_inputs, small_inputs, image_scale=2.0, num_samples=2)
    assert max_pixel_diff(guided.images, fresh.images) <= 1


def test_eviction_respects_the_byte_bound_with_real_entries(cached_pipe, counter, small_inputs,
                                                            other_inputs):
    pipe = cached_pipe
    run(pipe, small_inputs, small_inputs)
    garment_bytes = nbytes(pipe.cache.get(garment_key(pipe, small_inputs["garment"],
                                                      "upper_body")))
    assert garment_bytes > 0 and pipe.cache.bytes > garment_bytes  # garment + person entries
    # room for one garment entry and one person entry, not two garments
    bound = pipe.cache.bytes + garment_bytes // 2
    cache, pipe.cache = pipe.cache, ByteLRU(bound)
    try:
        run(pipe, small_inputs, small_inputs)
        assert len(pipe.cache) == 2 and pipe.cache.bytes <= bound
        run(pipe, other_inputs, small_inputs)  # a second garment evicts the least recent entry
        stats = pipe.cache.stats()
        assert stats.evictions >= 1 and stats.bytes <= bound
        counter.reset()
        run(pipe, small_inputs, small_inputs)  # the first garment was evicted: computed again
        assert counter.counts["garm"] == 1 and counter.counts["clip"] == 1
        assert pipe.cache.bytes <= bound
    finally:
        pipe.cache = cache


def test_garment_key_holds_content_category_size_and_model(cached_pipe, small_inputs,
                                                           other_inputs):
    pipe = cached_pipe
    a = garment_key(pipe, small_inputs["garment"], "upper_body")
    assert a == garment_key(pipe, small_inputs["garment"].copy(), "upper_body")
    assert a != garment_key(pipe, other_inputs["garment"], "upper_body")
    assert a != garment_key(pipe, small_inputs["garment"], "dress")
    assert a != garment_key(pipe, small_inputs["garment"].resize((64, 96)), "upper_body")
