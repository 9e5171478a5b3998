from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vto.service.metrics import Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.render_prometheus()
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_seed_json_has_the_seeds_keys_and_values():
    metrics = Metrics()
    for seconds, category in [(10, "upper_body"), (20, "upperbody"), (30, "dress")]:
        metrics.observe(category, "dc", seconds, ok=True)
    metrics.observe("lower_body", "dc", 0.01, ok=False, reason="no-person-detected")
    doc = metrics.seed_json(queue_depth=3, job_counts={"queued": 3, "succeeded": 3})

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

    assert doc["average_time"] == pytest.approx(20)  # the failure's 0.01 s is not averaged
    assert doc["category_averages"] == {"upper_body": 15, "lower_body": 0, "dress": 30}
    assert doc["recent_performance"] == {"count": 3, "average": 20, "min": 10, "max": 30}
    assert doc["queue_depth"] == 3 and doc["jobs"] == {"queued": 3, "succeeded": 3}


def test_category_average_and_recent_window():
    metrics = Metrics()
    assert metrics.category_average("dress") == 0
    assert metrics.recent_performance() == {"count": 0, "average": 0, "min": 0, "max": 0}
    for seconds in range(1, 13):
        metrics.observe("lower_body", "dc", seconds, ok=True)
    assert metrics.category_average("lowerbody") == pytest.approx(6.5)
    assert metrics.recent_performance(5) == {"count": 5, "average": 10, "min": 8, "max": 12}
    assert metrics.average_time() == pytest.approx(6.5)


def test_history_is_bounded():
    metrics = Metrics()
    for _ in range(150):
        metrics.observe("dress", "dc", 1.0, ok=True)
    metrics.observe("dress", "dc", 301.0, ok=True)
    assert metrics.seed_json(0, {})["metrics"]["processing_times"]["total_samples"] == 100
    assert metrics.recent_performance(1)["max"] == 301


def test_prometheus_exposition():
    metrics = Metrics()
    metrics.observe("upper_body", "hd", 12.0, ok=True)
    metrics.observe("upper_body", "hd", 250.0, ok=True)
    metrics.observe("dress", "dc", 1.0, ok=False, reason="canceled")
    metrics.set_queue_depth(4)
    metrics.set_running(1)
    metrics.observe_request("/v1/jobs/{id}", "GET", 200, 0.003)
    metrics.observe_request("/v1/jobs/{id}", "GET", 404, 0.002)
    s = _samples(metrics)
    labels = (("category", "upper_body"), ("model_type", "hd"))
    assert s[("vto_job_seconds_count", labels)] == 2
    bucket = lambda le: ("vto_job_seconds_bucket", tuple(sorted(labels + (("le", le),))))  # noqa: E731
    assert s[bucket("15.0")] == 1
    assert s[bucket("300.0")] == 2
    assert s[bucket("+Inf")] == 2
    assert s[("vto_jobs_finished_total", (("status", "succeeded"),))] == 2
    assert s[("vto_job_failures_total", (("reason", "canceled"),))] == 1
    assert s[("vto_queue_depth", ())] == 4 and s[("vto_jobs_running", ())] == 1
    req = (("method", "GET"), ("route", "/v1/jobs/{id}"))
    assert s[("vto_http_request_seconds_count", req)] == 2
    assert s[("vto_http_requests_total", tuple(sorted(req + (("status", "404"),))))] == 1


def test_instances_do_not_share_state():
    a, b = Metrics(), Metrics()
    a.observe("dress", "dc", 5, ok=True)
    assert b.average_time() == 0
    assert ("vto_jobs_finished_total", (("status", "succeeded"),)) not in _samples(b)


def test_gpu_gauges_follow_torch(monkeypatch):
    import sys
    import types

    fake_cuda = types.SimpleNamespace(is_available=lambda: True, device_count=lambda: 1,
                                      memory_allocated=lambda i: 1024, memory_reserved=lambda i: 2048)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=fake_cuda))
    s = _samples(Metrics())
    assert s[("vto_gpu_memory_allocated_bytes", (("gpu", "0"),))] == 1024
    assert s[("vto_gpu_memory_reserved_bytes", (("gpu", "0"),))] == 2048
    monkeypatch.delitem(sys.modules, "torch")
    assert not any(name.startswith("vto_gpu") for name, _ in _samples(Metrics()))
