"""`vto tryon`: one person photo + one garment -> DIR/0.png, DIR/1.png, …"""

from __future__ import annotations

import argparse
from pathlib import Path

from vto.cli.common import StepProgress, add_choice_flags, add_model_flags
from vto.core.checkpoints import resolve_checkpoints
from vto.core.images import open_image, open_mask
from vto.core.tryon import TryOnEngine, TryOnRequest, parse_size
from vto.core.types import Framing, parse_category, parse_model_type
from vto.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tryon", help="dress a person photo in a garment",
                       description="Dress a person photo in a garment and write one PNG per sample.")
    p.add_argument("--person", required=True, metavar="PATH", help="photo of the person")
    p.add_argument("--garment", required=True, metavar="PATH", help="photo of the garment")
    p.add_argument("--mask", metavar="PATH",
                   help="region to re-generate (white), skips pose and parsing; see 'vto mask'")
    add_choice_flags(p)
    p.add_argument("--steps", type=int, default=20, help="denoising steps (default: 20)")
    p.add_argument("--guidance", type=float, default=2.0, help="image guidance scale (default: 2.0)")
    p.add_argument("--samples", type=int, default=1, help="images to generate, 1-4 (default: 1)")
    p.add_argument("--seed", type=int, default=-1, help="random seed; -1 picks one (default: -1)")
    p.add_argument("--size", default="768x1024", help="working size WxH (default: 768x1024)")
    p.add_argument("--person-select", default="error", choices=["error", "largest"],
                   help="several people in the photo: fail, or dress the most prominent one")
    p.add_argument("--save-mask", action="store_true", help="also write DIR/mask.png (the re-generated region, aligned with the results) "
                        "and DIR/masked.png (the masked person the model saw)")
    add_model_flags(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out} exists and is not a directory")
    request = TryOnRequest(
        person=open_image(args.person, name=f"--person {args.person}"),
        garment=open_image(args.garment, name=f"--garment {args.garment}"),
        mask=open_mask(args.mask, name=f"--mask {args.mask}") if args.mask else None,
        model_type=parse_model_type(args.model_type), category=parse_category(args.category),
        steps=args.steps, guidance_scale=args.guidance, samples=args.samples, seed=args.seed,
        size=parse_size(args.size), framing=Framing(args.framing), person_select=args.person_select)
    engine = TryOnEngine(resolve_checkpoints(args.checkpoints), device=args.device, dtype=args.dtype)
    engine.validate(request)  # before loading anything
    progress = StepProgress("try-on")
    try:
        result = engine.run(request, callback=progress)
    finally:
        progress.close()
    out.mkdir(parents=True, exist_ok=True)
    print(f"seed: {result.seed}")
    for i, image in enumerate(result.images):
        image.save(out / f"{i}.png")
        print(out / f"{i}.png")
    if args.save_mask:
        result.output_mask.save(out / "mask.png")  # aligned with the result images
        result.masked_person.save(out / "masked.png")
        print(out / "mask.png")
        print(out / "masked.png")
    return 0
