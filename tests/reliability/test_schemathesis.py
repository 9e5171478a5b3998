"""Property-based requests from the service's own OpenAPI document (schemathesis), over every
operation, with every check — no 5xx, every answer as documented (status, content type, headers,
schema), schema-valid data accepted and schema-violating data refused — in two runs:

* **all data** (positive and negative cases; examples, coverage and fuzzing phases), with
  schemathesis' response-fed values off: it may put an id from an earlier response into a field
  it had mutated, and keep calling the now valid case negative;
* **positive data with response-fed values and the stateful phase** (following the document's
  links from created jobs and garments), every check except negative_data_rejection (run 1's).

Images are drawn valid (tests/service/schemathesis_hooks.py); webhooks and image URLs go
nowhere (``offline_webhooks``, ``offline_image_fetcher``: no DNS, transports that answer in
process); everything is on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.service.conftest import (make_settings, offline_image_fetcher, offline_webhooks, png,
                                    start_server)

NO_RESPONSE_DATA = "\n".join(f"[phases.{phase}.extra-data-sources]\nresponses = false"
                             for phase in ("examples", "coverage", "fuzzing"))
RUNS = {
    "all data": (["--mode", "all", "--phases", "examples,coverage,fuzzing"], NO_RESPONSE_DATA),
    "positive, stateful": (["--mode", "positive", "--phases",
                            "examples,coverage,fuzzing,stateful",
                            "--exclude-checks", "negative_data_rejection"], ""),
}


@pytest.mark.slow
@pytest.mark.parametrize("run", list(RUNS))
def test_schemathesis_every_operation_every_check(tmp_path, tiny_checkpoint, run, summary_row):
    summary_row.scenario = f"schemathesis ({run})"
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "blue-shirt.png").write_bytes(png())
    settings = make_settings(tmp_path, tiny_checkpoint, queue_max=1000, sync_timeout_s=20,
                             catalog=catalog)
    running = start_server(settings, webhook_sender=offline_webhooks())
    running.app.state.image_fetcher = offline_image_fetcher()  # JSON bodies' image URLs
    arguments, config = RUNS[run]
    workdir = tmp_path / "schemathesis"  # its cache and config
    workdir.mkdir()
    if config:
        (workdir / "schemathesis.toml").write_text(config + "\n")
    statuses = tmp_path / "statuses.txt"
    try:
        running.wait_ready()
        env = {**os.environ, "PYTHONPATH": str(REPO),
               "SCHEMATHESIS_HOOKS": "tests.service.schemathesis_hooks",
               "VTO_ST_STATUSES": str(statuses)}
        proc = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{running.url}/openapi.json",
             "--checks", "all", *arguments, "--max-examples", "12", "--workers", "1",
             "--generation-deterministic", "--request-timeout", "30", "--max-failures", "20"],
            capture_output=True, text=True, timeout=600, cwd=workdir, env=env)
        for line in statuses.read_text().splitlines() if statuses.exists() else []:
            status, retry_after = line.split()
            summary_row.record(int(status), retry_after if retry_after == "1" else None)
        sections = [i for i in (proc.stdout.find("=== ERRORS"), proc.stdout.find("=== FAILURES"))
                    if i >= 0]
        assert proc.returncode == 0, (proc.stdout[min(sections, default=0):][:8000]
                                      + proc.stdout[-3000:] + proc.stderr[-2000:])
        assert summary_row.cases > 150 and summary_row.server_errors == 0
    finally:
        running.stop()
