"""vto against the ORIGINAL OOTDiffusion on identical tiny random weights and inputs.

    python tools/equivalence/compare.py --original /tmp/orig/OOTDiffusion \
        --python /tmp/orig/venv/bin/python [--work DIR] [--only tryon,mask,pose,parsing]

Runs with the project's Python (vto installed); the original runs in its own virtual
environment through ``original_driver.py`` (see README.md beside this file). Sections:

* tryon   — final images of vto's OOTDPipeline (API, plus a few through ``vto tryon``) vs
            the original OOTDiffusionHD/DC wrappers: fp32, CPU, every model type and
            category, 1 and 2 samples, guidance 2.0 and 1.0, 3 steps, two seeds, a second
            working size, and the original's "warm" second call. PASS: every pixel within 1.
            Also reports max |Δ| of intermediates (prompt embeds, garment latents and
            features, per-step scheduler input/output, final latents) and of the loaded weights.
* mask    — vto.core.preprocess.masking.get_mask_location vs run/utils_ootd.get_mask_location on
            synthetic label maps and keypoints for every (model type, category): PASS = pixel
            identical with original_uint16_wrap=True; cases where vto's default (the fix)
            differs are listed separately.
* pose    — vto.core.preprocess.openpose vs preprocess/openpose: raw network outputs, candidate/subset
            and the wrapper's keypoints, on the tiny checkpoint's random weights (nobody is
            found) and on a hand-designed network that finds real people (designed_openpose.py).
* parsing — vto.core.preprocess.parsing.HumanParser vs preprocess/humanparsing: label maps (exact) and
            raw ONNX outputs.

Exit status 0 when every case passes. Nothing here is part of vto's test suite (CI has no
original code).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXAMPLES = REPO.parent / "shared" / "examples"
sys.path.insert(0, str(HERE))

import designed_openpose  # noqa: E402  (beside this file)

log = logging.getLogger("compare")


@dataclass
class Report:
    rows: dict[str, list[list[str]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, section: str, row: list, ok: bool | None = None) -> None:
        self.rows.setdefault(section, []).append([str(x) for x in row])
        if ok is False:
            self.failures.append(f"{section}: {row[0]}")

    def table(self, section: str, header: list[str]) -> str:
        rows = [header] + self.rows.get(section, [])
        widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def run_original(args, what: str, cases: list[dict], folder: Path) -> dict:
    """Write the spec, run the original driver in its venv, return its results.json."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.json"
    same_cases = spec.is_file() and json.loads(spec.read_text()) == json.loads(json.dumps(cases))
    spec.write_text(json.dumps(cases, indent=1))
    out = folder / "original"
    previous = out / "results.json"
    if args.reuse_original and previous.is_file() and same_cases:
        log.info("original %s: reusing %s (--reuse-original)", what, previous)
        return json.loads(previous.read_text())
    env = dict(os.environ, HF_HOME=str(args.work / "hf_home"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore", TQDM_DISABLE="1")
    cmd = [str(args.python), str(HERE / "original_driver.py"), "--original", str(args.original),
           "--checkpoints", str(args.checkpoints), what, "--spec", str(spec), "--out", str(out)]
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    (folder / "original.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"original driver failed ({what}); see {folder / 'original.log'}:\n"
                         + (proc.stderr or proc.stdout)[-3000:])
    log.info("original %s: %d cases in %.1fs", what, len(cases), time.time() - t0)
    return json.loads((out / "results.json").read_text())


def maxdiff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("nan")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0


# =========================================================================== try-on

# (model type, category, person, garment) — the original demos' pairs
PAIRS = {
    ("hd", "upper_body"): ("person/model_1.png", "garment/03244_00.jpg"),
    ("dc", "upper_body"): ("person/049447_0.jpg", "garment/048554_1.jpg"),
    ("dc", "lower_body"): ("person/049447_0.jpg", "garment/051827_1.jpg"),
    ("dc", "dress"): ("person/052767_0.jpg", "garment/053290_1.jpg"),
}
PROMPT_WORD = {"upper_body": "upperbody", "lower_body": "lowerbody", "dress": "dress"}


def _mask_for(model_type: str, category: str, size: tuple[int, int]) -> Image.Image:
    """hd: the mask the original computed for the demo pair (reference-output/mask.jpg, grey
    = masked); dc: a plausible hand-drawn region per category."""
    w, h = size
    if model_type == "hd":
        grey = np.asarray(Image.open(EXAMPLES / "reference-output" / "mask.jpg").convert("RGB"))
        masked = (np.abs(grey.astype(int) - 127).max(axis=2) <= 6).astype(np.uint8) * 255
        return Image.fromarray(masked).resize(size, Image.NEAREST)
    m = Image.new("L", size, 0)
    d = ImageDraw.Draw(m)
    box = {"upper_body": (0.2, 0.2, 0.8, 0.55), "lower_body": (0.25, 0.45, 0.75, 0.95),
           "dress": (0.2, 0.2, 0.8, 0.85)}[category]
    d.ellipse([box[0] * w, box[1] * h, box[2] * w, box[3] * h], fill=255)
    return m


def tryon_cases(folder: Path, quick: bool) -> list[dict]:
    from vto.core.images import open_image

    cases = []
    sizes = [(96, 128)] if quick else [(96, 128), (64, 88)]
    seeds = [0] if quick else [0, 1234]
    for (mt, cat), (person, garment) in PAIRS.items():
        for size in sizes:
            stem = f"{mt}_{cat}_{size[0]}x{size[1]}"
            p = folder / f"{stem}_person.png"
            g = folder / f"{stem}_garment.png"
            m = folder / f"{stem}_mask.png"
            # the original's app: PIL default (bicubic) resize to the working size
            open_image(EXAMPLES / person).resize(size).save(p)
            open_image(EXAMPLES / garment).resize(size).save(g)
            _mask_for(mt, cat, size).save(m)
            for samples in (1, 2):
                for scale in (2.0, 1.0):
                    for seed in seeds:
                        if size != sizes[0] and (seed != seeds[0] or samples != 2):
                            continue  # the second size: a smaller sub-matrix
                        name = f"{stem}_n{samples}_g{scale:g}_s{seed}"
                        cases.append(dict(name=name, model_type=mt, category=PROMPT_WORD[cat],
                                          vto_category=cat, person=p.name, garment=g.name,
                                          mask=m.name, samples=samples, steps=3, scale=scale,
                                          seed=seed, dump=True,
                                          warm=(samples == 2 and seed == seeds[0] and
                                                size == sizes[0])))
    return cases


class _VtoRecorder:
    """The same intermediates as original_driver._Recorder, from vto's pipeline."""

    def __init__(self, pipe):
        self.pipe, self.data, self.step, self.handles = pipe, {}, 0, []

    def _put(self, key, t):
        self.data[key] = t.detach().float().cpu().numpy().copy()

    def __enter__(self):
        pipe = self.pipe

        def garm_hook(mod, args, kwargs, out):
            self._put("garm_latents", args[0])
            self._put("prompt_embeds", kwargs["encoder_hidden_states"])
            for i, t in enumerate(pipe.fusion.features.tokens.values()):  # execution order
                self._put(f"garm_feature_{i:02d}", t)

        self.handles.append(pipe.unet_garm.register_forward_hook(garm_hook, with_kwargs=True))
        # On the class: vto steps a copy of the scheduler per request (batched denoising).
        self._scheduler_class = type(pipe.scheduler)
        step = self._class_step = self._scheduler_class.step

        def wrapped(scheduler, model_output, timestep, sample, *a, **k):
            self._put(f"step{self.step}_model_output", model_output)
            self._put(f"step{self.step}_sample", sample)
            out = step(scheduler, model_output, timestep, sample, *a, **k)
            self._put(f"step{self.step}_prev_sample", out[0])
            self.data[f"step{self.step}_t"] = np.array(int(timestep))
            self.step += 1
            return out

        self._scheduler_class.step = wrapped
        decode = pipe.decode  # whichever runtime decodes (ONNX Runtime by default on CPU)

        def dec(latents, *a, **k):
            # what the original hands vae.decode: the latents over the scaling factor
            self._put("final_latents_scaled", latents / pipe.vae.config.scaling_factor)
            return decode(latents, *a, **k)

        pipe.decode = dec
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self._scheduler_class.step = self._class_step
        vars(self.pipe).pop("decode", None)


def _trace_diffs(orig: dict, mine: dict, n: int) -> dict[str, float]:
    """max |Δ| per intermediate; batch rows beyond the conditional n are compared only when
    both sides have them (vto skips the unconditional branch at guidance 1.0)."""
    out: dict[str, float] = {}
    groups = {"prompt": ["prompt_embeds"], "garm_latents": ["garm_latents"],
              "garm_features": [k for k in orig if k.startswith("garm_feature_")],
              "final_latents": ["final_latents_scaled"]}
    steps = sorted({k.split("_")[0] for k in orig if k.startswith("step")})
    for s in steps:
        groups[f"{s}_eps"] = [f"{s}_model_output"]
        groups[f"{s}_x"] = [f"{s}_prev_sample"]
    for g, keys in groups.items():
        worst = 0.0
        for k in keys:
            if k not in orig or k not in mine:
                worst = float("nan")
                break
            a, b = orig[k], mine[k]
            if k.startswith(("garm_", "prompt")) and a.ndim and b.ndim and len(b) < len(a):
                # vto runs the garment UNet once per branch ([garment, zero]), the original
                # once per row ([garment] * n + [zero] * n): row i of vto is row i * n there
                a = a[::len(a) // len(b)]
            if a.shape != b.shape and a.ndim and b.ndim and a.shape[1:] == b.shape[1:]:
                a, b = a[:n], b[:n]
            worst = max(worst, maxdiff(a, b))
        out[g] = worst
    out["timesteps_equal"] = all(int(orig[f"{s}_t"]) == int(mine.get(f"{s}_t", -1)) for s in steps)
    return out


def _weights_fingerprint(modules: dict[str, torch.nn.Module]) -> dict[str, float]:
    return {name: float(sum(p.detach().double().abs().sum() for p in m.state_dict().values()
                            if p.is_floating_point())) for name, m in modules.items()}


def section_tryon(args, report: Report) -> None:
    from vto.core.checkpoints import CheckpointDir
    from vto.core.models.ootd.pipeline import OOTDPipeline
    from vto.core.types import Category

    folder = args.work / "tryon"
    folder.mkdir(parents=True, exist_ok=True)
    cases = tryon_cases(folder, args.quick)
    orig = run_original(args, "tryon", cases, folder)
    by_name = {c["name"]: c for c in orig["cases"]}
    problems = sorted({p for c in orig["cases"] for p in c.get("load_problems", [])})
    for p in problems:
        report.add("notes", [f"original loader: {p}"], False)

    ckpt = CheckpointDir(args.checkpoints)
    pipes, groups = {}, {}
    for case in cases:
        mt = case["model_type"]
        if mt not in pipes:
            pipes[mt] = OOTDPipeline.from_checkpoints(ckpt, mt, device="cpu", dtype=torch.float32)
        pipe = pipes[mt]
        person = Image.open(folder / case["person"]).convert("RGB")
        garment = Image.open(folder / case["garment"]).convert("RGB")
        mask = Image.open(folder / case["mask"]).convert("L")
        # the same masked person the original app builds (Image.composite with the grey mask)
        inpaint = (np.array(mask) / 255).astype(np.uint8)
        masked = Image.composite(Image.fromarray(inpaint * 127), person, Image.fromarray(inpaint * 255))
        call = dict(garment=garment, person=person, person_masked=masked, mask=mask,
                    category=Category(case["vto_category"]), num_samples=case["samples"],
                    num_steps=case["steps"], image_scale=case["scale"], seed=case["seed"])
        pipe.cache.clear()  # the recorded run computes everything (garment columns filled)
        with _VtoRecorder(pipe) as rec:
            result = pipe(**call)
        cached = pipe(**call)  # again, garment and person from vto's cache
        entry = by_name[case["name"]]
        orig_masked = np.asarray(Image.open(folder / "original" / f"{case['name']}_masked.png"))
        masked_ok = np.array_equal(orig_masked, np.asarray(masked))
        worst, worst_warm, worst_cached, ndiff = 0, 0, 0, 0
        for i, path in enumerate(entry["outputs"]["cold"]):
            a = np.asarray(Image.open(path)).astype(int)
            b = np.asarray(result.images[i]).astype(int)
            worst = max(worst, int(np.abs(a - b).max()))
            worst_cached = max(worst_cached,
                               int(np.abs(a - np.asarray(cached.images[i]).astype(int)).max()))
            ndiff += int((a != b).any(axis=2).sum())
        for i, path in enumerate(entry["outputs"].get("warm", [])):
            a = np.asarray(Image.open(path)).astype(int)
            worst_warm = max(worst_warm, int(np.abs(a - np.asarray(result.images[i]).astype(int)).max()))
        trace = dict(np.load(folder / "original" / f"{case['name']}_trace.npz"))
        d = _trace_diffs(trace, rec.data, case["samples"])
        ok = worst <= 1 and worst_cached <= 1 and masked_ok \
            and len(result.images) == len(entry["outputs"]["cold"])
        if "warm" in entry["outputs"]:
            ok = ok and worst_warm <= 1
        steps = sorted(k for k in d if k.startswith("step") and k.endswith("_eps"))
        report.add("tryon", [case["name"], worst, ndiff,
                             worst_warm if "warm" in entry["outputs"] else "-", worst_cached,
                             f"{d['prompt']:.1e}", f"{d['garm_latents']:.1e}", f"{d['garm_features']:.1e}",
                             "/".join(f"{d[s]:.0e}" for s in steps),
                             f"{d['final_latents']:.1e}", d["timesteps_equal"],
                             "PASS" if ok else "FAIL"], ok)
        if not ok:
            np.savez(folder / f"{case['name']}_vto_trace.npz", **rec.data)
        groups.setdefault((case["model_type"], person.size, case["steps"]), []).append(
            (case, call))

    # batched denoising: every compatible case in one run_batch, each against the original
    for (mt, size, steps), members in groups.items():
        pipes[mt].cache.clear()
        outputs = pipes[mt].run_batch([call for _, call in members])
        worst = 0
        for (case, _), output in zip(members, outputs):
            for i, path in enumerate(by_name[case["name"]]["outputs"]["cold"]):
                a = np.asarray(Image.open(path)).astype(int)
                worst = max(worst, int(np.abs(a - np.asarray(output.images[i]).astype(int)).max()))
        report.add("tryon_batched", [f"{mt} {size[0]}x{size[1]} {steps} steps", len(members),
                                     worst, "PASS" if worst <= 1 else "FAIL"], worst <= 1)

    # the loaded weights: same tensors on both sides?
    fp_path = folder / "weights.json"
    _fingerprint_original(args, folder, fp_path)
    theirs = json.loads(fp_path.read_text())
    for mt, pipe in pipes.items():
        mine = _weights_fingerprint({"vae": pipe.vae, "unet_garm": pipe.unet_garm,
                                     "unet_vton": pipe.unet_vton, "text_encoder": pipe.text_encoder,
                                     "image_encoder": pipe.image_encoder})
        for name, value in mine.items():
            other = theirs[mt][name]
            ok = abs(value - other) <= 1e-9 * max(1.0, abs(other))
            report.add("weights", [f"{mt}.{name}", f"{value:.6f}", f"{other:.6f}",
                                   "PASS" if ok else "FAIL"], ok)

    _tryon_cli(args, folder, cases, by_name, report)


def _fingerprint_original(args, folder: Path, out: Path) -> None:
    """Sum of |w| over every floating tensor of each component the original loaded."""
    code = f"""
import json, sys, torch
sys.argv = ['x']
sys.path.insert(0, {str(HERE)!r})
import original_driver as d
models, _ = d._load_models(d.Path({str(args.original)!r}), d.Path({str(args.checkpoints)!r}), {{'hd', 'dc'}})
res = {{}}
for mt, m in models.items():
    mods = {{'vae': m.pipe.vae, 'unet_garm': m.pipe.unet_garm, 'unet_vton': m.pipe.unet_vton,
            'text_encoder': m.text_encoder, 'image_encoder': m.image_encoder}}
    res[mt] = {{k: float(sum(p.detach().double().abs().sum() for p in v.state_dict().values()
                             if p.is_floating_point())) for k, v in mods.items()}}
open({str(out)!r}, 'w').write(json.dumps(res))
"""
    env = dict(os.environ, HF_HOME=str(args.work / "hf_home"), HF_HUB_OFFLINE="1",
               PYTHONWARNINGS="ignore", TQDM_DISABLE="1")
    proc = subprocess.run([str(args.python), "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"weights fingerprint of the original failed:\n{proc.stderr[-3000:]}")


def _tryon_cli(args, folder: Path, cases: list[dict], by_name: dict, report: Report) -> None:
    """A few cases end to end through `vto tryon --mask ... --framing stretch`."""
    picked = [c for c in cases if c["samples"] == 2 and c["scale"] == 2.0 and c["seed"] == 0
              and "96x128" in c["name"]]
    for case in picked:
        out = folder / "cli" / case["name"]
        w, h = Image.open(folder / case["person"]).size
        cmd = [sys.executable, "-m", "vto", "tryon", "--checkpoints", str(args.checkpoints),
               "--person", str(folder / case["person"]), "--garment", str(folder / case["garment"]),
               "--mask", str(folder / case["mask"]), "--size", f"{w}x{h}", "--steps", str(case["steps"]),
               "--samples", str(case["samples"]), "--guidance", str(case["scale"]),
               "--seed", str(case["seed"]), "--model-type", case["model_type"],
               "--category", case["vto_category"], "--framing", "stretch", "--device", "cpu",
               "--dtype", "float32", "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            report.add("tryon_cli", [case["name"], "-", f"error: {proc.stderr.strip()[-200:]}", "FAIL"], False)
            continue
        worst = 0
        for i, path in enumerate(by_name[case["name"]]["outputs"]["cold"]):
            a = np.asarray(Image.open(path)).astype(int)
            b = np.asarray(Image.open(out / f"{i}.png").convert("RGB")).astype(int)
            worst = max(worst, int(np.abs(a - b).max()) if a.shape == b.shape else 999)
        report.add("tryon_cli", [case["name"], worst, "", "PASS" if worst <= 1 else "FAIL"], worst <= 1)


# =========================================================================== masks

def _label_map(kind: str) -> np.ndarray:
    """A synthetic 384x512 ATR label map of a person (several layouts)."""
    lab = np.zeros((512, 384), np.uint8)
    img = Image.fromarray(lab)
    d = ImageDraw.Draw(img)
    d.ellipse([162, 30, 222, 100], fill=2)            # hair
    d.ellipse([167, 45, 217, 105], fill=11)           # face
    d.rectangle([180, 100, 204, 125], fill=18)        # neck
    if kind == "dress":
        d.polygon([(130, 125), (254, 125), (290, 400), (94, 400)], fill=7)
    else:
        d.rectangle([130, 125, 254, 280], fill=4)     # upper clothes
        if kind == "skirt":
            d.polygon([(135, 280), (249, 280), (275, 380), (109, 380)], fill=5)
        else:
            d.rectangle([135, 280, 249, 430], fill=6)     # pants
    d.polygon([(130, 130), (110, 135), (80, 230), (60, 320), (80, 325), (105, 240), (130, 170)], fill=15)  # right arm
    d.polygon([(254, 130), (274, 135), (304, 230), (324, 320), (304, 325), (279, 240), (254, 170)], fill=14)
    d.rectangle([150, 430, 180, 490], fill=13)       # legs
    d.rectangle([204, 430, 234, 490], fill=12)
    d.rectangle([145, 490, 182, 510], fill=10)       # shoes
    d.rectangle([202, 490, 239, 510], fill=9)
    if kind == "bag":
        d.rectangle([290, 250, 340, 320], fill=16)
    if kind == "hat":
        d.ellipse([160, 20, 224, 55], fill=1)
        d.rectangle([175, 60, 210, 72], fill=3)      # sunglasses
    if kind == "hole":  # background hole inside the upper clothes (hole filling)
        d.ellipse([170, 170, 214, 214], fill=0)
    return np.array(img)


BASE_KP = [[192, 70], [192, 125], [125, 135], [95, 230], [70, 320], [259, 135], [289, 230],
           [314, 320], [155, 280], [150, 380], [160, 480], [229, 280], [234, 380], [224, 480],
           [180, 60], [204, 60], [170, 70], [214, 70]]


def _keypoints(kind: str) -> list[list[float]]:
    kp = [list(map(float, p)) for p in BASE_KP]
    if kind == "no_right_wrist":
        kp[4] = [0.0, 0.0]
    elif kind == "no_wrists":
        kp[4] = [0.0, 0.0]
        kp[7] = [0.0, 0.0]
    elif kind == "wrist_near_origin":          # x ≤ 1 and y ≤ 1 but not zero
        kp[7] = [1.0, 0.5]
    elif kind == "wrist_x_only_small":         # x ≤ 1, y > 1: NOT missing
        kp[4] = [0.5, 300.0]
    elif kind == "right_arm_out_left":         # extended wrist left of the image (negative x)
        kp[3] = [30.0, 230.0]
        kp[4] = [5.0, 330.0]
    elif kind == "left_arm_out_right":         # beyond the right border (no wrap)
        kp[6] = [360.0, 230.0]
        kp[7] = [383.0, 330.0]
    elif kind == "wrist_above_top":            # raised arm leaving the top (negative y)
        kp[3] = [90.0, 60.0]
        kp[4] = [80.0, 5.0]
    elif kind == "arm_far_outside":            # wrist far outside both ways
        kp[6] = [330.0, 200.0]
        kp[7] = [600.0, -200.0]
    elif kind == "fractional":
        kp = [[x + 0.37, y + 0.61] for x, y in kp]
    elif kind == "missing_elbow":               # elbow [0, 0] but wrist present
        kp[6] = [0.0, 0.0]
    return kp


def mask_cases(folder: Path) -> list[dict]:
    from vto.core.preprocess.parsing import to_palette_image

    cases = []
    maps = ["plain", "skirt", "dress", "bag", "hat", "hole"]
    kps = ["base", "no_right_wrist", "no_wrists", "wrist_near_origin", "wrist_x_only_small",
           "right_arm_out_left", "left_arm_out_right", "wrist_above_top", "arm_far_outside",
           "fractional", "missing_elbow"]
    for m in maps:
        to_palette_image(_label_map(m)).save(folder / f"label_{m}.png")
    for k in kps:
        (folder / f"kp_{k}.json").write_text(json.dumps({"pose_keypoints_2d": _keypoints(k)}))
    for mt in ("hd", "dc"):
        for cat in ("upper_body", "lower_body", "dresses"):
            for m in maps:
                for k in kps:
                    if m != "plain" and k not in ("base", "no_wrists", "arm_far_outside"):
                        continue
                    cases.append(dict(name=f"{mt}_{cat}_{m}_{k}", model_type=mt, category=cat,
                                      parse=f"label_{m}.png", keypoints=f"kp_{k}.json"))
    # label maps from a real-looking source: a random-ish map at another size (resize path)
    rng = np.random.default_rng(0)
    blocky = rng.integers(0, 19, size=(16, 12)).astype(np.uint8)
    to_palette_image(np.kron(blocky, np.ones((40, 40), np.uint8))).save(folder / "label_blocky.png")
    for mt in ("hd", "dc"):
        for cat in ("upper_body", "lower_body", "dresses"):
            cases.append(dict(name=f"{mt}_{cat}_blocky_base", model_type=mt, category=cat,
                              parse="label_blocky.png", keypoints="kp_base.json"))
    return cases


def section_mask(args, report: Report) -> None:
    from vto.core.preprocess.masking import get_mask_location

    folder = args.work / "mask"
    folder.mkdir(parents=True, exist_ok=True)
    cases = mask_cases(folder)
    orig = {c["name"]: c for c in run_original(args, "mask", cases, folder)["cases"]}
    # Diagnosis: the original's function imported here runs on vto's libraries (OpenCV,
    # NumPy, Pillow); vto equal to it but not to the pinned run means a library difference.
    sys.path.insert(0, str(args.original / "run"))
    from utils_ootd import get_mask_location as original_here
    for case in cases:
        parse = Image.open(folder / case["parse"])
        keypoints = json.loads((folder / case["keypoints"]).read_text())
        o = orig[case["name"]]
        if "error" in o:
            report.add("mask", [case["name"], "original error: " + o["error"], "", "", "FAIL"], False)
            continue
        om = np.asarray(Image.open(o["mask"]))
        og = np.asarray(Image.open(o["mask_gray"]))
        vm, vg = get_mask_location(case["model_type"], case["category"], parse, keypoints,
                                   original_uint16_wrap=True)
        nm = int((np.asarray(vm) != om).sum())
        ng = int((np.asarray(vg) != og).sum())
        fm, _ = get_mask_location(case["model_type"], case["category"], parse, keypoints)
        nfix = int((np.asarray(fm) != np.asarray(vm)).sum())  # the fix alone (same libraries)
        here, _ = original_here(case["model_type"], case["category"], parse, keypoints)
        nhere = int((np.asarray(vm) != np.asarray(here)).sum())
        ok = nm == 0 and ng == 0
        verdict = "PASS" if ok else ("FAIL (libs)" if nhere == 0 else "FAIL")
        report.add("mask", [case["name"], nm, ng, nhere, nfix, f"{om.mean() / 255:.3f}", verdict], ok)
        if nfix:
            report.add("mask_fix", [case["name"], nfix])


# =========================================================================== pose / parsing

def _pose_images(folder: Path) -> dict[str, Path]:
    from vto.core.images import open_image

    images = {}
    for person in ("model_1.png", "01008_00.jpg", "049447_0.jpg", "052767_0.jpg"):
        p = folder / f"photo_{Path(person).stem}.png"
        open_image(EXAMPLES / "person" / person).resize((768, 1024)).resize((384, 512)).save(p)
        images[p.stem] = p
    return images


def section_pose_parsing(args, report: Report, do_pose: bool, do_parsing: bool) -> None:
    from vto.core.preprocess.openpose import BodyPoseDetector, BodyPoseNet, to_original_keypoints
    from vto.core.preprocess.openpose.decode import network_input
    from vto.core.preprocess.openpose.network import _file_key
    from vto.core.preprocess.parsing import HumanParser

    folder = args.work / "preprocess"
    folder.mkdir(parents=True, exist_ok=True)
    photos = _pose_images(folder)
    cases = [dict(name=n, image=p.name, skip_parsing=not do_parsing) for n, p in photos.items()]
    designed = folder / "designed" / "body_pose_model.pth"
    busy = folder / "busy" / "body_pose_model.pth"
    if do_pose:
        # random weights whose heat maps reach the peak threshold: many spurious peaks and
        # "people", so the post-processing runs on noise (the checkpoint's own finds nobody)
        from vto.dev.openpose_weights import write_random_body_model
        write_random_body_model(busy, args.seed, heatmap_scale=1.0)
        for n, p in photos.items():
            cases.append(dict(name=f"{n}_busy", image=p.name, openpose_weights=str(busy),
                              skip_parsing=True))
        shapes = {_file_key(k): v.shape for k, v in BodyPoseNet().state_dict().items()}
        designed_openpose.write_designed_body_model(designed, shapes)
        for name, people in designed_openpose.pose_scenes().items():
            p = folder / f"{name}.png"
            designed_openpose.draw_people(people).save(p)
            cases.append(dict(name=name, image=p.name, openpose_weights=str(designed),
                              skip_parsing=True))
    orig = {c["name"]: c for c in run_original(args, "preprocess", cases, folder)["cases"]}
    out = folder / "original"
    detectors = {None: BodyPoseDetector.from_checkpoint(args.checkpoints / "openpose" / "ckpts" /
                                                        "body_pose_model.pth")}
    if do_pose:
        detectors[str(designed)] = BodyPoseDetector.from_checkpoint(designed)
        detectors[str(busy)] = BodyPoseDetector.from_checkpoint(busy)
    parser = HumanParser.from_checkpoint(args.checkpoints / "humanparsing") if do_parsing else None

    for case in cases:
        img = Image.open(folder / case["image"])
        o = orig[case["name"]]
        if do_pose:
            det = detectors[case.get("openpose_weights")]
            raw = np.load(out / f"{case['name']}_pose_raw.npz")
            bgr = np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])
            tensor, _ = network_input(bgr)
            with torch.no_grad():
                paf, heat = det.net(torch.from_numpy(tensor))
            d_paf, d_heat = maxdiff(paf.numpy(), raw["paf"]), maxdiff(heat.numpy(), raw["heatmap"])
            cand, subset = det.detect_raw(img)
            cand_eq = cand.shape == raw["candidate"].shape and np.array_equal(cand, raw["candidate"])
            sub_eq = subset.shape == raw["subset"].shape and np.array_equal(subset, raw["subset"])
            people = det(img)
            first = [p for p in people if p.subset_index == 0]
            if "keypoints_error" in o:
                kp_ok = not first        # original: IndexError (nobody); vto: no person
                kp_note = f"none/none ({o['keypoints_error'].split(':')[0]})"
            else:
                try:
                    mine = to_original_keypoints(first[0])["pose_keypoints_2d"] if first else None
                except IndexError:
                    mine = None
                kp_ok = mine == o["keypoints"]
                kp_note = f"{sum(1 for p in o['keypoints'] if p != [0, 0])} parts, {len(people)} people"
            ok = d_paf <= 1e-4 and d_heat <= 1e-4 and cand_eq and sub_eq and kp_ok
            report.add("pose", [case["name"], f"{d_paf:.1e}", f"{d_heat:.1e}", len(cand), len(subset),
                                cand_eq, sub_eq, kp_ok, kp_note, "PASS" if ok else "FAIL"], ok)
        if do_parsing and not case.get("skip_parsing"):
            theirs = np.asarray(Image.open(o["parse"]))
            mine = parser(img)
            rawp = np.load(out / f"{case['name']}_parse_raw.npz")
            n = int((mine != theirs).sum())
            mode_ok = o["parse_mode"] == parser.palette_image(img).mode
            pal_ok = np.array_equal(np.asarray(parser.palette_image(img)), theirs)
            ok = n == 0 and mode_ok and pal_ok
            labels = ",".join(str(v) for v in np.unique(theirs))
            report.add("parsing", [case["name"], n, labels, o["parse_mode"],
                                   f"{rawp['atr'].shape}", "PASS" if ok else "FAIL"], ok)


# =========================================================================== main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="vto vs the original OOTDiffusion on tiny weights")
    ap.add_argument("--original", type=Path, required=True, help="checkout of levihsu/OOTDiffusion")
    ap.add_argument("--python", type=Path, required=True, help="python of the original's venv")
    ap.add_argument("--work", type=Path, default=Path("/tmp/vto-equivalence"), help="scratch folder")
    ap.add_argument("--checkpoints", type=Path, help="tiny checkpoint (default: written into --work)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the tiny checkpoint")
    ap.add_argument("--only", default="tryon,mask,pose,parsing")
    ap.add_argument("--quick", action="store_true", help="a smaller try-on matrix")
    ap.add_argument("--reuse-original", action="store_true",
                    help="reuse the original's outputs already in --work (same cases and "
                         "checkpoint): re-checks vto only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.original = args.original.resolve()
    if args.checkpoints is None:
        args.checkpoints = args.work / f"tiny-seed{args.seed}"
        if not (args.checkpoints / "ootd" / "model_index.json").exists():
            from vto.dev.tiny import write_tiny_checkpoint
            write_tiny_checkpoint(args.checkpoints, seed=args.seed)
    args.checkpoints = args.checkpoints.resolve()
    only = set(args.only.split(","))
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    report = Report()
    if "mask" in only:
        section_mask(args, report)
    if "pose" in only or "parsing" in only:
        section_pose_parsing(args, report, "pose" in only, "parsing" in only)
    if "tryon" in only:
        section_tryon(args, report)

    headers = {
        "tryon": ["case", "max|Δpx|", "px≠", "warm|Δpx|", "cached|Δpx|", "prompt", "garm_lat", "garm_feat",
                  "eps per step", "final_lat", "t equal", "result"],
        "tryon_cli": ["case (vto tryon CLI)", "max|Δpx|", "", "result"],
        "tryon_batched": ["batch (one run_batch)", "requests", "max|Δpx|", "result"],
        "weights": ["component", "vto Σ|w|", "original Σ|w|", "result"],
        "mask": ["case (wrap=True)", "mask px≠", "gray px≠", "px≠ vs orig on vto libs",
                 "px≠ fix vs wrap", "masked frac", "result"],
        "mask_fix": ["case where vto's fix changes the mask", "px≠ (vto default vs wrap=True)"],
        "pose": ["image", "paf|Δ|", "heat|Δ|", "peaks", "people", "cand eq", "subset eq",
                 "keypoints eq", "note", "result"],
        "parsing": ["image", "label px≠", "labels present", "mode", "ATR head", "result"],
        "notes": ["note"],
    }
    for section, header in headers.items():
        if section in report.rows:
            print(f"\n== {section} ==")
            print(report.table(section, header))
    print(f"\n{len(report.failures)} failing case(s)")
    for f in report.failures:
        print("  FAIL", f)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
