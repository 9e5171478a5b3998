"""Hoisted garment K/V: the same attention as the per-step projection, with garment rows
broadcast or gathered per try-on row."""

from __future__ import annotations

import copy

import torch

from tests.core.models.ootd.test_fusion import NaiveOriginalProcessor, inputs, unets  # noqa: F401
from vto.core.models.ootd import fusion


def test_hoisted_kv_equals_the_original_and_rows_pick_garments(unets, inputs):  # noqa: F811
    garm, vton = copy.deepcopy(unets[0]), copy.deepcopy(unets[1])
    fused = fusion.install(garm, vton)
    with torch.no_grad():
        garm(inputs["garment"], 0, encoder_hidden_states=inputs["prompt"])  # 2 distinct garments
        tokens = dict(fused.features.tokens)
        fused.features.kv.update(fused.hoist())
        fused.features.tokens.clear()  # the hoisted path must not need them
        hoisted = vton(inputs["person"], 500, encoder_hidden_states=inputs["prompt"]).sample
        # rows: try-on row 0 sees garment 1 and row 1 garment 0 (a batch's row map)
        fused.features.rows = torch.tensor([1, 0])
        swapped = vton(inputs["person"], 500, encoder_hidden_states=inputs["prompt"]).sample
        # the original's literal computation on the same features
        fused.features.clear()
        fused.features.tokens.update(tokens)
        for name, block in fusion.transformer_blocks(vton).items():
            block.attn1.set_processor(NaiveOriginalProcessor(name, block.norm1, fused.features))
        naive = vton(inputs["person"], 500, encoder_hidden_states=inputs["prompt"]).sample
        fused.features.tokens.update({n: t.flip(0) for n, t in tokens.items()})
        naive_swapped = vton(inputs["person"], 500, encoder_hidden_states=inputs["prompt"]).sample
    assert (hoisted - naive).abs().max().item() < 1e-5
    assert (swapped - naive_swapped).abs().max().item() < 1e-5
    assert (swapped - hoisted).abs().max().item() > 1e-3  # the row map matters
