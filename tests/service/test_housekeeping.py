"""Housekeeping: retention through the running app, Prometheus job metrics from the table
(each finished job once), and re-publishing what the broker may have lost."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import make_settings, start_server, tryon_files, wait_for
from vto.errors import Unavailable
from vto.service.housekeeping import Housekeeper
from vto.service.jobs import JobStatus
from vto.service.storage import LocalStorage
from vto.service.wiring import build_services


def test_retention_deletes_expired_jobs_and_keeps_live_ones(tmp_path, tiny_checkpoint,
                                                            monkeypatch):
    """A finished job past the retention is gone (404, no stored inputs or results); a job
    still queued keeps its inputs however old they get."""
    monkeypatch.setenv("VTO_FAKE_STEP_S", "0.25")
    retention = 3
    running = start_server(make_settings(tmp_path, tiny_checkpoint, result_retention_s=retention,
                                         janitor_interval_s=0.2))
    storage = LocalStorage(tmp_path / "data" / "storage")
    try:
        running.wait_ready()
        with running.client() as c:
            old = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"},
                         headers={"Prefer": "wait=30"}).json()
            assert old["status"] == "succeeded", old
            assert storage.exists(f"results/{old['id']}/0.png")
            assert storage.exists(f"inputs/{old['id']}/person.png")
            blocker = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "24"}).json()
            waiting = c.post("/v1/tryon", files=tryon_files(), data={"n_steps": "1"}).json()
            assert waiting["status"] == "queued"
            deadline = time.monotonic() + retention + 15
            while c.get(f"/v1/jobs/{old['id']}").status_code != 404:
                assert time.monotonic() < deadline, "the expired job was never removed"
                time.sleep(0.1)
            assert not list(storage.list_keys(f"results/{old['id']}/"))
            assert not list(storage.list_keys(f"inputs/{old['id']}/"))
            assert c.get(f"/v1/jobs/{old['id']}/outputs/0").status_code == 404
            assert c.get(f"/result/{old['id']}_0.png").status_code == 404
            assert c.get(f"/v1/jobs/{waiting['id']}").json()["status"] == "queued"
            done = wait_for(c, waiting["id"], timeout_s=60)
            assert done["status"] == "succeeded", done
            assert time.time() - running.services.table.get(waiting["id"]).created_at > retention
            assert c.get(done["outputs"][0]["url"]).status_code == 200
            assert wait_for(c, blocker["id"])["status"] == "succeeded"
    finally:
        running.stop()


def _finish(table, status: JobStatus, **kw) -> str:
    job, _ = table.reserve(owner="", request_hash="h",
                           params={"category": "dress", "model": "ootd-dc"})
    table.mark_queued(job.id, {})
    table.claim_id(job.id, "w")
    table.finish(job.id, "w", status, **kw)
    return job.id


def test_job_metrics_come_from_the_table_each_job_once(tmp_path, tiny_checkpoint):
    services = build_services(make_settings(tmp_path, tiny_checkpoint, queue="celery"))
    table = services.table
    try:
        _finish(table, JobStatus.SUCCEEDED, result={"inference_seconds": 2.0})  # before start
        housekeeper = Housekeeper(services)
        housekeeper.start()
        housekeeper.stop()
        _finish(table, JobStatus.SUCCEEDED, result={"inference_seconds": 4.0})
        _finish(table, JobStatus.FAILED, error={"type": "urn:vto:problem:no-person-detected"})
        _finish(table, JobStatus.CANCELED)
        housekeeper.observe_finished()
        housekeeper.observe_finished()
        body, _ = services.metrics.render_prometheus()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(body.decode())
                   for s in family.samples}
        assert samples[("vto_jobs_finished_total", (("status", "succeeded"),))] == 1
        assert samples[("vto_jobs_finished_total", (("status", "failed"),))] == 1
        assert samples[("vto_job_failures_total", (("reason", "no-person-detected"),))] == 1
        assert samples[("vto_job_seconds_sum", (("category", "dress"), ("model", "ootd-dc")))] == 4
    finally:
        services.stop()


class FlakyBroker:
    """A Celery queue stand-in whose broker goes away and comes back with a new identity."""

    def __init__(self) -> None:
        self.identity: str | None = "redis-1"
        self.sent: list[str] = []

    def publish(self, job_id: str) -> None:
        if self.identity is None:
            raise Unavailable("the job broker cannot be reached", retry_after_s=5)
        self.sent.append(job_id)

    def broker_id(self) -> str:
        if self.identity is None:
            raise Unavailable("the job broker cannot be reached", retry_after_s=5)
        return self.identity

    def cancel(self, job_id: str) -> None: ...
    def check(self) -> None: ...
    def close(self) -> None: ...


def test_queued_jobs_are_republished_when_the_broker_comes_back(tmp_path, tiny_checkpoint,
                                                                monkeypatch):
    import vto.service.housekeeping as housekeeping

    services = build_services(make_settings(tmp_path, tiny_checkpoint, queue="celery"))
    broker = FlakyBroker()
    monkeypatch.setattr(housekeeping, "CeleryQueue", FlakyBroker)
    services.queue = services.jobs.queue = broker
    keeper = Housekeeper(services)
    try:
        keeper.republish()                       # first contact: nothing queued yet
        job, _ = services.table.reserve(owner="", params={}, request_hash="h")
        services.table.mark_queued(job.id, {})
        broker.identity = None                   # Redis goes down ...
        assert services.jobs.publish(job.id) is False and job.id in services.jobs.unpublished
        keeper.republish()
        assert broker.sent == []
        broker.identity = "redis-2"              # ... and comes back empty (a restart)
        keeper.republish()
        assert broker.sent == [job.id] and not services.jobs.unpublished
        other, _ = services.table.reserve(owner="", params={}, request_hash="h2")
        services.table.mark_queued(other.id, {})
        broker.identity = "redis-3"              # a restart we never saw go down
        keeper.republish()
        assert sorted(broker.sent[1:]) == sorted([job.id, other.id])
    finally:
        services.table.close()


def test_build_services_refuses_settings_the_core_would_refuse(tmp_path, tiny_checkpoint):
    from vto.errors import InvalidInput

    for bad in ({"width": 100}, {"max_steps": 500}, {"default_guidance": 25.0}):
        with pytest.raises(InvalidInput):
            make_settings(tmp_path, tiny_checkpoint, **bad).check_requests()
