"""Random OpenPose body weights in the published layout (tests and demos only)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vto.core.preprocess.openpose.network import BodyPoseNet, _file_key


def write_random_body_model(path: Path, seed: int, dtype: torch.dtype = torch.float32,
                            heatmap_scale: float = 0.005) -> None:
    """Save a deterministic random body model with the published key names (for tests).

    Weights are He-normal so activations stay alive through the six stages; the last
    heat-map layer is scaled by ``heatmap_scale``: with the default the heat maps stay far
    below the 0.1 peak threshold, so the network finds nobody (and deterministically so),
    while ``heatmap_scale=1.0`` gives busy maps with many spurious peaks and "people".
    Layers with the same fan-in are views into one shared random buffer (at different
    offsets), so the file is ~25 MB instead of the real model's ~200 MB.
    """
    generator = torch.Generator().manual_seed(seed)
    shapes = BodyPoseNet().state_dict()
    groups: dict[tuple[int, float], list[str]] = {}
    for key, tensor in shapes.items():
        if key.endswith(".weight"):
            scale = heatmap_scale if key.endswith("Mconv7_stage6_L2.weight") else 1.0
            groups.setdefault((tensor[0].numel(), scale), []).append(key)
    state: dict[str, torch.Tensor] = {}
    for (fan_in, scale), keys in groups.items():
        stride = 61                      # distinct offsets: layers of a group differ
        size = max(shapes[k].numel() for k in keys) + stride * len(keys)
        base = (torch.randn(size, generator=generator) * math.sqrt(2.0 / fan_in) * scale)
        base = base.to(dtype)
        for n, key in enumerate(keys):
            numel = shapes[key].numel()
            state[_file_key(key)] = base[n * stride:n * stride + numel].view(shapes[key].shape)
    for key, tensor in shapes.items():
        if key.endswith(".bias"):
            scale = 0.0 if key.endswith("Mconv7_stage6_L2.bias") else 0.1
            value = (torch.rand(tensor.shape, generator=generator) - 0.5) * 2 * scale
            state[_file_key(key)] = value.to(dtype)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({_file_key(k): state[_file_key(k)] for k in shapes}, path)
