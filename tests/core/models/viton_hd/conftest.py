"""A tiny VITON-HD checkpoint (vto.dev.viton_hd), written once per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def viton_hd_root(tmp_path_factory):
    from vto.dev.viton_hd import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("viton_hd"), seed=0)
