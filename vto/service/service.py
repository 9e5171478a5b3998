"""The job service: everything the HTTP routes call. No HTTP, no torch, no SQL here.

:class:`JobService` validates a submission once (the one request type, vto.core.request, plus
the catalog garment's defaults and the images), stores the inputs, reserves a place in the
bounded queue, and publishes the job; it reads, lists, cancels and waits for jobs of one caller
(``owner``: another owner's job does not exist for you), streams their events, opens their
outputs, and reports health. Routes add URLs and serialise.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from vto.core.images import SERVICE_FORMATS, encode_png, open_image, open_mask
from vto.core.models.registry import get_spec
from vto.core.request import Limits, TryOnInputs, TryOnRequest, check_inputs, resolve_seed
from vto.errors import Conflict, InputNotFound, InvalidInput, Unavailable
from vto.service.catalog import decode_image
from vto.service.events import Broadcaster, JobEvent
from vto.service.garment_store import GarmentStore
from vto.service.job_table import JobTable
from vto.service.jobs import Job, JobStatus, QueueFull, input_key
from vto.service.queue import JobQueue
from vto.service.settings import Settings
from vto.service.storage import Storage
from vto.service.uploads import DecodeBudget
from vto.service.webhooks import Resolver, check_target

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
UPLOADS = ("person", "garment", "mask", "garment_mask", "densepose")


@dataclass
class Uploads:
    """The raw bytes of a submission's images (None where not sent)."""

    person: bytes | None = None
    garment: bytes | None = None
    mask: bytes | None = None
    garment_mask: bytes | None = None
    densepose: bytes | None = None


@dataclass(frozen=True)
class OutputFile:
    """A job output: a storage URL the client may fetch directly, or the bytes to serve."""

    content_type: str
    url: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class StreamEvent:
    name: str        # "status" | "progress" | "completed"
    id: int
    job: Job
    step: int = 0
    total: int = 0


@dataclass
class JobView:
    """A job as clients see it, minus the URLs the route layer adds."""

    job: Job
    queue_position: int | None
    output_urls: dict[int, str | None] = field(default_factory=dict)   # presigned, if any
    output_expiry: float | None = None
    expires_at: float | None = None


class JobService:
    def __init__(self, *, settings: Settings, table: JobTable, storage: Storage, queue: JobQueue,
                 broadcaster: Broadcaster, garments: GarmentStore, limits: Limits,
                 decoding: DecodeBudget | None = None, webhook_resolve: Resolver | None = None,
                 average_job_s: Callable[[], float | None] = lambda: None) -> None:
        self.settings = settings
        self.table = table
        self.storage = storage
        self.queue = queue
        self.broadcaster = broadcaster
        self.garments = garments
        self.limits = limits
        self.average_job_s = average_job_s
        self.decoding = decoding or DecodeBudget(settings.max_decode_pixels,
                                                 settings.decode_wait_s)
        self.webhook_resolve = webhook_resolve  # host lookups (None: the system's DNS)
        self.unpublished: set[str] = set()   # queued jobs whose wake-up did not go out

    # --- submit -------------------------------------------------------------------------------
    def resolve(self, fields: dict[str, Any], garment_id: str | None,
                owner: str = "") -> TryOnRequest:
        """The request with the deployment's and the catalog garment's defaults, checked
        (``garment_id``: an operator garment, or one of ``owner``'s own)."""
        request = TryOnRequest.from_fields(fields)
        explicit = request.model_fields_set
        category = None
        if garment_id is not None:
            garment = self.garments.get(garment_id, owner)
            category = garment.category
            if "category" in explicit and request.category is not category:
                raise InvalidInput(f"garment {garment_id} is {category.value}, but category "
                                   f"{request.category.value} was asked for; leave category "
                                   "out or pick another garment", field="category")
            if "model" in explicit:
                if category not in request.spec.capabilities.categories:
                    raise InvalidInput(f"garment {garment_id} is {category.value}, which model "
                                       f"{request.model} does not support", field="model")
            else:
                request = request.model_copy(update={"model": self._model_for(garment)})
        elif "model" not in explicit:
            request = request.model_copy(update={"model": self.settings.default_model})
        return request.resolved(self.limits, default_size=self.settings.working_size,
                                default_steps=self.settings.default_steps,
                                default_guidance=self.settings.default_guidance,
                                default_category=category)

    def _model_for(self, garment: Any) -> str:
        """The deployment's default model if it can wear this garment, else the first model
        the catalog lists for it that can."""
        for name in (self.settings.default_model, *garment.model_types):
            spec = get_spec(name)
            if garment.category in spec.capabilities.categories:
                return spec.id
        raise InvalidInput(f"no model serves garment {garment.id} ({garment.category.value})")

    def submit(self, *, owner: str, fields: dict[str, Any], uploads: Uploads,
               garment_id: str | None = None, idempotency_key: str | None = None,
               webhook_url: str | None = None) -> tuple[Job, bool]:
        """Accept a job; returns (job, created). ``created`` is False for an idempotent replay."""
        if (uploads.garment is None) == (garment_id is None):
            raise InvalidInput("send exactly one of garment_image and garment_id",
                               field="garment_image")
        if uploads.person is None:
            raise InvalidInput("person_image is required", field="person_image")
        request = self.resolve(fields, garment_id, owner)
        if webhook_url:
            check_target(webhook_url, allow_private=self.settings.webhook_allow_private,
                         resolve=self.webhook_resolve)
        if idempotency_key is not None:
            idempotency_key = _check_idempotency_key(idempotency_key)
        cap = self.settings.max_pixels
        stored = self.garments.read(garment_id, owner) if garment_id is not None else None
        with self.decoding.hold(uploads.person, uploads.garment, stored, uploads.mask,
                                uploads.garment_mask, uploads.densepose):
            def photo(name: str, data: bytes | None, opener: Any = open_image) -> Any:
                return None if data is None else opener(data, max_pixels=cap,
                                                        formats=SERVICE_FORMATS, name=name)
            inputs = TryOnInputs(
                person=photo("person_image", uploads.person),
                garment=(photo("garment_image", uploads.garment) if stored is None
                         else decode_image(stored)[0]),
                mask=photo("mask", uploads.mask, open_mask),
                garment_mask=photo("garment_mask", uploads.garment_mask, open_mask),
                densepose=photo("densepose", uploads.densepose))
            check_inputs(request, inputs, self.limits)
            return self._accept(owner, request, inputs, uploads, garment_id, idempotency_key,
                                webhook_url)

    def _accept(self, owner: str, request: TryOnRequest, inputs: TryOnInputs, uploads: Uploads,
                garment_id: str | None, idempotency_key: str | None,
                webhook_url: str | None) -> tuple[Job, bool]:
        params = request.model_dump(mode="json")
        request_hash = _fingerprint({**params, "garment_id": garment_id}, webhook_url, uploads)
        # resolve now: a re-run after a crash reproduces the same images
        params.update(garment_id=garment_id, requested_seed=request.seed,
                      seed=resolve_seed(request.seed))
        try:
            job, created = self.table.reserve(
                owner=owner, params=params, request_hash=request_hash,
                idempotency_key=idempotency_key, webhook_url=webhook_url,
                queue_max=self.settings.queue_max)
        except QueueFull as full:
            raise Unavailable(f"the queue is full ({full.depth} jobs waiting); retry later",
                              retry_after_s=self.settings.retry_after_s(
                                  full.depth, self.average_job_s())) from None
        if not created:
            if job.request_hash != request_hash:
                raise InvalidInput("Idempotency-Key was already used with a different request",
                                   job_id=job.id)
            if job.status is JobStatus.ACCEPTING:
                raise Conflict("a request with this Idempotency-Key is still being processed")
            return job, False
        keys: dict[str, str] = {}
        try:
            for name in UPLOADS:
                image = getattr(inputs, name)
                if image is not None:
                    keys[name] = input_key(job.id, name)
                    self.storage.put(keys[name], encode_png(image), "image/png")
            job = self.table.mark_queued(job.id, keys)
        except BaseException:
            self.table.abandon(job.id)
            self.storage.delete_prefix(f"inputs/{job.id}/")
            raise
        self.publish(job.id)
        self.broadcaster.publish(JobEvent(job.id, "changed", job))
        return job, True

    def publish(self, job_id: str) -> bool:
        """Wake a worker for a queued job; on failure it stays queued and is re-published by
        the housekeeper (the row is committed: nothing is lost)."""
        try:
            self.queue.publish(job_id)
        except Unavailable as exc:
            log.warning("job %s: %s; it stays queued and will be re-published", job_id, exc)
            self.unpublished.add(job_id)
            return False
        self.unpublished.discard(job_id)
        return True

    # --- reads and control --------------------------------------------------------------------
    def get(self, owner: str, job_id: str) -> Job:
        job = self.table.get(job_id) if _valid_job_id(job_id) else None
        if job is None or job.owner != owner or job.status is JobStatus.ACCEPTING:
            raise InputNotFound(f"no job {job_id!r}")
        return job

    def list(self, owner: str, *, statuses: list[JobStatus] | None = None,
             cursor: str | None = None, limit: int = 20) -> tuple[list[Job], str | None]:
        """Newest first; returns (page, cursor of the next page or None)."""
        if not 1 <= limit <= 100:
            raise InvalidInput("limit must be between 1 and 100", field="limit")
        before = _decode_cursor(cursor) if cursor else None
        page = self.table.list_jobs(owner, statuses=statuses, before=before, limit=limit + 1)
        more = len(page) > limit
        page = page[:limit]
        return page, (f"{page[-1].created_at!r}_{page[-1].id}" if more and page else None)

    def cancel(self, owner: str, job_id: str) -> Job:
        self.get(owner, job_id)
        job = self.table.request_cancel(job_id)
        if job is None:
            raise InputNotFound(f"no job {job_id!r}")
        if job.status is JobStatus.RUNNING:
            self.queue.cancel(job_id)
        self.broadcaster.publish(JobEvent(job_id, "changed", job))
        return job

    async def wait(self, owner: str, job_id: str, timeout_s: float) -> Job:
        """The job once terminal, or as it is after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self.broadcaster.subscribe(job_id) as events:
            job = await asyncio.to_thread(self.get, owner, job_id)
            while not job.status.is_terminal:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                event = await events.next(left)
                if event is None or event.kind == "progress":
                    continue  # progress cannot make it terminal
                job = event.job if event.job is not None and event.job.owner == owner \
                    else await asyncio.to_thread(self.get, owner, job_id)
            return job

    async def events(self, owner: str, job_id: str, last_id: int = -1
                     ) -> AsyncIterator[StreamEvent | None]:
        """A job's events after ``last_id`` (None = keep-alive), ending with ``completed``."""
        with self.broadcaster.subscribe(job_id) as events:
            job = await asyncio.to_thread(self.get, owner, job_id)
            sent_status: str | None = None
            while True:
                if job.event_id > last_id:
                    last_id = job.event_id
                    if job.status.is_terminal:
                        yield StreamEvent("completed", last_id, job)
                        return
                    name = "status" if job.status.value != sent_status else "progress"
                    sent_status = job.status.value
                    yield StreamEvent(name, last_id, job, job.progress_step, job.progress_total)
                event = await events.next(KEEPALIVE_S)
                if event is None:
                    yield None
                elif event.kind == "progress":
                    job = _with_progress(job, event)
                else:
                    job = event.job if event.job is not None else await asyncio.to_thread(
                        self.get, owner, job_id)

    def view(self, job: Job) -> JobView:
        """What clients see of a job (queue position, output links' expiry)."""
        expiry = self.settings.url_expiry_s
        urls = {int(o["index"]): self.storage.url(o["key"], expiry) for o in job.outputs}
        retention = self.settings.result_retention_s
        finished = job.finished_at
        direct = any(urls.values())
        return JobView(job=job, queue_position=self.table.queue_position(job), output_urls=urls,
                       output_expiry=(time.time() + expiry if direct
                                      else (finished or time.time()) + retention),
                       expires_at=finished + retention if finished else None)

    def open_output(self, owner: str, job_id: str, index: int) -> OutputFile:
        """A presigned URL when the storage has one, else the bytes."""
        job = self.get(owner, job_id)
        for output in job.outputs:
            if output.get("index") == index:
                kind = output.get("content_type", "image/png")
                url = self.storage.url(output["key"], self.settings.url_expiry_s)
                if url:
                    return OutputFile(kind, url=url)
                return OutputFile(kind, data=self.storage.get(output["key"]))
        raise InputNotFound(f"job {job_id!r} has no output {index}")


def _with_progress(job: Job, event: JobEvent) -> Job:
    from dataclasses import replace

    if event.step <= job.progress_step and job.progress_total:
        return job
    return replace(job, progress_step=event.step, progress_total=event.total or job.progress_total)


def _valid_job_id(job_id: str) -> bool:
    return len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)


# A list cursor: the created_at (a float's repr) and id of the last job of the previous page.
CURSOR_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,20})?(e[+-]?[0-9]{1,3})?_[0-9a-f]{32}$"


def _decode_cursor(cursor: str) -> tuple[float, str]:
    if re.fullmatch(CURSOR_PATTERN, cursor) is None:
        raise InvalidInput("cursor is not one this server gave out", field="cursor")
    created, job_id = cursor.split("_", 1)
    return float(created), job_id


def _check_idempotency_key(key: str) -> str:
    # RFC 8941 sf-string ('"abc"') or a bare token; printable ASCII, bounded.
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= 255 or not all(32 < ord(c) < 127 for c in key):
        raise InvalidInput("Idempotency-Key must be 1-255 printable ASCII characters",
                           field="Idempotency-Key")
    return key


def _fingerprint(params: dict[str, Any], webhook_url: str | None, uploads: Uploads) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    digest.update(f"|webhook={webhook_url or ''}".encode())
    for name in UPLOADS:
        data = getattr(uploads, name)
        digest.update(f"|{name}=".encode())
        digest.update(hashlib.sha256(data).digest() if data is not None else b"-")
    return digest.hexdigest()
