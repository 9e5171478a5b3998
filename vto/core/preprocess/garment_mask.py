"""The garment's silhouette from a product photo on a plain (or near-plain) background.

VITON-HD, HR-VITON and CP-VTON+ take a ``cloth-mask`` beside the garment image: a binary
image of the same size, garment white (255), background black (0). Their datasets read it
as ``np.array(mask) >= 128`` after a NEAREST resize, so :func:`garment_mask` returns an
``"L"`` image holding only 0 and 255 with the garment's outline filled (the datasets' masks
are solid silhouettes: prints, logos and the inside of the collar are garment).

Method (no learned model; a plain studio background is assumed):

1. An alpha channel that really cuts something out is the answer (PNG cut-outs).
2. Otherwise work on a copy whose longer side is at most 512 px, in CIELAB, so colour
   distances are perceptual (ΔE76).
3. Background: a quadratic surface per Lab channel, fitted robustly to a thin band along the
   border (outliers, e.g. where the garment touches the border, are dropped and the fit
   repeated). It follows vignetting and light gradients that a single colour would not.
4. Coarse mask: ΔE to that surface above a margin set from the band's own noise (median +
   6 robust sigmas, at least 4 ΔE); opening, the largest connected component, closing,
   holes filled.
5. Refinement: GrabCut (OpenCV) in a band around the coarse outline only — the eroded coarse
   mask stays garment, everything far outside stays background. Its colour models and
   contrast-sensitive boundary term put the outline on the actual edge (the distance
   threshold alone sits a few pixels outside blurred edges) and recover faint edges of
   white garments on white-ish backgrounds that colour distance misses.
6. The largest component again, holes filled, resized back (linear, then >= 128).

Known limits (upload a ``garment_mask`` instead): busy or textured backgrounds (refused
when the border is busy or less than half of it looks like one background); a garment of the
background's own colour whose edge shows no line or shadow at all; see-through gaps enclosed
by the garment (between a strap and the body) are filled; only the largest piece is kept; a
soft drop shadow next to the garment can be partly included.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from vto.errors import InvalidInput

WORK_SIDE = 512              # longer side of the working copy
_BAND = 0.015                # border band width, fraction of the shorter side
_MIN_DELTA_E = 4.0           # colour differences below this (ΔE76) are never garment
_NOISE_SIGMAS = 6.0          # margin above the background's own noise
_MIN_BACKGROUND = 0.5        # at least half the border band must look like the background
_MAX_NOISE = 5.0             # a plain background varies less than this (robust sigma, ΔE)
_MIN_AREA = 0.005            # a garment covers at least 0.5% of the photo
_GRABCUT_ITERATIONS = 5
_SURE_IN, _MAYBE_OUT = 0.015, 0.05   # refinement band, fractions of the shorter side


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Set every pixel that the image border cannot reach through background."""
    padded = np.pad(mask.astype(np.uint8) * 255, 1)
    flooded = padded.copy()
    cv2.floodFill(flooded, None, (0, 0), 255)
    return (padded | ~flooded)[1:-1, 1:-1] != 0


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _solid(mask: np.ndarray) -> np.ndarray:
    return _fill_holes(_largest_component(mask))


def _quadratic_terms(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Design matrix [1, x, y, x², y², xy] (coordinates scaled to [-1, 1])."""
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, ys * ys, xs * ys], axis=1)


def background_distance(lab: np.ndarray) -> tuple[np.ndarray, float]:
    """(ΔE of every pixel to the fitted background, the garment threshold on it).

    Raises InvalidInput when the border band is busy (its robust sigma above 5 ΔE) or less
    than half of it fits one smooth background.
    """
    height, width = lab.shape[:2]
    band = max(2, int(round(_BAND * min(height, width))))
    ring = np.zeros((height, width), bool)
    ring[:band], ring[-band:], ring[:, :band], ring[:, -band:] = True, True, True, True
    ys, xs = np.nonzero(ring)
    gx = np.linspace(-1.0, 1.0, width)
    gy = np.linspace(-1.0, 1.0, height)
    terms = _quadratic_terms(gx[xs], gy[ys])
    samples = lab[ys, xs].astype(np.float64)
    coef = np.zeros((terms.shape[1], 3))
    coef[0] = np.median(samples, axis=0)               # start from the median colour
    for _ in range(4):                                 # refit on the inliers
        dist = np.linalg.norm(samples - terms @ coef, axis=1)
        spread = max(1.4826 * float(np.median(np.abs(dist - np.median(dist)))), 0.5)
        inliers = dist <= np.median(dist) + 3.0 * spread
        coef = np.linalg.lstsq(terms[inliers], samples[inliers], rcond=None)[0]
    dist = np.linalg.norm(samples - terms @ coef, axis=1)
    noise = 1.4826 * float(np.median(np.abs(dist - np.median(dist))))
    threshold = max(_MIN_DELTA_E, float(np.median(dist)) + _NOISE_SIGMAS * noise)
    if noise > _MAX_NOISE or (dist <= threshold).mean() < _MIN_BACKGROUND:
        raise InvalidInput("the garment photo has no plain background to cut the garment "
                           "out of; upload a garment mask with it")
    mesh_x, mesh_y = np.meshgrid(gx, gy)
    surface = (_quadratic_terms(mesh_x.ravel(), mesh_y.ravel()) @ coef).reshape(lab.shape)
    return np.linalg.norm(lab - surface, axis=2), threshold


def coarse_mask(rgb: np.ndarray) -> np.ndarray:
    """Colour distance to the background, thresholded and cleaned (bool, rgb's size)."""
    smooth = cv2.GaussianBlur(rgb, (3, 3), 0)          # JPEG block noise
    lab = cv2.cvtColor(smooth.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    distance, threshold = background_distance(lab)
    radius = max(1, min(rgb.shape[:2]) // 250)
    found = (distance > threshold).astype(np.uint8)
    found = cv2.morphologyEx(found, cv2.MORPH_OPEN, _disk(radius))
    found = _largest_component(found).astype(np.uint8)
    found = cv2.morphologyEx(found, cv2.MORPH_CLOSE, _disk(2 * radius))
    return _fill_holes(found != 0)


def refine(rgb: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """GrabCut within a band around ``coarse``'s outline (bool in, bool out)."""
    short = min(rgb.shape[:2])
    inside = cv2.erode(coarse.astype(np.uint8), _disk(max(1, round(_SURE_IN * short)))) != 0
    near = cv2.dilate(coarse.astype(np.uint8), _disk(max(2, round(_MAYBE_OUT * short)))) != 0
    if not inside.any():                               # too thin to hold a sure interior
        return coarse
    labels = np.full(coarse.shape, cv2.GC_BGD, np.uint8)
    labels[near] = cv2.GC_PR_BGD
    labels[coarse] = cv2.GC_PR_FGD
    labels[inside] = cv2.GC_FGD
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models with k-means++ drawn from OpenCV's per-thread RNG;
    # without a fixed seed the same photo gives a slightly different mask on every call.
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), labels, None, background_model,
                    foreground_model, _GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:      # degenerate colour statistics (e.g. a flat band): keep coarse
        return coarse
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _alpha_mask(image: Image.Image) -> np.ndarray | None:
    """The alpha channel as a mask when it actually cuts the garment out."""
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        return None
    alpha = np.asarray(image.convert("RGBA"))[:, :, 3]
    if (alpha < 128).mean() < 0.01:      # opaque (or nearly): decide from the colours
        return None
    return alpha >= 128


def garment_mask(image: Image.Image) -> Image.Image:
    """The garment's silhouette: an ``"L"`` image of ``image``'s size, 255 = garment and
    0 = background, no other values.

    Raises :class:`~vto.errors.InvalidInput` when the photo has no plain background or no
    garment stands out from it (the caller should ask for an uploaded mask).
    """
    width, height = image.size
    alpha = _alpha_mask(image)
    if alpha is not None:
        mask = _solid(alpha)
    else:
        rgb = np.asarray(image.convert("RGB"))
        scale = min(1.0, WORK_SIDE / max(width, height))
        if scale < 1.0:
            work_size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = cv2.resize(rgb, work_size, interpolation=cv2.INTER_AREA)
        mask = _solid(refine(rgb, coarse_mask(rgb)))
    if mask.mean() < _MIN_AREA:
        raise InvalidInput("no garment found in the garment photo (the background should be "
                           "plain); upload a garment mask with it")
    out = mask.astype(np.uint8) * 255
    if out.shape != (height, width):
        out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
        out = np.where(out >= 128, 255, 0).astype(np.uint8)
    return Image.fromarray(out, "L")
