"""The durable job table: state, leases, progress, idempotency and outputs of every try-on job.

One table, SQLAlchemy Core, the same schema on SQLite (default, WAL, under the data dir) and
PostgreSQL (``postgresql://…``). Every state change is one guarded statement:

    accepting ──(inputs stored)──► queued ──claim──► running ──finish──► succeeded | failed | canceled
        │                            │  ▲                │
        └─(request died: janitor)    │  └──(lease expired, attempts < max)──┘
                                     └─cancel──► canceled      (lease expired, attempts = max → failed 'worker_lost')

* ``accepting`` is internal: it reserves an ``(owner, idempotency_key)`` pair while the inputs are
  being stored, so a concurrent retry with the same key gets 409 instead of a second job. It is
  never shown to clients.
* A worker claims with one ``UPDATE … RETURNING`` and gets a lease (``lease_owner``,
  ``lease_until``); only the lease owner may heartbeat, write progress or finish the job.
* ``version`` grows by one on every change; the SSE stream uses it as its monotonic event id.
* Output keys are deterministic (:func:`output_key`), so a re-run overwrites instead of
  duplicating.
"""

from __future__ import annotations

import enum
import importlib.util
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (JSON, Boolean, Column, Float, Index, Integer, MetaData, String, Table,
                        UniqueConstraint, create_engine, delete, event, func, insert, select,
                        update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)


class JobStatus(str, enum.Enum):
    ACCEPTING = "accepting"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


metadata = MetaData()

jobs = Table(
    "vto_jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False, default=""),
    Column("idempotency_key", String(255), nullable=True),
    Column("request_hash", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("webhook_url", String(2048), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("progress_step", Integer, nullable=False, default=0),
    Column("progress_total", Integer, nullable=False, default=0),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("outputs", JSON, nullable=False),
    Column("error", JSON, nullable=True),
    Column("result", JSON, nullable=True),
    Column("version", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    UniqueConstraint("owner", "idempotency_key", name="uq_vto_jobs_idempotency"),
    Index("ix_vto_jobs_status_created", "status", "created_at"),
)


def output_key(job_id: str, index: int) -> str:
    """Storage key of a job's n-th output image (deterministic: re-runs overwrite)."""
    return f"results/{job_id}/{index}.png"


def input_key(job_id: str, name: str) -> str:
    return f"inputs/{job_id}/{name}.png"


@dataclass(frozen=True)
class Job:
    """One row of the job table, decoded."""

    id: str
    owner: str
    status: JobStatus
    params: dict[str, Any]
    inputs: dict[str, str]
    attempts: int
    max_attempts: int
    progress_step: int
    progress_total: int
    cancel_requested: bool
    version: int
    created_at: float
    idempotency_key: str | None = None
    request_hash: str = ""
    webhook_url: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> "Job":
        m = dict(row._mapping)
        m.pop("heartbeat_at", None)
        m["status"] = JobStatus(m["status"])
        m["cancel_requested"] = bool(m["cancel_requested"])
        m["outputs"] = m["outputs"] or []
        return cls(**m)


class LeaseLost(Exception):
    """The worker no longer owns the job (its lease expired and someone else took it)."""


class JobStore:
    """All access to the job table. Thread-safe; one instance per process."""

    def __init__(self, url: str, *, lease_s: float = 60.0, max_attempts: int = 3) -> None:
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.engine: Engine = _make_engine(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- creation -----------------------------------------------------------------------------
    def reserve(self, *, owner: str, params: dict[str, Any], request_hash: str,
                idempotency_key: str | None = None, webhook_url: str | None = None,
                ) -> tuple[Job, bool]:
        """Insert a job in ``accepting``; with a taken idempotency key return (existing, False)."""
        job_id = uuid.uuid4().hex
        values = dict(id=job_id, owner=owner, idempotency_key=idempotency_key,
                      request_hash=request_hash, status=JobStatus.ACCEPTING.value, params=params,
                      inputs={}, webhook_url=webhook_url, attempts=0,
                      max_attempts=self.max_attempts, progress_step=0, progress_total=0,
                      cancel_requested=False, outputs=[], version=0, created_at=time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(jobs).values(**values))
        except IntegrityError:
            existing = self.find_idempotent(owner, idempotency_key or "")
            if existing is None:  # deleted between our insert and our read: try once more
                return self.reserve(owner=owner, params=params, request_hash=request_hash,
                                    idempotency_key=idempotency_key, webhook_url=webhook_url)
            return existing, False
        job = self.get(job_id)
        assert job is not None
        return job, True

    def mark_queued(self, job_id: str, inputs: dict[str, str]) -> Job:
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id,
                                   jobs.c.status == JobStatus.ACCEPTING.value)
                .values(status=JobStatus.QUEUED.value, inputs=inputs, created_at=now,
                        version=jobs.c.version + 1)
                .returning(*jobs.c)).first()
        if row is None:
            raise LookupError(f"job {job_id} is not accepting")
        return Job.from_row(row)

    def abandon(self, job_id: str) -> None:
        """Drop a reservation whose inputs could not be stored."""
        with self.engine.begin() as conn:
            conn.execute(delete(jobs).where(jobs.c.id == job_id,
                                            jobs.c.status == JobStatus.ACCEPTING.value))

    # --- reads --------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return Job.from_row(row) if row is not None else None

    def find_idempotent(self, owner: str, key: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.owner == owner,
                                                  jobs.c.idempotency_key == key)).first()
        return Job.from_row(row) if row is not None else None

    def queue_depth(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(jobs)
                                    .where(jobs.c.status == JobStatus.QUEUED.value)).scalar_one())

    def queue_position(self, job: Job) -> int | None:
        """1-based position among queued jobs (None unless queued)."""
        if job.status is not JobStatus.QUEUED:
            return None
        with self.engine.connect() as conn:
            ahead = conn.execute(select(func.count()).select_from(jobs).where(
                jobs.c.status == JobStatus.QUEUED.value,
                jobs.c.created_at < job.created_at)).scalar_one()
        return int(ahead) + 1

    def counts(self) -> dict[str, int]:
        """Number of jobs per visible status (every status present, zero when none)."""
        out = {s.value: 0 for s in JobStatus if s is not JobStatus.ACCEPTING}
        with self.engine.connect() as conn:
            for status, n in conn.execute(select(jobs.c.status, func.count())
                                          .group_by(jobs.c.status)):
                if status in out:
                    out[status] = int(n)
        return out

    def success_times(self, category: str | None = None, limit: int = 100) -> list[float]:
        """Run times (``result.inference_seconds``) of the last ``limit`` succeeded jobs, oldest
        first, optionally of one category. Every worker writes them here, so any process can
        compute job statistics (Celery workers' in-process metrics never reach the API)."""
        seconds = jobs.c.result["inference_seconds"].as_float()
        query = (select(seconds).where(jobs.c.status == JobStatus.SUCCEEDED.value,
                                       seconds.is_not(None))
                 .order_by(jobs.c.finished_at.desc()).limit(limit))
        if category is not None:
            query = query.where(jobs.c.params["category"].as_string() == category)
        with self.engine.connect() as conn:
            return [float(r[0]) for r in conn.execute(query)][::-1]

    def finished_since(self, after: float) -> list[Job]:
        """Terminal jobs with ``finished_at >= after``, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(jobs).where(jobs.c.finished_at >= after)
                                .order_by(jobs.c.finished_at)).all()
        return [Job.from_row(row) for row in rows]

    def ids_with_status(self, status: JobStatus) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(jobs.c.id)
                                               .where(jobs.c.status == status.value)
                                               .order_by(jobs.c.created_at))]

    # --- worker side --------------------------------------------------------------------------
    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job with a fresh lease, or None. One atomic statement."""
        oldest = (select(jobs.c.id).where(jobs.c.status == JobStatus.QUEUED.value)
                  .order_by(jobs.c.created_at).limit(1))
        if self.is_postgres:
            oldest = oldest.with_for_update(skip_locked=True)
        return self._claim_where(worker, jobs.c.id == oldest.scalar_subquery())

    def claim_id(self, job_id: str, worker: str) -> Job | None:
        """Take one given job if it is queued (Celery tasks name their job)."""
        return self._claim_where(worker, jobs.c.id == job_id)

    def _claim_where(self, worker: str, condition: Any) -> Job | None:
        now = time.time()
        stmt = (update(jobs)
                .where(condition, jobs.c.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.RUNNING.value, lease_owner=worker,
                        lease_until=now + self.lease_s, heartbeat_at=now,
                        attempts=jobs.c.attempts + 1, progress_step=0,
                        started_at=func.coalesce(jobs.c.started_at, now),
                        version=jobs.c.version + 1)
                .returning(*jobs.c))
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        return Job.from_row(row) if row is not None else None

    def heartbeat(self, job_id: str, worker: str, *, step: int | None = None,
                  total: int | None = None) -> bool:
        """Extend the lease (and record progress); returns whether cancel was requested.

        Raises :class:`LeaseLost` when ``worker`` does not hold the job any more.
        """
        now = time.time()
        values: dict[str, Any] = dict(lease_until=now + self.lease_s, heartbeat_at=now)
        if step is not None:
            values.update(progress_step=step, version=jobs.c.version + 1)
        if total is not None:
            values["progress_total"] = total
        with self.engine.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == worker,
                                   jobs.c.status == JobStatus.RUNNING.value)
                .values(**values).returning(jobs.c.cancel_requested)).first()
        if row is None:
            raise LeaseLost(job_id)
        return bool(row[0])

    def finish(self, job_id: str, worker: str, status: JobStatus, *,
               outputs: list[dict[str, Any]] | None = None, error: dict[str, Any] | None = None,
               result: dict[str, Any] | None = None) -> Job | None:
        """Terminal transition, only by the lease owner; None when the lease was lost."""
        assert status.is_terminal
        values: dict[str, Any] = dict(status=status.value, finished_at=time.time(),
                                      lease_owner=None, lease_until=None, error=error,
                                      version=jobs.c.version + 1)
        if outputs is not None:
            values["outputs"] = outputs
        if result is not None:
            values["result"] = result
        with self.engine.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == worker,
                                   jobs.c.status == JobStatus.RUNNING.value)
                .values(**values).returning(*jobs.c)).first()
        return Job.from_row(row) if row is not None else None

    # --- client side --------------------------------------------------------------------------
    def request_cancel(self, job_id: str) -> Job | None:
        """Queued → canceled at once; running → the cancel flag (the worker stops at its next
        step). Terminal jobs are returned unchanged; None for an unknown id."""
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id,
                                   jobs.c.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.CANCELED.value, finished_at=now,
                        cancel_requested=True, version=jobs.c.version + 1,
                        error={"type": "canceled", "title": "Canceled", "status": 409,
                               "detail": "canceled before it started"})
                .returning(*jobs.c)).first()
            if row is None:
                row = conn.execute(
                    update(jobs).where(jobs.c.id == job_id,
                                       jobs.c.status == JobStatus.RUNNING.value,
                                       jobs.c.cancel_requested.is_(False))
                    .values(cancel_requested=True, version=jobs.c.version + 1)
                    .returning(*jobs.c)).first()
        if row is not None:
            return Job.from_row(row)
        return self.get(job_id)

    # --- recovery and retention ---------------------------------------------------------------
    def recover(self) -> tuple[list[str], list[str]]:
        """Expired leases: back to queued while attempts remain, else failed 'worker_lost'.

        Returns (requeued ids, failed ids).
        """
        now = time.time()
        expired = (jobs.c.status == JobStatus.RUNNING.value) & (jobs.c.lease_until < now)
        with self.engine.begin() as conn:
            requeued = [r[0] for r in conn.execute(
                update(jobs).where(expired, jobs.c.attempts < jobs.c.max_attempts)
                .values(status=JobStatus.QUEUED.value, lease_owner=None, lease_until=None,
                        progress_step=0, version=jobs.c.version + 1)
                .returning(jobs.c.id))]
            failed = [r[0] for r in conn.execute(
                update(jobs).where(expired, jobs.c.attempts >= jobs.c.max_attempts)
                .values(status=JobStatus.FAILED.value, lease_owner=None, lease_until=None,
                        finished_at=now, version=jobs.c.version + 1,
                        error={"type": "worker_lost", "title": "Worker lost", "status": 500,
                               "detail": "the worker running this job stopped "
                                         "responding too many times"})
                .returning(jobs.c.id))]
        if requeued:
            log.warning("lease expired, re-queued: %s", ", ".join(requeued[:10]))
        if failed:
            log.error("lease expired after max attempts, failed (worker_lost): %s",
                      ", ".join(failed[:10]))
        return requeued, failed

    def expired(self, *, finished_before: float, accepting_before: float) -> Iterator[Job]:
        """Terminal jobs finished before the cut-off, and stale reservations."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(jobs).where(
                (jobs.c.finished_at < finished_before)
                | ((jobs.c.status == JobStatus.ACCEPTING.value)
                   & (jobs.c.created_at < accepting_before)))).all()
        for row in rows:
            yield Job.from_row(row)

    def delete(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(jobs).where(jobs.c.id == job_id))


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=8, max_overflow=16)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL: readers never block the writer; NORMAL sync is durable across process crashes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]  # SQLAlchemy 2.1 defaults to v3
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
