"""vto's VITON-HD backend against the ORIGINAL test code, on identical random weights and inputs.

    python tools/equivalence/viton_hd/compare.py --original /tmp/orig-vitonhd/src \
        --python /tmp/orig-vitonhd/venv/bin/python [--work DIR] [--only dataset,tryon] [--quick]

Runs with the project's Python. For every case it writes the original's dataset folder from
vto's own files step (``inputs.person_files``/``garment_files``: BODY_25 JSON, CIHP parse,
rendered pose, padded garment and mask), runs the original on it through
``original_driver.py`` in the original's venv, runs vto on the same ModelInputs, and prints:

* dataset — the loader's tensors (img_agnostic, parse_agnostic, pose, cloth, cloth_mask)
            from the original ``VITONDataset`` vs ``inputs.load_tensors``. PASS: identical.
* tryon   — final images, original ``test.py`` (captured before its JPEG write) vs
            ``VITONHDBackend.run``, per sample. PASS: every pixel within 1/255.

Exit status 0 when every case passes. Not part of vto's test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
EXAMPLES = REPO.parent / "shared" / "examples"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import cases  # noqa: E402  (beside this file)

from vto.core.models.base import RunParams  # noqa: E402
from vto.core.models.viton_hd.inputs import garment_files, load_tensors, person_files  # noqa: E402
from vto.core.preprocess.convert import cihp_palette_image, openpose_json  # noqa: E402
from vto.core.types import Category  # noqa: E402

TENSORS = ("img_agnostic", "parse_agnostic", "pose", "cloth", "cloth_mask")
TRYON = [  # name, person photo, body kind, garment, garment shape, seed, samples
    ("frontal", "model_1.png", "frontal", "03244_00.jpg", "3:4", 0, 1),
    ("two-samples", "01008_00.jpg", "wide_hips", "00055_00.jpg", "3:4", 1234, 2),
    ("elbow-labels-pad", "049447_0.jpg", "all_labels", "048554_1.jpg", "wide", 7, 1),
    ("arms-out-small", "model_1.png", "arms_out", "03244_00.jpg", "small", 42, 1),
]
DATASET_GARMENTS = (("03244_00.jpg", "3:4"), ("048554_1.jpg", "wide"), ("00055_00.jpg", "small"))


def write_pair(root: Path, person: str, cloth: str, inputs) -> None:
    """One person and one garment in the original's dataset layout under ``root/test``."""
    files, garment = person_files(inputs), garment_files(inputs)
    stem = person[: -len(".jpg")]
    folders = {name: root / "test" / name for name in
               ("image", "image-parse", "openpose-img", "openpose-json", "cloth", "cloth-mask")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    files.image.save(folders["image"] / person, format="PNG")   # lossless, whatever the name
    cihp_palette_image(files.parse).save(folders["image-parse"] / f"{stem}.png")
    files.pose_image.save(folders["openpose-img"] / f"{stem}_rendered.png")
    (folders["openpose-json"] / f"{stem}_keypoints.json").write_text(
        json.dumps(openpose_json(files.keypoints)))
    garment.cloth.save(folders["cloth"] / cloth, format="PNG")
    garment.mask.save(folders["cloth-mask"] / cloth, format="PNG")
    with open(root / "test_pairs.txt", "a") as pairs:
        pairs.write(f"{person} {cloth}\n")


def run_original(args, config: dict, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "cases.json"
    spec.write_text(json.dumps(config, indent=1))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [str(args.python), str(HERE / "original_driver.py"), "--original", str(args.original),
           "--cases", str(spec), "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"original driver failed ({proc.returncode})")
    return json.loads((out / "results.json").read_text())


def table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def section_dataset(args, work: Path) -> bool:
    root = work / "dataset"
    items = []
    for i, kind in enumerate(cases.PERSON_KINDS):
        for j, (name, shape) in enumerate(DATASET_GARMENTS):
            person = f"p{i}x{j}_00.jpg"
            inputs = cases.model_inputs(EXAMPLES, "model_1.png" if i % 2 else "01008_00.jpg",
                                        kind, name, shape)
            write_pair(root, person, f"c{i}x{j}.png", inputs)
            items.append((f"{kind}/{shape}", inputs))
    config = {"checkpoint_dir": str(args.checkpoints / "viton-hd"), "ngf": args.ngf,
              "cases": [{"name": "dataset", "dataset_dir": str(root), "mode": "dataset"}]}
    result = run_original(args, config, work / "original")["dataset"]
    rows, ok_all = [], True
    for (label, inputs), path in zip(items, result["items"]):
        theirs = np.load(path)
        mine = load_tensors(person_files(inputs), garment_files(inputs))
        diffs = [float(np.abs(getattr(mine, k).numpy() - theirs[k]).max()) for k in TENSORS]
        ok = all(d == 0 for d in diffs)
        ok_all &= ok
        rows.append([label] + [f"{d:.3g}" for d in diffs] + ["PASS" if ok else "FAIL"])
    print(f"\n## dataset: original VITONDataset vs vto inputs.load_tensors ({len(rows)} items)\n")
    print(table(["person/garment"] + [f"max|Δ| {k}" for k in TENSORS] + ["result"], rows))
    return ok_all


def section_tryon(args, work: Path) -> bool:
    from vto.core.models.viton_hd.backend import VITONHDBackend

    chosen = TRYON[:2] if args.quick else TRYON
    config = {"checkpoint_dir": str(args.checkpoints / "viton-hd"), "ngf": args.ngf, "cases": []}
    inputs = {}
    for name, photo, kind, cloth, shape, seed, samples in chosen:
        root = work / "tryon" / name
        inputs[name] = cases.model_inputs(EXAMPLES, photo, kind, cloth, shape)
        for k in range(samples):  # one dataset item per sample: the original's k-th image
            write_pair(root, f"s{k}_00.jpg", "cloth.png", inputs[name])
        config["cases"].append({"name": name, "dataset_dir": str(root), "mode": "tryon",
                                "seed": seed})
    started = time.time()
    result = run_original(args, config, work / "original")
    original_s = time.time() - started
    backend = VITONHDBackend.load(args.checkpoints, "cpu")
    rows, ok_all, vto_s, images = [], True, 0.0, 0
    for name, photo, kind, cloth, shape, seed, samples in chosen:
        started = time.time()
        mine = backend.run(inputs[name], RunParams(category=Category.UPPER_BODY,
                                                   size=(768, 1024), seed=seed,
                                                   num_images_per_prompt=samples))
        vto_s += time.time() - started
        images += samples
        theirs = [np.asarray(Image.open(p)) for p in result[name]["outputs"]]
        for k in range(samples):
            a, b = np.asarray(mine[k]).astype(int), theirs[k].astype(int)
            diff = np.abs(a - b)
            ok = a.shape == b.shape and diff.max() <= 1
            ok_all &= ok
            rows.append([name, kind, shape, seed, k, diff.max(), f"{(diff > 0).mean():.2e}",
                         f"{b.std():.1f}", "PASS" if ok else "FAIL"])
        if len(theirs) != samples:
            ok_all = False
            rows.append([name, "original wrote", len(theirs), "images", "", "", "", "", "FAIL"])
    print(f"\n## tryon: original test.py vs vto VITONHDBackend.run (ngf={args.ngf}, fp32, CPU)\n")
    print(table(["case", "body", "garment", "seed", "sample", "max|Δ|", "pixels ≠",
                 "output std", "result"], rows))
    print(f"\nseconds per image, 1 thread: original {original_s / images:.1f} (incl. its "
          f"start-up and model construction per case), vto {vto_s / images:.1f}")
    return ok_all


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", type=Path, required=True, help="VITON-HD checkout")
    parser.add_argument("--python", type=Path, required=True, help="the original's venv python")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vto-equivalence-vitonhd"))
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="a tiny checkpoint root (default: written with --seed)")
    parser.add_argument("--seed", type=int, default=0, help="weights seed")
    parser.add_argument("--only", default="dataset,tryon")
    parser.add_argument("--quick", action="store_true", help="two try-on cases only")
    args = parser.parse_args(argv)
    import torch

    from vto.dev.viton_hd import write_tiny_checkpoint

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    for stale in ("dataset", "tryon", "original"):  # pairs files are appended to
        shutil.rmtree(args.work / stale, ignore_errors=True)
    if args.checkpoints is None:
        args.checkpoints = write_tiny_checkpoint(args.work / "checkpoints", seed=args.seed)
    alias = torch.load(args.checkpoints / "viton-hd" / "alias_final.pth", weights_only=True)
    args.ngf = alias["conv_0.weight"].shape[0] // 16   # the original's --ngf for these files
    ok = True
    only = set(args.only.split(","))
    if "dataset" in only:
        ok &= section_dataset(args, args.work)
    if "tryon" in only:
        ok &= section_tryon(args, args.work)
    print("\nALL PASS" if ok else "\nSOME FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
