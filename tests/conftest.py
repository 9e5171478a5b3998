"""Shared fixtures: the tiny checkpoint (built once per session) and the example photos."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLES = SHARED / "examples"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny random checkpoint in the published layout (vto.dev.tiny), shared by all tests."""
    from vto.dev.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "checkpoints", seed=0)


@pytest.fixture(scope="session")
def examples() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip(f"example photos not found at {EXAMPLES}")
    return EXAMPLES


@pytest.fixture(scope="session")
def small_inputs(examples):
    """Person, garment, user mask and masked person at 96x128, as the CLI's stretch framing makes them."""
    size = (96, 128)
    person = Image.open(examples / "person" / "model_1.png").convert("RGB").resize(size)
    garment = Image.open(examples / "garment" / "03244_00.jpg").convert("RGB").resize(size)
    mask = Image.new("L", size, 0)
    mask.paste(255, (24, 32, 72, 104))
    masked = Image.composite(Image.new("RGB", size, (127, 127, 127)), person, mask)
    return {"person": person, "garment": garment, "mask": mask, "masked": masked}
