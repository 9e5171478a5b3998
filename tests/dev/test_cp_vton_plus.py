"""Random CP-VTON+ weights are written in the published files' format."""

from __future__ import annotations

import collections

import pytest
import torch

from vto.core.models.cp_vton_plus.networks import GMM, TOM
from vto.core.models.cp_vton_plus.spec import GMM_FILE, TOM_FILE
from vto.dev.cp_vton_plus import random_networks, write_tiny_checkpoint


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("cpv") / "ckpt", seed=3)


@pytest.mark.parametrize("rel, network", [(GMM_FILE, GMM), (TOM_FILE, TOM)])
def test_files_are_plain_legacy_state_dicts(written, rel, network):
    path = written / rel
    assert path.read_bytes()[:2] != b"PK"                 # pre-1.6 container, as in 2020
    state = torch.load(path, weights_only=True)
    assert type(state) is collections.OrderedDict and hasattr(state, "_metadata")
    expected = network().state_dict()
    assert list(state) == list(expected)
    for key, value in state.items():
        assert value.device.type == "cpu" and value.shape == expected[key].shape
        assert value.dtype == (torch.long if key.endswith("num_batches_tracked") else torch.float32)


def test_batch_norm_is_not_the_identity_and_seeds_differ():
    gmm, _ = random_networks(3)
    bn = gmm.extractionA.model[2]
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    assert not torch.allclose(bn.weight, torch.ones_like(bn.weight))
    other, _ = random_networks(4)
    assert not torch.equal(gmm.regression.linear.weight, other.regression.linear.weight)
