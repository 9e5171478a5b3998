"""`vto doctor`: one screen that says what this machine can run, and how to fix what it cannot.

Each line is ``ok``, ``warning`` or ``error``, what was found and, when not ok, the fix. Exit
status 0 when no line is an error. Checks: Python; torch, CUDA and every device with its free
memory; the checkpoint directory, every registered model (complete, or missing N files and the
`vto download` line) and the preprocessing models; OpenCV against the verified release and a
second cv2 distribution; the optional extras; Redis, PostgreSQL and S3 when the service is
configured for them (the same environment as `vto serve`, vto.service.settings). Service probes
use short timeouts and never change anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable, Iterator
from importlib import util as import_util
from pathlib import Path

from vto.cli.checks import Check, Level, ok
from vto.cli.extras import DIST_NAME, install_hint
from vto.core.download import PREPROCESS_FILES, PREPROCESS_NAMES, default_checkpoint_dir, verify
from vto.core.models import registry

MIN_TORCH = (2, 6)
EXTRAS = {"serve": "fastapi", "celery": "celery", "postgres": "psycopg2", "s3": "boto3"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check what this machine can run, and what to fix",
                       description="Check Python, torch and the devices, the weights of every "
                                   "model, OpenCV, the optional extras and the services the "
                                   "configuration names (Redis, PostgreSQL, S3). Each line is "
                                   "ok, warning or error with its fix; exit 0 when nothing is an "
                                   "error.")
    p.add_argument("--checkpoints", metavar="DIR",
                   help="checkpoint directory (default: as `vto tryon` finds it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import vto

    print(f"vto {vto.__version__} ({DIST_NAME}) on {platform.platform(terse=True)}")
    errors = 0
    for check in all_checks(args.checkpoints):
        print(check.render(), flush=True)
        errors += check.level is Level.ERROR
    print(f"{errors} error(s)" if errors else "no errors")
    return 1 if errors else 0


def all_checks(checkpoints: str | None = None) -> Iterator[Check]:
    """Every line, in screen order; a check that crashes becomes an error line, not a traceback."""
    from vto.cli.doctor_services import service_checks

    groups: list[Callable[[], Iterator[Check]]] = [
        python_checks, torch_checks, lambda: checkpoint_checks(checkpoints), opencv_checks,
        extras_checks, service_checks]
    for group in groups:
        try:
            yield from group()
        except Exception as exc:  # a doctor reports; it does not fall over
            yield Check(Level.ERROR, getattr(group, "__name__", "check"),
                        f"the check itself failed: {type(exc).__name__}: {exc}")


def python_checks() -> Iterator[Check]:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 11):
        yield Check(Level.ERROR, "python", f"Python {version} ({sys.executable})",
                    "vto needs Python >= 3.11")
    else:
        yield ok("python", f"Python {version} ({sys.executable})")


def torch_checks() -> Iterator[Check]:
    if import_util.find_spec("torch") is None:
        yield Check(Level.ERROR, "torch", "not installed",
                    "pip install torch (a CUDA build from pytorch.org for a GPU), then run again")
        return
    import torch

    release = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    cuda = torch.version.cuda
    detail = f"torch {torch.__version__}" + (f", CUDA {cuda}" if cuda else ", CPU-only build")
    if release < MIN_TORCH:
        yield Check(Level.ERROR, "torch", detail, "pip install 'torch>=2.6' (transformers 5 and "
                    "the published .bin weights need it)")
    else:
        yield ok("torch", detail)
    yield from device_checks(torch)


def device_checks(torch) -> Iterator[Check]:  # noqa: ANN001 - the torch module
    cores = os.cpu_count() or 1
    free = _available_memory()
    yield ok("device cpu", f"{cores} core(s)" + (f", {free / 2**30:.1f} GiB memory free"
                                                 if free is not None else ""))
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            name = torch.cuda.get_device_name(index)
            free_b, total_b = torch.cuda.mem_get_info(index)
            yield ok(f"device cuda:{index}",
                     f"{name}: {free_b / 2**30:.1f} GiB free of {total_b / 2**30:.1f} GiB")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        yield ok("device mps", "Apple GPU (Metal)")
    else:
        yield Check(Level.WARNING, "device gpu", "no CUDA device: try-on runs on the CPU "
                    "(minutes per image at 768x1024)",
                    "on a machine with an NVIDIA GPU, install a CUDA build of torch")


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def checkpoint_root(arg: str | None) -> tuple[Path, str]:
    """The directory `vto tryon` would use, and where that choice came from."""
    from vto.cli.common import checkpoint_root as resolve
    from vto.errors import InvalidInput

    try:
        root = resolve(arg)
    except InvalidInput:
        return default_checkpoint_dir(), "default of `vto download`"
    source = ("--checkpoints" if arg else "VTO_CHECKPOINTS" if os.environ.get("VTO_CHECKPOINTS")
              else "CHECKPOINT_PATH" if os.environ.get("CHECKPOINT_PATH")
              else "default of `vto download`")
    return root, source


def checkpoint_checks(arg: str | None) -> Iterator[Check]:
    root, source = checkpoint_root(arg)
    if root.is_dir():
        yield ok("checkpoints", f"{root} ({source})")
    else:
        yield Check(Level.WARNING, "checkpoints", f"{root} ({source}) does not exist",
                    "vto download (or --checkpoints DIR / VTO_CHECKPOINTS for weights elsewhere)")
    where = "" if root == default_checkpoint_dir() else f" --dir {root}"
    complete = 0
    for spec in registry.SPECS:
        missing = verify(root, spec.required_files())
        if not missing:
            complete += 1
            yield ok(f"model {spec.id}", f"complete ({spec.title})")
        else:
            yield Check(Level.WARNING, f"model {spec.id}",
                        _missing_text(missing, len(spec.required_files())),
                        f"vto download{where} --model {spec.id}")
    if complete == 0:
        yield Check(Level.ERROR, "models", "no model is complete: nothing can run a try-on",
                    f"vto download{where} --model {registry.DEFAULT_MODEL}")
    for need, files in PREPROCESS_FILES.items():
        users = [s.id for s in registry.SPECS if need in s.capabilities.needs]
        missing = verify(root, files)
        name = PREPROCESS_NAMES[need]
        if not missing:
            yield ok(name, "complete" + _onnx_detail(name))
        else:
            yield Check(Level.WARNING, name, _missing_text(missing, len(files))
                        + "; automatic masks need it (a user mask does not)",
                        f"vto download{where} --model {users[0] if users else 'all'}")


def _missing_text(problems: dict[str, str], total: int) -> str:
    """e.g. "missing 17 of 17 files (ootd/model_index.json, …)"; checks that failed are named."""
    missing = [path for path, problem in problems.items() if problem == "missing"]
    broken = [f"{path}: {problem}" for path, problem in problems.items() if problem != "missing"]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} of {total} file(s) ({missing[0]}"
                     + (", …)" if len(missing) > 1 else ")"))
    if broken:
        parts.append(f"{len(broken)} failing their check ({broken[0]}"
                     + (", …)" if len(broken) > 1 else ")"))
    return "; ".join(parts)


def _onnx_detail(name: str) -> str:
    if name != "humanparsing" or import_util.find_spec("onnxruntime") is None:
        return ""
    import onnxruntime

    providers = [p.removesuffix("ExecutionProvider") for p in onnxruntime.get_available_providers()]
    return f" (onnxruntime {onnxruntime.__version__}: {', '.join(providers)})"


def opencv_checks() -> Iterator[Check]:
    from vto.core import fidelity

    status = fidelity.opencv_status()
    dists = ", ".join(f"{n} {v}" for n, v in status.distributions.items()) or "no distribution"
    if status.clash:
        others = " ".join(n for n in status.distributions if n != fidelity.VERIFIED_OPENCV_DIST)
        yield Check(Level.ERROR, "opencv", f"{len(status.distributions)} distributions install "
                    f"cv2 over each other ({dists}); the last one installed wins",
                    f"pip uninstall -y {others} {fidelity.VERIFIED_OPENCV_DIST} && "
                    f"{fidelity.PIN_HINT}")
    elif status.verified:
        yield ok("opencv", f"OpenCV {status.cv2_version} ({dists}): masks pixel-identical to the "
                 "original's")
    else:
        yield Check(Level.WARNING, "opencv", f"OpenCV {status.cv2_version} ({dists}) is not the "
                    f"verified {fidelity.VERIFIED_OPENCV}: automatic masks can differ from the "
                    "original's along their outlines", fidelity.PIN_HINT)
    import numpy

    if not numpy.__version__.startswith(fidelity.VERIFIED_NUMPY + "."):
        yield Check(Level.WARNING, "numpy", f"NumPy {numpy.__version__}: the verified OpenCV "
                    f"4.7.0.72 needs NumPy {fidelity.VERIFIED_NUMPY}", fidelity.PIN_HINT)


def extras_checks() -> Iterator[Check]:
    have = {extra: import_util.find_spec(module) is not None for extra, module in EXTRAS.items()}
    shown = ", ".join(f"{extra} {'yes' if present else 'no'}" for extra, present in have.items())
    missing = [extra for extra, present in have.items() if not present]
    yield ok("extras", shown + (f" (add with {install_hint(','.join(missing))})" if missing else ""))
