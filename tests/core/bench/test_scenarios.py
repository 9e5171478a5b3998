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
        one(1, 1, 3),                     # baseline (job 0): everything, every time
        one(1, 1, 3),                     # cold
        one(0, 0, 0),                     # warm
        one(1, 1, 3),                     # baseline (job 1)
        one(0, 0, 2),                     # catalog: the person's two encodes
        one(1, 1, 1),                     # same-person: the garment's prompt, encode, UNet
        one(1, 1, 3),                     # baseline (job 0)
        {"garment_unet": 2, "clip": 2, "vae_encode": 6, "decode": 2},  # queue of 2, cold
        one(1, 1, 3),                     # baseline (job 1)
    ]


class ScriptedMeter:
    """Runs each run (the cache states need it), then says the n-th took ``seconds[n]`` and
    gives it run-numbered images."""

    def __init__(self, seconds: list[float]) -> None:
        self.seconds, self.calls = seconds, 0

    def __call__(self, run, jobs, images) -> Measurement:
        n, self.calls = self.calls, self.calls + 1
        run()
        return Measurement(jobs=jobs, images=images, seconds=self.seconds[n], flops=100 * jobs,
                           peak_bytes=n, outputs=[[n]] * jobs)


def test_each_group_is_compared_with_the_baseline_runs_on_either_side(tiny_pipe):
    # B0=10 | cold=1 warm=2 | B1=20 | catalog=3 same-person=4 | B2=30 | queue=5 | B3=40
    meter = ScriptedMeter([10, 1, 2, 20, 3, 4, 30, 5, 40])
    timed = run_plan(tiny_pipe, CONFIG, ALL, meter)
    assert meter.calls == 9
    for name in ("cold", "warm"):
        assert timed[name, "baseline"].seconds == 15
    for name in ("catalog", "same-person"):
        assert timed[name, "baseline"].seconds == 25
    queue = timed["queue", "baseline"]
    assert (queue.jobs, queue.seconds, queue.flops) == (2, 70, 200)   # (30+40)/2 per job
    assert queue.outputs == [[0], [3]]          # jobs 0 and 1: the first run of each
    assert timed["catalog", "baseline"].outputs == [[0]]  # job 0's images
    assert [timed[n, "vto"].seconds for n in ALL] == [1, 2, 3, 4, 5]


def test_a_large_queue_runs_its_extra_baseline_jobs_right_before_it(tiny_pipe):
    # queue of 4 alone: B0 B1 B2 | queue | B3
    config = BenchConfig(size=(64, 96), steps=1, queue=4)
    meter = ScriptedMeter([10, 11, 12, 99, 14])
    lines: list[str] = []
    timed = run_plan(tiny_pipe, config, ["queue"], meter, progress=lines.append)
    assert timed["queue", "vto"].seconds == 99
    assert timed["queue", "baseline"].seconds == 4 * 13     # (12 + 14) / 2 per job
    assert timed["queue", "baseline"].outputs == [[0], [1], [2], [4]]
    assert [line for line in lines if line.startswith("baseline")] == [
        f"baseline job {j} (run {j + 1}/4)" for j in range(4)]


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
