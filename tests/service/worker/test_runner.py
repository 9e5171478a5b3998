"""The job runner: progress reaches listeners every step but the table at most twice a second;
cancel at the next step; stored errors are problem documents."""

from __future__ import annotations

import time

from tests.service.conftest import make_settings, mask_png, png
from tests.service.fakes import FakeEngine
from vto.service.job_table import JobTable
from vto.service.jobs import JobStatus, input_key
from vto.service.storage import MemoryStorage
from vto.service.worker.messages import JobChanged, Progress
from vto.service.worker.runner import JobRunner


class CountingTable(JobTable):
    progress_writes = 0

    def heartbeat(self, job_id, worker, *, step=None, total=None):
        if step is not None:
            CountingTable.progress_writes += 1
        return super().heartbeat(job_id, worker, step=step, total=total)


def queued_job(table, storage, steps: int) -> str:
    job, _ = table.reserve(owner="", request_hash="h", params={
        "model": "ootd-hd", "category": "upper_body", "num_inference_steps": steps,
        "guidance_scale": 2.0, "num_images_per_prompt": 1, "seed": 3, "width": 96,
        "height": 128, "framing": "keep", "person_select": "error"})
    keys = {name: input_key(job.id, name) for name in ("person", "garment", "mask")}
    storage.put(keys["person"], png(), "image/png")
    storage.put(keys["garment"], png(color=(0, 0, 255)), "image/png")
    storage.put(keys["mask"], mask_png(), "image/png")
    table.mark_queued(job.id, keys)
    return job.id


def runner_for(tmp_path, tiny_checkpoint, step_s: float, messages: list) -> JobRunner:
    settings = make_settings(tmp_path, tiny_checkpoint)
    engine = FakeEngine(settings)
    engine.step_s = step_s
    return JobRunner(table=CountingTable(f"sqlite:///{tmp_path / 'jobs.db'}"),
                     storage=MemoryStorage(), engine=engine, name="w-1", lease_s=30,
                     notify=messages.append)


def test_every_step_is_announced_but_the_table_is_written_at_a_bounded_rate(tmp_path,
                                                                             tiny_checkpoint):
    messages: list = []
    runner = runner_for(tmp_path, tiny_checkpoint, 0.02, messages)
    job_id = queued_job(runner.table, runner.storage, steps=60)
    CountingTable.progress_writes = 0
    started = time.monotonic()
    assert runner.run_next() is True
    seconds = time.monotonic() - started
    progress = [m.step for m in messages if isinstance(m, Progress)]
    assert progress == list(range(1, 61))
    assert sum(isinstance(m, JobChanged) for m in messages) == 2  # started, finished
    # the first write (step 0) + at most 2 a second + the last step
    assert CountingTable.progress_writes <= 2 + 2 * seconds + 1, (CountingTable.progress_writes,
                                                                  seconds)
    job = runner.table.get(job_id)
    assert job.status is JobStatus.SUCCEEDED and job.progress_step == 60
    assert runner.storage.exists(f"results/{job_id}/0.png")


def test_a_cancel_over_the_pipe_stops_at_the_next_step(tmp_path, tiny_checkpoint):
    messages: list = []
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, messages)
    job_id = queued_job(runner.table, runner.storage, steps=50)
    runner.between_steps = lambda: runner.canceled.add(job_id) if len(messages) > 5 else None
    runner.run_next()
    job = runner.table.get(job_id)
    assert job.status is JobStatus.CANCELED and job.progress_step < 50
    assert job.error["type"] == "urn:vto:problem:canceled" and job.outputs == []


def test_lost_inputs_fail_the_job_with_a_problem(tmp_path, tiny_checkpoint):
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, [])
    job_id = queued_job(runner.table, runner.storage, steps=2)
    runner.storage.delete_prefix(f"inputs/{job_id}/")
    runner.run_next()
    job = runner.table.get(job_id)
    assert job.status is JobStatus.FAILED and job.error["status"] == 404
    assert "expired" in job.error["detail"]


