"""``create_app(settings)``: the FastAPI application of `vto serve`. Nothing is built at import.

The lifespan builds the services (vto.service.wiring) and starts them — the embedded worker
process loads the models in the background (``/ready`` answers 503 until it is done) — and
stops them on shutdown. This module holds the app's shape only: routers, middleware, the
problem handlers and the OpenAPI document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

import vto
from vto.errors import PROBLEM_BASE
from vto.service import problems
from vto.service.openapi import build_openapi
from vto.service.routes import garments, job_actions, jobs, legacy, masks, models, ops
from vto.service.routes.docs import install_docs
from vto.service.settings import Settings
from vto.service.storage import Storage
from vto.service.webhooks import WebhookSender
from vto.service.wiring import Services, build_services

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"


class BodyLimit(RequestBodyLimitMiddleware):
    """Starlette's body limit, answering a too-large Content-Length as problem+json.

    (A body that grows past the limit while streaming raises inside the route and is rendered
    by the HTTPException handler.)"""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_body_size:
                response = problems.problem_response(
                    413, "Content Too Large",
                    f"the request body is larger than {self.max_body_size} bytes",
                    type_=PROBLEM_BASE + "request-too-large", instance=scope.get("path"))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, storage: Storage | None = None,
               webhook_sender: WebhookSender | None = None) -> FastAPI:
    """The service app. ``storage`` and ``webhook_sender`` replace the configured ones (tests);
    the engine is the worker's (``settings.engine_factory``)."""
    limits = settings.limits()
    settings.check_requests()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, storage=storage, webhook_sender=webhook_sender)
        app.state.services = services
        services.start()
        log.info("vto service ready on %s storage, %s queue", settings.storage, settings.queue)
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(title="vto", version=vto.__version__, lifespan=lifespan,
                  description="Virtual try-on: durable jobs over HTTP, several try-on models. "
                              "Errors are RFC 9457 application/problem+json.")
    problems.install(app)
    install_docs(app)  # Swagger UI and ReDoc from vendored assets (no CDN)
    app.include_router(jobs.build(limits, settings.prefer_wait_max_s))
    for module in (job_actions, masks, models, garments, ops, legacy):
        app.include_router(module.router)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        services: Services | None = getattr(request.app.state, "services", None)
        if services is not None:
            services.metrics.observe_request(getattr(route, "path", "other"), request.method,
                                             response.status_code,
                                             time.perf_counter() - started)
        return response

    app.add_middleware(BodyLimit, max_body_size=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "HEAD", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Idempotency-Key",
                                          "Prefer", "Last-Event-ID", "Content-Type"],
                           expose_headers=["Location", "Retry-After", "Idempotent-Replayed"])

    if (WEB_DIR / "index.html").is_file():
        app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")

        @app.get("/", include_in_schema=False)
        def index() -> RedirectResponse:
            return RedirectResponse("/ui/")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, settings, limits)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


