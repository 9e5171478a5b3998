"""v1 try-on jobs: submit, read, follow (SSE), cancel, fetch outputs."""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, AsyncIterator

from fastapi import APIRouter, File, Form, Header, Path, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from vto.core.types import Category, Framing, ModelType
from vto.errors import InvalidInput
from vto.service.jobs import Job
from vto.service.problems import responses
from vto.service.routes.deps import Owner, State, Submitter, base_url
from vto.service.routes.schemas import JobOut
from vto.service.service import TryOnParams

router = APIRouter(prefix="/v1", tags=["jobs"])

KEEPALIVE_S = 15.0
SSE_RETRY_MS = 2000
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d{1,6})")

JobId = Annotated[str, Path(description="job id (32 hex characters)", max_length=64)]


def job_response(state: Any, job: Job, request: Request, status: int,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(state.service.public(job, base_url(request)), status_code=status,
                        headers=headers)


async def read_upload(upload: UploadFile | None) -> bytes | None:
    if upload is None:
        return None
    return await upload.read()


@router.post("/tryon", status_code=202, response_model=JobOut,
             summary="Submit a try-on job",
             responses={200: {"model": JobOut, "description": "finished within Prefer: wait"},
                        202: {"model": JobOut, "description": "accepted; poll Location",
                              "headers": {"Location": {"schema": {"type": "string"}}}},
                        **responses(400, 401, 404, 409, 413, 415, 422, 429, 503)})
async def create_tryon(
    request: Request, state: State, owner: Submitter,
    person_image: Annotated[UploadFile, File(description="photo of the person (JPEG/PNG/WEBP)")],
    garment_image: Annotated[UploadFile | None, File(description="garment photo")] = None,
    garment_id: Annotated[str | None, Form(max_length=64, description="catalog garment id")] = None,
    mask: Annotated[UploadFile | None, File(description="optional mask, white = re-generate")] = None,
    model_type: Annotated[ModelType, Form()] = ModelType.HD,
    category: Annotated[Category, Form()] = Category.UPPER_BODY,
    n_samples: Annotated[int, Form(ge=1, le=16)] = 1,
    n_steps: Annotated[int | None, Form(ge=1, le=1000)] = None,
    guidance_scale: Annotated[float | None, Form(ge=0.0, le=30.0)] = None,
    seed: Annotated[int, Form(ge=-1, le=2**31 - 1, description="-1 = random")] = -1,
    framing: Annotated[Framing | None, Form()] = None,
    webhook_url: Annotated[str | None, Form(max_length=2048)] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    prefer: Annotated[str | None, Header(alias="Prefer")] = None,
) -> JSONResponse:
    settings = state.settings
    steps = n_steps if n_steps is not None else settings.default_steps
    if steps > settings.max_steps:
        raise InvalidInput(f"n_steps must be at most {settings.max_steps}")
    if n_samples > settings.max_samples:
        raise InvalidInput(f"n_samples must be at most {settings.max_samples}")
    params = TryOnParams(model_type=model_type, category=category, n_samples=n_samples,
                         n_steps=steps,
                         guidance_scale=(guidance_scale if guidance_scale is not None
                                         else settings.default_guidance),
                         seed=seed, framing=framing or settings.framing,
                         garment_id=garment_id or None)
    job, created = await run_in_threadpool(
        state.service.submit, owner=owner, params=params, person=await read_upload(person_image),
        garment=await read_upload(garment_image), mask=await read_upload(mask),
        idempotency_key=idempotency_key, webhook_url=webhook_url or None)
    headers = {"Location": f"/v1/jobs/{job.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    wait_s = _prefer_wait(prefer, settings.prefer_wait_max_s)
    if wait_s and not job.status.is_terminal:
        job = await state.service.wait(owner, job.id, wait_s)
        headers["Preference-Applied"] = f"wait={int(wait_s)}"
    if job.status.is_terminal:
        return job_response(state, job, request, 200, headers)
    headers["Retry-After"] = "2"
    return job_response(state, job, request, 202, headers)


def _prefer_wait(prefer: str | None, cap_s: float) -> float:
    match = _PREFER_WAIT.search(prefer or "")
    return min(float(match.group(1)), cap_s) if match else 0.0


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status and outputs",
            responses=responses(401, 404))
def get_job(job_id: JobId, request: Request, state: State, owner: Owner) -> JSONResponse:
    return job_response(state, state.service.get(owner, job_id), request, 200)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, summary="Cancel a job",
             responses={202: {"model": JobOut, "description": "cancel requested; the job stops "
                                                              "at its next step"},
                        **responses(401, 404)})
def cancel_job(job_id: JobId, request: Request, state: State, owner: Owner) -> JSONResponse:
    job = state.service.cancel(owner, job_id)
    return job_response(state, job, request, 200 if job.status.is_terminal else 202)


@router.get("/jobs/{job_id}/outputs/{index}", summary="One output image",
            response_class=Response,
            responses={200: {"content": {"image/png": {"schema": {"type": "string",
                                                                  "format": "binary"}}},
                             "description": "the image"},
                       307: {"description": "redirect to a presigned storage URL"},
                       **responses(401, 404)})
def get_output(job_id: JobId, index: Annotated[int, Path(ge=0, le=1000)], state: State,
               owner: Owner) -> Response:
    output = state.service.output(owner, job_id, index)
    url = state.storage.url(output["key"], state.settings.url_expiry_s)
    if url:
        return RedirectResponse(url, status_code=307)
    data = state.storage.get(output["key"])
    return Response(data, media_type=output.get("content_type", "image/png"),
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/jobs/{job_id}/events", summary="Server-sent events for one job",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "events: status, progress, completed"},
                       204: {"description": "the job already finished and the client has "
                                            "seen its last event"},
                       **responses(401, 404)})
async def job_events(job_id: JobId, request: Request, state: State, owner: Owner,
                     last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
                     ) -> Response:
    job = await run_in_threadpool(state.service.get, owner, job_id)
    last = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
    if job.status.is_terminal and last >= job.version:
        return Response(status_code=204)  # tells EventSource to stop reconnecting
    return StreamingResponse(_stream(state, request, job_id, last),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(state: Any, request: Request, job_id: str, last: int) -> AsyncIterator[str]:
    yield f"retry: {SSE_RETRY_MS}\n\n"
    sent_status: str | None = None
    quiet_since = time.monotonic()
    base = base_url(request)
    while True:
        job = await run_in_threadpool(state.store.get, job_id)
        if job is None:
            return
        if job.version > last:
            last = job.version
            quiet_since = time.monotonic()
            if job.status.is_terminal:
                yield _event("completed", last, state.service.public(job, base))
                return
            progress = state.service.public(job, base)
            data = {"id": job.id, "status": job.status.value, "progress": progress["progress"],
                    "queue_position": progress["queue_position"]}
            yield _event("status" if job.status.value != sent_status else "progress", last, data)
            sent_status = job.status.value
        elif time.monotonic() - quiet_since >= KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await state.events.wait(job_id, state.settings.poll_s)


def _event(name: str, event_id: int, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

