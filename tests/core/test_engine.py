"""The engine: validation before model work, stretch framing = the pipeline on the original's
inputs, models load once and share parts, needs decide what preprocessing runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vto.core.devices import parse_dtype, resolve_device
from vto.core.engine import TryOnEngine
from vto.core.models.ootd.pipeline import OOTDPipeline
from vto.core.request import TryOnInputs, TryOnRequest
from vto.core.types import Category, Framing
from vto.errors import CheckpointError, InvalidInput, NoPersonFound


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return TryOnEngine(tiny_checkpoint.root, device="cpu")


def request(**kw) -> TryOnRequest:
    fields = dict(num_inference_steps=2, width=96, height=128, seed=3, framing=Framing.STRETCH)
    fields.update(kw)
    return TryOnRequest(**fields)


def inputs(small_inputs, **kw) -> TryOnInputs:
    values = dict(person=small_inputs["person"], garment=small_inputs["garment"],
                  mask=small_inputs["mask"])
    values.update(kw)
    return TryOnInputs(**values)


def test_stretch_framing_is_exactly_the_pipeline_on_the_original_inputs(engine, small_inputs):
    result = engine.run(request(model="ootd-dc", category=Category.DRESS), inputs(small_inputs))
    pipe: OOTDPipeline = engine.backend("ootd-dc").pipeline
    direct = pipe(garment=small_inputs["garment"], person=small_inputs["person"],
                  person_masked=small_inputs["masked"], mask=small_inputs["mask"],
                  category=Category.DRESS, num_steps=2, seed=3)
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(direct.images[0]))
    assert np.array_equal(np.asarray(result.masked_person), np.asarray(small_inputs["masked"]))
    assert result.seed == 3 and result.model == "ootd-dc"
    assert set(result.timings) >= {"preprocess", "inference", "total"}


def test_models_load_once_and_hd_dc_share_every_part_but_the_unets(engine, small_inputs):
    engine.load("hd")
    first = engine.backend("ootd-hd")
    engine.run(request(), inputs(small_inputs))
    assert engine.backend("ootd-hd") is first and "ootd-hd" in engine.loaded_models()
    hd, dc = engine.backend("ootd-hd").pipeline, engine.backend("ootd-dc").pipeline
    for part in ("vae", "text_encoder", "tokenizer", "image_encoder", "image_processor"):
        assert getattr(hd, part) is getattr(dc, part), part
    assert hd.unet_vton is not dc.unet_vton and hd.unet_garm is not dc.unet_garm


def test_the_classifier_reuses_the_loaded_clip_tower(engine, small_inputs):
    scores = engine.classify(small_inputs["garment"])
    assert set(scores) == set(Category)
    assert abs(sum(scores.values()) - 1) < 1e-5 and all(0 <= v <= 1 for v in scores.values())
    assert engine.classify(small_inputs["garment"]) == scores
    assert engine._classifier.vision is engine.backend("ootd-hd").pipeline.image_encoder


@pytest.mark.parametrize("kw, message", [
    ({"model": "ootd-hd", "category": Category.LOWER_BODY}, "supports categories upper_body"),
    ({"width": 100}, "multiples of 8"),
    ({"num_inference_steps": 500}, "num_inference_steps must be between 1 and 100"),
    ({"num_images_per_prompt": 0}, "num_images_per_prompt"),
    ({"guidance_scale": 25}, "guidance_scale must be between 0 and 20"),
])
def test_validation_happens_before_any_model_work(tiny_checkpoint, small_inputs, kw, message):
    fresh = TryOnEngine(tiny_checkpoint.root, device="cpu")
    with pytest.raises(InvalidInput, match=message):
        fresh.run(request(**kw), inputs(small_inputs))
    assert fresh.loaded_models() == set()


def test_inputs_are_checked_before_any_model_work(tiny_checkpoint, small_inputs):
    fresh = TryOnEngine(tiny_checkpoint.root, device="cpu")
    black = small_inputs["mask"].point(lambda v: 0)
    with pytest.raises(InvalidInput, match="empty"):
        fresh.run(request(), inputs(small_inputs, mask=black))
    with pytest.raises(InvalidInput, match="same size"):
        fresh.run(request(), inputs(small_inputs, mask=small_inputs["mask"].resize((128, 96))))
    with pytest.raises(InvalidInput, match="at least 64"):
        fresh.run(request(), inputs(small_inputs, person=small_inputs["person"].resize((1, 1)),
                                    mask=None))
    assert fresh.loaded_models() == set()


def test_without_a_mask_the_pose_path_runs_and_finds_nobody(tiny_checkpoint, small_inputs):
    """Random weights see no person: the clear error, raised before any diffusion model loads."""
    fresh = TryOnEngine(tiny_checkpoint.root, device="cpu")
    with pytest.raises(NoPersonFound):
        fresh.run(request(), inputs(small_inputs, mask=None))
    assert fresh.loaded_models() == set()


def test_missing_model_files_are_named_with_the_fix(tmp_path, small_inputs):
    fresh = TryOnEngine(tmp_path, device="cpu")
    with pytest.raises(CheckpointError, match="vto download --dir .* --model ootd-hd"):
        fresh.run(request(), inputs(small_inputs))


def test_a_tilde_path_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert TryOnEngine("~/ckpt", device="cpu").root == tmp_path / "ckpt"


def test_device_and_dtype_choices():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(InvalidInput):
        resolve_device("tpu")
    assert parse_dtype(None, torch.device("cpu")) is torch.float32
    assert parse_dtype(None, torch.device("cuda")) is torch.float16
    assert parse_dtype("bfloat16", torch.device("cuda")) is torch.bfloat16
    with pytest.raises(InvalidInput):
        parse_dtype("float16", torch.device("cpu"))
    with pytest.raises(InvalidInput):
        parse_dtype("int8", torch.device("cuda"))
