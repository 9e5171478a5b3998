"""v1 try-on jobs: submit, list, read, follow (SSE), cancel, fetch outputs.

Thin: parse the form → ``JobService`` → serialise. The form's documented bounds are the limits
the service enforces (the router is built from the deployment's limits). Older field names
(``n_steps``, ``n_samples``, ``model_type``) are accepted beside diffusers' names; a field sent
twice, or a field this route does not know, is a 422 naming it. The same submission as a JSON
body (image URLs, data: URIs) is vto.service.routes.tryon_json, registered first on the same
path; delete and re-run are vto.service.routes.job_actions.
"""

# No "from __future__ import annotations": the route's annotations use values of build()'s
# scope (the deployment's limits), which FastAPI can only see when they are evaluated here.
import enum
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from vto.core.models.registry import SPECS
from vto.core.request import MAX_SEED, Limits
from vto.core.types import Category, Framing
from vto.errors import InvalidInput
from vto.service.jobs import JobStatus
from vto.service.problems import responses
from vto.service.routes import tryon_json
from vto.service.routes.deps import Owner, ServicesDep, Submitter, base_url
from vto.service.routes.outputs import OUTPUT_RESPONSES, output_response
from vto.service.routes.render import accepted_response, job_public, job_response
from vto.service.routes.schemas import JobList, JobPublic
from vto.service.service import CURSOR_PATTERN, StreamEvent, Uploads

SSE_RETRY_MS = 2000
# One server-sent event (OpenAPI 3.1: the schema of an event-stream describes each event).
SSE_EVENT = {"type": "object", "properties": {
    "event": {"type": "string", "enum": ["status", "progress", "completed"]},
    "id": {"type": "string", "pattern": "^[0-9]+$"},
    "data": {"type": "string", "contentMediaType": "application/json"},
    "retry": {"type": "integer"}}}
JobId = Annotated[str, Path(description="job id (32 hex characters)", max_length=64)]
ModelId = enum.Enum("ModelId", {name: name for spec in SPECS for name in (spec.id, *spec.aliases)},
                    type=str)
UPLOAD_FIELDS = ("person_image", "garment_image", "mask", "garment_mask", "densepose")
FORM_FIELDS = {"garment_id", "model", "model_type", "category", "num_inference_steps",
               "n_steps", "guidance_scale", "num_images_per_prompt", "n_samples", "seed",
               "framing", "person_select", "webhook_url", *UPLOAD_FIELDS}


async def read_upload(upload: UploadFile | None) -> bytes | None:
    """The bytes of an upload; an empty part (a form with no file chosen) is no upload."""
    if upload is None:
        return None
    data = await upload.read()
    return data or None


async def check_form(request: Request) -> None:
    """Unknown and repeated form fields are refused (not silently ignored or overwritten)."""
    form = await request.form()
    unknown = sorted(set(form.keys()) - FORM_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown form field(s): {', '.join(unknown)}", field=unknown[0])
    repeated = sorted({k for k in form.keys() if len(form.getlist(k)) > 1})
    if repeated:
        raise InvalidInput(f"form field(s) sent more than once: {', '.join(repeated)}",
                           field=repeated[0])


def sse(event: StreamEvent | None, base: str, view: Any = None) -> str:
    if event is None:
        return ": keep-alive\n\n"
    job = event.job
    if event.name == "completed":
        data: dict[str, Any] = job_public(view, base)
    else:
        total = event.total or job.progress_total
        data = {"id": job.id, "status": job.status.value,
                "progress": {"step": event.step, "total": total,
                             "fraction": round(event.step / total, 4) if total else 0.0}}
    return (f"id: {event.id}\nevent: {event.name}\n"
            f"data: {json.dumps(data, separators=(',', ':'))}\n\n")


def build(limits: Limits, prefer_wait_max_s: float) -> APIRouter:
    """The v1 jobs router, its documented bounds taken from ``limits``."""
    router = APIRouter(prefix="/v1", tags=["jobs"])

    # (a FieldInfo per parameter: FastAPI writes each parameter's alias into its own)
    def steps(note: str = "") -> Any:
        return Form(ge=1, le=limits.max_steps, description="denoising steps (default: the "
                                                           f"model's){note}")

    def samples(note: str = "") -> Any:
        return Form(ge=1, le=limits.max_samples, description=f"images to generate{note}")

    # JSON bodies (image URLs, data: URIs) first: that route matches JSON requests only.
    tryon_json.add_routes(router, prefer_wait_max_s)

    @router.post("/tryon", status_code=202, response_model=JobPublic, summary="Submit a try-on job",
                 description="A multipart form (files), or a JSON body with the same fields and "
                             "the images as http(s) URLs or data: URIs (also inside Cog's "
                             "`{\"input\": {...}}`).",
                 openapi_extra=tryon_json.openapi_extra(),
                 responses={200: {"model": JobPublic, "description": "finished within Prefer: wait"},
                            202: {"model": JobPublic, "description": "accepted; poll Location",
                                  "headers": {"Location": {"schema": {"type": "string"}}}},
                            **responses(400, 401, 404, 409, 413, 415, 422, 429, 503)})
    async def create_tryon(
        request: Request, services: ServicesDep, owner: Submitter,
        person_image: Annotated[UploadFile, File(description="photo of the person")],
        garment_image: Annotated[UploadFile | None, File(description="garment photo")] = None,
        garment_id: Annotated[str | None, Form(max_length=64, description="catalog garment id "
                                                                          "(instead of an image)")] = None,
        mask: Annotated[UploadFile | None, File(description="white = re-generate; the photo's "
                                                            "size")] = None,
        garment_mask: Annotated[UploadFile | None, File(description="the garment's silhouette "
                                                                    "(models that use one)")] = None,
        densepose: Annotated[UploadFile | None, File(description="DensePose image of the "
                                                                 "person (hr-viton)")] = None,
        model: Annotated[ModelId | None, Form(description="model id, see GET /v1/models")] = None,
        model_type: Annotated[Literal["hd", "dc"] | None, Form(description="= model ootd-hd / "
                                                                           "ootd-dc")] = None,
        category: Annotated[Category | None, Form()] = None,
        num_inference_steps: Annotated[int | None, steps()] = None,
        n_steps: Annotated[int | None, steps("; older name")] = None,
        guidance_scale: Annotated[float | None, Form(
            ge=0.0, le=limits.max_guidance, description="image guidance (default: the "
                                                        "model's)")] = None,
        num_images_per_prompt: Annotated[int | None, samples()] = None,
        n_samples: Annotated[int | None, samples("; older name")] = None,
        seed: Annotated[int | None, Form(ge=-1, le=MAX_SEED, description="-1 = random")] = None,
        framing: Annotated[Framing | None, Form()] = None,
        person_select: Annotated[Literal["error", "largest"] | None, Form()] = None,
        webhook_url: Annotated[str | None, Form(max_length=2048)] = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
        prefer: Annotated[str | None, Header(alias="Prefer")] = None,
    ) -> JSONResponse:
        await check_form(request)
        given = {"model": model.value if model else None, "model_type": model_type,
                 "category": category, "num_inference_steps": num_inference_steps,
                 "n_steps": n_steps, "guidance_scale": guidance_scale,
                 "num_images_per_prompt": num_images_per_prompt, "n_samples": n_samples,
                 "seed": seed, "framing": framing, "person_select": person_select}
        uploads = Uploads(person=await read_upload(person_image),
                          garment=await read_upload(garment_image),
                          mask=await read_upload(mask),
                          garment_mask=await read_upload(garment_mask),
                          densepose=await read_upload(densepose))
        job, created = await run_in_threadpool(
            services.jobs.submit, owner=owner,
            fields={k: v for k, v in given.items() if v is not None}, uploads=uploads,
            garment_id=garment_id or None, idempotency_key=idempotency_key,
            webhook_url=webhook_url or None)
        return await accepted_response(services, owner, job, created, request, prefer,
                                       prefer_wait_max_s)

    @router.get("/jobs", response_model=JobList, summary="This key's jobs, newest first",
                responses=responses(401, 422))
    def list_jobs(request: Request, services: ServicesDep, owner: Owner,
                  status: Annotated[list[Literal["queued", "running", "succeeded", "failed",
                                                 "canceled"]] | None, Query()] = None,
                  cursor: Annotated[str | None, Query(max_length=80, pattern=CURSOR_PATTERN,
                                                      description="next_cursor of the previous "
                                                                  "page")] = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        page, next_cursor = services.jobs.list(
            owner, statuses=[JobStatus(s) for s in status] if status else None,
            cursor=cursor, limit=limit)
        base = base_url(request)
        return {"jobs": [job_public(services.jobs.view(job), base) for job in page],
                "next_cursor": next_cursor}

    @router.get("/jobs/{job_id}", response_model=JobPublic, summary="A job's status and outputs",
                responses=responses(401, 404))
    async def get_job(job_id: JobId, request: Request, services: ServicesDep,
                      owner: Owner) -> JSONResponse:
        job = await run_in_threadpool(services.jobs.get, owner, job_id)
        return await job_response(services, job, request, 200)

    @router.post("/jobs/{job_id}/cancel", response_model=JobPublic, summary="Cancel a job",
                 responses={202: {"model": JobPublic, "description": "cancel requested; the job "
                                                                    "stops at its next step"},
                            **responses(401, 404)})
    async def cancel_job(job_id: JobId, request: Request, services: ServicesDep,
                         owner: Owner) -> JSONResponse:
        job = await run_in_threadpool(services.jobs.cancel, owner, job_id)
        return await job_response(services, job, request, 200 if job.status.is_terminal else 202)

    @router.head("/jobs/{job_id}/outputs/{index}", include_in_schema=False)
    @router.get("/jobs/{job_id}/outputs/{index}", summary="One output image (also HEAD, Range)",
                response_class=Response, responses={**OUTPUT_RESPONSES, **responses(401, 404)})
    async def get_output(job_id: JobId, index: Annotated[int, Path(ge=0, le=1000)],
                         request: Request, services: ServicesDep, owner: Owner) -> Response:
        output = await run_in_threadpool(services.jobs.open_output, owner, job_id, index)
        return output_response(output, request)

    @router.get("/jobs/{job_id}/events", summary="Server-sent events for one job",
                response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                                 "description": "events: status, progress, completed (data: "
                                                "JSON; completed carries the JobPublic)"},
                           204: {"description": "the job already finished and the client has "
                                                "seen its last event"},
                           **responses(401, 404)})
    async def job_events(job_id: JobId, request: Request, services: ServicesDep, owner: Owner,
                         last_event_id: Annotated[str | None,
                                                  Header(alias="Last-Event-ID")] = None,
                         ) -> Response:
        job = await run_in_threadpool(services.jobs.get, owner, job_id)
        last = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
        if job.status.is_terminal and last >= job.event_id:
            return Response(status_code=204)  # tells EventSource to stop reconnecting
        base = base_url(request)

        async def stream() -> Any:
            yield f"retry: {SSE_RETRY_MS}\n\n"
            async for event in services.jobs.events(owner, job_id, last):
                if await request.is_disconnected():
                    return
                view = (await run_in_threadpool(services.jobs.view, event.job)
                        if event is not None and event.name == "completed" else None)
                yield sse(event, base, view)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router

