"""The automatic mask for a photo, before any job: what ``POST /v1/masks`` answers.

    preview = preview_mask(services.jobs, services.engine, fields, person_bytes, timeout_s)
    preview.mask       # PNG bytes, "L" 0/255 at the photo's size, 255 = would be re-generated
    preview.masked     # PNG bytes, the photo with that region grey (127)

The request is resolved like a job's (the deployment's default model and size, the model's
categories and framings), the photo decoded and checked like an upload; the mask is worker work
(the engine's ``automatic_mask``, asked through the engine client), so the API process stays
free of torch. A client shows the mask, lets the user correct it, and sends it as ``mask``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from vto.core.images import SERVICE_FORMATS, open_image
from vto.core.models.base import Need
from vto.core.request import TryOnInputs, TryOnRequest, check_inputs
from vto.errors import InvalidInput
from vto.service.queue import EngineClient
from vto.service.service import JobService

MASK_FIELDS = ("model", "model_type", "category", "framing", "person_select")


@dataclass(frozen=True)
class MaskPreview:
    request: TryOnRequest      # resolved: the model, category and framing the mask is for
    width: int                 # the photo's size (the mask's too)
    height: int
    mask: bytes                # PNG
    masked: bytes              # PNG
    coverage: float            # share of the photo inside the mask, 0..1


def preview_mask(jobs: JobService, engine: EngineClient, fields: dict[str, Any],
                 person: bytes | None, timeout_s: float) -> MaskPreview:
    """The automatic mask of ``fields``' model for the photo ``person`` (see the module
    docstring). InvalidInput for a model without an automatic mask or a photo it refuses;
    the worker's own refusals (no person found …) as it raised them."""
    from vto.service.worker.calls import b64_png, from_b64

    if person is None:
        raise InvalidInput("person_image is required", field="person_image")
    request = jobs.resolve(fields, None)
    caps = request.spec.capabilities
    if Need.MASK not in caps.needs:
        raise InvalidInput(f"model {request.model} does not re-generate a masked region, so it "
                           "has no mask to preview", field="model")
    settings = jobs.settings
    with jobs.decoding.hold(person):
        photo = open_image(person, max_pixels=settings.max_pixels, formats=SERVICE_FORMATS,
                           name="person_image")
        check_inputs(request, TryOnInputs(person=photo), jobs.limits)
        payload = {"request": request.model_dump(mode="json"), "person": b64_png(photo)}
    answer = engine.call("mask", payload, timeout_s)
    mask = from_b64(answer["mask"], "L")
    coverage = sum(mask.histogram()[128:]) / max(1, mask.width * mask.height)
    return MaskPreview(request=request, width=mask.width, height=mask.height,
                       mask=base64.b64decode(answer["mask"]),
                       masked=base64.b64decode(answer["masked"]), coverage=round(coverage, 4))
