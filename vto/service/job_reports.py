"""Read-only summaries of the job table — queue depth and positions, counts per status, recent
run times, jobs finished since a time — for metrics, ``Retry-After`` estimates and job views.
:class:`vto.service.job_table.JobTable` inherits them; each is one query."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from vto.service.db import guarded
from vto.service.jobs import Job, JobStatus, jobs


class JobReports:
    db: Engine  # set by JobTable

    @guarded
    def queue_depth(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(jobs)
                                    .where(jobs.c.status == JobStatus.QUEUED.value)).scalar_one())

    @guarded
    def queue_position(self, job: Job) -> int | None:
        """1-based position among queued jobs (None unless queued)."""
        if job.status is not JobStatus.QUEUED:
            return None
        with self.db.connect() as conn:
            ahead = conn.execute(select(func.count()).select_from(jobs).where(
                jobs.c.status == JobStatus.QUEUED.value,
                jobs.c.created_at < job.created_at)).scalar_one()
        return int(ahead) + 1

    @guarded
    def counts(self) -> dict[str, int]:
        """Number of jobs per visible status (every status present, zero when none)."""
        out = {s.value: 0 for s in JobStatus if s is not JobStatus.ACCEPTING}
        with self.db.connect() as conn:
            for status, n in conn.execute(select(jobs.c.status, func.count())
                                          .group_by(jobs.c.status)):
                if status in out:
                    out[status] = int(n)
        return out

    @guarded
    def success_times(self, category: str | None = None, limit: int = 100) -> list[float]:
        """Run times (``result.inference_seconds``) of the last ``limit`` succeeded jobs, oldest
        first, optionally of one category. Every worker writes them here, so any process can
        compute job statistics."""
        seconds = jobs.c.result["inference_seconds"].as_float()
        query = (select(seconds).where(jobs.c.status == JobStatus.SUCCEEDED.value,
                                       seconds.is_not(None))
                 .order_by(jobs.c.finished_at.desc()).limit(limit))
        if category is not None:
            query = query.where(jobs.c.params["category"].as_string() == category)
        with self.db.connect() as conn:
            return [float(r[0]) for r in conn.execute(query)][::-1]

    @guarded
    def finished_since(self, after: float) -> list[Job]:
        """Terminal jobs with ``finished_at >= after``, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(select(jobs).where(jobs.c.finished_at >= after)
                                .order_by(jobs.c.finished_at)).all()
        return [Job.from_row(row) for row in rows]
