"""The durable job table: state, leases, progress, idempotency and outputs of every try-on job.

One table, SQLAlchemy Core, the same schema on SQLite (default, WAL, under the data dir) and
PostgreSQL (``postgresql://…``). Every state change is one guarded statement:

    accepting ──(inputs stored)──► queued ──claim──► running ──finish──► succeeded | failed | canceled
        │                            │  ▲                │
        └─(request died: janitor)    │  └──(lease expired, attempts < max)──┘
                                     └─cancel──► canceled      (lease expired, attempts = max → failed, worker-lost)

* ``accepting`` is internal: it reserves an ``(owner, idempotency_key)`` pair and a place in the
  bounded queue while the inputs are being stored, so a concurrent retry with the same key gets
  409 and concurrent submissions never overfill the queue. It is never shown to clients.
* A worker claims with one ``UPDATE … RETURNING`` and gets a lease (``lease_owner``,
  ``lease_until``); only the lease owner may heartbeat, write progress or finish the job.
* ``version`` grows by one on every change; SSE event ids derive from it (:func:`event_id`).
* Output keys are deterministic (:func:`output_key`), so a re-run overwrites.
* All reads and writes go through :class:`vto.service.job_table.JobTable`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table, UniqueConstraint

from vto.service.db import metadata

MAX_STEPS_PER_VERSION = 10_000  # event ids: version * this + step (steps are far fewer)


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
    Index("ix_vto_jobs_owner_created", "owner", "created_at"),
)

WAITING = (JobStatus.ACCEPTING.value, JobStatus.QUEUED.value)


def output_key(job_id: str, index: int) -> str:
    """Storage key of a job's n-th output image (deterministic: re-runs overwrite)."""
    return f"results/{job_id}/{index}.png"


def input_key(job_id: str, name: str) -> str:
    return f"inputs/{job_id}/{name}.png"


def event_id(version: int, step: int) -> int:
    """A job's monotonic event id: state changes bump ``version``, progress bumps ``step``."""
    return version * MAX_STEPS_PER_VERSION + max(0, min(step, MAX_STEPS_PER_VERSION - 1))


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

    @property
    def event_id(self) -> int:
        return event_id(self.version, self.progress_step)


class LeaseLost(Exception):
    """The worker no longer owns the job (its lease expired and someone else took it)."""


class QueueFull(Exception):
    """The bounded queue has no room (the service answers 503 with a Retry-After)."""

    def __init__(self, depth: int) -> None:
        super().__init__(f"{depth} jobs waiting")
        self.depth = depth
