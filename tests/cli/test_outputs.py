"""Output paths: expansion as a shell would, and writability checked without writing."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from vto.cli.outputs import check_output_dir, save_image, user_path
from vto.errors import InvalidInput


def test_user_path_expands_home_and_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VTO_TEST_DIR", "sub")
    assert user_path("~/a/$VTO_TEST_DIR/${VTO_TEST_DIR}.png") == tmp_path / "a/sub/sub.png"
    assert str(user_path("$VTO_TEST_UNSET_VAR/x")) == "$VTO_TEST_UNSET_VAR/x"


def test_a_creatable_or_writable_directory_passes_and_nothing_is_left(tmp_path):
    check_output_dir(tmp_path / "new" / "deeper", "--out", ["0.png"])
    assert list(tmp_path.iterdir()) == []          # nothing created
    (tmp_path / "there").mkdir()
    check_output_dir(tmp_path / "there", "--out", ["0.png"])
    assert list((tmp_path / "there").iterdir()) == []


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "f").write_text("x") and d / "f", "exists and is not a directory"),
    (lambda d: (d / "f").write_text("x") and d / "f" / "o", "f is not a directory"),
    (lambda d: (d / "o" / "0.png").mkdir(parents=True) or d / "o", "0.png there is a directory"),
    (lambda d: __import__("pathlib").Path("/proc/vto-no-such/o"), "is not writable"),
])
def test_unusable_outputs_are_refused(tmp_path, make, message):
    with pytest.raises(InvalidInput, match=message):
        check_output_dir(make(tmp_path), "--out", ["0.png"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_is_refused(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(InvalidInput, match="not writable"):
        check_output_dir(tmp_path / "ro", "--out")


def test_a_late_write_failure_is_one_sentence(tmp_path):
    with pytest.raises(InvalidInput, match="could not write .*nowhere/0.png"):
        save_image(Image.new("RGB", (4, 4)), tmp_path / "nowhere" / "0.png")
