"""From the body network's maps to people, as the original OOTDiffusion computes them.

The post-processing follows the original step by step (design doc §7), including its float
arithmetic, so that keypoints come out bit-identical: single scale 0.359375, INTER_AREA
resize, pad to a multiple of 8 with 128, ``/256 - 0.5``; maps upsampled with LANCZOS4 per
channel; peaks on ``gaussian_filter(σ=3)``; limbs scored on 10 samples; greedy person assembly.
Two deliberate differences: every detected person is returned (the original keeps
``subset[0]``), and nothing raises IndexError. :func:`to_original_keypoints` reproduces the
original wrapper's output (including its re-indexing quirk) for equivalence checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

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
