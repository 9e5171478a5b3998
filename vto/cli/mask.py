"""`vto mask`: the inpainting mask for a person photo -> DIR/mask.png and DIR/masked.png.

Two ways in:
  * from a photo: pose + parsing with the checkpoint's models, then the original's mask.
    ``--framing stretch`` writes the mask and masked person at the working size 768×1024
    (exactly the original's ``images_output/mask.jpg`` content); ``keep`` writes them at the
    photo's own size (the mask mapped back from the window around the person).
  * from ``--parse LABELS.png --keypoints KP.json`` (the original's intermediate results at
    384×512): no models needed; DIR/mask.png is exactly the 384×512 mask, and with
    ``--person`` DIR/masked.png is the original's masked person at 768×1024.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vto.core.images import open_image
from vto.core.preprocess.masking import get_mask_location
from vto.core.types import (Category, Framing, ModelType, check_combination, parse_category,
                            parse_model_type)
from vto.errors import InputNotFound, InvalidImage, InvalidInput

log = logging.getLogger(__name__)
WORKING_SIZE = (768, 1024)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mask", help="compute the region a garment will re-generate",
                       description="Write DIR/mask.png (white = re-generated region) and "
                                   "DIR/masked.png (the person with that region grey).")
    p.add_argument("--person", metavar="PATH",
                   help="photo of the person (optional with --parse and --keypoints)")
    p.add_argument("--model-type", default=ModelType.HD.value,
                   choices=[m.value for m in ModelType],
                   help="whose mask recipe: hd (arms 60 px) or dc (45 px) (default: hd)")
    p.add_argument("--category", default=Category.UPPER_BODY.value,
                   choices=[c.value for c in Category], help="garment category (default: upper_body)")
    p.add_argument("--framing", default=Framing.KEEP.value, choices=[f.value for f in Framing],
                   help="keep: mask at the photo's size (default); stretch: at 768x1024, the "
                        "original's")
    p.add_argument("--parse", metavar="LABELS.png",
                   help="ATR label map (\"L\" or \"P\" PNG, labels 0..18, 384x512) instead of "
                        "running human parsing; needs --keypoints")
    p.add_argument("--keypoints", metavar="KP.json",
                   help='OpenPose keypoints {"pose_keypoints_2d": [[x, y] x 18]} in 384x512 '
                        "pixels instead of running pose detection; needs --parse")
    p.add_argument("--person-select", default="error", choices=["error", "largest"],
                   help="several people in the photo: fail, or use the most prominent one")
    p.add_argument("--checkpoints", metavar="DIR",
                   help="checkpoint directory (default: $VTO_CHECKPOINTS)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.set_defaults(func=run)


def _load_labels(path: str) -> np.ndarray:
    if not Path(path).is_file():
        raise InputNotFound(f"--parse file '{path}' does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ("L", "P"):
                raise InvalidInput(f"--parse must be an \"L\" or \"P\" PNG of labels 0..18, "
                                   f"got a {image.mode} image")
            labels = np.array(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidImage(f"--parse file '{path}' is not a readable image: {exc}") from None
    if labels.max(initial=0) > 18:
        raise InvalidInput(f"--parse labels must be 0..18, found {int(labels.max())}")
    return labels


def _load_keypoints(path: str) -> dict:
    if not Path(path).is_file():
        raise InputNotFound(f"--keypoints file '{path}' does not exist")
    try:
        data = json.loads(Path(path).read_text())
        points = np.array(data["pose_keypoints_2d"], dtype=np.float64).reshape(-1, 2)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"--keypoints must be JSON like {{\"pose_keypoints_2d\": "
                           f"[[x, y] x 18]}} ({type(exc).__name__}: {exc})") from None
    if len(points) != 18:
        raise InvalidInput(f"--keypoints needs 18 [x, y] points, got {len(points)}")
    return {"pose_keypoints_2d": points.tolist()}


def _save(out: Path, mask: Image.Image, masked: Image.Image | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    mask.save(out / "mask.png")
    print(out / "mask.png")
    if masked is not None:
        masked.save(out / "masked.png")
        print(out / "masked.png")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out} exists and is not a directory")
    model_type, category = parse_model_type(args.model_type), parse_category(args.category)
    check_combination(model_type, category)
    photo = open_image(args.person, name=f"--person '{args.person}'") if args.person else None

    if args.parse or args.keypoints:
        if not (args.parse and args.keypoints):
            raise InvalidInput("--parse and --keypoints go together (give both, or neither to "
                               "run pose detection and parsing)")
        mask, mask_gray = get_mask_location(model_type, category, _load_labels(args.parse),
                                            _load_keypoints(args.keypoints))
        masked = None
        if photo is not None:
            person = photo.resize(WORKING_SIZE)
            masked = Image.composite(mask_gray.resize(WORKING_SIZE, Image.NEAREST), person,
                                     mask.resize(WORKING_SIZE, Image.NEAREST))
        _save(out, mask, masked)
        return 0

    if photo is None:
        raise InvalidInput("give --person (or --parse and --keypoints)")
    import torch

    from vto.cli.common import checkpoint_root
    from vto.core.models.base import Need
    from vto.core.preprocess.prepare import Preprocessor, prepare_person

    device = args.device or "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInput(f"--device {device}: CUDA is not available on this machine")
    preprocessor = Preprocessor(checkpoint_root(args.checkpoints), device=device)
    framing = Framing(args.framing)
    prepared = prepare_person(photo, size=WORKING_SIZE, needs={Need.MASK}, recipe=model_type,
                              category=category, framing=framing, preprocessor=preprocessor,
                              person_select=args.person_select)
    if framing is Framing.STRETCH:
        _save(out, prepared.mask, prepared.masked)
        return 0
    mask = prepared.mask_on_photo(photo.size)
    masked = Image.composite(Image.new("RGB", photo.size, (127, 127, 127)), photo, mask)
    _save(out, mask, masked)
    return 0
