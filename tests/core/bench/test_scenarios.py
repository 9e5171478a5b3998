"""The bench measures what each scenario says: pass counts per row, and the rows' shape."""

from __future__ import annotations

import json

import torch

from vto.core.bench.report import build_rows, format_table, max_pixel_diff, write_json
from vto.core.bench.scenarios import BenchConfig, Measurement, run_plan
from vto.core.bench.timing import TimeMeter

CONFIG = BenchConfig(size=(64, 96), steps=2, queue=2)
ALL = ["cold", "warm", "catalog", "same-person", "queue"]


class PassCounter:
    """A meter that counts the component passes of each measured run."""

    def __init__(self, pipe) -> None:
        self.counts = {"garment_unet": 0, "clip": 0, "vae_encode": 0, "decode": 0}
        for name, module in (("garment_unet", pipe.unet_garm), ("clip", pipe.image_encoder)):
            module.register_forward_pre_hook(lambda *a, name=name: self.bump(name))
        # the VAE's passes, whichever runtime runs them (the vto rows: ONNX Runtime on CPU)
        for name, attr in (("vae_encode", "encode_latents"), ("decode", "decode")):
            setattr(pipe, attr, self._counted(name, getattr(pipe, attr)))
        self.runs: list[dict[str, int]] = []

    def _counted(self, name: str, method):
        def counted(*args, **kwargs):
            self.bump(name)
            return method(*args, **kwargs)
        return counted

    def bump(self, name: str) -> None:
        self.counts[name] += 1

    def __call__(self, run, jobs, images) -> Measurement:
        before = dict(self.counts)
        run()
        self.runs.append({k: self.counts[k] - before[k] for k in self.counts})
        return Measurement(jobs=jobs, images=images)


def test_each_scenario_runs_the_passes_its_cache_state_allows(tiny_pipe):
    meter = PassCounter(tiny_pipe)
    run_plan(tiny_pipe, CONFIG, ALL, meter)
    one = lambda g, c, e: {"garment_unet": g, "clip": c, "vae_encode": e, "decode": 1}
    assert meter.runs == [
        one(1, 1, 3),                     # baseline job 0: everything, every time
        one(1, 1, 3),                     # cold
        one(0, 0, 0),                     # warm
        one(0, 0, 2),                     # catalog: the person's two encodes
        one(1, 1, 1),                     # same-person: the garment's prompt, encode, UNet
        one(1, 1, 3), one(1, 1, 3),       # baseline jobs 0 and 1 of the queue, one by one
        {"garment_unet": 2, "clip": 2, "vae_encode": 6, "decode": 2},  # queue of 2, cold
    ]


def test_timed_rows_have_the_json_shape_and_equal_images(tiny_pipe, tmp_path):
    timed = run_plan(tiny_pipe, CONFIG, ALL, TimeMeter(torch.device("cpu")))
    rows = build_rows(timed, None)
    assert [(r.scenario, r.mode) for r in rows] == [(s, m) for s in ALL
                                                     for m in ("baseline", "vto")]
    for row in rows:
        assert row.seconds_per_image > 0 and row.images_per_s > 0 and row.peak_memory_bytes > 0
        assert row.max_pixel_diff <= 1
        if row.mode == "baseline":
            assert row.ratio == 1.0 and row.max_pixel_diff == 0
    queue = timed["queue", "vto"]
    assert queue.jobs == 2 and len(queue.outputs) == 2
    write_json(tmp_path / "b.json", CONFIG.to_dict(), rows)
    data = json.loads((tmp_path / "b.json").read_text())
    assert set(data) == {"config", "rows"}
    assert set(data["rows"][0]) >= {"scenario", "mode", "seconds_per_image", "images_per_s",
                                    "ratio", "peak_memory_bytes", "flops_per_image",
                                    "max_pixel_diff"}
    assert "cold" in format_table(rows)


def test_max_pixel_diff_sees_one_changed_pixel():
    from PIL import Image

    a = Image.new("RGB", (8, 8), (10, 10, 10))
    b = a.copy()
    b.putpixel((3, 4), (10, 13, 10))
    assert max_pixel_diff([[a]], [[a.copy()]]) == 0
    assert max_pixel_diff([[a]], [[b]]) == 3
