"""Loading the published ``seg_final.pth``, ``gmm_final.pth`` and ``alias_final.pth`` strictly.

Each file is a plain state dict (``torch.save(model.state_dict())``; the original loads it
with ``model.load_state_dict(torch.load(path))``). vto reads it with ``weights_only=True``,
infers the two width options the files encode (``ngf`` from the generator's first conv,
``grid_size`` from the GMM's regressor) and refuses any file whose tensor names or shapes are
not exactly the networks': a CheckpointError naming the file, what is wrong and where the
weights come from.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from torch import nn

from vto.core.models.viton_hd.networks import ALIASGenerator, GMM, SegGenerator, VitonHDConfig
from vto.core.models.viton_hd.pipeline import Networks
from vto.core.models.viton_hd.spec import ALIAS, DIRECTORY, DRIVE_FOLDER, GMM as GMM_FILE, SEG
from vto.errors import CheckpointError

log = logging.getLogger(__name__)

_HOW = (f"download {SEG}, {GMM_FILE} and {ALIAS} from VITON-HD's Google Drive folder "
        f"({DRIVE_FOLDER}) into <checkpoints>/{DIRECTORY}/")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors from ``path``, or CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"VITON-HD weights missing: {path}; {_HOW}", missing=[str(path)])
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated download, an HTML page, a pickle with code ...
        raise CheckpointError(f"{path} is not a readable PyTorch state dict ({exc}); {_HOW}",
                              broken=[str(path)]) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors; {_HOW}",
                              broken=[str(path)])
    return state


def infer_config(alias_state: dict[str, torch.Tensor], gmm_state: dict[str, torch.Tensor],
                 alias_path: Path, gmm_path: Path) -> VitonHDConfig:
    """``ngf``, ``grid_size`` and spectral norm read off the files (defaults: the published)."""
    try:
        ngf = alias_state["conv_0.weight"].shape[0] // 16
    except KeyError:
        raise CheckpointError(f"{alias_path} is not an ALIAS generator (no conv_0.weight); "
                              f"{_HOW}", broken=[str(alias_path)]) from None
    try:
        outputs = gmm_state["regression.linear.weight"].shape[0]
    except KeyError:
        raise CheckpointError(f"{gmm_path} is not a GMM (no regression.linear.weight); {_HOW}",
                              broken=[str(gmm_path)]) from None
    grid_size = math.isqrt(outputs // 2)
    spectral = "head_0.conv_0.weight_orig" in alias_state
    return VitonHDConfig(ngf=max(ngf, 2), grid_size=max(grid_size, 2), spectral=spectral)


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """``module.load_state_dict(state, strict=True)`` with a CheckpointError that names the
    missing, unexpected and mis-shaped tensors instead of a RuntimeError."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        def some(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
        problems = [f"{label}: {some(keys)}" for label, keys in
                    (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes))
                    if keys]
        raise CheckpointError(f"{path} does not match VITON-HD's {type(module).__name__} "
                              f"({'; '.join(problems)}); {_HOW}", broken=[str(path)])
    module.load_state_dict(state, strict=True)


def load_networks(root: Path, device: torch.device | str = "cpu") -> Networks:
    """The three networks from ``root/viton-hd/``, in eval mode on ``device`` (float32)."""
    folder = Path(root) / DIRECTORY
    paths = {name: folder / name for name in (SEG, GMM_FILE, ALIAS)}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise CheckpointError(f"VITON-HD weights missing: {', '.join(missing)}; {_HOW}",
                              missing=missing)
    states = {name: read_state_dict(path) for name, path in paths.items()}
    config = infer_config(states[ALIAS], states[GMM_FILE], paths[ALIAS], paths[GMM_FILE])
    log.debug("VITON-HD options from the files: %s", config)
    nets = Networks(seg=SegGenerator(config.semantic_nc + 8, config.semantic_nc),
                    gmm=GMM(config), alias=ALIASGenerator(config))
    load_strict(nets.seg, states[SEG], paths[SEG])
    load_strict(nets.gmm, states[GMM_FILE], paths[GMM_FILE])
    load_strict(nets.alias, states[ALIAS], paths[ALIAS])
    for net in (nets.seg, nets.gmm, nets.alias):
        net.eval().requires_grad_(False).to(device)
    nets.alias.prepare_inference()
    nets.alias.requires_grad_(False)          # (the folded weights are new parameters)
    return nets
