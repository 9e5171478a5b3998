"""CP-VTON+'s two networks, with the published state-dict names (vto's own implementation).

* :class:`GMM` (geometric matching): two feature extractors (person representation, 22
  channels; garment mask, 1 channel), L2-normalised features, their correlation, a regressor
  to 2x5x5 control-point offsets, and the thin-plate-spline grid those offsets define.
  Parameter names: ``extractionA.model.*``, ``extractionB.model.*``, ``regression.conv.*``,
  ``regression.linear.*``; the TPS constants are not in the state dict.
* :class:`TOM` (try-on module): a 6-level U-Net (26 → 4 channels, instance norm, bilinear
  upsampling + 3x3 convolutions) whose output is split into a rendered person (tanh) and a
  composition mask (sigmoid). Parameter names ``model.model.*`` (nested skip blocks).

The weights were trained under PyTorch 0.4.1, whose ``grid_sample`` had no ``align_corners``
argument and behaved as ``align_corners=True`` (the default became False in 1.3.0); the TPS
grid is built on ``linspace(-1, 1, size)`` pixel centres, the same convention. :func:`warp`
therefore passes ``align_corners=True`` explicitly. ``nn.Upsample(mode='bilinear')`` already
meant ``align_corners=False`` in 0.4.1, as it does now.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GRID_SIZE = 5              # --grid_size: 5x5 TPS control points
GMM_PERSON_CHANNELS = 22   # body shape 1 + head 3 + pose 18
TOM_IN_CHANNELS = 26       # person representation 22 + warped garment 3 + warped mask 1
GRID_SAMPLE_ALIGN_CORNERS = True


# --------------------------------------------------------------------------- GMM

class FeatureExtraction(nn.Module):
    """Four stride-2 4x4 convolutions (64, 128, 256, 512) then two 3x3 at 512, each followed
    by ReLU and (but the last) batch norm: ``model`` indices match the original's."""

    def __init__(self, in_channels: int, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = [in_channels, width, width * 2, width * 4, width * 8]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.ReLU(),
                       nn.BatchNorm2d(cout)]
        layers += [nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(512),
                   nn.Conv2d(512, 512, 3, padding=1), nn.ReLU()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def l2_normalise(feature: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each position's channel vector divided by sqrt(|v|² + eps)."""
    norm = torch.pow(torch.sum(torch.pow(feature, 2), 1) + eps, 0.5).unsqueeze(1)
    return torch.div(feature, norm.expand_as(feature))


def correlation(person: torch.Tensor, garment: torch.Tensor) -> torch.Tensor:
    """(B, H*W, H, W): channel k holds the dot product of every garment position with the
    person feature at position k, where k runs column-major (k = x * H + y), as trained."""
    b, c, h, w = person.shape
    person_cols = person.transpose(2, 3).reshape(b, c, h * w)        # column-major positions
    garment_rows = garment.reshape(b, c, h * w).transpose(1, 2)      # (B, HW, C), row-major
    scores = torch.bmm(garment_rows, person_cols)                    # (B, HW_garment, HW_person)
    # contiguous NCHW, as every tensor was under PyTorch 0.4.1: the permuted view has
    # channels-last strides, which today's convolutions would keep (other rounding)
    return scores.view(b, h, w, h * w).permute(0, 3, 1, 2).contiguous()


class FeatureRegression(nn.Module):
    """Correlation (192 channels at 16x12) → 2·N control-point offsets in [-1, 1]."""

    def __init__(self, in_channels: int = 192, out_dim: int = 2 * GRID_SIZE ** 2) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 512, 4, stride=2, padding=1), nn.BatchNorm2d(512), nn.ReLU(),
            nn.Conv2d(512, 256, 4, stride=2, padding=1), nn.BatchNorm2d(256), nn.ReLU(),
            nn.Conv2d(256, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU())
        self.linear = nn.Linear(64 * 4 * 3, out_dim)
        self.tanh = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.tanh(self.linear(x.reshape(x.size(0), -1)))


def _tps_kernel(dist_squared: torch.Tensor) -> torch.Tensor:
    """U(r) = r² log r², with U(0) = 0 (r² = 0 is replaced by 1, as the original does)."""
    d = dist_squared.clone()
    d[d == 0] = 1
    return d * torch.log(d)


class TpsGrid(nn.Module):
    """Thin-plate-spline sampling grid from offsets of a regular GRID_SIZE² control grid.

    Control point n = i * GRID_SIZE + j sits at (x, y) = (c[i], c[j]) with c = linspace(-1, 1);
    ``theta[:, :N]`` are x offsets, ``theta[:, N:]`` y offsets. The grid maps every output
    pixel (linspace(-1, 1) over width and height) to a source position for ``grid_sample``.
    Constants are float32 as in the original (non-persistent buffers: not in the state dict).
    """

    def __init__(self, height: int, width: int, grid_size: int = GRID_SIZE) -> None:
        super().__init__()
        self.n = grid_size * grid_size
        xs, ys = np.meshgrid(np.linspace(-1, 1, width), np.linspace(-1, 1, height))
        axis = np.linspace(-1, 1, grid_size)
        px, py = np.meshgrid(axis, axis, indexing="ij")
        px = torch.tensor(px.reshape(-1), dtype=torch.float32)
        py = torch.tensor(py.reshape(-1), dtype=torch.float32)
        self.register_buffer("grid_x", torch.tensor(xs, dtype=torch.float32), persistent=False)
        self.register_buffer("grid_y", torch.tensor(ys, dtype=torch.float32), persistent=False)
        self.register_buffer("ctrl_x", px, persistent=False)
        self.register_buffer("ctrl_y", py, persistent=False)
        self.register_buffer("l_inverse", self._l_inverse(px, py), persistent=False)
        # U between every pixel and every control point: fixed, so computed once
        ux = self.grid_x[..., None] - px
        uy = self.grid_y[..., None] - py
        self.register_buffer("u", _tps_kernel(ux * ux + uy * uy), persistent=False)

    @staticmethod
    def _l_inverse(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
        """Inverse of L = [[K, P], [Pᵀ, 0]] with K_ij = U(|p_i - p_j|), P = [1, x, y]."""
        n = px.numel()
        dx = px[:, None] - px[None, :]
        dy = py[:, None] - py[None, :]
        k = _tps_kernel(dx * dx + dy * dy)
        p = torch.stack([torch.ones(n), px, py], dim=1)
        top = torch.cat([k, p], dim=1)
        bottom = torch.cat([p.t(), torch.zeros(3, 3)], dim=1)
        return torch.inverse(torch.cat([top, bottom], dim=0))

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        """(B, 2N) offsets → (B, H, W, 2) grid of (x, y) source positions."""
        n = self.n
        q_x = theta[:, :n] + self.ctrl_x
        q_y = theta[:, n:] + self.ctrl_y
        b = theta.shape[0]
        li_w = self.l_inverse[:n, :n].expand(b, n, n)
        li_a = self.l_inverse[n:, :n].expand(b, 3, n)
        out = []
        for q in (q_x, q_y):
            # batched (N, N) @ (N, 1) products, the original's kernels (same rounding)
            w = torch.bmm(li_w, q[:, :, None])[:, :, 0]      # (B, N) non-linear weights
            a = torch.bmm(li_a, q[:, :, None])[:, :, 0]      # (B, 3) affine part
            bend = torch.sum(self.u * w[:, None, None, :], dim=-1)
            out.append(a[:, 0, None, None] + a[:, 1, None, None] * self.grid_x
                       + a[:, 2, None, None] * self.grid_y + bend)
        return torch.stack(out, dim=-1)


class GMM(nn.Module):
    """Geometric matching module: (person representation, garment mask) → (grid, theta)."""

    def __init__(self, height: int = 256, width: int = 192, grid_size: int = GRID_SIZE) -> None:
        super().__init__()
        self.extractionA = FeatureExtraction(GMM_PERSON_CHANNELS)
        self.extractionB = FeatureExtraction(1)
        self.regression = FeatureRegression(in_channels=(height // 16) * (width // 16),
                                            out_dim=2 * grid_size ** 2)
        self.grid = TpsGrid(height, width, grid_size)

    def forward(self, person: torch.Tensor, garment_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        feature_a = l2_normalise(self.extractionA(person))
        feature_b = l2_normalise(self.extractionB(garment_mask))
        theta = self.regression(correlation(feature_a, feature_b))
        return self.grid(theta), theta


def warp(image: torch.Tensor, grid: torch.Tensor, padding_mode: str) -> torch.Tensor:
    """``grid_sample`` with the semantics the weights were trained with (see module doc).
    The original warps the garment with ``'border'`` and its mask with ``'zeros'``."""
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode,
                         align_corners=GRID_SAMPLE_ALIGN_CORNERS)


# --------------------------------------------------------------------------- TOM

class SkipBlock(nn.Module):
    """One U-Net level: down (LeakyReLU 0.2 → 4x4 stride-2 conv → norm), the inner levels,
    up (ReLU → 2x bilinear → 3x3 conv → norm), concatenated with its input.

    Layout of ``model`` (indices are state-dict names): outermost ``[down conv, inner, relu,
    up, conv, norm]`` (no activation before the first conv, no skip); innermost ``[lrelu,
    down conv, relu, up, conv, norm]``; others ``[lrelu, down conv, norm, inner, relu, up,
    conv, norm]``. The original's LeakyReLU is in-place, so the skip connection carries the
    *activated* input; :meth:`forward` makes that explicit.
    """

    def __init__(self, outer: int, inner: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, *, outermost: bool = False,
                 innermost: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        in_channels = outer if in_channels is None else in_channels
        down = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=True)
        up_in = inner if innermost else inner * 2
        up = [nn.ReLU(), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
              nn.Conv2d(up_in, outer, 3, padding=1, bias=True), nn.InstanceNorm2d(outer)]
        if outermost:
            layers = [down, submodule, *up]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, *up]
        else:
            layers = [nn.LeakyReLU(0.2), down, nn.InstanceNorm2d(inner), submodule, *up]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        x = self.model[0](x)  # the activated input is also the skip (in-place in the original)
        return torch.cat([x, self.model[1:](x)], 1)


class TOM(nn.Module):
    """Try-on module: ``UnetGenerator(26, 4, num_downs=6, ngf=64, InstanceNorm2d)``."""

    def __init__(self, in_channels: int = TOM_IN_CHANNELS, out_channels: int = 4,
                 num_downs: int = 6, width: int = 64) -> None:
        super().__init__()
        block = SkipBlock(width * 8, width * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = SkipBlock(width * 8, width * 8, submodule=block)
        block = SkipBlock(width * 4, width * 8, submodule=block)
        block = SkipBlock(width * 2, width * 4, submodule=block)
        block = SkipBlock(width, width * 2, submodule=block)
        self.model = SkipBlock(out_channels, width, in_channels, block, outermost=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rendered person in [-1, 1], composition mask in [0, 1])."""
        rendered, mask = torch.split(self.model(x), 3, 1)
        return torch.tanh(rendered), torch.sigmoid(mask)


def compose(warped_garment: torch.Tensor, rendered: torch.Tensor,
            mask: torch.Tensor) -> torch.Tensor:
    """The try-on image: ``c·m + r·(1 − m)``, as the original's test code."""
    return warped_garment * mask + rendered * (1 - mask)
