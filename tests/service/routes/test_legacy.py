"""The legacy (seed) clients' exact flows (their README's curl commands) against the real server
and the real engine on the tiny checkpoint."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from tests.service.conftest import make_settings, start_server


@pytest.fixture()
def seed_server(tmp_path, tiny_checkpoint, examples):
    catalog = tmp_path / "catalog"
    presets = tmp_path / "presets"
    catalog.mkdir()
    presets.mkdir()
    shutil.copy(examples / "garment" / "03244_00.jpg", catalog / "blue_shirt.jpg")
    shutil.copy(examples / "garment" / "051827_1.jpg", catalog / "jeans.jpg")
    shutil.copy(examples / "person" / "model_1.png", presets / "model_1.png")
    running = start_server(make_settings(tmp_path, tiny_checkpoint, catalog=catalog,
                                         presets=presets,
                                         engine_factory="tests.service.fakes:tiny"))
    running.wait_ready(120)
    yield running
    running.stop()


def test_seed_curl_flow_health_clothes_vto_result_metrics(seed_server, examples):
    with seed_server.client() as c:
        # curl http://localhost:8384/health
        assert c.get("/health").json()["status"] == "healthy"
        # curl http://localhost:8384/clothes
        clothes = c.get("/clothes").json()["clothes"]
        assert [(g["id"], g["name"]) for g in clothes] == [(1, "blue_shirt.jpg"), (2, "jeans.jpg")]
        # curl -X POST -F person_image=@person.jpg -F clothe_id=1 http://localhost:8384/vto
        with open(examples / "person" / "01008_00.jpg", "rb") as f:
            r = c.post("/vto", files={"person_image": ("person.jpg", f, "image/jpeg")},
                       data={"clothe_id": "1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] is True and body["clothe_id"] == 1
        assert body["clothe_name"] == "blue_shirt" and body["category"] == "upperbody"
        assert body["model_type"] == "hd" and body["processing_time"] > 0
        assert set(body["metrics"]) == {"average_time", "category_average", "recent_performance"}
        assert set(body["metrics"]["recent_performance"]) == {"count", "average", "min", "max"}
        # curl -O <image_url>
        image = c.get(body["image_url"])
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).size == (768, 1024)  # the photo's own size
        # curl http://localhost:8384/metrics
        metrics = c.get("/metrics").json()
        assert metrics["success"] is True and metrics["recent_performance"]["count"] == 1
        assert metrics["jobs"]["succeeded"] == 1
        # lower-body garments go to the dc model; the seed's unknown ids are a clear 404
        assert c.post("/vto", files={"person_image": ("p.jpg", b"x", "image/jpeg")},
                      data={"clothe_id": "99"}).status_code == 404
        assert c.post("/vto", files={"person_image": ("p.jpg", b"x", "image/jpeg")},
                      data={"clothe_id": "one"}).status_code == 422


def test_flask_generate_with_preset_person(seed_server, examples):
    with seed_server.client() as c:
        with open(examples / "garment" / "00055_00.jpg", "rb") as f:
            r = c.post("/generate", files={"garmentImage": ("g.jpg", f, "image/jpeg")},
                       data={"modelType": "hd", "category": "0", "modelSelection": "model_1",
                             "imageScale": "2.0", "nSteps": "2", "nSamples": "2", "seed": "5"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] and body["seed"] == 5 and len(body["images"]) == 2
        for url in body["images"]:
            assert c.get(url).status_code == 200
        bad = c.post("/generate", data={"modelType": "hd", "category": "0",
                                        "modelSelection": "../../etc/passwd", "garmentId": "jeans"})
        assert bad.status_code == 404
        assert bad.headers["content-type"] == "application/problem+json"
        hd_dress = c.post("/generate", data={"modelType": "hd", "category": "2",
                                             "modelSelection": "model_1", "garmentId": "jeans"})
        assert hd_dress.status_code == 422
        # a model id may replace modelType (the default stays the seed's)
        dc = c.post("/generate", data={"model": "ootd-dc", "category": "1", "nSteps": "1",
                                       "modelSelection": "model_1", "garmentId": "jeans"})
        assert dc.status_code == 200, dc.text
        # one rule for every route: over the limit is a 422, never silently clamped
        too_many = c.post("/generate", data={"modelType": "hd", "category": "0", "nSamples": "5",
                                             "modelSelection": "model_1", "garmentId": "blue_shirt"})
        assert too_many.status_code == 422
