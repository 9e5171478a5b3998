"""The worker: owns the try-on engine (and so the device) and runs one job at a time.

    claim (lease) → read inputs from Storage → engine.run(…, callback) → store outputs
    → finish (guarded by the lease) → metrics, webhook

The step callback heartbeats the lease, records progress and reads the cancel flag (raising
``Cancelled`` to stop at the next step). A small ticker also extends the lease while the engine
is busy outside the denoising loop (model loading, preprocessing, decoding). A lost lease
(another worker re-took the job after we stalled) aborts without touching the job.

Two ways to drive it: :meth:`Worker.start` runs a thread that polls the table (embedded
default); :meth:`Worker.run_job` runs one named job (the Celery task body; idempotent).
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from PIL import Image

from vto.core.types import Category, Framing, ModelType
from vto.errors import Cancelled, InputNotFound, VtoError
from vto.service.jobs import Job, JobStatus, JobStore, LeaseLost, output_key
from vto.service.problems import TYPE_BASE, error_body
from vto.service.queue import EmbeddedQueue
from vto.service.settings import Settings
from vto.service.storage import Storage
from vto.service.webhooks import WebhookSender

log = logging.getLogger(__name__)


def make_engine(settings: Settings) -> Any:
    """The real engine for ``settings`` (nothing heavy is loaded here; ``device`` may be auto)."""
    from vto.core.checkpoints import resolve_checkpoints
    from vto.core.tryon import TryOnEngine

    return TryOnEngine(resolve_checkpoints(settings.checkpoints), device=settings.device,
                       dtype=settings.dtype)


class Worker:
    def __init__(self, *, settings: Settings, store: JobStore, storage: Storage, engine: Any,
                 metrics: Any = None, notify: Any = None,
                 webhooks: WebhookSender | None = None) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self.engine = engine
        self.metrics = metrics
        self.notify = notify or (lambda job_id: None)
        self.webhooks = webhooks
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ready = threading.Event()
        self.load_error: str | None = None
        self.running_job: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def load_models(self) -> None:
        """Preload the configured model types; /ready stays 503 until this is done."""
        try:
            for model_type in self.settings.preload_models:
                t0 = time.monotonic()
                self.engine.load(ModelType(model_type))
                log.info("loaded %s model in %.1f s", model_type, time.monotonic() - t0)
            self.load_error = None
            self.ready.set()
        except Exception as exc:  # reported by /ready; the worker keeps retrying
            self.load_error = str(exc) or type(exc).__name__
            log.exception("could not load models")

    def start(self, queue: EmbeddedQueue) -> None:
        self._thread = threading.Thread(target=self._loop, args=(queue,), name="vto-worker",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self, queue: EmbeddedQueue) -> None:
        while not self._stop.is_set():
            if not self.ready.is_set():
                self.load_models()
                if not self.ready.is_set():
                    self._stop.wait(10.0)
                    continue
            try:
                self.store.recover()
                job = self.store.claim(self.name)
                if job is not None:
                    self.execute(job)
                    continue
            except Exception:  # the database may be briefly unavailable; never die
                log.exception("worker loop error")
                self._stop.wait(1.0)
            queue.wait(self.settings.poll_s)

    # --- running jobs -------------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        """Run one named job if it is queued (Celery task body; safe to call twice)."""
        if not self.ready.is_set():
            self.load_models()
        self.store.recover()
        job = self.store.claim_id(job_id, self.name)
        if job is None:
            log.info("job %s: not queued any more, nothing to do", job_id)
            return
        self.execute(job)

    def execute(self, job: Job) -> None:
        """Run a claimed job to a terminal state (unless the lease is lost)."""
        params = job.params
        self.running_job = job.id
        self._set_running(1)
        self.notify(job.id)
        self._webhook(job, "job.started")
        ticker = _LeaseTicker(self.store, job.id, self.name, self.settings.lease_s / 3)
        t0 = time.monotonic()
        status, error, outputs, result = JobStatus.FAILED, None, None, None
        try:
            request = self._request(job)
            total = int(params["n_steps"])
            self.store.heartbeat(job.id, self.name, step=0, total=total)
            ticker.start()

            def on_step(step: int, steps: int) -> None:
                if self.store.heartbeat(job.id, self.name, step=step, total=steps):
                    raise Cancelled("canceled by request")
                self.notify(job.id)

            run = self.engine.run(request, callback=on_step)
            outputs = []
            for index, image in enumerate(run.images):
                key = output_key(job.id, index)
                self.storage.put(key, _png(image), "image/png")
                outputs.append({"index": index, "key": key, "content_type": "image/png",
                                "width": image.width, "height": image.height})
            seconds = time.monotonic() - t0
            result = {"seed": int(run.seed), "inference_seconds": round(seconds, 3),
                      "timings": {k: round(float(v), 4) for k, v in (run.timings or {}).items()}}
            status = JobStatus.SUCCEEDED
        except LeaseLost:
            log.warning("job %s: lease lost; leaving it to its new owner", job.id)
            ticker.stop()
            self._done(job, None)
            return
        except Cancelled:
            status, error = JobStatus.CANCELED, {"type": TYPE_BASE + "canceled",
                                                 "title": "Canceled", "status": 409,
                                                 "detail": "canceled while running"}
        except VtoError as exc:
            error = error_body(exc)
            log.info("job %s failed: %s", job.id, exc)
        except Exception:
            log.exception("job %s: unexpected error", job.id)
            error = {"type": TYPE_BASE + "internal", "title": "Internal error", "status": 500,
                     "detail": "the try-on failed unexpectedly; see the server log"}
        finally:
            ticker.stop()
        seconds = time.monotonic() - t0
        finished = self.store.finish(job.id, self.name, status, outputs=outputs, error=error,
                                     result=result)
        if finished is None:
            log.warning("job %s: lease lost before finishing; result dropped", job.id)
        elif self.metrics is not None and status is not JobStatus.CANCELED:
            reason = None if error is None else str(error.get("type", "")).removeprefix(TYPE_BASE)
            self.metrics.observe(str(params.get("category")), str(params.get("model_type")),
                                 seconds, status is JobStatus.SUCCEEDED, reason)
        self._done(job, finished)

    def _done(self, job: Job, finished: Job | None) -> None:
        self.running_job = None
        self._set_running(0)
        self.notify(job.id)
        if finished is not None:
            self._webhook(finished, "job.completed")

    def _request(self, job: Job) -> Any:
        from vto.core.tryon import TryOnRequest

        p = job.params
        return TryOnRequest(
            person=self._image(job.inputs["person"], "RGB"),
            garment=self._image(job.inputs["garment"], "RGB"),
            model_type=ModelType(p["model_type"]), category=Category(p["category"]),
            mask=self._image(job.inputs["mask"], "L") if "mask" in job.inputs else None,
            steps=int(p["n_steps"]), guidance_scale=float(p["guidance_scale"]),
            samples=int(p["n_samples"]), seed=int(p["seed"]), size=self.settings.working_size,
            framing=Framing(p.get("framing", self.settings.framing.value)))

    def _image(self, key: str, mode: str) -> Image.Image:
        try:
            data = self.storage.get(key)
        except InputNotFound:
            raise InputNotFound("the job's stored inputs have expired or were deleted") from None
        image = Image.open(io.BytesIO(data))
        image.load()
        return image.convert(mode)

    def _set_running(self, n: int) -> None:
        if self.metrics is not None:
            self.metrics.set_running(n)

    def _webhook(self, job: Job, event: str) -> None:
        if self.webhooks is None or not job.webhook_url:
            return
        data = {"id": job.id, "status": job.status.value, "error": job.error,
                "outputs": [{"index": o["index"], "content_type": o.get("content_type")}
                            for o in job.outputs],
                "seed": (job.result or {}).get("seed", job.params.get("seed"))}
        self.webhooks.send(job.webhook_url, f"{job.id}.{event}", event, data)


class _LeaseTicker:
    """Extends a job's lease every ``interval_s`` while the engine works between steps."""

    def __init__(self, store: JobStore, job_id: str, worker: str, interval_s: float) -> None:
        self._args = (store, job_id, worker)
        self._interval_s = max(0.05, interval_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vto-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def _run(self) -> None:
        store, job_id, worker = self._args
        while not self._stop.wait(self._interval_s):
            try:
                store.heartbeat(job_id, worker)
            except LeaseLost:
                return
            except Exception:
                log.exception("job %s: heartbeat failed", job_id)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")  # no EXIF or text chunks are copied
    return buf.getvalue()
