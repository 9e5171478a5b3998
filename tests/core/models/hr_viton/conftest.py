"""A narrow HR-VITON test checkpoint (published format; condition generator ngf=8, image
generator ngf=2), written once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def hr_checkpoint(tmp_path_factory):
    from vto.dev.hr_viton import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("hrviton") / "checkpoints", seed=0,
                                 ngf=2, condition_ngf=8)
