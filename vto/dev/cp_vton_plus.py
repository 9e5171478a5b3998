"""Random CP-VTON+ weights in the published files' exact format (tests and demos only).

``gmm_final.pth`` and ``tom_final.pth`` are what the original's ``save_checkpoint`` writes:
``torch.save(model.cpu().state_dict(), path)`` — an ``OrderedDict`` of CPU float32 tensors
(with PyTorch's ``_metadata``), no wrapper dict, in the pre-1.6 (non-zip) container that
PyTorch 0.4.1 produced. The architecture has no width option (``ngf=64`` is fixed in the
original's ``test.py``), so these are full-size (≈ 76 MB + 87 MB): writing both takes about a
second. BatchNorm statistics and affines are randomised so that eval-mode batch norm is not the
identity (the default init then gives control-point offsets of a few tenths: a real warp).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vto.core.models.cp_vton_plus.networks import GMM, TOM
from vto.core.models.cp_vton_plus.spec import GMM_FILE, TOM_FILE


def _randomise_batch_norm(module: nn.Module, generator: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 1 + 0.1 * torch.randn(n, generator=generator)
            m.bias.data = 0.1 * torch.randn(n, generator=generator)
            m.running_mean.data = 0.1 * torch.randn(n, generator=generator)
            m.running_var.data = 0.5 + torch.rand(n, generator=generator)
            m.num_batches_tracked.data = torch.tensor(1000, dtype=torch.long)


def random_networks(seed: int = 0) -> tuple[GMM, TOM]:
    """GMM and TOM with seeded random weights (PyTorch's default init, randomised norms)."""
    torch.manual_seed(seed)
    gmm, tom = GMM(), TOM()
    generator = torch.Generator().manual_seed(seed + 1)
    _randomise_batch_norm(gmm, generator)
    return gmm, tom


def save_state_dict(module: nn.Module, path: Path) -> Path:
    """As the original's ``save_checkpoint`` under PyTorch 0.4.1 (legacy container)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(module.cpu().state_dict(), path, _use_new_zipfile_serialization=False)
    return path


def write_tiny_checkpoint(root: Path | str, seed: int = 0) -> Path:
    """Write ``cp-vton-plus/GMM/gmm_final.pth`` and ``cp-vton-plus/TOM/tom_final.pth`` under
    ``root`` (random weights, the published format); returns ``root``."""
    root = Path(root)
    gmm, tom = random_networks(seed)
    save_state_dict(gmm, root / GMM_FILE)
    save_state_dict(tom, root / TOM_FILE)
    return root
