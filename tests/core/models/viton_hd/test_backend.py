"""VITONHDBackend on the tiny checkpoint: output, determinism per seed, seeds, samples,
progress and the refusals (three full passes in all; the rest stops before the networks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from vto.core.models import base
from vto.core.models.viton_hd import backend as vb
from vto.core.models.viton_hd.spec import VITON_HD
from vto.core.types import Category
from vto.errors import BodyPartsNotVisible, InvalidInput

# COCO-18 keypoints (384x512 frame) of a frontal upper body
KEYPOINTS = np.array([(192, 78), (192, 128), (142, 134), (126, 208), (120, 282), (242, 134),
                      (258, 208), (264, 282), (162, 292), (160, 410), (0, 0), (222, 292),
                      (224, 410), (0, 0), (182, 70), (202, 70), (172, 74), (212, 74)], float)


def labels() -> np.ndarray:
    """An ATR map (512x384): face, neck, upper clothes, arms, pants."""
    image = Image.new("L", (384, 512), 0)
    draw = ImageDraw.Draw(image)
    draw.ellipse((162, 38, 222, 112), 11)
    draw.rectangle((176, 106, 208, 134), 18)
    draw.polygon([(142, 134), (242, 134), (230, 300), (154, 300)], 4)
    draw.line([(142, 134), (126, 208), (120, 282)], 15, width=40)
    draw.line([(242, 134), (258, 208), (264, 282)], 14, width=40)
    draw.rectangle((150, 300, 234, 511), 6)
    return np.asarray(image).copy()


def model_inputs(**changes) -> base.ModelInputs:
    person = Image.fromarray(np.tile(np.linspace(40, 220, 768, dtype=np.uint8), (1024, 1))).convert("RGB")
    garment = Image.new("RGB", (384, 512), "white")
    ImageDraw.Draw(garment).rectangle((60, 80, 324, 460), (200, 30, 60))
    mask = Image.new("L", (384, 512), 0)
    ImageDraw.Draw(mask).rectangle((60, 80, 324, 460), 255)
    values = dict(person=person, garment=garment, keypoints=KEYPOINTS.copy(), parse=labels(),
                  parse_lip=labels(), garment_mask=mask)
    values.update(changes)
    return base.ModelInputs(**values)


def params(**changes) -> base.RunParams:
    values = dict(category=Category.UPPER_BODY, size=(768, 1024), seed=0)
    values.update(changes)
    return base.RunParams(**values)


@pytest.fixture(scope="module")
def backend(viton_hd_root):
    return vb.VITONHDBackend.load(viton_hd_root, "cpu", torch.float16, base.SharedParts())


@pytest.fixture(scope="module")
def first(backend):
    steps = []
    images = backend.run(model_inputs(), params(seed=3), lambda k, n: steps.append((k, n)))
    return images, steps


def test_output_is_rgb_at_the_working_size(first):
    images, steps = first
    assert len(images) == 1 and images[0].mode == "RGB" and images[0].size == (768, 1024)
    pixels = np.asarray(images[0])
    assert pixels.std() > 5                                  # not a flat image
    assert steps == [(1, 3), (2, 3), (3, 3)]                 # one step per stage


def test_same_seed_same_image_other_seed_other_image(backend, first):
    again = backend.run(model_inputs(), params(seed=3))[0]
    assert np.array_equal(np.asarray(again), np.asarray(first[0][0]))
    other = backend.run(model_inputs(), params(seed=4))[0]
    differ = (np.asarray(other) != np.asarray(first[0][0])).any(axis=2).mean()
    assert differ > 0.01


def test_samples_continue_one_noise_stream(backend, monkeypatch):
    """Image k of a seed is the same whether 1 or 3 are asked for: one generator, drawn
    image after image (a stand-in replaces the networks here)."""
    def fake_try_on(nets, tensors, noise, on_stage=None):
        for _ in range(3):
            on_stage()
        return noise.normal((1, 3, 1024, 768)).clamp(-1, 1)

    monkeypatch.setattr(vb, "try_on", fake_try_on)
    steps = []
    three = backend.run(model_inputs(), params(seed=9, num_images_per_prompt=3),
                        lambda k, n: steps.append((k, n)))
    one = backend.run(model_inputs(), params(seed=9))
    assert np.array_equal(np.asarray(three[0]), np.asarray(one[0]))
    assert not np.array_equal(np.asarray(three[0]), np.asarray(three[1]))
    assert steps == [(k, 9) for k in range(1, 10)]


def test_refusals_before_any_network_runs(backend, monkeypatch):
    monkeypatch.setattr(vb, "try_on", lambda *a, **k: pytest.fail("networks ran"))
    with pytest.raises(InvalidInput, match="768x1024 only"):
        backend.run(model_inputs(), params(size=(384, 512)))
    with pytest.raises(InvalidInput, match="tops only"):
        backend.run(model_inputs(), params(category=Category.DRESS))
    no_hips = KEYPOINTS.copy()
    no_hips[[8, 11]] = 0
    with pytest.raises(BodyPartsNotVisible, match="right hip, left hip"):
        backend.run(model_inputs(keypoints=no_hips), params())
    with pytest.raises(InvalidInput, match="garment mask"):
        backend.run(model_inputs(garment_mask=None), params())


def test_spec():
    caps = VITON_HD.capabilities
    assert VITON_HD.id == "viton-hd" and vb.VITONHDBackend.spec is VITON_HD
    assert caps.categories == (Category.UPPER_BODY,) and caps.size.fixed
    assert caps.size.default == (768, 1024) and caps.steps is None and caps.guidance is None
    assert caps.needs == {base.Need.POSE, base.Need.PARSE, base.Need.GARMENT_MASK}
    assert not caps.user_mask and caps.max_samples == 4
    assert [f.path for f in VITON_HD.required_files()] == [
        "viton-hd/seg_final.pth", "viton-hd/gmm_final.pth", "viton-hd/alias_final.pth"]
    module, cls = VITON_HD.backend.split(":")
    assert module == vb.__name__ and cls == "VITONHDBackend"
