"""The embedded worker is a process: the API never imports torch, survives the worker's death,
restarts it, and re-runs its job exactly once; each failure mode ends the job cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.conftest import REPO
from tests.service.conftest import make_settings, start_server, tryon_files, wait_for


def test_the_api_process_never_imports_torch(tmp_path, tiny_checkpoint):
    """A running server (in a fresh interpreter) answers a try-on and has no torch loaded."""
    script = f"""
import sys, json
from tests.service.conftest import make_settings, start_server, tryon_files, wait_for
from pathlib import Path
if __name__ == "__main__":
    running = start_server(make_settings(Path({str(tmp_path)!r}), Path({str(tiny_checkpoint.root)!r}),
                                         engine_factory="tests.service.fakes:tiny"))
    running.wait_ready(120)
    with running.client() as c:
        job = c.post("/v1/tryon", files=tryon_files(), headers={{"Prefer": "wait=60"}}).json()
    print(json.dumps({{"status": job["status"], "torch": "torch" in sys.modules,
                      "worker_pid": running.services.worker.pid}}))
    running.stop()
"""
    path = tmp_path / "serve_once.py"
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], cwd=REPO, capture_output=True, text=True,
                         timeout=240, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"status": "succeeded", "torch": False, "worker_pid": result["worker_pid"]}
    assert result["worker_pid"] != os.getpid()


def test_kill_9_of_the_worker_mid_job_keeps_streams_and_finishes_once(tmp_path, tiny_checkpoint,
                                                                      monkeypatch):
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.1")
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_attempts=3))
    try:
        running.wait_ready()
        worker = running.services.worker
        with running.client() as c:
            job_id = c.post("/v1/tryon", files=tryon_files(),
                            data={"n_steps": "30"}).json()["id"]
            streams: list[str] = []

            def follow() -> None:
                with httpx.Client(base_url=running.url, timeout=120) as client:
                    with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                        text = ""
                        for chunk in stream.iter_text():
                            text += chunk
                            if "event: completed" in text:
                                break
                        streams.append(text)

            followers = [threading.Thread(target=follow) for _ in range(3)]
            for thread in followers:
                thread.start()
            deadline = time.monotonic() + 30
            while c.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] < 3:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            first_pid = worker.pid
            os.kill(first_pid, signal.SIGKILL)
            assert c.get("/health").status_code == 200
            job = wait_for(c, job_id, timeout_s=60)
            for thread in followers:
                thread.join(60)
            assert job["status"] == "succeeded", job
            assert job["attempts"] == 2 and len(job["outputs"]) == 1
            assert worker.pid != first_pid and worker.restarts == 1
            assert len(streams) == 3 and all("event: completed" in s for s in streams)
            assert c.get("/health").json()["worker"]["state"] == "ready"
            keys = list(running.services.storage.list_keys(f"results/{job_id}/"))
            assert [k for k, _ in keys] == [f"results/{job_id}/0.png"]
    finally:
        running.stop()


@pytest.mark.parametrize("factory, problem, status", [
    ("failing", "no-person-detected", 422),
    ("out_of_memory", "out-of-memory", 503),
])
def test_a_failing_run_fails_its_job_and_the_worker_goes_on(tmp_path, tiny_checkpoint, factory,
                                                            problem, status):
    running = start_server(make_settings(tmp_path, tiny_checkpoint,
                                         engine_factory=f"tests.service.fakes:{factory}"))
    try:
        running.wait_ready()
        with running.client() as c:
            for _ in range(2):
                job = c.post("/v1/tryon", files=tryon_files(),
                             headers={"Prefer": "wait=30"}).json()
                assert job["status"] == "failed", job
                assert job["error"]["type"] == f"urn:vto:problem:{problem}"
                assert job["error"]["status"] == status
            assert running.services.worker.restarts == 0
    finally:
        running.stop()


def test_a_worker_that_always_crashes_fails_the_job_as_worker_lost(tmp_path, tiny_checkpoint):
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_attempts=2,
                                         engine_factory="tests.service.fakes:crashing"))
    try:
        running.wait_ready()
        with running.client() as c:
            job_id = c.post("/v1/tryon", files=tryon_files()).json()["id"]
            job = wait_for(c, job_id, timeout_s=60)
            assert job["status"] == "failed" and job["attempts"] == 2
            assert job["error"]["type"] == "urn:vto:problem:worker-lost"
            assert job["error"]["status"] == 503
            assert c.get("/health").status_code == 200
    finally:
        running.stop()


def test_ready_waits_for_the_models(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("VTO_FAKE_LOAD_S", "2")
    running = start_server(make_settings(tmp_path, tiny_checkpoint,
                                         engine_factory="tests.service.fakes:slow_loading"))
    try:
        with running.client() as c:
            r = c.get("/ready")
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
            assert c.get("/health").json()["state"] == "STARTING"
            running.wait_ready(30)
            assert c.get("/health").json()["models_loaded"] is True
    finally:
        running.stop()


def test_queued_compatible_jobs_run_as_one_batch_and_a_cancel_leaves_it(tmp_path,
                                                                        tiny_checkpoint,
                                                                        monkeypatch):
    """Jobs queued behind a running one are claimed together (one claim: one start time) and
    run as one batch; the one cancelled mid-batch ends canceled at once, the others succeed."""
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.05")
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_batch=4))
    try:
        running.wait_ready()
        with running.client() as c:
            first = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "40"}).json()["id"]
            wait_for(c, first, statuses=("running",))
            batch = [c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "40"}).json()["id"]
                     for _ in range(3)]
            for job_id in batch:
                wait_for(c, job_id, statuses=("running",), timeout_s=30)
            assert c.post(f"/v1/jobs/{batch[1]}/cancel").status_code == 202
            done = [wait_for(c, job_id, timeout_s=30) for job_id in batch]
        assert [job["status"] for job in done] == ["succeeded", "canceled", "succeeded"]
        rows = [running.services.table.get(job_id) for job_id in (first, *batch)]
        assert len({row.started_at for row in rows[1:]}) == 1  # claimed in one statement
        assert rows[0].started_at != rows[1].started_at
        assert rows[2].finished_at < min(rows[1].finished_at, rows[3].finished_at)
        assert rows[2].progress_step < 40 and rows[1].progress_step == 40
    finally:
        running.stop()
