"""A tiny random pipeline built the way `vto bench` builds its full-size ones."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_pipe():
    from vto.core.bench.models import pipelines

    return pipelines(["hd"], device=torch.device("cpu"), dtype=torch.float32, tiny=True)["hd"]
