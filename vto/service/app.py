"""``create_app(settings)``: the FastAPI application of `vto serve`. Nothing is built at import.

The lifespan builds the parts (job table, storage, catalog, metrics, queue), starts the
embedded worker thread (which loads the models in the background; ``/ready`` answers 503 until
it is done) and a housekeeping thread (lease recovery, Celery re-sends, retention), and stops
them on shutdown. With ``queue=celery`` the API runs no model: `vto worker` processes do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

import vto
from vto.service import problems
from vto.service.catalog import Catalog
from vto.service.jobs import JobStatus, JobStore
from vto.service.metrics import Metrics, table_times
from vto.service.presets import Presets
from vto.service.queue import CeleryQueue, EmbeddedQueue, make_queue
from vto.service.ratelimit import RateLimiter
from vto.service.routes import garments, jobs, ops, seed
from vto.service.routes.deps import AppState, hash_key
from vto.service.routes.docs import install_docs
from vto.service.service import JobEvents, TryOnService
from vto.service.settings import Settings
from vto.service.storage import Janitor, Storage, make_storage
from vto.service.webhooks import WebhookSender, load_or_create_secret
from vto.service.worker import Worker, make_engine

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
OBSERVE_WINDOW_S = 120.0  # how late a worker's finish may reach the table and still be counted


def make_storage_for(settings: Settings) -> Storage:
    if settings.storage == "s3":
        return make_storage("s3", bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                            region=settings.s3_region, access_key=settings.s3_access_key,
                            secret_key=settings.s3_secret_key, prefix=settings.s3_prefix)
    return make_storage("local", root=settings.storage_dir)


def build_state(settings: Settings, engine: Any = None, storage: Storage | None = None) -> AppState:
    """Every part of a running service, wired together (no threads started yet)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.db_url, lease_s=settings.lease_s, max_attempts=settings.max_attempts)
    storage = storage or make_storage_for(settings)
    metrics = Metrics()
    events = JobEvents()
    queue = make_queue(settings)
    worker = None
    if isinstance(queue, EmbeddedQueue):
        engine = engine if engine is not None else make_engine(settings)
    classify = getattr(engine, "classify_garment", None) if engine is not None else None
    catalog = Catalog(settings.catalog_dir, classify=_safe_classifier(classify))
    secret = settings.webhook_secret or load_or_create_secret(settings.data_dir / "webhook_secret")
    webhooks = WebhookSender(secret, allow_private=settings.webhook_allow_private,
                             timeout_s=settings.webhook_timeout_s,
                             attempts=settings.webhook_attempts,
                             backoff_s=settings.webhook_backoff_s)
    if isinstance(queue, EmbeddedQueue):
        worker = Worker(settings=settings, store=store, storage=storage, engine=engine,
                        metrics=metrics, notify=events.publish, webhooks=webhooks)
    service = TryOnService(settings, store, storage, queue, events,
                           garment_image=catalog.image,
                           average_job_s=lambda: table_times(store).average() or None)
    state = AppState(settings=settings, store=store, storage=storage, service=service,
                     events=events, catalog=catalog, metrics=metrics,
                     presets=Presets(settings.presets_dir), worker=worker,
                     key_hashes=[hash_key(k) for k in settings.api_keys],
                     limiter=(RateLimiter(settings.rate_limit_per_min, settings.rate_limit_burst)
                              if settings.rate_limit_per_min > 0 else None))
    state.queue = queue  # type: ignore[attr-defined]
    state.webhooks = webhooks  # type: ignore[attr-defined]
    return state


def _safe_classifier(classify: Any) -> Any:
    if classify is None:
        return None

    def run(image: Any) -> Any:
        try:
            return classify(image)
        except Exception:  # a missing CLIP model only costs the prediction
            log.warning("garment classification failed", exc_info=True)
            return None
    return run


class Housekeeper:
    """Background upkeep: expired leases (and, with Celery, re-sending queued jobs) every
    ``poll``; retention of job rows, results and inputs every ``janitor_interval_s``.

    With Celery it also feeds this process's Prometheus job metrics from the job table: the
    workers observe their jobs in their own processes, which nobody scrapes.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.janitor = Janitor(state.storage, state.settings.result_retention_s)
        self._observed: dict[str, float] | None = None  # job id -> finished_at (Celery only)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vto-housekeeper", daemon=True)

    def start(self) -> None:
        queue = self.state.queue  # type: ignore[attr-defined]
        if isinstance(queue, CeleryQueue):  # messages may have been lost while we were down
            for job_id in self.state.store.ids_with_status(JobStatus.QUEUED):
                _resend(queue, job_id)
        if self.state.worker is None:  # jobs finished before we started are not ours to count
            self._observed = {job.id: job.finished_at or 0.0 for job in
                              self.state.store.finished_since(time.time() - OBSERVE_WINDOW_S)}
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        settings = self.state.settings
        next_sweep = time.monotonic() + min(5.0, settings.janitor_interval_s)
        while not self._stop.wait(max(settings.poll_s, 1.0)):
            try:
                requeued, _ = self.state.store.recover()
                queue = self.state.queue  # type: ignore[attr-defined]
                for job_id in requeued:
                    self.state.events.publish(job_id)
                    _resend(queue, job_id)
                self.state.metrics.set_queue_depth(self.state.store.queue_depth())
                self.observe_finished()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + settings.janitor_interval_s
                    self.sweep()
            except Exception:
                log.exception("housekeeping failed")

    def observe_finished(self) -> None:
        """Record jobs other processes finished in the last ``OBSERVE_WINDOW_S`` (a window, not
        a watermark: a finish may commit later than its timestamp says), each once."""
        if self._observed is None:
            return
        cutoff = time.time() - OBSERVE_WINDOW_S
        for job in self.state.store.finished_since(cutoff):
            if job.id in self._observed:
                continue
            self._observed[job.id] = job.finished_at or 0.0
            if job.status is JobStatus.CANCELED:  # as the worker does: not a failure
                continue
            error_type = str((job.error or {}).get("type", "unknown"))
            self.state.metrics.observe(
                str(job.params.get("category")), str(job.params.get("model_type")),
                float((job.result or {}).get("inference_seconds") or 0.0),
                job.status is JobStatus.SUCCEEDED, error_type.removeprefix(problems.TYPE_BASE))
        self._observed = {k: v for k, v in self._observed.items() if v >= cutoff}

    def sweep(self, now: float | None = None) -> int:
        """Delete jobs (rows, inputs, results) finished longer than the retention ago, stale
        reservations, and stored objects older than the retention that belong to no live job
        (a job waiting in a long queue keeps its inputs however old they are)."""
        now = time.time() if now is None else now
        store, storage = self.state.store, self.state.storage
        removed = 0
        for job in store.expired(finished_before=now - self.state.settings.result_retention_s,
                                 accepting_before=now - 3600):
            storage.delete_prefix(f"results/{job.id}/")
            storage.delete_prefix(f"inputs/{job.id}/")
            store.delete(job.id)
            removed += 1
        live = {job_id for status in (JobStatus.ACCEPTING, JobStatus.QUEUED, JobStatus.RUNNING)
                for job_id in store.ids_with_status(status)}
        # keys are results/{job_id}/… and inputs/{job_id}/…
        removed += self.janitor.sweep(now, keep=lambda key: key.split("/")[1] in live)
        if removed:
            log.info("retention: removed %d expired jobs/objects", removed)
        return removed


def _resend(queue: Any, job_id: str) -> None:
    try:
        queue.submit(job_id)
    except Exception:
        log.exception("job %s: could not re-send to the queue", job_id)


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
                    type_=problems.TYPE_BASE + "request-too-large", instance=scope.get("path"))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, engine: Any = None, *, storage: Storage | None = None) -> FastAPI:
    """The service app. ``engine`` replaces the real engine (tests); ``storage`` likewise."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings, engine, storage)
        app.state.vto = state
        housekeeper = Housekeeper(state)
        app.state.housekeeper = housekeeper
        if state.worker is not None:
            state.worker.start(state.queue)  # type: ignore[attr-defined]
        housekeeper.start()
        log.info("vto service ready on %s storage, %s queue", settings.storage, settings.queue)
        try:
            yield
        finally:
            housekeeper.stop()
            if state.worker is not None:
                state.worker.stop()
            state.webhooks.close()  # type: ignore[attr-defined]
            state.queue.close()  # type: ignore[attr-defined]
            state.store.close()

    app = FastAPI(title="vto", version=vto.__version__, lifespan=lifespan,
                  description="Virtual try-on (OOTDiffusion): durable jobs over HTTP. Errors are "
                              "RFC 9457 application/problem+json.")
    problems.install(app)
    install_docs(app)
    for module in (jobs, garments, ops, seed):
        app.include_router(module.router)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        state = getattr(request.app.state, "vto", None)
        if state is not None:
            state.metrics.observe_request(getattr(route, "path", "other"), request.method,
                                          response.status_code, time.perf_counter() - started)
        return response

    app.add_middleware(BodyLimit, max_body_size=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
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
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                problems.Problem.model_json_schema())
            # FastAPI's automatic 422 says application/json; ours is problem+json everywhere.
            problem_422 = problems.responses(422)[422]
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    codes = operation.get("responses", {})
                    if "application/json" in codes.get("422", {}).get("content", {}):
                        codes["422"] = problem_422
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
