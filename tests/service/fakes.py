"""Engines for service tests, one per situation (as cog's fixture predictors), loaded by the worker
process from ``Settings.engine_factory`` ("tests.service.fakes:NAME").

The fakes implement the Engine port (vto.core.engine) without torch: they validate like the
real engine, call ``on_step`` once per step, and return plain images whose colour follows the
seed, so a test can tell runs apart. ``VTO_FAKE_STEP_S`` slows every step (set it before the
server starts: the worker process inherits the environment).
"""

from __future__ import annotations

import os
import time
from typing import Any

from PIL import Image

from vto.core.engine import MaskPreview, TryOnResult
from vto.core.request import TryOnInputs, TryOnRequest, check_inputs, resolve_seed
from vto.core.types import Category
from vto.errors import NoPersonFound


class FakeEngine:
    def __init__(self, settings: Any) -> None:
        self.limits = settings.limits()
        self.step_s = float(os.environ.get("VTO_FAKE_STEP_S", "0"))
        self.loaded: set[str] = set()
        self.batches: list[int] = []      # the size of each run_batch call
        self.warmed: list[tuple] = []     # (model, category, garment size) per warm_garment

    def load(self, model: str) -> None:
        self.loaded.add(model)

    def loaded_models(self) -> set[str]:
        return set(self.loaded)

    def check(self, request: TryOnRequest, inputs: TryOnInputs) -> None:
        """Refusals before any step, in ``run`` and ``run_batch`` alike (subclasses add theirs)."""
        check_inputs(request, inputs, self.limits)

    def run(self, request: TryOnRequest, inputs: TryOnInputs, on_step: Any = None) -> TryOnResult:
        request = request.resolved(self.limits)
        self.check(request, inputs)
        seed = resolve_seed(request.seed)
        steps = request.num_inference_steps or 1
        for step in range(1, steps + 1):
            time.sleep(self.step_s)
            self.step(step)
            if on_step is not None:
                on_step(step, steps)
        return self._result(request, inputs, seed, steps)

    def _result(self, request: TryOnRequest, inputs: TryOnInputs, seed: int,
                steps: int) -> TryOnResult:
        images = [Image.new("RGB", inputs.person.size, ((seed + i) % 256, 90, 160))
                  for i in range(request.num_images_per_prompt)]
        return TryOnResult(images=images, seed=seed, model=request.model,
                           timings={"inference": steps * self.step_s})

    def run_batch(self, items: list) -> list:
        """Every item denoised in lock-step, one ``step`` per batch step; an item whose callback
        raises (a cancel) or whose step fails leaves the batch, the others go on."""
        self.batches.append(len(items))
        outcomes: list = [None] * len(items)
        active = {}
        for index, (request, inputs, on_step) in enumerate(items):
            try:
                request = request.resolved(self.limits)
                self.check(request, inputs)
                active[index] = (request, inputs, on_step, resolve_seed(request.seed),
                                 request.num_inference_steps or 1)
            except Exception as exc:  # noqa: BLE001
                outcomes[index] = exc
        step = 0
        while active:
            step += 1
            time.sleep(self.step_s)
            for index, (request, inputs, on_step, seed, steps) in list(active.items()):
                try:
                    self.step(step)
                    if on_step is not None:
                        on_step(step, steps)
                except Exception as exc:  # noqa: BLE001
                    outcomes[index] = exc
                    del active[index]
                    continue
                if step >= steps:
                    outcomes[index] = self._result(request, inputs, seed, steps)
                    del active[index]
        return outcomes

    def warm_garment(self, request: TryOnRequest, garment: Image.Image) -> bool:
        self.warmed.append((request.model, request.category, garment.size))
        return True

    def step(self, step: int) -> None:
        """What happens inside one denoising step (the fakes below override it)."""

    def classify(self, image: Image.Image) -> dict[Category, float]:
        dark = sum(image.convert("L").resize((8, 8)).getdata()) / 64 < 100
        return {Category.UPPER_BODY: 0.1 if dark else 0.8, Category.LOWER_BODY: 0.1,
                Category.DRESS: 0.8 if dark else 0.1}

    def automatic_mask(self, request: TryOnRequest, inputs: TryOnInputs) -> MaskPreview:
        width, height = inputs.person.size
        mask = Image.new("L", (width, height), 0)
        mask.paste(255, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
        grey = Image.new("RGB", (width, height), (127, 127, 127))
        return MaskPreview(mask=mask, masked=Image.composite(grey, inputs.person, mask))


class FailingEngine(FakeEngine):
    def step(self, step: int) -> None:
        raise NoPersonFound("no person found in the photo (fake)")


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which the runner recognises by name."""


class OutOfMemoryEngine(FakeEngine):
    def step(self, step: int) -> None:
        raise OutOfMemoryError("CUDA out of memory (fake)")


class CrashingEngine(FakeEngine):
    def step(self, step: int) -> None:
        os._exit(3)  # the process dies mid-job, as with a segfault or the OOM killer


class SlowLoadingEngine(FakeEngine):
    def load(self, model: str) -> None:
        time.sleep(float(os.environ.get("VTO_FAKE_LOAD_S", "2")))
        super().load(model)


def fake(settings: Any) -> FakeEngine:
    return FakeEngine(settings)


def failing(settings: Any) -> FakeEngine:
    return FailingEngine(settings)


def out_of_memory(settings: Any) -> FakeEngine:
    return OutOfMemoryEngine(settings)


def crashing(settings: Any) -> FakeEngine:
    return CrashingEngine(settings)


def slow_loading(settings: Any) -> FakeEngine:
    return SlowLoadingEngine(settings)


# An upright person in the 384x512 pose frame (OpenPose COCO-18 order).
POSE = [(192, 80), (192, 130), (140, 135), (125, 210), (120, 280), (244, 135), (259, 210),
        (264, 280), (165, 280), (165, 380), (165, 480), (219, 280), (219, 380), (219, 480),
        (182, 70), (202, 70), (170, 75), (214, 75)]


def fixed_pose(image: Image.Image) -> list:
    """Keypoint source for tiny random weights (which find nobody): one standing person."""
    from vto.core.preprocess.openpose import Person

    return [Person(keypoints=[(float(x), float(y)) for x, y in POSE], part_scores=[0.9] * 18,
                   score=16.2, n_parts=18)]


def tiny(settings: Any) -> Any:
    """The real engine on the tiny checkpoint, with a fixed standing pose (random weights find
    nobody); parsing, masks, framing and the diffusion are real."""
    from pathlib import Path

    from vto.core.engine import TryOnEngine

    return TryOnEngine(Path(settings.checkpoints), device="cpu", limits=settings.limits(),
                       keypoint_source=fixed_pose, options=settings.runtime_options())


class SlowEngine:
    """A real engine, slowed down after every denoising step (a slow device)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.step_s = float(os.environ.get("VTO_FAKE_STEP_S", "0.2"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def _slowed(self, on_step: Any) -> Any:
        def slow(step: int, total: int) -> None:
            time.sleep(self.step_s)
            if on_step is not None:
                on_step(step, total)
        return slow

    def run(self, request: Any, inputs: Any, on_step: Any = None) -> Any:
        return self.engine.run(request, inputs, on_step=self._slowed(on_step))

    def run_batch(self, items: list) -> list:
        return self.engine.run_batch([(request, inputs, self._slowed(on_step))
                                      for request, inputs, on_step in items])


def slow_real(settings: Any) -> Any:
    """`vto serve`'s own engine, slowed (crash tests kill it mid-job)."""
    from vto.service.worker.engines import real_engine

    return SlowEngine(real_engine(settings))
