"""The job table on SQLite and PostgreSQL: atomic claims, leases, recovery, guarded finish, the
queue bound under concurrency, database outages as 503s."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from vto.service.job_table import JobTable
from vto.service.jobs import JobStatus, LeaseLost, output_key

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_available() -> bool:
    try:
        with create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://")).connect():
            return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = JobTable(f"sqlite:///{tmp_path / 'jobs.db'}", lease_s=0.3, max_attempts=2)
        yield s
        s.close()
        return
    if not _postgres_available():
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    schema = f"t_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg2://"))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    s = JobTable(f"{PG_URL}?options=-csearch_path%3D{schema}", lease_s=0.3, max_attempts=2)
    yield s
    s.close()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def queued(store: JobTable, n: int = 1, **kw) -> list[str]:
    ids = []
    for i in range(n):
        job, created = store.reserve(owner="", params={"i": i}, request_hash="h", **kw)
        assert created
        store.mark_queued(job.id, {"person": "p"})
        ids.append(job.id)
    return ids


def test_status_terminality():
    assert [s.value for s in JobStatus if s.is_terminal] == ["succeeded", "failed", "canceled"]


def test_concurrent_claims_never_share_a_job(store):
    ids = queued(store, 40)
    claimed: list[str] = []

    def worker(n: int) -> None:
        while (job := store.claim(f"w{n}")) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
    assert store.counts()["running"] == 40


def test_claims_oldest_first_and_queue_positions(store):
    ids = queued(store, 3)
    assert [store.queue_position(store.get(i)) for i in ids] == [1, 2, 3]
    assert store.claim("w").id == ids[0]
    assert store.queue_position(store.get(ids[1])) == 1


def test_only_the_lease_owner_heartbeats_and_finishes(store):
    (job_id,) = queued(store)
    job = store.claim("w1")
    assert store.heartbeat(job_id, "w1", step=1, total=4) is False
    assert store.get(job_id).progress_step == 1
    with pytest.raises(LeaseLost):
        store.heartbeat(job_id, "intruder")
    assert store.finish(job_id, "intruder", JobStatus.SUCCEEDED) is None
    done = store.finish(job_id, "w1", JobStatus.SUCCEEDED,
                        outputs=[{"index": 0, "key": output_key(job_id, 0)}])
    assert done.status is JobStatus.SUCCEEDED and done.version > job.version
    assert store.finish(job_id, "w1", JobStatus.FAILED) is None  # terminal stays terminal


def test_expired_lease_requeues_then_fails_worker_lost(store):
    (job_id,) = queued(store)
    store.claim("dead-1")
    time.sleep(0.4)
    assert store.recover() == ([job_id], [])
    assert store.get(job_id).status is JobStatus.QUEUED
    store.claim("dead-2")
    with pytest.raises(LeaseLost):  # the old owner cannot come back after a re-claim
        store.heartbeat(job_id, "dead-1")
    time.sleep(0.4)
    assert store.recover() == ([], [job_id])
    failed = store.get(job_id)
    assert failed.status is JobStatus.FAILED
    assert failed.error["type"] == "urn:vto:problem:worker-lost" and failed.error["status"] == 503
    assert failed.attempts == 2


def test_cancel_queued_at_once_running_by_flag(store):
    a, b = queued(store, 2)
    store.claim("w")
    assert store.request_cancel(b).status is JobStatus.CANCELED
    running = store.request_cancel(a)
    assert running.status is JobStatus.RUNNING and running.cancel_requested
    assert store.heartbeat(a, "w", step=1) is True
    assert store.request_cancel("0" * 32) is None


def test_idempotency_key_reserves_once_per_owner(store):
    job, created = store.reserve(owner="alice", params={}, request_hash="h1",
                                 idempotency_key="k")
    again, created_again = store.reserve(owner="alice", params={}, request_hash="h2",
                                         idempotency_key="k")
    assert created and not created_again and again.id == job.id
    assert again.status is JobStatus.ACCEPTING and again.request_hash == "h1"
    other, created_other = store.reserve(owner="bob", params={}, request_hash="h1",
                                         idempotency_key="k")
    assert created_other and other.id != job.id
    store.abandon(job.id)
    assert store.get(job.id) is None


def batch_params(model="ootd-hd", steps=20, width=768, **kw) -> dict:
    return {"model": model, "width": width, "height": 1024, "num_inference_steps": steps,
            "seed": 1, **kw}


def queued_with(store: JobTable, *params: dict) -> list[str]:
    ids = []
    for p in params:
        job, _ = store.reserve(owner="", params=p, request_hash="h")
        store.mark_queued(job.id, {"person": "p"})
        ids.append(job.id)
    return ids


def test_claim_batch_takes_the_oldest_job_and_only_compatible_ones(store):
    ids = queued_with(store, batch_params(), batch_params(model="ootd-dc"),
                      batch_params(seed=7, guidance_scale=3.0), batch_params(steps=30),
                      batch_params(width=384), batch_params(num_images_per_prompt=4),
                      batch_params())
    batch = store.claim_batch("w", 3)
    assert [j.id for j in batch] == [ids[0], ids[2], ids[5]]  # any seed, guidance, samples
    assert all(j.status is JobStatus.RUNNING and j.lease_owner == "w" and j.attempts == 1
               for j in batch)
    assert [j.id for j in store.claim_batch("w", 3)] == [ids[1]]  # now the oldest: dc alone
    assert [j.id for j in store.claim_batch("w", 3)] == [ids[3]]
    assert [j.id for j in store.claim_batch("w", 3)] == [ids[4]]
    assert [j.id for j in store.claim_batch("w", 3)] == [ids[6]]
    assert store.claim_batch("w", 3) == []


def test_claim_batch_extends_a_job_already_held(store):
    ids = queued_with(store, batch_params(), batch_params(steps=4), batch_params(),
                      batch_params())
    first = store.claim("w")
    assert first.id == ids[0]
    more = store.claim_batch("w", 1, compatible_with=first)
    assert [j.id for j in more] == [ids[2]]
    assert store.claim_batch("w", 5, compatible_with=first)[0].id == ids[3]
    assert store.get(ids[1]).status is JobStatus.QUEUED


def test_models_without_steps_batch_together(store):
    ids = queued_with(store, batch_params(model="cp-vton-plus", steps=None),
                      batch_params(model="cp-vton-plus", steps=None), batch_params())
    assert [j.id for j in store.claim_batch("w", 4)] == ids[:2]


def test_concurrent_batch_claims_never_share_a_job(store):
    ids = queued_with(store, *[batch_params(steps=10 + i % 2) for i in range(30)])
    batches: list[list] = []

    def worker(n: int) -> None:
        while batch := store.claim_batch(f"w{n}", 4):
            batches.append(batch)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [j.id for batch in batches for j in batch]
    assert sorted(claimed) == sorted(ids)  # each exactly once
    assert all(len(b) <= 4 and len({j.params["num_inference_steps"] for j in b}) == 1
               for b in batches)
    assert store.counts()["running"] == 30


def test_claim_id_is_idempotent_for_redelivered_tasks(store):
    (job_id,) = queued(store)
    assert store.claim_id(job_id, "w1") is not None
    assert store.claim_id(job_id, "w2") is None


def test_retention_lists_old_finished_jobs(store):
    (job_id,) = queued(store)
    store.claim("w")
    store.finish(job_id, "w", JobStatus.SUCCEEDED)
    assert [j.id for j in store.expired(finished_before=time.time() + 1,
                                        accepting_before=0)] == [job_id]
    assert list(store.expired(finished_before=time.time() - 60, accepting_before=0)) == []


def test_success_times_and_table_metrics(store):
    from vto.service.metrics import table_times

    runs = [("upper_body", JobStatus.SUCCEEDED, 3.0), ("dress", JobStatus.SUCCEEDED, 5.0),
            ("upper_body", JobStatus.FAILED, 0.1), ("upper_body", JobStatus.SUCCEEDED, 7.0),
            ("lower_body", JobStatus.CANCELED, 0.2)]
    for category, status, seconds in runs:
        job, _ = store.reserve(owner="", params={"category": category}, request_hash="h")
        store.mark_queued(job.id, {})
        assert store.claim_id(job.id, "w") is not None
        store.finish(job.id, "w", status, result={"inference_seconds": seconds, "seed": 1})
        time.sleep(0.002)  # distinct finished_at: the order is by finish time
    assert store.success_times() == [3.0, 5.0, 7.0]
    assert store.success_times("upper_body") == [3.0, 7.0]
    assert store.success_times(limit=2) == [5.0, 7.0]
    assert store.success_times("lower_body") == []
    times = table_times(store)
    assert (times.succeeded, times.failed) == (3, 1)
    assert times.average() == pytest.approx(5.0)
    assert times.category_average("upperbody") == pytest.approx(5.0)
    assert times.recent_performance(2) == {"count": 2, "average": 6.0, "min": 5.0, "max": 7.0}


def test_the_queue_bound_holds_under_concurrent_submissions(store):
    """N submissions at once, room for 8: exactly 8 reservations, the rest QueueFull."""
    from vto.service.jobs import QueueFull

    created, refused, errors = [], [], []

    def submit(i: int) -> None:
        try:
            job, _ = store.reserve(owner="", params={"i": i}, request_hash="h", queue_max=8)
            created.append(job.id)
        except QueueFull:
            refused.append(i)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(created) == 8 and len(refused) == 32


def test_an_unreachable_database_is_unavailable_not_a_crash():
    from vto.errors import Unavailable

    with pytest.raises(Unavailable) as info:
        JobTable("postgresql://postgres@127.0.0.1:9/none")
    assert info.value.status == 503 and info.value.retry_after_s >= 1
