"""The CMU OpenPose body network (COCO-18) in lllyasviel's ControlNet-annotator layout.

VGG stage 0, then six stages with a PAF branch ``L1`` (38 channels) and a heat-map branch ``L2``
(19 channels). :func:`load_body_model` reads ``openpose/ckpts/body_pose_model.pth``: a plain
state dict whose keys are the layer names without the ``model0.``/``model1_1.``… block prefix.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from vto.errors import CheckpointError


def _stage0() -> list[tuple[str, tuple]]:
    # (name, (in, out, kernel, pad)) or (name, None) for a 2x2 max pool
    return [("conv1_1", (3, 64, 3, 1)), ("conv1_2", (64, 64, 3, 1)), ("pool1_stage1", None),
            ("conv2_1", (64, 128, 3, 1)), ("conv2_2", (128, 128, 3, 1)), ("pool2_stage1", None),
            ("conv3_1", (128, 256, 3, 1)), ("conv3_2", (256, 256, 3, 1)),
            ("conv3_3", (256, 256, 3, 1)), ("conv3_4", (256, 256, 3, 1)), ("pool3_stage1", None),
            ("conv4_1", (256, 512, 3, 1)), ("conv4_2", (512, 512, 3, 1)),
            ("conv4_3_CPM", (512, 256, 3, 1)), ("conv4_4_CPM", (256, 128, 3, 1))]


def _stage(stage: int, branch: int) -> list[tuple[str, tuple]]:
    out = 38 if branch == 1 else 19
    if stage == 1:
        return [(f"conv5_1_CPM_L{branch}", (128, 128, 3, 1)),
                (f"conv5_2_CPM_L{branch}", (128, 128, 3, 1)),
                (f"conv5_3_CPM_L{branch}", (128, 128, 3, 1)),
                (f"conv5_4_CPM_L{branch}", (128, 512, 1, 0)),
                (f"conv5_5_CPM_L{branch}", (512, out, 1, 0))]
    layers = [(f"Mconv1_stage{stage}_L{branch}", (185, 128, 7, 3))]
    layers += [(f"Mconv{i}_stage{stage}_L{branch}", (128, 128, 7, 3)) for i in range(2, 6)]
    return layers + [(f"Mconv6_stage{stage}_L{branch}", (128, 128, 1, 0)),
                     (f"Mconv7_stage{stage}_L{branch}", (128, out, 1, 0))]


def _no_relu(name: str) -> bool:
    # The original's list names Mconv7_stage6_L1 twice and omits Mconv7_stage6_L2, so the
    # final heat-map conv keeps its ReLU (the published weights were used that way).
    return name in ("conv5_5_CPM_L1", "conv5_5_CPM_L2") or (
        name.startswith("Mconv7_stage") and name != "Mconv7_stage6_L2")


def _block(layers: list[tuple[str, tuple]]) -> nn.Sequential:
    modules: list[tuple[str, nn.Module]] = []
    for name, spec in layers:
        if spec is None:
            modules.append((name, nn.MaxPool2d(kernel_size=2, stride=2, padding=0)))
            continue
        cin, cout, kernel, pad = spec
        modules.append((name, nn.Conv2d(cin, cout, kernel, stride=1, padding=pad)))
        if not _no_relu(name):
            modules.append((f"relu_{name}", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(modules))


class BodyPoseNet(nn.Module):
    """CMU body network; returns (PAFs: N×38×h×w, heat maps: N×19×h×w) at 1/8 resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.model0 = _block(_stage0())
        for stage in range(1, 7):
            for branch in (1, 2):
                self.add_module(f"model{stage}_{branch}", _block(_stage(stage, branch)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model0(x)
        pafs = self.model1_1(features)
        heat = self.model1_2(features)
        for stage in range(2, 7):
            joined = torch.cat([pafs, heat, features], 1)
            pafs = getattr(self, f"model{stage}_1")(joined)
            heat = getattr(self, f"model{stage}_2")(joined)
        return pafs, heat


def _file_key(model_key: str) -> str:
    return model_key.split(".", 1)[1]          # "model1_1.conv5_1_CPM_L1.weight" -> "conv5_…"


def load_body_model(path: Path, device: str = "cpu") -> BodyPoseNet:
    """Build the network and load the published state dict (every tensor must be present)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"OpenPose body model not found: {path}")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a broken file
        raise CheckpointError(f"cannot read OpenPose body model {path}: {exc}") from None
    net = BodyPoseNet()
    wanted = net.state_dict()
    missing = [k for k in wanted if _file_key(k) not in weights]
    if missing:
        raise CheckpointError(f"OpenPose body model {path} lacks {len(missing)} tensors, "
                              f"e.g. {_file_key(missing[0])}")
    try:
        net.load_state_dict({k: weights[_file_key(k)].float() for k in wanted})
    except RuntimeError as exc:
        raise CheckpointError(f"OpenPose body model {path} does not fit: {exc}") from None
    return net.to(device).eval()
