"""JSON request bodies beside multipart forms on the same path, with images by reference.

A route built with :class:`JSONBodyRoute` matches only requests whose ``Content-Type`` is
JSON (``application/json`` or ``application/*+json``); registered before the multipart route
of the same path and method, it takes the JSON requests and leaves every other request to the
form route. Its body is parsed by :func:`parse_body` into a pydantic model that forbids unknown
fields (a 422 naming them, like the forms), and the images it names (http(s) URLs or ``data:``
URIs) are fetched by :func:`fetch_images` under the webhooks' SSRF, size and time rules
(vto.service.image_urls).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import Scope

from vto.core.request import validation_error
from vto.errors import InvalidInput
from vto.service.image_urls import ImageFetcher
from vto.service.routes.deps import get_services

M = TypeVar("M", bound=BaseModel)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


class JSONBodyRoute(APIRoute):
    """An APIRoute that only matches JSON requests (see the module docstring)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") == "http":
            for name, value in scope.get("headers") or []:
                if name == b"content-type":
                    if is_json(value.decode("latin-1")):
                        return super().matches(scope)
                    break
            return Match.NONE, {}
        return super().matches(scope)


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (InvalidInput when it is not one)."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def parse_body(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as ``model``; unknown fields and bad values are an InvalidInput naming them."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def image_fetcher(request: Request) -> ImageFetcher:
    """The app's fetcher, built once from the settings (tests may set
    ``app.state.image_fetcher`` to one with a replaced transport and resolver)."""
    fetcher = getattr(request.app.state, "image_fetcher", None)
    if fetcher is None:
        settings = get_services(request).settings
        fetcher = ImageFetcher(allow_private=settings.webhook_allow_private,
                               timeout_s=settings.webhook_timeout_s,
                               max_bytes=settings.max_body_bytes)
        request.app.state.image_fetcher = fetcher
    return fetcher


async def fetch_images(fetcher: ImageFetcher, references: dict[str, str | None]
                       ) -> dict[str, bytes | None]:
    """Every given reference fetched (concurrently, off the event loop), by field name."""
    names = [name for name, value in references.items() if value]
    fetched = await asyncio.gather(*(run_in_threadpool(fetcher.fetch, str(references[name]),
                                                       field=name) for name in names))
    result: dict[str, bytes | None] = dict.fromkeys(references)
    result.update(zip(names, fetched, strict=True))
    return result


def openapi_body(*models: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body of one of ``models`` (inline schemas:
    the models use no nested definitions)."""
    schemas = [m.model_json_schema() for m in models]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"requestBody": {"content": {"application/json": {"schema": schema}}}}
