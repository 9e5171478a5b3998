"""Helpers of the OOTD cache, batch and memory tests."""

from __future__ import annotations

import numpy as np


def max_pixel_diff(a: list, b: list) -> int:
    assert len(a) == len(b)
    return max(int(np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max())
               for x, y in zip(a, b))


class _Patched:
    """Counts calls of ``owner.attr`` (an instance method) until removed."""

    def __init__(self, owner, attr: str, bump) -> None:
        self.owner, self.attr = owner, attr
        method = getattr(owner, attr)

        def counted(*args, **kwargs):
            bump()
            return method(*args, **kwargs)

        setattr(owner, attr, counted)

    def remove(self) -> None:
        delattr(self.owner, self.attr)


class Counter:
    """Call counter, removed on exit: forward calls of modules (register_forward_hook), or
    calls of a method given as ``(object, "name")`` — the VAE's passes are counted as the
    pipeline's ``encode_latents``/``decode`` calls, whichever runtime (torch, ONNX) runs them."""

    def __init__(self, **targets) -> None:
        self.counts = {name: 0 for name in targets}
        self.handles = [_Patched(*t, self._bump(name)) if isinstance(t, tuple)
                        else t.register_forward_hook(lambda *a, bump=self._bump(name): bump())
                        for name, t in targets.items()]

    def _bump(self, name):
        def bump():
            self.counts[name] += 1
        return bump

    def __enter__(self) -> "Counter":
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()

    def reset(self) -> None:
        self.counts = {name: 0 for name in self.counts}
