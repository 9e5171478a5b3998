"""The reliability suite: the service under concurrency, load, slow clients and process kills,
on loopback only, bounded in count and time. Every test here is marked ``reliability``
(``pytest -m reliability`` runs the suite alone; ``make test`` / ``.ci/run`` run it with the
rest) and adds a row to the summary table printed at the end of the run.

Servers run as `vto serve` subprocesses (their memory and file descriptors are their own) or in
process (``tests.service.conftest.start_server``) where a test reaches into the services. Every
engine is a fake (tests/service/fakes.py); no request leaves 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.reliability.summary import SUMMARY, Row
from tests.service.conftest import free_port

HERE = Path(__file__).resolve().parent
TERMINAL = ("succeeded", "failed", "canceled")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARY.rows:
        return
    terminalreporter.section("reliability summary")
    for line in SUMMARY.table():
        terminalreporter.write_line(line)


@pytest.fixture()
def summary_row(request: Any) -> Row:
    """This test's row of the summary table (named by the test)."""
    name = request.node.name.removeprefix("test_").replace("_", " ")
    return SUMMARY.row(name)


# --- `vto serve` as a subprocess --------------------------------------------------------------

def proc_status(pid: int, field: str) -> int:
    """A kB figure of /proc/<pid>/status (VmRSS: now, VmHWM: peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class ServeProcess:
    """`python -m vto serve` on a free loopback port with a fake engine; settings as
    ``VTO_<NAME>`` environment variables."""

    def __init__(self, tmp_path: Path, checkpoint: Path, **settings: Any) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.data = tmp_path / "data"
        self.log = tmp_path / "serve.log"
        values: dict[str, Any] = dict(checkpoints=checkpoint, data_dir=self.data, port=self.port,
                                      host="127.0.0.1", device="cpu", width=96, height=128,
                                      preload_models="hd", default_steps=2, poll_s=0.1,
                                      engine_factory="tests.service.fakes:fake")
        values.update(settings)
        self.env = {**os.environ, "PYTHONPATH": str(REPO),
                    **{f"VTO_{k.upper()}": str(v) for k, v in values.items()}}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "vto", "serve"], cwd=REPO,
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def client(self, row: Row | None = None, **kw: Any) -> httpx.Client:
        hooks = {"response": [row.hook]} if row is not None else {}
        return httpx.Client(base_url=self.url, timeout=120, event_hooks=hooks, **kw)

    def wait_ready(self, timeout_s: float = 120, path: str = "/ready") -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.url, timeout=10) as c:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.tail()
                try:
                    if c.get(path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise AssertionError("vto serve not ready\n" + self.tail())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture()
def serve(tmp_path: Path, tiny_checkpoint: Any) -> Any:
    """A factory of `vto serve` subprocesses, all stopped at the end of the test."""
    started: list[ServeProcess] = []

    def start(**settings: Any) -> ServeProcess:
        server = ServeProcess(tmp_path / f"serve-{len(started)}", tiny_checkpoint.root, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- jobs: finished, lost, duplicated ---------------------------------------------------------

def settle(client: httpx.Client, job_ids: list[str], results_dir: Path | None, *,
           timeout_s: float = 120, attempts: int = 1, outputs: int = 1) -> dict[str, int]:
    """Wait for every job to finish; count the completed, the lost (not finished in time, or
    failed because no worker could run it) and the duplicated (more attempts than expected, or
    outputs listed or stored more than once)."""
    pending = set(job_ids)
    jobs: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for job_id in sorted(pending):
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job.get("status") in TERMINAL:
                jobs[job_id] = job
                pending.discard(job_id)
        if pending:
            time.sleep(0.2)
    completed = sum(1 for j in jobs.values() if j["status"] == "succeeded")
    lost = len(pending) + sum(1 for j in jobs.values() if j["status"] != "succeeded")
    duplicated = 0
    for job_id, job in jobs.items():
        indexes = [o["index"] for o in job["outputs"]]
        stored = (sorted(p.name for p in (results_dir / job_id).iterdir())
                  if results_dir is not None and (results_dir / job_id).is_dir() else None)
        expected_files = [f"{i}.png" for i in range(outputs)]
        if (job["attempts"] > attempts or len(indexes) != len(set(indexes))
                or (job["status"] == "succeeded" and len(indexes) != outputs)
                or (stored is not None and job["status"] == "succeeded"
                    and stored != expected_files)):
            duplicated += 1
    return {"accepted": len(job_ids), "completed": completed, "lost": lost,
            "duplicated": duplicated}
