"""`vto mask`: the region a try-on re-generates -> DIR/mask.png, DIR/masked.png, and the same
at the working size (DIR/mask-working.png, DIR/masked-working.png).

``mask.png`` (white = re-generated) and ``masked.png`` (the photo with that region grey) are at
the photo's size; ``*-working.png`` are what the model sees at its working size 768×1024 (with
``--framing stretch``, ``masked-working.png`` is exactly the original's
``images_output/mask.jpg`` content; with ``keep`` it is the window around the person). Three
ways in:
  * from a photo: pose + parsing with the checkpoint's models, then the original's mask;
  * ``--mask MASK.png`` with ``--person``: your own mask (white = re-generate, the photo's
    size), checked and binarised as `vto tryon --mask` would use it; no models needed;
  * ``--parse LABELS.png --keypoints KP.json`` (the original's intermediate results at
    384×512): no models needed; without ``--person`` DIR/mask.png is exactly that 384×512
    mask (there is no photo to size it to).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from vto.cli.outputs import expand_arg
from vto.core.types import Category, Framing, ModelType
from vto.errors import InputNotFound, InvalidImage, InvalidInput

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

log = logging.getLogger(__name__)
WORKING_SIZE = (768, 1024)
OUTPUTS = ("mask.png", "masked.png", "mask-working.png", "masked-working.png")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mask", help="compute the region a garment will re-generate",
                       description="Write DIR/mask.png (white = re-generated region) and "
                                   "DIR/masked.png (the person with that region grey) at the "
                                   "photo's size, and DIR/mask-working.png, "
                                   "DIR/masked-working.png at the working size.")
    p.add_argument("--person", metavar="PATH", type=expand_arg,
                   help="photo of the person (optional with --parse and --keypoints)")
    p.add_argument("--mask", metavar="PATH", type=expand_arg,
                   help="your own mask (white = re-generate, the photo's size) instead of "
                        "computing one: checked and written as `vto tryon --mask` uses it")
    p.add_argument("--model-type", default=ModelType.HD.value,
                   choices=[m.value for m in ModelType],
                   help="whose mask recipe: hd (arms 60 px) or dc (45 px) (default: hd)")
    p.add_argument("--category", default=Category.UPPER_BODY.value,
                   choices=[c.value for c in Category], help="garment category (default: upper_body)")
    p.add_argument("--framing", default=Framing.KEEP.value, choices=[f.value for f in Framing],
                   help="keep: the working images are a window around the person (default); "
                        "stretch: the whole photo squashed to 768x1024, the original's")
    p.add_argument("--parse", metavar="LABELS.png", type=expand_arg,
                   help="ATR label map (\"L\" or \"P\" PNG, labels 0..18, 384x512) instead of "
                        "running human parsing; needs --keypoints")
    p.add_argument("--keypoints", metavar="KP.json", type=expand_arg,
                   help='OpenPose keypoints {"pose_keypoints_2d": [[x, y] x 18]} in 384x512 '
                        "pixels instead of running pose detection; needs --parse")
    p.add_argument("--person-select", default="error", choices=["error", "largest"],
                   help="several people in the photo: fail, or use the most prominent one")
    p.add_argument("--checkpoints", metavar="DIR",
                   help="checkpoint directory (default: $VTO_CHECKPOINTS)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--out", required=True, metavar="DIR", type=expand_arg,
                   help="output directory")
    p.set_defaults(func=run)


def _load_labels(path: Path) -> "np.ndarray":
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
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


def _load_keypoints(path: Path) -> dict:
    import numpy as np

    if not path.is_file():
        raise InputNotFound(f"--keypoints file '{path}' does not exist")
    try:
        data = json.loads(path.read_text())
        points = np.array(data["pose_keypoints_2d"], dtype=np.float64).reshape(-1, 2)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"--keypoints must be JSON like {{\"pose_keypoints_2d\": "
                           f"[[x, y] x 18]}} ({type(exc).__name__}: {exc})") from None
    if len(points) != 18:
        raise InvalidInput(f"--keypoints needs 18 [x, y] points, got {len(points)}")
    return {"pose_keypoints_2d": points.tolist()}


def _grey_over(photo: "Image.Image", mask: "Image.Image") -> "Image.Image":
    from PIL import Image

    return Image.composite(Image.new("RGB", photo.size, (127, 127, 127)), photo, mask)


def _save(out: Path, images: dict[str, "Image.Image"]) -> None:
    from vto.cli.outputs import save_image

    out.mkdir(parents=True, exist_ok=True)
    for name, image in images.items():
        save_image(image, out / name)
        print(out / name)


def run(args: argparse.Namespace) -> int:
    from vto.cli.outputs import check_output_dir
    from vto.core.images import open_image
    from vto.core.types import check_combination, parse_category, parse_model_type

    out = Path(args.out)
    check_output_dir(out, "--out", OUTPUTS)
    model_type, category = parse_model_type(args.model_type), parse_category(args.category)
    check_combination(model_type, category)
    if args.mask and (args.parse or args.keypoints):
        raise InvalidInput("--mask replaces the computed mask; leave out --parse and "
                           "--keypoints")
    if (args.parse or args.keypoints) and not (args.parse and args.keypoints):
        raise InvalidInput("--parse and --keypoints go together (give both, or neither to "
                           "run pose detection and parsing)")
    if args.person is None and not args.parse:
        raise InvalidInput("give --person (or --parse and --keypoints)")
    photo = open_image(args.person, name=f"--person '{args.person}'") if args.person else None
    if args.parse:
        _save(out, _from_labels(args, model_type, category, photo))
    else:
        assert photo is not None
        _save(out, _from_photo(args, model_type, category, photo))
    return 0


def _from_labels(args: argparse.Namespace, model_type: ModelType, category: Category,
                 photo: "Image.Image | None") -> dict[str, "Image.Image"]:
    """The original's mask from its own intermediate results (384x512)."""
    from PIL import Image

    from vto.core.preprocess.masking import get_mask_location

    mask, mask_gray = get_mask_location(model_type, category, _load_labels(Path(args.parse)),
                                        _load_keypoints(Path(args.keypoints)))
    if photo is None:
        return {"mask.png": mask}
    working_mask = mask.resize(WORKING_SIZE, Image.NEAREST)
    working_masked = Image.composite(mask_gray.resize(WORKING_SIZE, Image.NEAREST),
                                     photo.resize(WORKING_SIZE), working_mask)
    photo_mask = mask.resize(photo.size, Image.NEAREST)
    return {"mask.png": photo_mask, "masked.png": _grey_over(photo, photo_mask),
            "mask-working.png": working_mask, "masked-working.png": working_masked}


def _from_photo(args: argparse.Namespace, model_type: ModelType, category: Category,
                photo: "Image.Image") -> dict[str, "Image.Image"]:
    """Pose + parsing on the photo (or the user's --mask), framed like a try-on."""
    from vto.cli.hints import own_mask_flag
    from vto.core.models.base import Need
    from vto.core.preprocess.prepare import prepare_person

    framing = Framing(args.framing)
    user_mask = preprocessor = None
    if args.mask:
        from vto.core.images import open_mask
        from vto.core.request import check_mask_coverage

        user_mask = open_mask(args.mask, name=f"--mask '{args.mask}'")
        if user_mask.size != photo.size:
            raise InvalidInput(f"--mask is {user_mask.width}x{user_mask.height} but --person "
                               f"is {photo.width}x{photo.height}; they must be the same size")
        check_mask_coverage(user_mask, "--mask")
    else:
        preprocessor = _preprocessor(args)
    with own_mask_flag():
        prepared = prepare_person(photo, size=WORKING_SIZE, needs={Need.MASK}, recipe=model_type,
                                  category=category, framing=framing, user_mask=user_mask,
                                  preprocessor=preprocessor, person_select=args.person_select)
    assert prepared.mask is not None and prepared.masked is not None
    photo_mask = prepared.mask_on_photo(photo.size)
    assert photo_mask is not None
    return {"mask.png": photo_mask, "masked.png": _grey_over(photo, photo_mask),
            "mask-working.png": prepared.mask, "masked-working.png": prepared.masked}


def _preprocessor(args: argparse.Namespace):  # -> Preprocessor, loaded with a spinner
    from vto.cli.common import checkpoint_root
    from vto.cli.loading import Loading
    from vto.core.checkpoints import CheckpointDir
    from vto.core.devices import resolve_device
    from vto.core.preprocess.prepare import Preprocessor

    root = checkpoint_root(args.checkpoints)
    device = str(resolve_device(args.device or "cpu"))
    CheckpointDir(root).verify_preprocessing()  # missing files: one line, before the spinner
    preprocessor = Preprocessor(root, device=device)
    with Loading("loading the pose and parsing models"):
        preprocessor.load()
    return preprocessor
