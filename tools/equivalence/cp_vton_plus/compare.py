"""Compare vto's CP-VTON+ backend with the original code on identical weights and inputs.

Run with the project's Python (vto importable); the original runs in its own venv through
``original_driver.py``:

    python tools/equivalence/cp_vton_plus/compare.py --original /tmp/orig-cpvton/cp-vton-plus \
        --python /tmp/orig-cpvton/venv/bin/python

Steps: write random weights in the published format (``vto.dev.cp_vton_plus``); build the
cases as vto's ``ModelInputs``; write each one into the original's dataset layout (the maps
vto derives: person, ``image-parse-new``, ``image-mask``, pose JSON, garment, garment mask);
run the original (GMM stage, copy, TOM stage) with its JPEG files between the stages and again
with PNG files; run vto with ``Handoff.JPEG`` and ``Handoff.LOSSLESS``; print the tables.
Exit status 0 when every case passes (every output pixel within 1/255, inputs identical).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from vto.core.models.base import ModelInputs, RunParams
from vto.core.models.cp_vton_plus import inputs as cp_inputs
from vto.core.models.cp_vton_plus.backend import CPVTONPlusBackend
from vto.core.models.cp_vton_plus.handoff import Handoff, to_uint8
from vto.core.types import Category
from vto.dev.cp_vton_plus import write_tiny_checkpoint

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[2].parent / "shared" / "examples"

# A standing half-body figure in the 384x512 preprocessing frame, COCO-18 order.
FIGURE = np.array([[192, 100], [192, 160], [140, 165], [118, 250], [112, 330], [244, 165],
                   [266, 250], [272, 330], [162, 340], [160, 450], [0, 0], [222, 340],
                   [224, 450], [0, 0], [182, 90], [202, 90], [170, 96], [214, 96]], float)


# --------------------------------------------------------------------------- cases

def figure_parses(shift: tuple[float, float], scale: float, hat: bool,
                  sunglasses: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoints, LIP map, ATR map) of the drawn figure, moved and scaled."""
    kp = FIGURE.copy()
    present = kp.sum(1) > 0
    kp[present] = (kp[present] - [192, 256]) * scale + [192 + shift[0], 256 + shift[1]]
    lip, atr = Image.new("L", (384, 512)), Image.new("L", (384, 512))
    dl, da = ImageDraw.Draw(lip), ImageDraw.Draw(atr)

    def box(cx, cy, w, h):
        return (cx - w * scale, cy - h * scale, cx + w * scale, cy + h * scale)

    def at(i):
        return kp[i]
    nose, neck = at(0), at(1)
    for draw, hair, face in ((dl, 2, 13), (da, 2, 11)):
        draw.ellipse(box(nose[0], nose[1] - 25, 42, 40), fill=hair)
        draw.ellipse(box(nose[0], nose[1], 30, 38), fill=face)
    da.rectangle(box(neck[0], neck[1] - 15, 14, 14), fill=18)          # neck: ATR only
    for draw, upper, pants, arms, legs in ((dl, 5, 9, (15, 14), (17, 16)),
                                          (da, 4, 6, (15, 14), (13, 12))):
        for (s, e, w), arm in zip(((2, 3, 4), (5, 6, 7)), arms):
            draw.line([tuple(at(s)), tuple(at(e)), tuple(at(w))], fill=arm, width=int(26 * scale))
        draw.polygon([tuple(at(2)), tuple(at(5)), tuple(at(11) + [8, 0]), tuple(at(8) - [8, 0])],
                     fill=upper)
        for (h, k), leg in zip(((8, 9), (11, 12)), legs):
            draw.line([tuple(at(h)), tuple(at(k)), tuple(at(k) + [0, 60])], fill=leg,
                      width=int(34 * scale))
        draw.rectangle((at(8)[0] - 16, at(8)[1] - 6, at(11)[0] + 16, at(8)[1] + 50), fill=pants)
    if hat:
        dl.rectangle(box(nose[0], nose[1] - 60, 40, 14), fill=1)
        da.rectangle(box(nose[0], nose[1] - 60, 40, 14), fill=1)
    if sunglasses:
        dl.rectangle(box(nose[0], nose[1] - 10, 24, 6), fill=4)
        da.rectangle(box(nose[0], nose[1] - 10, 24, 6), fill=3)
    return kp, np.asarray(lip).copy(), np.asarray(atr).copy()


def random_case(seed: int) -> tuple:
    """Blocky random label maps, keypoints with missing/edge/outside points, a blob mask."""
    rng = np.random.default_rng(seed)
    def blocky(classes):
        coarse = rng.integers(0, classes, (16, 12), dtype=np.uint8)
        fine = np.kron(coarse, np.ones((32, 32), np.uint8))
        noise = rng.random(fine.shape) < 0.05
        fine[noise] = rng.integers(0, classes, int(noise.sum()))
        return fine
    lip, atr = blocky(20), blocky(19)
    kp = np.stack([rng.uniform(0, 384, 18), rng.uniform(0, 512, 18)], 1)
    kp[rng.random(18) < 0.2] = 0                     # missing
    kp[0] = (2.3, 300.0)                              # x*0.5 = 1.15 > 1: drawn, clipped
    kp[1] = (1.8, 300.0)                              # x*0.5 = 0.9: not drawn
    kp[2] = (400.5, 509.7)                            # beyond the 192x256 frame after scaling
    person = Image.fromarray(rng.integers(0, 256, (256, 192, 3), dtype=np.uint8))
    garment = Image.fromarray(rng.integers(0, 256, (300, 220, 3), dtype=np.uint8))
    gmask = Image.new("L", garment.size)
    ImageDraw.Draw(gmask).ellipse((30, 20, 190, 280), fill=255)
    return kp, lip, atr, person, gmask if seed % 2 else gmask.rotate(10), garment


def garment_silhouette(garment: Image.Image) -> Image.Image:
    """A plain non-white threshold (a stand-in for vto.core.preprocess.garment_mask)."""
    rgb = np.asarray(garment.convert("RGB"))
    return Image.fromarray(((rgb < 240).any(2) * 255).astype(np.uint8))


def build_cases(examples: Path) -> dict[str, ModelInputs]:
    cases: dict[str, ModelInputs] = {}
    persons = ["model_1.png", "01008_00.jpg", "049447_0.jpg", "052767_0.jpg"]
    garments = ["03244_00.jpg", "00055_00.jpg", "048554_1.jpg", "03244_00.jpg"]
    looks = [((0, 0), 1.0, False, False), ((-20, 10), 0.9, True, False),
             ((15, -8), 1.1, False, True), ((0, 30), 0.8, True, True)]
    for i, (p, g, look) in enumerate(zip(persons, garments, looks)):
        kp, lip, atr = figure_parses(*look)
        garment = Image.open(examples / "garment" / g).convert("RGB")
        person = Image.open(examples / "person" / p).convert("RGB")
        person = person.resize((192, 256), Image.BICUBIC)
        cases[f"photo{i}"] = ModelInputs(person=person, garment=garment, keypoints=kp, parse=atr,
                                         parse_lip=lip, garment_mask=garment_silhouette(garment))
    for seed in (1, 2):
        kp, lip, atr, person, gmask, garment = random_case(seed)
        cases[f"random{seed}"] = ModelInputs(person=person, garment=garment, keypoints=kp,
                                             parse=atr, parse_lip=lip, garment_mask=gmask)
    blank = Image.new("RGB", (192, 256), (200, 180, 160))
    cases["empty"] = ModelInputs(person=blank, garment=blank, keypoints=np.zeros((18, 2)),
                                 parse=np.zeros((512, 384), np.uint8),
                                 parse_lip=np.zeros((512, 384), np.uint8),
                                 garment_mask=Image.new("L", (192, 256)))
    return cases


# --------------------------------------------------------------------------- dataset

def _png_bytes_as(image: Image.Image, path: Path) -> None:
    """Lossless PNG bytes under the original's .jpg name (PIL opens files by content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


def write_dataset(cases: dict[str, ModelInputs], root: Path) -> dict[str, str]:
    """The original's layout from vto's maps; returns case → person file name."""
    test = root / "test"
    names = {}
    pairs = []
    for i, (case, inp) in enumerate(cases.items()):
        person_name, cloth_name = f"{i:06d}_0.jpg", f"{i:06d}_1.jpg"
        names[case] = person_name
        maps = cp_inputs.person_maps(inp.person, inp.keypoints, inp.parse_lip, inp.parse)
        garment = cp_inputs.garment_maps(inp.garment, inp.garment_mask)
        _png_bytes_as(maps.image, test / "image" / person_name)
        label_name = person_name.replace(".jpg", ".png")
        _png_bytes_as(Image.fromarray(maps.parse_new), test / "image-parse-new" / label_name)
        _png_bytes_as(Image.fromarray(maps.body_mask), test / "image-mask" / label_name)
        _png_bytes_as(garment.image, test / "cloth" / cloth_name)
        _png_bytes_as(garment.mask, test / "cloth-mask" / cloth_name)
        flat = []
        for x, y in maps.keypoints:
            flat += [float(x), float(y), 0.0 if x == 0 and y == 0 else 1.0]
        pose = test / "pose" / person_name.replace(".jpg", "_keypoints.json")
        pose.parent.mkdir(parents=True, exist_ok=True)
        pose.write_text(json.dumps({"version": 1.0, "people": [{"pose_keypoints": flat}]}))
        pairs.append(f"{person_name} {cloth_name}")
    (root / "test_pairs.txt").write_text("\n".join(pairs) + "\n")
    return names


# --------------------------------------------------------------------------- comparison

def run_original(args, ckpt: Path, data: Path, out: Path, handoff: str, align: str) -> dict:
    cmd = [args.python, str(HERE / "original_driver.py"), "--original", str(args.original),
           "--checkpoints", str(ckpt / "cp-vton-plus"), "--data", str(data), "--out", str(out),
           "--handoff", handoff, "--grid-align-corners", align]
    t = time.time()
    subprocess.run(cmd, check=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    print(f"  original ({handoff}, grid {align}) ran in {time.time() - t:.1f} s")
    with np.load(out / "tensors.npz") as z:
        rec = {k: z[k] for k in z.files}
    rec["_weights"] = json.loads((out / "weights.json").read_text())
    return rec


def mad(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def compare_inputs(rec: dict, name: str, vto_tensors: dict) -> dict:
    """The dataset's tensors (GMM and TOM stage) against vto's, component by component."""
    gmm = rec[f"GMM/dataset/{name}/agnostic"]
    tom = rec[f"TOM/dataset/{name}/agnostic"]
    ours_gmm = vto_tensors["agnostic_gmm"][0].cpu().numpy()
    ours_tom = vto_tensors["agnostic_tom"][0].cpu().numpy()
    return {"shape": mad(gmm[0:1], ours_gmm[0:1]), "head_gmm": mad(gmm[1:4], ours_gmm[1:4]),
            "head_tom": mad(tom[1:4], ours_tom[1:4]),
            "pose": max(mad(gmm[4:], ours_gmm[4:]), mad(tom[4:], ours_tom[4:])),
            "shape_tom": mad(tom[0:1], ours_tom[0:1]),
            "cloth": mad(rec[f"GMM/dataset/{name}/cloth"], vto_tensors["cloth"][0].cpu().numpy()),
            "cloth_mask": mad(rec[f"GMM/dataset/{name}/cloth_mask"],
                              vto_tensors["cloth_mask"][0].cpu().numpy()),
            "points": int((ours_gmm[4:].reshape(18, -1) > 0).any(1).sum()),
            "head_px": int((ours_tom[1:4] > -1).any(0).sum())}


def compare_case(rec: dict, name: str, vto_tensors: dict, vto_out: dict,
                 image: Image.Image) -> dict:
    def t(key):
        return vto_tensors[key][0].cpu().numpy()
    def o(key):
        return vto_out[key][0].cpu().numpy()
    row = {
        "agn_gmm": mad(rec[f"GMM/dataset/{name}/agnostic"], t("agnostic_gmm")),
        "agn_tom": mad(rec[f"TOM/dataset/{name}/agnostic"], t("agnostic_tom")),
        "cloth": max(mad(rec[f"GMM/dataset/{name}/cloth"], t("cloth")),
                     mad(rec[f"GMM/dataset/{name}/cloth_mask"], t("cloth_mask"))),
        "theta": mad(rec[f"GMM/theta/{name}"], o("theta")),
        "warp": max(mad(rec[f"GMM/save/warp-cloth/{name}"], o("warped_cloth")),
                    mad(rec[f"GMM/save/warp-mask/{name}"], o("warped_mask") * 2 - 1)),
        "tom_in": max(mad(rec[f"TOM/dataset/{name}/cloth"], o("tom_cloth")),
                      mad(rec[f"TOM/dataset/{name}/cloth_mask"], o("tom_cloth_mask"))),
        "mask_px": int((rec[f"TOM/dataset/{name}/cloth_mask"] != o("tom_cloth_mask")).sum()),
        "tryon": mad(rec[f"TOM/save/try-on/{name}"], o("tryon")) * 127.5,
    }
    ours = np.asarray(image).astype(np.int16)          # what Backend.run returns
    theirs = to_uint8(torch.from_numpy(rec[f"TOM/save/try-on/{name}"])).astype(np.int16)
    diff = np.abs(ours - theirs)
    row["u8_max"], row["u8_gt1"] = int(diff.max()), int((diff > 1).sum())
    row["pass"] = (row["u8_max"] <= 1 and row["agn_gmm"] == 0 and row["agn_tom"] == 0
                   and row["cloth"] == 0)
    return row


def print_table(title: str, rows: dict[str, dict], cols: list[str]) -> None:
    print(f"\n{title}\n| case | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for case, row in rows.items():
        cells = [f"{row[c]:.2e}" if isinstance(row[c], float) else str(row[c]) for c in cols]
        print(f"| {case} | " + " | ".join(cells) + " |")


OUTPUT_COLS = ["agn_gmm", "agn_tom", "cloth", "theta", "warp", "tom_in", "mask_px", "tryon",
               "u8_max", "u8_gt1", "vto_s", "pass"]
INPUT_COLS = ["shape", "shape_tom", "head_gmm", "head_tom", "pose", "cloth", "cloth_mask",
              "points", "head_px"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--original", type=Path, required=True)
    parser.add_argument("--python", required=True, help="the original's venv python")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vto-equivalence-cpvton"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=Path, default=EXAMPLES)
    args = parser.parse_args()
    torch.set_num_threads(1)

    ckpt = write_tiny_checkpoint(args.work / "checkpoints", seed=args.seed)
    cases = build_cases(args.examples)
    data = args.work / "data"
    names = write_dataset(cases, data)
    backend = CPVTONPlusBackend.load(ckpt, "cpu")
    sums = {"GMM": float(sum(v.double().abs().sum() for v in backend.gmm.state_dict().values()
                             if v.is_floating_point())),
            "TOM": float(sum(v.double().abs().sum() for v in backend.tom.state_dict().values()
                             if v.is_floating_point()))}

    runs = {"jpeg": ("jpeg", "old", Handoff.JPEG), "lossless": ("png", "old", Handoff.LOSSLESS),
            "jpeg, torch>=1.3 grid default": ("jpeg", "new", Handoff.JPEG)}
    ok = True
    params = RunParams(category=Category.UPPER_BODY, size=(192, 256))
    vto_images: dict[str, dict[str, np.ndarray]] = {}
    tom_inputs: dict[str, dict[str, dict]] = {}
    for label, (orig_handoff, align, handoff) in runs.items():
        rec = run_original(args, ckpt, data, args.work / f"orig-{orig_handoff}-{align}",
                           orig_handoff, align)
        weights_ok = all(abs(rec["_weights"][k] - sums[k]) <= 1e-9 * sums[k] for k in sums)
        print(f"  weights Σ|w|: original {rec['_weights']}, vto {sums}: "
              f"{'same' if weights_ok else 'DIFFERENT'}")
        backend.handoff = handoff
        rows, input_rows = {}, {}
        for case, inp in cases.items():
            tensors = backend.tensors(inp)
            out = backend.forward(tensors)
            t = time.time()
            image = backend.run(inp, params)[0]
            rows[case] = compare_case(rec, names[case], tensors, out, image)
            rows[case]["vto_s"] = round(time.time() - t, 2)
            input_rows[case] = compare_inputs(rec, names[case], tensors)
            vto_images.setdefault(handoff.value, {})[case] = np.asarray(image)
            tom_inputs.setdefault(handoff.value, {})[case] = {
                k: out[k][0].cpu().numpy() for k in ("tom_cloth", "tom_cloth_mask")}
        if label == "jpeg":
            print_table("input tensors: original dataset (cp_dataset.CPDataset) vs vto "
                        "(max |Δ|; points = pose maps drawn, head_px = TOM head pixels)",
                        input_rows, INPUT_COLS)
        grid = "align_corners=True (torch 0.4.1)" if align == "old" else "torch 2.13 default"
        print_table(f"vto handoff={handoff.value} vs original ({orig_handoff} files between "
                    f"stages, grid_sample {grid})", rows, OUTPUT_COLS)
        if align == "old":
            ok &= weights_ok and all(r["pass"] for r in rows.values())
    print("\nvto JPEG vs lossless handoff: TOM inputs (garment mean |Δ| in levels, mask "
          "pixels differing) and try-on (uint8 max / mean |Δ|)")
    for c in cases:
        j, l = tom_inputs["jpeg"][c], tom_inputs["lossless"][c]
        d = np.abs(vto_images["jpeg"][c].astype(int) - vto_images["lossless"][c])
        print(f"  {c}: garment {np.abs(j['tom_cloth'] - l['tom_cloth']).mean() * 127.5:.2f}, "
              f"mask {int((j['tom_cloth_mask'] != l['tom_cloth_mask']).sum())} px; "
              f"try-on max {int(d.max())} mean {d.mean():.2f}")
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
