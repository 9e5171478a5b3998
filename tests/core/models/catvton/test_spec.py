"""The spec: torch-free, and its file list is exactly what the tiny (= published) layout holds."""

from __future__ import annotations

import subprocess
import sys

from vto.core.models.catvton.spec import CATVTON
from vto.core.types import Category


def test_spec_imports_without_torch():
    code = ("import sys, vto.core.models.catvton.spec as s; "
            "assert 'torch' not in sys.modules, 'spec imported torch'; print(s.CATVTON.id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "catvton"


def test_capabilities_follow_the_original():
    caps = CATVTON.capabilities
    assert caps.categories == (Category.UPPER_BODY, Category.LOWER_BODY, Category.DRESS)
    assert caps.size.default == (768, 1024) and not caps.size.fixed and caps.size.multiple == 8
    assert (caps.steps.default, caps.guidance.default) == (50, 2.5)
    assert caps.user_mask and caps.max_samples == 4
    assert CATVTON.backend == "vto.core.models.catvton.backend:CatVTONBackend"


def test_files_are_exactly_the_checkpoint(catvton_root):
    files = CATVTON.required_files()
    assert all(f.source.startswith("hf:") for f in files)
    assert {f.source.split("/")[0] + "/" + f.source.split("/")[1] for f in files} == {
        "hf:zhengchong/CatVTON", "hf:booksforcharlie/stable-diffusion-inpainting",
        "hf:stabilityai/sd-vae-ft-mse"}
    written = {p.relative_to(catvton_root).as_posix() for p in catvton_root.rglob("*")
               if p.is_file()}
    assert written == {f.present(catvton_root).relative_to(catvton_root).as_posix()
                       for f in files}
    assert CATVTON.missing_files(catvton_root) == []
