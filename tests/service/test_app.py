"""The HTTP service end to end: a real uvicorn server on loopback, the tiny checkpoint, httpx."""

from __future__ import annotations

import io
import json
import threading
import time

import httpx
from PIL import Image

from tests.service.conftest import (SlowEngine, make_settings, mask_png, png, start_server,
                                    tryon_files, wait_for)
from vto.service.storage import LocalStorage


def parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.split("\n\n"):
        fields: dict = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "event" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


# --- v1 lifecycle ---------------------------------------------------------------------------

def test_v1_lifecycle_submit_poll_events_outputs(server):
    with server.client() as c:
        r = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "2", "seed": "7"})
        assert r.status_code == 202, r.text
        assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
        assert r.headers["retry-after"]
        job = wait_for(c, r.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["seed"] == 7 and job["params"]["seed"] == 7
        assert job["progress"] == {"step": 2, "total": 2, "fraction": 1.0}
        assert len(job["outputs"]) == 1
        image = c.get(job["outputs"][0]["url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(image.content)).size == (96, 128)
        # the stream of a finished job replays its final state, then closes
        events = parse_sse(c.get(f"/v1/jobs/{job['id']}/events").text)
        assert [e["event"] for e in events] == ["completed"]
        assert events[0]["data"]["status"] == "succeeded"
        # a client that saw the last event is told to stop reconnecting
        last = c.get(f"/v1/jobs/{job['id']}/events",
                     headers={"Last-Event-ID": events[0]["id"]})
        assert last.status_code == 204
        assert c.get(f"/v1/jobs/{job['id']}/outputs/1").status_code == 404


def test_v1_random_seed_is_echoed_and_prefer_wait_returns_the_result(server):
    with server.client() as c:
        r = c.post("/v1/tryon", files=tryon_files(), data={"seed": "-1"},
                   headers={"Prefer": "wait=30"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "succeeded" and body["seed"] >= 0
        assert r.headers["preference-applied"] == "wait=30"


def test_sse_streams_status_and_progress_with_monotonic_ids(tmp_path, tiny_checkpoint,
                                                            tiny_engine):
    running = start_server(make_settings(tmp_path, tiny_checkpoint),
                           SlowEngine(tiny_engine, 0.15))
    try:
        running.wait_ready()
        with running.client() as c:
            submitted = time.monotonic()
            job_id = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "4"}).json()["id"]
            events, first_progress = [], None
            with c.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                buffer = ""
                for chunk in stream.iter_text():
                    buffer += chunk
                    events = parse_sse(buffer)
                    if first_progress is None and any(e["event"] == "progress" for e in events):
                        first_progress = time.monotonic() - submitted
                    if events and events[-1]["event"] == "completed":
                        break
            assert "retry: " in buffer
            kinds = [e["event"] for e in events]
            assert kinds[0] == "status" and kinds[-1] == "completed"
            assert "progress" in kinds
            ids = [int(e["id"]) for e in events]
            assert ids == sorted(set(ids))
            steps = [e["data"]["progress"]["step"] for e in events if e["event"] == "progress"]
            assert steps == sorted(steps) and steps[-1] <= 4
            assert events[-1]["data"]["status"] == "succeeded"
            # resuming after an event id skips what the client already has
            resumed = parse_sse(c.get(f"/v1/jobs/{job_id}/events",
                                      headers={"Last-Event-ID": events[0]["id"]}).text)
            assert [e["event"] for e in resumed] == ["completed"]
            print(f"submit -> first progress event: {first_progress:.3f} s")
    finally:
        running.stop()


def test_cancel_running_and_queued_jobs(tmp_path, tiny_checkpoint, tiny_engine):
    running = start_server(make_settings(tmp_path, tiny_checkpoint),
                           SlowEngine(tiny_engine, 0.2))
    try:
        running.wait_ready()
        with running.client() as c:
            first = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "30"}).json()["id"]
            second = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "30"}).json()
            assert second["status"] == "queued" and second["queue_position"] == 1
            wait_for(c, first, statuses=("running",))
            r = c.post(f"/v1/jobs/{second['id']}/cancel")
            assert r.status_code == 200 and r.json()["status"] == "canceled"
            r = c.post(f"/v1/jobs/{first}/cancel")
            assert r.status_code == 202 and r.json()["status"] == "running"
            job = wait_for(c, first, timeout_s=20)
            assert job["status"] == "canceled" and job["progress"]["step"] < 30
            assert job["outputs"] == []
            # cancelling a finished job changes nothing
            again = c.post(f"/v1/jobs/{first}/cancel")
            assert again.status_code == 200 and again.json()["status"] == "canceled"
            assert c.post("/v1/jobs/" + "0" * 32 + "/cancel").status_code == 404
    finally:
        running.stop()


# --- idempotency and backpressure -----------------------------------------------------------

def test_idempotency_same_payload_same_job_different_payload_422(server):
    with server.client() as c:
        key = {"Idempotency-Key": '"order-1"'}
        a = c.post("/v1/tryon", files=tryon_files(), headers=key)
        b = c.post("/v1/tryon", files=tryon_files(), headers=key)
        assert a.status_code in (200, 202) and b.status_code in (200, 202)
        assert a.json()["id"] == b.json()["id"]
        assert b.headers["idempotent-replayed"] == "true"
        other = c.post("/v1/tryon", files=tryon_files(person=png(color=(1, 2, 3))), headers=key)
        assert other.status_code == 422
        assert other.headers["content-type"] == "application/problem+json"
        fresh = c.post("/v1/tryon", files=tryon_files(), headers={"Idempotency-Key": "order-2"})
        assert fresh.json()["id"] != a.json()["id"]


class _SlowInputs(LocalStorage):
    """Storing inputs takes a while (a slow bucket), so a retry can arrive meanwhile."""

    def put(self, key, data, content_type):
        if key.startswith("inputs/"):
            time.sleep(0.5)
        super().put(key, data, content_type)


def test_idempotency_retry_in_flight_is_409(tmp_path, tiny_checkpoint, tiny_engine):
    settings = make_settings(tmp_path, tiny_checkpoint)
    running = start_server(settings, tiny_engine, storage=_SlowInputs(settings.storage_dir))
    try:
        running.wait_ready()
        results: list[httpx.Response] = []

        def post() -> None:
            with running.client() as c:
                results.append(c.post("/v1/tryon", files=tryon_files(),
                                      headers={"Idempotency-Key": "dup"}))

        threads = [threading.Thread(target=post) for _ in range(2)]
        threads[0].start()
        time.sleep(0.25)
        threads[1].start()
        for t in threads:
            t.join()
        assert sorted(r.status_code for r in results) == [202, 409]
    finally:
        running.stop()


def test_full_queue_is_503_with_retry_after(tmp_path, tiny_checkpoint, tiny_engine):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, queue_max=2),
                           SlowEngine(tiny_engine, 0.3))
    try:
        running.wait_ready()
        with running.client() as c:
            ids = [c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "20"}).json()["id"]]
            wait_for(c, ids[0], statuses=("running",))
            ids += [c.post("/v1/tryon", files=tryon_files()).json()["id"] for _ in range(2)]
            r = c.post("/v1/tryon", files=tryon_files())
            assert r.status_code == 503
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["type"].endswith("unavailable")
            assert c.get("/ready").status_code == 503
            for job_id in ids:
                c.post(f"/v1/jobs/{job_id}/cancel")
    finally:
        running.stop()


# --- safety -----------------------------------------------------------------------------------

def test_bad_inputs_are_4xx_problems(tmp_path, tiny_checkpoint, tiny_engine):
    settings = make_settings(tmp_path, tiny_checkpoint, max_body_bytes=200_000, max_pixels=50_000,
                             webhook_allow_private=False)
    running = start_server(settings, tiny_engine)
    try:
        with running.client() as c:
            def post(files=None, data=None, **kw):
                return c.post("/v1/tryon", files=files or tryon_files(), data=data, **kw)

            cases = {
                413: [post(files=tryon_files(person=b"\0" * 300_000))],
                415: [post(files=tryon_files(person=b"GIF89a" + b"\0" * 100)),
                      post(files=tryon_files(person=b"<svg xmlns='http://www.w3.org/2000/svg'/>")),
                      post(files=tryon_files(person=b"not an image at all"))],
                422: [post(data={"model_type": "hd", "category": "dress"}),
                      post(data={"n_samples": "0"}), post(data={"category": "hat"}),
                      post(data={"n_steps": "abc"}),
                      post(data={"webhook_url": "http://169.254.169.254/latest"})],
                404: [c.get("/v1/jobs/..%2F..%2Fetc%2Fpasswd"), c.get("/v1/jobs/" + "z" * 32),
                      c.get("/result/..%2Fjobs.db"), c.get("/result/../../jobs.db"),
                      c.get("/v1/garments/..%2F..%2Fjobs/thumbnail"),
                      post(files={"person_image": ("p.png", png(), "image/png")},
                           data={"garment_id": "../../etc/passwd"})],
            }
            # a decompression bomb: small file, too many pixels
            bomb = io.BytesIO()
            Image.new("L", (400, 400), 0).save(bomb, "PNG")
            cases[413].append(post(files=tryon_files(person=bomb.getvalue())))
            for status, responses in cases.items():
                for r in responses:
                    assert r.status_code == status, (status, r.request.url, r.text)
                    if r.status_code != 404 or r.headers.get("content-type", "").startswith(
                            "application/problem+json"):
                        assert r.headers["content-type"] == "application/problem+json", r.text
                        assert r.json()["status"] == status
            malformed = c.post("/v1/tryon", content=b"--x\r\nbroken",
                               headers={"content-type": "multipart/form-data; boundary=x"})
            assert 400 <= malformed.status_code < 500
    finally:
        running.stop()


def test_api_keys_401_and_per_key_visibility(tmp_path, tiny_checkpoint, tiny_engine):
    settings = make_settings(tmp_path, tiny_checkpoint, api_keys=["alice-key-1", "bob-key-22"])
    running = start_server(settings, tiny_engine)
    try:
        running.wait_ready()
        with running.client() as c:
            assert c.post("/v1/tryon", files=tryon_files()).status_code == 401
            wrong = c.get("/v1/garments", headers={"X-API-Key": "nope-nope"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            alice = {"Authorization": "Bearer alice-key-1"}
            bob = {"X-API-Key": "bob-key-22"}
            r = c.post("/v1/tryon", files=tryon_files(), headers={**alice, "Prefer": "wait=30"})
            job = r.json()
            assert c.get(f"/v1/jobs/{job['id']}", headers=alice).status_code == 200
            assert c.get(f"/v1/jobs/{job['id']}", headers=bob).status_code == 404
            assert c.get(f"/v1/jobs/{job['id']}/outputs/0", headers=bob).status_code == 404
            assert c.get(f"/result/{job['id']}_0.png", headers=bob).status_code == 404
            assert c.get(f"/result/{job['id']}_0.png", headers=alice).status_code == 200
            assert c.post(f"/v1/jobs/{job['id']}/cancel", headers=bob).status_code == 404
            # the same idempotency key belongs to each caller separately
            a = c.post("/v1/tryon", files=tryon_files(), headers={**alice, "Idempotency-Key": "k"})
            b = c.post("/v1/tryon", files=tryon_files(), headers={**bob, "Idempotency-Key": "k"})
            assert a.json()["id"] != b.json()["id"]
            for path in ("/health", "/ready", "/metrics", "/metrics/prometheus", "/openapi.json"):
                assert c.get(path).status_code == 200, path
    finally:
        running.stop()


def test_cors_only_for_listed_origins(tmp_path, tiny_checkpoint, tiny_engine):
    running = start_server(make_settings(tmp_path, tiny_checkpoint,
                                         cors_origins=["https://shop.example"]), tiny_engine)
    try:
        with running.client() as c:
            ok = c.options("/v1/tryon", headers={"Origin": "https://shop.example",
                                                 "Access-Control-Request-Method": "POST"})
            assert ok.headers["access-control-allow-origin"] == "https://shop.example"
            bad = c.options("/v1/tryon", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "POST"})
            assert "access-control-allow-origin" not in bad.headers
    finally:
        running.stop()


def test_openapi_declares_every_status_code(server):
    with server.client() as c:
        schema = c.get("/openapi.json").json()
    tryon = schema["paths"]["/v1/tryon"]["post"]["responses"]
    assert {"200", "202", "401", "409", "413", "415", "422", "503"} <= set(tryon)
    assert "Problem" in schema["components"]["schemas"]
    assert "/vto" in schema["paths"] and "/generate" in schema["paths"]
    with server.client() as c:
        assert c.get("/docs").status_code == 200


# --- garments, ops and webhooks ---------------------------------------------------------------

def test_garments_crud_and_tryon_by_garment_id(server):
    with server.client() as c:
        r = c.post("/v1/garments", files={"image": ("blue-shirt.png", png(), "image/png")})
        assert r.status_code == 201, r.text
        garment = r.json()
        assert garment["category"] == "upper_body" and garment["category_source"] == "filename"
        listed = c.get("/v1/garments").json()["garments"]
        assert [g["id"] for g in listed] == [garment["id"]]
        thumb = c.get(garment["thumbnail_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        files = {"person_image": ("p.png", png(), "image/png"),
                 "mask": ("m.png", mask_png(), "image/png")}
        r = c.post("/v1/tryon", files=files, data={"garment_id": garment["id"]},
                   headers={"Prefer": "wait=30"})
        assert r.json()["status"] == "succeeded", r.text
        assert c.delete(f"/v1/garments/{garment['id']}").status_code == 204
        assert c.get(f"/v1/garments/{garment['id']}").status_code == 404


def test_health_ready_metrics(server):
    with server.client() as c:
        c.post("/v1/tryon", files=tryon_files(), headers={"Prefer": "wait=30"})
        health = c.get("/health").json()
        assert health["status"] == "healthy" and health["models_loaded"] is True
        metrics = c.get("/metrics").json()
        assert metrics["jobs"]["succeeded"] == 1 and metrics["queue_depth"] == 0
        assert metrics["recent_performance"]["count"] == 1
        prom = c.get("/metrics/prometheus")
        assert "vto_job_seconds_bucket" in prom.text and "vto_queue_depth" in prom.text


def test_webhook_is_signed_and_delivered(server):
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from vto.service.webhooks import verify

    received: list[tuple[dict, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((dict(self.headers), body))
            # the first 'completed' delivery fails: the sender must retry
            first = sum(b"job.completed" in b for _, b in received) == 1 and b"job.completed" in body
            self.send_response(500 if first else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
        with server.client() as c:
            job = c.post("/v1/tryon", files=tryon_files(), data={"webhook_url": url},
                         headers={"Prefer": "wait=30"}).json()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(
                b"job.completed" in body for _, body in received) < 2:
            time.sleep(0.05)
        secret = (server.state.settings.data_dir / "webhook_secret").read_text()
        completed = [(h, b) for h, b in received if b"job.completed" in b]
        assert len(completed) >= 2  # one failed attempt, one retry
        headers, body = completed[-1]
        assert verify(secret, headers, body)
        assert headers["webhook-id"] == f"{job['id']}.job.completed"
        assert json.loads(body)["data"]["status"] == "succeeded"
    finally:
        httpd.shutdown()


def test_s3_storage_outputs_redirect_to_presigned_urls(tmp_path, tiny_checkpoint, tiny_engine):
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = dict(aws_access_key_id="test-key", aws_secret_access_key="test-secret")
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     **creds).create_bucket(Bucket="vto-results")
        settings = make_settings(tmp_path, tiny_checkpoint, s3_bucket="vto-results",
                                 s3_endpoint_url=endpoint, s3_access_key="test-key",
                                 s3_secret_key="test-secret", s3_region="us-east-1")
        assert settings.storage == "s3"
        running = start_server(settings, tiny_engine)
        try:
            running.wait_ready()
            with running.client() as c:
                job = c.post("/v1/tryon", files=tryon_files(),
                             headers={"Prefer": "wait=30"}).json()
                assert job["status"] == "succeeded", job
                url = job["outputs"][0]["url"]
                assert url.startswith(endpoint) and "X-Amz-Signature=" in url
                redirect = c.get(f"/v1/jobs/{job['id']}/outputs/0")
                assert redirect.status_code == 307
                image = httpx.get(redirect.headers["location"])
                assert image.status_code == 200
                assert Image.open(io.BytesIO(image.content)).format == "PNG"
        finally:
            running.stop()
    finally:
        moto.stop()


# --- retention --------------------------------------------------------------------------------

def test_retention_deletes_expired_jobs_and_keeps_live_ones(tmp_path, tiny_checkpoint,
                                                            tiny_engine):
    """The housekeeper of the running app: a finished job past the retention is gone (404, no
    stored inputs or results); a job still queued keeps its inputs however old they get."""
    retention = 3
    running = start_server(make_settings(tmp_path, tiny_checkpoint, result_retention_s=retention,
                                         janitor_interval_s=0.2),
                           SlowEngine(tiny_engine, 0.25))
    storage = LocalStorage(tmp_path / "data" / "storage")
    try:
        running.wait_ready()
        with running.client() as c:
            old = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"},
                         headers={"Prefer": "wait=30"}).json()
            assert old["status"] == "succeeded", old
            assert storage.exists(f"results/{old['id']}/0.png")
            assert storage.exists(f"inputs/{old['id']}/person.png")
            blocker = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "20"}).json()
            waiting = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"}).json()
            assert waiting["status"] == "queued"
            deadline = time.monotonic() + retention + 15
            while c.get(f"/v1/jobs/{old['id']}").status_code != 404:
                assert time.monotonic() < deadline, "the expired job was never removed"
                time.sleep(0.1)
            assert not list(storage.list_keys(f"results/{old['id']}/"))
            assert not list(storage.list_keys(f"inputs/{old['id']}/"))
            assert c.get(f"/v1/jobs/{old['id']}/outputs/0").status_code == 404
            assert c.get(f"/result/{old['id']}_0.png").status_code == 404
            assert c.get(f"/v1/jobs/{waiting['id']}").json()["status"] == "queued"
            # it waited longer than the retention behind the slow job, and still runs
            done = wait_for(c, waiting["id"], timeout_s=60)
            assert done["status"] == "succeeded", done
            assert time.time() - running.state.store.get(waiting["id"]).created_at > retention
            assert c.get(done["outputs"][0]["url"]).status_code == 200
            assert wait_for(c, blocker["id"])["status"] == "succeeded"
    finally:
        running.stop()


def test_celery_api_counts_jobs_that_workers_finished(tmp_path, tiny_checkpoint):
    """With Celery the API's Prometheus job metrics come from the job table: every job finished
    after the API started, once; canceled jobs are no failures."""
    from prometheus_client.parser import text_string_to_metric_families

    from vto.service.app import Housekeeper, build_state
    from vto.service.jobs import JobStatus

    state = build_state(make_settings(tmp_path, tiny_checkpoint, queue="celery"))
    store = state.store

    def finish(status: JobStatus, **kw) -> None:
        job, _ = store.reserve(owner="", request_hash="h",
                               params={"category": "dress", "model_type": "dc"})
        store.mark_queued(job.id, {})
        store.claim_id(job.id, "w")
        store.finish(job.id, "w", status, **kw)

    finish(JobStatus.SUCCEEDED, result={"inference_seconds": 2.0})  # before the API started
    housekeeper = Housekeeper(state)
    housekeeper.start()
    housekeeper.stop()
    finish(JobStatus.SUCCEEDED, result={"inference_seconds": 4.0})
    finish(JobStatus.FAILED, error={"type": "urn:vto:problem:no-person-detected"})
    finish(JobStatus.CANCELED)
    housekeeper.observe_finished()
    housekeeper.observe_finished()
    body, _ = state.metrics.render_prometheus()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body.decode())
               for s in family.samples}
    assert samples[("vto_jobs_finished_total", (("status", "succeeded"),))] == 1
    assert samples[("vto_jobs_finished_total", (("status", "failed"),))] == 1
    assert samples[("vto_job_failures_total", (("reason", "no-person-detected"),))] == 1
    assert samples[("vto_job_seconds_sum", (("category", "dress"), ("model_type", "dc")))] == 4.0
    state.queue.close()
    store.close()
