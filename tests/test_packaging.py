"""The wheel, installed into clean virtual environments: the bare install is the library and
the CLI without any server stack; the ``serve`` extra adds a working `vto serve`.

Slow by nature (two environments; pip's cache makes it minutes, not more): marked
``packaging``; `make test` (CI) runs it, ``-m "not packaging"`` skips it. Each step's time is
printed (``-s`` shows it). torch comes first from ``torch==2.13.0`` (this project's machines
resolve it to a local CPU build; elsewhere it is PyPI's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints" / "fidelity.txt"
SERVICE_MODULES = ["fastapi", "uvicorn", "sqlalchemy", "celery", "redis", "boto3", "psycopg2",
                   "prometheus_client", "pydantic_settings", "httpx"]

pytestmark = [pytest.mark.packaging, pytest.mark.slow]


def step(name: str, command: list[str], **kw) -> subprocess.CompletedProcess:
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, **kw)
    print(f"[packaging] {name}: {time.monotonic() - started:.1f} s (exit {done.returncode})")
    return done


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH or virtualenv leaking in from the test run."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (the checkout gets no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "vto", src / "vto", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    done = step("build wheel", [sys.executable, "-m", "pip", "wheel", "--no-deps",
                                "--no-build-isolation", "-q", "-w", str(dist), str(src)],
                env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    [built] = dist.glob("vto_tryon-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A clean venv with torch, then the bare wheel (with the verified constraints)."""
    root = tmp_path_factory.mktemp("venv") / "env"
    # No pip inside (ensurepip costs half a minute): this pip installs into it with --python.
    done = step("create venv", [sys.executable, "-m", "venv", "--without-pip", str(root)])
    assert done.returncode == 0, done.stderr
    pip = pip_into(root)
    done = step("pip install torch==2.13.0", [*pip, "torch==2.13.0"], env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    done = step("pip install <wheel>", [*pip, str(wheel), "-c", str(CONSTRAINTS)], env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def pip_into(venv: Path) -> list[str]:
    # --no-compile: byte-compiling torch's thousands of modules is most of an install's time.
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
            "-q", "--no-compile"]


def run_in(venv: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=600, cwd=venv, env=clean_env(**kw))


def test_the_wheel_carries_the_package_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for path in ("vto/service/web/index.html", "vto/service/docs_assets/swagger-ui-bundle.js",
                 "vto/service/docs_assets/redoc.standalone.js", "vto/service/docs_assets/redoc-LICENSE",
                 "vto/cli/main.py", "vto/core/request.py"):
        assert path in names, path
    assert not any(name.startswith("tests/") for name in names)


def test_bare_install_has_no_server_stack(venv):
    probe = ("import importlib.util, vto, vto.core.request\n"
             f"print([m for m in {SERVICE_MODULES!r} if importlib.util.find_spec(m)])")
    done = run_in(venv, "python", "-c", probe)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]", f"service libraries in a bare install: {done.stdout}"
    # Every module of the library, the dev tools and the CLI (but the service commands) imports.
    everything = ("import importlib, pkgutil, vto\n"
                  "names = [m.name for m in pkgutil.walk_packages(vto.__path__, 'vto.')\n"
                  "         if not m.name.startswith(('vto.service', 'vto.cli.serve', 'vto.cli.worker',\n"
                  "                                   'vto.__main__'))]\n"
                  "for name in names: importlib.import_module(name)\n"
                  "print(len(names))")
    done = run_in(venv, "python", "-c", everything, OMP_NUM_THREADS="1")
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"[packaging] {done.stdout.strip()} vto modules import without the extras")

    done = run_in(venv, "vto", "--help")
    assert done.returncode == 0 and "doctor" in done.stdout
    done = run_in(venv, "vto", "serve", "--help")
    assert done.returncode == 2
    assert done.stderr == "vto serve needs the serve extra: pip install 'vto-tryon[serve]'\n"
    done = run_in(venv, "vto", "worker", "--help")
    assert done.returncode == 2 and "needs the serve extra" in done.stderr

    done = run_in(venv, "vto", "doctor", XDG_CACHE_HOME=str(venv / "cache"))
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "ok       opencv           OpenCV 4.7.0 (opencv-python-headless 4.7.0.72)" in done.stdout
    assert "serve no, celery no, postgres no, s3 no" in done.stdout
    assert "ok       service          not installed" in done.stdout


def test_serve_extra_runs_the_service(venv, wheel, tiny_checkpoint, tmp_path):
    pip = pip_into(venv)
    done = step("pip install <wheel>[serve]", [*pip, f"{wheel}[serve]", "-c", str(CONSTRAINTS)],
                env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    probe = "import importlib.util as u; print([m for m in ('celery', 'boto3', 'psycopg2') if u.find_spec(m)])"
    assert run_in(venv, "python", "-c", probe).stdout.strip() == "[]"
    done = run_in(venv, "vto", "serve", "--help")
    assert done.returncode == 0 and "--port" in done.stdout

    from tests.service.conftest import free_port

    port = free_port()
    log = tmp_path / "serve.log"
    command = [str(venv / "bin" / "vto"), "serve", "--checkpoints", str(tiny_checkpoint.root),
               "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "data"),
               "--device", "cpu", "--size", "96x128"]
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
                                   env=clean_env(VTO_PRELOAD_MODELS="hd", OMP_NUM_THREADS="1"))
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "no /health after 180 s\n" + log.read_text()[-3000:]
            time.sleep(0.3)
        print(f"[packaging] vto serve answering /health: {time.monotonic() - started:.1f} s")
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10)
        assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
