"""vto's HR-VITON backend against the ORIGINAL test code on identical tiny random weights and
inputs.

    python tools/equivalence/hr_viton/compare.py --original /tmp/orig-hrviton/src \
        --python /tmp/orig-hrviton/venv/bin/python [--work DIR] [--quick]

Runs with the project's Python. For every case it builds one vto ModelInputs (an example
photo and garment from ../shared/examples, hand-made label maps and keypoints from
vto.dev.hr_viton, a DensePose-like image), writes the original's dataset folder from it
(the person, garment, mask and DensePose as lossless PNG data under the original's .jpg names;
the CIHP label map vto derives; vto's BODY_25 keypoints as OpenPose JSON and rendered), runs
the original (``original_driver.py`` in its own venv: ``get_parse_agnostic.py`` then
``test_generator.py``) and vto's HRVITONBackend on the same tiny checkpoint, and prints tables:

* inputs    — the dataset item's tensors vs vto's (max |Δ|), the parse-agnostic label map
              and the agnostic person image (pixels that differ);
* condition — the condition generator's inputs and outputs (max |Δ|);
* output    — the image generator's inputs and the final images: max |Δ| of the raw output
              and of the 8-bit images (PASS: every pixel within 1/255);
* loads     — what the original's load_state_dict calls reported missing / unexpected.

Exit status 0 when every case passes. Not part of the test suite (CI has no original code).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
EXAMPLES = REPO.parent / "shared" / "examples"
sys.path.insert(0, str(REPO))

from vto.core.models.base import ModelInputs, RunParams  # noqa: E402
from vto.core.models.hr_viton import inputs as hr_inputs  # noqa: E402
from vto.core.models.hr_viton.backend import HRVITONBackend  # noqa: E402
from vto.core.preprocess.convert import (body25_keypoints, openpose_json,  # noqa: E402
                                         render_body25)
from vto.core.types import Category  # noqa: E402
from vto.dev.hr_viton import TINY_NGF, synthetic_inputs, write_tiny_checkpoint  # noqa: E402

log = logging.getLogger("compare")

# name, person, garment (+ how it is given), keypoints, label maps, seed, samples
CASES = [
    dict(name="base", person="model_1.png", garment="03244_00.jpg", pose="base",
         labels="plain", seed=0, samples=1),
    dict(name="no_left_wrist", person="01008_00.jpg", garment="00055_00.jpg",
         pose="no_left_wrist", labels="coat", seed=1234, samples=1),
    dict(name="no_right_elbow", person="049447_0.jpg", garment="048554_1.jpg",
         pose="no_right_elbow", labels="blocky", seed=7, samples=1),
    dict(name="arms_up_2_samples", person="model_1.png", garment="00055_00.jpg",
         pose="arms_up", labels="plain", seed=3, samples=2),
    dict(name="square_garment", person="01008_00.jpg", garment="048554_1.jpg:square",
         pose="fractional", labels="coat", seed=42, samples=1),
    dict(name="small_3x4_garment_3_samples", person="052767_0.jpg",
         garment="03244_00.jpg:384x512", pose="narrow_hips", labels="blocky", seed=5, samples=3),
]
QUICK = ("base", "arms_up_2_samples")


def garment_and_mask(spec: str) -> tuple[Image.Image, Image.Image]:
    """An example garment (optionally cropped square or resized) and a threshold mask."""
    name, _, variant = spec.partition(":")
    garment = Image.open(EXAMPLES / "garment" / name).convert("RGB")
    if variant == "square":
        side = min(garment.size)
        garment = garment.crop((0, (garment.height - side) // 2, side, (garment.height + side) // 2))
    elif variant:
        garment = garment.resize(tuple(int(v) for v in variant.split("x")), Image.BILINEAR)
    mask = Image.fromarray(((np.asarray(garment.convert("L")) < 240) * 255).astype(np.uint8))
    return garment, mask


def case_inputs(case: dict) -> ModelInputs:
    person = Image.open(EXAMPLES / "person" / case["person"]).convert("RGB")
    return synthetic_inputs(case["pose"], case["labels"], person=person,
                            garment=garment_and_mask(case["garment"]))


def _png(image: Image.Image, path: Path) -> None:
    """Lossless PNG data under whatever name the original expects (it opens by content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())


def pose_image(inputs: ModelInputs) -> Image.Image:
    """The rendered skeleton the dataset loads (it never reaches a network)."""
    return render_body25(body25_keypoints(inputs.keypoints), (768, 1024))


def write_dataset(root: Path, stem: str, inputs: ModelInputs, samples: int, name: str) -> None:
    """The original's dataset folder for one pair (person and garment both named ``stem``)."""
    test = root / "test"
    _png(inputs.person, test / "image" / f"{stem}.jpg")
    cloth, mask = inputs.garment, inputs.garment_mask
    if abs(cloth.width * 4 - cloth.height * 3) > 0:  # the original handles 3:4 photos only
        cloth, mask = hr_inputs.fit_garment(cloth, mask)
    _png(cloth, test / "cloth" / f"{stem}.jpg")
    _png(mask.convert("L"), test / "cloth-mask" / f"{stem}.jpg")
    labels = Image.fromarray(hr_inputs.labels_of(inputs.parse, inputs.parse_lip), "L")
    labels.putpalette([(i * 13) % 256 for i in range(768)])   # a "P" image, as CIHP-PGN's
    _png(labels, test / "image-parse-v3" / f"{stem}.png")
    (test / "openpose_json").mkdir(parents=True, exist_ok=True)
    (test / "openpose_json" / f"{stem}_keypoints.json").write_text(
        json.dumps(openpose_json(body25_keypoints(inputs.keypoints, (768, 1024)))))
    _png(pose_image(inputs), test / "openpose_img" / f"{stem}_rendered.png")
    _png(inputs.densepose, test / "image-densepose" / f"{stem}.jpg")
    (root / f"pairs_{name}.txt").write_text(f"{stem}.jpg {stem}.jpg\n" * samples)


class Recorder:
    """Forward hooks on vto's two networks: their inputs and outputs, as numpy."""

    def __init__(self, backend: HRVITONBackend) -> None:
        self.data: dict[str, np.ndarray] = {}
        backend.condition.register_forward_hook(self._tocg)
        backend.generator.register_forward_hook(self._gen)

    def _tocg(self, module, args, output) -> None:
        flow, segmap, warped_c, warped_cm = output
        for key, value in dict(input1=args[0], input2=args[1], flow=flow, segmap=segmap,
                               warped_c=warped_c, warped_cm=warped_cm).items():
            self.data[f"tocg.{key}"] = value.detach().float().cpu().numpy()

    def _gen(self, module, args, output) -> None:
        self.data["gen.input"] = args[0].detach().float().cpu().numpy()
        self.data["gen.seg"] = args[1].detach().float().cpu().numpy()
        self.data["gen.output"] = output.detach().float().cpu().numpy()


def maxdiff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("nan")
    return float(np.abs(a - b).max()) if a.size else 0.0


def table(header: list[str], rows: list[list]) -> str:
    rows = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--original", type=Path, required=True, help="HR-VITON checkout")
    ap.add_argument("--python", type=Path, required=True, help="the original's venv python")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vto-equivalence-hrviton"))
    ap.add_argument("--seed", type=int, default=0, help="tiny checkpoint seed")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cases = [c for c in CASES if not args.quick or c["name"] in QUICK]

    t0 = time.time()
    ckpt = write_tiny_checkpoint(args.work / "checkpoints", seed=args.seed)
    log.info("tiny checkpoint (generator ngf=%d) in %.1fs", TINY_NGF, time.time() - t0)
    data = args.work / "data"
    all_inputs = {}
    for i, case in enumerate(cases):
        all_inputs[case["name"]] = case_inputs(case)
        write_dataset(data, f"c{i:02d}_00", all_inputs[case["name"]], case["samples"], case["name"])
    spec = args.work / "spec.json"
    spec.write_text(json.dumps([dict(name=c["name"], pairs=f"pairs_{c['name']}.txt",
                                     batch=c["samples"], seed=c["seed"]) for c in cases]))
    out = args.work / "original"
    t0 = time.time()
    proc = subprocess.run([str(args.python), str(HERE / "original_driver.py"),
                           "--original", str(args.original), "--data", str(data),
                           "--checkpoints", str(ckpt), "--spec", str(spec), "--out", str(out),
                           "--ngf", str(TINY_NGF)],
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore", TQDM_DISABLE="1"))
    (args.work / "original.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit("original driver failed:\n" + (proc.stderr or proc.stdout)[-4000:])
    log.info("original: %d cases in %.1fs", len(cases), time.time() - t0)
    results = json.loads((out / "results.json").read_text())

    backend = HRVITONBackend.load(ckpt, "cpu", torch.float32)
    recorder = Recorder(backend)
    in_rows, cond_rows, out_rows, failures, seconds = [], [], [], [], []
    for i, case in enumerate(cases):
        name, inputs = case["name"], all_inputs[case["name"]]
        orig = dict(np.load(out / f"{name}.npz"))
        # inputs: the dataset item and the two agnostic maps
        mine = hr_inputs.build_tensors(inputs)
        pose = hr_inputs.pose_of(inputs.keypoints)
        labels = hr_inputs.labels_of(inputs.parse, inputs.parse_lip)
        orig_pa = np.asarray(Image.open(data / "test" / "image-parse-agnostic-v3.2" / f"c{i:02d}_00.png"))
        pa_px = int((hr_inputs.parse_agnostic(labels, pose) != orig_pa).sum())
        orig_agn = np.rint((orig["item.agnostic"] * 0.5 + 0.5) * 255).astype(np.uint8)
        mine_agn = np.asarray(hr_inputs.agnostic_person(inputs.person, labels, pose)).transpose(2, 0, 1)
        agn_px = int((orig_agn != mine_agn).any(axis=0).sum())
        diffs = [maxdiff(getattr(mine, k)[0], orig[f"item.{k}"]) for k in
                 ("cloth", "cloth_mask", "parse_agnostic", "densepose", "agnostic")]
        ok_in = pa_px == 0 and agn_px == 0 and max(diffs) == 0
        in_rows.append([name, *map(fmt, diffs), pa_px, agn_px, "PASS" if ok_in else "FAIL"])
        # the backend, same seed and sample count
        t0 = time.time()
        images = backend.run(inputs, RunParams(category=Category.UPPER_BODY, size=(768, 1024),
                                               num_images_per_prompt=case["samples"],
                                               seed=case["seed"]))
        seconds.append((time.time() - t0) / case["samples"])
        rec = recorder.data
        cond = [maxdiff(rec[f"tocg.{k}"], orig[f"tocg.{k}"]) for k in
                ("input1", "input2", "flow", "segmap", "warped_cm")]
        cond_rows.append([name, *map(fmt, cond)])
        raw = maxdiff(rec["gen.output"], orig["gen.output"])
        mine_px = np.stack([np.asarray(im) for im in images]).astype(np.int16)
        orig_px = ((orig["gen.output"] + 1) * 0.5 * 255).clip(0, 255).astype(np.uint8)
        worst = int(np.abs(mine_px - orig_px.transpose(0, 2, 3, 1).astype(np.int16)).max())
        seg_px = int((rec["gen.seg"] != orig["gen.seg"]).any(axis=1).sum())
        ok = ok_in and worst <= 1
        out_rows.append([name, case["samples"], case["seed"], fmt(maxdiff(rec["gen.input"], orig["gen.input"])),
                         seg_px, fmt(raw), worst, f"{seconds[-1]:.1f}", "PASS" if ok else "FAIL"])
        if not ok:
            failures.append(name)

    print("\n== inputs: dataset item tensors max |Δ|; parse-agnostic / agnostic-image pixels differing")
    print(table(["case", "cloth", "cloth_mask", "parse_agnostic", "densepose", "agnostic",
                 "parse-agn px", "agnostic px", ""], in_rows))
    print("\n== condition generator (256x192): max |Δ|")
    print(table(["case", "input1", "input2", "flow", "segmap", "warped_cm"], cond_rows))
    print("\n== image generator and output (1024x768)")
    print(table(["case", "samples", "seed", "gen input", "seg px differing", "output max|Δ|",
                 "8-bit max|Δ|", "vto s/image", ""], out_rows))
    loads = next(iter(results.values()))["loads"]
    print("\n== the original's load_state_dict reports (tiny checkpoint)")
    print(table(["module", "strict", "missing", "unexpected"],
                [[r["module"], r["strict"], len(r["missing"]), len(r["unexpected"])] for r in loads]))
    print(f"\n{len(cases) - len(failures)}/{len(cases)} cases PASS"
          + (f"; FAIL: {', '.join(failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
