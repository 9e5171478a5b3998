"""The seed servers' routes, so their clients work unchanged.

* FastAPI seed: ``POST /vto`` (``person_image`` + integer ``clothe_id``; synchronous),
  ``GET /clothes``, ``GET /result/{name}``.
* Flask dialect: ``POST /generate`` (``modelType`` hd|dc, ``category`` 0|1|2,
  ``modelSelection`` = preset person id, ``imageScale``, ``nSteps``, ``nSamples``, ``seed``; the
  garment as ``garmentImage`` upload or catalog ``garmentId``) → URLs of the stored images.

Both run through the same job queue as v1 and wait for the job (up to ``sync_timeout_s``;
past it the answer is 202 with the job's Location). A failed job answers its problem+json.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vto.core.types import Category, ModelType, parse_model_type
from vto.errors import InputNotFound
from vto.service.jobs import Job, JobStatus
from vto.service.problems import problem_response, responses
from vto.service.routes.deps import Owner, State, Submitter, base_url
from vto.service.routes.jobs import job_response, read_upload
from vto.service.routes.schemas import GenerateOut, VtoOut
from vto.service.service import TryOnParams

router = APIRouter(tags=["seed-compatible"])

_RESULT_NAME = re.compile(r"([0-9a-f]{32})_([0-9]{1,3})\.png")


def result_name(job_id: str, index: int) -> str:
    return f"{job_id}_{index}.png"


async def _run_sync(state: Any, request: Request, owner: str, **submit: Any) -> Job | Response:
    job, _ = await run_in_threadpool(state.service.submit, owner=owner, **submit)
    job = await state.service.wait(owner, job.id, state.settings.sync_timeout_s)
    if job.status is JobStatus.SUCCEEDED:
        return job
    if job.status.is_terminal:
        error = job.error or {"status": 500, "title": "Failed"}
        return problem_response(int(error.get("status", 500)), str(error.get("title", "Failed")),
                                error.get("detail"), type_=str(error.get("type", "about:blank")),
                                instance=request.url.path, job_id=job.id)
    return job_response(state, job, request, 202, {"Location": f"/v1/jobs/{job.id}",
                                                    "Retry-After": "5"})


def _image_url(state: Any, job: Job, index: int, request: Request) -> str:
    output = job.outputs[index]
    direct = state.storage.url(output["key"], state.settings.url_expiry_s)
    return direct or f"{base_url(request)}/result/{result_name(job.id, index)}"


@router.post("/vto", response_model=VtoOut, summary="Seed: try a catalog garment on (sync)",
             responses={202: {"description": "still running; poll Location"},
                        **responses(401, 404, 409, 413, 415, 422, 429, 503)})
async def vto(request: Request, state: State, owner: Submitter,
              person_image: Annotated[UploadFile, File()],
              clothe_id: Annotated[int, Form(description="garment number as GET /clothes lists")],
              ) -> Any:
    started = time.monotonic()
    garment = state.catalog.get_by_int(clothe_id)
    model_type = ModelType.HD if (garment.category is Category.UPPER_BODY
                                  and "hd" in garment.model_types) else ModelType.DC
    params = TryOnParams(model_type=model_type, category=garment.category,
                         n_steps=state.settings.default_steps,
                         guidance_scale=state.settings.default_guidance,
                         framing=state.settings.framing, garment_id=garment.id)
    outcome = await _run_sync(state, request, owner, params=params,
                              person=await read_upload(person_image))
    if isinstance(outcome, Response):
        return outcome
    times = await run_in_threadpool(state.job_times)
    return {"success": True, "image_url": _image_url(state, outcome, 0, request),
            "processing_time": round(time.monotonic() - started, 3),
            "clothe_id": garment.int_id, "clothe_name": garment.name,
            "category": garment.category.prompt_word, "model_type": model_type.value,
            "metrics": {"average_time": times.average(),
                        "category_average": times.category_average(garment.category.value),
                        "recent_performance": times.recent_performance(5)}}  # the seed reports the last 5


@router.get("/clothes", summary="Seed: the garment catalog with integer ids",
            responses=responses(401))
def clothes(state: State, owner: Owner) -> dict[str, Any]:
    items = [g.to_seed_dict() for g in state.catalog.list()]
    return {"success": True, "clothes": items, "count": len(items)}


@router.get("/result/{name}", response_class=Response, summary="Seed: a result image",
            responses={200: {"content": {"image/png": {"schema": {"type": "string",
                                                                  "format": "binary"}}},
                             "description": "the image"},
                       307: {"description": "redirect to a presigned storage URL"},
                       **responses(401, 404)})
def result(name: Annotated[str, Path(max_length=128)], state: State, owner: Owner) -> Response:
    match = _RESULT_NAME.fullmatch(name)
    if match is None:
        raise InputNotFound(f"no result {name!r}")
    output = state.service.output(owner, match.group(1), int(match.group(2)))
    url = state.storage.url(output["key"], state.settings.url_expiry_s)
    if url:
        return RedirectResponse(url, status_code=307)
    return Response(state.storage.get(output["key"]), media_type="image/png")


@router.post("/generate", response_model=GenerateOut,
             summary="Flask dialect: preset person + garment (sync)",
             responses={202: {"description": "still running; poll Location"},
                        **responses(401, 404, 409, 413, 415, 422, 429, 503)})
async def generate(request: Request, state: State, owner: Submitter,
                   modelSelection: Annotated[str, Form(max_length=64)],
                   modelType: Annotated[str, Form(max_length=8)] = "hd",
                   category: Annotated[int, Form(ge=0, le=2)] = 0,
                   imageScale: Annotated[float | None, Form(ge=0.0, le=30.0)] = None,
                   nSteps: Annotated[int | None, Form(ge=1, le=1000)] = None,
                   nSamples: Annotated[int, Form(ge=1, le=16)] = 1,
                   seed: Annotated[int, Form(ge=-1, le=2**31 - 1)] = -1,
                   garmentImage: Annotated[UploadFile | None, File()] = None,
                   garmentId: Annotated[str | None, Form(max_length=64)] = None) -> Any:
    started = time.monotonic()
    settings = state.settings
    person = await run_in_threadpool(state.presets.read, modelSelection)
    steps = nSteps if nSteps is not None else settings.default_steps
    params = TryOnParams(model_type=parse_model_type(modelType.strip().lower()),
                         category=Category.from_index(category),
                         n_samples=min(nSamples, settings.max_samples),
                         n_steps=min(steps, settings.max_steps),
                         guidance_scale=imageScale if imageScale is not None
                         else settings.default_guidance,
                         seed=seed, framing=settings.framing, garment_id=garmentId or None)
    outcome = await _run_sync(state, request, owner, params=params, person=person,
                              garment=await read_upload(garmentImage))
    if isinstance(outcome, Response):
        return outcome
    urls = [_image_url(state, outcome, i, request) for i in range(len(outcome.outputs))]
    return {"success": True, "images": urls, "image_url": urls[0] if urls else "",
            "seed": int((outcome.result or {}).get("seed", outcome.params.get("seed", -1))),
            "processing_time": round(time.monotonic() - started, 3), "job_id": outcome.id}
