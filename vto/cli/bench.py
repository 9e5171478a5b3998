"""`vto bench`: seconds per denoising step, vto vs the original's math, in one run."""

from __future__ import annotations

import argparse

from vto.cli.common import add_model_flags
from vto.core.types import ModelType


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time the pipeline against the original's math (same run)",
                       description="Times vto's pipeline and a baseline that computes the same images "
                                   "the original's way, on the same weights, in the same process.")
    p.add_argument("--model-type", default="hd", choices=[m.value for m in ModelType])
    p.add_argument("--size", default="768x1024", help="working size WxH (default: 768x1024)")
    p.add_argument("--steps", type=int, default=4, help="denoising steps per run (default: 4)")
    p.add_argument("--samples", type=int, default=1, help="samples per run (default: 1)")
    p.add_argument("--repeat", type=int, default=1, help="runs per row, best kept (default: 1)")
    add_model_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vto.cli.common import checkpoint_root
    from vto.core.bench import max_pixel_diff, run_bench  # torch: only when it runs
    from vto.core.engine import TryOnEngine
    from vto.core.request import parse_size

    size = parse_size(args.size)
    engine = TryOnEngine(checkpoint_root(args.checkpoints), device=args.device, dtype=args.dtype)
    pipe = engine.backend(f"ootd-{args.model_type}").pipeline
    print(f"vto bench: {args.model_type} {size[0]}x{size[1]}, {args.steps} steps, {args.samples} "
          f"sample(s), {pipe.device} {str(pipe.dtype).removeprefix('torch.')}, {engine.root}")
    header = f"{'run':<32} {'s/step':>9} {'garment s':>10} {'total s':>9} {'ratio':>7} {'max px diff':>12}"
    if pipe.device.type == "cuda":
        header += f" {'peak MiB':>9}"
    print(header)
    for base, mine in run_bench(pipe, size, args.steps, args.samples, args.repeat):
        diff = max_pixel_diff(base.images, mine.images)
        for row, ratio, shown_diff in ((base, 1.0, "-"), (mine, base.seconds_per_step / mine.seconds_per_step, str(diff))):
            line = (f"{row.name:<32} {row.seconds_per_step:>9.4f} {row.garment_pass_s:>10.3f} "
                    f"{row.total_s:>9.3f} {ratio:>6.2f}x {shown_diff:>12}")
            if row.peak_memory_mb is not None:
                line += f" {row.peak_memory_mb:>9.0f}"
            print(line)
    return 0
