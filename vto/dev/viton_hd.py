"""Random VITON-HD weights in exactly the published files' format (tests and demos only).

``write_tiny_checkpoint(root, seed)`` writes ``root/viton-hd/{seg,gmm,alias}_final.pth``:
plain ``torch.save(state_dict)`` files with the published tensor names, spectral-norm
``weight_orig``/``weight_u``/``weight_v`` triplets and BatchNorm buffers, loadable by the
original ``test.py`` unchanged. The only narrowing test.py's options allow is the generator's
``--ngf`` (64 published; :data:`TINY_NGF` here): the segmentation generator's and the GMM's
widths are hard-coded, so those two files are full size (~138 MB and ~76 MB), and the load
size cannot shrink (the GMM's regressor is sized for 1024x768).

The values are scaled so that the random networks produce varied outputs: several parse
classes after the argmax, a visible TPS warp, noise that changes the image, and a generator
output that is neither flat nor saturated.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vto.core.models.viton_hd.networks import ALIASGenerator, GMM, SegGenerator, VitonHDConfig
from vto.core.models.viton_hd.spec import ALIAS, DIRECTORY, GMM as GMM_FILE, SEG

TINY_NGF = 4
TINY_CONFIG = VitonHDConfig(ngf=TINY_NGF)

# std multipliers (of 1/sqrt(fan_in)) for tensors whose scale decides what the output shows
_GAINS = {"conv9.6.weight": 4.0,            # segmentation logits: several classes win
          "regression.linear.weight": 0.5,  # TPS offsets: a warp, not a scramble
          "conv_img.weight": 2.0}


def _fill(state: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    """Overwrite every floating tensor of ``state`` in place (sorted key order)."""
    for key in sorted(state):
        value = state[key]
        if not value.dtype.is_floating_point or key.endswith(("_u", "_v")):
            continue
        randn = torch.randn(value.shape, generator=gen)
        if key.endswith("running_var"):
            value.copy_(0.5 + torch.rand(value.shape, generator=gen))
        elif key.endswith("running_mean"):
            value.copy_(0.1 * randn)
        elif key.endswith("noise_scale"):
            value.copy_(0.5 * randn)
        elif value.dim() >= 2:                       # conv / linear weights (or weight_orig)
            fan_in = value[0].numel()
            value.copy_(randn * _GAINS.get(key, 1.4) / fan_in ** 0.5)
        elif key.endswith("weight"):                 # BatchNorm scale
            value.copy_(1 + 0.1 * randn)
        else:                                        # biases
            value.copy_(0.1 * randn)


def _spectral_vectors(module: nn.Module) -> None:
    """The top singular vectors as u, v of every spectral-normed weight (what a trained
    file's power iteration has converged to), so sigma = u^T W v is the spectral norm."""
    state = module.state_dict()
    for key in [k for k in state if k.endswith("weight_orig")]:
        prefix = key[: -len("weight_orig")]
        left, _, right = torch.linalg.svd(state[key].reshape(state[key].shape[0], -1),
                                          full_matrices=False)
        state[prefix + "weight_u"].copy_(left[:, 0])
        state[prefix + "weight_v"].copy_(right[0])


def write_tiny_checkpoint(root: Path | str, seed: int = 0,
                          config: VitonHDConfig = TINY_CONFIG) -> Path:
    """Write the three files under ``root/viton-hd/``; returns ``root``."""
    root = Path(root)
    folder = root / DIRECTORY
    folder.mkdir(parents=True, exist_ok=True)
    nets = {SEG: SegGenerator(config.semantic_nc + 8, config.semantic_nc),
            GMM_FILE: GMM(config), ALIAS: ALIASGenerator(config)}
    for index, (name, net) in enumerate(nets.items()):
        gen = torch.Generator().manual_seed(seed * 3 + index)
        with torch.no_grad():
            _fill(net.state_dict(), gen)
            _spectral_vectors(net)
        torch.save(net.state_dict(), folder / name)
    return root
