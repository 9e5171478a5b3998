"""Operations routes: health and readiness, seed JSON metrics, Prometheus, models."""

from __future__ import annotations

from tests.service.conftest import tryon_files, wait_for


def test_health_ready_metrics(server):
    with server.client() as c:
        job = c.post("/v1/tryon", files=tryon_files(), headers={"Prefer": "wait=30"}).json()
        health = c.get("/health").json()
        assert health["status"] == "healthy" and health["models_loaded"] is True
        assert health["worker"]["state"] == "ready" and health["worker"]["pid"]
        assert c.get("/ready").json() == {"ready": True, "queue_depth": 0}
        metrics = c.get("/metrics").json()
        assert metrics["jobs"]["succeeded"] == 1 and metrics["queue_depth"] == 0
        assert metrics["recent_performance"]["count"] == 1
        wait_for(c, job["id"])
        # Prometheus job metrics come from the table (the housekeeper's next round)
        import time
        deadline = time.monotonic() + 10
        while "vto_job_seconds_bucket" not in c.get("/metrics/prometheus").text:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert "vto_queue_depth" in c.get("/metrics/prometheus").text


def test_models_lists_every_model_with_capabilities_and_licence(server):
    with server.client() as c:
        body = c.get("/v1/models").json()
    by_id = {m["id"]: m for m in body["models"]}
    assert {"ootd-hd", "ootd-dc"} <= set(by_id) and body["default"] == "ootd-hd"
    hd = by_id["ootd-hd"]
    assert hd["capabilities"]["categories"] == ["upper_body"] and hd["loaded"] is True
    assert hd["capabilities"]["steps"] == {"default": 20, "min": 1, "max": 100}
    assert "non-commercial" in hd["licence"] and by_id["ootd-dc"]["loaded"] is False
