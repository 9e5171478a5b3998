"""Property-based requests from our own OpenAPI schema (schemathesis): never a 5xx, and every
answer conforms to the declared status codes, content types and schemas."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.service.conftest import make_settings, start_server

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")


@pytest.mark.slow
def test_openapi_fuzz_has_no_server_errors(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint, queue_max=1000, sync_timeout_s=20)
    running = start_server(settings)
    try:
        running.wait_ready()
        proc = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{running.url}/openapi.json",
             "--checks", CHECKS, "--max-examples", "6", "--workers", "1", "--phases",
             "examples,coverage,fuzzing", "--generation-deterministic",
             "--request-timeout", "30", "--exclude-checks", "ignored_auth"],
            capture_output=True, text=True, timeout=240, cwd=tmp_path)  # its cache dir
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    finally:
        running.stop()
