"""`vto bench`: vto against the original's computation, scenario by scenario, in one run."""

from __future__ import annotations

import argparse

from vto.core.types import ModelType

SCENARIO_NAMES = ("cold", "warm", "catalog", "same-person", "queue")  # vto.core.bench.scenarios


def _scenarios(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [n for n in names if n not in SCENARIO_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"scenarios are {', '.join(SCENARIO_NAMES)}; got {text!r}")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="vto vs the original's computation: images/s, memory, FLOPs",
        description="Runs each scenario (cold, warm, catalog, same-person, queue) the original's "
                    "way (baseline) and vto's way on the same weights and inputs, and reports "
                    "seconds per image, images/s, the ratio, peak memory, FLOPs per image and "
                    "the largest pixel difference to the baseline. Without --checkpoints it "
                    "builds full-size models with random weights (nothing to download).")
    p.add_argument("--checkpoints", metavar="DIR",
                   help="real weights in the published layout (default: random full-size models)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"],
                   help="precision (default: float16 on CUDA, float32 on CPU)")
    p.add_argument("--model", default="hd", choices=[m.value for m in ModelType],
                   help="which OOTDiffusion model to measure (default: hd)")
    p.add_argument("--size", default="384x512", help="working size WxH (default: 384x512)")
    p.add_argument("--steps", type=int, default=4, help="denoising steps (default: 4)")
    p.add_argument("--guidance", type=float, default=2.0, help="image guidance (default: 2.0)")
    p.add_argument("--samples", type=int, default=1, help="images per request (default: 1)")
    p.add_argument("--queue", type=int, default=2, metavar="K",
                   help="jobs batched in the queue scenario (default: 2; the service batches "
                        "up to VTO_MAX_BATCH=4: --queue 4 measures that, ~4 minutes longer on "
                        "a 2-core CPU)")
    p.add_argument("--scenarios", type=_scenarios, default=SCENARIO_NAMES,
                   help=f"comma-separated subset of {','.join(SCENARIO_NAMES)} (default: all)")
    p.add_argument("--flops", action="store_true",
                   help="only count FLOPs per image, on the meta device (any size, seconds)")
    p.add_argument("--memory", default="full", choices=["auto", "full", "balanced", "low"],
                   help="memory mode of the measured pipeline (default: full)")
    p.add_argument("--compile", action="store_true", help="torch.compile the try-on UNet")
    p.add_argument("--vae", default="auto", choices=["auto", "torch", "onnx"],
                   help="what runs the vto rows' VAE (default: auto, ONNX Runtime on CPU; the "
                        "baseline always runs torch, as the original)")
    p.add_argument("--memory-check", action=argparse.BooleanOptionalAction, default=True,
                   help="peak memory of hd alone vs hd and dc together, each loaded in a child "
                        "process (default: on; not with --flops)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests: tiny shapes
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vto.core.bench.report import format_table, write_json  # torch: only when it runs
    from vto.core.bench.runner import BenchOptions, format_load, run_bench
    from vto.core.bench.scenarios import BenchConfig
    from vto.core.models.base import Memory, VaeRuntime
    from vto.core.paths import default_export_dir
    from vto.core.request import parse_size
    from vto.errors import InvalidInput

    size = parse_size(args.size)
    if size[0] % 8 or size[1] % 8 or min(size) < 64:
        raise InvalidInput(f"--size must be multiples of 8, at least 64, got {args.size}")
    if args.steps < 1 or args.samples < 1 or args.queue < 1:
        raise InvalidInput("--steps, --samples and --queue must be at least 1")
    options = BenchOptions(
        config=BenchConfig(size=size, steps=args.steps, guidance=args.guidance,
                           samples=args.samples, queue=args.queue),
        scenarios=args.scenarios, model=ModelType(args.model), device=args.device,
        dtype=args.dtype, checkpoints=args.checkpoints, flops_only=args.flops,
        memory_check=args.memory_check, memory=Memory(args.memory), compile=args.compile,
        vae=VaeRuntime(args.vae), export_dir=default_export_dir(), tiny=args.tiny)
    report = run_bench(options)
    c = report.config
    print(f"vto bench: ootd-{c['model']} {c['size']}, {c['steps']} steps, guidance "
          f"{c['guidance']}, {c['samples']} sample(s), queue {c['queue']}, {c['device']} "
          f"{c['dtype']}, weights: {c['weights']}" + (" (FLOPs only)" if args.flops else ""))
    print(format_table(report.rows))
    if report.load is not None:
        print(format_load(report.load))
    if args.json:
        write_json(args.json, report.config, report.rows, report.extra())
    return 0
