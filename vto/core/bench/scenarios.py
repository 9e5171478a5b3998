"""What `vto bench` runs: the scenarios, their inputs and cache states, baseline and vto.

A shop's traffic decides what is cached when a request arrives, so each scenario is a cache
state for the measured request (job 0), or a queue:

    cold         new garment, new person        nothing cached
    warm         both cached
    catalog      cached garment, new person     the garment's prompt, latents and K/V cached
    same-person  cached person, new garment     the person's two latents cached
    queue        K compatible new jobs          denoised as one batch (``run_batch``)

"Cached" means filled by an earlier request with the same garment/person that the row does
not time (the scenarios run in the order above, so one request fills the next's state; what
must not be cached is then dropped from the cache by its key prefix).

The baseline is the original's computation on the same weights (``OOTDPipeline.original_math``:
2N-query attention, garment K/V every step, no caches, CFG batch even at 1.0), jobs one by one.
Having no cache, it costs the same for every job (same shapes, same steps), so its runs are
interleaved with the vto rows and each group of rows is compared with the mean of the two
baseline runs on either side of it (a machine's speed drifts, sometimes by a third within an
hour; a sandwich cancels a steady drift):

    B0 | cold warm | B1 | catalog same-person | B2 | queue | B3      (all five)

The baseline runs cycle through jobs 0..K-1 (the queue's jobs, one by one), so the same runs
give the queue's baseline images; the single-job rows' images are compared with job 0's.

The plan is run by a *meter* (:class:`Meter`): timing and peak memory on real models
(vto.core.bench.timing), or FLOPs on meta models (vto.core.bench.flops) — the same code paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

from vto.core.models.ootd.batch import TryOnCall
from vto.core.types import Category


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    cached: frozenset[str] = frozenset()   # what of job 0 the cache holds: "garment", "person"
    batched: bool = False                  # jobs 0..K-1 in one run_batch, cache empty


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("cold", "new garment, new person"),
    Scenario("warm", "cached garment and person", frozenset({"garment", "person"})),
    Scenario("catalog", "cached garment, new person", frozenset({"garment"})),
    Scenario("same-person", "cached person, new garment", frozenset({"person"})),
    Scenario("queue", "K compatible new jobs, batched", batched=True),
)}
ORDER = tuple(SCENARIOS)  # run order: each state reuses what the previous request cached
_PREFIX = {"garment": "ootd-garment", "person": "ootd-person"}  # vto.core.models.ootd.caching


@dataclass(frozen=True)
class BenchConfig:
    size: tuple[int, int] = (384, 512)   # working size (W, H)
    steps: int = 4
    guidance: float = 2.0
    samples: int = 1
    queue: int = 2     # K: a 2-core CPU run took 12.7 min with 2, 16.2 with 4
    category: Category = Category.UPPER_BODY

    def to_dict(self) -> dict[str, Any]:
        return {"size": f"{self.size[0]}x{self.size[1]}", "steps": self.steps,
                "guidance": self.guidance, "samples": self.samples, "queue": self.queue,
                "category": self.category.value}


def synthetic_inputs(size: tuple[int, int], seed: int = 0) -> dict[str, Image.Image]:
    """Smooth random person and garment (licence-free), a torso-shaped mask and the masked
    person, at ``size``; a different ``seed`` gives a different person and garment."""
    rng = np.random.default_rng(seed)
    w, h = size

    def image() -> Image.Image:
        small = rng.integers(0, 256, (max(h // 32, 2), max(w // 32, 2), 3), dtype=np.uint8)
        return Image.fromarray(small).resize(size, Image.BICUBIC)

    person, garment = image(), image()
    mask = Image.new("L", size, 0)
    mask.paste(255, (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    masked = Image.composite(Image.new("RGB", size, (127, 127, 127)), person, mask)
    return {"person": person, "garment": garment, "mask": mask, "masked": masked}


def job(config: BenchConfig, index: int) -> TryOnCall:
    """Job ``index``: its own garment, person and seed."""
    images = synthetic_inputs(config.size, seed=index)
    return TryOnCall(garment=images["garment"], person=images["person"],
                     person_masked=images["masked"], mask=images["mask"],
                     category=config.category, num_samples=config.samples,
                     num_steps=config.steps, image_scale=config.guidance, seed=1000 + index)


@dataclass
class Measurement:
    """One measured run of one or more jobs (whatever the meter fills)."""

    jobs: int
    images: int
    seconds: float | None = None
    peak_bytes: int | None = None
    flops: int | None = None
    outputs: list[list[Image.Image]] = field(default_factory=list)  # per job (timed runs)


class Meter(Protocol):
    def __call__(self, run: Callable[[], list], jobs: int, images: int) -> Measurement:
        """Run ``run`` (returns one result per job) and measure it."""


def _results(results: Sequence) -> list:
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


def _images(results: list) -> list[list[Image.Image]]:
    return [list(r.images) if r.images and r.images[0] is not None else [] for r in results]


def groups(names: Sequence[str]) -> list[list[str]]:
    """The vto rows in the order they run, in groups that share a baseline sandwich: the
    single-job scenarios two by two (:data:`ORDER`), then the queue alone."""
    names = [n for n in ORDER if n in set(names)]
    single = [n for n in names if not SCENARIOS[n].batched]
    return [single[i:i + 2] for i in range(0, len(single), 2)] + \
        [[n] for n in names if SCENARIOS[n].batched]


def run_plan(pipe, config: BenchConfig, names: Sequence[str], meter: Meter,
             progress: Callable[[str], None] = lambda line: None
             ) -> dict[tuple[str, str], Measurement]:
    """Measurements keyed by (scenario, "baseline" | "vto"), for ``names`` (see the module
    docstring for the order). A row's baseline holds the mean seconds of the baseline runs on
    either side of its group, and the baseline's images of the row's jobs."""
    plan = groups(names)
    cache = pipe.cache
    if cache is None:
        raise RuntimeError("the bench's vto rows need a pipeline with a cache")
    queue = config.queue if any(SCENARIOS[g[0]].batched for g in plan) else 1
    # one run on either side of every group; at least the queue's K jobs (the extra ones
    # run right before the queue, whose left neighbour is then the last of them)
    runs = max(len(plan) + 1, queue) if plan else 0
    before = list(range(len(plan)))  # the baseline run right before group i
    if runs > len(plan) + 1:
        before[-1] = runs - 2

    baselines: list[Measurement] = []

    def baseline() -> None:  # the original: nothing cached
        index = len(baselines) % queue
        progress(f"baseline job {index} (run {len(baselines) + 1}/{runs})")
        call = job(config, index)
        with pipe.original_math():
            baselines.append(meter(lambda: _results(pipe.run_batch([call])), 1, config.samples))

    out: dict[tuple[str, str], Measurement] = {}
    cache.clear()
    held: set[str] = set()  # what of job 0 the cache holds now
    for number, group in enumerate(plan):
        while len(baselines) <= before[number]:
            baseline()
        for name in group:
            if SCENARIOS[name].batched:
                calls = [job(config, i) for i in range(config.queue)]
                cache.clear()  # new jobs
                held = set()
                progress(f"vto {name} ({config.queue} jobs)")
                out[name, "vto"] = meter(lambda: _results(pipe.run_batch(calls)), len(calls),
                                         len(calls) * config.samples)
            else:
                held = _single(pipe, config, name, held, meter, out, progress)
    while len(baselines) < runs:
        baseline()
    for number, group in enumerate(plan):
        left, right = baselines[before[number]], baselines[before[number] + 1]
        for name in group:
            jobs = config.queue if SCENARIOS[name].batched else 1
            out[name, "baseline"] = _sandwich(left, right, baselines[:jobs])
    return out


def _single(pipe, config: BenchConfig, name: str, held: set[str], meter: Meter,
            out: dict, progress: Callable[[str], None]) -> set[str]:
    """Measure the single-job scenario ``name`` (job 0) in its cache state; returns what of
    job 0 the cache holds afterwards."""
    scenario, cache = SCENARIOS[name], pipe.cache
    call = job(config, 0)
    if scenario.cached - held:  # an earlier, untimed request with the same inputs
        progress(f"vto {name}: filling the cache")
        _results(pipe.run_batch([call]))
        held = {"garment", "person"}
    for kind in held - scenario.cached:
        cache.discard((_PREFIX[kind],))
    hits = cache.hits
    progress(f"vto {name}")
    out[name, "vto"] = meter(lambda: _results(pipe.run_batch([call])), 1, config.samples)
    if cache.hits - hits != len(scenario.cached):
        raise RuntimeError(f"{name}: expected {len(scenario.cached)} cache hit(s), got "
                           f"{cache.hits - hits} (cache bound {cache.max_bytes} bytes too "
                           "small for this size?)")
    return {"garment", "person"}


def _sandwich(left: Measurement, right: Measurement, jobs: list[Measurement]) -> Measurement:
    """The baseline of ``jobs`` (one run each, one by one) at the speed of the two runs
    around the rows it serves: their mean per job. Images and FLOPs are ``jobs``' own."""
    def mean(attr: str):
        a, b = getattr(left, attr), getattr(right, attr)
        return None if a is None or b is None else (a + b) / 2

    per_job = mean("seconds")
    peaks = [m.peak_bytes for m in (left, right, *jobs) if m.peak_bytes is not None]
    flops = [m.flops for m in jobs]
    return Measurement(jobs=len(jobs), images=sum(m.images for m in jobs),
                       seconds=None if per_job is None else per_job * len(jobs),
                       flops=None if None in flops else sum(flops),
                       peak_bytes=max(peaks) if peaks else None,
                       outputs=[o for m in jobs for o in m.outputs])
