"""A stopped PostgreSQL: every route answers 503 + Retry-After (or works without the database),
never 500, and everything works again once it is back. The outage is a loopback TCP proxy in
front of the local PostgreSQL that the test cuts; the shared server is never stopped."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.postgres import fresh_database

from tests.service.conftest import make_settings, start_server, tryon_files, wait_for
from tests.tcp_proxy import TcpProxy


@pytest.fixture()
def database() -> Iterator[str]:
    """A fresh database (dropped afterwards); its name."""
    with fresh_database("vto_outage") as (_, name):
        yield name


def every_route(c, job_id: str) -> dict[str, object]:
    """One request per route (GETs, HEADs and POSTs of the API), keyed by a label."""
    files = tryon_files()
    return {
        "POST /v1/tryon": c.post("/v1/tryon", files=files),
        "GET /v1/jobs": c.get("/v1/jobs"),
        "GET /v1/jobs/{id}": c.get(f"/v1/jobs/{job_id}"),
        "GET /v1/jobs/{id}/events": c.get(f"/v1/jobs/{job_id}/events"),
        "POST /v1/jobs/{id}/cancel": c.post(f"/v1/jobs/{job_id}/cancel"),
        "POST /v1/jobs/{id}/rerun": c.post(f"/v1/jobs/{job_id}/rerun"),
        "DELETE /v1/jobs/{id}": c.delete(f"/v1/jobs/{job_id}"),
        "POST /v1/masks": c.post("/v1/masks", files={"person_image": files["person_image"]}),
        "GET /v1/jobs/{id}/outputs/0": c.get(f"/v1/jobs/{job_id}/outputs/0"),
        "HEAD /v1/jobs/{id}/outputs/0": c.head(f"/v1/jobs/{job_id}/outputs/0"),
        "GET /result/{name}": c.get(f"/result/{job_id}_0.png"),
        "POST /vto": c.post("/vto", files={"person_image": files["person_image"]},
                            data={"clothe_id": "1"}),
        "GET /ready": c.get("/ready"),
        "GET /health": c.get("/health"),
        "GET /metrics": c.get("/metrics"),
        "GET /metrics/prometheus": c.get("/metrics/prometheus"),
        "GET /v1/models": c.get("/v1/models"),
        "GET /v1/garments": c.get("/v1/garments"),
        "GET /clothes": c.get("/clothes"),
        "GET /openapi.json": c.get("/openapi.json"),
    }


def test_a_stopped_postgresql_is_503_with_retry_after_on_every_route(tmp_path, tiny_checkpoint,
                                                                      database):
    proxy = TcpProxy(5432)
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}"
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    from tests.service.conftest import png
    (catalog / "shirt.png").write_bytes(png())
    running = start_server(make_settings(tmp_path, tiny_checkpoint, database_url=url,
                                         catalog=catalog))
    try:
        running.wait_ready()
        with running.client() as c:
            job = c.post("/v1/tryon", files=tryon_files(), headers={"Prefer": "wait=30"}).json()
            assert wait_for(c, job["id"])["status"] == "succeeded"

            proxy.cut()
            started = time.monotonic()
            answers = every_route(c, job["id"])
            took = time.monotonic() - started
            for label, r in answers.items():
                assert r.status_code < 500 or r.status_code == 503, (label, r.status_code, r.text)
                if r.status_code == 503:
                    assert int(r.headers["retry-after"]) >= 1, label
                    assert r.headers["content-type"] == "application/problem+json", label
                    if not label.startswith("HEAD"):
                        assert r.json()["type"] == "urn:vto:problem:unavailable", (label, r.text)
            needs_database = [label for label in answers if "jobs" in label or label in (
                "POST /v1/tryon", "GET /result/{name}", "POST /vto", "GET /ready",
                "GET /metrics")]
            assert {label: answers[label].status_code for label in needs_database} == {
                label: 503 for label in needs_database}
            assert answers["GET /health"].status_code == 200
            assert answers["GET /health"].json()["state"] == "DEGRADED"
            assert took < 60, took  # refused at once, not after minutes of retries

            proxy.restore()
            deadline = time.monotonic() + 30
            while c.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, c.get("/ready").text
                time.sleep(0.2)
            again = c.post("/v1/tryon", files=tryon_files(), headers={"Prefer": "wait=30"})
            assert again.status_code in (200, 202) and wait_for(
                c, again.json()["id"])["status"] == "succeeded"
            assert c.get(f"/v1/jobs/{job['id']}/outputs/0").status_code == 200
    finally:
        running.stop()
        proxy.cut()
