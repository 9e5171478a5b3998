"""``POST /v1/tryon`` with a JSON body: the form's fields, images as URLs or data: URIs.

    POST /v1/tryon   Content-Type: application/json
    {"person_image": "https://shop.example/model.jpg",
     "garment_image": "data:image/png;base64,iVBORw0…", "num_inference_steps": 20, "seed": 7}

or, as Cog and Replicate clients send it, the same fields inside ``input`` (``webhook`` beside
it is the webhook URL): ``{"input": {...}, "webhook": "https://…"}``. Same names (diffusers'
and the older aliases), same validation, same answers (202/200 + Location, ``Prefer: wait``,
``Idempotency-Key``) as the multipart form; an unknown field is a 422 naming it. Images are
fetched by vto.service.image_urls (the webhooks' SSRF rules, size and time limits), then
treated exactly as uploads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vto.core.types import Category, Framing
from vto.service.routes.deps import ServicesDep, Submitter
from vto.service.routes.render import accepted_response
from vto.service.routes.json_body import (JSONBodyRoute, fetch_images, image_fetcher,
                                          json_object, parse_body)
from vto.service.service import Uploads

CategoryName = Literal[tuple(c.value for c in Category)]  # type: ignore[valid-type]
FramingName = Literal[tuple(f.value for f in Framing)]    # type: ignore[valid-type]
IMAGE = "an http(s) URL or a data: URI"
IMAGE_FIELDS = ("person_image", "garment_image", "mask", "garment_mask", "densepose")
# request field -> Uploads attribute
UPLOAD_NAMES = {"person_image": "person", "garment_image": "garment", "mask": "mask",
                "garment_mask": "garment_mask", "densepose": "densepose"}


class TryOnJSON(BaseModel):
    """The JSON body of POST /v1/tryon (the form's fields; images by reference)."""

    model_config = ConfigDict(extra="forbid", title="TryOnJSON")

    person_image: str = Field(description=f"photo of the person: {IMAGE}")
    garment_image: str | None = Field(None, description=f"garment photo: {IMAGE}")
    garment_id: str | None = Field(None, max_length=64, description="catalog garment id "
                                                                    "(instead of an image)")
    mask: str | None = Field(None, description=f"white = re-generate, the photo's size: {IMAGE}")
    garment_mask: str | None = Field(None, description=f"the garment's silhouette: {IMAGE}")
    densepose: str | None = Field(None, description=f"DensePose image of the person: {IMAGE}")
    model: str | None = Field(None, description="model id, see GET /v1/models")
    model_type: Literal["hd", "dc"] | None = Field(None, description="= model ootd-hd / ootd-dc")
    category: CategoryName | None = None
    num_inference_steps: int | None = Field(None, description="denoising steps (default: the "
                                                              "model's)")
    n_steps: int | None = Field(None, description="older name of num_inference_steps")
    guidance_scale: float | None = Field(None, description="image guidance (default: the "
                                                           "model's)")
    num_images_per_prompt: int | None = Field(None, description="images to generate")
    n_samples: int | None = Field(None, description="older name of num_images_per_prompt")
    seed: int | None = Field(None, description="-1 = random")
    framing: FramingName | None = None
    person_select: Literal["error", "largest"] | None = None
    webhook_url: str | None = Field(None, max_length=2048)


class CogEnvelope(BaseModel):
    """Cog's and Replicate's shape: the fields in ``input``, the webhook URL beside them."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any]
    webhook: str | None = Field(None, max_length=2048)


def openapi_extra() -> dict[str, Any]:
    """The JSON body's schema, declared on the multipart route (one operation, two bodies)."""
    flat = TryOnJSON.model_json_schema()
    envelope = {"title": "CogEnvelope", "type": "object", "additionalProperties": False,
                "required": ["input"],
                "properties": {"input": flat,
                               "webhook": {"type": "string", "maxLength": 2048,
                                           "description": "webhook URL"}}}
    return {"requestBody": {"content": {"application/json": {
        "schema": {"oneOf": [flat, envelope]}}}}}


def read_tryon(body: dict[str, Any]) -> TryOnJSON:
    """A flat body or a Cog envelope, as one :class:`TryOnJSON`."""
    if "input" in body:
        envelope = parse_body(CogEnvelope, body)
        fields = dict(envelope.input)
        if envelope.webhook is not None:
            fields.setdefault("webhook_url", envelope.webhook)
        return parse_body(TryOnJSON, fields)
    return parse_body(TryOnJSON, body)


def add_routes(router: APIRouter, prefer_wait_max_s: float) -> None:
    """Add the JSON route to the jobs router, before the multipart route of the same path."""

    async def create_tryon_json(
        request: Request, services: ServicesDep, owner: Submitter,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
        prefer: Annotated[str | None, Header(alias="Prefer")] = None,
    ) -> JSONResponse:

        body = read_tryon(await json_object(request))
        images = await fetch_images(image_fetcher(request),
                                    {name: getattr(body, name) for name in IMAGE_FIELDS})
        uploads = Uploads(**{UPLOAD_NAMES[name]: data for name, data in images.items()})
        fields = body.model_dump(exclude_none=True,
                                 exclude={*IMAGE_FIELDS, "garment_id", "webhook_url"})
        job, created = await run_in_threadpool(
            services.jobs.submit, owner=owner, fields=fields, uploads=uploads,
            garment_id=body.garment_id or None, idempotency_key=idempotency_key,
            webhook_url=body.webhook_url or None)
        return await accepted_response(services, owner, job, created, request, prefer,
                                       prefer_wait_max_s)

    router.add_api_route("/tryon", create_tryon_json, methods=["POST"], status_code=202,
                         include_in_schema=False, route_class_override=JSONBodyRoute)
