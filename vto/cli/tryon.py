"""`vto tryon`: one person photo + one garment -> DIR/0.png, DIR/1.png, …"""

from __future__ import annotations

import argparse
from pathlib import Path

from vto.cli.common import add_model_flags, add_request_flags


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tryon", help="dress a person photo in a garment",
                       description="Dress a person photo in a garment and write one PNG per "
                                   "sample. Each model's licence applies to its outputs "
                                   "(see 'vto models').")
    p.add_argument("--person", required=True, metavar="PATH", help="photo of the person")
    p.add_argument("--garment", required=True, metavar="PATH", help="photo of the garment")
    p.add_argument("--mask", metavar="PATH",
                   help="region to re-generate (white), the photo's size; skips pose and "
                        "parsing; see 'vto mask'")
    p.add_argument("--garment-mask", metavar="PATH",
                   help="the garment's silhouette (white), the garment photo's size (models "
                        "that use one; computed when absent)")
    p.add_argument("--densepose", metavar="PATH",
                   help="a DensePose image of the person, the photo's size (hr-viton)")
    p.add_argument("--keypoints", metavar="KP.json",
                   help='your own OpenPose COCO-18 keypoints in photo pixels, '
                        '{"pose_keypoints_2d": [[x, y] x 18]} ([0, 0] = missing): replace '
                        "pose detection")
    add_request_flags(p)
    p.add_argument("--save-mask", action="store_true",
                   help="also write DIR/mask.png (the re-generated region, aligned with the "
                        "results) and DIR/masked.png (the masked person the model saw)")
    add_model_flags(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vto.cli.common import StepProgress, checkpoint_root, load_keypoints, request_from_args
    from vto.core.engine import TryOnEngine
    from vto.core.images import open_image, open_mask
    from vto.core.request import TryOnInputs
    from vto.errors import InvalidInput

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out} exists and is not a directory")
    request = request_from_args(args)
    inputs = TryOnInputs(
        person=open_image(args.person, name=f"--person {args.person}"),
        garment=open_image(args.garment, name=f"--garment {args.garment}"),
        mask=open_mask(args.mask, name=f"--mask {args.mask}") if args.mask else None,
        garment_mask=(open_mask(args.garment_mask, name=f"--garment-mask {args.garment_mask}")
                      if args.garment_mask else None),
        densepose=(open_image(args.densepose, name=f"--densepose {args.densepose}")
                   if args.densepose else None),
        keypoints=load_keypoints(args.keypoints) if args.keypoints else None)
    engine = TryOnEngine(checkpoint_root(args.checkpoints), device=args.device, dtype=args.dtype)
    request = engine.validate(request, inputs)  # before loading anything
    progress = StepProgress("try-on")
    try:
        result = engine.run(request, inputs, on_step=progress)
    finally:
        progress.close()
    out.mkdir(parents=True, exist_ok=True)
    print(f"seed: {result.seed}")
    for i, image in enumerate(result.images):
        image.save(out / f"{i}.png")
        print(out / f"{i}.png")
    if args.save_mask:
        for name, image in (("mask.png", result.output_mask),  # aligned with the results
                            ("masked.png", result.masked_person)):
            if image is not None:  # models without a masked input have no masked person
                image.save(out / name)
                print(out / name)
    return 0
