"""``JobTable``: every read and guarded write of the job table (see vto.service.jobs for the
states). Thread-safe; one instance per process. Database outages surface as
:class:`vto.errors.Unavailable` (vto.service.db)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from vto.errors import Cancelled, WorkerLost
from vto.service.db import db_errors, guarded, make_engine, metadata
from vto.service.job_reports import JobReports
from vto.service.jobs import WAITING, Job, JobStatus, LeaseLost, QueueFull, jobs

log = logging.getLogger(__name__)

#: Request fields that must be equal for jobs to share a denoising batch (any garments, seeds,
#: guidance, sample counts and framings may share one).
BATCH_FIELDS = ("model", "width", "height", "num_inference_steps")


def _param_equals(name: str, value: Any) -> Any:
    """``params[name] == value`` in SQL (JSON null and a missing key both match None)."""
    field = jobs.c.params[name]
    if value is None:
        return field.as_string().is_(None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return field.as_string() == str(value)
    return field.as_float() == float(value)


class JobTable(JobReports):
    """All access to the job table (its read-only summaries in JobReports). Thread-safe; one
    instance per process."""

    def __init__(self, database: str | Engine, *, lease_s: float = 60.0,
                 max_attempts: int = 3) -> None:
        """``database``: a URL, or an engine shared with the other tables of this process."""
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.db = make_engine(database) if isinstance(database, str) else database
        self.is_postgres = self.db.dialect.name == "postgresql"
        with db_errors():
            metadata.create_all(self.db)

    def close(self) -> None:
        self.db.dispose()

    def ping(self) -> None:
        """Raise Unavailable unless the database answers (readiness)."""
        with db_errors(), self.db.connect() as conn:
            conn.execute(select(1))

    # --- creation -----------------------------------------------------------------------------
    @guarded
    def reserve(self, *, owner: str, params: dict[str, Any], request_hash: str,
                idempotency_key: str | None = None, webhook_url: str | None = None,
                queue_max: int | None = None) -> tuple[Job, bool]:
        """Insert a job in ``accepting``; with a taken idempotency key return (existing, False).

        With ``queue_max``, raises :class:`QueueFull` when that many jobs are already waiting
        (accepting or queued). The count and the insert are one serialised transaction (SQLite:
        BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so concurrent
        submissions can never overfill the queue."""
        job_id = uuid.uuid4().hex
        values = dict(id=job_id, owner=owner, idempotency_key=idempotency_key,
                      request_hash=request_hash, status=JobStatus.ACCEPTING.value, params=params,
                      inputs={}, webhook_url=webhook_url, attempts=0,
                      max_attempts=self.max_attempts, progress_step=0, progress_total=0,
                      cancel_requested=False, outputs=[], version=0, created_at=time.time())
        try:
            with self.db.connect().execution_options(immediate=True) as conn, conn.begin():
                if idempotency_key is not None:
                    existing = conn.execute(select(jobs).where(
                        jobs.c.owner == owner, jobs.c.idempotency_key == idempotency_key)).first()
                    if existing is not None:
                        return Job.from_row(existing), False
                if queue_max is not None:
                    self._lock_queue(conn)
                    depth = conn.execute(select(func.count()).select_from(jobs)
                                         .where(jobs.c.status.in_(WAITING))).scalar_one()
                    if depth >= queue_max:
                        raise QueueFull(int(depth))
                conn.execute(insert(jobs).values(**values))
        except IntegrityError:  # a concurrent request took the key between our read and insert
            existing_job = self.find_idempotent(owner, idempotency_key or "")
            if existing_job is None:
                raise
            return existing_job, False
        job = self.get(job_id)
        assert job is not None
        return job, True

    def _lock_queue(self, conn: Connection) -> None:
        if self.is_postgres:  # SQLite already holds the write lock (BEGIN IMMEDIATE)
            conn.execute(text("SELECT pg_advisory_xact_lock(7406001)"))

    @guarded
    def mark_queued(self, job_id: str, inputs: dict[str, str]) -> Job:
        now = time.time()
        with self.db.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id,
                                   jobs.c.status == JobStatus.ACCEPTING.value)
                .values(status=JobStatus.QUEUED.value, inputs=inputs, created_at=now,
                        version=jobs.c.version + 1)
                .returning(*jobs.c)).first()
        if row is None:
            raise LookupError(f"job {job_id} is not accepting")
        return Job.from_row(row)

    @guarded
    def abandon(self, job_id: str) -> None:
        """Drop a reservation whose inputs could not be stored."""
        with self.db.begin() as conn:
            conn.execute(delete(jobs).where(jobs.c.id == job_id,
                                            jobs.c.status == JobStatus.ACCEPTING.value))

    # --- reads --------------------------------------------------------------------------------
    @guarded
    def get(self, job_id: str) -> Job | None:
        with self.db.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return Job.from_row(row) if row is not None else None

    @guarded
    def get_many(self, job_ids: list[str]) -> list[Job]:
        if not job_ids:
            return []
        with self.db.connect() as conn:
            rows = conn.execute(select(jobs).where(jobs.c.id.in_(job_ids))).all()
        return [Job.from_row(row) for row in rows]

    @guarded
    def find_idempotent(self, owner: str, key: str) -> Job | None:
        with self.db.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.owner == owner,
                                                  jobs.c.idempotency_key == key)).first()
        return Job.from_row(row) if row is not None else None

    @guarded
    def list_jobs(self, owner: str, *, statuses: list[JobStatus] | None = None,
             before: tuple[float, str] | None = None, limit: int = 20) -> list[Job]:
        """One owner's visible jobs, newest first; ``before`` = (created_at, id) of the last
        job of the previous page (keyset pagination: stable while jobs are added)."""
        query = select(jobs).where(jobs.c.owner == owner,
                                   jobs.c.status != JobStatus.ACCEPTING.value)
        if statuses:
            query = query.where(jobs.c.status.in_([s.value for s in statuses]))
        if before is not None:
            created, job_id = before
            query = query.where((jobs.c.created_at < created)
                                | ((jobs.c.created_at == created) & (jobs.c.id < job_id)))
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        with self.db.connect() as conn:
            return [Job.from_row(row) for row in conn.execute(query)]

    @guarded
    def ids_with_status(self, status: JobStatus) -> list[str]:
        with self.db.connect() as conn:
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

    @guarded
    def claim_batch(self, worker: str, limit: int, *,
                    compatible_with: Job | None = None) -> list[Job]:
        """Take up to ``limit`` queued jobs that may denoise as one batch, oldest first: the
        oldest queued job (or ``compatible_with``, a job this worker already holds, which is
        not counted again) and the next ones with the same :data:`BATCH_FIELDS` (model,
        working size, step count). One serialised transaction (SQLite: BEGIN IMMEDIATE;
        PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so no job is ever claimed twice."""
        if limit < 1:
            return []
        queued = jobs.c.status == JobStatus.QUEUED.value
        with self.db.connect().execution_options(immediate=True) as conn, conn.begin():
            template = compatible_with.params if compatible_with is not None else None
            if template is None:
                oldest = select(jobs.c.params).where(queued).order_by(jobs.c.created_at).limit(1)
                if self.is_postgres:
                    oldest = oldest.with_for_update(skip_locked=True)
                row = conn.execute(oldest).first()
                if row is None:
                    return []
                template = row[0]
            same = [_param_equals(name, template.get(name)) for name in BATCH_FIELDS]
            candidates = (select(jobs.c.id).where(queued, *same)
                          .order_by(jobs.c.created_at, jobs.c.id).limit(limit))
            if self.is_postgres:
                candidates = candidates.with_for_update(skip_locked=True)
            ids = [r[0] for r in conn.execute(candidates)]
            if not ids:
                return []
            now = time.time()
            rows = conn.execute(
                update(jobs).where(jobs.c.id.in_(ids), queued)
                .values(status=JobStatus.RUNNING.value, lease_owner=worker,
                        lease_until=now + self.lease_s, heartbeat_at=now,
                        attempts=jobs.c.attempts + 1, progress_step=0,
                        started_at=func.coalesce(jobs.c.started_at, now),
                        version=jobs.c.version + 1)
                .returning(*jobs.c)).all()
        claimed = [Job.from_row(row) for row in rows]
        return sorted(claimed, key=lambda job: (job.created_at, job.id))

    @guarded
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
        with self.db.begin() as conn:
            row = conn.execute(stmt).first()
        return Job.from_row(row) if row is not None else None

    @guarded
    def heartbeat(self, job_id: str, worker: str, *, step: int | None = None,
                  total: int | None = None) -> bool:
        """Extend the lease (and record progress); returns whether cancel was requested.

        Progress does not bump ``version`` (event ids add the step). Raises
        :class:`LeaseLost` when ``worker`` does not hold the job any more."""
        now = time.time()
        values: dict[str, Any] = dict(lease_until=now + self.lease_s, heartbeat_at=now)
        if step is not None:
            values["progress_step"] = step
        if total is not None:
            values["progress_total"] = total
        with self.db.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == worker,
                                   jobs.c.status == JobStatus.RUNNING.value)
                .values(**values).returning(jobs.c.cancel_requested)).first()
        if row is None:
            raise LeaseLost(job_id)
        return bool(row[0])

    @guarded
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
        with self.db.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.lease_owner == worker,
                                   jobs.c.status == JobStatus.RUNNING.value)
                .values(**values).returning(*jobs.c)).first()
        return Job.from_row(row) if row is not None else None

    # --- client side --------------------------------------------------------------------------
    @guarded
    def request_cancel(self, job_id: str) -> Job | None:
        """Queued → canceled at once; running → the cancel flag (the worker stops at its next
        step). Terminal jobs are returned unchanged; None for an unknown id."""
        now = time.time()
        with self.db.begin() as conn:
            row = conn.execute(
                update(jobs).where(jobs.c.id == job_id,
                                   jobs.c.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.CANCELED.value, finished_at=now,
                        cancel_requested=True, version=jobs.c.version + 1,
                        error=Cancelled("canceled before it started").to_problem())
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
    @guarded
    def release(self, worker: str) -> None:
        """A worker died: end its leases now, so :meth:`recover` re-queues its jobs at once."""
        with self.db.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.lease_owner == worker,
                                            jobs.c.status == JobStatus.RUNNING.value)
                         .values(lease_until=0.0))

    @guarded
    def recover(self) -> tuple[list[str], list[str]]:
        """Expired leases: back to queued while attempts remain, else failed (worker-lost).

        Returns (requeued ids, failed ids)."""
        now = time.time()
        expired = (jobs.c.status == JobStatus.RUNNING.value) & (jobs.c.lease_until < now)
        lost = WorkerLost("the worker running this job stopped responding too many times")
        with self.db.begin() as conn:
            requeued = [r[0] for r in conn.execute(
                update(jobs).where(expired, jobs.c.attempts < jobs.c.max_attempts)
                .values(status=JobStatus.QUEUED.value, lease_owner=None, lease_until=None,
                        progress_step=0, version=jobs.c.version + 1)
                .returning(jobs.c.id))]
            failed = [r[0] for r in conn.execute(
                update(jobs).where(expired, jobs.c.attempts >= jobs.c.max_attempts)
                .values(status=JobStatus.FAILED.value, lease_owner=None, lease_until=None,
                        finished_at=now, version=jobs.c.version + 1, error=lost.to_problem())
                .returning(jobs.c.id))]
        if requeued:
            log.warning("lease expired, re-queued: %s", ", ".join(requeued[:10]))
        if failed:
            log.error("lease expired after max attempts, failed (worker-lost): %s",
                      ", ".join(failed[:10]))
        return requeued, failed

    @guarded
    def expired(self, *, finished_before: float, accepting_before: float) -> Iterator[Job]:
        """Terminal jobs finished before the cut-off, and stale reservations."""
        with self.db.connect() as conn:
            rows = conn.execute(select(jobs).where(
                (jobs.c.finished_at < finished_before)
                | ((jobs.c.status == JobStatus.ACCEPTING.value)
                   & (jobs.c.created_at < accepting_before)))).all()
        for row in rows:
            yield Job.from_row(row)

    @guarded
    def delete(self, job_id: str) -> None:
        with self.db.begin() as conn:
            conn.execute(delete(jobs).where(jobs.c.id == job_id))
