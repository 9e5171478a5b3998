"""The tiny CatVTON checkpoint (written once per session), its pipeline, and small inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

SIZE = (64, 88)  # working size of most tests: small, and its latent (8x11) not a power of 2


@pytest.fixture(scope="session")
def catvton_root(tmp_path_factory) -> Path:
    from vto.dev.catvton import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("catvton") / "checkpoints", seed=0)


@pytest.fixture
def catvton_copy(catvton_root, tmp_path) -> Path:
    """A private copy of the tiny checkpoint, to break."""
    return Path(shutil.copytree(catvton_root, tmp_path / "checkpoints"))


@pytest.fixture(scope="session")
def catvton_pipeline(catvton_root):
    from vto.core.models.catvton.pipeline import CatVTONPipeline

    return CatVTONPipeline.from_checkpoints(catvton_root, "cpu")


@pytest.fixture(scope="session")
def catvton_inputs(examples) -> dict:
    """Person at SIZE, the garment photo as given (3:4), a torso mask (0/255)."""
    person = Image.open(examples / "person" / "model_1.png").convert("RGB").resize(SIZE)
    garment = Image.open(examples / "garment" / "03244_00.jpg").convert("RGB")
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, (16, 24, 48, 72))
    return {"person": person, "garment": garment, "mask": mask}
