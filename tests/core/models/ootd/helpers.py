"""Helpers of the OOTD cache, batch and memory tests."""

from __future__ import annotations

import numpy as np


def max_pixel_diff(a: list, b: list) -> int:
    assert len(a) == len(b)
    return max(int(np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max())
               for x, y in zip(a, b))


class Counter:
    """Forward-call counter on modules (register_forward_hook), removed on exit."""

    def __init__(self, **modules) -> None:
        self.counts = {name: 0 for name in modules}
        self.handles = [m.register_forward_hook(self._hook(name)) for name, m in modules.items()]

    def _hook(self, name):
        def hook(module, args, output):
            self.counts[name] += 1
        return hook

    def __enter__(self) -> "Counter":
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()

    def reset(self) -> None:
        self.counts = {name: 0 for name in self.counts}
