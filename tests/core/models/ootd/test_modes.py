"""The original-math baseline (`vto bench`), memory modes and compile: same images, and each
switch does what it says (call counters, hooks installed, compiled denoiser)."""

from __future__ import annotations

import pytest
import torch

from tests.core.models.ootd.helpers import Counter, max_pixel_diff
from vto.core.models.base import Memory, RuntimeOptions, SharedParts
from vto.core.models.ootd import memory
from vto.core.models.ootd.pipeline import OOTDPipeline
from vto.core.types import ModelType

STEPS = 2


def run(pipe, inputs, **kw):
    args = dict(garment=inputs["garment"], person=inputs["person"], person_masked=inputs["masked"],
                mask=inputs["mask"], num_steps=STEPS, seed=8)
    args.update(kw)
    return pipe(**args)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_original_math_equals_vto_and_computes_like_the_original(cached_pipe, small_inputs, scale):
    pipe = cached_pipe
    pipe.cache.clear()
    vto = run(pipe, small_inputs, image_scale=scale, num_samples=2)
    before = pipe.cache.stats()
    sizes = []
    hook = pipe.unet_vton.register_forward_pre_hook(lambda m, a: sizes.append(a[0].shape[0]))
    with Counter(garm=pipe.unet_garm, vae_encoder=(pipe, "encode_latents"), clip=pipe.image_encoder,
                 to_k=pipe.unet_vton.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_k,
                 ) as counter:
        try:
            with pipe.original_math():
                assert pipe.original and pipe.fusion.all_queries
                base = run(pipe, small_inputs, image_scale=scale, num_samples=2)
        finally:
            hook.remove()
    assert not pipe.original and not pipe.fusion.all_queries  # restored
    # no cache: garment and person work redone; K/V of 2N tokens projected at every step
    assert counter.counts == {"garm": 1, "vae_encoder": 3, "clip": 1, "to_k": STEPS}
    assert pipe.cache.stats().hits == before.hits and pipe.cache.bytes == before.bytes
    assert sizes == [4] * STEPS  # two branches even at guidance 1.0
    assert max_pixel_diff(base.images, vto.images) <= 1
    with Counter(to_k=pipe.unet_vton.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_k
                 ) as counter:
        run(pipe, small_inputs, image_scale=scale, num_samples=2)
    assert counter.counts["to_k"] == STEPS  # vto projects the person tokens only...


def test_hoisted_kv_projects_only_person_tokens(cached_pipe, small_inputs):
    """...which the projection's input size shows: N person tokens, not 2N."""
    pipe = cached_pipe
    to_k = pipe.unet_vton.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_k
    tokens = []
    hook = to_k.register_forward_pre_hook(lambda m, a: tokens.append(a[0].shape[1]))
    try:
        run(pipe, small_inputs)
        with pipe.original_math():
            run(pipe, small_inputs)
    finally:
        hook.remove()
    n = 16 * 12  # level-0 tokens of a 96x128 image
    assert tokens == [n] * STEPS + [2 * n] * STEPS


@pytest.mark.parametrize("mode", list(Memory))
def test_every_memory_mode_is_accepted_and_runs_like_full_on_cpu(tiny_checkpoint, mode):
    parts = SharedParts(RuntimeOptions(memory=mode))
    pipe = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu", parts=parts)
    assert pipe.memory is Memory.FULL and pipe.cache is parts.cache
    assert not getattr(pipe.image_encoder, "_vto_on_demand", False)


@pytest.mark.parametrize("mode", [Memory.BALANCED, Memory.LOW])
def test_offload_hooks_keep_the_fusion_and_the_images(tiny_checkpoint, small_inputs, mode):
    """The offload machinery itself, forced on CPU (host and device are the same there)."""
    full = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu")
    pipe = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu")
    assert memory.apply_options(pipe, RuntimeOptions(memory=mode), force_device=True) is mode
    pipe.fusion.check()
    assert pipe.image_encoder._vto_on_demand and pipe.vae.encoder._vto_on_demand
    assert pipe.text_encoder._vto_on_demand
    if mode is Memory.LOW:
        assert hasattr(pipe.unet_vton, "_hf_hook") and pipe.vae.use_slicing and not pipe.vae.use_tiling
    assert max_pixel_diff(run(pipe, small_inputs).images, run(full, small_inputs).images) <= 1


def test_compile_flag_compiles_the_try_on_unet(tiny_checkpoint, small_inputs, monkeypatch):
    monkeypatch.setattr(memory, "COMPILE_BACKEND", "eager")  # tracing without a C++ toolchain
    parts = SharedParts(RuntimeOptions(compile=True))
    pipe = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu", parts=parts)
    assert isinstance(pipe._denoiser, torch._dynamo.eval_frame.OptimizedModule)
    assert pipe._denoiser._orig_mod is pipe.unet_vton
    calls = []
    hook = pipe.unet_vton.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        pipe.warm_up((96, 128), num_steps=1)
    finally:
        hook.remove()
    assert calls and len(pipe.cache) == 0  # warm-up ran the model and stored nothing
    plain = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu")
    assert max_pixel_diff(run(pipe, small_inputs).images, run(plain, small_inputs).images) <= 1


@pytest.mark.parametrize("free, expected", [(7 * 2**30, Memory.FULL), (4 * 2**30, Memory.BALANCED),
                                            (2**30, Memory.LOW)])
def test_auto_picks_the_mode_from_free_device_memory(monkeypatch, free, expected):
    from types import SimpleNamespace

    encoder = torch.nn.Linear(2, 2)
    fake = SimpleNamespace(device=torch.device("cuda"), image_encoder=encoder, text_encoder=encoder,
                           vae=SimpleNamespace(encoder=encoder, quant_conv=None))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 8 * 2**30))
    assert memory.resolve_memory(fake, Memory.AUTO) is expected
    assert memory.resolve_memory(fake, Memory.LOW) is Memory.LOW  # explicit modes stand
    fake.device = torch.device("cpu")
    assert memory.resolve_memory(fake, Memory.LOW) is Memory.FULL  # nothing to offload to


def test_the_vae_runs_channels_last_on_cpu_and_the_original_layout_under_original_math(
        tiny_checkpoint):
    from vto.core.models.ootd.memory import _channels_last

    pipe = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu")
    assert _channels_last(pipe.vae) and not _channels_last(pipe.unet_vton)
    with pipe.original_math():
        assert not _channels_last(pipe.vae)
    assert _channels_last(pipe.vae)
