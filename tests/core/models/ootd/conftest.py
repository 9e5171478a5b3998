"""Fixtures shared by the OOTD cache, batch and memory tests."""

from __future__ import annotations

import pytest
from PIL import Image

from vto.core.cache import ByteLRU
from vto.core.models.ootd.pipeline import OOTDPipeline
from vto.core.types import ModelType


@pytest.fixture(scope="module")
def cached_pipe(tiny_checkpoint):
    """hd with its own cache (cleared by each test that counts passes)."""
    pipe = OOTDPipeline.from_checkpoints(tiny_checkpoint, ModelType.HD, "cpu")
    pipe.cache = ByteLRU(256 * 2**20)
    return pipe


@pytest.fixture(scope="session")
def other_inputs(examples, small_inputs):
    """A second garment and a second person (same mask) at the same 96x128 size."""
    size = (96, 128)
    person = Image.open(examples / "person" / "01008_00.jpg").convert("RGB").resize(size)
    garment = Image.open(examples / "garment" / "00055_00.jpg").convert("RGB").resize(size)
    mask = small_inputs["mask"]
    masked = Image.composite(Image.new("RGB", size, (127, 127, 127)), person, mask)
    return {"person": person, "garment": garment, "mask": mask, "masked": masked}
