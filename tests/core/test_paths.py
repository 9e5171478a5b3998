"""Paths given to the library are expanded as a shell would (the README's own example uses
"~/vto-checkpoints")."""

from __future__ import annotations

from PIL import Image

from vto.core.engine import TryOnEngine
from vto.core.images import open_image, open_mask
from vto.core.paths import expand_path


def test_engine_and_images_expand_home_and_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VTO_TEST_PHOTOS", str(tmp_path / "photos"))
    (tmp_path / "photos").mkdir()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(tmp_path / "photos" / "me.png")
    assert TryOnEngine("~/ckpt", device="cpu").root == tmp_path / "ckpt"
    assert TryOnEngine("$VTO_TEST_PHOTOS/../ckpt", device="cpu").root == \
        tmp_path / "photos" / ".." / "ckpt"
    assert open_image("~/photos/me.png").size == (8, 6)
    assert open_image("${VTO_TEST_PHOTOS}/me.png").getpixel((0, 0)) == (1, 2, 3)
    assert open_mask("$VTO_TEST_PHOTOS/me.png").mode == "L"
    assert str(expand_path("plain/$VTO_TEST_UNSET_VAR.png")) == "plain/$VTO_TEST_UNSET_VAR.png"
