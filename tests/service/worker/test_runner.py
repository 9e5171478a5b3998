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


def queued_job(table, storage, steps: int, seed: int = 3) -> str:
    job, _ = table.reserve(owner="", request_hash="h", params={
        "model": "ootd-hd", "category": "upper_body", "num_inference_steps": steps,
        "guidance_scale": 2.0, "num_images_per_prompt": 1, "seed": seed, "width": 96,
        "height": 128, "framing": "keep", "person_select": "error"})
    keys = {name: input_key(job.id, name) for name in ("person", "garment", "mask")}
    storage.put(keys["person"], png(), "image/png")
    storage.put(keys["garment"], png(color=(0, 0, 255)), "image/png")
    storage.put(keys["mask"], mask_png(), "image/png")
    table.mark_queued(job.id, keys)
    return job.id


def runner_for(tmp_path, tiny_checkpoint, step_s: float, messages: list,
               max_batch: int = 1) -> JobRunner:
    settings = make_settings(tmp_path, tiny_checkpoint)
    engine = FakeEngine(settings)
    engine.step_s = step_s
    return JobRunner(table=CountingTable(f"sqlite:///{tmp_path / 'jobs.db'}"),
                     storage=MemoryStorage(), engine=engine, name="w-1", lease_s=30,
                     notify=messages.append, max_batch=max_batch)


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


def test_a_cancelled_job_leaves_its_batch_at_once_and_the_others_complete(tmp_path,
                                                                         tiny_checkpoint):
    messages: list = []
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, messages, max_batch=4)
    first, doomed, third = (queued_job(runner.table, runner.storage, steps=20, seed=s)
                            for s in (1, 2, 3))
    sent = []

    def cancel_once() -> None:  # the API's Cancel message, served between steps
        if not sent and sum(isinstance(m, Progress) for m in messages) > 10:
            sent.append(doomed)
            runner.canceled.add(doomed)

    runner.between_steps = cancel_once
    assert runner.run_next() is True
    assert runner.engine.batches == [3]  # one claim, one batch
    jobs = {i: runner.table.get(i) for i in (first, doomed, third)}
    assert jobs[doomed].status is JobStatus.CANCELED and jobs[doomed].outputs == []
    assert jobs[doomed].error["type"] == "urn:vto:problem:canceled"
    assert jobs[doomed].progress_step < 20
    for job_id, seed in ((first, 1), (third, 3)):
        job = jobs[job_id]
        assert job.status is JobStatus.SUCCEEDED and job.progress_step == 20
        assert job.result["seed"] == seed and runner.storage.exists(f"results/{job_id}/0.png")
    # the cancelled job was finished when it left (its completion precedes the others' steps),
    # and announced once; every job got started + completed
    order = [(type(m).__name__, m.job_id) for m in messages]
    left_at = [i for i, m in enumerate(order) if m == ("JobChanged", doomed)][1]
    assert any(m == ("Progress", first) for m in order[left_at:])
    assert not any(m == ("Progress", doomed) for m in order[left_at + 1:])
    assert all(sum(m == ("JobChanged", j) for m in order) == 2 for j in (first, doomed, third))
    assert runner.running_jobs == [] and runner.canceled == set()


def test_only_compatible_jobs_share_a_batch(tmp_path, tiny_checkpoint):
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, [], max_batch=4)
    ids = [queued_job(runner.table, runner.storage, steps=s) for s in (2, 3, 2, 2, 3)]
    while runner.run_next():
        pass
    assert runner.engine.batches == [3, 2]  # the 2-step jobs, then the 3-step ones
    assert all(runner.table.get(i).status is JobStatus.SUCCEEDED for i in ids)


def test_a_job_failing_in_a_batch_fails_alone(tmp_path, tiny_checkpoint):
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, [], max_batch=4)
    ids = [queued_job(runner.table, runner.storage, steps=2) for _ in range(3)]
    runner.storage.delete_prefix(f"inputs/{ids[1]}/")
    runner.run_next()
    assert runner.engine.batches == [2]
    statuses = [runner.table.get(i).status for i in ids]
    assert statuses == [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SUCCEEDED]
    assert runner.table.get(ids[1]).error["status"] == 404


def test_a_failing_batch_call_fails_every_job_of_it(tmp_path, tiny_checkpoint):
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, [], max_batch=4)
    ids = [queued_job(runner.table, runner.storage, steps=2) for _ in range(2)]

    def broken(items):
        raise RuntimeError("the device fell over")

    runner.engine.run_batch = broken
    runner.run_next()
    for job_id in ids:
        job = runner.table.get(job_id)
        assert job.status is JobStatus.FAILED and job.error["status"] == 500


def test_with_max_batch_1_jobs_run_one_by_one(tmp_path, tiny_checkpoint):
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, [], max_batch=1)
    ids = [queued_job(runner.table, runner.storage, steps=2) for _ in range(2)]
    while runner.run_next():
        pass
    assert runner.engine.batches == []
    assert all(runner.table.get(i).status is JobStatus.SUCCEEDED for i in ids)



def test_a_celery_task_takes_the_compatible_jobs_queued_behind_its_own(tmp_path,
                                                                      tiny_checkpoint):
    runner = runner_for(tmp_path, tiny_checkpoint, 0.0, [], max_batch=3)
    ids = [queued_job(runner.table, runner.storage, steps=s) for s in (2, 2, 3, 2, 2)]
    runner.run_job(ids[1])
    assert runner.engine.batches == [3]  # its own job and the two oldest compatible ones
    done = [runner.table.get(i).status for i in ids]
    assert done == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED, JobStatus.QUEUED,
                    JobStatus.SUCCEEDED, JobStatus.QUEUED]
    runner.run_job(ids[0])  # a later task for a job that already ran: nothing to do
    assert runner.engine.batches == [3]
