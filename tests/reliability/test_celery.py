"""Celery mode under failure: `vto serve --queue celery` and `vto worker` processes on a Redis
of the test's own (a redis-server on a free loopback port; the shared one is never touched).

* a worker killed with SIGKILL mid-job: its job is re-queued (lease) and runs once more in a new
  worker;
* Redis restarted (nothing saved: every queued message is lost) with jobs published before and
  submitted during the outage: /ready says 503 meanwhile, the API re-publishes what the new
  broker lacks, and every job finishes exactly once — nothing stranded.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.reliability.conftest import settle
from tests.service.conftest import free_port, tryon_files


class RedisServer:
    """redis-server on 127.0.0.1:``port``, no persistence; start/kill at will."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.ping():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "vto", "worker"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def wait_status(client, path: str, status: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get(path).status_code != status:
        assert time.monotonic() < deadline, (path, status)
        time.sleep(0.1)


def test_celery_worker_kill_and_redis_restart_strand_nothing(serve, tmp_path, monkeypatch,
                                                             summary_row):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    pytest.importorskip("celery")
    redis = RedisServer(free_port(), tmp_path / "redis.log")
    redis.start()
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.2")
    workers: list[subprocess.Popen] = []
    api = serve(queue="celery", broker_url=f"redis://127.0.0.1:{redis.port}/0", lease_s=2,
                celery_queue="vto-reliability")
    try:
        api.wait_ready(path="/ready")
        env = api.env
        worker_log = tmp_path / "workers.log"
        workers.append(start_worker(env, worker_log))
        results = api.data / "storage" / "results"
        with api.client(summary_row) as c:
            def submit(**data: str) -> str:
                r = c.post("/v1/tryon", files=tryon_files(), data=data)
                assert r.status_code == 202, r.text
                return r.json()["id"]

            first = [submit(seed=str(n)) for n in range(3)]
            counts = [settle(c, first, results, timeout_s=120)]
            assert counts[0]["completed"] == 3, worker_log.read_text()[-3000:]

            # a worker killed mid-job
            slow = submit(n_steps="15")
            deadline = time.monotonic() + 60
            while c.get(f"/v1/jobs/{slow}").json()["progress"]["step"] < 2:
                assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
                time.sleep(0.05)
            workers[-1].send_signal(signal.SIGKILL)
            workers[-1].wait(10)
            workers.append(start_worker(env, worker_log))
            counts.append(settle(c, [slow], results, timeout_s=120, attempts=2))

            # Redis restarted: messages published before are lost, publishes during fail
            workers[-1].terminate()
            workers[-1].wait(30)
            published = [submit(seed=str(n)) for n in range(10, 12)]
            redis.kill()
            wait_status(c, "/ready", 503)
            during = [submit(seed=str(n)) for n in range(20, 22)]
            assert c.get("/ready").status_code == 503
            redis.start()
            workers.append(start_worker(env, worker_log))
            counts.append(settle(c, published + during, results, timeout_s=180))
            wait_status(c, "/ready", 200)
        total = {k: sum(n[k] for n in counts) for k in counts[0]}
        summary_row.jobs(**total)
        assert total == {"accepted": 8, "completed": 8, "lost": 0, "duplicated": 0}, (
            total, api.tail(), worker_log.read_text()[-3000:])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        api.stop()
        redis.kill()
