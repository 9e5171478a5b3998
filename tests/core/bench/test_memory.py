"""Peak memory: resettable per row, and the hd vs hd+dc check in child processes."""

from __future__ import annotations

import mmap

import torch

from vto.core.bench.memory import (LoadCheck, LoadPeak, load_check, load_peaks, read_peak,
                                   reset_peak)

CPU = torch.device("cpu")


def test_peak_rss_sees_an_allocation_and_resets():
    if not reset_peak(CPU):
        import pytest
        pytest.skip("peak RSS cannot be reset here")
    before = read_peak(CPU)
    # fresh anonymous pages, touched: RSS must grow (a torch tensor may reuse pages the
    # allocator kept resident from earlier tests, which made this flaky)
    block = mmap.mmap(-1, 64 * 2**20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    grown = read_peak(CPU)
    block.close()
    reset_peak(CPU)
    assert grown - before >= 60 * 2**20
    assert read_peak(CPU) < grown


def test_load_check_limit_is_hd_plus_the_second_models_unets():
    hd = LoadPeak(["hd"], peak_bytes=100, base_bytes=10, peak_rss_bytes=100, unet_bytes=30,
                  shared_bytes=50)
    both = LoadPeak(["hd", "dc"], peak_bytes=133, base_bytes=10, peak_rss_bytes=133,
                    unet_bytes=30, shared_bytes=50)
    unets = LoadPeak(["unets"], peak_bytes=42, base_bytes=10, peak_rss_bytes=42, unet_bytes=30,
                     shared_bytes=0)
    check = LoadCheck(hd, both, unets)
    assert check.unets_loaded == 32 and check.limit == 132
    assert not check.shared_once and check.margin == -1
    both.peak_bytes = 132
    assert check.shared_once and check.to_dict()["hd+dc"]["models"] == ["hd", "dc"]


def test_children_report_their_loaded_models():
    check = load_check(device="cpu", dtype=None, tiny=True)
    assert check.hd.models == ["hd"] and check.both.models == ["hd", "dc"]
    assert check.unets.models == ["unets"] and check.unets_loaded > 0
    assert check.both.unet_bytes > 0 and check.both.shared_bytes > 0
    assert check.hd.peak_bytes > 0 and check.both.peak_bytes >= check.hd.peak_bytes - 2**24


def test_hd_alone_read_before_dc_loads_is_what_a_child_with_hd_alone_reads():
    # the check reads "hd alone" in the child that then loads dc: it must not differ from a
    # child that loads hd and stops (a few MiB of allocator noise at most)
    (alone,) = load_peaks(["hd"], device="cpu", dtype=None, tiny=True)
    first, both = load_peaks(["hd", "dc"], device="cpu", dtype=None, tiny=True)
    assert first.models == ["hd"] and both.models == ["hd", "dc"]
    assert abs(first.peak_bytes - alone.peak_bytes) < 32 * 2**20
    assert (first.unet_bytes, first.shared_bytes) == (alone.unet_bytes, alone.shared_bytes)
