"""The torch-free spec: what the API validates requests against."""

from __future__ import annotations

import subprocess
import sys

from vto.core.models.base import Need
from vto.core.models.cp_vton_plus.spec import CP_VTON_PLUS, GMM_FILE, TOM_FILE
from vto.core.types import Category, Framing


def test_spec_is_a_fixed_size_one_shot_tops_model():
    caps = CP_VTON_PLUS.capabilities
    assert CP_VTON_PLUS.id == "cp-vton-plus" and CP_VTON_PLUS.aliases == ("cp-vton",)
    assert caps.categories == (Category.UPPER_BODY,)
    assert caps.size.default == (192, 256) and caps.size.fixed
    assert caps.steps is None and caps.guidance is None and caps.max_samples == 1
    assert not caps.user_mask
    assert caps.needs == {Need.POSE, Need.PARSE, Need.GARMENT_MASK}
    assert set(caps.framings) == {Framing.KEEP, Framing.STRETCH}
    assert CP_VTON_PLUS.backend == "vto.core.models.cp_vton_plus.backend:CPVTONPlusBackend"


def test_files_are_the_two_published_state_dicts(tmp_path):
    files = CP_VTON_PLUS.required_files()
    assert [f.path for f in files] == [GMM_FILE, TOM_FILE]
    assert all(not f.source.startswith("hf:") and "1drv.ms" in f.source for f in files)
    assert [f.path for f in CP_VTON_PLUS.missing_files(tmp_path)] == [GMM_FILE, TOM_FILE]
    (tmp_path / GMM_FILE).parent.mkdir(parents=True)
    (tmp_path / GMM_FILE).write_bytes(b"x")
    assert [f.path for f in CP_VTON_PLUS.missing_files(tmp_path)] == [TOM_FILE]


def test_spec_imports_no_torch():
    code = ("import sys, vto.core.models.cp_vton_plus.spec; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
