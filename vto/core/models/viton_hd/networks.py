"""VITON-HD's three networks (shadow2496/VITON-HD ``networks.py``), re-implemented for inference.

* :class:`SegGenerator` — a U-Net that predicts the 13-class try-on segmentation at 256x192;
* :class:`GMM` — the geometric matching module: two feature pyramids, a correlation volume and
  a regressor for the offsets of a thin-plate-spline (TPS) grid, evaluated at 1024x768;
* :class:`ALIASGenerator` — the ALIAS generator (SPADE-like residual blocks whose normalisation
  is the ALIAS norm: instance norm, or "mask norm" that normalises the misaligned region and
  the rest separately, then modulates with convolutions of the segmentation).

Module and parameter names are the original's, so the published ``seg_final.pth``,
``gmm_final.pth`` and ``alias_final.pth`` state dicts load strictly. Training-only parts are left
out (dropout, weight init, BatchNorm updates); no module draws random numbers itself: the ALIAS
norms call a ``draw_noise`` function the caller passes in (see :data:`DrawNoise`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# (b, w, h) -> a standard-normal tensor of that shape. The original draws
# ``torch.randn(b, w, h, 1)`` (note: width before height) in every ALIAS norm, in forward order.
DrawNoise = Callable[[tuple[int, int, int]], torch.Tensor]

NHIDDEN = 128          # ALIAS norm hidden width (hard-coded in the original)
NUM_UP_LAYERS = 7      # test.py's num_upsampling_layers='most'
STRIP_PIXELS = 2 ** 17  # ALIAS norm modulation on the CPU: pixels per strip (see modulate)


@dataclass(frozen=True)
class VitonHDConfig:
    """test.py's options that shape the networks. The published files need the defaults:
    ngf=64, grid_size=5, norm_G='spectralaliasinstance' (``spectral``), semantic_nc=13 (7 in
    the generator), num_upsampling_layers='most', load size 1024x768. ``ngf`` and
    ``grid_size`` are read back from the files (vto.dev writes narrow ``ngf`` for tests)."""

    ngf: int = 64
    grid_size: int = 5
    spectral: bool = True
    height: int = 1024
    width: int = 768
    semantic_nc: int = 13          # SegGenerator classes
    alias_nc: int = 7              # ALIAS generator segmentation classes


# --------------------------------------------------------------------------- SegGenerator

def _conv_block(cin: int, cout: int, layers: int = 2) -> list[nn.Module]:
    out: list[nn.Module] = []
    for i in range(layers):
        out += [nn.Conv2d(cin if i == 0 else cout, cout, kernel_size=3, padding=1),
                nn.InstanceNorm2d(cout), nn.ReLU()]
    return out


class SegGenerator(nn.Module):
    """U-Net, 4 poolings, widths 64..1024, sigmoid output. (The original's dropout after
    conv4/conv5 is inactive at inference and left out; it holds no parameters.)"""

    def __init__(self, input_nc: int, output_nc: int = 13) -> None:
        super().__init__()
        widths = [64, 128, 256, 512, 1024]
        cin = input_nc
        for i, w in enumerate(widths, start=1):
            setattr(self, f"conv{i}", nn.Sequential(*_conv_block(cin, w)))
            cin = w
        for i, w in zip(range(6, 10), reversed(widths[:-1])):
            setattr(self, f"up{i}", nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                  *_conv_block(w * 2, w, layers=1)))
            block = _conv_block(w * 2, w)
            if i == 9:
                block.append(nn.Conv2d(w, output_nc, kernel_size=3, padding=1))
            setattr(self, f"conv{i}", nn.Sequential(*block))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.conv1(x)
        c2 = self.conv2(self.pool(c1))
        c3 = self.conv3(self.pool(c2))
        c4 = self.conv4(self.pool(c3))
        c5 = self.conv5(self.pool(c4))
        c6 = self.conv6(torch.cat((c4, self.up6(c5)), 1))
        c7 = self.conv7(torch.cat((c3, self.up7(c6)), 1))
        c8 = self.conv8(torch.cat((c2, self.up8(c7)), 1))
        c9 = self.conv9(torch.cat((c1, self.up9(c8)), 1))
        return torch.sigmoid(c9)


# --------------------------------------------------------------------------- GMM

class FeatureExtraction(nn.Module):
    """Four stride-2 4x4 convs (64, 128, 256, 512) then two 3x3 at 512; ReLU *before* BatchNorm,
    as the original orders them (``model.<i>`` indices must match)."""

    def __init__(self, input_nc: int, ngf: int = 64, num_layers: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        nf_prev, nf = input_nc, ngf
        for i in range(num_layers):
            layers += [nn.Conv2d(nf_prev, nf, kernel_size=4, stride=2, padding=1), nn.ReLU(),
                       nn.BatchNorm2d(nf)]
            nf_prev, nf = nf, min(nf * 2, 512)
        layers += [nn.Conv2d(nf_prev, 512, kernel_size=3, padding=1), nn.ReLU(), nn.BatchNorm2d(512)]
        layers += [nn.Conv2d(512, 512, kernel_size=3, padding=1), nn.ReLU()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def feature_correlation(feature_a: torch.Tensor, feature_b: torch.Tensor) -> torch.Tensor:
    """(b, c, h, w) x 2 -> (b, w*h, h, w): channel k = w_a*h + h_a of A, i.e. A is flattened
    column-major (the original permutes A to (b, w, h, c)), B row-major."""
    b, c, h, w = feature_a.shape
    a = feature_a.permute(0, 3, 2, 1).reshape(b, w * h, c)
    return torch.bmm(a, feature_b.reshape(b, c, h * w)).reshape(b, w * h, h, w)


class FeatureRegression(nn.Module):
    def __init__(self, input_nc: int, output_size: int) -> None:
        super().__init__()
        spec = [(input_nc, 512, 4, 2), (512, 256, 4, 2), (256, 128, 3, 1), (128, 64, 3, 1)]
        layers: list[nn.Module] = []
        for cin, cout, k, s in spec:
            layers += [nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=1),
                       nn.BatchNorm2d(cout), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.linear = nn.Linear(64 * (input_nc // 16), output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return torch.tanh(self.linear(x.reshape(x.size(0), -1)))


def control_points(grid_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The TPS control points P (N = grid_size**2 each, float32 from float64 as the original),
    in the original's order: x varies slowest (its ``P_Y, P_X = np.meshgrid(coords, coords)``)."""
    coords = np.linspace(-0.9, 0.9, grid_size)
    py, px = np.meshgrid(coords, coords)
    return (torch.tensor(px.reshape(-1), dtype=torch.float32),
            torch.tensor(py.reshape(-1), dtype=torch.float32))


def _tps_radial(d2: torch.Tensor) -> torch.Tensor:
    """U = r^2 log r^2, with U(0) = 0 (the original sets r^2 = 1 where it is exactly 0)."""
    d2 = torch.where(d2 == 0, torch.ones_like(d2), d2)
    return d2 * torch.log(d2)


class TpsGridGen(nn.Module):
    """Thin-plate-spline sampling grid over [-0.9, 0.9]^2 at height x width.

    The arithmetic is the original's, in float32 and in its order: its float32 ``L^-1`` and
    its 25-term sums are where its rounding comes from (a float64 solve moves the grid by
    ~2e-5, 0.01 px: a grey level at a sharp garment edge), so vto keeps them. What changes is
    memory: the radial-basis table U is built once, (HW, N), instead of five broadcast
    (b, H, W, 1, N) tensors per call."""

    def __init__(self, height: int, width: int, grid_size: int) -> None:
        super().__init__()
        px, py = control_points(grid_size)
        n = px.numel()
        # L = [[K, P], [P^T, 0]], K_ij = U(|p_i - p_j|), P = [1, x, y]
        k = _tps_radial(torch.pow(px[:, None] - px[None], 2) + torch.pow(py[:, None] - py[None], 2))
        p = torch.stack([torch.ones(n), px, py], dim=1)
        lmat = torch.cat([torch.cat([k, p], 1), torch.cat([p.T, torch.zeros(3, 3)], 1)], 0)
        self.height, self.width, self.n = height, width, n
        self.register_buffer("li", torch.linalg.inv(lmat), persistent=False)
        self.register_buffer("base", torch.cat([px, py]), persistent=False)
        self._table: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def table(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(U (HW, N), x (HW,), y (HW,)) of the target pixels, built on first use (80 MB at
        1024x768, so constructing a GMM stays cheap) and kept on ``device``."""
        if self._table is None or self._table[0].device != device:
            px, py = self.base[: self.n].cpu(), self.base[self.n:].cpu()
            # target grid: np.linspace(-0.9, 0.9, size) in float64, then float32
            gx = torch.tensor(np.linspace(-0.9, 0.9, self.width), dtype=torch.float32)
            gy = torch.tensor(np.linspace(-0.9, 0.9, self.height), dtype=torch.float32)
            xx = gx.repeat(self.height)                  # (HW,) row-major pixels
            yy = gy.repeat_interleave(self.width)
            radial = _tps_radial(torch.pow(xx[:, None] - px[None], 2)
                                 + torch.pow(yy[:, None] - py[None], 2))
            self._table = (radial.to(device), xx.to(device), yy.to(device))
        return self._table

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        """theta (b, 2N): x then y offsets of the control points -> grid (b, H, W, 2)."""
        b, n = theta.size(0), self.n
        radial, xx, yy = self.table(theta.device)
        coords = []
        for q in (theta[:, :n] + self.base[:n], theta[:, n:] + self.base[n:]):
            q = q.unsqueeze(2)                                             # (b, N, 1)
            w = torch.bmm(self.li[:n, :n].expand(b, n, n), q)              # spline weights
            a = torch.bmm(self.li[n:, :n].expand(b, 3, n), q)              # affine part
            spline = torch.sum(w.transpose(1, 2) * radial, dim=-1)         # (b, HW)
            coords.append(a[:, 0] + a[:, 1] * xx + a[:, 2] * yy + spline)
        return torch.stack(coords, dim=-1).reshape(b, self.height, self.width, 2)


class GMM(nn.Module):
    """Geometric matching: person representation (A, 7 ch) vs garment (B, 3 ch) at 256x192."""

    def __init__(self, config: VitonHDConfig, input_a_nc: int = 7, input_b_nc: int = 3) -> None:
        super().__init__()
        self.extractionA = FeatureExtraction(input_a_nc, ngf=64, num_layers=4)
        self.extractionB = FeatureExtraction(input_b_nc, ngf=64, num_layers=4)
        self.regression = FeatureRegression(
            input_nc=(config.width // 64) * (config.height // 64),
            output_size=2 * config.grid_size ** 2)
        self.gridGen = TpsGridGen(config.height, config.width, config.grid_size)

    def forward(self, input_a: torch.Tensor, input_b: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        feature_a = F.normalize(self.extractionA(input_a), dim=1)
        feature_b = F.normalize(self.extractionB(input_b), dim=1)
        theta = self.regression(feature_correlation(feature_a, feature_b))
        return theta, self.gridGen(theta)


# --------------------------------------------------------------------------- ALIAS generator

def mask_norm(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The original's MaskNorm: instance-normalise the masked region and the rest separately
    (each region filled with its own mean outside it, then scaled by sqrt(area fraction))."""

    def region_norm(region: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        h, w = region.shape[2:]
        num_pixels = m.sum((2, 3), keepdim=True)
        num_pixels[num_pixels == 0] = 1
        mu = region.sum((2, 3), keepdim=True) / num_pixels
        normalized = F.instance_norm(region + (1 - m) * mu, eps=1e-5)
        return normalized * torch.sqrt(num_pixels / (h * w))

    return region_norm(x * mask, mask) + region_norm(x * (1 - mask), 1 - mask)


class ALIASNorm(nn.Module):
    """Noise injection, a parameter-free norm (instance, or :func:`mask_norm` when ``masked``),
    then ``normalized * (1 + gamma(seg)) + beta(seg)``."""

    def __init__(self, norm_nc: int, label_nc: int, masked: bool) -> None:
        super().__init__()
        self.masked = masked
        self.noise_scale = nn.Parameter(torch.zeros(norm_nc))
        self.conv_shared = nn.Sequential(nn.Conv2d(label_nc, NHIDDEN, kernel_size=3, padding=1),
                                         nn.ReLU(inplace=True))
        self.conv_gamma = nn.Conv2d(NHIDDEN, norm_nc, kernel_size=3, padding=1)
        self.conv_beta = nn.Conv2d(NHIDDEN, norm_nc, kernel_size=3, padding=1)
        self.fused = False

    def fuse_affine(self) -> None:
        """Compute gamma and beta with one convolution (their weights stacked): the same
        sums per output channel, one pass over the 128-channel activations instead of two.
        The two convolutions' parameters become views of the stacked tensors (no copy)."""
        gamma, beta = self.conv_gamma, self.conv_beta
        weight = torch.cat([gamma.weight, beta.weight]).detach()
        bias = torch.cat([gamma.bias, beta.bias]).detach()
        c = gamma.out_channels
        gamma.weight.data, beta.weight.data = weight[:c], weight[c:]
        gamma.bias.data, beta.bias.data = bias[:c], bias[c:]
        self.register_buffer("affine_weight", weight, persistent=False)
        self.register_buffer("affine_bias", bias, persistent=False)
        self.fused = True

    def forward(self, x: torch.Tensor, seg: torch.Tensor, misalign_mask: torch.Tensor | None,
                draw_noise: DrawNoise) -> torch.Tensor:
        b, c, h, w = x.shape
        # one (w, h) field per image, transposed to (h, w), scaled per channel
        noise = draw_noise((b, w, h)).to(x).transpose(1, 2).unsqueeze(1)
        x = x + noise * self.noise_scale.view(1, -1, 1, 1)
        if self.masked:
            normalized = mask_norm(x, misalign_mask)
        else:
            normalized = F.instance_norm(x, eps=1e-5)
        return self.modulate(normalized, seg)

    def modulate(self, normalized: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """``normalized * (1 + gamma) + beta`` with gamma, beta = convs of relu(conv(seg)).

        On the CPU, in horizontal strips of about :data:`STRIP_PIXELS` pixels (with the two
        rows of context the two 3x3 convolutions need): the 128-channel activations of a
        1024x768 map would take 400 MB at once. Every pixel gets the same sums as in one
        pass (bit-identical outputs in tools/equivalence/viton_hd)."""
        c, height, width = normalized.shape[1:]
        rows = height if normalized.device.type != "cpu" else max(1, STRIP_PIXELS // width)
        out = torch.empty_like(normalized) if rows < height else None
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            above, below = max(0, top - 2), min(height, bottom + 2)
            actv = self.conv_shared(seg[:, :, above:below])
            if self.fused:
                gamma_beta = F.conv2d(actv, self.affine_weight, self.affine_bias, padding=1)
                gamma, beta = gamma_beta[:, :, top - above:bottom - above].split(c, 1)
            else:
                gamma = self.conv_gamma(actv)[:, :, top - above:bottom - above]
                beta = self.conv_beta(actv)[:, :, top - above:bottom - above]
            del actv
            strip = normalized[:, :, top:bottom] * (1 + gamma) + beta
            if out is None:
                return strip
            out[:, :, top:bottom] = strip
        return out


class ALIASResBlock(nn.Module):
    """Pre-activation residual block with ALIAS norms; a learned 1x1 shortcut when the width
    changes. ``use_mask_norm`` blocks see the 8-channel ``seg_div`` and the misalignment mask."""

    def __init__(self, config: VitonHDConfig, input_nc: int, output_nc: int,
                 use_mask_norm: bool = True) -> None:
        super().__init__()
        self.learned_shortcut = input_nc != output_nc
        middle_nc = min(input_nc, output_nc)
        self.conv_0 = nn.Conv2d(input_nc, middle_nc, kernel_size=3, padding=1)
        self.conv_1 = nn.Conv2d(middle_nc, output_nc, kernel_size=3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(input_nc, output_nc, kernel_size=1, bias=False)
        if config.spectral:
            # torch's own (hook-based) spectral norm: the state-dict names the files use
            # (weight_orig, weight_u, weight_v); folded into plain weights after loading.
            for name in ("conv_0", "conv_1", "conv_s"):
                if hasattr(self, name):
                    setattr(self, name, nn.utils.spectral_norm(getattr(self, name)))
        label_nc = config.alias_nc + 1 if use_mask_norm else config.alias_nc
        self.norm_0 = ALIASNorm(input_nc, label_nc, use_mask_norm)
        self.norm_1 = ALIASNorm(middle_nc, label_nc, use_mask_norm)
        if self.learned_shortcut:
            self.norm_s = ALIASNorm(input_nc, label_nc, use_mask_norm)

    def fold_spectral_norm(self) -> None:
        for name in ("conv_0", "conv_1", "conv_s"):
            conv = getattr(self, name, None)
            if conv is not None and hasattr(conv, "weight_orig"):
                nn.utils.remove_spectral_norm(conv)

    def forward(self, x: torch.Tensor, seg: torch.Tensor, misalign_mask: torch.Tensor | None,
                draw_noise: DrawNoise) -> torch.Tensor:
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        if misalign_mask is not None:
            misalign_mask = F.interpolate(misalign_mask, size=x.shape[2:], mode="nearest")
        # the shortcut's norm runs (and draws its noise) first, as in the original
        x_s = self.conv_s(self.norm_s(x, seg, misalign_mask, draw_noise)) \
            if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg, misalign_mask, draw_noise), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg, misalign_mask, draw_noise), 0.2))
        return x_s + dx


class ALIASGenerator(nn.Module):
    """From an 8x6 feature map up to 1024x768 (num_upsampling_layers='most'); every scale also
    gets a 16-channel convolution of the input resized to it (``conv_1`` .. ``conv_7``)."""

    def __init__(self, config: VitonHDConfig, input_nc: int = 9) -> None:
        super().__init__()
        nf = config.ngf
        self.sh = config.height // 2 ** NUM_UP_LAYERS
        self.sw = config.width // 2 ** NUM_UP_LAYERS
        self.conv_0 = nn.Conv2d(input_nc, nf * 16, kernel_size=3, padding=1)
        for i in range(1, 8):
            setattr(self, f"conv_{i}", nn.Conv2d(input_nc, 16, kernel_size=3, padding=1))
        block = lambda cin, cout, masked=True: ALIASResBlock(config, cin, cout, masked)  # noqa: E731
        self.head_0 = block(nf * 16, nf * 16)
        self.G_middle_0 = block(nf * 16 + 16, nf * 16)
        self.G_middle_1 = block(nf * 16 + 16, nf * 16)
        self.up_0 = block(nf * 16 + 16, nf * 8)
        self.up_1 = block(nf * 8 + 16, nf * 4)
        self.up_2 = block(nf * 4 + 16, nf * 2, masked=False)
        self.up_3 = block(nf * 2 + 16, nf * 1, masked=False)
        self.up_4 = block(nf * 1 + 16, nf // 2, masked=False)
        self.conv_img = nn.Conv2d(nf // 2, 3, kernel_size=3, padding=1)

    def prepare_inference(self) -> None:
        """After loading the state dict and moving to the device: replace each spectral-norm
        hook by its inference weight ``weight_orig / sigma`` (sigma = u^T W v from the stored
        u, v: what the hook computes in eval mode, where it does no power iteration), and
        fuse each norm's gamma and beta convolutions. Outputs are unchanged."""
        for module in self.modules():
            if isinstance(module, ALIASResBlock):
                module.fold_spectral_norm()
            elif isinstance(module, ALIASNorm):
                module.fuse_affine()

    def forward(self, x: torch.Tensor, seg: torch.Tensor, seg_div: torch.Tensor,
                misalign_mask: torch.Tensor, draw_noise: DrawNoise) -> torch.Tensor:
        feats = [getattr(self, f"conv_{i}")(
                 F.interpolate(x, size=(self.sh * 2 ** i, self.sw * 2 ** i), mode="nearest"))
                 for i in range(8)]
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        h = self.head_0(feats[0], seg_div, misalign_mask, draw_noise)
        h = self.G_middle_0(torch.cat((up(h), feats[1]), 1), seg_div, misalign_mask, draw_noise)
        h = self.G_middle_1(torch.cat((up(h), feats[2]), 1), seg_div, misalign_mask, draw_noise)
        h = self.up_0(torch.cat((up(h), feats[3]), 1), seg_div, misalign_mask, draw_noise)
        h = self.up_1(torch.cat((up(h), feats[4]), 1), seg_div, misalign_mask, draw_noise)
        h = self.up_2(torch.cat((up(h), feats[5]), 1), seg, None, draw_noise)
        h = self.up_3(torch.cat((up(h), feats[6]), 1), seg, None, draw_noise)
        h = self.up_4(torch.cat((up(h), feats[7]), 1), seg, None, draw_noise)
        return torch.tanh(self.conv_img(F.leaky_relu(h, 0.2)))
