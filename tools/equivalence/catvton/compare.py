"""vto's CatVTON backend against the ORIGINAL CatVTON on identical tiny random weights and inputs.

    python tools/equivalence/catvton/compare.py --original /tmp/orig-catvton/CatVTON \
        --python /tmp/orig-catvton/venv/bin/python [--work DIR] [--quick]

Runs with the project's Python (vto importable); the original runs in its own virtual
environment through ``original_driver.py`` (README.md beside this file). Both read the same
files: a tiny checkpoint written by ``vto.dev.catvton.write_tiny_checkpoint`` and person,
garment and mask images written here. vto runs through ``CatVTONBackend.run`` (what the engine
calls). PASS: every pixel of every image within 1/255. Exit status 0 when every case passes.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
EXAMPLES = REPO.parent / "shared" / "examples"

log = logging.getLogger("compare")

SIZES = [(192, 256), (136, 176)]
CATEGORIES = ["upper_body", "lower_body", "dress"]
SEEDS = [0, 1234, 2**31 - 1]


def _ootd_mask_helpers():
    """The synthetic ATR label maps and keypoints of the OOTD comparison (its compare.py)."""
    path = HERE.parent / "compare.py"
    spec = importlib.util.spec_from_file_location("ootd_equivalence_compare", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module._label_map, module.BASE_KP


def write_inputs(folder: Path) -> dict:
    """Persons at each working size, two garments (3:4 and square: the padding path), and one
    automatic-style mask per category and size (vto's OOTD mask on a synthetic parse, 0/255)."""
    from vto.core.preprocess.masking import get_mask_location

    folder.mkdir(parents=True, exist_ok=True)
    label_map, keypoints = _ootd_mask_helpers()
    photo = Image.open(EXAMPLES / "person" / "model_1.png").convert("RGB")
    garment = Image.open(EXAMPLES / "garment" / "03244_00.jpg").convert("RGB")
    garment.save(folder / "garment_tall.png")
    side = min(garment.size)
    garment.crop((0, 0, side, side)).resize((300, 300), Image.BICUBIC).save(folder / "garment_square.png")
    files = {}
    for w, h in SIZES:
        photo.resize((w, h), Image.BICUBIC).save(folder / f"person_{w}x{h}.png")
        for category in CATEGORIES:
            labels = label_map("dress" if category == "dress" else "plain")
            mask, _ = get_mask_location("dc", category, labels, {"pose_keypoints_2d": keypoints})
            mask.resize((w, h), Image.NEAREST).save(folder / f"mask_{category}_{w}x{h}.png")
        files[(w, h)] = f"person_{w}x{h}.png"
    return files


def cases(quick: bool) -> list[dict]:
    out = []
    sizes = SIZES[:1] if quick else SIZES
    for k, ((w, h), category, guidance, samples) in enumerate(
            itertools.product(sizes, CATEGORIES, (1.0, 2.5), (1, 2))):
        seed = SEEDS[k % len(SEEDS)]
        garment = "garment_square.png" if k % 2 else "garment_tall.png"
        out.append(dict(name=f"{category}_{w}x{h}_g{guidance:g}_n{samples}_s{seed}",
                        person=f"person_{w}x{h}.png", garment=garment,
                        mask=f"mask_{category}_{w}x{h}.png", category=category,
                        width=w, height=h, steps=3, guidance=guidance, samples=samples,
                        seed=seed))
    w, h = SIZES[0]
    for seed, steps in zip(SEEDS, (1, 3, 8)):  # more seeds and step counts on one setting
        out.append(dict(name=f"upper_body_{w}x{h}_g2.5_n1_s{seed}_steps{steps}",
                        person=f"person_{w}x{h}.png", garment="garment_tall.png",
                        mask=f"mask_upper_body_{w}x{h}.png", category="upper_body", width=w,
                        height=h, steps=steps, guidance=2.5, samples=1, seed=seed))
    return out


def run_original(args, spec_path: Path, out: Path) -> dict:
    env = dict(os.environ, HF_HOME=str(args.work / "hf_home"), HF_HUB_OFFLINE="1",
               TQDM_DISABLE="1", PYTHONWARNINGS="ignore")
    cmd = [str(args.python), str(HERE / "original_driver.py"), "--original", str(args.original),
           "--checkpoints", str(args.checkpoints), "--spec", str(spec_path), "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"the original failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads((out / "results.json").read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="vto's CatVTON vs the original on tiny weights")
    ap.add_argument("--original", type=Path, required=True, help="checkout of Zheng-Chong/CatVTON")
    ap.add_argument("--python", type=Path, required=True, help="python of the original's venv")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vto-equivalence-catvton"))
    ap.add_argument("--checkpoints", type=Path, help="tiny checkpoint (default: written into --work)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the tiny checkpoint")
    ap.add_argument("--quick", action="store_true", help="one working size only")
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import torch

    from vto.core.models.base import ModelInputs, RunParams, SharedParts
    from vto.core.models.catvton.backend import CatVTONBackend
    from vto.core.types import Category

    args.work = args.work.resolve()
    args.original = args.original.resolve()
    if args.checkpoints is None:
        args.checkpoints = args.work / f"tiny-seed{args.seed}"
        if not (args.checkpoints / "catvton").is_dir():
            from vto.dev.catvton import write_tiny_checkpoint
            write_tiny_checkpoint(args.checkpoints, seed=args.seed)
    args.checkpoints = args.checkpoints.resolve()
    inputs_dir = args.work / "inputs"
    write_inputs(inputs_dir)
    todo = [c for c in cases(args.quick) if args.only in c["name"]]
    spec_path = inputs_dir / "cases.json"
    spec_path.write_text(json.dumps(todo, indent=2))

    log.info("original: %d cases", len(todo))
    original = run_original(args, spec_path, args.work / "original")
    by_name = {c["name"]: c for c in original["cases"]}

    backend = CatVTONBackend.load(args.checkpoints, "cpu", torch.float32, SharedParts())
    rows, failures, timings = [], [], []
    for case in todo:
        person = Image.open(inputs_dir / case["person"]).convert("RGB")
        garment = Image.open(inputs_dir / case["garment"]).convert("RGB")
        mask = Image.open(inputs_dir / case["mask"]).convert("L")
        params = RunParams(category=Category(case["category"]),
                           size=(case["width"], case["height"]),
                           num_inference_steps=case["steps"], guidance_scale=case["guidance"],
                           num_images_per_prompt=case["samples"], seed=case["seed"])
        start = time.perf_counter()
        mine = backend.run(ModelInputs(person=person, garment=garment, mask=mask), params)
        timings.append((time.perf_counter() - start, by_name[case["name"]]["seconds"]))
        theirs = [Image.open(p).convert("RGB") for p in by_name[case["name"]]["outputs"]]
        if len(mine) != len(theirs) or any(a.size != b.size for a, b in zip(mine, theirs)):
            rows.append([case["name"], "-", "-", "FAIL (count/size)"])
            failures.append(case["name"])
            continue
        diffs = [np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)) for a, b in
                 zip(mine, theirs)]
        worst = max(int(d.max()) for d in diffs)
        differing = sum(int((d > 0).any(axis=-1).sum()) for d in diffs)
        ok = worst <= 1
        rows.append([case["name"], worst, differing, "PASS" if ok else "FAIL"])
        if not ok:
            failures.append(case["name"])

    w_orig = original["weights"]
    pipe = backend.pipeline
    w_mine = {k: float(sum(p.detach().double().abs().sum() for p in m.state_dict().values()
                           if p.is_floating_point())) for k, m in (("unet", pipe.unet),
                                                                   ("vae", pipe.vae))}
    weight_rows = [[k, f"{w_mine[k]:.6f}", f"{w_orig[k]:.6f}",
                    "PASS" if abs(w_mine[k] - w_orig[k]) <= 1e-6 * w_orig[k] else "FAIL"]
                   for k in ("unet", "vae")]
    att_ok = w_orig["attention_loaded"] == w_orig["attention_tensors"]
    weight_rows.append(["attention file tensors loaded by the original",
                        f"{w_orig['attention_tensors']}", f"{w_orig['attention_loaded']}",
                        "PASS" if att_ok else "FAIL"])
    failures += [r[0] for r in weight_rows if r[-1] == "FAIL"]

    print("\n== tryon (vto CatVTONBackend.run vs original CatVTONPipeline) ==")
    print(_table(["case", "max|Δpx|", "px≠", "result"], rows))
    print("\n== weights ==")
    print(_table(["component", "vto Σ|w|", "original Σ|w|", "result"], weight_rows))
    mine_s, theirs_s = (sum(t[i] for t in timings) for i in (0, 1))
    print(f"\ntime for all cases: vto {mine_s:.1f} s, original {theirs_s:.1f} s")
    print(f"\n{len(failures)} failing case(s)")
    for name in failures:
        print("  FAIL", name)
    return 1 if failures else 0


def _table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
