"""The VAE's two runners: ONNX Runtime (CPU) equals torch within float rounding, exports are
kept (disk, memory), a failing ONNX runner falls back to torch, and the choice follows the
options (vto.core.models.vae_runtime)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vto.core.bench import models as bench_models
from vto.core.models import vae_runtime
from vto.core.models.base import RuntimeOptions, SharedParts, VaeRuntime
from vto.core.models.ootd.pipeline import OOTDPipeline
from vto.core.models.vae_runtime import OnnxVae, TorchVae, vae_runner
from vto.core.types import ModelType

TINY = bench_models.Shapes.tiny()


def tiny_vae(seed: int = 1):
    return bench_models.build(bench_models.make_vae, TINY, device=torch.device("cpu"),
                              dtype=torch.float32, seed=seed)


@pytest.fixture(scope="module")
def vae():
    return tiny_vae()


@pytest.fixture(scope="module")
def onnx_vae(vae, tmp_path_factory):
    runner = OnnxVae(vae, tmp_path_factory.mktemp("exports"))
    runner.prepare()
    return runner


@pytest.mark.parametrize("shape", [(1, 64, 48), (2, 64, 48), (3, 128, 96), (1, 40, 104)])
def test_onnx_equals_torch_at_any_batch_and_size(vae, onnx_vae, shape):
    batch, h, w = shape
    gen = torch.Generator().manual_seed(h * w + batch)
    pixels = torch.rand(batch, 3, h, w, generator=gen) * 2 - 1
    latents = torch.randn(batch, 4, h // 8, w // 8, generator=gen)
    reference = TorchVae(vae)
    with torch.inference_mode():
        mean, decoded = reference.encode_mode(pixels), reference.decode(latents)
    got_mean, got_decoded = onnx_vae.encode_mode(pixels), onnx_vae.decode(latents)
    assert got_mean.shape == mean.shape and got_decoded.shape == decoded.shape
    # one pixel step of the [-1, 1] output is 2/255 ~ 7.8e-3: float rounding is far below it
    assert (got_mean - mean).abs().max().item() < 1e-4
    assert (got_decoded - decoded).abs().max().item() < 1e-4


def test_sessions_keep_no_arena(onnx_vae):
    """Activations are freed after each run (an arena would keep its peak resident)."""
    for part in ("encoder", "decoder"):
        assert not onnx_vae.session(part).get_session_options().enable_cpu_mem_arena


def test_encode_takes_a_permuted_view(vae, onnx_vae):
    """The pipeline's pixels are an NHWC array seen as NCHW (not contiguous)."""
    nhwc = torch.rand(1, 64, 48, 3) * 2 - 1
    view = nhwc.permute(0, 3, 1, 2)
    assert not view.is_contiguous()
    with torch.inference_mode():
        expected = TorchVae(vae).encode_mode(view)
    assert (onnx_vae.encode_mode(view) - expected).abs().max().item() < 1e-4


def test_kept_export_is_loaded_not_exported_again(vae, onnx_vae, monkeypatch):
    folder = onnx_vae.export_dir / onnx_vae.fingerprint()
    assert sorted(p.name for p in folder.iterdir()) == ["decoder.onnx", "encoder.onnx"]
    monkeypatch.setattr(vae_runtime, "_GRAPHS", {})  # a new process: nothing in memory

    def refuse(self, part):
        raise AssertionError("exported again")

    monkeypatch.setattr(OnnxVae, "_export", refuse)
    same_weights = tiny_vae()  # another object, equal weights: the same fingerprint
    again = OnnxVae(same_weights, onnx_vae.export_dir)
    assert again.fingerprint() == onnx_vae.fingerprint()
    latents = torch.randn(1, 4, 8, 6)
    assert torch.equal(again.decode(latents), onnx_vae.decode(latents))


def test_small_graphs_are_kept_in_memory_without_a_folder(vae, onnx_vae, monkeypatch):
    """Test models are rebuilt often: without an export folder the graph stays in memory."""
    def refuse(self, part):
        raise AssertionError("exported again")

    monkeypatch.setattr(OnnxVae, "_export", refuse)
    again = OnnxVae(tiny_vae())
    again.prepare()


def test_a_damaged_kept_file_falls_back_and_is_removed(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(vae_runtime, "_GRAPHS", {})
    vae = tiny_vae(seed=5)
    kept = tmp_path / OnnxVae(vae).fingerprint() / "decoder.onnx"
    kept.parent.mkdir()
    kept.write_bytes(b"not an onnx model")
    runner = vae_runner(vae, "auto", torch.device("cpu"), torch.float32, export_dir=tmp_path)
    latents = torch.randn(1, 4, 8, 6)
    with caplog.at_level(logging.WARNING, logger="vto.core.models.vae_runtime"):
        out = runner.decode(latents)
    with torch.inference_mode():
        assert torch.equal(out, TorchVae(vae).decode(latents))
    assert runner.name == "torch" and not kept.exists()


def test_fingerprint_follows_the_weights(vae, onnx_vae):
    other = tiny_vae()
    with torch.no_grad():
        next(other.decoder.parameters()).view(-1)[0] += 1e-3
    assert OnnxVae(other).fingerprint() != onnx_vae.fingerprint()


def test_unwritable_export_folder_costs_a_warning_only(vae, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(vae_runtime, "_GRAPHS", {})
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    runner = OnnxVae(vae, blocker / "exports")
    with caplog.at_level(logging.WARNING, logger="vto.core.models.vae_runtime"):
        out = runner.decode(torch.randn(1, 4, 8, 6))
    assert out.shape == (1, 3, 64, 48)
    assert "could not keep the exported VAE" in caplog.text


def test_choice_follows_options_device_and_dtype(vae):
    cpu = torch.device("cpu")
    assert vae_runner(vae, "auto", cpu, torch.float32).name == "onnx"
    assert vae_runner(vae, "onnx", cpu, torch.float32).name == "onnx"
    assert isinstance(vae_runner(vae, VaeRuntime.TORCH, cpu, torch.float32), TorchVae)
    # half precision, the meta device (FLOP counting) or a GPU: torch, as the original
    assert isinstance(vae_runner(vae, "auto", cpu, torch.float16), TorchVae)
    assert isinstance(vae_runner(vae, "auto", torch.device("meta"), torch.float32), TorchVae)
    # one ONNX runner per VAE object (hd and dc share the VAE and so its sessions)
    a, b = (vae_runner(vae, "auto", cpu, torch.float32) for _ in range(2))
    assert a.onnx is b.onnx


def test_a_failing_onnx_runner_falls_back_to_torch(vae, caplog, monkeypatch):
    runner = vae_runner(tiny_vae(seed=7), "auto", torch.device("cpu"), torch.float32)

    def broken(self, part):
        raise RuntimeError("exporter says no")

    monkeypatch.setattr(OnnxVae, "session", broken)
    latents = torch.randn(1, 4, 8, 6)
    with caplog.at_level(logging.WARNING, logger="vto.core.models.vae_runtime"):
        out = runner.decode(latents)
        runner.prepare()
    with torch.inference_mode():
        assert torch.equal(out, runner.torch.decode(latents))
    assert runner.name == "torch"
    assert caplog.text.count("ONNX Runtime could not take it") == 1


def test_pipeline_runs_onnx_and_the_original_math_runs_torch(tiny_checkpoint, small_inputs):
    parts = SharedParts(RuntimeOptions(cache_bytes=0))
    pipes = {t: OOTDPipeline.from_checkpoints(tiny_checkpoint, t, "cpu", parts=parts)
             for t in (ModelType.HD, ModelType.DC)}
    hd = pipes[ModelType.HD]
    assert hd.vae_runner.name == "onnx"
    assert hd.vae_runner.onnx is pipes[ModelType.DC].vae_runner.onnx  # one export for both
    with hd.original_math():
        assert isinstance(hd.vae_runner, TorchVae)
    inputs = dict(garment=small_inputs["garment"], person=small_inputs["person"],
                  person_masked=small_inputs["masked"], mask=small_inputs["mask"],
                  num_steps=2, seed=3)
    fast = hd(**inputs).images[0]
    with hd.original_math():
        original = hd(**inputs).images[0]
    diff = np.abs(np.asarray(fast, np.int16) - np.asarray(original, np.int16)).max()
    assert diff <= 1


def test_torch_option_keeps_torch(tiny_checkpoint):
    parts = SharedParts(RuntimeOptions(vae=VaeRuntime.TORCH, cache_bytes=0))
    pipe = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu", parts=parts)
    assert isinstance(pipe.vae_runner, TorchVae)
