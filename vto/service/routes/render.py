"""Job documents as clients see them: the one place URLs are built from a job."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from vto.service.jobs import JobStatus
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
