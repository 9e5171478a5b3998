"""Peak memory, per measured row and per loaded configuration.

Rows: on CUDA, ``torch.cuda.max_memory_allocated`` since a reset; on CPU the process's peak
resident set (Linux ``VmHWM``, reset by writing 5 to ``/proc/self/clear_refs``; where that is
not allowed, the lifetime peak from ``getrusage``, which only grows — the report says which).

Loaded configurations (:func:`load_check`): hd alone, hd and dc together, and dc's two UNets
alone, built in fresh child processes so their peaks are independent of the bench's own
models. One child loads hd and reads its peak (hd alone), then loads dc beside it as a service
does and reads the peak again (both): the steps a child for "both" alone would take, one
interpreter start and one hd build fewer. If hd and dc share one VAE, text encoder, tokenizer,
CLIP tower and processor, "both" costs hd plus what two loaded UNets take (their parameters and
their module objects, measured by a second child, above its imports, that loads only them); a
second copy of the shared parts would show on top.
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

    models: list[str]        # e.g. ["hd", "dc"]; ["unets"]: dc's two UNets alone
    peak_bytes: int          # peak RSS (CPU) or CUDA max allocated, after loading
    base_bytes: int          # the same before loading anything (imports only)
    peak_rss_bytes: int      # peak RSS in any case
    unet_bytes: int          # parameter bytes of the last model's two UNets
    shared_bytes: int        # parameter bytes of the shared VAE, text encoder, CLIP tower


@dataclass
class LoadCheck:
    hd: LoadPeak
    both: LoadPeak
    unets: LoadPeak

    @property
    def unets_loaded(self) -> int:
        """What two loaded UNets take: parameters and module objects."""
        return self.unets.peak_bytes - self.unets.base_bytes

    @property
    def limit(self) -> int:
        """What hd and dc may hold together when the shared parts are held once."""
        return self.hd.peak_bytes + self.unets_loaded

    @property
    def shared_once(self) -> bool:
        return self.both.peak_bytes <= self.limit

    @property
    def margin(self) -> int:
        """Bytes below the limit (negative: above). A second copy of the shared parts would
        take ``both.shared_bytes`` off it."""
        return self.limit - self.both.peak_bytes

    def to_dict(self) -> dict:
        return {"hd": asdict(self.hd), "hd+dc": asdict(self.both), "unets": asdict(self.unets),
                "unets_loaded_bytes": self.unets_loaded, "limit_bytes": self.limit,
                "margin_bytes": self.margin,
                "shared_once": self.shared_once}


def _release_freed() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise): what one model's loading
    left behind must not count as the next model's."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _child_main(spec: dict) -> list[LoadPeak]:
    """Build/load ``spec["models"]`` one after the other as the bench does, with the peak
    after each (in the child): [first alone, first two together, ...]."""
    from vto.core.bench.models import param_bytes, pipelines
    from vto.core.devices import parse_dtype, resolve_device
    from vto.core.models.base import SharedParts

    device = resolve_device(spec["device"])
    dtype = parse_dtype(spec["dtype"], device)
    parts = SharedParts()
    if spec["models"] == ["unets"]:
        return [_unets_only(spec, device, dtype)]
    reset_peak(device)
    base = read_peak(device)
    peaks = []
    for count, name in enumerate(spec["models"], 1):  # sharing ``parts``, as a service loads
        last = pipelines([name], device=device, dtype=dtype, checkpoints=spec.get("checkpoints"),
                         tiny=spec.get("tiny", False), parts=parts)[name]
        _release_freed()
        peaks.append(LoadPeak(
            models=list(spec["models"][:count]), peak_bytes=read_peak(device), base_bytes=base,
            peak_rss_bytes=read_peak(torch.device("cpu")),
            unet_bytes=param_bytes(last.unet_garm, last.unet_vton),
            shared_bytes=param_bytes(last.vae, last.text_encoder, last.image_encoder)))
    return peaks


def _unets_only(spec: dict, device: torch.device, dtype: torch.dtype) -> LoadPeak:
    from diffusers import UNet2DConditionModel

    from vto.core.bench.models import Shapes, build, make_unet, param_bytes
    from vto.core.checkpoints import CheckpointDir
    from vto.core.types import ModelType

    shapes = Shapes.tiny() if spec.get("tiny") else Shapes.full()
    build(make_unet, shapes, 4, device=torch.device("meta"), dtype=dtype, seed=0)  # imports
    _release_freed()
    reset_peak(device)
    base = read_peak(device)
    if spec.get("checkpoints"):
        ckpt = CheckpointDir(Path(spec["checkpoints"]))
        unets = [UNet2DConditionModel.from_pretrained(ckpt.unet(ModelType.DC, part),
                                                      torch_dtype=dtype).to(device).eval()
                 for part in ("unet_garm", "unet_vton")]
    else:
        unets = [build(make_unet, shapes, c, device=device, dtype=dtype, seed=c) for c in (4, 8)]
    _release_freed()
    return LoadPeak(models=["unets"], peak_bytes=read_peak(device), base_bytes=base,
                    peak_rss_bytes=read_peak(torch.device("cpu")),
                    unet_bytes=param_bytes(*unets), shared_bytes=0)


def load_peaks(models: list[str], *, device: str, dtype: str | None,
               checkpoints: str | None = None, tiny: bool = False) -> list[LoadPeak]:
    """Run :func:`_child_main` in a fresh interpreter and read its JSON answer."""
    spec = {"models": models, "device": device, "dtype": dtype, "checkpoints": checkpoints,
            "tiny": tiny}
    code = ("import json, sys, dataclasses; from vto.core.bench.memory import _child_main; "
            "peaks = _child_main(json.loads(sys.argv[1])); "
            "print('VTO-BENCH ' + json.dumps([dataclasses.asdict(p) for p in peaks]))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True,
                          text=True, check=False)
    answer = [line for line in proc.stdout.splitlines() if line.startswith("VTO-BENCH ")]
    if proc.returncode != 0 or not answer:
        raise RuntimeError(f"memory check child ({'+'.join(models)}) failed: "
                           f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return [LoadPeak(**peak) for peak in json.loads(answer[-1].removeprefix("VTO-BENCH "))]


def load_check(*, device: str, dtype: str | None, checkpoints: str | None = None,
               tiny: bool = False) -> LoadCheck:
    kw = dict(device=device, dtype=dtype, checkpoints=checkpoints, tiny=tiny)
    hd, both = load_peaks(["hd", "dc"], **kw)
    return LoadCheck(hd=hd, both=both, unets=load_peaks(["unets"], **kw)[0])
