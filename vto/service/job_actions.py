"""What a caller may do with one of its finished jobs besides reading it: delete it, re-run it.

    delete_job(jobs, owner, job_id)              # row, inputs and results gone (finished jobs)
    job, created = rerun_job(jobs, owner, job_id) # a new job: same inputs, settings and seed

Both act only on the caller's own jobs (another key's job does not exist for it). A re-run
submits the stored inputs again through :meth:`JobService.submit`, so it is validated, queued
and limited like any submission; the seed is the one the job used, so the images are the same
(on the same weights and device). A catalog garment is referred to by its id again.
"""

from __future__ import annotations

from vto.errors import Conflict, InputNotFound
from vto.service.jobs import Job
from vto.service.service import UPLOADS, JobService, Uploads

# Request fields a job's params carry that a re-run sends again (the rest are bookkeeping).
RERUN_FIELDS = ("model", "category", "num_inference_steps", "guidance_scale",
                "num_images_per_prompt", "width", "height", "framing", "person_select")


def delete_job(jobs: JobService, owner: str, job_id: str) -> None:
    """Remove a finished job of ``owner``: its row, its stored inputs and its results.
    Conflict while it is queued or running (cancel it first)."""
    job = jobs.get(owner, job_id)
    if not job.status.is_terminal:
        raise Conflict(f"job {job_id} is {job.status.value}; cancel it first "
                       f"(POST /v1/jobs/{job_id}/cancel), then delete it")
    jobs.storage.delete_prefix(f"results/{job_id}/")
    jobs.storage.delete_prefix(f"inputs/{job_id}/")
    jobs.table.delete(job_id)


def rerun_job(jobs: JobService, owner: str, job_id: str,
              idempotency_key: str | None = None) -> tuple[Job, bool]:
    """A new job with ``job_id``'s inputs, settings and seed (see the module docstring)."""
    job = jobs.get(owner, job_id)
    params = job.params
    garment_id = params.get("garment_id") or None
    stored: dict[str, bytes | None] = {}
    for name in UPLOADS:
        key = job.inputs.get(name)
        if key is None or (name == "garment" and garment_id is not None):
            stored[name] = None
            continue
        try:
            stored[name] = jobs.storage.get(key)
        except InputNotFound:
            raise InputNotFound(f"job {job_id}'s inputs are no longer stored; submit the "
                                "photos again") from None
    fields = {name: params[name] for name in RERUN_FIELDS if params.get(name) is not None}
    fields["seed"] = int(params["seed"])
    return jobs.submit(owner=owner, fields=fields, uploads=Uploads(**stored),
                       garment_id=garment_id, idempotency_key=idempotency_key)
