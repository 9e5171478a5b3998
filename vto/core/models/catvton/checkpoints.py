"""Loading CatVTON's files (layout: vto.core.models.catvton.spec), strictly.

Every file is checked before anything loads; every tensor of every file must land in the model
and every parameter of the model must come from a file. Anything else is a
:class:`~vto.errors.CheckpointError` naming the file or tensor and the command that fetches it.

The released attention file (``mix-48k-1024/attention/model.safetensors``) is the state dict of
the original's ``torch.nn.ModuleList`` of every module whose name contains ``attn1``, in
``unet.named_modules()`` order. Per transformer block that list holds 8 modules: ``attn1``,
its ``to_q``, ``to_k``, ``to_v``, ``to_out``, ``to_out.0``, ``to_out.1`` (dropout) and its
processor (an ``nn.Module`` in the original). Block ``k`` therefore owns indices ``8k … 8k+7``
and each of its five tensors has several names (``8k.to_q.weight`` is also ``{8k+1}.weight``).
Which alias a file keeps depends on how it was saved (accelerate keeps the first), so any one
of them is accepted, and several only if they hold the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vto.core.models.catvton import spec
from vto.core.models.catvton.attention import transformer_blocks
from vto.errors import CheckpointError

MODULES_PER_BLOCK = 8  # attn1, to_q, to_k, to_v, to_out, to_out.0, to_out.1, processor

# attn1 parameter -> its names in the original's list, as (index offset within the block, name)
_ALIASES: dict[str, tuple[tuple[int, str], ...]] = {
    "to_q.weight": ((0, "to_q.weight"), (1, "weight")),
    "to_k.weight": ((0, "to_k.weight"), (2, "weight")),
    "to_v.weight": ((0, "to_v.weight"), (3, "weight")),
    "to_out.0.weight": ((0, "to_out.0.weight"), (4, "0.weight"), (5, "weight")),
    "to_out.0.bias": ((0, "to_out.0.bias"), (4, "0.bias"), (5, "bias")),
}


def download_hint(root: Path) -> str:
    return f"get them with 'vto download --dir {root} --model {spec.CATVTON.id}'"


def verify(root: Path) -> None:
    """CheckpointError naming every missing file and the command that fetches them."""
    if not root.is_dir():
        raise CheckpointError(f"checkpoint directory {root} does not exist; "
                              f"{download_hint(root)}")
    missing = [f.path for f in spec.CATVTON.missing_files(root)]
    if missing:
        raise CheckpointError(f"checkpoint directory {root} is missing {len(missing)} CatVTON "
                              f"file(s): {', '.join(missing)}; {download_hint(root)}",
                              missing=missing)


def released_names(unet: nn.Module) -> dict[str, tuple[str, ...]]:
    """UNet parameter name -> the names it may have in the released attention file
    (the first is the one accelerate keeps and ``vto.dev.catvton`` writes)."""
    names: dict[str, tuple[str, ...]] = {}
    for k, block_name in enumerate(transformer_blocks(unet)):
        base = MODULES_PER_BLOCK * k
        for param, aliases in _ALIASES.items():
            names[f"{block_name}.attn1.{param}"] = tuple(f"{base + offset}.{name}"
                                                         for offset, name in aliases)
    return names


def load_attention(unet: nn.Module, root: Path) -> None:
    """Copy the released self-attention weights into ``unet`` (every tensor accounted for)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = root / spec.ATTENTION_FILE
    try:
        state = load_file(path)
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}; {download_hint(root)}") from exc
    targets = released_names(unet)
    params = dict(unet.named_parameters())
    used: set[str] = set()
    missing: list[str] = []
    loaded: dict[str, torch.Tensor] = {}
    for param, aliases in targets.items():
        present = [name for name in aliases if name in state]
        if not present:
            missing.append(aliases[0])
            continue
        tensor = state[present[0]]
        for other in present[1:]:
            if not torch.equal(state[other], tensor):
                raise CheckpointError(f"{path}: {present[0]} and {other} should be the same "
                                      f"tensor ({param}) but differ")
        if tensor.shape != params[param].shape:
            raise CheckpointError(f"{path}: {present[0]} has shape {tuple(tensor.shape)}, the "
                                  f"UNet's {param} needs {tuple(params[param].shape)}")
        loaded[param] = tensor
        used.update(present)
    unexpected = sorted(set(state) - used, key=_natural)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"lacks {len(missing)} tensor(s): {_shown(missing)}")
        if unexpected:
            problems.append(f"has {len(unexpected)} tensor(s) this UNet does not use: "
                            f"{_shown(unexpected)}")
        raise CheckpointError(f"CatVTON attention file {path} {' and '.join(problems)}; "
                              f"{download_hint(root)}",
                              missing=missing, unexpected=unexpected)
    with torch.no_grad():
        for param, tensor in loaded.items():
            params[param].copy_(tensor)


def load_unet(root: Path, dtype: torch.dtype) -> nn.Module:
    from diffusers import UNet2DConditionModel

    return _from_pretrained(UNet2DConditionModel, root, spec.UNET_CONFIG, dtype)


def load_vae(root: Path, dtype: torch.dtype) -> nn.Module:
    from diffusers import AutoencoderKL

    return _from_pretrained(AutoencoderKL, root, spec.VAE_CONFIG, dtype)


def load_scheduler(root: Path) -> Any:
    """DDIM from the base model's scheduler config (a PNDM config: DDIM's defaults fill the
    rest), exactly as the original's ``DDIMScheduler.from_pretrained(base, "scheduler")``."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_pretrained(root / spec.SCHEDULER_CONFIG.rsplit("/", 1)[0])


def _from_pretrained(cls: Any, root: Path, config: str, dtype: torch.dtype) -> nn.Module:
    """A diffusers model from its folder (safetensors preferred, as diffusers does), refusing
    any missing, unexpected or mis-shaped tensor. diffusers renames the legacy VAE attention
    keys (query/key/value/proj_attn) of older files itself."""
    from diffusers.utils import logging as diffusers_logging

    folder = (root / config).parent
    safetensors = (folder / "diffusion_pytorch_model.safetensors").is_file()
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # our own error below is the one to show
    try:
        model, info = cls.from_pretrained(folder, torch_dtype=dtype, use_safetensors=safetensors,
                                          output_loading_info=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"cannot load {folder}: {str(exc).splitlines()[0]}; "
                              f"{download_hint(root)}") from exc
    finally:
        diffusers_logging.set_verbosity(verbosity)
    problems = {kind: info.get(kind) for kind in ("missing_keys", "unexpected_keys",
                                                   "mismatched_keys") if info.get(kind)}
    if problems:
        detail = "; ".join(f"{kind.replace('_', ' ')}: {_shown([str(k) for k in keys])}"
                           for kind, keys in problems.items())
        raise CheckpointError(f"{folder} does not match its config ({detail}); "
                              f"{download_hint(root)}", **problems)
    return model.eval()


def _natural(name: str) -> tuple:
    head, _, tail = name.partition(".")
    return (int(head), tail) if head.isdigit() else (1 << 30, name)


def _shown(names: list[str], limit: int = 6) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
