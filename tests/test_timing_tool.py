"""tools/timing/seconds_per_image.py with --tiny: all five models build, load, run once each,
and the table and JSON have one well-formed row per model (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "timing" / "seconds_per_image.py"
MODELS = ["ootd-dc", "catvton", "viton-hd", "hr-viton", "cp-vton-plus"]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(TOOL), *args], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("timing") / "rows.json"
    # 2 steps, no warm-up: the GANs' fixed 768x1024 keeps even their tiny widths at seconds
    result = run_tool("--tiny", "--no-warmup", "--steps", "2", "--repeat", "1",
                      "--threads", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads(out.read_text())


@pytest.mark.slow  # ~50 s of CPU: the GANs keep 768x1024 and full-size parts even --tiny
def test_json_has_one_row_per_model_with_the_asked_settings(tiny_run):
    _, data = tiny_run
    assert data["tiny"] is True and data["threads"] == 2
    rows = {r["model"]: r for r in data["rows"]}
    assert list(rows) == MODELS
    assert rows["ootd-dc"]["steps"] == rows["catvton"]["steps"] == 2
    assert (rows["ootd-dc"]["guidance"], rows["catvton"]["guidance"]) == (2.0, 2.5)
    assert rows["ootd-dc"]["working_size"] == rows["catvton"]["working_size"] == "64x88"
    assert rows["viton-hd"]["working_size"] == rows["hr-viton"]["working_size"] == "768x1024"
    assert rows["cp-vton-plus"]["working_size"] == "192x256"
    for name in ("viton-hd", "hr-viton", "cp-vton-plus"):
        assert rows[name]["steps"] is None and rows[name]["guidance"] is None
    for row in rows.values():
        assert len(row["runs"]) == 1 and row["seconds_per_image"] == min(row["runs"]) > 0
        assert row["load_seconds"] > 0 and row["parameters"] > 0
    # CP-VTON+ has no width option: its published GMM + TOM (~40 M) even with --tiny
    assert rows["cp-vton-plus"]["parameters"] > 30_000_000


@pytest.mark.slow
def test_markdown_table_has_the_header_and_a_line_per_model(tiny_run):
    stdout, data = tiny_run
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    assert lines[0].split("|")[1:-1] == [
        " model ", " working size ", " steps ", " guidance ", " seconds per image ",
        " load seconds ", " parameters "]
    assert [line.split("|")[1].strip() for line in lines[2:]] == MODELS
    assert "TINY shapes" in stdout


def test_unknown_model_is_refused():
    result = run_tool("--models", "ootd-dc,nope", "--tiny")
    assert result.returncode == 2 and "nope" in result.stderr
