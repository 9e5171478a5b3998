"""Which tiny-checkpoint writer makes each model's files (`vto dev tiny-checkpoint --model`).

Every writer fills the published layout under one root, so several models share a directory
(as they share a real checkpoint directory); the pose and parsing models come with each model
that can use an automatic mask or needs pose and parsing itself.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from vto.core.models.registry import SPECS, get_spec

# model id -> "module:function(root, seed)"
WRITERS = {
    "ootd-hd": "vto.dev.tiny:write_tiny_checkpoint",
    "ootd-dc": "vto.dev.tiny:write_tiny_checkpoint",
    "catvton": "vto.dev.catvton:write_tiny_checkpoint",
    "cp-vton-plus": "vto.dev.cp_vton_plus:write_tiny_checkpoint",
    "viton-hd": "vto.dev.viton_hd:write_tiny_checkpoint",
    "hr-viton": "vto.dev.hr_viton:write_tiny_checkpoint",
}


def write_models(root: Path, models: list[str], seed: int = 0) -> list[str]:
    """Write each model's tiny files (once per writer) plus pose and parsing; returns the ids."""
    from vto.dev.tiny import write_preprocessing

    ids = [spec.id for spec in SPECS] if models == ["all"] else [get_spec(m).id for m in models]
    done: set[str] = set()
    for model in ids:
        target = WRITERS[model]
        if target in done:
            continue
        module, _, name = target.partition(":")
        getattr(importlib.import_module(module), name)(root, seed=seed)
        done.add(target)
    write_preprocessing(root, seed)
    return ids
