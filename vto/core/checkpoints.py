"""The published OOTDiffusion checkpoint layout: where every file lives, checks, and download.

A checkpoint directory is levihsu/OOTDiffusion's ``checkpoints/`` tree plus OpenAI's CLIP::

    DIR/clip-vit-large-patch14/   config.json, preprocessor_config.json, model.safetensors
    DIR/ootd/                     model_index.json, scheduler/, text_encoder/, tokenizer/, vae/,
                                  ootd_{hd,dc}/checkpoint-36000/unet_{garm,vton}/
    DIR/humanparsing/             parsing_atr.onnx, parsing_lip.onnx
    DIR/openpose/ckpts/           body_pose_model.pth

This module knows paths and files only; loading the models is the pipeline's business, fetching
them vto.core.download's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from vto.core.types import ModelType
from vto.errors import CheckpointError

log = logging.getLogger(__name__)

OOTD_REPO = "levihsu/OOTDiffusion"
CLIP_REPO = "openai/clip-vit-large-patch14"
UNET_STEP = "checkpoint-36000"

# Files every model type needs, relative to DIR. The CLIP weights may be either format.
_SHARED_FILES = [
    "ootd/model_index.json",
    "ootd/scheduler/scheduler_config.json",
    "ootd/text_encoder/config.json",
    "ootd/text_encoder/pytorch_model.bin",
    "ootd/tokenizer/merges.txt",
    "ootd/tokenizer/vocab.json",
    "ootd/tokenizer/tokenizer_config.json",
    "ootd/tokenizer/special_tokens_map.json",
    "ootd/vae/config.json",
    "ootd/vae/diffusion_pytorch_model.bin",
    "clip-vit-large-patch14/config.json",
    "clip-vit-large-patch14/preprocessor_config.json",
]
_CLIP_WEIGHTS = ["clip-vit-large-patch14/model.safetensors", "clip-vit-large-patch14/pytorch_model.bin"]
_PREPROCESS_FILES = [
    "humanparsing/parsing_atr.onnx",
    "humanparsing/parsing_lip.onnx",
    "openpose/ckpts/body_pose_model.pth",
]


def unet_files(model_type: ModelType) -> list[str]:
    base = f"ootd/ootd_{model_type.value}/{UNET_STEP}"
    return [f"{base}/{part}/{name}" for part in ("unet_garm", "unet_vton")
            for name in ("config.json", "diffusion_pytorch_model.safetensors")]


@dataclass(frozen=True)
class CheckpointDir:
    """A checkpoint directory in the published layout."""

    root: Path

    @property
    def ootd(self) -> Path:
        return self.root / "ootd"

    @property
    def clip(self) -> Path:
        return self.root / "clip-vit-large-patch14"

    @property
    def humanparsing(self) -> Path:
        return self.root / "humanparsing"

    @property
    def body_pose_model(self) -> Path:
        return self.root / "openpose" / "ckpts" / "body_pose_model.pth"

    def unet(self, model_type: ModelType, part: str) -> Path:
        """``part`` is 'unet_garm' (outfitting UNet) or 'unet_vton' (try-on UNet)."""
        return self.ootd / f"ootd_{model_type.value}" / UNET_STEP / part

    def required_files(self, model_types: Iterable[ModelType], preprocessing: bool = True) -> list[str]:
        files = list(_SHARED_FILES)
        for model_type in model_types:
            files += unet_files(model_type)
        if preprocessing:
            files += _PREPROCESS_FILES
        return files

    def missing(self, model_types: Iterable[ModelType], preprocessing: bool = True) -> list[str]:
        missing = [f for f in self.required_files(model_types, preprocessing)
                   if not (self.root / f).is_file()]
        if not any((self.root / f).is_file() for f in _CLIP_WEIGHTS):
            missing.append(_CLIP_WEIGHTS[0])
        return missing

    def verify(self, model_types: Iterable[ModelType], preprocessing: bool = True) -> None:
        """Raise CheckpointError naming every missing file and the command that fetches them."""
        model_types = list(model_types)
        if not self.root.is_dir():
            raise CheckpointError(
                f"checkpoint directory {self.root} does not exist; get the weights with "
                f"'vto download --dir {self.root}'")
        self._raise_missing(self.missing(model_types, preprocessing),
                            "all" if len(model_types) != 1 else model_types[0].value)

    def verify_preprocessing(self, part: str | None = None) -> None:
        """The pose and/or parsing models alone (what `vto mask` and the automatic mask need).

        ``part``: "openpose" or "humanparsing" to check only that model's files.
        """
        files = [f for f in _PREPROCESS_FILES if part is None or f.startswith(part + "/")]
        self._raise_missing([f for f in files if not (self.root / f).is_file()], "hd")

    def _raise_missing(self, missing: list[str], which: str) -> None:
        if missing:
            shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
            raise CheckpointError(
                f"checkpoint directory {self.root} is missing {len(missing)} file(s): {shown}; "
                f"get them with 'vto download --dir {self.root} --model {which}'",
                missing=missing)


