"""HR-VITON's two networks, re-implemented for inference with the published state-dict names.

* :class:`ConditionGenerator` (``mtviton.pth``, "tocg"): two five-level encoders (garment +
  its mask; parse-agnostic + DensePose) at 256x192, a coarse-to-fine appearance flow that
  warps the garment features level by level, and a segmentation decoder fed with the warped
  features. The published configuration: ``warp_feature='T1'``, ``out_layer='relu'``,
  BatchNorm, ``ngf=96``.
* :class:`SPADEGenerator` (``gen.pth``): eight nearest-resized copies of the input feed a
  SPADE ResNet decoder from 8x6 up to 1024x768 (``num_upsampling_layers='most'``), every
  normalisation conditioned on the 7-class segmentation and preceded by learned-scale noise.
  Its ResBlock convolutions were trained with ``torch.nn.utils.spectral_norm`` (``norm_G=
  'spectralaliasinstance'``): the files hold ``weight_orig``/``weight_u``/``weight_v`` for
  them (see :func:`spectral_conv_names`); the modules here hold the plain weight eval mode
  computes from those on every call (``vto.core.models.hr_viton.weights`` folds them once).

Sampling conventions are the trained ones, spelled out: bilinear resizes and ``grid_sample``
use ``align_corners=False`` (PyTorch's default since 1.3; HR-VITON was trained on 1.8), grids
are ``linspace(-1, 1)`` as in the original, and noise is drawn on the CPU in float32 (the
original draws ``torch.randn(...)`` on the CPU and moves it) from an explicit generator.
Only the variants the published weights use are built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

# --------------------------------------------------------------------------- helpers


def identity_grid(n: int, height: int, width: int, like: Tensor) -> Tensor:
    """(n, height, width, 2) sampling grid of the original's ``make_grid``: x then y, each
    ``linspace(-1, 1)`` (the pixel-centre convention of align_corners=True, used with
    align_corners=False sampling, as trained)."""
    xs = torch.linspace(-1.0, 1.0, width, device=like.device, dtype=like.dtype)
    ys = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
    grid_x = xs.view(1, 1, width, 1).expand(n, height, -1, -1)
    grid_y = ys.view(1, height, 1, 1).expand(n, -1, width, -1)
    return torch.cat([grid_x, grid_y], 3)


def upsample2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def warp(x: Tensor, flow: Tensor, x_scale: float, y_scale: float) -> Tensor:
    """Sample ``x`` at the identity grid moved by ``flow`` (N, H, W, 2; pixels / scale)."""
    n, _, height, width = x.shape
    flow_norm = torch.cat([flow[:, :, :, 0:1] / x_scale, flow[:, :, :, 1:2] / y_scale], 3)
    grid = flow_norm + identity_grid(n, height, width, x)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# --------------------------------------------------------------------------- condition generator


class ResBlock(nn.Module):
    """``relu(s + block(s))`` with ``s`` the rescaled input (stride-2 3x3 conv, bilinear x2 +
    1x1 conv, or 1x1 conv)."""

    def __init__(self, in_channels: int, out_channels: int, scale: str) -> None:
        super().__init__()
        if scale == "down":
            self.scale: nn.Module = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1,
                                              bias=False)
        elif scale == "up":
            self.scale = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1, bias=True))
        elif scale == "same":
            self.scale = nn.Conv2d(in_channels, out_channels, 1, bias=True)
        else:
            raise ValueError(f"scale must be down, up or same, got {scale!r}")
        self.block = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        residual = self.scale(x)
        return F.relu(residual + self.block(residual))


class ConditionGenerator(nn.Module):
    """Garment warp + segmentation at 256x192 (see the module docstring)."""

    LEVELS = 5

    def __init__(self, cloth_channels: int = 4, person_channels: int = 16,
                 out_channels: int = 13, ngf: int = 96) -> None:
        super().__init__()
        widths = [ngf, ngf * 2, ngf * 4, ngf * 4, ngf * 4]   # encoder outputs, fine to coarse

        def encoder(first: int) -> nn.Sequential:
            ins = [first] + widths[:-1]
            return nn.Sequential(*(ResBlock(i, o, "down") for i, o in zip(ins, widths)))

        self.ClothEncoder = encoder(cloth_channels)
        self.PoseEncoder = encoder(person_channels)
        self.conv = ResBlock(ngf * 4, ngf * 8, "same")
        # Decoder level i takes [x, person skip, warped cloth feature] (T1: ngf*4 channels).
        self.SegDecoder = nn.Sequential(
            ResBlock(ngf * 8, ngf * 4, "up"),
            ResBlock(ngf * 4 * 2 + ngf * 4, ngf * 4, "up"),
            ResBlock(ngf * 4 * 2 + ngf * 4, ngf * 2, "up"),
            ResBlock(ngf * 2 * 2 + ngf * 4, ngf, "up"),
            ResBlock(ngf * 1 * 2 + ngf * 4, ngf, "up"))
        self.out_layer = ResBlock(ngf + cloth_channels + person_channels, out_channels, "same")
        # 1x1 lateral convs (FPN) into ngf*4 channels, indexed by encoder level 0..3.
        self.conv1 = nn.Sequential(*(nn.Conv2d(w, ngf * 4, 1, bias=True) for w in widths[:4]))
        # The person pyramid (T2) only feeds itself after the coarsest level, so conv2 never
        # reaches an output; it is loaded (it is in the file) but not run.
        self.conv2 = nn.Sequential(*(nn.Conv2d(w, ngf * 4, 1, bias=True) for w in widths[:4]))
        self.flow_conv = nn.ModuleList(
            nn.Conv2d(ngf * 8, 2, 3, padding=1, bias=True) for _ in range(self.LEVELS))
        self.bottleneck = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(w, ngf * 4, 3, padding=1, bias=True), nn.ReLU())
            for w in (ngf * 4, ngf * 4, ngf * 2, ngf)))

    def forward(self, cloth: Tensor, person: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``cloth`` (N, 4, 256, 192): garment in [-1, 1] + its 0/1 mask; ``person`` (N, 16,
        256, 192): 13-class parse-agnostic one-hot + DensePose in [-1, 1].

        Returns (flow (N, 128, 96, 2) in 128x96-grid pixels, segmentation logits (N, 13, 256,
        192) after ReLU, warped garment (N, 3, 256, 192), warped mask (N, 1, 256, 192))."""
        cloth_feats, person_feats = [], []
        c, p = cloth, person
        for cloth_block, person_block in zip(self.ClothEncoder, self.PoseEncoder):
            c, p = cloth_block(c), person_block(p)
            cloth_feats.append(c)
            person_feats.append(p)

        # coarsest level: flow from both pyramids, decoder from the person side
        t1 = cloth_feats[-1]
        flow = self.flow_conv[0](torch.cat([t1, person_feats[-1]], 1)).permute(0, 2, 3, 1)
        x = self.SegDecoder[0](self.conv(person_feats[-1]))

        for level in range(1, self.LEVELS):
            skip = self.LEVELS - 1 - level
            _, _, height, width = cloth_feats[skip].shape
            t1 = upsample2(t1) + self.conv1[skip](cloth_feats[skip])
            flow = upsample2(flow.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
            # The original scales the upsampled flow by the half-resolution grid: kept as trained.
            warped_t1 = warp(t1, flow, (width / 2 - 1.0) / 2.0, (height / 2 - 1.0) / 2.0)
            features = torch.cat([warped_t1, self.bottleneck[level - 1](x)], 1)
            residual = self.flow_conv[level](features)
            flow = flow + residual.permute(0, 2, 3, 1)
            x = self.SegDecoder[level](torch.cat([x, person_feats[skip], warped_t1], 1))

        _, _, height, width = cloth.shape
        full_flow = upsample2(flow.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        warped_cloth = warp(cloth, full_flow, (width / 2 - 1.0) / 2.0, (height / 2 - 1.0) / 2.0)
        segmentation = self.out_layer(torch.cat([x, person, warped_cloth], 1))
        return flow, segmentation, warped_cloth[:, :-1], warped_cloth[:, -1:]


# --------------------------------------------------------------------------- image generator


class SPADENorm(nn.Module):
    """Instance norm of ``x + noise``, modulated by (1 + gamma, beta) predicted from the
    segmentation. The noise is one Gaussian value per pixel, scaled per channel."""

    HIDDEN = 128

    def __init__(self, channels: int, label_channels: int) -> None:
        super().__init__()
        self.noise_scale = nn.Parameter(torch.zeros(channels))
        self.param_free_norm = nn.InstanceNorm2d(channels, affine=False)
        self.conv_shared = nn.Sequential(
            nn.Conv2d(label_channels, self.HIDDEN, 3, padding=1), nn.ReLU())
        self.conv_gamma = nn.Conv2d(self.HIDDEN, channels, 3, padding=1)
        self.conv_beta = nn.Conv2d(self.HIDDEN, channels, 3, padding=1)

    def forward(self, x: Tensor, seg: Tensor, noise: torch.Generator) -> Tensor:
        b, _, h, w = x.shape
        # The original's draw: randn(b, w, h, 1) on the CPU, scaled, then transposed to NCHW.
        draw = torch.randn(b, w, h, 1, generator=noise, dtype=torch.float32)
        noise_map = (draw.to(x.device, x.dtype) * self.noise_scale).transpose(1, 3)
        normalized = self.param_free_norm(x + noise_map)
        # normalized * (1 + gamma) + beta, the same float operations done in place: at
        # 1024x768 the 128-channel hidden map alone is 0.4 GB per sample
        actv = F.relu_(self.conv_shared[0](seg))
        gamma, beta = self.conv_gamma(actv), self.conv_beta(actv)
        del actv
        return normalized.mul_(gamma.add_(1)).add_(beta)


class SPADEResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, label_channels: int) -> None:
        super().__init__()
        self.learned_shortcut = in_channels != out_channels
        middle = min(in_channels, out_channels)
        self.conv_0 = nn.Conv2d(in_channels, middle, 3, padding=1)
        self.conv_1 = nn.Conv2d(middle, out_channels, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.norm_0 = SPADENorm(in_channels, label_channels)
        self.norm_1 = SPADENorm(middle, label_channels)
        if self.learned_shortcut:
            self.norm_s = SPADENorm(in_channels, label_channels)

    def forward(self, x: Tensor, seg: Tensor, noise: torch.Generator) -> Tensor:
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        # Draw order is the original's: shortcut norm first, then norm_0, norm_1.
        shortcut = self.conv_s(self.norm_s(x, seg, noise)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg, noise), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg, noise), 0.2))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """The try-on image generator at ``height`` x ``width`` (see the module docstring)."""

    UPSAMPLINGS = 7   # 'most': the latent grid is the output size / 2**7

    def __init__(self, input_channels: int = 9, ngf: int = 64, label_channels: int = 7,
                 height: int = 1024, width: int = 768) -> None:
        super().__init__()
        self.latent_size = (height // 2 ** self.UPSAMPLINGS, width // 2 ** self.UPSAMPLINGS)
        nf = ngf
        self.conv_0 = nn.Conv2d(input_channels, nf * 16, 3, padding=1)
        for i in range(1, 8):
            self.add_module(f"conv_{i}", nn.Conv2d(input_channels, 16, 3, padding=1))
        self.head_0 = SPADEResBlock(nf * 16, nf * 16, label_channels)
        self.G_middle_0 = SPADEResBlock(nf * 16 + 16, nf * 16, label_channels)
        self.G_middle_1 = SPADEResBlock(nf * 16 + 16, nf * 16, label_channels)
        self.up_0 = SPADEResBlock(nf * 16 + 16, nf * 8, label_channels)
        self.up_1 = SPADEResBlock(nf * 8 + 16, nf * 4, label_channels)
        self.up_2 = SPADEResBlock(nf * 4 + 16, nf * 2, label_channels)
        self.up_3 = SPADEResBlock(nf * 2 + 16, nf, label_channels)
        self.up_4 = SPADEResBlock(nf + 16, nf // 2, label_channels)
        self.conv_img = nn.Conv2d(nf // 2, 3, 3, padding=1)

    def forward(self, x: Tensor, seg: Tensor, noise: torch.Generator) -> Tensor:
        """``x`` (N, 9, H, W): agnostic person, DensePose, warped garment (all [-1, 1]);
        ``seg`` (N, 7, H, W) one-hot. Returns (N, 3, H, W) in [-1, 1]. ``noise`` is the CPU
        generator every noise draw comes from, in the original's order."""
        sh, sw = self.latent_size

        def feature(i: int) -> Tensor:  # the input at 2**i times the latent size, one conv
            sample = F.interpolate(x, size=(sh * 2 ** i, sw * 2 ** i), mode="nearest")
            return getattr(self, f"conv_{i}")(sample)

        def up(t: Tensor) -> Tensor:
            return F.interpolate(t, scale_factor=2, mode="nearest")

        h = self.head_0(feature(0), seg, noise)
        h = self.G_middle_0(torch.cat((up(h), feature(1)), 1), seg, noise)
        h = self.G_middle_1(torch.cat((up(h), feature(2)), 1), seg, noise)
        for i, block in enumerate((self.up_0, self.up_1, self.up_2, self.up_3, self.up_4)):
            h = block(torch.cat((up(h), feature(3 + i)), 1), seg, noise)
        return torch.tanh(self.conv_img(F.leaky_relu(h, 0.2)))


def spectral_conv_names(model: nn.Module) -> list[str]:
    """The convolutions trained with spectral norm (every SPADE ResBlock's conv_0, conv_1 and
    shortcut conv_s): their weight is stored as ``<name>.weight_orig/_u/_v``."""
    return [f"{name}.{conv}" for name, module in model.named_modules()
            if isinstance(module, SPADEResBlock)
            for conv in ("conv_0", "conv_1", "conv_s") if hasattr(module, conv)]


def apply_spectral_norm(model: nn.Module) -> nn.Module:
    """Wrap those convolutions in ``torch.nn.utils.spectral_norm`` (the training layout, whose
    ``state_dict`` is the published format); in place, returns ``model``. Its random ``u``/``v``
    come from the global generator, so run this under ``torch.random.fork_rng`` when that
    matters."""
    for name in spectral_conv_names(model):
        spectral_norm(model.get_submodule(name))
    return model
