"""Peak memory, per measured row and per loaded configuration.

Rows: on CUDA, ``torch.cuda.max_memory_allocated`` since a reset; on CPU the process's peak
resident set (Linux ``VmHWM``, reset by writing 5 to ``/proc/self/clear_refs``; where that is
not allowed, the lifetime peak from ``getrusage``, which only grows — the report says which).

Loaded configurations (:func:`load_check`): hd alone, then hd and dc together, each built in a
fresh child process so their peaks are independent of each other and of the bench's own
models. If hd and dc share one VAE, text encoder, tokenizer, CLIP tower and processor, "both"
costs hd plus dc's two UNets; a second copy of the shared parts would show on top.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch


def _vm_hwm() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) * 1024 if match else None


def reset_peak(device: torch.device) -> bool:
    """Start a new peak; False when only the lifetime peak is available (CPU, no clear_refs)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _vm_hwm() is not None
    except OSError:
        return False


def read_peak(device: torch.device) -> int:
    """Peak bytes since :func:`reset_peak` (see the module docstring for what counts)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    hwm = _vm_hwm()
    if hwm is not None:
        return hwm
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


@dataclass
class LoadPeak:
    """One child's numbers: ``models`` loaded (e.g. ["hd", "dc"])."""

    models: list[str]
    peak_bytes: int          # peak RSS (CPU) or CUDA max allocated, after loading
    peak_rss_bytes: int      # peak RSS in any case
    unet_bytes: int          # parameter bytes of the last model's two UNets
    shared_bytes: int        # parameter bytes of the shared VAE, text encoder, CLIP tower


@dataclass
class LoadCheck:
    hd: LoadPeak
    both: LoadPeak

    @property
    def limit(self) -> int:
        """What hd and dc may hold together when the shared parts are held once."""
        return self.hd.peak_bytes + self.both.unet_bytes

    @property
    def shared_once(self) -> bool:
        return self.both.peak_bytes <= self.limit

    def to_dict(self) -> dict:
        return {"hd": asdict(self.hd), "hd+dc": asdict(self.both), "limit_bytes": self.limit,
                "shared_once": self.shared_once}


def _child_main(spec: dict) -> LoadPeak:
    """Build/load ``spec["models"]`` as the bench does and report the peaks (in the child)."""
    from vto.core.bench.models import param_bytes, pipelines
    from vto.core.devices import parse_dtype, resolve_device

    device = resolve_device(spec["device"])
    dtype = parse_dtype(spec["dtype"], device)
    reset_peak(device)
    pipes = pipelines(spec["models"], device=device, dtype=dtype,
                      checkpoints=spec.get("checkpoints"), tiny=spec.get("tiny", False))
    last = pipes[spec["models"][-1]]
    peak_rss = read_peak(torch.device("cpu"))
    return LoadPeak(models=list(spec["models"]), peak_bytes=read_peak(device),
                    peak_rss_bytes=peak_rss,
                    unet_bytes=param_bytes(last.unet_garm, last.unet_vton),
                    shared_bytes=param_bytes(last.vae, last.text_encoder, last.image_encoder))


def load_peak(models: list[str], *, device: str, dtype: str | None,
              checkpoints: str | None = None, tiny: bool = False) -> LoadPeak:
    """Run :func:`_child_main` in a fresh interpreter and read its JSON answer."""
    spec = {"models": models, "device": device, "dtype": dtype, "checkpoints": checkpoints,
            "tiny": tiny}
    code = ("import json, sys, dataclasses; from vto.core.bench.memory import _child_main; "
            "print('VTO-BENCH ' + json.dumps(dataclasses.asdict(_child_main(json.loads(sys.argv[1])))))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True,
                          text=True, check=False)
    answer = [line for line in proc.stdout.splitlines() if line.startswith("VTO-BENCH ")]
    if proc.returncode != 0 or not answer:
        raise RuntimeError(f"memory check child ({'+'.join(models)}) failed: "
                           f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return LoadPeak(**json.loads(answer[-1].removeprefix("VTO-BENCH ")))


def load_check(*, device: str, dtype: str | None, checkpoints: str | None = None,
               tiny: bool = False) -> LoadCheck:
    kw = dict(device=device, dtype=dtype, checkpoints=checkpoints, tiny=tiny)
    return LoadCheck(hd=load_peak(["hd"], **kw), both=load_peak(["hd", "dc"], **kw))
