"""Running jobs: claim → read inputs → ``engine.run`` → store outputs → finish.

The same code runs inside the embedded worker process and as the Celery task body. With
``max_batch`` > 1 the embedded worker claims up to that many compatible queued jobs at once
(same model, working size and step count: ``JobTable.claim_batch``) and runs them with
``engine.run_batch``; progress, cancel and failure stay per job (a job cancelled mid-batch is
finished as canceled at that step, and the others go on). A Celery task claims its own job
and the compatible ones queued behind it (their tasks then find nothing to do). The step
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
                 outbox: Any = None, between_steps: Callable[[], None] = lambda: None,
                 max_batch: int = 1) -> None:
        self.table = table
        self.storage = storage
        self.engine = engine
        self.name = name
        self.lease_s = lease_s
        self.notify = notify
        self.outbox = outbox              # durable webhook deliveries (None: no webhooks)
        self.between_steps = between_steps
        self.max_batch = max(1, int(max_batch))
        self.canceled: set[str] = set()   # cancel requests that arrived over the pipe
        self.running_job: str | None = None
        self.running_jobs: list[str] = []  # every job of the running batch
        self._ended: set[str] = set()      # jobs of the batch already finished (left early)

    # --- entry points -------------------------------------------------------------------------
    def run_next(self) -> bool:
        """Recover expired leases, claim the oldest queued job and run it; False if none."""
        self.table.recover()
        if self.max_batch > 1 and callable(getattr(self.engine, "run_batch", None)):
            batch = self.table.claim_batch(self.name, self.max_batch)
            if not batch:
                return False
            if len(batch) == 1:
                self.execute(batch[0])
            else:
                self.execute_batch(batch)
            return True
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
        if self.max_batch > 1 and callable(getattr(self.engine, "run_batch", None)):
            # compatible jobs queued behind it join; their own tasks then find nothing to do
            more = self.table.claim_batch(self.name, self.max_batch - 1, compatible_with=job)
            if more:
                self.execute_batch([job, *more])
                return
        self.execute(job)

    # --- one job ------------------------------------------------------------------------------
    def execute(self, job: Job) -> None:
        """Run a claimed job to a terminal state (unless the lease is lost)."""
        self.running_job, self.running_jobs = job.id, [job.id]
        self._changed(job, "job.started")
        ticker = _LeaseTicker(self.table, [job.id], self.name, self.lease_s / 3)
        started = time.monotonic()
        outcome: Any
        try:
            request = request_of(job)
            inputs = self._inputs(job)
            total = int(request.num_inference_steps or 1)
            self.table.heartbeat(job.id, self.name, step=0, total=total)
            ticker.start()
            outcome = self.engine.run(request, inputs, on_step=self._on_step(job.id))
        except Exception as exc:  # noqa: BLE001 - concluded below, whatever it was
            outcome = exc
        finally:
            ticker.stop()
        self._conclude(job, outcome, started)
        self.running_job, self.running_jobs = None, []

    def execute_batch(self, batch: list[Job]) -> None:
        """Run claimed compatible jobs as one ``engine.run_batch``; each ends on its own."""
        self.running_job, self.running_jobs = batch[0].id, [job.id for job in batch]
        self._ended = set()
        started = time.monotonic()
        for job in batch:
            self._changed(job, "job.started")
        members: list[Job] = []
        items: list[tuple[TryOnRequest, TryOnInputs, Callable[[int, int], None]]] = []
        for job in batch:  # a job whose inputs are gone fails alone, before the batch
            try:
                request = request_of(job)
                inputs = self._inputs(job)
                self.table.heartbeat(job.id, self.name, step=0,
                                     total=int(request.num_inference_steps or 1))
            except Exception as exc:  # noqa: BLE001
                self._conclude(job, exc, started)
                continue
            members.append(job)
            items.append((request, inputs, self._on_step(job.id, leave=self._leave(job,
                                                                                  started))))
        ticker = _LeaseTicker(self.table, [job.id for job in members], self.name,
                              self.lease_s / 3, skip=self._ended)
        outcomes: list[Any]
        try:
            ticker.start()
            if members:
                outcomes = list(self.engine.run_batch(items))
                if len(outcomes) != len(members):
                    raise InternalError("the engine returned a result per job of another batch")
        except Exception as exc:  # noqa: BLE001 - the batch call itself failed: every job did
            outcomes = [exc] * len(members)
        finally:
            ticker.stop()
        for job, outcome in zip(members, outcomes):
            if job.id not in self._ended:
                self._conclude(job, outcome, started)
        self.running_job, self.running_jobs, self._ended = None, [], set()

    def _leave(self, job: Job, started: float) -> Callable[[], None]:
        """Called when a job's cancel takes it out of a running batch: finished now, so its
        client sees it canceled at this step, not when the batch ends."""
        def leave() -> None:
            if job.id not in self._ended:
                self._ended.add(job.id)
                self._conclude(job, Cancelled("canceled by request"), started)
        return leave

    def _conclude(self, job: Job, outcome: Any, started: float) -> None:
        """Finish ``job`` from its outcome: a TryOnResult, or the exception that ended it."""
        status, error, outputs, result = JobStatus.FAILED, None, None, None
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            outputs = self._store(job.id, outcome.images)
            result = {"seed": int(outcome.seed), "model": outcome.model,
                      "inference_seconds": round(time.monotonic() - started, 3),
                      "timings": {k: round(float(v), 4)
                                  for k, v in (outcome.timings or {}).items()}}
            status = JobStatus.SUCCEEDED
        except LeaseLost:
            log.warning("job %s: lease lost; leaving it to its new owner", job.id)
            self.canceled.discard(job.id)
            return
        except Cancelled:
            status, error = JobStatus.CANCELED, Cancelled("canceled while running").to_problem()
        except VtoError as exc:
            error = exc.to_problem()
            log.info("job %s failed: %s", job.id, exc)
        except Exception as exc:  # noqa: BLE001 - the job must end, whatever the engine did
            error = self._unexpected(job, exc)
        finally:
            self.canceled.discard(job.id)
        finished = self.table.finish(job.id, self.name, status, outputs=outputs, error=error,
                                     result=result)
        if finished is None:
            log.warning("job %s: lease lost before finishing; result dropped", job.id)
            return
        self._changed(finished, "job.completed")

    def _on_step(self, job_id: str,
                 leave: Callable[[], None] | None = None) -> Callable[[int, int], None]:
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
                if leave is not None:
                    leave()
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
    """Extends the leases of the running jobs every ``interval_s`` while the engine works
    between steps (a job in ``skip``, or whose lease was lost, is left alone from then on)."""

    def __init__(self, table: JobTable, job_ids: list[str], worker: str, interval_s: float,
                 skip: set[str] | None = None) -> None:
        self._table, self._worker = table, worker
        self._job_ids = list(job_ids)
        self._skip = skip if skip is not None else set()
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
        while self._job_ids and not self._stop.wait(self._interval_s):
            for job_id in list(self._job_ids):
                if job_id in self._skip:
                    self._job_ids.remove(job_id)
                    continue
                try:
                    self._table.heartbeat(job_id, self._worker)
                except LeaseLost:
                    self._job_ids.remove(job_id)
                except Exception:  # noqa: BLE001 - the next tick retries
                    log.exception("job %s: heartbeat failed", job_id)
