"""The timing meter: wall time, peak memory and the images of a measured run."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from vto.core.bench.memory import read_peak, reset_peak
from vto.core.bench.scenarios import Measurement, _images


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TimeMeter:
    """Seconds (wall clock, device synchronised), peak memory (vto.core.bench.memory) and the
    images, per measured run. ``resettable`` is False where only the process's lifetime peak
    RSS can be read (then every row's peak is at least the largest before it)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.resettable = True

    def __call__(self, run: Callable[[], list], jobs: int, images: int) -> Measurement:
        _sync(self.device)
        self.resettable = reset_peak(self.device) and self.resettable
        start = time.perf_counter()
        results = run()
        _sync(self.device)
        seconds = time.perf_counter() - start
        return Measurement(jobs=jobs, images=images, seconds=seconds,
                           peak_bytes=read_peak(self.device), outputs=_images(results))
