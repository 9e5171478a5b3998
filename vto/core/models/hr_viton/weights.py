"""Reading HR-VITON's published checkpoints into vto's networks, strictly.

The original loads ``mtviton.pth`` with ``load_state_dict(strict=False)`` (a missing tensor
silently keeps its random initialisation) and ``gen.pth`` after renaming its keys
(``'ace' -> 'alias'``, ``'.Spade' -> ''``, in the tensors and in ``_metadata``) with
``strict=True``. vto renames ``gen.pth`` the same way and loads both files strictly: a missing,
unexpected or mis-shaped tensor is a :class:`~vto.errors.CheckpointError` naming it and the
file. Widths are read from the file (``ngf`` of either network), so a reduced-width test
checkpoint loads through the same code as the published one.

Networks are built on the meta device (no random initialisation, no global RNG use) and take
the file's tensors as they are (``assign=True``). The generator's spectral-normed convolutions
are stored as ``weight_orig``/``weight_u``/``weight_v`` (format version 1, PyTorch >= 1.0);
:func:`fold_spectral_norm` turns each triple into the weight eval mode computes from it on
every call, once, before loading.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vto.core.models.hr_viton.networks import (ConditionGenerator, SPADEGenerator,
                                               spectral_conv_names)
from vto.errors import CheckpointError

# The original's load_checkpoint_G renames, applied in this order to every key.
GENERATOR_RENAMES = (("ace", "alias"), (".Spade", ""))

# What the try-on code feeds the networks (test_generator.py), checked against the file.
CLOTH_CHANNELS, PERSON_CHANNELS, SEGMENT_CLASSES = 4, 16, 13
GENERATOR_INPUT, GENERATOR_LABELS = 9, 7


def read_state_dict(path: Path) -> "OrderedDict[str, torch.Tensor]":
    """The tensors of a ``torch.save``d state dict (tensors only: ``weights_only``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist", missing=[str(path)]) from None
    except Exception as exc:  # torch raises pickle, zip and runtime errors for broken files
        raise CheckpointError(f"{path} is not a readable PyTorch state dict "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                              "download it again") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors; download it again")
    return state if isinstance(state, OrderedDict) else OrderedDict(state)


def rename_generator_keys(state: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, Any]":
    """The original's key renaming for ``gen.pth``, on the tensors and on ``_metadata`` (which
    carries the spectral-norm format version each module was saved with)."""
    def rename(key: str) -> str:
        for old, new in GENERATOR_RENAMES:
            key = key.replace(old, new)
        return key

    renamed: "OrderedDict[str, Any]" = OrderedDict((rename(k), v) for k, v in state.items())
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        renamed._metadata = OrderedDict(  # type: ignore[attr-defined]
            (rename(k), v) for k, v in metadata.items())
    return renamed


def load_strict(module: nn.Module, state: "OrderedDict[str, Any]", path: Path) -> None:
    """``module.load_state_dict`` that refuses anything but an exact match, naming the keys."""
    try:
        result = module.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as exc:  # size mismatches
        detail = " ".join(str(exc).split())[:400]
        raise CheckpointError(f"{path} does not fit the network: {detail}; "
                              "download it again") from None
    problems = []
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} tensor(s): "
                        + _names(result.missing_keys))
    if result.unexpected_keys:
        problems.append(f"{len(result.unexpected_keys)} unexpected tensor(s): "
                        + _names(result.unexpected_keys))
    if problems:
        raise CheckpointError(f"{path} is not the published file ({'; '.join(problems)}); "
                              "download it again", missing=list(result.missing_keys),
                              unexpected=list(result.unexpected_keys))


def fold_spectral_norm(state: "OrderedDict[str, Any]", names: list[str],
                       path: Path) -> "OrderedDict[str, Any]":
    """Each ``<name>.weight_orig/_u/_v`` triple -> ``<name>.weight``: torch's
    ``SpectralNorm.compute_weight`` without power iteration (eval mode), i.e. ``weight_orig /
    dot(u, W v)`` with ``W`` the weight reshaped to (out_channels, -1)."""
    folded: "OrderedDict[str, Any]" = OrderedDict(state)
    missing: list[str] = []
    for name in names:
        keys = [f"{name}.weight_orig", f"{name}.weight_u", f"{name}.weight_v"]
        absent = [k for k in keys if k not in folded]
        if absent:
            missing += absent
            continue
        weight, u, v = (folded.pop(k) for k in keys)
        sigma = torch.dot(u, torch.mv(weight.reshape(weight.shape[0], -1), v))
        folded[f"{name}.weight"] = weight / sigma
    if missing:
        raise CheckpointError(f"{path} is not the published file (missing {len(missing)} "
                              f"tensor(s): {_names(missing)}); download it again",
                              missing=missing)
    return folded


def _names(keys: list[str]) -> str:
    return ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")


def _shape(state: dict, key: str, path: Path) -> torch.Size:
    if key not in state:
        raise CheckpointError(f"{path} is not the published file (missing tensor {key}); "
                              "download it again", missing=[key])
    return state[key].shape


def _expect(path: Path, what: str, found: int, wanted: int) -> None:
    if found != wanted:
        raise CheckpointError(f"{path} is not an HR-VITON checkpoint ({what} is {found}, the "
                              f"try-on code feeds {wanted}); download it again")


def load_condition_generator(path: Path, device: Any = "cpu",
                             dtype: torch.dtype = torch.float32) -> ConditionGenerator:
    """``mtviton.pth`` as an eval-mode :class:`ConditionGenerator` on ``device``."""
    state = read_state_dict(path)
    first = _shape(state, "ClothEncoder.0.scale.weight", path)
    _expect(path, "the garment encoder's input", first[1], CLOTH_CHANNELS)
    _expect(path, "the person encoder's input",
            _shape(state, "PoseEncoder.0.scale.weight", path)[1], PERSON_CHANNELS)
    _expect(path, "the segmentation's classes",
            _shape(state, "out_layer.scale.weight", path)[0], SEGMENT_CLASSES)
    with torch.device("meta"):
        model = ConditionGenerator(CLOTH_CHANNELS, PERSON_CHANNELS, SEGMENT_CLASSES, ngf=first[0])
    load_strict(model, state, path)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def load_image_generator(path: Path, device: Any = "cpu",
                         dtype: torch.dtype = torch.float32) -> SPADEGenerator:
    """``gen.pth`` (keys renamed as the original does, spectral norms folded) as an eval-mode
    :class:`SPADEGenerator` on ``device``."""
    state = rename_generator_keys(read_state_dict(path))
    first = _shape(state, "conv_0.weight", path)
    _expect(path, "the generator's input", first[1], GENERATOR_INPUT)
    _expect(path, "the segmentation's classes",
            _shape(state, "head_0.norm_0.conv_shared.0.weight", path)[1], GENERATOR_LABELS)
    if first[0] % 16:
        raise CheckpointError(f"{path} is not an HR-VITON image generator (conv_0 has "
                              f"{first[0]} filters, not a multiple of 16); download it again")
    with torch.device("meta"):
        model = SPADEGenerator(GENERATOR_INPUT, ngf=first[0] // 16, label_channels=GENERATOR_LABELS)
    load_strict(model, fold_spectral_norm(state, spectral_conv_names(model), path), path)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)
