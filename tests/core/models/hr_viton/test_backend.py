"""The backend on a narrow checkpoint: loading, output size and mode, samples, determinism,
progress and cancellation; the original's blur kernel and 8-bit conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vto.core.models.base import RunParams
from vto.core.models.registry import model_ids
from vto.core.models.hr_viton.backend import HRVITONBackend, gaussian_kernel, to_images
from vto.core.models.hr_viton.spec import GENERATOR_FILE
from vto.core.types import Category
from vto.dev.hr_viton import synthetic_inputs
from vto.errors import Cancelled, CheckpointError


def params(samples: int = 1, seed: int = 11) -> RunParams:
    return RunParams(category=Category.UPPER_BODY, size=(768, 1024),
                     num_images_per_prompt=samples, seed=seed)


@pytest.fixture(scope="module")
def backend(hr_checkpoint):
    return HRVITONBackend.load(hr_checkpoint, "cpu", torch.float32)


@pytest.fixture(scope="module")
def inputs():
    return synthetic_inputs("base", "plain")


def test_a_real_run(backend, inputs):
    """End to end on the narrow checkpoint (the only full-size run here: the image generator
    is the cost at 1024x768; tools/equivalence/hr_viton checks the numbers)."""
    steps = []
    global_state = torch.random.get_rng_state()
    images = backend.run(inputs, params(), lambda step, total: steps.append((step, total)))
    assert torch.random.get_rng_state().equal(global_state)
    assert steps == [(1, 2), (2, 2)]
    assert [(im.mode, im.size) for im in images] == [("RGB", (768, 1024))]
    assert np.asarray(images[0]).std() > 5   # not a flat image


class NoisyStandIn(torch.nn.Module):
    """The image generator's interface at a fraction of its cost: the warped garment plus
    one noise draw per sample, so batching and seeding can be checked quickly."""

    def forward(self, x, seg, noise):
        self.inputs = (x, seg)
        draw = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], generator=noise)
        return torch.tanh(x[:, 6:9] + 0.1 * draw + seg[:, :3])


@pytest.fixture(scope="module")
def quick(backend):
    return HRVITONBackend(backend.condition, NoisyStandIn(), "cpu", torch.float32)


def test_samples_share_the_inputs_differ_by_the_noise_and_repeat_with_the_seed(quick, inputs):
    first = quick.run(inputs, params(samples=2, seed=3))
    x, seg = quick.generator.inputs
    assert x.shape == (2, 9, 1024, 768) and seg.shape == (2, 7, 1024, 768)
    assert x[0].equal(x[1]) and seg[0].equal(seg[1]) and seg.sum(1).eq(1).all()
    a, b = (np.asarray(im, np.int16) for im in first)
    assert len(first) == 2 and np.abs(a - b).max() > 0
    torch.manual_seed(99)                   # the global generator plays no part
    second = quick.run(inputs, params(samples=2, seed=3))
    assert [im.tobytes() for im in first] == [im.tobytes() for im in second]


def test_cancel_from_the_step_callback(backend, inputs):
    def cancel(step, total):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        backend.run(inputs, params(), cancel)


def test_missing_files_are_named_with_their_source(tmp_path, hr_checkpoint):
    (tmp_path / "hr-viton").mkdir()
    (tmp_path / GENERATOR_FILE).write_bytes((hr_checkpoint / GENERATOR_FILE).read_bytes())
    with pytest.raises(CheckpointError, match=r"hr-viton/mtviton\.pth from https://drive") as err:
        HRVITONBackend.load(tmp_path, "cpu", torch.float32)
    assert err.value.extra["missing"] == ["hr-viton/mtviton.pth"]


def test_blur_kernel_is_torchgeometrys():
    # torchgeometry's documented get_gaussian_kernel2d((3, 3), (1.5, 1.5))
    expected = torch.tensor([[0.0947, 0.1183, 0.0947], [0.1183, 0.1478, 0.1183],
                             [0.0947, 0.1183, 0.0947]])
    assert torch.allclose(gaussian_kernel(3, 1.5), expected, atol=1e-4)
    kernel = gaussian_kernel()
    assert kernel.shape == (15, 15) and kernel.dtype == torch.float32
    assert torch.isclose(kernel.sum(), torch.tensor(1.0)) and kernel.equal(kernel.t())


def test_images_are_truncated_like_save_images():
    out = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0, 2.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    pixels = np.asarray(to_images(out)[0])[0, :, 0].tolist()
    assert pixels == [0, 0, 127, 254, 255, 255]


@pytest.mark.skipif("hr-viton" not in model_ids(),
                    reason="hr-viton is not in vto/core/models/registry.py SPECS yet")
def test_through_the_engine(hr_checkpoint, examples):
    """The engine computes pose, parsing and the garment mask, frames the uploaded DensePose
    image with the photo, runs the backend and pastes back the region it re-draws."""
    from PIL import Image

    from tests.service.fakes import fixed_pose
    from vto.core.engine import TryOnEngine
    from vto.core.request import TryOnInputs, TryOnRequest
    from vto.dev.hr_viton import synthetic_densepose, synthetic_labels
    from vto.dev.parsing_weights import write_random_parsing_model
    from vto.errors import InvalidInput

    for name, seed in (("atr", 0), ("lip", 1)):
        write_random_parsing_model(hr_checkpoint / "humanparsing" / f"parsing_{name}.onnx", name,
                                   seed=seed)
    engine = TryOnEngine(hr_checkpoint, device="cpu", keypoint_source=fixed_pose)
    engine.backend("hr-viton").generator = NoisyStandIn()
    person = Image.open(examples / "person" / "01008_00.jpg").convert("RGB").crop((0, 0, 700, 1000))
    garment = Image.open(examples / "garment" / "03244_00.jpg").convert("RGB")
    densepose = synthetic_densepose(synthetic_labels()[0], person.size)
    request = TryOnRequest.from_fields({"model": "hr-viton", "seed": 5}).resolved()
    result = engine.run(request, TryOnInputs(person=person, garment=garment, densepose=densepose))
    assert result.model == "hr-viton" and result.images[0].size == person.size
    # keep framing pastes back only what HR-VITON re-draws (the random parsing model scatters
    # garment and arm labels, so the region is ragged): the stand-in's output everywhere in
    # the window would leave no pixel of the photo
    region = np.asarray(result.output_mask) > 0
    assert 0 < region.mean() < 0.9
    same = np.all(np.asarray(result.images[0]) == np.asarray(person), axis=-1)
    assert same[~region].mean() > 0.2 and same[region].mean() < 0.05
    with pytest.raises(InvalidInput, match="densepose"):
        engine.run(request, TryOnInputs(person=person, garment=garment))
