"""Background upkeep of the API process, in one thread:

* **recovery** — expired leases go back to the queue (or fail, worker-lost), and are
  re-published;
* **re-publishing** — queued jobs whose wake-up could not be sent, and, with Celery, every
  queued job when the broker comes back or restarts (a restarted Redis has lost its messages)
  or at start-up: nothing accepted stays stranded;
* **metrics** — Prometheus job metrics fed from the job table (every worker, in any process,
  writes there), each finished job once; queue depth and running jobs;
* **catalog** — garments waiting for a category prediction are asked again;
* **retention** — expired jobs, their inputs and results, stale reservations and stored
  objects nobody owns.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from vto.errors import Unavailable, VtoError
from vto.service.events import JobEvent
from vto.service.jobs import JobStatus
from vto.service.queue import CeleryQueue
from vto.service.storage import Janitor

if TYPE_CHECKING:
    from vto.service.wiring import Services

log = logging.getLogger(__name__)

OBSERVE_WINDOW_S = 120.0  # how late a worker's finish may reach the table and still be counted
CATALOG_RETRY_S = 15.0


class Housekeeper:
    def __init__(self, services: "Services") -> None:
        self.s = services
        self.janitor = Janitor(services.storage, services.settings.result_retention_s)
        self._observed: dict[str, float] = {}
        self._broker: str | None = None        # the broker identity last seen (Celery)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vto-housekeeper", daemon=True)

    def start(self) -> None:
        try:  # jobs finished before we started are not ours to count
            self._observed = {job.id: job.finished_at or 0.0 for job in
                              self.s.table.finished_since(time.time() - OBSERVE_WINDOW_S)}
        except Unavailable:
            log.warning("job database unreachable at start-up; housekeeping will retry")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        settings = self.s.settings
        next_sweep = time.monotonic() + min(5.0, settings.janitor_interval_s)
        next_catalog = time.monotonic() + CATALOG_RETRY_S
        while True:
            try:
                self.tick()
                if time.monotonic() >= next_catalog:
                    next_catalog = time.monotonic() + CATALOG_RETRY_S
                    self.s.garments.reload_pending()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + settings.janitor_interval_s
                    self.sweep()
            except VtoError as exc:
                log.warning("housekeeping: %s", exc)
            except Exception:  # noqa: BLE001 - never die
                log.exception("housekeeping failed")
            if self._stop.wait(max(settings.poll_s, 1.0)):
                return

    def tick(self) -> None:
        requeued, failed = self.s.table.recover()
        for job_id in (*requeued, *failed):
            self.s.broadcaster.publish(JobEvent(job_id, "changed"))
        for job_id in requeued:
            self.s.jobs.publish(job_id)
        self.republish()
        self.s.metrics.set_queue_depth(self.s.table.queue_depth())
        self.s.metrics.set_running(self.s.table.counts()[JobStatus.RUNNING.value])
        self.observe_finished()

    def republish(self) -> None:
        """Send again what the broker may not have: failed publishes, and every queued job
        when the broker is new to us (start-up, back from an outage, restarted)."""
        jobs = self.s.jobs
        if isinstance(self.s.queue, CeleryQueue):
            try:
                broker = self.s.queue.broker_id()
            except Unavailable:
                self._broker = None  # unreachable: everything is re-sent once it is back
                return
            if broker != self._broker:
                queued = self.s.table.ids_with_status(JobStatus.QUEUED)
                if queued:
                    log.warning("broker %s: re-publishing %d queued job(s)",
                                "reachable again or restarted" if self._broker is not None
                                else "first contact", len(queued))
                jobs.unpublished.update(queued)
                self._broker = broker
        for job_id in sorted(jobs.unpublished):
            job = self.s.table.get(job_id)
            if job is None or job.status is not JobStatus.QUEUED:
                jobs.unpublished.discard(job_id)
            elif not jobs.publish(job_id):
                return  # still unreachable; next tick

    def observe_finished(self) -> None:
        """Record jobs finished in the last ``OBSERVE_WINDOW_S`` (a window, not a watermark: a
        finish may commit later than its timestamp says), each once."""
        cutoff = time.time() - OBSERVE_WINDOW_S
        for job in self.s.table.finished_since(cutoff):
            if job.id in self._observed:
                continue
            self._observed[job.id] = job.finished_at or 0.0
            if job.status is JobStatus.CANCELED:  # not a failure, not a run time
                continue
            error_type = str((job.error or {}).get("type", "unknown"))
            self.s.metrics.observe(
                str(job.params.get("category")), str(job.params.get("model")),
                float((job.result or {}).get("inference_seconds") or 0.0),
                job.status is JobStatus.SUCCEEDED, error_type.rsplit(":", 1)[-1])
        self._observed = {k: v for k, v in self._observed.items() if v >= cutoff}

    def sweep(self, now: float | None = None) -> int:
        """Delete jobs (rows, inputs, results) finished longer than the retention ago, stale
        reservations, and stored objects older than the retention that belong to no live job
        (a job waiting in a long queue keeps its inputs however old they are)."""
        now = time.time() if now is None else now
        table, storage = self.s.table, self.s.storage
        removed = 0
        for job in table.expired(finished_before=now - self.s.settings.result_retention_s,
                                 accepting_before=now - 3600):
            storage.delete_prefix(f"results/{job.id}/")
            storage.delete_prefix(f"inputs/{job.id}/")
            table.delete(job.id)
            removed += 1
        live = {job_id for status in (JobStatus.ACCEPTING, JobStatus.QUEUED, JobStatus.RUNNING)
                for job_id in table.ids_with_status(status)}
        # keys are results/{job_id}/… and inputs/{job_id}/…
        removed += self.janitor.sweep(now, keep=lambda key: key.split("/")[1] in live)
        if removed:
            log.info("retention: removed %d expired jobs/objects", removed)
        return removed
