"""GMM/TOM: published state-dict names, TPS geometry, grid_sample semantics, the U-Net skips."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vto.core.models.cp_vton_plus.networks import (
    GMM, GRID_SAMPLE_ALIGN_CORNERS, TOM, SkipBlock, TpsGrid, compose, correlation, warp)


def test_state_dict_names_are_the_originals():
    gmm, tom = GMM().state_dict(), TOM().state_dict()
    assert len(gmm) == 104 and len(tom) == 24
    assert gmm["extractionA.model.0.weight"].shape == (64, 22, 4, 4)
    assert gmm["extractionB.model.0.weight"].shape == (64, 1, 4, 4)
    assert gmm["extractionA.model.14.running_var"].shape == (512,)
    assert gmm["extractionA.model.15.weight"].shape == (512, 512, 3, 3)
    assert gmm["regression.conv.0.weight"].shape == (512, 192, 4, 4)
    assert gmm["regression.linear.weight"].shape == (50, 768)
    assert not any(k.startswith("grid") for k in gmm)       # TPS constants are not weights
    assert tom["model.model.0.weight"].shape == (64, 26, 4, 4)
    assert tom["model.model.4.weight"].shape == (4, 128, 3, 3)
    inner = "model.model.1.model.3.model.3.model.3.model.3"
    assert tom[f"{inner}.model.1.weight"].shape == (512, 512, 4, 4)   # innermost down conv
    assert tom[f"{inner}.model.4.weight"].shape == (512, 512, 3, 3)   # innermost up conv
    assert sum(v.numel() for v in GMM().parameters()) > 19_000_000


def test_zero_offsets_give_the_identity_grid():
    tps = TpsGrid(256, 192)
    grid = tps(torch.zeros(1, 50))
    xs, ys = np.meshgrid(np.linspace(-1, 1, 192), np.linspace(-1, 1, 256))
    assert torch.allclose(grid[0, ..., 0], torch.tensor(xs, dtype=torch.float32), atol=1e-5)
    assert torch.allclose(grid[0, ..., 1], torch.tensor(ys, dtype=torch.float32), atol=1e-5)


def test_offsets_move_control_points_x_first_then_y():
    """theta[:, :25] are x offsets of control points (x, y) = (c[i], c[j]), n = 5 i + j;
    the spline interpolates: the grid at a control point is the moved point."""
    tps = TpsGrid(257, 193)              # odd sizes: control points fall on pixels
    theta = torch.zeros(1, 50)
    n = 1 * 5 + 3                        # x = c[1] = -0.5, y = c[3] = 0.5
    theta[0, n], theta[0, 25 + n] = 0.1, -0.2
    grid = tps(theta)[0]
    row, col = 192, 48                   # y = 0.5 -> row 192 of 257; x = -0.5 -> col 48 of 193
    assert torch.allclose(grid[row, col], torch.tensor([-0.4, 0.3]), atol=1e-4)
    assert torch.allclose(grid[0, 0], torch.tensor([-1.0, -1.0]), atol=1e-4)   # corner fixed


def test_grid_sample_uses_align_corners_true_as_trained():
    """PyTorch 0.4.1 (the weights') sampled with align_corners=True semantics: the TPS
    convention's identity grid (linspace(-1, 1) over pixel centres) reproduces the image.
    With today's default (False) the same grid resamples half a pixel off and blurs."""
    assert GRID_SAMPLE_ALIGN_CORNERS is True
    image = torch.rand(1, 3, 256, 192)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 256), torch.linspace(-1, 1, 192), indexing="ij")
    grid = torch.stack([xs, ys], -1)[None]
    assert (warp(image, grid, "border") - image).abs().max() < 1e-3   # float rounding only
    modern = F.grid_sample(image, grid, padding_mode="border", align_corners=False)
    assert (modern - image).abs().max() > 0.1
    # the garment is warped with border padding, its mask with zeros: outside stays 0
    far = torch.full((1, 4, 4, 2), 3.0)
    assert warp(torch.ones(1, 1, 8, 8), far, "zeros").abs().max() == 0
    assert warp(torch.ones(1, 1, 8, 8), far, "border").min() == 1


def test_correlation_channels_are_column_major_person_positions():
    torch.manual_seed(0)
    a, b = torch.rand(1, 4, 3, 2), torch.rand(1, 4, 3, 2)
    corr = correlation(a, b)
    assert corr.shape == (1, 6, 3, 2) and corr.is_contiguous()
    for x in range(2):
        for y in range(3):
            k = x * 3 + y
            expected = (a[0, :, y, x, None, None] * b[0]).sum(0)
            assert torch.allclose(corr[0, k], expected, atol=1e-6)


def test_skip_connection_carries_the_activated_input():
    """The original's in-place LeakyReLU rewrites the block input before it is concatenated."""
    torch.manual_seed(0)
    block = SkipBlock(8, 16, innermost=True).eval()
    x = torch.randn(1, 8, 8, 8)
    out = block(x.clone())
    assert torch.equal(out[:, :8], F.leaky_relu(x, 0.2))
    assert out.shape == (1, 16, 8, 8)


def test_tom_splits_rendered_and_mask_and_composes():
    torch.manual_seed(0)
    rendered, mask = TOM().eval()(torch.randn(1, 26, 256, 192))
    assert rendered.shape == (1, 3, 256, 192) and mask.shape == (1, 1, 256, 192)
    assert rendered.abs().max() <= 1 and 0 <= mask.min() and mask.max() <= 1
    garment = torch.ones(1, 3, 256, 192)
    tryon = compose(garment, rendered, mask)
    assert torch.allclose(tryon, mask + rendered * (1 - mask))
