"""The byte-bounded LRU that garment and person work is kept in (vto.core.cache)."""

import numpy as np
import pytest
import torch
from PIL import Image

from vto.core.cache import ByteLRU, image_hash, nbytes


def test_eviction_respects_the_byte_bound_least_recently_used_first():
    cache = ByteLRU(max_bytes=3 * 400)
    for key in "abc":
        cache.put(key, torch.zeros(100))           # 400 bytes each: exactly full
    assert cache.bytes == 1200 and len(cache) == 3
    assert cache.get("a") is not None               # a is now the most recent
    cache.put("d", torch.zeros(100))
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "acd" if k in cache}
    assert cache.bytes <= cache.max_bytes and cache.stats().evictions == 1
    cache.put("big", torch.zeros(50, 50, 50))       # larger than the bound: not kept, evicts nothing
    assert "big" not in cache and len(cache) == 3
    cache.put("e", torch.zeros(250))                # 1000 bytes: evicts until it fits
    assert cache.bytes <= 1200 and "e" in cache


def test_get_or_compute_computes_once_per_key():
    cache, calls = ByteLRU(10_000), []
    compute = lambda: calls.append(1) or np.ones(10)  # noqa: E731
    first = cache.get_or_compute(("g", 1), compute)
    assert cache.get_or_compute(("g", 1), compute) is first and len(calls) == 1
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (1, 1)


def test_zero_bound_disables_caching():
    cache, calls = ByteLRU(0), []
    for _ in range(2):
        cache.get_or_compute("k", lambda: calls.append(1) or torch.ones(1))
    assert len(calls) == 2 and len(cache) == 0


def test_discard_by_prefix_and_nbytes_of_nested_values():
    cache = ByteLRU(10_000)
    cache.put(("ootd-hd", "x"), 1, size=10)
    cache.put(("ootd-dc", "x"), 1, size=10)
    assert cache.discard(("ootd-hd",)) == 1 and cache.bytes == 10
    shared = torch.zeros(10)
    assert nbytes({"a": [shared, shared], "b": (np.zeros(5, np.uint8), None)}) == 45
    assert nbytes(Image.new("RGB", (4, 2))) == 24
    with pytest.raises(ValueError):
        ByteLRU(-1)


def test_image_hash_is_content_not_identity():
    a, b = Image.new("RGB", (8, 8), (1, 2, 3)), Image.new("RGB", (8, 8), (1, 2, 3))
    assert image_hash(a) == image_hash(b)
    assert image_hash(a) != image_hash(Image.new("RGB", (8, 8), (1, 2, 4)))
    assert image_hash(a) != image_hash(a.convert("RGBA"))
