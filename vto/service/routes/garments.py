"""v1 garment catalog: list, add, delete, thumbnails."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vto.core.types import Category
from vto.service.problems import responses
from vto.service.routes.deps import Owner, ServicesDep, base_url
from vto.service.routes.schemas import GarmentList, GarmentOut

router = APIRouter(prefix="/v1/garments", tags=["garments"])

GarmentId = Annotated[str, Path(max_length=128, description="catalog garment id")]


def garment_out(garment: Any, request: Request) -> dict[str, Any]:
    return {**garment.to_dict(),
            "thumbnail_url": f"{base_url(request)}/v1/garments/{garment.id}/thumbnail"}


@router.get("", response_model=GarmentList, summary="List catalog garments",
            responses=responses(401))
def list_garments(request: Request, services: ServicesDep, owner: Owner) -> dict[str, Any]:
    return {"garments": [garment_out(g, request) for g in services.catalog.list()]}


@router.post("", status_code=201, response_model=GarmentOut, summary="Add a garment",
             responses=responses(401, 413, 415, 422))
async def add_garment(request: Request, services: ServicesDep, owner: Owner,
                      image: Annotated[UploadFile, File(description="garment photo")],
                      name: Annotated[str | None, Form(max_length=200)] = None,
                      category: Annotated[Category | None, Form()] = None) -> dict[str, Any]:
    data = await image.read()
    garment = await run_in_threadpool(services.catalog.add, data, image.filename or "garment",
                                      name or None, category)
    return garment_out(garment, request)


@router.get("/{garment_id}", response_model=GarmentOut, summary="One garment",
            responses=responses(401, 404))
def get_garment(garment_id: GarmentId, request: Request, services: ServicesDep,
                owner: Owner) -> dict[str, Any]:
    return garment_out(services.catalog.get(garment_id), request)


@router.delete("/{garment_id}", status_code=204, response_class=Response,
               summary="Remove a garment", responses=responses(401, 404))
def delete_garment(garment_id: GarmentId, services: ServicesDep, owner: Owner) -> Response:
    services.catalog.delete(garment_id)
    return Response(status_code=204)


@router.get("/{garment_id}/thumbnail", response_class=Response, summary="A JPEG thumbnail",
            responses={200: {"content": {"image/jpeg": {"schema": {"type": "string",
                                                                   "format": "binary"}}},
                             "description": "thumbnail"}, **responses(404)})
def garment_thumbnail(garment_id: GarmentId, services: ServicesDep) -> Response:
    # No key needed: <img> tags cannot send one, and catalog images are not per-tenant.
    return Response(services.catalog.thumbnail(garment_id), media_type="image/jpeg",
                     headers={"Cache-Control": "public, max-age=300"})
