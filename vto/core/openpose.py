"""OpenPose body keypoints (CMU COCO-18), as the original OOTDiffusion computes them.

The network is the CMU body model in the layout of lllyasviel's ControlNet annotator (VGG
stage 0, then six stages with a PAF branch ``L1``, 38 channels, and a heat-map branch ``L2``,
19 channels). It loads ``openpose/ckpts/body_pose_model.pth``: a plain state dict whose keys
are the layer names without the ``model0.``/``model1_1.``… block prefix.

The post-processing follows the original step by step (design doc §7), including its float
arithmetic, so that keypoints come out bit-identical: single scale 0.359375, INTER_AREA
resize, pad to a multiple of 8 with 128, ``/256 - 0.5``; maps upsampled with LANCZOS4 per
channel; peaks on ``gaussian_filter(σ=3)``; limbs scored on 10 samples; greedy person assembly.
Two deliberate differences: every detected person is returned (the original keeps
``subset[0]``), and nothing raises IndexError. :func:`to_original_keypoints` reproduces the
original wrapper's output (including its re-indexing quirk) for equivalence checks.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter
from torch import nn

from vto.errors import CheckpointError, InvalidInput

log = logging.getLogger(__name__)

PART_NAMES = ("nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder",
              "left elbow", "left wrist", "right hip", "right knee", "right ankle", "left hip",
              "left knee", "left ankle", "right eye", "left eye", "right ear", "left ear")
WIDTH, HEIGHT = 384, 512

# COCO limbs (1-based part numbers) and the PAF channels (+19) scoring them; original order.
_LIMB_SEQ = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12),
             (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18), (3, 17), (6, 18))
_MAP_IDX = ((31, 32), (39, 40), (33, 34), (35, 36), (41, 42), (43, 44), (19, 20), (21, 22),
            (23, 24), (25, 26), (27, 28), (29, 30), (47, 48), (49, 50), (53, 54), (51, 52),
            (55, 56), (37, 38), (45, 46))
_SCALE = 0.5 * 368 / 512          # the original's only search scale
_STRIDE, _PAD_VALUE = 8, 128
_PEAK_THRESHOLD, _PAF_THRESHOLD, _MID_SAMPLES = 0.1, 0.05, 10


# --------------------------------------------------------------------------- network

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


# --------------------------------------------------------------------------- post-processing

def _hwc3(image: np.ndarray) -> np.ndarray:
    """The annotator's HWC3: grey -> 3 channels, RGBA composited over white."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        return np.concatenate([image] * 3, axis=2)
    if image.shape[2] == 4:
        color = image[:, :, :3].astype(np.float32)
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        return (color * alpha + 255.0 * (1.0 - alpha)).clip(0, 255).astype(np.uint8)
    return image


def _resize_short_side(image: np.ndarray, resolution: int) -> np.ndarray:
    """The annotator's resize_image: short side to ``resolution``, sides to multiples of 64."""
    h, w = image.shape[:2]
    k = float(resolution) / min(h, w)
    new_h = int(np.round(h * k / 64.0)) * 64
    new_w = int(np.round(w * k / 64.0)) * 64
    interpolation = cv2.INTER_LANCZOS4 if k > 1 else cv2.INTER_AREA
    return cv2.resize(image, (new_w, new_h), interpolation=interpolation)


def _resize_channels(maps: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Per-channel cv2 resize, AREA when shrinking and LANCZOS4 otherwise (smart_resize)."""
    h, w = size_hw
    k = float(h + w) / float(maps.shape[0] + maps.shape[1])
    interpolation = cv2.INTER_AREA if k < 1 else cv2.INTER_LANCZOS4
    return np.stack([cv2.resize(maps[:, :, c], (w, h), interpolation=interpolation)
                     for c in range(maps.shape[2])], axis=2)


def network_input(bgr: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Scaled, padded, normalised NCHW float32 input and the (down, right) padding."""
    h, w = bgr.shape[:2]
    scaled = cv2.resize(bgr, (int(w * _SCALE), int(h * _SCALE)), interpolation=cv2.INTER_AREA)
    pad_down = (-scaled.shape[0]) % _STRIDE
    pad_right = (-scaled.shape[1]) % _STRIDE
    padded = cv2.copyMakeBorder(scaled, 0, pad_down, 0, pad_right, cv2.BORDER_CONSTANT,
                                value=(_PAD_VALUE,) * 3)
    tensor = np.ascontiguousarray(padded.transpose(2, 0, 1)[None].astype(np.float32)) / 256 - 0.5
    return tensor, (pad_down, pad_right)


def upsample_maps(pafs: np.ndarray, heatmaps: np.ndarray, padded_hw: tuple[int, int],
                  pad: tuple[int, int], out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs (C×h×w) -> float64 maps at ``out_hw`` (H×W×C), as the original does."""
    result = []
    for maps in (heatmaps, pafs):
        hwc = np.transpose(maps, (1, 2, 0))
        hwc = _resize_channels(hwc, (hwc.shape[0] * _STRIDE, hwc.shape[1] * _STRIDE))
        hwc = hwc[:padded_hw[0] - pad[0], :padded_hw[1] - pad[1], :]
        result.append(_resize_channels(hwc, out_hw).astype(np.float64))
    heat, paf = result
    return heat, paf


def find_peaks(heatmaps: np.ndarray) -> list[list[tuple[int, int, float, int]]]:
    """Per part 0..17: [(x, y, score, id)], ids numbered across parts in order."""
    all_peaks: list[list[tuple[int, int, float, int]]] = []
    counter = 0
    for part in range(18):
        raw = heatmaps[:, :, part]
        smooth = gaussian_filter(raw, sigma=3)
        shifted = []
        for axis, forward in ((0, True), (0, False), (1, True), (1, False)):
            other = np.zeros(smooth.shape)
            src = [slice(None)] * 2
            dst = [slice(None)] * 2
            src[axis], dst[axis] = (slice(None, -1), slice(1, None)) if forward else \
                (slice(1, None), slice(None, -1))
            other[tuple(dst)] = smooth[tuple(src)]
            shifted.append(smooth >= other)
        binary = np.logical_and.reduce(shifted + [smooth > _PEAK_THRESHOLD])
        ys, xs = np.nonzero(binary)
        peaks = [(int(x), int(y), float(raw[y, x]), counter + n) for n, (x, y) in
                 enumerate(zip(xs, ys))]
        all_peaks.append(peaks)
        counter += len(peaks)
    return all_peaks


def _linspace10(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """np.linspace(start, stop, 10) element-wise with numpy's scalar arithmetic (N×10)."""
    start = start.astype(np.float64)
    stop = stop.astype(np.float64)
    step = (stop - start) / 9
    k = np.arange(10, dtype=np.float64)
    out = k[None, :] * step[:, None] + start[:, None]
    out[step == 0] = start[step == 0, None]
    out[:, -1] = stop
    return out


def score_limb(cand_a: list, cand_b: list, paf_x: np.ndarray, paf_y: np.ndarray,
               image_height: int) -> list[list[float]]:
    """Connection candidates [i, j, score, score+part scores] passing both criteria, in the
    original's i-major order (the caller sorts stably)."""
    a = np.array([c[:2] for c in cand_a], dtype=np.int64)
    b = np.array([c[:2] for c in cand_b], dtype=np.int64)
    ii, jj = np.meshgrid(np.arange(len(cand_a)), np.arange(len(cand_b)), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    vec = b[jj] - a[ii]
    norm = np.maximum(0.001, np.sqrt((vec[:, 0] * vec[:, 0] + vec[:, 1] * vec[:, 1])
                                     .astype(np.float64)))
    unit_x, unit_y = vec[:, 0] / norm, vec[:, 1] / norm
    xs = np.rint(_linspace10(a[ii, 0], b[jj, 0])).astype(np.int64)
    ys = np.rint(_linspace10(a[ii, 1], b[jj, 1])).astype(np.int64)
    mid = paf_x[ys, xs] * unit_x[:, None] + paf_y[ys, xs] * unit_y[:, None]
    total = np.zeros(len(ii))
    for k in range(_MID_SAMPLES):          # Python's sum(): left to right, not pairwise
        total = total + mid[:, k]
    prior = total / _MID_SAMPLES + np.minimum(0.5 * image_height / norm - 1, 0)
    ok = ((mid > _PAF_THRESHOLD).sum(axis=1) > 0.8 * _MID_SAMPLES) & (prior > 0)
    return [[int(ii[n]), int(jj[n]), float(prior[n]),
             float(prior[n]) + cand_a[ii[n]][2] + cand_b[jj[n]][2]] for n in np.nonzero(ok)[0]]


def _connect(all_peaks: list, pafs: np.ndarray, image_height: int) -> list[np.ndarray | None]:
    connections: list[np.ndarray | None] = []
    for (part_a, part_b), (ch_x, ch_y) in zip(_LIMB_SEQ, _MAP_IDX):
        cand_a, cand_b = all_peaks[part_a - 1], all_peaks[part_b - 1]
        if not cand_a or not cand_b:
            connections.append(None)
            continue
        scored = score_limb(cand_a, cand_b, pafs[:, :, ch_x - 19], pafs[:, :, ch_y - 19],
                            image_height)
        scored.sort(key=lambda c: c[2], reverse=True)
        rows: list[list[float]] = []
        used_a: set[int] = set()
        used_b: set[int] = set()
        for i, j, score, _ in scored:
            if i in used_a or j in used_b:
                continue
            rows.append([cand_a[i][3], cand_b[j][3], score, i, j])
            used_a.add(i)
            used_b.add(j)
            if len(rows) >= min(len(cand_a), len(cand_b)):
                break
        connections.append(np.array(rows, dtype=np.float64).reshape(-1, 5))
    return connections


def _assemble(connections: list, candidate: np.ndarray) -> np.ndarray:
    """Greedy person assembly; rows: 18 candidate ids (-1 = none), total score, part count."""
    subset = -1 * np.ones((0, 20))
    for k, conn in enumerate(connections):
        if conn is None:
            continue
        index_a, index_b = np.array(_LIMB_SEQ[k]) - 1
        for i in range(len(conn)):
            part_a, part_b = conn[i, 0], conn[i, 1]
            matches = np.nonzero((subset[:, index_a] == part_a) |
                                 (subset[:, index_b] == part_b))[0]
            # The original stores at most two matches (a third would crash it); same here.
            if len(matches) >= 1 and len(matches) != 2:
                j = matches[0]
                if subset[j][index_b] != part_b:
                    subset[j][index_b] = part_b
                    subset[j][-1] += 1
                    subset[j][-2] += candidate[int(part_b), 2] + conn[i][2]
            elif len(matches) == 2:
                j1, j2 = matches
                membership = ((subset[j1] >= 0).astype(int) + (subset[j2] >= 0).astype(int))[:-2]
                if len(np.nonzero(membership == 2)[0]) == 0:      # disjoint: merge
                    subset[j1][:-2] += subset[j2][:-2] + 1
                    subset[j1][-2:] += subset[j2][-2:]
                    subset[j1][-2] += conn[i][2]
                    subset = np.delete(subset, j2, 0)
                else:
                    subset[j1][index_b] = part_b
                    subset[j1][-1] += 1
                    subset[j1][-2] += candidate[int(part_b), 2] + conn[i][2]
            elif k < 17:
                row = -1 * np.ones(20)
                row[index_a] = part_a
                row[index_b] = part_b
                row[-1] = 2
                row[-2] = sum(candidate[conn[i, :2].astype(int), 2]) + conn[i][2]
                subset = np.vstack([subset, row])
    keep = [i for i in range(len(subset))
            if not (subset[i][-1] < 4 or subset[i][-2] / subset[i][-1] < 0.4)]
    return subset[keep]


def estimate_from_maps(heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Original post-processing on full-size maps (H×W×19 heat, H×W×38 PAF).

    Returns (candidate N×4 [x, y, score, id], subset M×20) exactly like the original Body().
    """
    all_peaks = find_peaks(heatmaps)
    candidate = np.array([p for peaks in all_peaks for p in peaks], dtype=np.float64)
    candidate = candidate.reshape(-1, 4)
    connections = _connect(all_peaks, pafs, heatmaps.shape[0])
    return candidate, _assemble(connections, candidate)


# --------------------------------------------------------------------------- people

@dataclass
class Person:
    """One detected person. ``keypoints[i]`` is part i (see PART_NAMES) in 384×512 pixels.

    ``subset_index`` is the row in the original's ``subset``: the original keeps row 0.
    """

    keypoints: list[tuple[float, float] | None]
    part_scores: list[float | None]
    score: float
    n_parts: int
    subset_index: int = 0
    _candidates: list[list[float]] = field(default_factory=list, repr=False)
    _subset_row: list[float] = field(default_factory=list, repr=False)

    @property
    def visible(self) -> list[int]:
        return [i for i, p in enumerate(self.keypoints) if p is not None]

    def bbox(self) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) around the visible keypoints, or None without any."""
        points = [p for p in self.keypoints if p is not None]
        if not points:
            return None
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def prominence(self) -> tuple[float, float]:
        """Sort key: area of the keypoint box, then the detector's total score."""
        box = self.bbox()
        area = 0.0 if box is None else (box[2] - box[0]) * (box[3] - box[1])
        return area, self.score


def people_from_detection(candidate: np.ndarray, subset: np.ndarray, width: int = WIDTH,
                          height: int = HEIGHT) -> list[Person]:
    """Build Person objects, most prominent first; coordinates computed like the wrapper."""
    normalised = candidate[:, :2].copy() if len(candidate) else np.zeros((0, 2))
    normalised[:, 0] /= float(width)
    normalised[:, 1] /= float(height)
    norm_list = normalised.tolist()
    people = []
    for row_index, row in enumerate(subset):
        keypoints: list[tuple[float, float] | None] = []
        scores: list[float | None] = []
        for part in range(18):
            if row[part] == -1:
                keypoints.append(None)
                scores.append(None)
                continue
            x, y = norm_list[int(row[part])]
            keypoints.append((x * WIDTH, y * HEIGHT))
            scores.append(float(candidate[int(row[part]), 2]))
        # n_parts counts the visible parts; the original's own count (row[19]) can run
        # ahead of them when its assembly re-assigns a part.
        people.append(Person(keypoints, scores, float(row[18]),
                             sum(p is not None for p in keypoints), row_index,
                             norm_list, row.tolist()))
    people.sort(key=lambda p: p.prominence, reverse=True)
    return people


def keypoints_dict(person: Person) -> dict[str, list[list[float]]]:
    """vto's keypoints in the original's JSON shape; a missing part is [0, 0]."""
    return {"pose_keypoints_2d": [list(p) if p is not None else [0, 0]
                                  for p in person.keypoints]}


def to_original_keypoints(person: Person) -> dict[str, list[list[float]]]:
    """What the original wrapper returns for this person as ``subset[0]``, quirks included.

    The wrapper re-indexes the global candidate list by inserting [0, 0] for missing parts
    and popping one extra peak per part; with two or more extra peaks before a part it picks
    a wrong point (design doc §7). Falls back to :func:`keypoints_dict` when the raw
    detection is not attached (people built by hand). Raises IndexError where the original
    crashes.
    """
    if not person._subset_row:
        return keypoints_dict(person)
    candidate = [list(c) for c in person._candidates]
    subset = list(person._subset_row[:18])
    for i in range(18):
        if subset[i] == -1:
            candidate.insert(i, [0, 0])
            for j in range(i, 18):
                if subset[j] != -1:
                    subset[j] += 1
        elif subset[i] != i:
            candidate.pop(i)
            for j in range(i, 18):
                if subset[j] != -1:
                    subset[j] -= 1
    candidate = candidate[:18]
    for i in range(18):
        candidate[i][0] *= WIDTH
        candidate[i][1] *= HEIGHT
    return {"pose_keypoints_2d": candidate}


class BodyPoseDetector:
    """``detector(image_384x512) -> list[Person]`` (all people, most prominent first)."""

    def __init__(self, net: BodyPoseNet, device: str = "cpu") -> None:
        self.net = net
        self.device = device

    @classmethod
    def from_checkpoint(cls, path: Path, device: str = "cpu") -> "BodyPoseDetector":
        return cls(load_body_model(path, device), device)

    def maps(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """Full-size (512×384) float64 heat maps (19 ch) and PAFs (38 ch) for ``image``."""
        if image.mode not in ("RGB", "RGBA", "L"):
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        rgb = _resize_short_side(_hwc3(np.asarray(image)), WIDTH)
        if rgb.shape[:2] != (HEIGHT, WIDTH):
            raise InvalidInput(f"pose detection needs a 384x512 image, got "
                               f"{image.width}x{image.height}")
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        tensor, pad = network_input(bgr)
        with torch.no_grad():
            pafs, heat = self.net(torch.from_numpy(tensor).to(self.device))
        return upsample_maps(pafs[0].float().cpu().numpy(), heat[0].float().cpu().numpy(),
                             tensor.shape[2:], pad, (HEIGHT, WIDTH))

    def detect_raw(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """The original Body() result: (candidate N×4 in pixels, subset M×20)."""
        heat, paf = self.maps(image)
        return estimate_from_maps(heat, paf)

    def __call__(self, image: Image.Image) -> list[Person]:
        candidate, subset = self.detect_raw(image)
        people = people_from_detection(candidate, subset)
        log.debug("openpose: %d peaks, %d people", len(candidate), len(people))
        return people
