"""Run the ORIGINAL CatVTON (Zheng-Chong/CatVTON ``model/pipeline.py``) on CPU/fp32 for vto's
equivalence check.

This file is vto's own code. It runs in a separate virtual environment holding the original's
pins (diffusers 0.29.2, accelerate 0.31.0, transformers 4.27.3, ...) and imports the original
from a checkout given on the command line; nothing of the original is copied here.

    python original_driver.py --original /tmp/orig-catvton/CatVTON --checkpoints CKPT \
        --spec SPEC.json --out OUTDIR

SPEC.json is a list of cases: ``name``, ``person``, ``garment``, ``mask`` (files, relative to
the spec's folder), ``width``, ``height``, ``steps``, ``guidance``, ``samples``, ``seed``.
Every case's images go to ``OUTDIR/<name>_<i>.png``; ``OUTDIR/results.json`` holds one entry
per case plus the weight fingerprints.

What each case does is what the original ``app.py`` ``submit_function`` does with a drawn mask
(app.py itself cannot be imported: it parses arguments and loads models at import time), with
the original's own functions: ``resize_and_crop`` the person, ``resize_and_padding`` the
garment, mask ``> 0`` -> 255, ``resize_and_crop`` and ``VaeImageProcessor.blur(mask, 9)``,
then ``CatVTONPipeline.__call__``. Several samples are the pipeline called once with a batch
(``prepare_image``/``prepare_mask_image`` of n copies: tensors, the original's batch path).
Seeding: ``torch.manual_seed(seed)`` (the VAE samples use the global RNG) and
``generator=torch.Generator("cpu").manual_seed(seed)``.

Only what the original fetches from the Hub is changed, from outside: the hard-coded
``AutoencoderKL.from_pretrained("stabilityai/sd-vae-ft-mse")`` resolves to CKPT/sd-vae-ft-mse,
``base_ckpt``/``attn_ckpt`` are the local folders CKPT/stable-diffusion-inpainting and
CKPT/catvton (the layout mirrors the Hub repositories), the Hub is offline, the safety checker
is off (``skip_safety_check=True``) and the device is the CPU in fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

HUB_IDS = {"stabilityai/sd-vae-ft-mse": "sd-vae-ft-mse"}


def redirect_hub_ids(ckpt: Path) -> None:
    """``AutoencoderKL.from_pretrained(<hub id>)`` -> the same repository under CKPT."""
    from diffusers import AutoencoderKL

    loader = AutoencoderKL.from_pretrained.__func__

    def from_pretrained(cls, name, *args, **kwargs):
        return loader(cls, str(ckpt / HUB_IDS[name]) if name in HUB_IDS else name, *args, **kwargs)

    AutoencoderKL.from_pretrained = classmethod(from_pretrained)


def fingerprints(pipe, ckpt: Path) -> dict:
    """Σ|w| per component and whether every tensor of the attention file is in the UNet."""
    from safetensors.torch import load_file

    def total(module) -> float:
        return float(sum(p.detach().double().abs().sum() for p in module.state_dict().values()
                         if p.is_floating_point()))

    released = load_file(ckpt / "catvton" / "mix-48k-1024" / "attention" / "model.safetensors")
    mine = pipe.attn_modules.state_dict()
    loaded = [k for k, v in released.items() if k in mine and torch.equal(mine[k], v)]
    return {"unet": total(pipe.unet), "vae": total(pipe.vae),
            "attention_tensors": len(released), "attention_loaded": len(loaded),
            "attention_modules": len(pipe.attn_modules)}


def prepare_case(case: dict, folder: Path, utils, mask_processor):
    """The app's preparation of one drawn-mask request (see the module docstring)."""
    size = (case["width"], case["height"])
    person = utils.resize_and_crop(Image.open(folder / case["person"]).convert("RGB"), size)
    cloth = utils.resize_and_padding(Image.open(folder / case["garment"]).convert("RGB"), size)
    mask = np.array(Image.open(folder / case["mask"]).convert("L"))
    mask[mask > 0] = 255
    mask = utils.resize_and_crop(Image.fromarray(mask), size)
    mask = mask_processor.blur(mask, blur_factor=9)
    n = case["samples"]
    if n == 1:
        return person, cloth, mask
    return (utils.prepare_image([person] * n), utils.prepare_image([cloth] * n),
            utils.prepare_mask_image([mask] * n))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--original", type=Path, required=True, help="checkout of Zheng-Chong/CatVTON")
    ap.add_argument("--checkpoints", type=Path, required=True)
    ap.add_argument("--spec", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.original.resolve()))
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))

    from diffusers.image_processor import VaeImageProcessor

    import utils  # the original's utils.py
    from model.pipeline import CatVTONPipeline

    redirect_hub_ids(args.checkpoints)
    pipe = CatVTONPipeline(base_ckpt=str(args.checkpoints / "stable-diffusion-inpainting"),
                           attn_ckpt=str(args.checkpoints / "catvton"), attn_ckpt_version="mix",
                           weight_dtype=torch.float32, device="cpu", skip_safety_check=True)
    # as app.py builds it
    mask_processor = VaeImageProcessor(vae_scale_factor=8, do_normalize=False, do_binarize=True,
                                       do_convert_grayscale=True)
    cases = json.loads(args.spec.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"weights": fingerprints(pipe, args.checkpoints), "cases": []}
    for case in cases:
        image, condition, mask = prepare_case(case, args.spec.parent, utils, mask_processor)
        torch.manual_seed(case["seed"])
        generator = torch.Generator("cpu").manual_seed(case["seed"])
        start = time.perf_counter()
        images = pipe(image=image, condition_image=condition, mask=mask,
                      num_inference_steps=case["steps"], guidance_scale=case["guidance"],
                      height=case["height"], width=case["width"], generator=generator)
        seconds = time.perf_counter() - start
        outputs = []
        for i, im in enumerate(images):
            path = args.out / f"{case['name']}_{i}.png"
            im.save(path)
            outputs.append(str(path))
        results["cases"].append({"name": case["name"], "outputs": outputs, "seconds": seconds})
        print(f"{case['name']}: {len(outputs)} image(s) in {seconds:.2f} s", flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
