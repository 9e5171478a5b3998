"""Rows of the bench (one per scenario and mode), the printed table and the JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vto.core.bench.scenarios import ORDER, Measurement

MODES = ("baseline", "vto")


@dataclass
class Row:
    scenario: str
    mode: str                       # "baseline" (the original's computation) or "vto"
    seconds_per_image: float | None
    images_per_s: float | None
    ratio: float | None             # images/s over the baseline's (baseline: 1.0)
    peak_memory_bytes: int | None   # CUDA max allocated, or peak RSS on CPU
    flops_per_image: int | None
    max_pixel_diff: int | None      # largest |vto - baseline| over every pixel (baseline: 0)
    flops_ratio: float | None = None  # FLOPs per image over the baseline's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def max_pixel_diff(a: list[list[Image.Image]], b: list[list[Image.Image]]) -> int:
    """Largest absolute difference (0..255) between paired images of paired jobs."""
    pairs = [(x, y) for xs, ys in zip(a, b, strict=True) for x, y in zip(xs, ys, strict=True)]
    if not pairs:
        raise ValueError("no images to compare")
    return max(int(np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max())
               for x, y in pairs)


def build_rows(timed: dict[tuple[str, str], Measurement] | None,
               counted: dict[tuple[str, str], Measurement] | None) -> list[Row]:
    """One baseline and one vto row per scenario measured (timings and/or FLOPs)."""
    keys = (timed or counted or {}).keys()
    rows = []
    for scenario in [s for s in ORDER if (s, "vto") in keys]:
        t_base = timed[scenario, "baseline"] if timed else None
        c_base = counted[scenario, "baseline"] if counted else None
        for mode in MODES:
            t = timed[scenario, mode] if timed else None
            c = counted[scenario, mode] if counted else None
            spi = t.seconds / t.images if t else None
            base_spi = t_base.seconds / t_base.images if t_base else None
            fpi = c.flops // c.images if c else None
            base_fpi = c_base.flops // c_base.images if c_base else None
            diff = None
            if t is not None:
                diff = 0 if mode == "baseline" else max_pixel_diff(t.outputs, t_base.outputs)
            rows.append(Row(
                scenario=scenario, mode=mode, seconds_per_image=spi,
                images_per_s=1.0 / spi if spi else None,
                ratio=base_spi / spi if spi else None,
                peak_memory_bytes=t.peak_bytes if t else None,
                flops_per_image=fpi, max_pixel_diff=diff,
                flops_ratio=fpi / base_fpi if fpi is not None and base_fpi else None))
    return rows


def _cell(value, width: int, spec: str = "", suffix: str = "") -> str:
    text = "-" if value is None else format(value, spec) + suffix
    return f"{text:>{width}}"


def format_table(rows: list[Row]) -> str:
    lines = [f"{'scenario':<12} {'mode':<9} {'s/image':>9} {'images/s':>9} {'ratio':>7} "
             f"{'peak MiB':>9} {'TFLOP/img':>10} {'FLOPs x':>8} {'max px diff':>12}"]
    for r in rows:
        mib = None if r.peak_memory_bytes is None else r.peak_memory_bytes / 2**20
        tflop = None if r.flops_per_image is None else r.flops_per_image / 1e12
        lines.append(" ".join([
            f"{r.scenario:<12}", f"{r.mode:<9}", _cell(r.seconds_per_image, 9, ".3f"),
            _cell(r.images_per_s, 9, ".4f"), _cell(r.ratio, 7, ".2f", "x"), _cell(mib, 9, ".0f"),
            _cell(tflop, 10, ".2f"), _cell(r.flops_ratio, 8, ".3f"),
            _cell(r.max_pixel_diff, 12, "d")]))
    return "\n".join(lines)


def write_json(path: Path | str, config: dict[str, Any], rows: list[Row],
               extra: dict[str, Any] | None = None) -> None:
    data = {"config": config, "rows": [r.to_dict() for r in rows], **(extra or {})}
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
