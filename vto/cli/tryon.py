"""`vto tryon`: one person photo + one garment -> DIR/0.png, DIR/1.png, …

Everything that can be refused is refused before a model loads: the flags and the request
(the one request type), the images, the checkpoint files and the output directory (writable,
or creatable). While models load, a spinner turns on a terminal (one plain line otherwise).
``--save-mask`` writes the mask and the masked person aligned with the results
(``mask.png``/``masked.png``, the photo's size with the default framing) and what the model saw
at its working size (``mask-working.png``/``masked-working.png``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vto.cli.common import add_model_flags, add_request_flags, add_runtime_flags
from vto.cli.outputs import expand_arg

if TYPE_CHECKING:
    from PIL import Image

    from vto.core.engine import TryOnResult

MASK_FILES = ("mask.png", "masked.png", "mask-working.png", "masked-working.png")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tryon", help="dress a person photo in a garment",
                       description="Dress a person photo in a garment and write one PNG per "
                                   "sample. Each model's licence applies to its outputs "
                                   "(see 'vto models').")
    p.add_argument("--person", required=True, metavar="PATH", type=expand_arg,
                   help="photo of the person")
    p.add_argument("--garment", required=True, metavar="PATH", type=expand_arg,
                   help="photo of the garment")
    p.add_argument("--mask", metavar="PATH", type=expand_arg,
                   help="region to re-generate (white), the photo's size; skips pose and "
                        "parsing; see 'vto mask'")
    p.add_argument("--garment-mask", metavar="PATH", type=expand_arg,
                   help="the garment's silhouette (white), the garment photo's size (models "
                        "that use one; computed when absent)")
    p.add_argument("--densepose", metavar="PATH", type=expand_arg,
                   help="a DensePose image of the person, the photo's size (hr-viton)")
    p.add_argument("--keypoints", metavar="KP.json", type=expand_arg,
                   help='your own OpenPose COCO-18 keypoints in photo pixels, '
                        '{"pose_keypoints_2d": [[x, y] x 18]} ([0, 0] = missing): replace '
                        "pose detection")
    add_request_flags(p)
    p.add_argument("--save-mask", action="store_true",
                   help="also write DIR/mask.png and DIR/masked.png (the re-generated region "
                        "and the masked person, aligned with the results) and "
                        "DIR/mask-working.png, DIR/masked-working.png (what the model saw, at "
                        "the working size)")
    add_model_flags(p)
    add_runtime_flags(p)
    p.add_argument("--out", required=True, metavar="DIR", type=expand_arg,
                   help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vto.cli.common import (StepProgress, checkpoint_root, load_keypoints, request_from_args,
                                runtime_options_from_args)
    from vto.cli.hints import own_mask_flag
    from vto.cli.loading import Loading
    from vto.cli.outputs import check_output_dir, save_image
    from vto.core.engine import TryOnEngine
    from vto.core.images import open_image, open_mask
    from vto.core.request import TryOnInputs

    request = request_from_args(args)
    samples = request.num_images_per_prompt
    out = Path(args.out)
    check_output_dir(out, "--out", [f"{i}.png" for i in range(samples)]
                     + (list(MASK_FILES) if args.save_mask else []))
    inputs = TryOnInputs(
        person=open_image(args.person, name=f"--person {args.person}"),
        garment=open_image(args.garment, name=f"--garment {args.garment}"),
        mask=open_mask(args.mask, name=f"--mask {args.mask}") if args.mask else None,
        garment_mask=(open_mask(args.garment_mask, name=f"--garment-mask {args.garment_mask}")
                      if args.garment_mask else None),
        densepose=(open_image(args.densepose, name=f"--densepose {args.densepose}")
                   if args.densepose else None),
        keypoints=load_keypoints(args.keypoints) if args.keypoints else None)
    engine = TryOnEngine(checkpoint_root(args.checkpoints), device=args.device, dtype=args.dtype,
                         options=runtime_options_from_args(args))
    request = engine.validate(request, inputs)  # before loading anything
    if request.spec.missing_files(engine.root):
        engine.load(request.model)               # raises CheckpointError naming the files
    with Loading(f"loading {request.model}"):
        engine.load(request.model)
    preparing = Loading("preparing the photo", plain=False)
    progress = StepProgress("try-on")

    def on_step(step: int, total: int) -> None:
        preparing.stop()
        progress(step, total)

    preparing.start()
    try:
        with own_mask_flag():
            result = engine.run(request, inputs, on_step=on_step)
    finally:
        preparing.stop()
        progress.close()
    out.mkdir(parents=True, exist_ok=True)
    print(f"seed: {result.seed}")
    for i, image in enumerate(result.images):
        save_image(image, out / f"{i}.png")
        print(out / f"{i}.png")
    if args.save_mask:
        for name, image in mask_outputs(result, inputs.person).items():
            save_image(image, out / name)
            print(out / name)
    return 0


def mask_outputs(result: TryOnResult, photo: Image.Image) -> dict[str, Image.Image]:
    """The --save-mask files: aligned with the results, and what the model saw at the working
    size (a model without a masked input has no masked person there)."""
    from PIL import Image

    mask = result.output_mask
    if mask is None:
        print(f"vto: model {result.model} uses no mask; --save-mask writes nothing",
              file=sys.stderr)
        return {}
    size = result.images[0].size  # the photo's with keep framing, the working size with stretch
    base = photo.convert("RGB") if photo.size == size else photo.convert("RGB").resize(size)
    outputs = {"mask.png": mask,
               "masked.png": Image.composite(Image.new("RGB", size, (127, 127, 127)), base,
                                             mask.resize(size, Image.NEAREST)),
               "mask-working.png": result.mask, "masked-working.png": result.masked_person}
    return {name: image for name, image in outputs.items() if image is not None}
