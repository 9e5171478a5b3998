"""Run the ORIGINAL OOTDiffusion code (levihsu/OOTDiffusion @13ef0fa) on CPU/fp32 for vto's
equivalence check.

This file is vto's own code. It runs in a separate virtual environment that holds the
original's pins (diffusers 0.24.0, transformers 4.36.2, numpy 1.24, ...) and imports the
original from a checkout given on the command line; nothing of the original is copied here.

    python original_driver.py --original /tmp/orig/OOTDiffusion --checkpoints CKPT \
        tryon|mask|preprocess --spec SPEC.json --out OUTDIR

SPEC.json is a list of cases (see each ``run_*`` function for the keys). For every case the
driver writes its outputs into OUTDIR and one line per case into OUTDIR/results.json.

Only what the original hard-codes for a GPU machine is changed, and only from outside:
* ``torch.cuda.set_device`` becomes a no-op; ``Module.to``/``DiffusionPipeline.to`` map
  ``cuda:N`` to ``cpu`` while the OOTDiffusion wrappers are constructed, then the wrapper's
  ``gpu_id`` is set to ``"cpu"``;
* the inference modules see a ``torch`` whose ``float16`` is ``float32`` (fp32 everywhere);
* the relative ``../checkpoints`` paths resolve to CKPT through a scratch directory with a
  ``checkpoints`` link (the CWD is its ``run/``), and the preprocessors' absolute
  ``<repo>/checkpoints`` paths are redirected to CKPT;
* ``torchvision`` (ToTensor/Normalize on the parsing path) and modules imported only for
  unused paths (``skimage`` for the hand model) are stubbed; the stubs reproduce
  torchvision's arithmetic exactly.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

log = logging.getLogger("original_driver")


# --------------------------------------------------------------------------- environment

def _install_stubs() -> None:
    """Stand-ins for packages the original imports but that must not be installed here."""
    if "torchvision" not in sys.modules:
        tv = types.ModuleType("torchvision")
        tr = types.ModuleType("torchvision.transforms")

        class Compose:
            def __init__(self, transforms):
                self.transforms = transforms

            def __call__(self, x):
                for t in self.transforms:
                    x = t(x)
                return x

        class ToTensor:
            # torchvision.transforms.functional.to_tensor for an HWC uint8 ndarray
            def __call__(self, pic):
                if pic.ndim == 2:
                    pic = pic[:, :, None]
                img = torch.from_numpy(pic.transpose((2, 0, 1))).contiguous()
                if img.dtype == torch.uint8:
                    return img.to(dtype=torch.get_default_dtype()).div(255)
                return img

        class Normalize:
            # torchvision.transforms.functional.normalize (inplace=False)
            def __init__(self, mean, std, inplace=False):
                self.mean, self.std = mean, std

            def __call__(self, tensor):
                tensor = tensor.clone()
                mean = torch.as_tensor(self.mean, dtype=tensor.dtype, device=tensor.device)
                std = torch.as_tensor(self.std, dtype=tensor.dtype, device=tensor.device)
                return tensor.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))

        class ToPILImage:  # imported by face.py, never used
            def __call__(self, *a, **k):
                raise NotImplementedError

        tr.Compose, tr.ToTensor, tr.Normalize, tr.ToPILImage = Compose, ToTensor, Normalize, ToPILImage
        tv.transforms = tr
        sys.modules["torchvision"] = tv
        sys.modules["torchvision.transforms"] = tr
    if "skimage" not in sys.modules:  # hand.py only (hand model unused)
        sk = types.ModuleType("skimage")
        skm = types.ModuleType("skimage.measure")
        skm.label = lambda *a, **k: (_ for _ in ()).throw(NotImplementedError("stub"))
        sk.measure = skm
        sys.modules["skimage"] = sk
        sys.modules["skimage.measure"] = skm
    torch.cuda.set_device = lambda *a, **k: None  # the preprocessors call it unconditionally


class _Fp32Torch(types.ModuleType):
    """``torch`` as seen by the inference modules: float16 means float32."""

    def __init__(self):
        super().__init__("torch")

    def __getattr__(self, name):
        if name == "float16":
            return torch.float32
        return getattr(torch, name)


def _cpu_device(arg):
    if isinstance(arg, str) and arg.startswith("cuda"):
        return "cpu"
    if isinstance(arg, torch.device) and arg.type == "cuda":
        return torch.device("cpu")
    return arg


class _CudaToCpu:
    """While active, ``.to('cuda:N')`` on modules and pipelines goes to the CPU."""

    def __enter__(self):
        from diffusers import DiffusionPipeline

        self._saved = [(torch.nn.Module, "to", torch.nn.Module.to),
                       (DiffusionPipeline, "to", DiffusionPipeline.to)]
        for owner, name, fn in self._saved:
            def wrapped(obj, *args, __fn=fn, **kwargs):
                args = tuple(_cpu_device(a) for a in args)
                if "device" in kwargs:
                    kwargs["device"] = _cpu_device(kwargs["device"])
                return __fn(obj, *args, **kwargs)
            setattr(owner, name, wrapped)
        return self

    def __exit__(self, *exc):
        for owner, name, fn in self._saved:
            setattr(owner, name, fn)


class _LoadWarnings(logging.Handler):
    """Collects transformers/diffusers loader warnings (a weight left at random init is a bug)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def problems(self) -> list[str]:
        bad = ("newly initialized", "were not initialized", "missing keys", "not found")
        return [m for m in self.messages if any(b in m.lower() for b in bad)]


def _scratch_with_checkpoints(ckpt: Path) -> Path:
    """A folder with ``checkpoints -> ckpt`` and an empty ``run/`` to serve as the CWD."""
    root = Path(tempfile.mkdtemp(prefix="ootd_orig_"))
    (root / "checkpoints").symlink_to(ckpt.resolve(), target_is_directory=True)
    (root / "run").mkdir()
    return root / "run"


# --------------------------------------------------------------------------- try-on

class _Recorder:
    """Optional capture of intermediates of one original pipeline call (for diagnosis)."""

    def __init__(self, pipe):
        self.data: dict[str, np.ndarray] = {}
        self.step = 0
        self._handles = []
        self._pipe = pipe

    def _put(self, key, t):
        self.data[key] = t.detach().float().cpu().numpy().copy()

    def attach(self):
        pipe = self._pipe

        def garm_hook(mod, args, kwargs, out):
            self._put("garm_latents", args[0])
            self._put("prompt_embeds", kwargs["encoder_hidden_states"])
            for i, f in enumerate(out[1]):
                self._put(f"garm_feature_{i:02d}", f)

        def vton_hook(mod, args, kwargs, out):
            self._put(f"step{self.step}_vton_input", args[0])
            self._put(f"step{self.step}_noise_pred", out[0])

        self._handles.append(pipe.unet_garm.register_forward_hook(garm_hook, with_kwargs=True))
        self._handles.append(pipe.unet_vton.register_forward_hook(vton_hook, with_kwargs=True))
        sched_step = pipe.scheduler.step

        def step(model_output, timestep, sample, *a, **k):
            self._put(f"step{self.step}_model_output", model_output)
            self._put(f"step{self.step}_sample", sample)
            out = sched_step(model_output, timestep, sample, *a, **k)
            self._put(f"step{self.step}_prev_sample", out[0])
            self.data[f"step{self.step}_t"] = np.array(int(timestep))
            self.step += 1
            return out

        pipe.scheduler.step = step
        vae_decode = pipe.vae.decode

        def decode(z, *a, **k):
            self._put("final_latents_scaled", z)
            return vae_decode(z, *a, **k)

        pipe.vae.decode = decode
        self._vae_decode = vae_decode

    def detach(self):
        for h in self._handles:
            h.remove()
        del self._pipe.vae.decode  # back to the class method
        # the scheduler object is replaced per call (see run_tryon), so nothing to undo there


def _load_models(orig: Path, ckpt: Path, model_types: set[str]):
    sys.path.insert(0, str(orig))
    cwd = _scratch_with_checkpoints(ckpt)
    os.chdir(cwd)  # the inference modules open "../checkpoints/..."
    catcher = _LoadWarnings()
    for name in ("transformers", "diffusers"):
        logging.getLogger(name).addHandler(catcher)
    models = {}
    fp32 = _Fp32Torch()
    for mt in sorted(model_types):
        if mt == "hd":
            import ootd.inference_ootd_hd as mod
            cls_name = "OOTDiffusionHD"
        else:
            import ootd.inference_ootd_dc as mod
            cls_name = "OOTDiffusionDC"
        mod.torch = fp32
        with _CudaToCpu():
            model = getattr(mod, cls_name)(0)
        mod.torch = torch
        model.gpu_id = "cpu"
        # a pristine scheduler: before its first set_timesteps it has no `sigmas` (cold call)
        model._fresh_scheduler = copy.deepcopy(model.pipe.scheduler)
        models[mt] = model
    for name in ("transformers", "diffusers"):
        logging.getLogger(name).removeHandler(catcher)
    return models, catcher


def _dtypes(model) -> dict[str, str]:
    p = model.pipe
    return {"vae": str(p.vae.dtype), "unet_garm": str(p.unet_garm.dtype),
            "unet_vton": str(p.unet_vton.dtype), "text_encoder": str(model.text_encoder.dtype),
            "image_encoder": str(model.image_encoder.dtype), "device": str(p.device),
            "scheduler": type(p.scheduler).__name__}


def run_tryon(args, cases: list[dict]) -> list[dict]:
    """Case keys: name, model_type ('hd'|'dc'), category ('upperbody'|'lowerbody'|'dress'),
    person, garment, mask (PNG paths; the mask is "L" 0/255 at the person's size), samples,
    steps, scale, seed, and optionally warm (bool: also run a second call on the same
    pipeline and write name_warm_i.png) and dump (bool: write name_trace.npz)."""
    models, catcher = _load_models(args.original, args.checkpoints,
                                   {c["model_type"] for c in cases})
    results = []
    for case in cases:
        model = models[case["model_type"]]
        # As run_ootd.py, but from a given mask at the working size instead of
        # get_mask_location at 384x512 followed by NEAREST resizes.
        model_img = Image.open(case["person"])
        size = model_img.size
        model_img = model_img.resize(size)  # run_ootd: .resize((768, 1024)); a no-op copy here
        cloth_img = Image.open(case["garment"]).resize(size)
        mask = Image.open(case["mask"])
        inpaint = np.array(mask) / 255 * 1  # the last lines of get_mask_location
        mask = Image.fromarray(inpaint.astype(np.uint8) * 255)
        mask_gray = Image.fromarray(inpaint.astype(np.uint8) * 127)
        masked_vton_img = Image.composite(mask_gray, model_img, mask)
        masked_vton_img.save(args.out / f"{case['name']}_masked.png")

        calls = ["cold", "warm"] if case.get("warm") else ["cold"]
        model.pipe.scheduler = copy.deepcopy(model._fresh_scheduler)  # as a fresh process
        entry = {"name": case["name"], "dtypes": _dtypes(model), "outputs": {}}
        for call in calls:
            rec = None
            if case.get("dump") and call == "cold":
                rec = _Recorder(model.pipe)
                rec.attach()
            images = model(
                model_type=case["model_type"],
                category=case["category"],
                image_garm=cloth_img,
                image_vton=masked_vton_img,
                mask=mask,
                image_ori=model_img,
                num_samples=case["samples"],
                num_steps=case["steps"],
                image_scale=case["scale"],
                seed=case["seed"],
            )
            if rec is not None:
                rec.detach()
                vars(model.pipe.scheduler).pop("step", None)  # back to the class method
                np.savez(args.out / f"{case['name']}_trace.npz", **rec.data)
            paths = []
            for i, image in enumerate(images):
                suffix = "" if call == "cold" else "_warm"
                p = args.out / f"{case['name']}{suffix}_{i}.png"
                image.save(p)
                paths.append(str(p))
            entry["outputs"][call] = paths
        results.append(entry)
        log.info("tryon %s done", case["name"])
    for r in results:
        r["load_problems"] = catcher.problems()
    return results


# --------------------------------------------------------------------------- masks

def run_mask(args, cases: list[dict]) -> list[dict]:
    """Case keys: name, model_type, category ('upper_body'|'lower_body'|'dresses'),
    parse (label-map PNG, "P" or "L"), keypoints (JSON {"pose_keypoints_2d": [[x, y] x 18]})."""
    sys.path.insert(0, str(args.original / "run"))
    from utils_ootd import get_mask_location

    results = []
    for case in cases:
        parse = Image.open(case["parse"])
        keypoints = json.loads(Path(case["keypoints"]).read_text())
        entry = {"name": case["name"]}
        try:
            mask, mask_gray = get_mask_location(case["model_type"], case["category"], parse, keypoints)
            mask.save(args.out / f"{case['name']}_mask.png")
            mask_gray.save(args.out / f"{case['name']}_mask_gray.png")
            entry["mask"] = str(args.out / f"{case['name']}_mask.png")
            entry["mask_gray"] = str(args.out / f"{case['name']}_mask_gray.png")
        except Exception as exc:  # recorded, compared with vto's behaviour
            entry["error"] = f"{type(exc).__name__}: {exc}"
        results.append(entry)
    return results


# --------------------------------------------------------------------------- preprocessing

def run_preprocess(args, cases: list[dict]) -> list[dict]:
    """Case keys: name, image (PNG, 384x512), and optionally openpose_weights (a .pth to load
    instead of the checkpoint's) and skip_parsing. Writes name_keypoints.json (or an error),
    name_pose_raw.npz (net outputs, candidate, subset), name_parse.png, name_parse_raw.npz."""
    _install_stubs()
    sys.path.insert(0, str(args.original))
    import onnxruntime as ort
    import preprocess.humanparsing.run_parsing as run_parsing
    import preprocess.openpose.run_openpose as run_openpose
    # the module whose global `annotator_ckpts_path` OpenposeDetector.__init__ reads
    op_pkg = sys.modules["preprocess.openpose.annotator.openpose"]

    repo_ckpts = str(args.original / "checkpoints")
    real_session = ort.InferenceSession

    def session(path, *a, **k):
        path = str(path)
        if path.startswith(repo_ckpts):
            path = str(args.checkpoints) + path[len(repo_ckpts):]
        return real_session(path, *a, **k)

    run_parsing.ort = types.SimpleNamespace(**{n: getattr(ort, n) for n in dir(ort) if not n.startswith("__")})
    run_parsing.ort.InferenceSession = session
    raw_parse: dict[str, list] = {"atr": [], "lip": []}
    parsers: list = []

    def parser():
        if not parsers:
            parsing = run_parsing.Parsing(0)
            for key, attr in (("atr", "session"), ("lip", "lip_session")):
                setattr(parsing, attr, _RecordingSession(getattr(parsing, attr), raw_parse[key]))
            parsers.append(parsing)
        return parsers[0]

    detectors: dict[str, object] = {}

    def detector(weights: str | None):
        key = weights or ""
        if key not in detectors:
            op_pkg.annotator_ckpts_path = str(Path(weights).parent) if weights else \
                str(args.checkpoints / "openpose" / "ckpts")
            if weights and Path(weights).name != "body_pose_model.pth":
                raise SystemExit("openpose_weights must be named body_pose_model.pth")
            detectors[key] = run_openpose.OpenPose(0)
        return detectors[key]

    results = []
    for case in cases:
        img = Image.open(case["image"])
        entry = {"name": case["name"]}
        pose = detector(case.get("openpose_weights"))
        raw: dict[str, object] = {}
        body = pose.preprocessor.body_estimation
        hook = body.model.register_forward_hook(
            lambda m, a, o: raw.update(paf=o[0].numpy().copy(), heatmap=o[1].numpy().copy()))
        real_call = type(body).__call__

        def body_call(self, ori, __real=real_call):
            cand, subset = __real(self, ori)
            raw.update(candidate=np.array(cand, dtype=np.float64).reshape(-1, 4),
                       subset=np.array(subset, dtype=np.float64).reshape(-1, 20))
            return cand, subset

        type(body).__call__ = body_call
        try:
            keypoints = pose(img)
            (args.out / f"{case['name']}_keypoints.json").write_text(json.dumps(keypoints))
            entry["keypoints"] = keypoints["pose_keypoints_2d"]
        except Exception as exc:  # the original raises IndexError when it finds nobody
            entry["keypoints_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            type(body).__call__ = real_call
            hook.remove()
        np.savez(args.out / f"{case['name']}_pose_raw.npz", **raw)
        if not case.get("skip_parsing"):
            for v in raw_parse.values():
                v.clear()
            parse, face_mask = parser()(img)
            parse.save(args.out / f"{case['name']}_parse.png")
            entry["parse"] = str(args.out / f"{case['name']}_parse.png")
            entry["parse_mode"] = parse.mode
            np.savez(args.out / f"{case['name']}_parse_raw.npz",
                     atr=raw_parse["atr"][0][1], lip=raw_parse["lip"][0][1],
                     face_mask=face_mask.numpy())
        results.append(entry)
    return results


class _RecordingSession:
    """An onnxruntime session that also keeps what run() returned."""

    def __init__(self, session, store: list):
        self._session, self._store = session, store

    def run(self, *a, **k):
        out = self._session.run(*a, **k)
        self._store.append([np.array(o) for o in out])
        return out

    def __getattr__(self, name):
        return getattr(self._session, name)


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--original", type=Path, required=True, help="checkout of levihsu/OOTDiffusion")
    ap.add_argument("--checkpoints", type=Path, required=True, help="checkpoint dir (published layout)")
    ap.add_argument("what", choices=["tryon", "mask", "preprocess"])
    ap.add_argument("--spec", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.original = args.original.resolve()
    args.checkpoints = args.checkpoints.resolve()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = json.loads(args.spec.read_text())
    for c in cases:  # paths in the spec are relative to the spec's folder
        for k in ("person", "garment", "mask", "parse", "keypoints", "image", "openpose_weights"):
            if c.get(k):
                c[k] = str((args.spec.parent / c[k]).resolve())
    fn = {"tryon": run_tryon, "mask": run_mask, "preprocess": run_preprocess}[args.what]
    results = fn(args, cases)
    versions = {}
    for name in ("torch", "diffusers", "transformers", "numpy", "cv2", "PIL", "onnxruntime", "scipy"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:
            pass
    (args.out / "results.json").write_text(json.dumps({"versions": versions, "cases": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
