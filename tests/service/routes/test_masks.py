"""POST /v1/masks: the automatic mask from the worker (fake engine: the photo's central
rectangle; the real engine's mask is tested in tests/core), multipart or JSON, as data: URIs
or the PNG itself; the same validation as a try-on's."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from tests.service.conftest import png


def decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_multipart_answers_the_mask_and_the_masked_photo_at_the_photo_size(server):
    with server.client() as c:
        r = c.post("/v1/masks", files={"person_image": ("p.png", png((120, 160)), "image/png")},
                   data={"model": "ootd-dc", "category": "lower_body"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["category"], body["framing"]) == ("ootd-dc", "lower_body", "keep")
    assert (body["width"], body["height"]) == (120, 160)
    mask, masked = decode(body["mask"]), decode(body["masked"])
    assert mask.size == masked.size == (120, 160)
    inside = np.asarray(mask.convert("L")) > 127
    assert body["coverage"] == round(float(inside.mean()), 4) and 0 < body["coverage"] < 1
    assert (np.asarray(masked.convert("RGB"))[inside] == 127).all()
    assert (np.asarray(masked.convert("RGB"))[~inside] == (200, 120, 80)).all()


def test_json_with_a_data_uri_and_the_png_answer(server):
    uri = "data:image/png;base64," + base64.b64encode(png((80, 120))).decode()
    with server.client() as c:
        r = c.post("/v1/masks", json={"person_image": uri}, headers={"Accept": "image/png"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(r.content)).size == (80, 120)
        as_json = c.post("/v1/masks", json={"person_image": uri, "model_type": "hd"})
        assert as_json.status_code == 200 and as_json.json()["model"] == "ootd-hd"


def test_refusals(server):
    with server.client() as c:
        def form(data, person=None):
            return c.post("/v1/masks", data=data, files={
                "person_image": ("p.png", person or png(), "image/png")})
        no_mask_model = form({"model": "cp-vton-plus"})
        assert no_mask_model.status_code == 422 and no_mask_model.json()["field"] == "model"
        category = form({"model": "ootd-hd", "category": "dress"})
        assert category.status_code == 422 and category.json()["field"] == "category"
        unknown = form({"num_inference_steps": "3"})
        assert unknown.status_code == 422 and "num_inference_steps" in unknown.json()["detail"]
        tiny = form({}, person=png((30, 40)))
        assert tiny.status_code == 422 and "at least 64 pixels" in tiny.json()["detail"]
        text = form({}, person=b"not an image")
        assert text.status_code == 415
        extra = c.post("/v1/masks", json={"person_image": "data:image/png;base64,AA==",
                                          "seed": 1})
        assert extra.status_code == 422 and extra.json()["field"] == "seed"
        missing = c.post("/v1/masks", json={"model": "ootd-hd"})
        assert missing.status_code == 422 and "person_image" in missing.json()["detail"]


def test_masks_need_the_key(tmp_path, tiny_checkpoint):
    from tests.service.conftest import make_settings, start_server

    running = start_server(make_settings(tmp_path, tiny_checkpoint, api_keys=["mask-key-123"]))
    try:
        running.wait_ready()
        with running.client() as c:
            files = {"person_image": ("p.png", png(), "image/png")}
            assert c.post("/v1/masks", files=files).status_code == 401
            ok = c.post("/v1/masks", files=files, headers={"X-API-Key": "mask-key-123"})
            assert ok.status_code == 200
    finally:
        running.stop()
