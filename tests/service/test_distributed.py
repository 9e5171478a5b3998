"""The distributed engine end to end: `vto serve --queue celery` on PostgreSQL and separate
`vto worker` processes on the local Redis, all on the tiny checkpoint.

A job submitted over HTTP (with a user mask: the real pose detector finds nobody on tiny
weights) succeeds; then a worker is killed with SIGKILL in the middle of a job, a new worker
starts, and the job is re-run (lease recovery re-sends it) and finishes with its output stored
exactly once. /metrics is computed from the job table, and the API's Prometheus job metrics are
fed from it, so the workers' jobs show up in both.

Isolation: a database of its own (created and dropped here), a dedicated Redis db and a unique
Celery queue name whose keys are removed afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.postgres import fresh_database

from tests.service.conftest import free_port, tryon_files, wait_ready

from tests.conftest import REPO  # noqa: E402
REDIS_DB = 11


@pytest.fixture()
def database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped afterwards)."""
    with fresh_database("vto_e2e") as (url, _):
        yield url


@pytest.fixture()
def celery_queue() -> Iterator[str]:
    """A unique queue name on a dedicated Redis db; its keys and unacked messages are removed."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    queue = f"vto-e2e-{uuid.uuid4().hex[:8]}"
    try:
        yield queue
    finally:
        for key in client.scan_iter(f"*{queue}*"):
            client.delete(key)
        # A killed worker's message stays in kombu's unacked hash until the visibility timeout.
        for tag, payload in client.hgetall("unacked").items():
            if queue.encode() in payload:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        client.close()


class Processes:
    """`vto serve` and `vto worker` subprocesses sharing one environment."""

    def __init__(self, tmp_path: Path, checkpoint: Path, database_url: str, queue: str) -> None:
        self.port = free_port()
        self.data = tmp_path / "data"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        broker = f"redis://127.0.0.1:6379/{REDIS_DB}"
        self.common = ["--checkpoints", str(checkpoint), "--data-dir", str(self.data),
                       "--device", "cpu", "--size", "96x128", "--database-url", database_url,
                       "--broker-url", broker]
        self.env = {**os.environ, "VTO_CELERY_QUEUE": queue, "VTO_LEASE_S": "2",
                    "VTO_POLL_S": "0.1", "VTO_PRELOAD_MODELS": "hd", "VTO_DEFAULT_STEPS": "2",
                    "PYTHONPATH": str(REPO), "VTO_FAKE_STEP_S": "0.1",
                    "VTO_ENGINE_FACTORY": "tests.service.fakes:slow_real"}
        self.procs: list[subprocess.Popen] = []
        self.alive: list[subprocess.Popen] = []  # the processes expected to be running

    def start(self, command: str, *extra: str) -> subprocess.Popen:
        log = open(self.logs / f"{command}-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "vto", command, *self.common, *extra],
                                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        self.alive.append(proc)
        return proc

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                         for p in sorted(self.logs.iterdir()))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_job(client: httpx.Client, job_id: str, procs: Processes, timeout_s: float = 120,
             statuses: tuple[str, ...] = ("succeeded", "failed", "canceled")) -> dict:
    """Poll the job until it reaches ``statuses``; fail early (with the logs) if a process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs.alive), procs.tail()
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}\n{procs.tail()}")


def prometheus(client: httpx.Client) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics/prometheus").text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def wait_finished_total(client: httpx.Client, n: int, timeout_s: float = 10) -> dict:
    """The API's Prometheus view once it counted ``n`` succeeded jobs (its housekeeper reads
    the table about once a second)."""
    key = ("vto_jobs_finished_total", (("status", "succeeded"),))
    deadline = time.monotonic() + timeout_s
    while (samples := prometheus(client)).get(key, 0) < n:
        assert time.monotonic() < deadline, samples.get(key)
        time.sleep(0.2)
    assert samples[key] == n
    return samples


def test_celery_worker_runs_jobs_and_a_killed_worker_s_job_reruns_once(
        tmp_path, tiny_checkpoint, database, celery_queue):
    procs = Processes(tmp_path, tiny_checkpoint.root, database, celery_queue)
    client = httpx.Client(base_url=f"http://127.0.0.1:{procs.port}", timeout=30)
    try:
        procs.start("serve", "--queue", "celery", "--port", str(procs.port))
        wait_ready(client, procs.procs[0], procs.tail, timeout_s=60)
        worker = procs.start("worker")

        started = time.monotonic()
        r = client.post("/v1/tryon", files=tryon_files(), data={"n_steps": "2", "seed": "5"})
        assert r.status_code == 202, r.text
        first = wait_job(client, r.json()["id"], procs)
        assert first["status"] == "succeeded", (first, procs.tail())
        assert first["attempts"] == 1 and first["seed"] == 5 and len(first["outputs"]) == 1
        assert client.get(first["outputs"][0]["url"]).status_code == 200
        print(f"first job (worker start + 2 steps): {time.monotonic() - started:.1f} s")

        # The worker's own Metrics object lives in another process: /metrics reads the table.
        seed = client.get("/metrics").json()
        assert seed["recent_performance"]["count"] == 1, seed
        assert seed["category_averages"]["upper_body"] > 0
        assert seed["metrics"]["success_count"] == 1 and seed["jobs"]["succeeded"] == 1
        samples = wait_finished_total(client, 1)
        labels = (("category", "upper_body"), ("model", "ootd-hd"))
        assert samples[("vto_job_seconds_count", labels)] == 1

        slow = client.post("/v1/tryon", files=tryon_files(), data={"n_steps": "12"}).json()
        deadline = time.monotonic() + 60
        while (job := client.get(f"/v1/jobs/{slow['id']}").json())["progress"]["step"] < 2:
            assert job["status"] in ("queued", "running"), job
            assert time.monotonic() < deadline, procs.tail()
            time.sleep(0.05)
        procs.alive.remove(worker)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed_at = time.monotonic()
        # The lease (2 s) expires; the API's housekeeper puts the job back in the queue.
        requeued = wait_job(client, slow["id"], procs, timeout_s=20, statuses=("queued",))
        assert requeued["attempts"] == 1 and requeued["progress"]["step"] == 0

        procs.start("worker")
        done = wait_job(client, slow["id"], procs)
        print(f"killed worker -> job re-run and done: {time.monotonic() - killed_at:.1f} s")
        assert done["status"] == "succeeded", (done, procs.tail())
        assert done["attempts"] == 2 and len(done["outputs"]) == 1
        assert done["progress"] == {"step": 12, "total": 12, "fraction": 1.0}
        stored = sorted(p.name for p in (procs.data / "storage" / "results" / slow["id"]).iterdir())
        assert stored == ["0.png"]
        assert client.get(done["outputs"][0]["url"]).status_code == 200
        seed = client.get("/metrics").json()
        assert seed["recent_performance"]["count"] == 2 and seed["jobs"]["succeeded"] == 2
        samples = wait_finished_total(client, 2)  # the killed attempt is not a finished job
        assert samples[("vto_jobs_running", ())] == 0
    finally:
        procs.stop_all()
        client.close()
