"""v1 garments: the operator's catalog and each key's own uploads (vto.service.garment_store).

Listing shows the operator's catalog (``scope: catalog``) and the caller's own uploads
(``scope: private``). An upload by an admin key goes into the operator's catalog; any other
key's upload is private to it (counted against its rate limit, at most
``VTO_MAX_GARMENTS_PER_KEY``). Deleting an operator garment needs an admin key (403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vto.core.types import Category
from vto.errors import InvalidInput
from vto.service.problems import responses
from vto.service.routes.deps import CallerDep, Owner, ServicesDep, SubmittingCaller, base_url
from vto.service.routes.schemas import GarmentList, GarmentOut

router = APIRouter(prefix="/v1/garments", tags=["garments"])

GarmentId = Annotated[str, Path(max_length=64, description="garment id (an unknown one: 404)")]
TOKEN_PATTERN = r"^[0-9a-z]{1,16}\.[0-9a-f]{32}$"


def garment_out(services: Any, garment: Any, request: Request) -> dict[str, Any]:
    url = f"{base_url(request)}/v1/garments/{garment.id}/thumbnail"
    token = services.garments.thumbnail_token(garment)
    return {**garment.to_dict(), "thumbnail_url": url + (f"?token={token}" if token else "")}


@router.get("", response_model=GarmentList, summary="The catalog and this key's own garments",
            responses=responses(401))
def list_garments(request: Request, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return {"garments": [garment_out(services, g, request)
                         for g in services.garments.list(caller)]}


@router.post("", status_code=201, response_model=GarmentOut,
             summary="Add a garment (admin key: to the catalog; other keys: private)",
             responses=responses(400, 401, 409, 413, 415, 422, 429, 503),
             openapi_extra={"x-vto-admin": "an admin key adds to the operator's catalog"})
async def add_garment(request: Request, services: ServicesDep, caller: SubmittingCaller,
                      image: Annotated[UploadFile, File(description="garment photo (JPEG, PNG "
                                                                    "or WEBP)")],
                      name: Annotated[str | None, Form(max_length=200)] = None,
                      category: Annotated[Category | None, Form()] = None) -> dict[str, Any]:
    data = await image.read()
    if not data:
        raise InvalidInput("image is empty", field="image")
    garment = await run_in_threadpool(services.garments.add, data, image.filename or "garment",
                                      name or None, category, caller)
    return garment_out(services, garment, request)


@router.get("/{garment_id}", response_model=GarmentOut, summary="One garment",
            responses=responses(401, 404))
def get_garment(garment_id: GarmentId, request: Request, services: ServicesDep,
                owner: Owner) -> dict[str, Any]:
    return garment_out(services, services.garments.get(garment_id, owner), request)


@router.delete("/{garment_id}", status_code=204, response_class=Response,
               summary="Remove a garment (the catalog's: admin key only)",
               responses=responses(401, 403, 404),
               openapi_extra={"x-vto-admin": "the operator's garments: admin keys only"})
def delete_garment(garment_id: GarmentId, services: ServicesDep, caller: CallerDep) -> Response:
    services.garments.delete(garment_id, caller)
    return Response(status_code=204)


@router.get("/{garment_id}/thumbnail", response_class=Response, summary="A JPEG thumbnail",
            responses={200: {"content": {"image/jpeg": {"schema": {"type": "string",
                                                                   "format": "binary"}}},
                             "description": "thumbnail"}, **responses(404, 503)})
def garment_thumbnail(garment_id: GarmentId, services: ServicesDep,
                      token: Annotated[str | None, Query(
                          pattern=TOKEN_PATTERN, description="a private garment's token (part "
                                                             "of its thumbnail_url)")] = None,
                      ) -> Response:
    # No key: <img> tags cannot send one. The catalog's thumbnails are public; a private
    # garment's needs the token of its thumbnail_url.
    private = token is not None
    return Response(services.garments.thumbnail(garment_id, token), media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=300" if private
                             else "public, max-age=300"})
