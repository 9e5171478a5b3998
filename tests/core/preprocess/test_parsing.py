"""Human parsing: tiny ONNX models with the real signature, the pre/post-processing maths,
hole filling and the neck label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from vto.core.preprocess.parsing import (HumanParser, _affine, fill_clothes_holes, palette,
                                         to_palette_image)
from vto.dev.parsing_weights import write_random_parsing_model
from vto.errors import CheckpointError
from tests.conftest import EXAMPLES



@pytest.fixture(scope="module")
def parsing_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ckpt") / "humanparsing"
    write_random_parsing_model(root / "parsing_atr.onnx", "atr", seed=0)
    write_random_parsing_model(root / "parsing_lip.onnx", "lip", seed=1)
    return root


@pytest.fixture(scope="module")
def parser(parsing_dir) -> HumanParser:
    return HumanParser.from_checkpoint(parsing_dir)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(EXAMPLES / "person" / "049447_0.jpg").convert("RGB").resize((384, 512))


@pytest.mark.parametrize("kind,size,classes,out", [("atr", 512, 18, 128), ("lip", 473, 20, 119)])
def test_tiny_models_have_the_real_signature(parsing_dir, kind, size, classes, out):
    session = ort.InferenceSession(str(parsing_dir / f"parsing_{kind}.onnx"),
                                   providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "input.1" and inp.shape == [1, 3, size, size]
    outputs = session.run(None, {"input.1": np.zeros((1, 3, size, size), np.float32)})
    assert len(outputs) >= 2 and outputs[1].shape == (1, classes, out, out)
    assert (parsing_dir / f"parsing_{kind}.onnx").stat().st_size < 10_000


def test_writer_is_deterministic(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_random_parsing_model(tmp_path / f"{name}.onnx", "atr", seed)
    data = [(tmp_path / f"{n}.onnx").read_bytes() for n in "abc"]
    assert data[0] == data[1] != data[2]


def test_labels_shape_range_determinism(parser, photo):
    labels = parser(photo)
    assert labels.shape == (512, 384) and labels.dtype == np.uint8
    assert labels.max() <= 18
    assert len(np.unique(labels)) >= 3                 # the random model is not constant
    assert np.array_equal(labels, parser(photo))
    image = parser.palette_image(photo)
    assert image.mode == "P" and np.array_equal(np.asarray(image), labels)


def test_affine_is_the_original_square_crop():
    # ATR: scale 1, the 384 px wide image centred in 512 (x' = x + 64)
    assert np.allclose(_affine(384, 512, 512, inverse=False), [[1, 0, 64], [0, 1, 0]])
    k = 472 / 511
    forward = _affine(384, 512, 473, inverse=False)
    assert np.allclose(forward[:, :2], [[k, 0], [0, k]])
    assert np.allclose(forward @ [191.5, 255.5, 1], [236, 236])
    back = _affine(384, 512, 473, inverse=True)
    assert np.allclose(back @ np.append(forward @ [10, 20, 1], 1), [10, 20])


def test_upsampling_matches_torch_upsample_module(parser, photo):
    # the parser calls interpolate(align_corners=True); same numbers as nn.Upsample
    x = torch.randn(1, 18, 128, 128)
    a = torch.nn.Upsample(size=(512, 512), mode="bilinear", align_corners=True)(x)
    b = torch.nn.functional.interpolate(x, size=(512, 512), mode="bilinear", align_corners=True)
    assert torch.equal(a, b)


def test_hole_filling():
    labels = np.zeros((60, 50), np.int64)
    labels[5:55, 5:45] = 4                 # upper clothes
    labels[20:25, 20:25] = 2               # small hole -> becomes 4
    labels[10:50, 30:35] = 14              # an arm inside the silhouette keeps its label
    filled = fill_clothes_holes(labels)
    assert (filled[20:25, 20:25] == 4).all()
    assert (filled[10:50, 30:35] == 14).all()
    # a hole larger than 2000 px keeps its labels
    big = np.zeros((120, 120), np.int64)
    big[2:118, 2:118] = 4
    big[20:100, 20:100] = 7                 # 6400 px
    assert (fill_clothes_holes(big)[30:90, 30:90] == 7).all()


def test_neck_comes_from_lip(parsing_dir, photo):
    class Fixed:
        """Stand-in session returning constant logits that favour one class."""

        def __init__(self, size, classes, label):
            self.size, self.classes, self.label = size, classes, label

        def run(self, _names, feeds):
            assert feeds["input.1"].shape == (1, 3, self.size, self.size)
            logits = np.zeros((1, self.classes, 8, 8), np.float32)
            logits[0, self.label] = 5
            return [logits, logits]

    face_not_face = HumanParser(Fixed(512, 18, 11), Fixed(473, 20, 2))
    assert set(np.unique(face_not_face(photo))) <= {0, 18}
    face_face = HumanParser(Fixed(512, 18, 11), Fixed(473, 20, 13))
    assert set(np.unique(face_face(photo))) <= {0, 11}


def test_palette_matches_the_original_colours():
    colours = palette(19)
    assert colours[:12] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]
    assert colours[18 * 3:] == [0, 192, 0]
    assert to_palette_image(np.zeros((2, 2), np.uint8)).getpalette()[:6] == [0, 0, 0, 128, 0, 0]


def test_missing_or_broken_models(tmp_path):
    with pytest.raises(CheckpointError, match="parsing_atr.onnx"):
        HumanParser.from_checkpoint(tmp_path)
    (tmp_path / "parsing_atr.onnx").write_bytes(b"junk")
    (tmp_path / "parsing_lip.onnx").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot load"):
        HumanParser.from_checkpoint(tmp_path)
