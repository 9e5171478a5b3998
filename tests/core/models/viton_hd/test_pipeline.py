"""The pieces of VITON-HD's inference around the networks: noise, blur, label groups, output."""

from __future__ import annotations

import math

import pytest
import torch

from vto.core.models.viton_hd import pipeline as vp


def test_noise_source_is_seeded_and_ordered():
    a, b, c = vp.NoiseSource(5), vp.NoiseSource(5), vp.NoiseSource(6)
    first = a.seg_noise((1, 1, 256, 192))
    assert torch.equal(first, b.seg_noise((1, 1, 256, 192)))
    assert not torch.equal(first, c.seg_noise((1, 1, 256, 192)))
    assert torch.equal(a.normal((1, 4, 3)), b.normal((1, 4, 3)))     # the stream continues
    # the same numbers as torch.randn from Generator().manual_seed(5), in order
    gen = torch.Generator().manual_seed(5)
    z = torch.randn((1, 1, 256, 192), generator=gen)
    assert torch.equal(first, (torch.round(z * 255) >= 255).float())
    assert torch.equal(vp.NoiseSource(5).seg_noise((1, 1, 256, 192)), first)


def test_seg_noise_is_gen_noise_distributed():
    noise = vp.NoiseSource(0).seg_noise((1, 1, 256, 192))
    assert set(noise.unique().tolist()) == {0.0, 1.0}
    # P(round(255 z) >= 255) = P(z >= 254.5 / 255) = 0.159
    expected = 0.5 * math.erfc(254.5 / 255 / math.sqrt(2))
    assert noise.mean().item() == pytest.approx(expected, abs=0.01)


def test_gaussian_kernel():
    kernel = vp.gaussian_kernel()
    assert kernel.shape == (15, 15) and kernel.dtype == torch.float32
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(kernel, kernel.T) and kernel.argmax().item() == 7 * 15 + 7
    taps = torch.tensor([math.exp(-(x - 7) ** 2 / 18) for x in range(15)])
    taps = taps / taps.sum()
    assert torch.allclose(kernel, taps[:, None] * taps[None], atol=1e-7)


def test_generator_groups_are_test_pys_labels():
    labels = {0: [0], 1: [2, 4, 7, 8, 9, 10, 11], 2: [3], 3: [1], 4: [5], 5: [6], 6: [12]}
    assert {g: [c for c, x in enumerate(vp.GENERATOR_GROUPS) if x == g] for g in labels} == labels


def test_to_uint8_truncates_like_save_images():
    out = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0, 2.0]).view(1, 3, 1, 2)
    values = vp.to_uint8(out)
    assert values.shape == (1, 1, 2, 3) and values.dtype == torch.uint8
    # (x + 1) * 0.5 * 255, clamped, truncated: 0 -> 127 (not 128), 0.999 -> 254
    assert values.permute(0, 3, 1, 2).flatten().tolist() == [0, 0, 127, 254, 255, 255]
