"""RFC 9457 ``application/problem+json`` for every error the HTTP service answers.

One handler table (:data:`HANDLERS`) maps exception classes to renderers: every
:class:`vto.errors.VtoError` (its own ``to_problem()``: the one builder of problem documents),
FastAPI's request validation errors (422 with ``errors[]``), Starlette/FastAPI
``HTTPException`` (400, 401, 404, 405, 413 …) and, last, any other exception (500, logged, no
details leaked). Errors with a ``retry_after_s`` (``Unavailable``, ``RateLimited``) and 429s
and 503s carry ``Retry-After``.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from vto.errors import PROBLEM_BASE, VtoError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document (extension members allowed)."""

    model_config = {"extra": "allow"}

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem_response(status: int, title: str, detail: str | None, *, type_: str = "about:blank",
                     instance: str | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _vto_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VtoError)
    headers = None
    retry_after_s = getattr(exc, "retry_after_s", None)  # Unavailable (503), RateLimited (429)
    if retry_after_s is not None:
        headers = {"Retry-After": str(max(1, int(retry_after_s)))}
    body = exc.to_problem(instance=request.url.path)
    return JSONResponse(body, status_code=exc.status, headers=headers,
                        media_type=PROBLEM_MEDIA_TYPE)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"][1:] or first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    return problem_response(422, "Invalid input", detail, type_=PROBLEM_BASE + "invalid-input",
                            instance=request.url.path, errors=errors)


# The problem type of an HTTP error raised by the framework (not by vto code), the same for
# every route: a 413 is "request-too-large" whether Content-Length said so or a chunked body
# grew past the limit.
HTTP_PROBLEM_TYPES = {400: "bad-request", 401: "unauthorized", 403: "forbidden",
                      404: "not-found", 405: "method-not-allowed", 406: "not-acceptable",
                      408: "request-timeout", 409: "conflict", 413: "request-too-large",
                      415: "unsupported-media-type", 416: "range-not-satisfiable",
                      422: "invalid-input", 429: "rate-limited", 503: "unavailable"}


def http_problem_type(status: int) -> str:
    slug = HTTP_PROBLEM_TYPES.get(status)
    return PROBLEM_BASE + slug if slug else "about:blank"


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path (Starlette's 405 names only the first
    route's), for the Allow header: each method is tried against the app's routes."""
    from starlette.routing import Match

    routes = getattr(request.app, "routes", [])
    allowed = [method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in routes)]
    return ", ".join(allowed) or None


def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    headers = dict(exc.headers or {})
    if status in (429, 503):
        headers.setdefault("Retry-After", "5")
    if status == 405 and (allowed := _allowed_methods(request)):
        headers["Allow"] = allowed
    return problem_response(status, title, detail, type_=http_problem_type(status),
                            instance=request.url.path, headers=headers or None)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "Internal Server Error", "an unexpected error occurred",
                            instance=request.url.path)


HANDLERS: dict[type[Exception], Callable[[Request, Exception], JSONResponse]] = {
    VtoError: _vto_error,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_exception,
    Exception: _unexpected,
}


def install(app: Any) -> None:
    for exc_class, handler in HANDLERS.items():
        app.add_exception_handler(exc_class, handler)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring problem+json for ``codes``."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "description": http.HTTPStatus(code).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if code in (429, 503):
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                "description": "seconds to wait"}}
        out[code] = entry
    return out
