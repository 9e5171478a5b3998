"""Random bench models: the published shapes, finite weights, hd and dc sharing their parts."""

from __future__ import annotations

import torch

from vto.core.bench.models import (RandomModels, Shapes, make_image_encoder, make_text_encoder,
                                   make_unet, make_vae, materialize, on_meta)
from vto.core.types import ModelType


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_full_size_shapes_are_the_published_ones():
    shapes = Shapes.full()  # on meta: no memory, no time
    assert count(on_meta(make_unet, shapes, 4)) == 859_520_964  # SD 1.5 UNet
    assert count(on_meta(make_unet, shapes, 8)) == 859_532_484  # 4 more input channels
    assert count(on_meta(make_vae, shapes)) == 83_653_863
    assert count(on_meta(make_text_encoder, shapes)) == 123_060_480  # CLIP ViT-L/14 text
    assert count(on_meta(make_image_encoder, shapes)) == 303_966_208  # its vision tower


def test_materialize_is_seeded_finite_and_sets_position_ids():
    shapes = Shapes.tiny()
    a = materialize(on_meta(make_text_encoder, shapes), torch.device("cpu"), torch.float32, 7)
    b = materialize(on_meta(make_text_encoder, shapes), torch.device("cpu"), torch.float32, 7)
    c = materialize(on_meta(make_text_encoder, shapes), torch.device("cpu"), torch.float32, 8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if k.endswith("weight"))
    assert all(torch.isfinite(v.float()).all() for v in sa.values())
    (ids,) = [b for name, b in a.named_buffers() if name.endswith("position_ids")]
    assert torch.equal(ids.flatten(), torch.arange(ids.numel()))
    out = a(torch.tensor([[1, 2, 3]]))[0]
    assert torch.isfinite(out).all() and out.std() > 0


def test_hd_and_dc_share_every_component_but_the_unets():
    models = RandomModels(Shapes.tiny(), torch.device("cpu"), torch.float32)
    hd, dc = models.pipeline(ModelType.HD), models.pipeline(ModelType.DC)
    for name in ("vae", "text_encoder", "tokenizer", "image_encoder", "image_processor"):
        assert getattr(hd, name) is getattr(dc, name), name
    assert hd.unet_vton is not dc.unet_vton and hd.unet_garm is not dc.unet_garm
    assert hd.cache is dc.cache is models.parts.cache
    assert hd.unet_garm.config.in_channels == 4 and hd.unet_vton.config.in_channels == 8
    # norms get a random affine: the try-on and garment norm1 differ, as in real weights
    name = "down_blocks.0.attentions.0.transformer_blocks.0.norm1.weight"
    assert not torch.equal(hd.unet_garm.state_dict()[name], hd.unet_vton.state_dict()[name])
