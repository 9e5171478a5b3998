"""Both JobQueue adapters run the same job through the same Worker: the embedded thread and
Celery on the local Redis (a dedicated db and key prefix, cleaned up)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.service.conftest import make_settings, mask_png, png
from vto.service.jobs import JobStatus, JobStore, input_key
from vto.service.queue import CeleryQueue, EmbeddedQueue, make_celery
from vto.service.storage import LocalStorage
from vto.service.worker import Worker

REDIS_DB = 13


def _redis():
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    return client


@pytest.fixture(params=["embedded", "celery"])
def adapter(request, tmp_path, tiny_checkpoint, tiny_engine):
    settings = make_settings(tmp_path, tiny_checkpoint, queue=request.param,
                             broker_url=f"redis://127.0.0.1:6379/{REDIS_DB}",
                             celery_queue=f"vto-test-{uuid.uuid4().hex[:6]}")
    settings.data_dir.mkdir(parents=True)
    store = JobStore(settings.db_url, lease_s=settings.lease_s)
    storage = LocalStorage(settings.storage_dir)
    worker = Worker(settings=settings, store=store, storage=storage, engine=tiny_engine)
    if request.param == "embedded":
        queue = EmbeddedQueue()
        worker.start(queue)
        yield store, storage, queue
        worker.stop()
    else:
        from celery.contrib.testing.worker import start_worker

        redis_client = _redis()
        prefix = f"vtotest-{uuid.uuid4().hex[:6]}:"
        app = make_celery(settings, run_job=worker.run_job)
        app.conf.broker_transport_options = {**app.conf.broker_transport_options,
                                             "global_keyprefix": prefix}
        with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False,
                          queues=[settings.celery_queue], shutdown_timeout=10):
            yield store, storage, CeleryQueue(settings, app)
        for key in redis_client.scan_iter(f"{prefix}*"):
            redis_client.delete(key)
        redis_client.close()
    store.close()


def test_adapter_runs_a_queued_job_once(adapter):
    store, storage, queue = adapter
    job, _ = store.reserve(owner="", request_hash="h",
                           params={"model_type": "hd", "category": "upper_body", "n_samples": 1,
                                   "n_steps": 2, "guidance_scale": 2.0, "seed": 3,
                                   "framing": "keep"})
    inputs = {name: input_key(job.id, name) for name in ("person", "garment", "mask")}
    storage.put(inputs["person"], png(), "image/png")
    storage.put(inputs["garment"], png(color=(0, 0, 255)), "image/png")
    storage.put(inputs["mask"], mask_png(), "image/png")
    store.mark_queued(job.id, inputs)
    queue.submit(job.id)
    queue.submit(job.id)  # a duplicate wake-up / redelivery must not run it twice
    deadline = time.monotonic() + 60
    while not (current := store.get(job.id)).status.is_terminal:
        assert time.monotonic() < deadline, current
        time.sleep(0.05)
    assert current.status is JobStatus.SUCCEEDED, current.error
    assert current.attempts == 1 and current.result["seed"] == 3
    assert [k for k, _ in storage.list_keys(f"results/{job.id}/")] == [f"results/{job.id}/0.png"]
