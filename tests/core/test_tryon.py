"""The engine: validation before model work, stretch framing = the original's, zero-shot classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vto.core.models.ootd.pipeline import OOTDPipeline
from vto.core.tryon import TryOnEngine, TryOnRequest, parse_dtype, parse_size, resolve_device
from vto.core.types import Category, Framing, ModelType
from vto.errors import InvalidInput, NoPersonFound


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return TryOnEngine(tiny_checkpoint, device="cpu")


def request(small_inputs, **kw) -> TryOnRequest:
    args = dict(person=small_inputs["person"], garment=small_inputs["garment"], mask=small_inputs["mask"],
                steps=2, size=(96, 128), seed=3, framing=Framing.STRETCH)
    args.update(kw)
    return TryOnRequest(**args)


def test_stretch_framing_is_exactly_the_pipeline_on_the_original_inputs(engine, small_inputs):
    result = engine.run(request(small_inputs, model_type=ModelType.DC, category=Category.DRESS))
    pipe: OOTDPipeline = engine.pipeline(ModelType.DC)
    direct = pipe(garment=small_inputs["garment"], person=small_inputs["person"],
                  person_masked=small_inputs["masked"], mask=small_inputs["mask"],
                  category=Category.DRESS, num_steps=2, seed=3)
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(direct.images[0]))
    assert np.array_equal(np.asarray(result.masked_person), np.asarray(small_inputs["masked"]))
    assert result.seed == 3 and set(result.timings) >= {"preprocess", "diffusion", "total"}


def test_models_load_once_per_model_type(engine, small_inputs):
    engine.load("hd")
    first = engine.pipeline(ModelType.HD)
    engine.run(request(small_inputs))
    assert engine.pipeline(ModelType.HD) is first and ModelType.HD in engine.loaded_model_types


@pytest.mark.parametrize("kw, message", [
    ({"model_type": ModelType.HD, "category": Category.LOWER_BODY}, "only category 'upper_body'"),
    ({"size": (100, 128)}, "multiples of 8"),
    ({"steps": 500}, "steps"),
    ({"samples": 0}, "samples"),
])
def test_validation_happens_before_any_model_work(tiny_checkpoint, small_inputs, kw, message):
    fresh = TryOnEngine(tiny_checkpoint, device="cpu")
    with pytest.raises(InvalidInput, match=message):
        fresh.run(request(small_inputs, **kw))
    assert fresh.loaded_model_types == set()


def test_without_a_mask_the_pose_path_runs_and_finds_nobody(tiny_checkpoint, small_inputs):
    """Random weights see no person: the clear error, raised before any diffusion model loads."""
    fresh = TryOnEngine(tiny_checkpoint, device="cpu")
    with pytest.raises(NoPersonFound):
        fresh.run(request(small_inputs, mask=None))
    assert fresh.loaded_model_types == set()


def test_classify_garment_gives_probabilities_per_category(engine, small_inputs):
    scores = engine.classify_garment(small_inputs["garment"])
    assert set(scores) == set(Category)
    assert abs(sum(scores.values()) - 1) < 1e-5 and all(0 <= v <= 1 for v in scores.values())
    again = engine.classify_garment(small_inputs["garment"])
    assert scores == again


def test_parsers():
    assert parse_size("768x1024") == (768, 1024)
    for bad in ("768", "0x0", "770x1024", "8x8", "axb"):
        with pytest.raises(InvalidInput):
            parse_size(bad)
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
