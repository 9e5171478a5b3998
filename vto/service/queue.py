"""How "job X is queued" reaches a worker, and how the API reaches the engine: two small ports.

Job state never lives in the queue; it lives in the job table. The queue carries wake-ups, so a
lost message never loses a job: workers also poll, recovery re-publishes re-queued jobs, and
with Celery the housekeeper re-publishes what the broker may have lost (vto.service.housekeeping).

    JobQueue (Protocol)       publish(job_id) · cancel(job_id) · check() · close()
    ├── EmbeddedQueue         wakes the embedded worker process (vto.service.worker.process)
    └── CeleryQueue           Redis broker: one ``vto.run_job(job_id)`` task per publish; the
                              task body claims the row itself, so a duplicate is harmless

    EngineClient (Protocol)   call(method, payload, timeout_s) — classification, mask previews
    ├── WorkerProcess         over the pipe (embedded)
    └── CeleryEngineClient    a ``vto.engine_call`` task with a result (Celery)

Celery settings that make "accepted means never lost" hold: ``task_acks_late`` (ack after the
job ran), ``task_reject_on_worker_lost`` (a killed worker's task goes back), prefetch 1, and a
visibility timeout well above the longest job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from vto.errors import Unavailable, problem_error

if TYPE_CHECKING:
    from celery import Celery

    from vto.service.settings import Settings
    from vto.service.worker.process import WorkerProcess

log = logging.getLogger(__name__)

RUN_JOB_TASK = "vto.run_job"
ENGINE_CALL_TASK = "vto.engine_call"


class JobQueue(Protocol):
    def publish(self, job_id: str) -> None:
        """Tell a worker that ``job_id`` is queued (the row is already committed). Raises
        Unavailable when the message could not be sent (the job stays queued)."""

    def cancel(self, job_id: str) -> None:
        """Best-effort fast path for a cancel (the table's flag is the truth)."""

    def check(self) -> None:
        """Raise Unavailable when workers cannot be reached (readiness)."""

    def close(self) -> None: ...


class EngineClient(Protocol):
    def call(self, method: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Run an engine call where the engine lives; VtoError subclasses as raised there."""


class EmbeddedQueue:
    """Wake-ups for the embedded worker process."""

    def __init__(self, worker: "WorkerProcess") -> None:
        self.worker = worker

    def publish(self, job_id: str) -> None:
        self.worker.wake()

    def cancel(self, job_id: str) -> None:
        self.worker.cancel(job_id)

    def check(self) -> None:
        if not self.worker.ready:
            detail = {"loading": "the models are loading",
                      "starting": "the model worker is starting",
                      "restarting": "the model worker is restarting"}.get(
                self.worker.state, f"the models could not be loaded: {self.worker.detail}")
            raise Unavailable(detail, retry_after_s=10)

    def close(self) -> None:
        self.worker.stop()


def make_celery(settings: "Settings", run_job: Callable[[str], Any] | None = None,
                engine_call: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
                ) -> "Celery":
    """A Celery app configured for durable GPU jobs. With ``run_job``/``engine_call`` (worker
    side) the tasks call them; the API side only sends tasks by name."""
    from celery import Celery

    app = Celery("vto", broker=settings.broker_url, backend=settings.broker_url,
                 set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_default_queue=settings.celery_queue,
        task_ignore_result=True,
        result_expires=600,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout_s,
                                  "socket_connect_timeout": 3, "socket_timeout": 5,
                                  "max_retries": 1},
        redis_socket_connect_timeout=3,
        task_time_limit=int(settings.sync_timeout_s * 2),
        worker_hijack_root_logger=False,
    )
    if run_job is not None:
        @app.task(name=RUN_JOB_TASK, acks_late=True, reject_on_worker_lost=True)
        def _run_job(job_id: str) -> None:
            run_job(job_id)
    if engine_call is not None:
        @app.task(name=ENGINE_CALL_TASK, ignore_result=False, acks_late=False)
        def _engine_call(method: str, payload: dict[str, Any]) -> dict[str, Any]:
            return engine_call(method, payload)
    return app


class CeleryQueue:
    """Sends one ``vto.run_job`` task per publish through the broker."""

    def __init__(self, settings: "Settings", app: "Celery | None" = None) -> None:
        self.settings = settings
        self.app = app or make_celery(settings)

    def publish(self, job_id: str) -> None:
        try:
            self.app.send_task(RUN_JOB_TASK, args=[job_id], queue=self.settings.celery_queue,
                               retry=False)
        except Exception as exc:  # kombu raises many types when the broker is away
            raise Unavailable(f"the job broker cannot be reached ({type(exc).__name__})",
                              retry_after_s=5) from exc

    def cancel(self, job_id: str) -> None:
        return None  # the worker reads the table's cancel flag at its next progress write

    def broker_id(self) -> str:
        """The broker's identity now (Redis run_id): it changes when Redis restarts, which is
        when queued messages may have been lost. Raises Unavailable if it cannot be reached."""
        import redis

        try:
            client = redis.Redis.from_url(self.settings.broker_url, socket_connect_timeout=2,
                                          socket_timeout=2)
            try:
                return str(client.info("server").get("run_id", ""))
            finally:
                client.close()
        except redis.RedisError as exc:
            raise Unavailable(f"the job broker cannot be reached ({type(exc).__name__})",
                              retry_after_s=5) from exc

    def check(self) -> None:
        self.broker_id()

    def close(self) -> None:
        self.app.close()


class CeleryEngineClient:
    """Engine calls as ``vto.engine_call`` tasks, answered through the result backend."""

    def __init__(self, app: "Celery", queue: str) -> None:
        self.app = app
        self.queue = queue

    def call(self, method: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        try:
            pending = self.app.send_task(ENGINE_CALL_TASK, args=[method, payload],
                                         queue=self.queue, retry=False)
        except Exception as exc:
            raise Unavailable(f"the job broker cannot be reached ({type(exc).__name__})",
                              retry_after_s=5) from exc
        try:
            answer = pending.get(timeout=timeout_s, propagate=True)
        except Exception as exc:
            if type(exc).__name__ == "TimeoutError":
                raise Unavailable("no worker answered in time; retry shortly",
                                  retry_after_s=10) from None
            raise Unavailable(f"the engine call failed ({type(exc).__name__})",
                              retry_after_s=10) from exc
        finally:
            pending.forget()
        if "problem" in answer:
            raise problem_error(answer["problem"])
        return answer["value"]
