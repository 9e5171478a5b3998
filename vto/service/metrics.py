"""Service metrics: Prometheus collectors plus the seed server's ``GET /metrics`` JSON.

One :class:`Metrics` per app, each with its own ``CollectorRegistry`` (tests build many apps in
one process). Job metrics come from one path: the housekeeper reads finished jobs from the job
table (every worker, in any process, writes there) and calls :meth:`Metrics.observe` once per
job; the HTTP middleware reports every request with :meth:`observe_request`.

Prometheus names (``vto_`` prefix, base units, no per-job labels)::

    vto_job_seconds{model,category}                  histogram, buckets 0.5 s … 300 s
    vto_jobs_finished_total{status}                  succeeded | failed
    vto_job_failures_total{reason}                   e.g. no-person-detected, canceled, worker_lost
    vto_queue_depth / vto_jobs_running               gauges
    vto_http_request_seconds{route,method}           histogram, buckets 5 ms … 300 s
    vto_http_requests_total{route,method,status}     counter
    vto_gpu_memory_allocated_bytes{gpu}, …_reserved_bytes{gpu}
                                                     as the worker process last reported them

The seed JSON averages successful jobs only (the seed also counted failures, whose near-zero
times pulled its average down); failures are counted separately. It is built from the job table
(:func:`table_times`), which every engine shares.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vto.core.types import Category, parse_category
from vto.errors import InvalidInput

if TYPE_CHECKING:
    from vto.service.job_table import JobTable

JOB_BUCKETS = (0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
HISTORY = 100  # the seed keeps the last 100 times per series


def _category_name(category: str) -> str:
    """vto's category value for 'upper_body' / 'upperbody' / Category; other text as given."""
    try:
        return parse_category(category).value
    except InvalidInput:
        return str(category)


GpuMemory = Callable[[], dict[int, tuple[int, int]]]  # gpu -> (allocated, reserved) bytes


class _GpuMemory(Collector):
    """GPU memory as the worker process reports it (the API process never touches the GPU)."""

    def __init__(self, read: GpuMemory) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        readings = self.read()
        if not readings:
            return
        allocated = GaugeMetricFamily("vto_gpu_memory_allocated_bytes",
                                      "GPU memory held by tensors", labels=["gpu"])
        reserved = GaugeMetricFamily("vto_gpu_memory_reserved_bytes",
                                     "GPU memory reserved by the caching allocator",
                                     labels=["gpu"])
        for index, (held, cached) in sorted(readings.items()):
            allocated.add_metric([str(index)], float(held))
            reserved.add_metric([str(index)], float(cached))
        yield allocated
        yield reserved


class Metrics:
    """Thread-safe job and request metrics."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 gpu_memory: GpuMemory | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._started = time.time()
        r = self.registry
        self.job_seconds = Histogram("vto_job_seconds", "Try-on job run time",
                                     ["model", "category"], buckets=JOB_BUCKETS, registry=r)
        self.jobs_finished = Counter("vto_jobs_finished_total", "Jobs finished, by outcome",
                                     ["status"], registry=r)
        self.failures = Counter("vto_job_failures_total", "Failed jobs, by reason", ["reason"],
                                registry=r)
        self.queue_depth = Gauge("vto_queue_depth", "Jobs waiting in the queue", registry=r)
        self.running = Gauge("vto_jobs_running", "Jobs running now", registry=r)
        self.request_seconds = Histogram("vto_http_request_seconds", "HTTP request latency",
                                         ["route", "method"], buckets=REQUEST_BUCKETS, registry=r)
        self.requests = Counter("vto_http_requests_total", "HTTP requests",
                                ["route", "method", "status"], registry=r)
        if gpu_memory is not None:
            r.register(_GpuMemory(gpu_memory))

    # --- feeding --------------------------------------------------------------------------------

    def observe(self, category: str, model: str, seconds: float, ok: bool,
                reason: str | None = None) -> None:
        """Record one finished job (``reason`` is the failure's problem type)."""
        self.jobs_finished.labels("succeeded" if ok else "failed").inc()
        if not ok:
            self.failures.labels(reason or "unknown").inc()
            return
        self.job_seconds.labels(str(model), _category_name(category)).observe(seconds)

    def set_queue_depth(self, n: int) -> None:
        self.queue_depth.set(n)

    def set_running(self, n: int) -> None:
        self.running.set(n)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """``route`` is the route template (``/v1/jobs/{id}``), never the raw path."""
        self.request_seconds.labels(route, method).observe(seconds)
        self.requests.labels(route, method, str(status)).inc()

    # --- reading --------------------------------------------------------------------------------

    def seed_json(self, queue_depth: int, job_counts: dict[str, int],
                  times: "JobTimes") -> dict[str, Any]:
        """``GET /metrics``: the seed's document (``success``, ``metrics``, ``timestamp``) plus
        flat keys for new clients (``average_time``, ``category_averages`` keyed by vto's
        category names, ``recent_performance``, ``queue_depth``, ``jobs``)."""
        t = times
        uptime = time.time() - self._started
        total = t.succeeded + t.failed
        averages = {c.value: t.category_average(c.value) for c in Category}
        seed_categories = {  # the seed's own keys: upperbody, lowerbody, dress
            c.prompt_word: {"samples": len(t.by_category.get(c.value, [])),
                            "average_seconds": averages[c.value]} for c in Category}
        return {
            "success": True,
            "metrics": {
                "uptime_seconds": uptime,
                "uptime_hours": uptime / 3600,
                "total_requests": total,
                "success_count": t.succeeded,
                "error_count": t.failed,
                "success_rate_percent": t.succeeded / total * 100 if total else 0,
                "processing_times": {
                    "total_samples": len(t.recent),
                    "average_seconds": t.average(),
                    "median_seconds": statistics.median(t.recent) if t.recent else 0.0,
                    "recent_10": t.recent_performance(10),
                    "recent_5": t.recent_performance(5),
                },
                "category_performance": seed_categories,
            },
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "average_time": t.average(),
            "category_averages": averages,
            "recent_performance": t.recent_performance(10),
            "queue_depth": int(queue_depth),
            "jobs": dict(job_counts),
        }

    def render_prometheus(self) -> tuple[bytes, str]:
        """(body, content type) for ``GET /metrics/prometheus``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class JobTimes:
    """Run times of successful jobs (oldest first, at most ``HISTORY`` per series) and the
    number of succeeded and failed jobs: everything the seed JSON says about jobs."""

    recent: list[float] = field(default_factory=list)
    by_category: dict[str, list[float]] = field(default_factory=dict)
    succeeded: int = 0
    failed: int = 0

    def average(self) -> float:
        return statistics.fmean(self.recent) if self.recent else 0.0

    def category_average(self, category: str) -> float:
        times = self.by_category.get(_category_name(category))
        return statistics.fmean(times) if times else 0.0

    def recent_performance(self, n: int = 10) -> dict[str, float | int]:
        """The seed's shape: count, average, min, max over the last ``n`` successful jobs."""
        times = self.recent[-n:] if n > 0 else []
        if not times:
            return {"count": 0, "average": 0.0, "min": 0.0, "max": 0.0}
        return {"count": len(times), "average": statistics.fmean(times),
                "min": min(times), "max": max(times)}


def table_times(store: "JobTable", history: int = HISTORY) -> JobTimes:
    """:class:`JobTimes` from the job table, which every worker (thread or Celery process)
    writes: the same numbers in both engines, across API restarts and replicas."""
    counts = store.counts()
    return JobTimes(recent=store.success_times(limit=history),
                    by_category={c.value: store.success_times(c.value, history) for c in Category},
                    succeeded=counts["succeeded"], failed=counts["failed"])
