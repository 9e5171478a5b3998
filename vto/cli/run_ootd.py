"""`vto run-ootd`: the original ``run/run_ootd.py`` command line, on vto's engine.

Same flags and defaults (``--model_path --cloth_path --model_type hd --category 0
--scale 2.0 --step 20 --sample 4 --seed -1 --gpu_id 0``) plus ``--checkpoints`` and ``--mask``
(your own mask, white = re-generate, the photo's size: pose and parsing are skipped); same
outputs in ``./images_output/``, all 768×1024: ``mask.jpg`` (the masked person) and
``out_{model_type}_{i}.png``. Framing is the original's stretch to 768×1024. Where the
original would crash (no person: IndexError) vto stops with a one-line error; with several
people it dresses the most prominent one (the original took its first detection). The output
folder is checked writable before any model loads.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vto.cli.outputs import expand_arg

log = logging.getLogger(__name__)
OUTPUT_DIR = Path("images_output")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run-ootd", help="the original run_ootd.py command line",
                       description="OOTDiffusion's run/run_ootd.py flags and outputs "
                                   "(./images_output/mask.jpg, out_{type}_{i}.png).")
    p.add_argument("--gpu_id", "-g", type=int, default=0, help="CUDA device index (default: 0; "
                   "CPU when no CUDA device is available)")
    p.add_argument("--model_path", type=expand_arg, required=True, help="person photo")
    p.add_argument("--cloth_path", type=expand_arg, required=True, help="garment photo")
    p.add_argument("--model_type", type=str, default="hd", help="hd or dc (default: hd)")
    p.add_argument("--category", "-c", type=int, default=0,
                   help="0 upper body, 1 lower body, 2 dress (default: 0)")
    p.add_argument("--scale", type=float, default=2.0, help="image guidance scale (default: 2.0)")
    p.add_argument("--step", type=int, default=20, help="denoising steps (default: 20)")
    p.add_argument("--sample", type=int, default=4, help="images to generate (default: 4)")
    p.add_argument("--seed", type=int, default=-1, help="random seed, -1 = random (default: -1)")
    p.add_argument("--mask", type=expand_arg, metavar="PATH",
                   help="your own mask (white = re-generate, the photo's size) instead of pose "
                        "and parsing (not in the original)")
    p.add_argument("--checkpoints", metavar="DIR",
                   help="checkpoint directory (default: $VTO_CHECKPOINTS)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vto.cli.outputs import check_output_dir
    from vto.core.types import Category, Framing, ModelType, parse_model_type
    from vto.errors import InvalidInput

    model_type = parse_model_type(args.model_type)
    category = Category.from_index(args.category)
    if model_type is ModelType.HD and category is not Category.UPPER_BODY:
        raise InvalidInput("model_type 'hd' requires category == 0 (upperbody)")
    files = ["mask.jpg", *(f"out_{model_type.value}_{i}.png" for i in range(max(args.sample, 1)))]
    check_output_dir(OUTPUT_DIR, "output folder", files)

    import torch

    from vto.cli.common import checkpoint_root
    from vto.cli.hints import own_mask_flag
    from vto.cli.loading import Loading
    from vto.cli.outputs import save_image
    from vto.core import engine as engines
    from vto.core.images import open_image, open_mask
    from vto.core.request import TryOnInputs, TryOnRequest

    device = f"cuda:{args.gpu_id}" if torch.cuda.is_available() else "cpu"
    request = TryOnRequest(model=f"ootd-{model_type.value}", category=category,
                           num_inference_steps=args.step, guidance_scale=args.scale,
                           num_images_per_prompt=args.sample, seed=args.seed, width=768,
                           height=1024, framing=Framing.STRETCH, person_select="largest")
    inputs = TryOnInputs(
        person=open_image(args.model_path, name=f"--model_path '{args.model_path}'"),
        garment=open_image(args.cloth_path, name=f"--cloth_path '{args.cloth_path}'"),
        mask=open_mask(args.mask, name=f"--mask '{args.mask}'") if args.mask else None)
    engine = engines.TryOnEngine(checkpoint_root(args.checkpoints), device=device)
    request = engine.validate(request, inputs)
    if request.spec.missing_files(engine.root):
        engine.load(request.model)  # raises CheckpointError naming the files
    with Loading(f"loading {request.model}"):
        engine.load(request.model)
    with own_mask_flag():
        result = engine.run(request, inputs)
    OUTPUT_DIR.mkdir(exist_ok=True)
    save_image(result.masked_person, OUTPUT_DIR / "mask.jpg")
    print(f"seed: {result.seed}")
    for index, image in enumerate(result.images):
        path = OUTPUT_DIR / f"out_{model_type.value}_{index}.png"
        save_image(image, path)
        print(path)
    return 0
