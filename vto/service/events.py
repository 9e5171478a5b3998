"""In-process job events: one broadcaster feeds every SSE stream and ``Prefer: wait`` request.

Events come from three places: the embedded worker process (its pipe: progress at every step,
state changes), this process's own writes (submit, cancel), and :class:`TablePoller`, which
reads the rows of the jobs someone is watching — one query per interval for all watchers — so
changes made elsewhere (Celery workers, other API replicas, recovery) reach the streams too.
A subscriber never polls the database itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from vto.service.jobs import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobEvent:
    """``changed``: the job's state changed (``job`` is the new row when the publisher has it);
    ``progress``: denoising step ``step`` of ``total`` finished."""

    job_id: str
    kind: str = "changed"
    job: Job | None = None
    step: int = 0
    total: int = 0


class Subscription:
    """One waiter's queue of events for one job (asyncio side)."""

    def __init__(self, broadcaster: "Broadcaster", job_id: str) -> None:
        self.job_id = job_id
        self._broadcaster = broadcaster
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[JobEvent] = asyncio.Queue(maxsize=256)

    def _deliver(self, event: JobEvent) -> None:  # called in the loop's thread
        if self._queue.full():  # a slow reader loses old progress, never the latest state
            try:
                self._queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
        self._queue.put_nowait(event)

    def push(self, event: JobEvent) -> None:
        try:
            self._loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:  # loop closed
            pass

    async def next(self, timeout_s: float) -> JobEvent | None:
        """The next event, or None after ``timeout_s``."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout_s)
        except asyncio.TimeoutError:
            return None

    def close(self) -> None:
        self._broadcaster._unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Broadcaster:
    """Thread-safe fan-out of :class:`JobEvent` to the subscriptions of each job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}

    def subscribe(self, job_id: str) -> Subscription:
        """Call from a coroutine; use as a context manager (or call ``close``)."""
        sub = Subscription(self, job_id)
        with self._lock:
            self._subs.setdefault(job_id, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.job_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.job_id]

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            subs = list(self._subs.get(event.job_id, ()))
        for sub in subs:
            sub.push(event)

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._subs)


class TablePoller:
    """Publishes changes of watched jobs found in the table, every ``interval_s``."""

    def __init__(self, broadcaster: Broadcaster, read: Callable[[list[str]], list[Job]],
                 interval_s: float) -> None:
        self.broadcaster = broadcaster
        self.read = read
        self.interval_s = interval_s
        self._seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vto-table-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def poll_once(self) -> None:
        watched = self.broadcaster.watched()
        self._seen = {k: v for k, v in self._seen.items() if k in watched}
        for job in self.read(watched):
            if self._seen.get(job.id) != job.event_id:  # subscribers drop what they have seen
                self._seen[job.id] = job.event_id
                self.broadcaster.publish(JobEvent(job.id, "changed", job))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll_once()
            except Exception:  # the database may be briefly down; streams keep their state
                log.debug("table poll failed", exc_info=True)
