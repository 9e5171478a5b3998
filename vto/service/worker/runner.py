"""Running jobs: claim → read inputs → ``engine.run`` → store outputs → finish.

The same code runs inside the embedded worker process and as the Celery task body. The step
callback reports progress at every step through ``notify`` (the API's broadcaster, via the
pipe) but writes it — with the lease heartbeat and the cancel check — to the job table at most
every ``PROGRESS_INTERVAL_S``: a slow database never stalls the device loop. A lease ticker
keeps the lease alive while the engine works outside the loop (loading, preprocessing,
decoding). A lost lease (someone re-took the job after we stalled) aborts without touching it.
Every stored error is built by ``VtoError.to_problem``.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from vto.core.images import encode_png
from vto.core.request import TryOnInputs, TryOnRequest
from vto.errors import Cancelled, InputNotFound, InternalError, OutOfMemory, VtoError
from vto.service.job_table import JobTable
from vto.service.jobs import Job, JobStatus, LeaseLost, output_key
from vto.service.storage import Storage
from vto.service.worker.messages import JobChanged, Progress

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5   # at most two progress writes a second per job
REQUEST_FIELDS = tuple(TryOnRequest.model_fields)


def request_of(job: Job) -> TryOnRequest:
    """The job's stored (already resolved) request."""
    return TryOnRequest(**{k: v for k, v in job.params.items() if k in REQUEST_FIELDS})


class JobRunner:
    """Runs claimed jobs to a terminal state with one engine (see the module docstring)."""

    def __init__(self, *, table: JobTable, storage: Storage, engine: Any, name: str,
                 lease_s: float, notify: Callable[[object], None] = lambda message: None,
                 outbox: Any = None, between_steps: Callable[[], None] = lambda: None) -> None:
        self.table = table
        self.storage = storage
        self.engine = engine
        self.name = name
        self.lease_s = lease_s
        self.notify = notify
        self.outbox = outbox              # durable webhook deliveries (None: no webhooks)
        self.between_steps = between_steps
        self.canceled: set[str] = set()   # cancel requests that arrived over the pipe
        self.running_job: str | None = None

    # --- entry points -------------------------------------------------------------------------
    def run_next(self) -> bool:
        """Recover expired leases, claim the oldest queued job and run it; False if none."""
        self.table.recover()
        job = self.table.claim(self.name)
        if job is None:
            return False
        self.execute(job)
        return True

    def run_job(self, job_id: str) -> None:
        """Run one named job if it is queued (Celery task body; safe to call twice)."""
        self.table.recover()
        job = self.table.claim_id(job_id, self.name)
        if job is None:
            log.info("job %s: not queued any more, nothing to do", job_id)
            return
        self.execute(job)

    # --- one job ------------------------------------------------------------------------------
    def execute(self, job: Job) -> None:
        """Run a claimed job to a terminal state (unless the lease is lost)."""
        self.running_job = job.id
        self._changed(job, "job.started")
        ticker = _LeaseTicker(self.table, job.id, self.name, self.lease_s / 3)
        started = time.monotonic()
        status, error, outputs, result = JobStatus.FAILED, None, None, None
        try:
            request = request_of(job)
            inputs = self._inputs(job)
            total = int(request.num_inference_steps or 1)
            self.table.heartbeat(job.id, self.name, step=0, total=total)
            ticker.start()
            run = self.engine.run(request, inputs, on_step=self._on_step(job.id))
            outputs = self._store(job.id, run.images)
            result = {"seed": int(run.seed), "model": run.model,
                      "inference_seconds": round(time.monotonic() - started, 3),
                      "timings": {k: round(float(v), 4) for k, v in (run.timings or {}).items()}}
            status = JobStatus.SUCCEEDED
        except LeaseLost:
            log.warning("job %s: lease lost; leaving it to its new owner", job.id)
            ticker.stop()
            self.running_job = None
            return
        except Cancelled:
            status, error = JobStatus.CANCELED, Cancelled("canceled while running").to_problem()
        except VtoError as exc:
            error = exc.to_problem()
            log.info("job %s failed: %s", job.id, exc)
        except Exception as exc:  # noqa: BLE001 - the job must end, whatever the engine did
            error = self._unexpected(job, exc)
        finally:
            ticker.stop()
            self.canceled.discard(job.id)
        finished = self.table.finish(job.id, self.name, status, outputs=outputs, error=error,
                                     result=result)
        self.running_job = None
        if finished is None:
            log.warning("job %s: lease lost before finishing; result dropped", job.id)
            return
        self._changed(finished, "job.completed")

    def _on_step(self, job_id: str) -> Callable[[int, int], None]:
        last_write = [time.monotonic()]

        def on_step(step: int, total: int) -> None:
            self.notify(Progress(job_id, step, total))
            self.between_steps()  # the process serves pipe messages (cancel, calls) here
            now = time.monotonic()
            if step >= total or now - last_write[0] >= PROGRESS_INTERVAL_S:
                last_write[0] = now
                if self.table.heartbeat(job_id, self.name, step=step, total=total):
                    self.canceled.add(job_id)
            if job_id in self.canceled:
                raise Cancelled("canceled by request")
        return on_step

    def _unexpected(self, job: Job, exc: Exception) -> dict[str, Any]:
        if type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError):
            log.warning("job %s: out of memory", job.id)
            _free_device_memory()
            return OutOfMemory("the device ran out of memory for this job; try fewer images or "
                               "a smaller size").to_problem()
        log.exception("job %s: unexpected error", job.id)
        return InternalError("the try-on failed unexpectedly; see the worker log").to_problem()

    def _changed(self, job: Job, event: str) -> None:
        self.notify(JobChanged(job.id))
        if self.outbox is not None and job.webhook_url:
            try:
                self.outbox.enqueue(job, event)
            except Exception:  # a webhook must never fail the job
                log.exception("job %s: could not queue the %s webhook", job.id, event)

    # --- storage ------------------------------------------------------------------------------
    def _inputs(self, job: Job) -> TryOnInputs:
        def image(name: str, mode: str) -> Image.Image | None:
            key = job.inputs.get(name)
            if key is None:
                return None
            try:
                data = self.storage.get(key)
            except InputNotFound:
                raise InputNotFound("the job's stored inputs have expired or were "
                                    "deleted") from None
            decoded = Image.open(io.BytesIO(data))
            decoded.load()
            return decoded.convert(mode)

        person = image("person", "RGB")
        assert person is not None
        return TryOnInputs(person=person, garment=image("garment", "RGB"),
                           mask=image("mask", "L"), garment_mask=image("garment_mask", "L"),
                           densepose=image("densepose", "RGB"))

    def _store(self, job_id: str, images: list[Image.Image]) -> list[dict[str, Any]]:
        outputs = []
        for index, picture in enumerate(images):
            key = output_key(job_id, index)
            self.storage.put(key, encode_png(picture), "image/png")
            outputs.append({"index": index, "key": key, "content_type": "image/png",
                            "width": picture.width, "height": picture.height})
        return outputs


def _free_device_memory() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class _LeaseTicker:
    """Extends a job's lease every ``interval_s`` while the engine works between steps."""

    def __init__(self, table: JobTable, job_id: str, worker: str, interval_s: float) -> None:
        self._args = (table, job_id, worker)
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
        table, job_id, worker = self._args
        while not self._stop.wait(self._interval_s):
            try:
                table.heartbeat(job_id, worker)
            except LeaseLost:
                return
            except Exception:  # noqa: BLE001 - the next tick retries
                log.exception("job %s: heartbeat failed", job_id)
