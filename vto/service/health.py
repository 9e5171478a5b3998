"""Liveness and readiness of the service, from its parts (what /health and /ready say)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import vto
from vto.errors import Unavailable, VtoError

if TYPE_CHECKING:
    from vto.service.wiring import Services


def health(services: "Services") -> dict[str, Any]:
    """Always answers (200): the process is alive; ``state`` says what it can do."""
    worker = services.worker
    try:
        depth = services.table.queue_depth()
        database = True
    except VtoError:
        depth, database = 0, False
    if worker is None:  # Celery: the models live in the worker processes
        loaded, state = True, "READY" if database else "DEGRADED"
        detail = None
    else:
        loaded = worker.ready
        state = ({"ready": "BUSY" if worker.running_job else "READY", "loading": "STARTING",
                  "starting": "STARTING", "restarting": "RESTARTING"}
                 .get(worker.state, "DEGRADED"))
        if not database:
            state = "DEGRADED"
        detail = {"state": worker.state, "pid": worker.pid, "restarts": worker.restarts,
                  "running_job": worker.running_job, "detail": worker.detail or None,
                  "models": list(worker.models)}
    return {"status": "healthy", "state": state, "models_loaded": loaded, "queue_depth": depth,
            "version": vto.__version__, "worker": detail}


def check_ready(services: "Services") -> dict[str, Any]:
    """Raise Unavailable (503 + Retry-After) unless jobs can be accepted and run now."""
    services.table.ping()
    services.queue.check()
    depth = services.table.queue_depth()
    if depth >= services.settings.queue_max:
        raise Unavailable("the queue is full", retry_after_s=services.settings.retry_after_s(
            depth, services.jobs.average_job_s()))
    return {"ready": True, "queue_depth": depth}
