"""Catalog over real garment photos (copied from ../shared/examples into a temp dir)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from vto.core.types import Category
from vto.errors import ImageTooLarge, InputNotFound, InvalidImage
from vto.service.catalog import Catalog, category_from_filename, decode_image, make_id
from tests.conftest import EXAMPLES as SHARED_EXAMPLES

EXAMPLES = SHARED_EXAMPLES / "garment"


@pytest.fixture
def catalog_dir(tmp_path) -> Path:
    """The five example garments under names a shop would use (and one numeric name)."""
    root = tmp_path / "catalog"
    root.mkdir()
    names = {"03244_00.jpg": "blue-shirt.jpg", "00055_00.jpg": "00055_00.jpg",
             "048554_1.jpg": "Striped Tee (v2).jpg", "051827_1.jpg": "denim_jeans.jpg",
             "053290_1.jpg": "summer-dress.png"}
    for source, target in names.items():
        image = Image.open(EXAMPLES / source)
        image.save(root / target)
    return root


class FakeClip:
    """Stands in for engine.classify_garment: says 'dress' for a mostly dark image."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: Image.Image) -> dict[Category, float]:
        assert image.mode == "RGB"
        self.calls += 1
        dark = ImageStat.Stat(image.convert("L")).mean[0] < 128
        return {Category.UPPER_BODY: 0.1 if dark else 0.7, Category.LOWER_BODY: 0.2,
                Category.DRESS: 0.7 if dark else 0.1}


def test_list_is_sorted_and_ids_are_safe(catalog_dir):
    garments = Catalog(catalog_dir).list()
    assert [g.filename for g in garments] == sorted(p.name for p in catalog_dir.iterdir())
    assert [g.int_id for g in garments] == [1, 2, 3, 4, 5]
    by_file = {g.filename: g for g in garments}
    assert by_file["Striped Tee (v2).jpg"].id == "Striped-Tee-v2"
    assert by_file["blue-shirt.jpg"].id == "blue-shirt"


def test_categories_from_filenames_like_the_seed(catalog_dir):
    by_id = {g.id: g for g in Catalog(catalog_dir).list()}
    assert by_id["blue-shirt"].category is Category.UPPER_BODY
    assert by_id["blue-shirt"].model_types == ["hd", "dc"]
    assert by_id["Striped-Tee-v2"].category is Category.UPPER_BODY
    assert by_id["denim_jeans"].category is Category.LOWER_BODY
    assert by_id["denim_jeans"].model_types == ["dc"]
    assert by_id["summer-dress"].category is Category.DRESS
    assert {g.category_source for k, g in by_id.items() if k != "00055_00"} == {"filename"}
    # no keyword and no classifier: upper_body by default, and it says so
    assert by_id["00055_00"].category is Category.UPPER_BODY
    assert by_id["00055_00"].category_source == "default"
    assert by_id["00055_00"].category_scores is None


@pytest.mark.parametrize("name, expected", [
    ("t-shirt_red.jpg", Category.UPPER_BODY), ("tshirt.png", Category.UPPER_BODY),
    ("Hoodie.JPG", Category.UPPER_BODY), ("raincoat.jpg", Category.UPPER_BODY),
    ("tank-top.jpg", Category.UPPER_BODY), ("sweatshirt.webp", Category.UPPER_BODY),
    ("black_pants.jpg", Category.LOWER_BODY), ("skinny-jeans.jpg", Category.LOWER_BODY),
    ("cargo shorts.jpg", Category.LOWER_BODY), ("Leggings2.png", Category.LOWER_BODY),
    ("pleated-skirt.jpg", Category.LOWER_BODY), ("trousers.jpg", Category.LOWER_BODY),
    ("evening_gown.jpg", Category.DRESS), ("dresses-01.jpg", Category.DRESS),
    ("shirt-dress.jpg", Category.DRESS), ("vestido.jpg", Category.DRESS),
    ("00055_00.jpg", None), ("monochrome.jpg", None), ("steel.jpg", None), ("laptop.jpg", None),
])
def test_category_from_filename(name, expected):
    assert category_from_filename(name) is expected


def test_sidecar_wins_over_filename(catalog_dir):
    (catalog_dir / "denim_jeans.json").write_text(json.dumps(
        {"name": "Denim", "category": "dress", "model_types": ["hd", "dc"]}))
    (catalog_dir / "blue-shirt.json").write_text("{not json")  # broken sidecar is ignored
    catalog = Catalog(catalog_dir)
    jeans = catalog.get("denim_jeans")
    assert (jeans.name, jeans.category, jeans.category_source) == ("Denim", Category.DRESS,
                                                                   "sidecar")
    assert jeans.model_types == ["dc"]  # hd cannot do dresses, whatever the sidecar says
    assert catalog.get("blue-shirt").category_source == "filename"


def test_prediction_when_nothing_else_says(catalog_dir):
    clip = FakeClip()
    catalog = Catalog(catalog_dir, classify=clip)
    garment = catalog.get("00055_00")
    assert garment.category_source == "predicted"
    assert set(garment.category_scores) == {"upper_body", "lower_body", "dress"}
    assert garment.category.value == max(garment.category_scores,
                                         key=garment.category_scores.get)
    assert clip.calls == 1  # only the garment whose name says nothing is classified
    catalog.reload()
    assert clip.calls == 1  # cached by (file, mtime, size)


def test_broken_classifier_falls_back_to_default(catalog_dir):
    def broken(image):
        raise RuntimeError("CLIP not loaded")

    assert Catalog(catalog_dir, classify=broken).get("00055_00").category_source == "default"


def test_get_by_int_is_the_seeds_one_based_clothe_id(catalog_dir):
    catalog = Catalog(catalog_dir)
    assert catalog.get_by_int(1) == catalog.list()[0]
    assert catalog.get_by_int(5) == catalog.list()[4]
    assert catalog.get_by_int(1).to_seed_dict() == {
        "id": 1, "name": "00055_00.jpg", "path": "00055_00.jpg", "category": 0,
        "category_name": "upperbody", "model_type": "hd"}
    for bad in (0, 6, -1, True):
        with pytest.raises(InputNotFound, match="1..5"):
            catalog.get_by_int(bad)


@pytest.mark.parametrize("bad_id", ["../catalog/blue-shirt", "blue-shirt.jpg", "", "a" * 65,
                                    "/etc/passwd", "-x", "nope"])
def test_get_refuses_unknown_and_unsafe_ids(catalog_dir, bad_id):
    with pytest.raises(InputNotFound):
        Catalog(catalog_dir).get(bad_id)


def test_image_and_thumbnail(catalog_dir):
    catalog = Catalog(catalog_dir)
    image = catalog.image("summer-dress")
    assert image.mode == "RGB" and image.size == (768, 1024)
    thumb = catalog.thumbnail("summer-dress", size=128)
    decoded = Image.open(io.BytesIO(thumb))
    assert decoded.format == "JPEG" and decoded.size == (96, 128)
    cached = catalog_dir / ".thumbs" / "summer-dress-128.jpg"
    assert cached.read_bytes() == thumb
    cached.write_bytes(b"cached")  # served from the cache while the image is unchanged
    assert catalog.thumbnail("summer-dress", size=128) == b"cached"
    assert ".thumbs" not in {g.filename for g in catalog.list()}


def test_add_reencodes_and_writes_a_sidecar(catalog_dir):
    catalog = Catalog(catalog_dir)
    rgba = Image.open(EXAMPLES / "051827_1.jpg").convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # transparent corner → white
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    added = catalog.add(buffer.getvalue(), "../../etc/My Skirt!.png", name="My skirt")
    assert added.id == "My-Skirt"
    assert (added.category, added.category_source) == (Category.LOWER_BODY, "filename")
    assert added.name == "My skirt"
    assert (catalog_dir / "My-Skirt.png").is_file() and (catalog_dir / "My-Skirt.json").is_file()
    assert Image.open(catalog_dir / "My-Skirt.png").getpixel((0, 0)) == (255, 255, 255)
    assert not list(catalog_dir.glob(".*.tmp"))
    assert catalog.get("My-Skirt") == added

    again = catalog.add(buffer.getvalue(), "My Skirt.png", category="dress")
    assert again.id == "My-Skirt-2"
    assert (again.category, again.category_source) == (Category.DRESS, "form")
    assert Catalog(catalog_dir).get("My-Skirt-2").category_source == "form"  # survives restart


def test_add_refuses_non_images_and_bombs(catalog_dir):
    catalog = Catalog(catalog_dir)
    with pytest.raises(InvalidImage):
        catalog.add(b"GIF89a not really", "x.gif")
    with pytest.raises(InvalidImage):
        catalog.add(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "shirt.png")
    buffer = io.BytesIO()
    Image.new("L", (9000, 10)).save(buffer, "PNG")
    with pytest.raises(ImageTooLarge):
        catalog.add(buffer.getvalue(), "wide-shirt.png")
    with pytest.raises(ImageTooLarge):  # the pixel cap is checked before decoding
        catalog.add(_png_header(30_000, 30_000), "huge-shirt.png")
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidImage, match="animated"):
        catalog.add(buffer.getvalue(), "blinking-shirt.webp")
    truncated = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(truncated, "JPEG")
    with pytest.raises(InvalidImage):
        catalog.add(truncated.getvalue()[:200], "cut-shirt.jpg")
    assert len(catalog.list()) == 5


def _png_header(width: int, height: int) -> bytes:
    """A PNG claiming ``width``x``height`` with almost no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    decoded, fmt = decode_image(buffer.getvalue())
    assert decoded.size == (20, 40) and fmt == "JPEG"


def test_delete(catalog_dir):
    catalog = Catalog(catalog_dir)
    catalog.thumbnail("blue-shirt")
    catalog.delete("blue-shirt")
    with pytest.raises(InputNotFound):
        catalog.get("blue-shirt")
    assert not (catalog_dir / "blue-shirt.jpg").exists()
    assert not list((catalog_dir / ".thumbs").glob("blue-shirt-*"))
    assert [g.int_id for g in catalog.list()] == [1, 2, 3, 4]


def test_ids_stay_unique(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    for name in ("a b.jpg", "a-b.png", "???.jpg"):
        Image.new("RGB", (8, 8)).save(root / name)
    ids = [g.id for g in Catalog(root).list()]
    assert sorted(ids) == sorted(["a-b", "a-b-2", "garment"])
    assert make_id("x" * 100) == "x" * 64


def test_reload_sees_new_files(catalog_dir):
    catalog = Catalog(catalog_dir)
    shutil.copy(catalog_dir / "blue-shirt.jpg", catalog_dir / "zz-jacket.jpg")
    assert len(catalog.list()) == 5
    catalog.reload()
    assert catalog.list()[-1].id == "zz-jacket"


def test_a_predicted_category_of_an_upload_is_kept_in_its_sidecar(tmp_path):
    """Listing a catalog after a restart does not ask the model again for uploads."""
    clip = FakeClip()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 10, 10)).save(buffer, "PNG")
    added = Catalog(tmp_path, classify=clip).add(buffer.getvalue(), "item-7.png")
    assert (added.category, added.category_source, clip.calls) == (Category.DRESS, "predicted", 1)
    again = Catalog(tmp_path, classify=clip).get(added.id)
    assert clip.calls == 1
    assert (again.category, again.category_source) == (Category.DRESS, "predicted")
    assert again.category_scores == added.category_scores
