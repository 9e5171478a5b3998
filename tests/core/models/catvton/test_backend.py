"""CatVTONBackend through the Backend interface, as the engine calls it."""

from __future__ import annotations

import numpy as np
import pytest

from vto.core.models.base import ModelInputs, RunParams, SharedParts
from vto.core.models.catvton.backend import CatVTONBackend
from vto.core.types import Category
from vto.errors import Cancelled, CheckpointError, InvalidInput

from .conftest import SIZE


@pytest.fixture(scope="module")
def backend(catvton_pipeline):
    return CatVTONBackend(catvton_pipeline)


def params(**kw) -> RunParams:
    values = dict(category=Category.LOWER_BODY, size=SIZE, num_inference_steps=2,
                  guidance_scale=2.5, num_images_per_prompt=1, seed=11)
    values.update(kw)
    return RunParams(**values)


def test_load_checks_the_files(catvton_copy):
    from vto.core.models.catvton import spec

    (catvton_copy / spec.ATTENTION_FILE).unlink()
    with pytest.raises(CheckpointError, match="mix-48k-1024/attention/model.safetensors"):
        CatVTONBackend.load(catvton_copy, "cpu", None, SharedParts())


def test_run_returns_the_requested_images(backend, catvton_inputs):
    inputs = ModelInputs(**catvton_inputs)
    steps = []
    images = backend.run(inputs, params(num_images_per_prompt=3), lambda k, n: steps.append(k))
    assert [im.size for im in images] == [SIZE] * 3 and {im.mode for im in images} == {"RGB"}
    assert steps == [1, 2]
    same = backend.run(inputs, params(num_images_per_prompt=3))
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, same))


def test_cancel_in_on_step_stops(backend, catvton_inputs):
    def cancel(k, n):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        backend.run(ModelInputs(**catvton_inputs), params(), cancel)


def test_a_mask_is_required(backend, catvton_inputs):
    inputs = ModelInputs(person=catvton_inputs["person"], garment=catvton_inputs["garment"])
    with pytest.raises(InvalidInput, match="mask"):
        backend.run(inputs, params())
