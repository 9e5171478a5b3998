"""Operations: liveness, readiness, seed JSON metrics, Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vto.service.health import check_ready, health
from vto.service.metrics import table_times
from vto.service.problems import responses
from vto.service.routes.deps import ServicesDep
from vto.service.routes.schemas import Health

router = APIRouter(tags=["ops"])


@router.get("/health", response_model=Health, summary="Liveness (always 200 while serving)")
async def get_health(services: ServicesDep) -> dict[str, Any]:
    return await run_in_threadpool(health, services)


@router.get("/ready", summary="Readiness: 503 until the models are loaded, while the queue is "
                              "full, or while the database or broker cannot be reached",
            responses={200: {"description": "ready"}, **responses(503)})
async def get_ready(services: ServicesDep) -> dict[str, Any]:
    return await run_in_threadpool(check_ready, services)


@router.get("/metrics", summary="Seed-compatible JSON metrics", responses=responses(503))
def metrics_json(services: ServicesDep) -> dict[str, Any]:
    depth = services.table.queue_depth()
    return services.metrics.seed_json(depth, services.table.counts(), table_times(services.table))


@router.get("/metrics/prometheus", response_class=Response, summary="Prometheus exposition",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "metrics"}})
def metrics_prometheus(services: ServicesDep) -> Response:
    body, content_type = services.metrics.render_prometheus()
    return Response(body, media_type=content_type)
