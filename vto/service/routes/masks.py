"""v1 masks: the automatic mask for a photo, to show and correct before a run.

``POST /v1/masks`` takes the person photo (a multipart upload, or in a JSON body an http(s)
URL or data: URI) and the settings that decide the mask (``model``/``model_type``,
``category``, ``framing``, ``person_select``). It answers JSON with the mask and the masked
photo as PNG data: URIs at the photo's size, or, when the first type the client accepts is
``image/png``, the mask itself. The worker computes it (vto.service.mask_previews).
"""

# No "from __future__ import annotations": FastAPI reads the parameters' annotations.
import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vto.core.types import Category, Framing
from vto.errors import InvalidInput
from vto.service.mask_previews import MaskPreview, preview_mask
from vto.service.problems import responses
from vto.service.routes.deps import ServicesDep, Submitter
from vto.service.routes.json_body import (JSONBodyRoute, fetch_images, image_fetcher,
                                          json_object, openapi_body, parse_body)
from vto.service.routes.tryon_json import CategoryName, FramingName

router = APIRouter(prefix="/v1/masks", tags=["masks"])

MAX_MASK_WAIT_S = 120.0
FORM_FIELDS = {"person_image", "model", "model_type", "category", "framing", "person_select"}
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the mask (JSON by default; the PNG with Accept: image/png)"},
    **responses(401, 413, 415, 422, 429, 503)}


class MaskJSON(BaseModel):
    """The JSON body of POST /v1/masks."""

    model_config = ConfigDict(extra="forbid", title="MaskJSON")

    person_image: str = Field(description="photo of the person: an http(s) URL or a data: URI")
    model: str | None = Field(None, description="model id, see GET /v1/models")
    model_type: Literal["hd", "dc"] | None = Field(None, description="= model ootd-hd / ootd-dc")
    category: CategoryName | None = None
    framing: FramingName | None = None
    person_select: Literal["error", "largest"] | None = None


class MaskOut(BaseModel):
    model: str
    category: str
    framing: str
    width: int
    height: int
    coverage: float = Field(description="share of the photo inside the mask, 0..1")
    mask: str = Field(description="PNG data: URI, white = re-generated, the photo's size")
    masked: str = Field(description="PNG data: URI, the photo with the mask's region grey")


def mask_answer(preview: MaskPreview, accept: str | None) -> Response:
    if (accept or "").split(",")[0].split(";")[0].strip().lower() == "image/png":
        return Response(preview.mask, media_type="image/png")
    request = preview.request
    assert request.category is not None
    body = {"model": request.model, "category": request.category.value,
            "framing": request.framing.value, "width": preview.width, "height": preview.height,
            "coverage": preview.coverage, "mask": _data_uri(preview.mask),
            "masked": _data_uri(preview.masked)}
    return JSONResponse(body)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


async def _answer(services: Any, fields: dict[str, Any], person: bytes | None,
                  accept: str | None) -> Response:
    timeout_s = min(services.settings.sync_timeout_s, MAX_MASK_WAIT_S)
    preview = await run_in_threadpool(preview_mask, services.jobs, services.engine,
                                      {k: v for k, v in fields.items() if v is not None},
                                      person, timeout_s)
    return mask_answer(preview, accept)


async def create_mask_json(request: Request, services: ServicesDep, owner: Submitter,
                           accept: Annotated[str | None, Header()] = None) -> Response:
    body = parse_body(MaskJSON, await json_object(request))
    person = (await fetch_images(image_fetcher(request),
                                 {"person_image": body.person_image}))["person_image"]
    return await _answer(services, body.model_dump(exclude={"person_image"}), person, accept)


# JSON first: that route matches JSON requests only, the form route takes the rest.
router.add_api_route("", create_mask_json, methods=["POST"], include_in_schema=False,
                     route_class_override=JSONBodyRoute)


@router.post("", response_model=MaskOut, summary="The automatic mask for a photo",
             description="Multipart (person_image as a file) or JSON (person_image as an "
                         "http(s) URL or data: URI). The answer is JSON with the mask and the "
                         "masked photo as PNG data: URIs at the photo's size, or the mask PNG "
                         "itself when the first accepted type is image/png.",
             responses=ANSWERS, openapi_extra=openapi_body(MaskJSON))
async def create_mask(
    request: Request, services: ServicesDep, owner: Submitter,
    person_image: Annotated[UploadFile, File(description="photo of the person")],
    model: Annotated[str | None, Form(max_length=64, description="model id, see "
                                                                 "GET /v1/models")] = None,
    model_type: Annotated[Literal["hd", "dc"] | None, Form()] = None,
    category: Annotated[Category | None, Form()] = None,
    framing: Annotated[Framing | None, Form()] = None,
    person_select: Annotated[Literal["error", "largest"] | None, Form()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    form = await request.form()
    unknown = sorted(set(form.keys()) - FORM_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown form field(s): {', '.join(unknown)}", field=unknown[0])
    person = await person_image.read()
    fields = {"model": model, "model_type": model_type, "category": category,
              "framing": framing, "person_select": person_select}
    return await _answer(services, fields, person or None, accept)
