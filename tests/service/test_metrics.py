"""Metrics: the seed's JSON from job-table times, the Prometheus exposition, GPU gauges as the
worker reports them."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vto.service.metrics import JobTimes, Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.render_prometheus()
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_seed_json_has_the_seeds_keys_and_values():
    times = JobTimes(recent=[10.0, 20.0, 30.0],
                     by_category={"upper_body": [10.0, 20.0], "dress": [30.0]},
                     succeeded=3, failed=1)
    doc = Metrics().seed_json(queue_depth=3, job_counts={"queued": 3, "succeeded": 3},
                              times=times)
    assert doc["success"] is True and isinstance(doc["timestamp"], str)
    seed = doc["metrics"]
    assert (seed["total_requests"], seed["success_count"], seed["error_count"]) == (4, 3, 1)
    assert seed["success_rate_percent"] == pytest.approx(75)
    assert seed["processing_times"]["average_seconds"] == pytest.approx(20)
    assert seed["processing_times"]["median_seconds"] == pytest.approx(20)
    assert seed["processing_times"]["recent_5"] == {"count": 3, "average": 20, "min": 10, "max": 30}
    assert seed["category_performance"] == {
        "upperbody": {"samples": 2, "average_seconds": 15},
        "lowerbody": {"samples": 0, "average_seconds": 0},
        "dress": {"samples": 1, "average_seconds": 30}}
    assert set(seed) >= {"uptime_seconds", "uptime_hours"}
    assert doc["average_time"] == pytest.approx(20)
    assert doc["category_averages"] == {"upper_body": 15, "lower_body": 0, "dress": 30}
    assert doc["recent_performance"] == {"count": 3, "average": 20, "min": 10, "max": 30}
    assert doc["queue_depth"] == 3 and doc["jobs"] == {"queued": 3, "succeeded": 3}


def test_job_times_windows():
    times = JobTimes(recent=[float(s) for s in range(1, 13)],
                     by_category={"lower_body": [float(s) for s in range(1, 13)]})
    assert times.category_average("lowerbody") == pytest.approx(6.5)
    assert times.recent_performance(5) == {"count": 5, "average": 10, "min": 8, "max": 12}
    assert JobTimes().recent_performance() == {"count": 0, "average": 0, "min": 0, "max": 0}


def test_prometheus_exposition():
    metrics = Metrics()
    metrics.observe("upper_body", "ootd-hd", 12.0, ok=True)
    metrics.observe("upperbody", "ootd-hd", 250.0, ok=True)
    metrics.observe("dress", "ootd-dc", 1.0, ok=False, reason="no-person-detected")
    metrics.set_queue_depth(4)
    metrics.set_running(1)
    metrics.observe_request("/v1/jobs/{id}", "GET", 200, 0.003)
    metrics.observe_request("/v1/jobs/{id}", "GET", 404, 0.002)
    s = _samples(metrics)
    labels = (("category", "upper_body"), ("model", "ootd-hd"))
    assert s[("vto_job_seconds_count", labels)] == 2
    bucket = lambda le: ("vto_job_seconds_bucket", tuple(sorted(labels + (("le", le),))))  # noqa: E731
    assert s[bucket("15.0")] == 1 and s[bucket("300.0")] == 2 and s[bucket("+Inf")] == 2
    assert s[("vto_jobs_finished_total", (("status", "succeeded"),))] == 2
    assert s[("vto_job_failures_total", (("reason", "no-person-detected"),))] == 1
    assert s[("vto_queue_depth", ())] == 4 and s[("vto_jobs_running", ())] == 1
    req = (("method", "GET"), ("route", "/v1/jobs/{id}"))
    assert s[("vto_http_request_seconds_count", req)] == 2
    assert s[("vto_http_requests_total", tuple(sorted(req + (("status", "404"),))))] == 1


def test_instances_do_not_share_state():
    a, b = Metrics(), Metrics()
    a.observe("dress", "ootd-dc", 5, ok=True)
    assert ("vto_jobs_finished_total", (("status", "succeeded"),)) not in _samples(b)


def test_gpu_gauges_show_what_the_worker_reported():
    readings: dict[int, tuple[int, int]] = {}
    metrics = Metrics(gpu_memory=lambda: readings)
    assert not any(name.startswith("vto_gpu") for name, _ in _samples(metrics))
    readings[0] = (1024, 2048)
    s = _samples(metrics)
    assert s[("vto_gpu_memory_allocated_bytes", (("gpu", "0"),))] == 1024
    assert s[("vto_gpu_memory_reserved_bytes", (("gpu", "0"),))] == 2048
