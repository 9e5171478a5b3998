"""Run the ORIGINAL VITON-HD test code (shadow2496/VITON-HD) on the CPU for vto's check.

This file is vto's own code. It runs in the original's environment (see README.md) and
imports the original's ``test.py``/``datasets.py``/``networks.py``/``utils.py`` from the
checkout given on the command line; nothing of the original is copied here.

    python original_driver.py --original /tmp/orig-vitonhd/src --cases CASES.json --out OUT

CASES.json: ``{"checkpoint_dir": DIR, "ngf": 4, "cases": [{"name", "dataset_dir", "mode":
"tryon"|"dataset", "seed"}]}``. Each case's ``dataset_dir`` holds the original's layout
(``test/{image,image-parse,openpose-img,openpose-json,cloth,cloth-mask}`` and
``test_pairs.txt``). ``tryon`` runs ``test.main()`` unchanged with
``--name NAME --dataset_dir DIR --checkpoint_dir CKPT --save_dir OUT --ngf N -j 0``;
``dataset`` instantiates ``datasets.VITONDataset`` from ``test.get_opt()`` and saves every
item's tensors. Results: OUT/results.json.

Shims, all from outside (the original's files are unchanged):
* ``Tensor.cuda``/``Module.cuda`` return the object itself (CPU), ``torch.load`` maps to CPU;
* ``torchvision`` (only ``transforms.Compose/ToTensor/Normalize/Resize`` are used) is a stub
  with torchvision's exact arithmetic on PIL images (torchvision cannot be installed beside
  this torch);
* randomness: ``cv2.randn`` (``utils.gen_noise``'s source) is replaced by draws from torch's
  global generator with OpenCV's rounding into the array (``saturate(round(mean + std*z))``),
  and torch's global generator is seeded with the case's seed at the first draw of the case,
  i.e. after the DataLoader has taken its own numbers. From there the original draws exactly
  what vto draws from ``torch.Generator().manual_seed(seed)``: the segmentation noise, then
  every ALIAS norm's ``torch.randn(b, w, h, 1)``, image after image;
* ``PIL.Image.Image.save`` also keeps a copy of each array ``utils.save_images`` writes (it
  writes JPEG, which is lossy), so the comparison sees the original's exact uint8 image.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def install_torchvision_stub() -> None:
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
        # torchvision.transforms.functional.to_tensor for a PIL image of 8-bit bands
        def __call__(self, pic):
            img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
            img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
            return img.permute((2, 0, 1)).contiguous().to(dtype=torch.get_default_dtype()).div(255)

    class Normalize:
        # torchvision.transforms.functional.normalize (inplace=False)
        def __init__(self, mean, std, inplace=False):
            self.mean, self.std = mean, std

        def __call__(self, tensor):
            tensor = tensor.clone()
            mean = torch.as_tensor(self.mean, dtype=tensor.dtype)
            std = torch.as_tensor(self.std, dtype=tensor.dtype)
            return tensor.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))

    class Resize:
        # torchvision <= 0.10 functional_pil.resize with an int size (short side) and an
        # int (PIL) interpolation, as the original passes them
        def __init__(self, size, interpolation=2):
            self.size, self.interpolation = size, interpolation

        def __call__(self, img):
            w, h = img.size
            size = self.size
            if (w <= h and w == size) or (h <= w and h == size):
                return img
            if w < h:
                return img.resize((size, int(size * h / w)), self.interpolation)
            return img.resize((int(size * w / h), size), self.interpolation)

    tr.Compose, tr.ToTensor, tr.Normalize, tr.Resize = Compose, ToTensor, Normalize, Resize
    tv.transforms = tr
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.transforms"] = tr


def install_cpu_shims() -> None:
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    load = torch.load
    torch.load = lambda f, *a, **k: load(f, *a, **{"map_location": "cpu", **k})


class SeededNoise:
    """``cv2.randn`` from torch's global generator, seeded per case at its first draw."""

    def __init__(self) -> None:
        self.seed: int | None = None
        self.calls = 0

    def start_case(self, seed: int) -> None:
        self.seed, self.calls = seed, 0

    def randn(self, dst, mean, stddev):
        if self.calls == 0:
            torch.manual_seed(self.seed)
        self.calls += 1
        z = torch.randn(dst.shape).numpy()                       # float32
        values = np.rint(z * np.float32(stddev) + np.float32(mean))
        info = np.iinfo(dst.dtype)
        dst[...] = np.clip(values, info.min, info.max).astype(dst.dtype)
        return dst


class SavedImages:
    """Keeps every array ``PIL.Image.Image.save`` is asked to write, in call order."""

    def __init__(self) -> None:
        self.arrays: list[tuple[str, np.ndarray]] = []
        self._save = Image.Image.save

    def install(self) -> None:
        saved = self

        def save(image, fp, *args, **kwargs):
            saved.arrays.append((str(fp), np.array(image)))
            return saved._save(image, fp, *args, **kwargs)

        Image.Image.save = save

    def write_png(self, array: np.ndarray, path: Path) -> None:
        self._save(Image.fromarray(array), path)


def import_original(src: Path) -> tuple[types.ModuleType, types.ModuleType]:
    sys.path.insert(0, str(src))  # datasets, networks, utils: the original's own modules
    spec = importlib.util.spec_from_file_location("viton_hd_test", src / "test.py")
    test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test)
    import datasets  # the original's datasets.py (first on sys.path)
    return test, datasets


def argv(case: dict, config: dict, out: Path) -> list[str]:
    return ["test.py", "--name", case["name"], "--dataset_dir", case["dataset_dir"],
            "--dataset_mode", "test", "--dataset_list", "test_pairs.txt",
            "--checkpoint_dir", config["checkpoint_dir"], "--save_dir", str(out),
            "--ngf", str(config["ngf"]), "-j", "0", "-b", "1"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--original", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    install_torchvision_stub()
    install_cpu_shims()
    import cv2
    noise = SeededNoise()
    cv2.randn = noise.randn
    saved = SavedImages()
    saved.install()
    test, datasets = import_original(args.original)

    config = json.loads(args.cases.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for case in config["cases"]:
        folder = args.out / case["name"]
        folder.mkdir(parents=True, exist_ok=True)
        sys.argv = argv(case, config, args.out)
        started = time.time()
        if case["mode"] == "dataset":
            dataset = datasets.VITONDataset(test.get_opt())
            items = []
            for index in range(len(dataset)):
                item = dataset[index]
                path = folder / f"item{index}.npz"
                np.savez(path, img_agnostic=item["img_agnostic"].numpy(),
                         parse_agnostic=item["parse_agnostic"].numpy(), pose=item["pose"].numpy(),
                         cloth=item["cloth"]["unpaired"].numpy(),
                         cloth_mask=item["cloth_mask"]["unpaired"].numpy())
                items.append(str(path))
            results[case["name"]] = {"items": items, "seconds": time.time() - started}
        else:
            noise.start_case(int(case["seed"]))
            saved.arrays.clear()
            test.main()
            outputs = []
            for index, (_, array) in enumerate(list(saved.arrays)):
                path = folder / f"output{index}.png"
                saved.write_png(array, path)
                outputs.append(str(path))
            results[case["name"]] = {"outputs": outputs, "noise_calls": noise.calls,
                                     "seconds": time.time() - started}
        print(f"{case['name']}: {time.time() - started:.1f} s", file=sys.stderr)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
