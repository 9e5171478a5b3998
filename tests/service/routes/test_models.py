"""GET /v1/models: every registered model with its capabilities and licence, and the
deployment's limits and defaults (what the page builds its form from)."""

from __future__ import annotations

from tests.service.conftest import make_settings, start_server
from vto.core.models.registry import SPECS


def test_models_limits_and_defaults(tmp_path, tiny_checkpoint):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_steps=30,
                                         max_samples=2, default_guidance=1.5,
                                         max_body_bytes=4 * 2**20))
    try:
        running.wait_ready()
        with running.client() as c:
            body = c.get("/v1/models").json()
    finally:
        running.stop()
    assert [m["id"] for m in body["models"]] == [s.id for s in SPECS]
    hd = next(m for m in body["models"] if m["id"] == "ootd-hd")
    assert hd["licence"] and hd["capabilities"]["categories"] == ["upper_body"]
    assert hd["loaded"] is True
    limits = body["limits"]
    assert (limits["max_steps"], limits["max_samples"], limits["max_body_bytes"]) == \
        (30, 2, 4 * 2**20)
    assert limits["image_types"] == ["image/jpeg", "image/png", "image/webp"]
    assert limits["min_photo_side"] == 64
    defaults = body["defaults"]
    assert (defaults["model"], defaults["num_inference_steps"], defaults["guidance_scale"],
            defaults["width"], defaults["height"]) == ("ootd-hd", 2, 1.5, 96, 128)
