"""`vto bench` end to end: options in, rows (and the load check) out.

Order matters on a machine without memory to spare: the load check's child processes run
first and exit before the bench builds its own models; FLOPs are counted on meta models
(no memory); then one pipeline is built, warmed up once the vto way and once the baseline's
(kernels, allocator; caches set aside) and measured through the plan of
vto.core.bench.scenarios.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vto.core.bench.memory import LoadCheck, load_check
from vto.core.bench.report import Row, build_rows
from vto.core.bench.scenarios import ORDER, BenchConfig, Measurement, Meter, run_plan
from vto.core.models.base import Memory, RuntimeOptions, SharedParts, VaeRuntime
from vto.core.types import ModelType


@dataclass
class BenchOptions:
    config: BenchConfig = field(default_factory=BenchConfig)
    scenarios: tuple[str, ...] = ORDER
    model: ModelType = ModelType.HD
    device: str | None = None
    dtype: str | None = None
    checkpoints: str | None = None     # real weights; None: random full-size models
    flops_only: bool = False           # --flops: count on the meta device, run nothing
    memory_check: bool = True          # hd alone vs hd+dc, in child processes
    memory: Memory = Memory.FULL
    compile: bool = False
    vae: VaeRuntime = VaeRuntime.AUTO  # the vto rows' VAE (the baseline's is always torch)
    export_dir: Path | None = None     # where the exported VAE is kept (None: not kept)
    tiny: bool = False                 # vto.dev.tiny's shapes (tests)


@dataclass
class BenchReport:
    config: dict[str, Any]
    rows: list[Row]
    load: LoadCheck | None = None

    def extra(self) -> dict[str, Any]:
        return {"load": self.load.to_dict()} if self.load else {}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run_bench(options: BenchOptions, progress: Callable[[str], None] = _stderr) -> BenchReport:
    import torch

    from vto.core.bench.flops import count_flops
    from vto.core.bench.models import Shapes, pipelines
    from vto.core.bench.timing import TimeMeter
    from vto.core.devices import parse_dtype, resolve_device

    start = time.perf_counter()

    def say(line: str) -> None:
        progress(f"[{time.perf_counter() - start:6.0f}s] {line}")

    device = resolve_device(options.device)
    dtype = parse_dtype(options.dtype, device)
    weights = (options.checkpoints or
               ("random, vto.dev.tiny shapes" if options.tiny else "random, full size"))
    config = {**options.config.to_dict(), "model": options.model.value, "device": str(device),
              "dtype": str(dtype).removeprefix("torch."), "weights": weights,
              "scenarios": [s for s in ORDER if s in options.scenarios],
              "flops_only": options.flops_only, "memory": options.memory.value,
              "compile": options.compile, "vae": options.vae.value, "torch": torch.__version__,
              "threads": torch.get_num_threads(), "load_average_start": _load_average()}

    say("counting FLOPs on the meta device")
    counted = count_flops(options.config, options.scenarios, model_type=options.model,
                          checkpoints=options.checkpoints, dtype=dtype,
                          shapes=Shapes.tiny() if options.tiny else None)
    if options.flops_only:
        return BenchReport(config, build_rows(None, counted))

    load = None
    if options.memory_check:
        say("memory check: hd alone, then hd and dc together; two UNets alone (child processes)")
        load = load_check(device=str(device), dtype=config["dtype"],
                          checkpoints=options.checkpoints, tiny=options.tiny)

    say(f"building {options.model.value} ({weights}) on {device}")
    parts = SharedParts(RuntimeOptions(memory=options.memory, compile=options.compile,
                                       vae=options.vae, export_dir=options.export_dir))
    pipe = pipelines([options.model.value], device=device, dtype=dtype,
                     checkpoints=options.checkpoints, tiny=options.tiny,
                     parts=parts)[options.model.value]
    say("warm-up: vto, then the baseline (1 step each, caches set aside; exports the VAE for "
        "ONNX Runtime if not kept)")
    cfg = options.config
    pipe.warm_up(cfg.size, num_steps=1, num_samples=cfg.samples, image_scale=cfg.guidance)
    # the baseline's own paths too (torch VAE in NCHW, 2N-query attention): without this its
    # first timed run came out ~10 % slower than the next, which flattered vto's first rows
    with pipe.original_math():
        pipe.warm_up(cfg.size, num_steps=1, num_samples=cfg.samples, image_scale=cfg.guidance)

    def measured(meter: Meter) -> Meter:
        def run(fn, jobs: int, images: int) -> Measurement:
            m = meter(fn, jobs, images)
            say(f"  {m.seconds / m.images:.2f} s/image")
            return m
        return run

    timed = run_plan(pipe, cfg, options.scenarios, measured(TimeMeter(device)), say)
    config["load_average_end"] = _load_average()
    config["peak_rss_resettable"] = device.type == "cuda" or os.path.exists("/proc/self/clear_refs")
    say("done")
    return BenchReport(config, build_rows(timed, counted), load)


def format_load(load: LoadCheck) -> str:
    gib = 2**30
    return "\n".join([
        f"loaded hd alone:     peak {load.hd.peak_bytes / gib:6.2f} GiB",
        f"loaded hd and dc:    peak {load.both.peak_bytes / gib:6.2f} GiB",
        f"dc's 2 UNets alone:  {load.unets_loaded / gib:6.2f} GiB above imports "
        f"(parameters {load.unets.unet_bytes / gib:.2f} GiB)",
        f"shared components held once: {'yes' if load.shared_once else 'NO'} (hd and dc "
        f"{abs(load.margin) / 2**20:.0f} MiB {'under' if load.margin >= 0 else 'over'} hd alone + "
        f"2 UNets = {load.limit / gib:.2f} GiB; a second copy of the shared components would "
        f"add {load.both.shared_bytes / gib:.2f} GiB)"])
