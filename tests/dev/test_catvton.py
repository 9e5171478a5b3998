"""The tiny CatVTON checkpoint writer: deterministic per seed, global RNG untouched."""

from __future__ import annotations

import hashlib

import torch

from vto.dev.catvton import write_tiny_checkpoint


def digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path):
    first = digests(write_tiny_checkpoint(tmp_path / "first", seed=0))
    state = torch.random.get_rng_state()
    again = digests(write_tiny_checkpoint(tmp_path / "again", seed=0))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert again == first
    other = digests(write_tiny_checkpoint(tmp_path / "other", seed=1))
    changed = {k for k in again if again[k] != other[k]}
    assert {k for k in changed if k.endswith((".bin", ".safetensors"))} == {
        k for k in again if k.endswith((".bin", ".safetensors"))}
