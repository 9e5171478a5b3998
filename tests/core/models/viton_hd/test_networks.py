"""VITON-HD's networks: the original's tensor names, the TPS grid, the correlation layout,
the mask norm, the noise draws and the spectral-norm folding (small configs, no files)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vto.core.models.viton_hd import networks as vn

SMALL = vn.VitonHDConfig(ngf=4, height=256, width=128)


def test_state_dict_names_are_the_originals():
    seg = vn.SegGenerator(21, 13)
    gmm = vn.GMM(vn.VitonHDConfig())
    alias = vn.ALIASGenerator(vn.VitonHDConfig(ngf=4))
    names = {"seg": set(seg.state_dict()), "gmm": set(gmm.state_dict()),
             "alias": set(alias.state_dict())}
    # counts of the original's modules (shadow2496/VITON-HD networks.py, test.py options)
    assert {k: len(v) for k, v in names.items()} == {"seg": 46, "gmm": 104, "alias": 264}
    assert {"conv1.0.weight", "up6.1.weight", "conv9.6.bias"} <= names["seg"]
    assert {"extractionA.model.0.weight", "extractionA.model.2.running_var",
            "extractionB.model.15.weight", "regression.conv.10.num_batches_tracked",
            "regression.linear.weight"} <= names["gmm"]
    assert not any(k.startswith("gridGen") for k in names["gmm"])   # buffers not saved
    assert {"conv_0.weight", "conv_7.bias", "head_0.conv_0.weight_orig",
            "head_0.conv_0.weight_u", "G_middle_0.conv_s.weight_v",
            "head_0.norm_0.noise_scale", "up_4.norm_s.conv_shared.0.weight",
            "up_2.norm_1.conv_beta.bias", "conv_img.weight"} <= names["alias"]
    assert gmm.regression.linear.in_features == 768 and gmm.regression.linear.out_features == 50


def test_tps_grid_is_identity_at_zero_offsets():
    grid = vn.TpsGridGen(32, 24, 5)(torch.zeros(2, 50))
    xs = torch.tensor(np.linspace(-0.9, 0.9, 24), dtype=torch.float32)
    ys = torch.tensor(np.linspace(-0.9, 0.9, 32), dtype=torch.float32)
    assert grid.shape == (2, 32, 24, 2)
    assert torch.allclose(grid[0, :, :, 0], xs.expand(32, 24), atol=2e-5)
    assert torch.allclose(grid[1, :, :, 1], ys[:, None].expand(32, 24), atol=2e-5)


def test_tps_control_points_x_slowest_and_offsets_move_them():
    px, py = vn.control_points(3)
    assert px.tolist() == pytest.approx([-0.9] * 3 + [0.0] * 3 + [0.9] * 3)
    assert py.tolist() == pytest.approx([-0.9, 0.0, 0.9] * 3)
    gen = vn.TpsGridGen(21, 21, 3)           # control points land on pixels 0, 10, 20
    theta = torch.zeros(1, 18)
    theta[0, 4] = 0.1                         # x offset of the centre point (index 4)
    grid = gen(theta)
    assert grid[0, 10, 10, 0].item() == pytest.approx(0.1, abs=1e-5)
    assert grid[0, 10, 10, 1].item() == pytest.approx(0.0, abs=1e-5)
    assert grid[0, 0, 0, 0].item() == pytest.approx(-0.9, abs=1e-5)   # corners stay


def test_feature_correlation_layout():
    a, b = torch.randn(1, 4, 3, 2), torch.randn(1, 4, 3, 2)
    corr = vn.feature_correlation(a, b)
    assert corr.shape == (1, 6, 3, 2)
    x, y, i, j = 1, 2, 0, 1                   # channel x*h + y: A flattened column-major
    assert corr[0, x * 3 + y, i, j].item() == pytest.approx(float(a[0, :, y, x] @ b[0, :, i, j]),
                                                             rel=1e-5)


def test_mask_norm():
    x = torch.randn(2, 3, 8, 6) * 4 + 2
    assert torch.allclose(vn.mask_norm(x, torch.ones(2, 1, 8, 6)), F.instance_norm(x), atol=1e-5)
    mask = torch.zeros(2, 1, 8, 6)
    mask[..., :4, :] = 1
    shifted = x + (1 - mask) * 100            # only the background changes
    a, b = vn.mask_norm(x, mask), vn.mask_norm(shifted, mask)
    assert torch.allclose(a * mask, b * mask, atol=1e-4)


def test_alias_noise_draws_in_forward_order_width_first():
    torch.manual_seed(0)
    gen = vn.ALIASGenerator(SMALL).eval()
    shapes = []

    def draw(shape):
        shapes.append(shape)
        return torch.zeros(shape)

    with torch.no_grad():
        out = gen(torch.randn(1, 9, 256, 128), torch.rand(1, 7, 256, 128),
                  torch.rand(1, 8, 256, 128), torch.rand(1, 1, 256, 128), draw)
    assert out.shape == (1, 3, 256, 128)
    # head_0 (no shortcut): 2 norms at 2x1; every other block learns its shortcut: 3 norms
    assert len(shapes) == 2 + 7 * 3
    assert shapes[:2] == [(1, 1, 2)] * 2 and shapes[2] == (1, 2, 4)
    assert shapes[-1] == (1, 128, 256)       # (b, w, h): the original's randn(b, w, h, 1)


def test_noise_is_transposed_and_scaled_per_channel():
    norm = vn.ALIASNorm(3, 7, masked=False).eval()
    with torch.no_grad():
        norm.noise_scale.copy_(torch.tensor([0.0, 1.0, -2.0]))
        for conv in (norm.conv_shared[0], norm.conv_gamma, norm.conv_beta):
            conv.weight.zero_()
            conv.bias.zero_()
        field = torch.tensor([[[0.0, 5.0], [1.0, 2.0], [7.0, 3.0]]])      # (b, w=3, h=2)
        out = norm(torch.zeros(1, 3, 2, 3), torch.zeros(1, 7, 2, 3), None, lambda s: field)
    expect = F.instance_norm(field.transpose(1, 2)[None])[0, 0]         # [y, x] = n[x, y]
    assert torch.equal(out[0, 0], torch.zeros(2, 3))                    # scale 0: no noise
    assert torch.allclose(out[0, 1], expect, atol=1e-5)
    assert torch.allclose(out[0, 2], -expect, atol=1e-5)                # scaled per channel


def test_spectral_norm_folding_keeps_outputs():
    torch.manual_seed(0)
    block = vn.ALIASResBlock(SMALL, 20, 8, use_mask_norm=True).eval()
    for _ in range(3):                                    # move u, v off their init
        block.train()(torch.randn(1, 20, 8, 8), torch.rand(1, 8, 8, 8), torch.rand(1, 1, 8, 8),
                      lambda s: torch.zeros(s))
    block.eval()
    args = (torch.randn(1, 20, 8, 8), torch.rand(1, 8, 8, 8), torch.rand(1, 1, 8, 8))
    with torch.no_grad():
        before = block(*args, lambda s: torch.ones(s))
        assert hasattr(block.conv_0, "weight_orig")
        block.fold_spectral_norm()  # (ALIASGenerator.prepare_inference)
        after = block(*args, lambda s: torch.ones(s))
    assert not hasattr(block.conv_0, "weight_orig") and torch.equal(before, after)


def test_prepare_inference_keeps_outputs_and_names():
    torch.manual_seed(1)
    gen = vn.ALIASGenerator(SMALL).eval()
    args = (torch.randn(1, 9, 256, 128), torch.rand(1, 7, 256, 128),
            torch.rand(1, 8, 256, 128), (torch.rand(1, 1, 256, 128) > 0.5).float())

    def run():
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            return gen(*args, lambda shape: torch.randn(shape, generator=g))

    before = run()
    gen.prepare_inference()
    # Folding and fusing are exact math, but one fused convolution may sum in another order
    # than two (oneDNN picks kernels by channel count and CPU): equal up to float rounding.
    torch.testing.assert_close(run(), before, rtol=0, atol=1e-5)
    norm = gen.up_1.norm_0
    assert norm.fused and norm.conv_beta.weight.data_ptr() == \
        norm.affine_weight[norm.conv_gamma.out_channels:].data_ptr()      # views, no copy
    assert {"up_1.norm_0.conv_gamma.weight", "up_1.norm_0.conv_beta.bias"} <= set(gen.state_dict())


def test_strips_give_the_same_modulation(monkeypatch):
    torch.manual_seed(2)
    norm = vn.ALIASNorm(6, 7, masked=False).eval()
    normalized, seg = torch.randn(1, 6, 40, 768), torch.rand(1, 7, 40, 768)
    with torch.no_grad():
        whole = norm.modulate(normalized, seg)
        monkeypatch.setattr(vn, "STRIP_PIXELS", 768 * 7)         # strips of 7 rows
        # the same sums per pixel; the convolution kernels may round differently on tiny
        # strips on some CPUs, so allow float rounding (the pipeline's strips are 170 rows)
        assert torch.allclose(norm.modulate(normalized, seg), whole, rtol=0, atol=1e-6)
