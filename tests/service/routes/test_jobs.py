"""v1 jobs over HTTP: a real uvicorn server on loopback whose worker process runs a fake engine
(tests/service/fakes.py) — the lifecycle, SSE, cancel, idempotency, backpressure, bad input."""

from __future__ import annotations

import io
import json
import threading
import time

import httpx
import pytest
from PIL import Image

from tests.service.conftest import (make_settings, mask_png, png, start_server, tryon_files,
                                    wait_for)
from vto.service.routes.render import prefer_wait
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


@pytest.fixture()
def slow_server(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.15")
    running = start_server(make_settings(tmp_path, tiny_checkpoint))
    running.wait_ready()
    yield running
    running.stop()


# --- lifecycle ------------------------------------------------------------------------------

def test_v1_lifecycle_submit_poll_events_outputs(server):
    with server.client() as c:
        r = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "2", "seed": "7"})
        assert r.status_code == 202, r.text
        assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
        assert r.headers["retry-after"]
        job = wait_for(c, r.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["seed"] == 7 and job["params"]["seed"] == 7
        assert job["params"]["model"] == "ootd-hd" and job["params"]["num_inference_steps"] == 2
        assert job["progress"] == {"step": 2, "total": 2, "fraction": 1.0}
        assert len(job["outputs"]) == 1
        image = c.get(job["outputs"][0]["url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(image.content)).size == (96, 128)
        head = c.head(job["outputs"][0]["url"])
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(image.content)
        # the stream of a finished job replays its final state, then closes
        events = parse_sse(c.get(f"/v1/jobs/{job['id']}/events").text)
        assert [e["event"] for e in events] == ["completed"]
        assert events[0]["data"]["status"] == "succeeded"
        # a client that saw the last event is told to stop reconnecting
        last = c.get(f"/v1/jobs/{job['id']}/events",
                     headers={"Last-Event-ID": events[0]["id"]})
        assert last.status_code == 204
        assert c.get(f"/v1/jobs/{job['id']}/outputs/1").status_code == 404


def test_random_seed_is_echoed_and_prefer_wait_returns_the_result(server):
    with server.client() as c:
        r = c.post("/v1/tryon", files=tryon_files(), data={"seed": "-1"},
                   headers={"Prefer": "wait=30"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "succeeded" and body["seed"] >= 0
        assert r.headers["preference-applied"] == "wait=30"


def test_prefer_wait_parses_the_whole_value():
    assert prefer_wait("wait=5", 60) == 5
    assert prefer_wait("respond-async, wait=1e9", 60) == 60   # not "1"
    assert prefer_wait("wait=abc", 60) == 0 and prefer_wait(None, 60) == 0
    assert prefer_wait("wait=-3", 60) == 0


def test_diffusers_names_and_older_names_but_not_both_and_no_unknown_fields(server):
    with server.client() as c:
        r = c.post("/v1/tryon", files=tryon_files(),
                   data={"num_inference_steps": "3", "num_images_per_prompt": "2",
                         "guidance_scale": "1.5", "model": "ootd-dc", "category": "dress"})
        assert r.status_code == 202, r.text
        params = r.json()["params"]
        assert (params["model"], params["category"], params["num_inference_steps"],
                params["num_images_per_prompt"], params["guidance_scale"]) == \
            ("ootd-dc", "dress", 3, 2, 1.5)
        both = c.post("/v1/tryon", files=tryon_files(),
                      data={"n_steps": "3", "num_inference_steps": "4"})
        assert both.status_code == 422 and "num_inference_steps" in both.json()["detail"]
        unknown = c.post("/v1/tryon", files=tryon_files(), data={"steps_count": "2"})
        assert unknown.status_code == 422 and "steps_count" in unknown.json()["detail"]
        twice = c.post("/v1/tryon", files=tryon_files(), data={"seed": ["1", "2"]})
        assert twice.status_code == 422 and "seed" in twice.json()["detail"]


def test_list_jobs_newest_first_with_cursor_and_status_filter(server):
    with server.client() as c:
        ids = [c.post("/v1/tryon", files=tryon_files(), data={"seed": str(i)},
                      headers={"Prefer": "wait=30"}).json()["id"] for i in range(3)]
        page = c.get("/v1/jobs", params={"limit": 2}).json()
        assert [j["id"] for j in page["jobs"]] == ids[::-1][:2] and page["next_cursor"]
        rest = c.get("/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next_cursor"] is None
        assert len(c.get("/v1/jobs", params={"status": "succeeded"}).json()["jobs"]) == 3
        assert c.get("/v1/jobs", params={"status": "queued"}).json()["jobs"] == []
        assert c.get("/v1/jobs", params={"cursor": "bogus"}).status_code == 422


def test_sse_streams_status_and_progress_with_monotonic_ids(slow_server):
    with slow_server.client() as c:
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
        steps = [e["data"]["progress"]["step"] for e in events if e["event"] == "progress"]
        assert steps == [1, 2, 3, 4]  # every step reaches the stream (the pipe, not the table)
        ids = [int(e["id"]) for e in events]
        assert ids == sorted(set(ids))
        assert events[-1]["data"]["status"] == "succeeded"
        # resuming after an event id skips what the client already has
        resumed = parse_sse(c.get(f"/v1/jobs/{job_id}/events",
                                  headers={"Last-Event-ID": events[0]["id"]}).text)
        assert [e["event"] for e in resumed] == ["completed"]
        print(f"submit -> first progress event: {first_progress:.3f} s")


def test_cancel_running_and_queued_jobs_alike(slow_server):
    with slow_server.client() as c:
        first = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "60"}).json()["id"]
        second = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "60"}).json()
        assert second["status"] == "queued" and second["queue_position"] == 1
        wait_for(c, first, statuses=("running",))
        r = c.post(f"/v1/jobs/{second['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "canceled"
        r = c.post(f"/v1/jobs/{first}/cancel")
        assert r.status_code == 202 and r.json()["status"] == "running"
        job = wait_for(c, first, timeout_s=20)
        assert job["status"] == "canceled" and job["progress"]["step"] < 60
        assert job["outputs"] == []
        queued = c.get(f"/v1/jobs/{second['id']}").json()
        # one problem type whether the job was queued or running
        assert job["error"]["type"] == queued["error"]["type"] == "urn:vto:problem:canceled"
        again = c.post(f"/v1/jobs/{first}/cancel")
        assert again.status_code == 200 and again.json()["status"] == "canceled"
        assert c.post("/v1/jobs/" + "0" * 32 + "/cancel").status_code == 404


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


def test_idempotency_retry_in_flight_is_409(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint)
    running = start_server(settings, storage=_SlowInputs(settings.storage_dir))
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


def test_full_queue_is_503_with_retry_after(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.3")
    running = start_server(make_settings(tmp_path, tiny_checkpoint, queue_max=2))
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


# --- what is refused at submit ----------------------------------------------------------------

def test_everything_knowable_at_submit_is_a_4xx_then(server):
    with server.client() as c:
        def post(files=None, data=None):
            return c.post("/v1/tryon", files=files or tryon_files(), data=data)

        cases = [
            (post(data={"guidance_scale": "25"}), "guidance_scale"),
            (post(data={"n_samples": "8"}), "n_samples"),
            (post(data={"model_type": "hd", "category": "dress"}), "categories"),
            (post(files=tryon_files(mask=png(color=0, mode="L"))), "empty"),
            (post(files=tryon_files(mask=png(color=255, mode="L"))), "full"),
            (post(files=tryon_files(mask=mask_png((128, 96)))), "128x96"),
            (post(files=tryon_files(person=png((1, 1)), mask=mask_png((1, 1)))), "at least"),
            (post(files=tryon_files(person=png((1000, 100)), mask=mask_png((1000, 100)))),
             "times its short side"),
        ]
        for response, words in cases:
            assert response.status_code == 422, (words, response.text)
            assert words in response.json()["detail"], response.json()
        assert c.get("/v1/jobs").json()["jobs"] == []  # none of them became a job


def test_bad_inputs_are_4xx_problems(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint, max_body_bytes=200_000, max_pixels=50_000,
                             webhook_allow_private=False)
    running = start_server(settings)
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


def test_api_keys_401_and_per_key_visibility(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint, api_keys=["alice-key-1", "bob-key-22"])
    running = start_server(settings)
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
            assert c.get("/v1/jobs", headers=bob).json()["jobs"] == []
            assert len(c.get("/v1/jobs", headers=alice).json()["jobs"]) == 1
            # the same idempotency key belongs to each caller separately
            a = c.post("/v1/tryon", files=tryon_files(), headers={**alice, "Idempotency-Key": "k"})
            b = c.post("/v1/tryon", files=tryon_files(), headers={**bob, "Idempotency-Key": "k"})
            assert a.json()["id"] != b.json()["id"]
            for path in ("/health", "/ready", "/metrics", "/metrics/prometheus", "/openapi.json"):
                assert c.get(path).status_code == 200, path
    finally:
        running.stop()


def test_the_real_engine_runs_in_the_worker_process(tiny_server):
    """End to end with the real engine on the tiny checkpoint: stretch and keep framing."""
    with tiny_server.client() as c:
        for framing in ("stretch", "keep"):
            r = c.post("/v1/tryon", files=tryon_files(), data={"framing": framing, "seed": "3"},
                       headers={"Prefer": "wait=60"})
            job = r.json()
            assert job["status"] == "succeeded", job
            image = c.get(job["outputs"][0]["url"])
            assert Image.open(io.BytesIO(image.content)).size == (96, 128)
