"""The one request type: names, aliases, defaults, limits from one place, and the image checks
every edge runs before any model work."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from vto.core.request import (CORE_LIMITS, TryOnInputs, TryOnRequest, check_inputs, parse_size,
                              resolve_seed)
from vto.core.types import Category, Framing
from vto.errors import InvalidInput


def test_defaults_come_from_the_model_then_the_deployment():
    hd = TryOnRequest().resolved()
    assert (hd.model, hd.category, hd.num_inference_steps, hd.guidance_scale, hd.size) == \
        ("ootd-hd", Category.UPPER_BODY, 20, 2.0, (768, 1024))
    mine = TryOnRequest(model="dc").resolved(default_size=(384, 512), default_steps=30,
                                             default_guidance=1.5,
                                             default_category=Category.DRESS)
    assert (mine.model, mine.category, mine.num_inference_steps, mine.guidance_scale,
            mine.size) == ("ootd-dc", Category.DRESS, 30, 1.5, (384, 512))
    # resolving twice changes nothing (the worker re-validates what the API stored)
    assert mine.resolved() == mine


def test_aliases_map_to_one_vocabulary_and_clashes_or_unknowns_are_named():
    request = TryOnRequest.from_fields({"model_type": "dc", "n_steps": 7, "n_samples": 2,
                                        "category": "lowerbody"})
    assert (request.model, request.num_inference_steps, request.num_images_per_prompt,
            request.category) == ("ootd-dc", 7, 2, Category.LOWER_BODY)
    with pytest.raises(InvalidInput, match="'steps' and another field") as clash:
        TryOnRequest.from_fields({"num_inference_steps": 3, "steps": 4})
    assert clash.value.extra["field"] == "num_inference_steps"
    with pytest.raises(InvalidInput, match="unknown field.*num_steps"):
        TryOnRequest.from_fields({"num_steps": 3})
    with pytest.raises(InvalidInput, match="unknown model"):
        TryOnRequest.from_fields({"model": "sd-xl"})


@pytest.mark.parametrize("fields, words", [
    ({"guidance_scale": 25}, "guidance_scale must be between 0 and 20"),
    ({"num_inference_steps": 0}, "num_inference_steps must be between 1 and 100"),
    ({"num_images_per_prompt": 8}, "between 1 and 4"),
    ({"width": 100, "height": 128}, "multiples of 8"),
    ({"width": 8192, "height": 8192}, "between 64 and 4096"),
    ({"model": "hd", "category": "dress"}, "supports categories upper_body"),
    ({"guidance_scale": float("nan")}, "guidance_scale"),
])
def test_every_limit_is_named(fields, words):
    with pytest.raises(InvalidInput, match=words):
        TryOnRequest.from_fields(fields).resolved()


def test_settings_narrow_the_limits_and_never_widen_them():
    narrow = CORE_LIMITS.narrowed(max_steps=30, max_samples=2)
    with pytest.raises(InvalidInput, match="between 1 and 30"):
        TryOnRequest(num_inference_steps=40).resolved(narrow)
    with pytest.raises(InvalidInput, match="between 1 and 2"):
        TryOnRequest(num_images_per_prompt=3).resolved(narrow)
    for widen in ({"max_steps": 1000}, {"max_samples": 16}, {"max_guidance": 30}):
        with pytest.raises(InvalidInput, match="outside what vto allows"):
            CORE_LIMITS.narrowed(**widen)


def test_images_are_checked_before_any_model_work():
    request = TryOnRequest().resolved()
    person, garment = Image.new("RGB", (300, 400)), Image.new("RGB", (200, 200))
    mask = Image.new("L", (300, 400), 0)
    mask.paste(255, (50, 50, 150, 150))
    check_inputs(request, TryOnInputs(person=person, garment=garment, mask=mask))
    cases = [
        (TryOnInputs(person=person, garment=garment, mask=Image.new("L", (300, 400), 0)),
         "empty"),
        (TryOnInputs(person=person, garment=garment, mask=Image.new("L", (300, 400), 255)),
         "full"),
        (TryOnInputs(person=person, garment=garment, mask=mask.resize((400, 300))),
         "mask is 400x300 but person_image is 300x400"),
        (TryOnInputs(person=Image.new("RGB", (1, 1)), garment=garment), "at least 64"),
        (TryOnInputs(person=Image.new("RGB", (10000, 10)), garment=garment), "at least 64"),
        (TryOnInputs(person=Image.new("RGB", (1000, 200)), garment=garment), "5 times"[-5:]),
        (TryOnInputs(person=person, garment=garment, densepose=person), "DensePose"),
        (TryOnInputs(person=person, garment=garment, garment_mask=mask), "garment mask"),
    ]
    for inputs, words in cases:
        with pytest.raises(InvalidInput, match=words):
            check_inputs(request, inputs)


def test_small_helpers():
    assert parse_size("768x1024") == (768, 1024) and parse_size((8, 16)) == (8, 16)
    with pytest.raises(InvalidInput):
        parse_size("768")
    assert 0 <= resolve_seed(-1) <= 2**31 - 1 and resolve_seed(5) == 5
    with pytest.raises(InvalidInput):
        resolve_seed(2**31)
    assert TryOnRequest(framing="stretch").framing is Framing.STRETCH


def test_the_request_module_is_torch_free():
    import subprocess

    code = ("import sys, vto.core.request, vto.core.models.registry; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
