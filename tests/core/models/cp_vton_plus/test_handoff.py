"""GMM → TOM handoff: the original's quantisation and threshold, with or without its JPEG."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from vto.core.models.cp_vton_plus.handoff import DEFAULT_HANDOFF, Handoff, hand_over, to_uint8
from vto.core.models.cp_vton_plus.inputs import normalise


def smooth_garment() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 256), torch.linspace(-1, 1, 192), indexing="ij")
    return torch.stack([xs * 0.8, ys * 0.5, torch.sin(3 * xs) * torch.cos(2 * ys)])[None]


def disc_mask() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(256.0), torch.arange(192.0), indexing="ij")
    d = ((xs - 96) ** 2 + (ys - 128) ** 2).sqrt()
    return (60 - d).clamp(0, 1)[None, None]      # soft 1-pixel edge, as grid_sample gives


def test_default_is_lossless():
    assert DEFAULT_HANDOFF is Handoff.LOSSLESS


def test_to_uint8_truncates_like_save_images():
    x = torch.tensor([[[-1.0, 1.0, 2.0, -2.0, 127.9 / 127.5 - 1]]])
    assert to_uint8(x).tolist() == [[0, 255, 255, 0, 127]]


def test_lossless_is_quantised_garment_and_thresholded_mask():
    garment, mask = smooth_garment(), disc_mask()
    mask[0, 0, 0, :4] = torch.tensor([0.5, 0.5 + 1 / 255, 0.502, 1.0])
    c, m = hand_over(garment, mask, Handoff.LOSSLESS)
    assert torch.equal(c, normalise(to_uint8(garment[0]))[None])
    assert (c - garment).abs().max() <= 2 / 255 + 1e-6
    assert set(m.unique().tolist()) == {0.0, 1.0}
    # mask*255 truncated, then >= 128: 0.5 -> 127 (off), 0.5 + 1/255 -> 128 (on)
    assert m[0, 0, 0, :4].tolist() == [0.0, 1.0, 1.0, 1.0]


def test_jpeg_mode_is_what_the_original_files_hold(tmp_path):
    garment, mask = smooth_garment(), disc_mask()
    c, m = hand_over(garment, mask, Handoff.JPEG)
    Image.fromarray(to_uint8(garment[0])).save(tmp_path / "c.jpg")
    Image.fromarray(to_uint8(mask[0] * 2 - 1)).save(tmp_path / "m.jpg")
    assert torch.equal(c[0], normalise(Image.open(tmp_path / "c.jpg")))
    file_mask = np.asarray(Image.open(tmp_path / "m.jpg").convert("L")) >= 128
    assert torch.equal(m[0, 0], torch.from_numpy(file_mask.astype(np.float32)))


def test_jpeg_changes_the_tom_inputs_slightly():
    garment, mask = smooth_garment(), disc_mask()
    c_jpeg, m_jpeg = hand_over(garment, mask, Handoff.JPEG)
    c_png, m_png = hand_over(garment, mask, Handoff.LOSSLESS)
    garment_levels = (c_jpeg - c_png).abs() * 127.5
    assert 0 < garment_levels.mean() < 3 and garment_levels.max() < 40
    changed = int((m_jpeg != m_png).sum())
    assert changed < 0.01 * m_png.sum()        # only a few edge pixels flip
