"""`vto serve` killed with SIGKILL in the middle of a job (the API process: its worker process
follows it): after a restart the job re-runs and finishes, the queue behind it resumes, and
each output exists exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.conftest import free_port, png, tryon_files, wait_for, wait_ready

from tests.conftest import REPO  # noqa: E402


def launch(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vto", "serve"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stderr_tail(proc: subprocess.Popen) -> str:
    """Reading a live process's stderr would block: only a dead one's is read."""
    return proc.stderr.read().decode()[-3000:] if proc.poll() is not None else "(still running)"


def test_sigkill_mid_job_then_restart_finishes_once(tmp_path, tiny_checkpoint):
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "VTO_CHECKPOINTS": str(tiny_checkpoint.root), "VTO_DATA_DIR": str(data),
           "VTO_PORT": str(port), "VTO_DEVICE": "cpu", "VTO_WIDTH": "96", "VTO_HEIGHT": "128",
           "VTO_PRELOAD_MODELS": "hd", "VTO_LEASE_S": "1.5", "VTO_POLL_S": "0.1",
           "VTO_DEFAULT_STEPS": "2", "VTO_FAKE_STEP_S": "0.2", "PYTHONPATH": str(REPO),
           "VTO_ENGINE_FACTORY": "tests.service.fakes:slow_real"}
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    proc = launch(env)
    try:
        wait_ready(client, proc, lambda: _stderr_tail(proc))
        first = client.post("/v1/tryon", files=tryon_files(), data={"n_steps": "12"}).json()
        second = client.post("/v1/tryon", files=tryon_files(), data={"n_steps": "2"}).json()
        # the real pose detector finds nobody on tiny weights: a clear failure, not a crash
        nomask = client.post("/v1/tryon", files={"person_image": ("p.png", png(), "image/png"),
                                                 "garment_image": ("g.png", png(), "image/png")}
                             ).json()
        deadline = time.monotonic() + 30
        while client.get(f"/v1/jobs/{first['id']}").json()["progress"]["step"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        proc = launch(env)
        wait_ready(client, proc, lambda: _stderr_tail(proc))
        done = wait_for(client, first["id"], timeout_s=60)
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 2 and len(done["outputs"]) == 1
        assert wait_for(client, second["id"], timeout_s=30)["status"] == "succeeded"
        failed = wait_for(client, nomask["id"], timeout_s=30)
        assert failed["status"] == "failed"
        assert failed["error"]["status"] == 422, failed["error"]
        stored = sorted(p.name for p in (data / "storage" / "results" / first["id"]).iterdir())
        assert stored == ["0.png"]
        assert client.get(done["outputs"][0]["url"]).status_code == 200
    finally:
        proc.kill()
        proc.wait(10)
        client.close()
