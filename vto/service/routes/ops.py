"""Operations: liveness, readiness, seed JSON metrics, Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

import vto
from vto.errors import Unavailable
from vto.service.jobs import JobStatus
from vto.service.problems import responses
from vto.service.routes.deps import State
from vto.service.routes.schemas import Health

router = APIRouter(tags=["ops"])


def models_loaded(state: Any) -> bool:
    # With Celery the models live in the worker processes; the API itself is ready at once.
    return state.worker is None or state.worker.ready.is_set()


@router.get("/health", response_model=Health, summary="Liveness (always 200 while serving)")
def health(state: State) -> dict[str, Any]:
    loaded = models_loaded(state)
    depth = state.store.queue_depth()
    if not loaded:
        phase = "STARTING" if state.worker.load_error is None else "DEGRADED"
    else:
        phase = "BUSY" if state.worker is not None and state.worker.running_job else "READY"
    return {"status": "healthy", "state": phase, "models_loaded": loaded, "queue_depth": depth,
            "version": vto.__version__}


@router.get("/ready", summary="Readiness: 503 until models are loaded or while the queue is full",
            responses={200: {"description": "ready"}, **responses(503)})
def ready(state: State) -> JSONResponse:
    if not models_loaded(state):
        detail = "models are loading"
        if state.worker.load_error:
            detail = f"models could not be loaded: {state.worker.load_error}"
        raise Unavailable(detail, retry_after_s=10)
    depth = state.store.queue_depth()
    if depth >= state.settings.queue_max:
        raise Unavailable("the queue is full", retry_after_s=state.settings.retry_after_s(
            depth, state.job_times().average() or None))
    return JSONResponse({"ready": True, "queue_depth": depth})


@router.get("/metrics", summary="Seed-compatible JSON metrics")
def metrics_json(state: State) -> dict[str, Any]:
    depth = state.store.queue_depth()
    counts = state.store.counts()
    state.metrics.set_queue_depth(depth)
    return state.metrics.seed_json(depth, counts, state.job_times())


@router.get("/metrics/prometheus", response_class=Response, summary="Prometheus exposition",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "metrics"}})
def metrics_prometheus(state: State) -> Response:
    state.metrics.set_queue_depth(state.store.queue_depth())
    if state.worker is None:  # Celery: jobs run in other processes; the table knows how many
        state.metrics.set_running(state.store.counts()[JobStatus.RUNNING.value])
    body, content_type = state.metrics.render_prometheus()
    return Response(body, media_type=content_type)
