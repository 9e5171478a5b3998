"""The engine's performance paths: the person cache (a second garment on the same photo skips
pose and parsing; cached values are never mutated), run_batch (compatible requests of a
batching backend share one batch, everything else runs one by one, failures stay per item),
garment warming, and the runtime options."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.core.models.ootd.helpers import Counter, max_pixel_diff
from tests.service.fakes import fixed_pose
from vto.core.cache import DEFAULT_CACHE_BYTES, default_cache_bytes
from vto.core.engine import TryOnEngine, TryOnResult
from vto.core.models.base import Memory, RuntimeOptions
from vto.core.person_cache import PREFIX
from vto.core.request import TryOnInputs, TryOnRequest
from vto.errors import Cancelled, InvalidInput


class Counted:
    """A callable that counts its calls."""

    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


def counting_engine(root, **kw) -> tuple[TryOnEngine, Counted, Counted]:
    pose = Counted(fixed_pose)
    engine = TryOnEngine(root, device="cpu", keypoint_source=pose, **kw)
    parse = Counted(engine.preprocessor.parse_both)
    engine.preprocessor.parse_both = parse  # analyse() calls it through the instance
    return engine, pose, parse


@pytest.fixture(scope="module")
def photos(examples):
    person = Image.open(examples / "person" / "model_1.png").convert("RGB").resize((192, 256))
    drawn = Image.new("RGB", (96, 128), (255, 255, 255))  # a plain green top on white
    drawn.paste((20, 160, 40), (20, 20, 76, 108))
    garments = [Image.open(examples / "garment" / "03244_00.jpg").convert("RGB").resize((96, 128)),
                drawn]
    return person, garments


def ootd(**kw) -> TryOnRequest:
    fields = dict(model="ootd-hd", num_inference_steps=1, width=96, height=128, seed=3)
    fields.update(kw)
    return TryOnRequest(**fields)


def test_a_second_garment_on_the_same_photo_skips_pose_and_parsing(tiny_checkpoint, photos):
    person, (first, second) = photos
    engine, pose, parse = counting_engine(tiny_checkpoint.root)
    one = engine.run(ootd(), TryOnInputs(person=person, garment=first))
    assert pose.calls >= 1 and parse.calls == 1
    seen = (pose.calls, parse.calls)
    two = engine.run(ootd(), TryOnInputs(person=person, garment=second))
    assert (pose.calls, parse.calls) == seen  # no pose, no parsing the second time
    assert np.array_equal(np.asarray(one.mask), np.asarray(two.mask))
    # the same photo at another working size, or another photo: computed again
    engine.run(ootd(width=96, height=136), TryOnInputs(person=person, garment=first))
    assert parse.calls == 2
    engine.run(ootd(), TryOnInputs(person=person.transpose(Image.FLIP_LEFT_RIGHT),
                                   garment=first))
    assert parse.calls == 3
    assert engine.parts.cache.stats().hits >= 1  # (the OOTD latents share the cache)


def test_a_cached_person_gives_the_same_images_as_a_fresh_engine(tiny_checkpoint, photos):
    person, (first, second) = photos
    cached, _, _ = counting_engine(tiny_checkpoint.root)
    cached.run(ootd(), TryOnInputs(person=person, garment=second))
    warm = cached.run(ootd(), TryOnInputs(person=person, garment=first))
    fresh, _, _ = counting_engine(tiny_checkpoint.root, options=RuntimeOptions(cache_bytes=0))
    cold = fresh.run(ootd(), TryOnInputs(person=person, garment=first))
    assert np.array_equal(np.asarray(warm.images[0]), np.asarray(cold.images[0]))
    assert len(fresh.parts.cache) == 0  # 0 disables the cache


def test_without_a_cache_every_request_runs_pose_and_parsing(tiny_checkpoint, photos):
    person, (first, second) = photos
    engine, _, parse = counting_engine(tiny_checkpoint.root, options=RuntimeOptions(cache_bytes=0))
    engine.run(ootd(), TryOnInputs(person=person, garment=first))
    engine.run(ootd(), TryOnInputs(person=person, garment=second))
    assert parse.calls == 2


@pytest.fixture(scope="module")
def cpvton_engine(tmp_path_factory):
    """CP-VTON+ (no run_batch) on tiny random weights, with pose and parsing."""
    from vto.dev.cp_vton_plus import write_tiny_checkpoint
    from vto.dev.tiny import write_preprocessing

    root = write_tiny_checkpoint(tmp_path_factory.mktemp("cpvton-engine") / "checkpoints")
    write_preprocessing(root)
    engine, _, _ = counting_engine(root)
    return engine


def cpvton(**kw) -> TryOnRequest:
    return TryOnRequest(**{"model": "cp-vton-plus", "seed": 1, **kw})


def test_cached_people_are_never_mutated_by_a_run(cpvton_engine, photos):
    """A model that re-draws only part of the window gets its region as the result's mask; the
    shared cached person keeps none."""
    person, (first, _) = photos
    backend = cpvton_engine.backend("cp-vton-plus")
    region = Image.new("L", (192, 256), 0)
    region.paste(255, (40, 60, 150, 200))
    backend.paste_region = lambda inputs: region
    try:
        result = cpvton_engine.run(cpvton(), TryOnInputs(person=person, garment=first))
    finally:
        del backend.paste_region
    assert result.mask is not None and np.asarray(result.mask).max() == 255
    cached = [v for k, (v, _) in cpvton_engine.parts.cache._items.items() if k[0] == PREFIX]
    assert cached and all(p.mask is None for p in cached)
    assert not cached[0].analysis.labels.flags.writeable  # shared: read-only


def test_run_batch_runs_one_by_one_for_a_backend_without_run_batch(cpvton_engine, photos):
    person, garments = photos
    backend = cpvton_engine.backend("cp-vton-plus")
    assert not hasattr(backend, "run_batch")
    alone = [cpvton_engine.run(cpvton(), TryOnInputs(person=person, garment=g)) for g in garments]
    runs = Counted(backend.run)
    backend.run = runs
    steps: list[list] = [[], [], []]
    try:
        results = cpvton_engine.run_batch([
            (cpvton(), TryOnInputs(person=person, garment=garments[0]),
             lambda s, t: steps[0].append(s)),
            (cpvton(category="dress"), TryOnInputs(person=person, garment=garments[0]),
             lambda s, t: steps[1].append(s)),  # refused: CP-VTON+ dresses tops only
            (cpvton(), TryOnInputs(person=person, garment=garments[1]),
             lambda s, t: steps[2].append(s))])
    finally:
        del backend.run
    assert runs.calls == 2
    assert isinstance(results[1], InvalidInput) and steps[1] == []
    for result, single in zip((results[0], results[2]), alone):
        assert isinstance(result, TryOnResult)
        assert np.array_equal(np.asarray(result.images[0]), np.asarray(single.images[0]))
    assert steps[0] and steps[2]


class BatchingStandIn:
    """Wraps a real backend with the batching protocol (the real OOTD batch has its own tests):
    records each batch, runs its members one by one, a member's Cancelled is its own entry."""

    def __init__(self, inner) -> None:
        self.inner, self.spec, self.batches = inner, inner.spec, []

    def batch_key(self, params):
        return (params.size, params.num_inference_steps)

    def run(self, inputs, params, on_step=None):
        self.batches.append(1)
        return self.inner.run(inputs, params, on_step)

    def run_batch(self, items):
        self.batches.append(len(items))
        out = []
        for item in items:
            try:
                out.append(self.inner.run(item.inputs, item.params, item.on_step))
            except Cancelled as exc:
                out.append(exc)
        return out


def test_compatible_requests_share_a_batch_and_keep_their_own_outcome(tiny_checkpoint, photos):
    person, (first, second) = photos
    engine, _, _ = counting_engine(tiny_checkpoint.root)
    stand_in = BatchingStandIn(engine.backend("ootd-hd"))
    engine._backends["ootd-hd"] = stand_in

    def cancel(step, total):
        raise Cancelled("canceled by request")

    results = engine.run_batch([
        (ootd(seed=1), TryOnInputs(person=person, garment=first), None),
        (ootd(seed=2), TryOnInputs(person=person, garment=second), cancel),
        (ootd(num_inference_steps=2), TryOnInputs(person=person, garment=first), None),
        (ootd(seed=4), TryOnInputs(person=person, garment=second), None)])
    assert sorted(stand_in.batches) == [1, 3]  # 3 compatible + 1 other step count alone
    assert isinstance(results[1], Cancelled)
    assert all(isinstance(results[i], TryOnResult) for i in (0, 2, 3))
    assert [results[i].seed for i in (0, 3)] == [1, 4]
    alone = engine.run(ootd(seed=4), TryOnInputs(person=person, garment=second))
    assert np.array_equal(np.asarray(results[3].images[0]), np.asarray(alone.images[0]))


def test_a_failing_batch_call_fails_each_member(tiny_checkpoint, photos):
    person, (first, second) = photos
    engine, _, _ = counting_engine(tiny_checkpoint.root)
    stand_in = BatchingStandIn(engine.backend("ootd-hd"))
    stand_in.run_batch = lambda items: (_ for _ in ()).throw(MemoryError("out of memory"))
    engine._backends["ootd-hd"] = stand_in
    results = engine.run_batch([(ootd(), TryOnInputs(person=person, garment=g), None)
                                for g in (first, second)])
    assert all(isinstance(r, MemoryError) for r in results)


def test_a_warmed_catalog_garment_costs_no_garment_pass_and_changes_no_pixel(tiny_checkpoint,
                                                                              photos):
    person, (garment, _) = photos
    engine, _, _ = counting_engine(tiny_checkpoint.root)
    pipe = engine.backend("ootd-hd").pipeline
    assert engine.warm_garment(ootd(guidance_scale=2.0), garment) is True
    with Counter(garment_unet=pipe.unet_garm, clip=pipe.image_encoder) as passes:
        warm = engine.run(ootd(guidance_scale=2.0), TryOnInputs(person=person, garment=garment))
    assert passes.counts == {"garment_unet": 0, "clip": 0}
    cold, _, _ = counting_engine(tiny_checkpoint.root, options=RuntimeOptions(cache_bytes=0))
    with Counter(garment_unet=cold.backend("ootd-hd").pipeline.unet_garm) as passes:
        fresh = cold.run(ootd(guidance_scale=2.0), TryOnInputs(person=person, garment=garment))
    assert passes.counts == {"garment_unet": 1}
    assert max_pixel_diff(warm.images, fresh.images) <= 1


def test_the_engine_batches_ootd_requests_for_real(tiny_checkpoint, photos):
    person, (first, second) = photos
    engine, _, _ = counting_engine(tiny_checkpoint.root)
    requests = [(ootd(seed=1), TryOnInputs(person=person, garment=first), None),
                (ootd(seed=2, guidance_scale=1.0, num_images_per_prompt=2),
                 TryOnInputs(person=person, garment=second), None)]
    with Counter(tryon_unet=engine.backend("ootd-hd").pipeline.unet_vton) as passes:
        batched = engine.run_batch(requests)
    assert passes.counts == {"tryon_unet": 1}  # one step, both requests in one forward
    for (request, inputs, _), result in zip(requests, batched):
        alone = engine.run(request, inputs)
        assert max_pixel_diff(result.images, alone.images) <= 1


def test_runtime_options_reach_the_shared_parts(tiny_checkpoint):
    options = RuntimeOptions(memory=Memory.LOW, compile=True, cache_bytes=12345)
    engine = TryOnEngine(tiny_checkpoint.root, device="cpu", options=options)
    assert engine.parts.options is options and engine.parts.cache.max_bytes == 12345
    default = TryOnEngine(tiny_checkpoint.root, device="cpu")
    assert default.parts.cache.max_bytes == DEFAULT_CACHE_BYTES == default_cache_bytes(
        default.device)


def test_a_run_after_a_mask_preview_skips_pose_and_parsing(tiny_checkpoint, photos):
    person, (garment, _) = photos
    engine, pose, parse = counting_engine(tiny_checkpoint.root)
    preview = engine.automatic_mask(ootd(), TryOnInputs(person=person))
    seen = (pose.calls, parse.calls)
    result = engine.run(ootd(), TryOnInputs(person=person, garment=garment))
    assert (pose.calls, parse.calls) == seen
    assert np.array_equal(np.asarray(preview.mask), np.asarray(result.output_mask))
    fresh, _, _ = counting_engine(tiny_checkpoint.root)
    alone = fresh.run(ootd(), TryOnInputs(person=person, garment=garment))
    assert np.array_equal(np.asarray(alone.images[0]), np.asarray(result.images[0]))
