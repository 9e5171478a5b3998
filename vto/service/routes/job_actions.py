"""v1 job actions beside reading: delete a finished job, re-run a job with the same seed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from vto.service.job_actions import delete_job, rerun_job
from vto.service.problems import responses
from vto.service.routes.deps import Owner, ServicesDep, Submitter
from vto.service.routes.jobs import JobId
from vto.service.routes.render import accepted_response
from vto.service.routes.schemas import JobPublic

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.delete("/{job_id}", status_code=204, response_class=Response,
               summary="Delete a finished job (its inputs and results too)",
               responses=responses(401, 404, 409))
async def remove_job(job_id: JobId, services: ServicesDep, owner: Owner) -> Response:
    await run_in_threadpool(delete_job, services.jobs, owner, job_id)
    return Response(status_code=204)


@router.post("/{job_id}/rerun", status_code=202, response_model=JobPublic,
             summary="Run a job again: same inputs, settings and seed (a new job)",
             responses={202: {"model": JobPublic, "description": "accepted; poll Location",
                              "headers": {"Location": {"schema": {"type": "string"}}}},
                        **responses(401, 404, 409, 422, 429, 503)})
async def rerun(job_id: JobId, request: Request, services: ServicesDep, owner: Submitter,
                idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
                prefer: Annotated[str | None, Header(alias="Prefer")] = None) -> JSONResponse:
    job, created = await run_in_threadpool(rerun_job, services.jobs, owner, job_id,
                                           idempotency_key)
    return await accepted_response(services, owner, job, created, request, prefer,
                                   services.settings.prefer_wait_max_s)
