"""Job documents as clients see them, and the responses that carry them: the one place URLs
are built from a job."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vto.service.jobs import Job, JobStatus
from vto.service.routes.deps import base_url
from vto.service.service import JobView


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def job_public(view: JobView, base: str) -> dict[str, Any]:
    """The ``JobPublic`` document of a job (GET /v1/jobs/{id}, lists, SSE ``completed``)."""
    job = view.job
    total = job.progress_total or int(job.params.get("num_inference_steps") or 0)
    step = total if job.status is JobStatus.SUCCEEDED else job.progress_step
    result = job.result or {}
    self_url = f"{base}/v1/jobs/{job.id}"
    outputs = [{"index": o["index"],
                "url": view.output_urls.get(o["index"]) or f"{self_url}/outputs/{o['index']}",
                "content_type": o.get("content_type", "image/png"),
                "width": o.get("width"), "height": o.get("height"),
                "expires_at": iso(view.output_expiry)} for o in job.outputs]
    params = {k: v for k, v in job.params.items() if k != "requested_seed"}
    return {
        "id": job.id,
        "status": job.status.value,
        "progress": {"step": step, "total": total,
                     "fraction": round(step / total, 4) if total else 0.0},
        "queue_position": view.queue_position,
        "attempts": job.attempts,
        "params": params,
        "seed": result.get("seed", job.params.get("seed")),
        "outputs": outputs,
        "error": job.error,
        "metrics": {
            "queue_seconds": (round(job.started_at - job.created_at, 3)
                              if job.started_at else None),
            "inference_seconds": result.get("inference_seconds"),
            "timings": result.get("timings"),
        },
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "expires_at": iso(view.expires_at),
        "urls": {"self": self_url, "events": f"{self_url}/events",
                 "cancel": f"{self_url}/cancel"},
    }


def prefer_wait(prefer: str | None, cap_s: float) -> float:
    """Seconds of ``Prefer: wait=N`` (RFC 7240), at most ``cap_s``; 0 when absent or unusable."""
    for part in (prefer or "").replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                return 0.0
            return min(seconds, cap_s) if math.isfinite(seconds) and seconds > 0 else (
                cap_s if seconds == math.inf else 0.0)
    return 0.0


async def accepted_response(services: Any, owner: str, job: Job, created: bool,
                            request: Request, prefer: str | None,
                            prefer_wait_max_s: float) -> JSONResponse:
    """The answer to an accepted submission: 202 + Location (200 when it finished within
    ``Prefer: wait``), ``Idempotent-Replayed`` for a replay."""
    headers = {"Location": f"/v1/jobs/{job.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    wait_s = prefer_wait(prefer, prefer_wait_max_s)
    if wait_s and not job.status.is_terminal:
        job = await services.jobs.wait(owner, job.id, wait_s)
        headers["Preference-Applied"] = f"wait={int(wait_s)}"
    if not job.status.is_terminal:
        headers["Retry-After"] = "2"
    return await job_response(services, job, request, 200 if job.status.is_terminal
                              else 202, headers)


async def job_response(services: Any, job: Job, request: Request, status: int,
                       headers: dict[str, str] | None = None) -> JSONResponse:
    view = await run_in_threadpool(services.jobs.view, job)
    return JSONResponse(job_public(view, base_url(request)), status_code=status, headers=headers)
