"""The embedded worker: a spawned child process that owns the engine (and so the device).

The API process never imports torch. :class:`WorkerProcess` (API side) spawns the child,
reads its messages (vto.service.worker.messages) in a monitor thread — progress and state
changes go to the broadcaster, call results to their waiters — and restarts it when it dies:
the dead child's leases end at once, so its job is re-queued (or failed as worker-lost after
``max_attempts``) and runs again in the new child. ``child_main`` (worker side) loads the
models (and warms them up when VTO_COMPILE / VTO_WARM_CATALOG ask: vto.service.worker.warm),
then claims and runs jobs — up to VTO_MAX_BATCH compatible ones at once — with
:class:`JobRunner`, serving the pipe while idle and
between denoising steps (cancel at the next step; classification and mask previews wait at
most one step).
"""

from __future__ import annotations

import importlib
import itertools
import logging
import multiprocessing
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, TimeoutError as FutureTimeout
from multiprocessing.connection import Connection
from typing import Any

from vto.errors import InternalError, Unavailable, VtoError, problem_error
from vto.service.events import Broadcaster, JobEvent
from vto.service.job_table import JobTable
from vto.service.settings import Settings
from vto.service.worker import calls
from vto.service.worker.messages import (Call, CallResult, Cancel, DeviceMemory, JobChanged,
                                         Progress, Status, Stop, Wake)

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def worker_name(suffix: str = "") -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{suffix or uuid.uuid4().hex[:8]}"


def build_engine(settings: Settings) -> Any:
    """The engine ``settings.engine_factory`` names ("module:callable(settings)")."""
    module, _, name = settings.engine_factory.partition(":")
    return getattr(importlib.import_module(module), name)(settings)


class WorkerProcess:
    """API side of the embedded worker (see the module docstring)."""

    def __init__(self, settings: Settings, table: JobTable, broadcaster: Broadcaster) -> None:
        self.settings = settings
        self.table = table
        self.broadcaster = broadcaster
        self.state = "starting"
        self.detail = ""
        self.models: tuple[str, ...] = ()
        self.restarts = 0
        self.running_jobs: dict[str, None] = {}  # the running batch, oldest first
        self.gpu_memory: dict[int, tuple[int, int]] = {}  # as the child last reported
        self._process: Any = None
        self._conn: Connection | None = None
        self._name = ""
        self._send_lock = threading.Lock()
        self._calls: dict[int, Future[dict[str, Any]]] = {}
        self._call_ids = itertools.count(1)
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="vto-worker-monitor",
                                         daemon=True)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._spawn()
        self._monitor.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self._send(Stop())
        if self._process is not None:
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5.0)
        self._monitor.join(5.0)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def running_job(self) -> str | None:
        """A job the worker is running (the oldest of its batch), None when idle."""
        running = list(self.running_jobs)  # one atomic copy (the monitor thread changes it)
        return running[0] if running else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork after threads or CUDA
        parent, child = context.Pipe()
        self._name = worker_name(f"w{self.restarts}")
        data = self.settings.model_dump(mode="json")
        self._process = context.Process(target=child_main, args=(child, data, self._name),
                                        name="vto-worker", daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        self.state = "loading"
        log.info("worker process %s started (pid %s)", self._name, self._process.pid)

    # --- talking to the child -----------------------------------------------------------------
    def _send(self, message: object) -> bool:
        with self._send_lock:
            if self._conn is None:
                return False
            try:
                self._conn.send(message)
                return True
            except (OSError, ValueError):  # the child is gone; the monitor restarts it
                return False

    def wake(self) -> None:
        self._send(Wake())

    def cancel(self, job_id: str) -> None:
        self._send(Cancel(job_id))

    def call(self, method: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Run an engine call in the child; VtoError as the child raised it, Unavailable when
        the worker is not ready or does not answer in time."""
        if not self.ready:
            raise Unavailable(f"the model worker is {self.state}; retry shortly",
                              retry_after_s=5)
        call_id = next(self._call_ids)
        future: Future[dict[str, Any]] = Future()
        self._calls[call_id] = future
        try:
            if not self._send(Call(call_id, method, payload)):
                raise Unavailable("the model worker is restarting; retry shortly",
                                  retry_after_s=5)
            return future.result(timeout_s)
        except FutureTimeout:
            raise Unavailable("the model worker is busy; retry shortly", retry_after_s=10) from None
        finally:
            self._calls.pop(call_id, None)

    # --- monitor ------------------------------------------------------------------------------
    def _watch(self) -> None:
        backoff = iter(RESTART_BACKOFF_S)
        while not self._stopping.is_set():
            conn, process = self._conn, self._process
            try:
                if conn is not None and conn.poll(0.2):
                    self._handle(conn.recv())
                    if self.ready:
                        backoff = iter(RESTART_BACKOFF_S)
                    continue
            except (EOFError, OSError):
                pass
            else:
                if process is not None and process.is_alive():
                    continue
            if self._stopping.is_set():
                break
            self._restart(next(backoff, RESTART_BACKOFF_S[-1]))

    def _handle(self, message: object) -> None:
        if isinstance(message, Progress):
            self.broadcaster.publish(JobEvent(message.job_id, "progress", step=message.step,
                                              total=message.total))
        elif isinstance(message, JobChanged):
            job = self.table.get(message.job_id)
            if job is not None:
                if job.status.value == "running":
                    self.running_jobs[job.id] = None
                else:
                    self.running_jobs.pop(job.id, None)
            self.broadcaster.publish(JobEvent(message.job_id, "changed", job))
        elif isinstance(message, CallResult):
            future = self._calls.get(message.call_id)
            if future is not None and not future.done():
                if message.problem is not None:
                    future.set_exception(problem_error(message.problem))
                else:
                    future.set_result(message.value or {})
        elif isinstance(message, DeviceMemory):
            self.gpu_memory = dict(message.per_gpu)
        elif isinstance(message, Status):
            self.state, self.detail, self.models = message.state, message.detail, message.models
            log.info("worker %s: %s %s", self._name, message.state, message.detail)

    def _restart(self, delay_s: float) -> None:
        code = self._process.exitcode if self._process is not None else None
        log.error("worker process %s died (exit code %s); restarting in %.1f s", self._name,
                  code, delay_s)
        self.state, self.detail = "restarting", f"the worker process exited with code {code}"
        with self._send_lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
        for future in list(self._calls.values()):
            if not future.done():
                future.set_exception(Unavailable("the model worker restarted; retry",
                                                 retry_after_s=5))
        try:  # its leases end now: the job goes back to the queue (or fails, worker-lost)
            self.table.release(self._name)
            requeued, failed = self.table.recover()
            for job_id in (*requeued, *failed):
                self.broadcaster.publish(JobEvent(job_id, "changed"))
        except VtoError:
            log.warning("could not release the dead worker's jobs now; recovery will")
        self.running_jobs.clear()
        if self._stopping.wait(delay_s):
            return
        self.restarts += 1
        self._spawn()


# --- worker side -----------------------------------------------------------------------------

def child_main(conn: Connection, settings_data: dict[str, Any], name: str) -> None:
    """Entry point of the spawned worker process."""
    settings = Settings(**settings_data)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _Child(conn, settings, name).run()


class _Child:
    def __init__(self, conn: Connection, settings: Settings, name: str) -> None:
        self.conn = conn
        self.settings = settings
        self.name = name
        self.engine: Any = None
        self.runner: Any = None
        self.ready = False
        self.stopping = False

    def send(self, message: object) -> None:
        try:
            self.conn.send(message)
        except (OSError, ValueError):  # the API process is gone
            os._exit(0)

    def run(self) -> None:
        from vto.service.worker.parts import worker_parts

        parts = worker_parts(self.settings)
        self.engine = build_engine(self.settings)
        from vto.service.worker.runner import JobRunner

        self.runner = JobRunner(table=parts.table, storage=parts.storage, engine=self.engine,
                                name=self.name, lease_s=self.settings.lease_s, notify=self.send,
                                outbox=parts.outbox, between_steps=self.serve,
                                max_batch=self.settings.max_batch)
        next_load = 0.0
        while not self.stopping:
            if not self.ready and time.monotonic() >= next_load:
                self.load()
                next_load = time.monotonic() + 10.0
            self.serve()
            if self.ready and not self.stopping:
                try:
                    if self.runner.run_next():
                        self.report_memory()
                        continue
                except VtoError as exc:  # e.g. the database is briefly unreachable
                    log.warning("worker loop: %s", exc)
            self.serve(self.settings.poll_s)

    def report_memory(self) -> None:
        """GPU memory for the API's Prometheus gauges (nothing on a CPU-only machine)."""
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            self.send(DeviceMemory({i: (int(torch.cuda.memory_allocated(i)),
                                        int(torch.cuda.memory_reserved(i)))
                                    for i in range(torch.cuda.device_count())}))

    def load(self) -> None:
        self.send(Status("loading"))
        try:
            for model in self.settings.preload_models:
                self.engine.load(model)
        except Exception as exc:  # noqa: BLE001 - reported by /ready; retried
            log.exception("could not load models")
            self.send(Status("failed", str(exc) or type(exc).__name__))
            return
        from vto.service.worker.warm import needs_warming, warm

        if needs_warming(self.settings):  # compile / catalog warm-up: before /ready says yes
            try:
                warm(self.engine, self.settings,
                     lambda detail: self.send(Status("loading", detail)))
            except Exception:  # noqa: BLE001 - warming is an optimisation, never a blocker
                log.exception("warm-up failed; serving without it")
        self.ready = True
        self.send(Status("ready", models=tuple(self.settings.preload_models)))
        self.report_memory()

    def serve(self, timeout_s: float = 0.0) -> None:
        """Handle what the API sent; wait up to ``timeout_s`` for the first message."""
        try:
            while self.conn.poll(timeout_s):  # any message ends the wait; then drain
                self.handle(self.conn.recv())
                timeout_s = 0.0
        except (EOFError, OSError):
            os._exit(0)  # the API process is gone: nobody to report to

    def handle(self, message: object) -> None:
        if isinstance(message, Wake):
            return  # receiving it ended the idle wait
        if isinstance(message, Cancel):
            self.runner.canceled.add(message.job_id)
        elif isinstance(message, Stop):
            self.stopping = True
        elif isinstance(message, Call):
            try:
                self.send(CallResult(message.call_id,
                                     value=calls.handle(self.engine, message.method,
                                                        message.payload)))
            except VtoError as exc:
                self.send(CallResult(message.call_id, problem=exc.to_problem()))
            except Exception:  # noqa: BLE001
                log.exception("engine call %s failed", message.method)
                failure = InternalError(f"the {message.method} call failed; see the worker log")
                self.send(CallResult(message.call_id, problem=failure.to_problem()))
