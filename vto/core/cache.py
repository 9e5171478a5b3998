"""A byte-bounded LRU for what requests share: garment and person work done once, reused after.

A shop's traffic is one customer photo tried with many catalog garments, and many customers
trying the same catalog garments. Everything that depends only on the garment (prompt
embedding, garment latents, the garment UNet's tokens and each block's keys/values) or only
on the person (keypoints, parse maps, mask, framing, person latents) is computed once and kept
here, bounded by the bytes its tensors and arrays hold (not by entry count: a 768x1024 garment
entry is ~100x a 192x256 one).

Keys always include the content hash of every image involved (:func:`image_hash`), the model,
the category, the working size, the dtype and the device, so a hit is exactly the computation
it replaces. Values are never mutated by their users (they are shared across requests).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = object()  # a cached value may be None

#: Default byte bound where the device says nothing (CPU): generous for one process's RAM.
DEFAULT_CACHE_BYTES = 2 * 2**30


def default_cache_bytes(device: Any = "cpu", memory: str = "full") -> int:
    """A bound sized to where the entries live: on CUDA they sit in device memory (a guided
    768x1024 fp16 OOTD garment entry is ~0.3 GB), so a quarter of the device, at most 8 GiB,
    and less in the memory-saving modes (balanced: 1/8, low: 1/16); elsewhere 2 GiB of RAM."""
    import torch

    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return DEFAULT_CACHE_BYTES
    total = torch.cuda.get_device_properties(device).total_memory
    share = {"balanced": 8, "low": 16}.get(str(getattr(memory, "value", memory)), 4)
    return min(total // share, 8 * 2**30)


def image_hash(image: Any) -> str:
    """Content hash of a PIL image (mode, size and pixels): same picture, same key."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def nbytes(value: Any) -> int:
    """Bytes held by tensors/arrays/images inside ``value`` (containers and dataclasses walked)."""
    seen: set[int] = set()

    def walk(obj: Any) -> int:
        if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
            return len(obj) if isinstance(obj, bytes) else 0
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        if hasattr(obj, "untyped_storage") and hasattr(obj, "element_size"):  # torch.Tensor
            return obj.numel() * obj.element_size()
        if hasattr(obj, "nbytes") and hasattr(obj, "dtype"):  # numpy array
            return int(obj.nbytes)
        if hasattr(obj, "tobytes") and hasattr(obj, "mode") and hasattr(obj, "size"):  # PIL
            bands = len(obj.getbands())
            return obj.size[0] * obj.size[1] * bands
        if isinstance(obj, dict):
            return sum(walk(v) for v in obj.values())
        if isinstance(obj, (list, tuple, set, frozenset)):
            return sum(walk(v) for v in obj)
        if is_dataclass(obj):
            return sum(walk(getattr(obj, f.name)) for f in fields(obj))
        return 0

    return walk(value)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    entries: int = 0
    bytes: int = 0
    max_bytes: int = 0


class ByteLRU:
    """Thread-safe LRU whose bound is the bytes its values hold.

    ``get_or_compute(key, compute)`` is the usual entry point. A value larger than the whole
    bound is returned but not kept. ``max_bytes=0`` disables caching (every call computes).
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = int(max_bytes)
        self._lock = threading.RLock()
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = self.evictions = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
            self.misses += 1
            return default

    def put(self, key: Hashable, value: Any, size: int | None = None) -> None:
        size = nbytes(value) if size is None else int(size)
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            if size > self.max_bytes:
                return  # bigger than the bound: never kept (and never evicts the rest for it)
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
                self.evictions += 1

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = compute()  # outside the lock: computing may take seconds
            self.put(key, value)
        return value

    def discard(self, prefix: tuple) -> int:
        """Drop every key (a tuple) starting with ``prefix``; returns how many."""
        with self._lock:
            doomed = [k for k in self._items
                      if isinstance(k, tuple) and k[:len(prefix)] == prefix]
            for k in doomed:
                self._bytes -= self._items.pop(k)[1]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses, self.evictions, len(self._items),
                              self._bytes, self.max_bytes)
