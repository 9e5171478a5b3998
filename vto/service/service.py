"""The job service: what the HTTP routes call. No HTTP here, no torch, no SQL.

:class:`TryOnService` validates and stores inputs, applies idempotency and backpressure,
enqueues, reads job state for one caller (``owner``; another owner's job does not exist for
you), cancels, waits, and renders the public job document. :class:`JobEvents` lets the
in-process worker wake SSE streams and ``Prefer: wait`` requests as soon as a job changes
(with Celery workers in other processes they fall back to polling).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from PIL import Image

from vto.core.images import SERVICE_FORMATS, open_image, open_mask
from vto.core.types import Category, Framing, ModelType, check_combination
from vto.errors import Conflict, InputNotFound, InvalidInput, Unavailable
from vto.service.jobs import Job, JobStatus, JobStore, input_key
from vto.service.queue import JobQueue
from vto.service.settings import Settings
from vto.service.storage import Storage
from vto.service.webhooks import check_target

log = logging.getLogger(__name__)


class JobEvents:
    """Thread-safe "job X changed" signals for asyncio waiters in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def publish(self, job_id: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # loop closed
                pass

    async def wait(self, job_id: str, timeout_s: float) -> None:
        """Return when ``job_id`` changes or after ``timeout_s``, whichever is first."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                waiters = self._waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(entry)
                    if not waiters:
                        del self._waiters[job_id]


@dataclass(frozen=True)
class TryOnParams:
    """A validated try-on request, as stored with the job."""

    model_type: ModelType
    category: Category
    n_samples: int = 1
    n_steps: int = 20
    guidance_scale: float = 2.0
    seed: int = -1
    framing: Framing = Framing.KEEP
    garment_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": self.model_type.value, "category": self.category.value,
                "n_samples": self.n_samples, "n_steps": self.n_steps,
                "guidance_scale": self.guidance_scale, "seed": self.seed,
                "framing": self.framing.value, "garment_id": self.garment_id}


GarmentSource = Callable[[str], Image.Image]


class TryOnService:
    def __init__(self, settings: Settings, store: JobStore, storage: Storage, queue: JobQueue,
                 events: JobEvents, garment_image: GarmentSource | None = None,
                 average_job_s: Callable[[], float | None] = lambda: None) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self.queue = queue
        self.events = events
        self.garment_image = garment_image
        self.average_job_s = average_job_s

    # --- submit -------------------------------------------------------------------------------
    def submit(self, *, owner: str, params: TryOnParams, person: bytes,
               garment: bytes | None = None, mask: bytes | None = None,
               idempotency_key: str | None = None, webhook_url: str | None = None,
               ) -> tuple[Job, bool]:
        """Accept a job; returns (job, created). ``created`` is False for an idempotent replay."""
        check_combination(params.model_type, params.category)
        if (garment is None) == (params.garment_id is None):
            raise InvalidInput("send exactly one of garment_image and garment_id")
        if webhook_url:
            check_target(webhook_url, allow_private=self.settings.webhook_allow_private)
        if idempotency_key is not None:
            idempotency_key = _check_idempotency_key(idempotency_key)

        cap = self.settings.max_pixels
        person_image = open_image(person, max_pixels=cap, formats=SERVICE_FORMATS,
                                  name="person_image")
        if garment is not None:
            garment_image = open_image(garment, max_pixels=cap, formats=SERVICE_FORMATS,
                                       name="garment_image")
        else:
            if self.garment_image is None:
                raise InputNotFound("this server has no garment catalog")
            garment_image = self.garment_image(params.garment_id or "")
        mask_image = (open_mask(mask, max_pixels=cap, formats=SERVICE_FORMATS, name="mask")
                      if mask is not None else None)

        request_hash = _fingerprint(params.to_dict(), webhook_url,
                                    person=person, garment=garment, mask=mask)
        depth = self.store.queue_depth()
        if depth >= self.settings.queue_max:
            raise Unavailable(f"the queue is full ({depth} jobs waiting); retry later",
                              retry_after_s=self.settings.retry_after_s(depth,
                                                                        self.average_job_s()))

        stored = params.to_dict()
        if params.seed < 0:  # resolve now: a re-run after a crash reproduces the same images
            stored["seed"] = secrets.randbelow(2**31)
        stored["requested_seed"] = params.seed
        job, created = self.store.reserve(owner=owner, params=stored, request_hash=request_hash,
                                          idempotency_key=idempotency_key,
                                          webhook_url=webhook_url)
        if not created:
            if job.request_hash != request_hash:
                raise InvalidInput("Idempotency-Key was already used with a different request",
                                   job_id=job.id)
            if job.status is JobStatus.ACCEPTING:
                raise Conflict("a request with this Idempotency-Key is still being processed")
            return job, False

        inputs = {"person": input_key(job.id, "person"), "garment": input_key(job.id, "garment")}
        try:
            self.storage.put(inputs["person"], _png(person_image), "image/png")
            self.storage.put(inputs["garment"], _png(garment_image), "image/png")
            if mask_image is not None:
                inputs["mask"] = input_key(job.id, "mask")
                self.storage.put(inputs["mask"], _png(mask_image), "image/png")
            job = self.store.mark_queued(job.id, inputs)
        except BaseException:
            self.store.abandon(job.id)
            self.storage.delete_prefix(f"inputs/{job.id}/")
            raise
        try:
            self.queue.submit(job.id)
        except Exception:  # the row is committed: recovery re-sends queued jobs
            log.exception("job %s: could not notify the queue; it stays queued", job.id)
        self.events.publish(job.id)
        return job, True

    # --- reads and control --------------------------------------------------------------------
    def get(self, owner: str, job_id: str) -> Job:
        job = self.store.get(job_id) if _valid_job_id(job_id) else None
        if job is None or job.owner != owner or job.status is JobStatus.ACCEPTING:
            raise InputNotFound(f"no job {job_id!r}")
        return job

    def cancel(self, owner: str, job_id: str) -> Job:
        self.get(owner, job_id)
        job = self.store.request_cancel(job_id)
        if job is None:
            raise InputNotFound(f"no job {job_id!r}")
        self.events.publish(job_id)
        return job

    async def wait(self, owner: str, job_id: str, timeout_s: float) -> Job:
        """The job once terminal, or as it is after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = await asyncio.to_thread(self.get, owner, job_id)
            left = deadline - time.monotonic()
            if job.status.is_terminal or left <= 0:
                return job
            await self.events.wait(job_id, min(left, self.settings.poll_s))

    def output(self, owner: str, job_id: str, index: int) -> dict[str, Any]:
        job = self.get(owner, job_id)
        for output in job.outputs:
            if output.get("index") == index:
                return output
        raise InputNotFound(f"job {job_id!r} has no output {index}")

    # --- rendering ----------------------------------------------------------------------------
    def public(self, job: Job, base_url: str) -> dict[str, Any]:
        """The job document clients see (``GET /v1/jobs/{id}``)."""
        base_url = base_url.rstrip("/")
        total = job.progress_total or int(job.params.get("n_steps", 0))
        step = total if job.status is JobStatus.SUCCEEDED else job.progress_step
        result = job.result or {}
        outputs = []
        for output in job.outputs:
            # None for local storage: the API serves the bytes itself.
            direct = self.storage.url(output["key"], self.settings.url_expiry_s)
            expires = (time.time() + self.settings.url_expiry_s if direct
                       else (job.finished_at or time.time()) + self.settings.result_retention_s)
            outputs.append({"index": output["index"],
                            "url": direct or f"{base_url}/v1/jobs/{job.id}/outputs/{output['index']}",
                            "content_type": output.get("content_type", "image/png"),
                            "width": output.get("width"), "height": output.get("height"),
                            "expires_at": _iso(expires)})
        params = {k: v for k, v in job.params.items() if k != "requested_seed"}
        return {
            "id": job.id,
            "status": job.status.value,
            "progress": {"step": step, "total": total,
                         "fraction": round(step / total, 4) if total else 0.0},
            "queue_position": self.store.queue_position(job),
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
            "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "expires_at": _iso(job.finished_at + self.settings.result_retention_s
                               if job.finished_at else None),
            "urls": {"self": f"{base_url}/v1/jobs/{job.id}",
                     "events": f"{base_url}/v1/jobs/{job.id}/events",
                     "cancel": f"{base_url}/v1/jobs/{job.id}/cancel"},
        }


def _valid_job_id(job_id: str) -> bool:
    return len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)


def _check_idempotency_key(key: str) -> str:
    # RFC 8941 sf-string ('"abc"') or a bare token; printable ASCII, bounded.
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= 255 or not all(32 < ord(c) < 127 for c in key):
        raise InvalidInput("Idempotency-Key must be 1-255 printable ASCII characters")
    return key


def _fingerprint(params: dict[str, Any], webhook_url: str | None, **files: bytes | None) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    digest.update(f"|webhook={webhook_url or ''}".encode())
    for name, data in sorted(files.items()):
        digest.update(f"|{name}=".encode())
        digest.update(hashlib.sha256(data).digest() if data is not None else b"-")
    return digest.hexdigest()


def _png(image: Image.Image) -> bytes:
    """Re-encode (never store the upload bytes): drops metadata and anything but pixels."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")
