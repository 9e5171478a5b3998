"""The tiny VITON-HD checkpoint: the published files' format, narrow where test.py allows."""

from __future__ import annotations

import pytest
import torch

from vto.core.models.viton_hd.networks import ALIASGenerator, GMM, SegGenerator
from vto.dev.viton_hd import TINY_CONFIG, write_tiny_checkpoint


@pytest.fixture(scope="module")
def viton_hd_root(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("viton_hd"), seed=0)


def test_files_have_the_published_format(viton_hd_root):
    folder = viton_hd_root / "viton-hd"
    seg = torch.load(folder / "seg_final.pth", weights_only=True)
    gmm = torch.load(folder / "gmm_final.pth", weights_only=True)
    alias = torch.load(folder / "alias_final.pth", weights_only=True)
    # plain state dicts with the networks' names and shapes (full-width seg and GMM)
    assert {k: v.shape for k, v in seg.items()} == \
        {k: v.shape for k, v in SegGenerator(21, 13).state_dict().items()}
    assert set(gmm) == set(GMM(TINY_CONFIG).state_dict())
    assert alias["conv_0.weight"].shape == (16 * TINY_CONFIG.ngf, 9, 3, 3)
    assert set(alias) == set(ALIASGenerator(TINY_CONFIG).state_dict())
    # torch's spectral-norm state-dict metadata, as a saved spectral-normed module has it
    assert alias._metadata["head_0.conv_0"]["spectral_norm"] == {"weight.version": 1}
    assert gmm["extractionA.model.2.num_batches_tracked"].dtype == torch.int64


def test_spectral_vectors_are_converged(viton_hd_root):
    alias = torch.load(viton_hd_root / "viton-hd" / "alias_final.pth", weights_only=True)
    for name in ("head_0.conv_0", "up_4.conv_s"):
        w = alias[f"{name}.weight_orig"].flatten(1)
        sigma = alias[f"{name}.weight_u"] @ w @ alias[f"{name}.weight_v"]
        assert torch.isclose(sigma, torch.linalg.matrix_norm(w, ord=2), rtol=1e-3)
