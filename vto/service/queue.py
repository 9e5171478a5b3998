"""The ``JobQueue`` port: how "job X is ready to run" reaches a worker.

Job state never lives in the queue; it lives in the job table (:mod:`vto.service.jobs`). The
queue only carries wake-ups, so losing a message never loses a job: a worker also polls, and
recovery re-sends whatever the table says is queued.

    JobQueue (Protocol)   submit(job_id) · close()
    ├── EmbeddedQueue     in-process: wakes the worker thread (which also polls the table)
    └── CeleryQueue       Redis broker: one ``vto.run_job(job_id)`` task per job; the task
                          body claims the row itself, so a redelivered task is harmless

Celery settings that make "accepted means never lost" hold: ``task_acks_late`` (ack after the
job ran), ``task_reject_on_worker_lost`` (a killed worker's task goes back), prefetch 1 (a busy
worker holds no other task hostage), and a visibility timeout well above the longest job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from celery import Celery

    from vto.service.settings import Settings

log = logging.getLogger(__name__)

RUN_JOB_TASK = "vto.run_job"


class JobQueue(Protocol):
    def submit(self, job_id: str) -> None:
        """Tell a worker that ``job_id`` is queued (the row is already committed)."""

    def close(self) -> None: ...


class EmbeddedQueue:
    """Wake-ups for the in-process worker thread: ``wait`` returns early after ``submit``."""

    def __init__(self) -> None:
        self._wake = threading.Event()

    def submit(self, job_id: str) -> None:
        self._wake.set()

    def wait(self, timeout_s: float) -> None:
        """Sleep until a submit or ``timeout_s`` (the worker polls the table afterwards)."""
        if self._wake.wait(timeout_s):
            self._wake.clear()

    def close(self) -> None:
        self._wake.set()


def make_celery(settings: "Settings", run_job: Callable[[str], Any] | None = None) -> "Celery":
    """A Celery app configured for durable GPU jobs. With ``run_job`` (worker side) the task
    ``vto.run_job`` calls it; the API side only sends tasks by name."""
    from celery import Celery

    app = Celery("vto", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_default_queue=settings.celery_queue,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout_s},
        task_time_limit=int(settings.sync_timeout_s * 2),
        worker_hijack_root_logger=False,
    )
    if run_job is not None:
        @app.task(name=RUN_JOB_TASK, acks_late=True, reject_on_worker_lost=True)
        def _run_job(job_id: str) -> None:
            run_job(job_id)
    return app


class CeleryQueue:
    """Sends one ``vto.run_job`` task per queued job through the broker."""

    def __init__(self, settings: "Settings", app: "Celery | None" = None) -> None:
        self.settings = settings
        self.app = app or make_celery(settings)

    def submit(self, job_id: str) -> None:
        self.app.send_task(RUN_JOB_TASK, args=[job_id], queue=self.settings.celery_queue)

    def close(self) -> None:
        self.app.close()


def make_queue(settings: "Settings") -> JobQueue:
    if settings.queue == "celery":
        return CeleryQueue(settings)
    return EmbeddedQueue()
