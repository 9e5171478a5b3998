"""kill -9 of the embedded worker process in the middle of a job, five times: the API stays up,
each killed job runs again in the restarted worker and finishes with its outputs stored
exactly once."""

from __future__ import annotations

import os
import signal
import time

from tests.reliability.conftest import settle
from tests.service.conftest import make_settings, start_server, tryon_files

TRIALS = 5


def test_kill_9_of_the_worker_mid_job_5_times(tmp_path, tiny_checkpoint, monkeypatch,
                                             summary_row):
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.1")
    running = start_server(make_settings(tmp_path, tiny_checkpoint, max_attempts=3))
    try:
        running.wait_ready()
        worker = running.services.worker
        killed: list[str] = []
        with running.client(event_hooks={"response": [summary_row.hook]}) as c:
            for trial in range(TRIALS):
                job_id = c.post("/v1/tryon", files=tryon_files(),
                                data={"n_steps": "20", "n_samples": "2",
                                      "seed": str(trial)}).json()["id"]
                deadline = time.monotonic() + 60
                while c.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] < 3:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                pid = worker.pid
                os.kill(pid, signal.SIGKILL)
                killed.append(job_id)
                assert c.get("/health").status_code == 200
                deadline = time.monotonic() + 60
                while worker.pid == pid or not worker.ready:  # restarted before the next kill
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            counts = settle(c, killed, running.services.settings.storage_dir / "results",
                            timeout_s=120, attempts=2, outputs=2)
        summary_row.jobs(**counts)
        assert counts == {"accepted": TRIALS, "completed": TRIALS, "lost": 0, "duplicated": 0}
        assert worker.restarts == TRIALS
    finally:
        running.stop()
