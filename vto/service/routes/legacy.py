"""Legacy routes: the seed servers' API, so their clients work unchanged.

* FastAPI seed: ``POST /vto`` (``person_image`` + integer ``clothe_id``; synchronous),
  ``GET /clothes``, ``GET /result/{name}``.
* Flask dialect: ``POST /generate`` (``modelType`` hd|dc, ``category`` 0|1|2,
  ``modelSelection`` = preset person id, ``imageScale``, ``nSteps``, ``nSamples``, ``seed``; the
  garment as ``garmentImage`` upload or catalog ``garmentId``) → URLs of the stored images.

Both run through the same job service as v1 (same validation: a value v1 refuses is refused
here too) and wait for the job (up to ``sync_timeout_s``; past it the answer is 202 with the
job's Location). A failed job answers its problem+json.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vto.core.request import MAX_SEED
from vto.core.types import Category
from vto.errors import InputNotFound, problem_error
from vto.service.jobs import Job, JobStatus
from vto.service.metrics import table_times
from vto.service.problems import responses
from vto.service.routes.deps import Owner, ServicesDep, Submitter, base_url
from vto.service.routes.jobs import ModelId, read_upload
from vto.service.routes.render import job_response
from vto.service.routes.outputs import OUTPUT_RESPONSES, output_response
from vto.service.routes.schemas import GenerateOut, VtoOut
from vto.service.service import Uploads

router = APIRouter(tags=["legacy"])

_RESULT_NAME = re.compile(r"([0-9a-f]{32})_([0-9]{1,3})\.png")


def result_name(job_id: str, index: int) -> str:
    return f"{job_id}_{index}.png"


async def _run_sync(services: Any, request: Request, owner: str, **submit: Any) -> Job | Response:
    job, _ = await run_in_threadpool(services.jobs.submit, owner=owner, **submit)
    job = await services.jobs.wait(owner, job.id, services.settings.sync_timeout_s)
    if job.status is JobStatus.SUCCEEDED:
        return job
    if job.status.is_terminal:  # its stored problem, answered as the seed's error
        raise problem_error(job.error or {"detail": "the job failed"})
    return await job_response(services, job, request, 202, {"Location": f"/v1/jobs/{job.id}",
                                                            "Retry-After": "5"})


def _image_url(services: Any, job: Job, index: int, request: Request) -> str:
    output = job.outputs[index]
    direct = services.storage.url(output["key"], services.settings.url_expiry_s)
    return direct or f"{base_url(request)}/result/{result_name(job.id, index)}"


@router.post("/vto", response_model=VtoOut, summary="Seed: try a catalog garment on (sync)",
             responses={202: {"description": "still running; poll Location"},
                        **responses(400, 401, 404, 409, 413, 415, 422, 429, 503)})
async def vto(request: Request, services: ServicesDep, owner: Submitter,
              person_image: Annotated[UploadFile, File()],
              clothe_id: Annotated[int, Form(description="garment number as GET /clothes lists")],
              model: Annotated[ModelId | None, Form(description="a model id (default: the "
                                                                 "seed's choice for the garment)")] = None,
              ) -> Any:
    started = time.monotonic()
    garment = services.garments.get_by_int(clothe_id)
    outcome = await _run_sync(services, request, owner,
                              fields={"model": model.value} if model else {},
                              uploads=Uploads(person=await read_upload(person_image)),
                              garment_id=garment.id)
    if isinstance(outcome, Response):
        return outcome
    times = await run_in_threadpool(table_times, services.table)
    used = str((outcome.result or {}).get("model") or outcome.params.get("model"))
    return {"success": True, "image_url": _image_url(services, outcome, 0, request),
            "processing_time": round(time.monotonic() - started, 3),
            "clothe_id": garment.int_id, "clothe_name": garment.name,
            "category": garment.category.prompt_word,
            "model_type": used.removeprefix("ootd-"),
            "metrics": {"average_time": times.average(),
                        "category_average": times.category_average(garment.category.value),
                        "recent_performance": times.recent_performance(5)}}  # the seed's last 5


@router.get("/clothes", summary="Seed: the garment catalog with integer ids",
            responses=responses(401))
def clothes(services: ServicesDep, owner: Owner) -> dict[str, Any]:
    items = [g.to_seed_dict() for g in services.catalog.list()]
    return {"success": True, "clothes": items, "count": len(items)}


@router.head("/result/{name}", include_in_schema=False)
@router.get("/result/{name}", response_class=Response, summary="Seed: a result image",
            responses={**OUTPUT_RESPONSES, **responses(401, 404)})
def result(name: Annotated[str, Path(max_length=128)], request: Request,
           services: ServicesDep, owner: Owner) -> Response:
    match = _RESULT_NAME.fullmatch(name)
    if match is None:
        raise InputNotFound(f"no result {name!r}")
    return output_response(services.jobs.open_output(owner, match.group(1),
                                                     int(match.group(2))), request)


@router.post("/generate", response_model=GenerateOut,
             summary="Flask dialect: preset person + garment (sync)",
             responses={202: {"description": "still running; poll Location"},
                        **responses(400, 401, 404, 409, 413, 415, 422, 429, 503)})
async def generate(request: Request, services: ServicesDep, owner: Submitter,
                   modelSelection: Annotated[str, Form(max_length=64)],
                   modelType: Annotated[Literal["hd", "dc"], Form()] = "hd",
                   category: Annotated[int, Form(ge=0, le=2)] = 0,
                   imageScale: Annotated[float | None, Form(ge=0.0, le=20.0)] = None,
                   nSteps: Annotated[int | None, Form(ge=1, le=100)] = None,
                   nSamples: Annotated[int, Form(ge=1, le=4)] = 1,
                   seed: Annotated[int, Form(ge=-1, le=MAX_SEED)] = -1,
                   garmentImage: Annotated[UploadFile | None, File()] = None,
                   garmentId: Annotated[str | None, Form(max_length=64)] = None,
                   model: Annotated[ModelId | None, Form(description="a model id; overrides "
                                                                     "modelType")] = None) -> Any:
    started = time.monotonic()
    person = await run_in_threadpool(services.presets.read, modelSelection)
    fields: dict[str, Any] = {"model": model.value if model else f"ootd-{modelType}",
                              "category": Category.from_index(category),
                              "num_images_per_prompt": nSamples, "seed": seed}
    if nSteps is not None:
        fields["num_inference_steps"] = nSteps
    if imageScale is not None:
        fields["guidance_scale"] = imageScale
    outcome = await _run_sync(services, request, owner, fields=fields,
                              uploads=Uploads(person=person,
                                              garment=await read_upload(garmentImage)),
                              garment_id=garmentId or None)
    if isinstance(outcome, Response):
        return outcome
    urls = [_image_url(services, outcome, i, request) for i in range(len(outcome.outputs))]
    return {"success": True, "images": urls, "image_url": urls[0] if urls else "",
            "seed": int((outcome.result or {}).get("seed", outcome.params.get("seed", -1))),
            "processing_time": round(time.monotonic() - started, 3), "job_id": outcome.id}
