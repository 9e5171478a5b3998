"""`make tryon` where the Hub cannot be reached: one line saying so, then the labelled demo.
(The recipe runs on the test's Python instead of ./.venv, and the Hub is a closed loopback port.)"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("make") is None, reason="needs make")]


def test_make_tryon_offline_runs_the_labelled_demo(tmp_path, examples):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VTO_CHECKPOINTS", "HF_HUB_OFFLINE", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp_path / "hf"),
               XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    python = sys.executable
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "tryon-run", f"PY={python}",
         f"VTO={python} -m vto", f"TINY={tmp_path / 'tiny'}", f"OUT={tmp_path / 'out'}",
         f"SHARED={examples}"],
        capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    hub_lines = [line for line in done.stderr.splitlines() if "Hugging Face Hub" in line]
    assert len(hub_lines) == 1 and "cannot be reached" in hub_lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert ("make tryon: running the offline demo instead: a tiny checkpoint with random weights, "
            f"so {tmp_path / 'out'}/0.png is noise, not clothes") in done.stdout
    with Image.open(tmp_path / "out" / "0.png") as image:
        assert image.size == Image.open(examples / "person" / "model_1.png").size  # keep framing
    assert (tmp_path / "out" / "mask.png").is_file()
