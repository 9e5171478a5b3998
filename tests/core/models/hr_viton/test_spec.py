"""The torch-free spec: what the API validates HR-VITON requests against."""

from __future__ import annotations

import importlib
import subprocess
import sys

from vto.core.models.base import Need
from vto.core.models.hr_viton.spec import CONDITION_FILE, GENERATOR_FILE, HR_VITON
from vto.core.types import Category


def test_spec_is_torch_free():
    code = ("import sys, vto.core.models.hr_viton.spec as s; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(s.HR_VITON.id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "hr-viton"


def test_capabilities():
    caps = HR_VITON.capabilities
    assert caps.categories == (Category.UPPER_BODY,)
    assert caps.size.fixed and caps.size.default == (768, 1024)
    assert caps.steps is None and caps.guidance is None and not caps.user_mask
    assert caps.max_samples == 4          # the generator's noise makes samples differ
    assert caps.needs == {Need.POSE, Need.PARSE, Need.GARMENT_MASK, Need.DENSEPOSE}
    assert HR_VITON.to_dict()["capabilities"]["needs"] == ["densepose", "garment_mask", "parse",
                                                            "pose"]


def test_files_and_backend(tmp_path):
    assert [f.path for f in HR_VITON.required_files()] == [CONDITION_FILE, GENERATOR_FILE]
    assert all("drive.google.com" in f.source for f in HR_VITON.required_files())
    assert len(HR_VITON.missing_files(tmp_path)) == 2
    module, _, name = HR_VITON.backend.partition(":")
    assert getattr(importlib.import_module(module), name).spec is HR_VITON
    assert "BY-NC" in HR_VITON.licence
