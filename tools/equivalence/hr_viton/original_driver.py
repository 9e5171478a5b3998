"""Run the ORIGINAL HR-VITON test code (sangyun884/HR-VITON) on CPU/fp32 for vto's equivalence
check, and record what it computed.

This file is vto's own code. It runs in the original's virtual environment and imports the
original from the checkout given on the command line; nothing of the original is copied.

    python original_driver.py --original /tmp/orig-hrviton/src --data DATAROOT \
        --checkpoints CKPT --spec SPEC.json --out OUT

DATAROOT is a dataset folder in the original's layout (``test/image``, ``cloth``,
``cloth-mask``, ``image-parse-v3``, ``openpose_json``, ``openpose_img``, ``image-densepose``).
The driver first runs the original ``get_parse_agnostic.py`` over it (writing
``image-parse-agnostic-v3.2``), then, per case of SPEC.json (``name``, ``pairs`` file,
``batch``, ``seed``), the original ``test_generator.main()`` with the README's options
(``--occlusion --datasetting unpaired``) plus ``--ngf`` of the tiny generator and ``-j 0``.

Changed from outside only, the files of the original untouched:
* ``torchvision`` is stubbed (not installable beside this torch): ``Compose``, ``ToTensor``,
  ``Normalize`` and ``Resize`` reproduce torchvision's arithmetic exactly; ``make_grid``,
  ``save_image`` (the preview grid) do nothing; ``models`` is empty (VGG is training-only);
* ``torch.manual_seed(seed)`` right before each call of the image generator (its noise comes
  from the global generator; the data loader draws from it too);
* the dataset item, the condition generator's inputs and outputs and the image generator's
  inputs and output are recorded (wrappers around the original methods), as are the
  missing/unexpected keys every ``load_state_dict`` call reports.
Outputs: OUT/<case>.npz per case and OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import types
from pathlib import Path

import numpy as np
import torch

RECORD: dict = {}
LOAD_REPORTS: list[dict] = []
SEED = {"value": 0}


def install_torchvision_stub() -> None:
    tv = types.ModuleType("torchvision")
    tr = types.ModuleType("torchvision.transforms")
    ut = types.ModuleType("torchvision.utils")
    models = types.ModuleType("torchvision.models")

    class Compose:
        def __init__(self, transforms):
            self.transforms = transforms

        def __call__(self, x):
            for t in self.transforms:
                x = t(x)
            return x

    class ToTensor:
        # torchvision.transforms.functional.to_tensor (PIL image or HWC ndarray)
        def __call__(self, pic):
            if isinstance(pic, np.ndarray):
                arr = pic[:, :, None] if pic.ndim == 2 else pic
                img = torch.from_numpy(arr.transpose((2, 0, 1))).contiguous()
                return img.to(torch.get_default_dtype()).div(255) if img.dtype == torch.uint8 else img
            mode_to_nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}
            img = torch.from_numpy(np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True))
            if pic.mode == "1":
                img = 255 * img
            img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
            img = img.permute((2, 0, 1)).contiguous()
            if isinstance(img, torch.ByteTensor):
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
            if mean.ndim == 1:
                mean = mean.view(-1, 1, 1)
            if std.ndim == 1:
                std = std.view(-1, 1, 1)
            return tensor.sub_(mean).div_(std)

    class Resize:
        # torchvision <= 0.9 functional_pil.resize for an int size (short side), PIL input;
        # interpolation given as PIL's int (0 nearest, 2 bilinear) as the dataset does
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
    ut.make_grid = lambda tensors, nrow=8, **kw: torch.zeros(3, 1, 1)   # preview grid only
    ut.save_image = lambda *a, **kw: None
    tv.transforms, tv.utils, tv.models = tr, ut, models
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tr,
                        "torchvision.utils": ut, "torchvision.models": models})


def install_recorders() -> None:
    import cp_dataset_test
    import network_generator
    import networks

    original_load = torch.nn.Module.load_state_dict

    def load_state_dict(self, state_dict, strict=True, *a, **kw):
        result = original_load(self, state_dict, strict, *a, **kw)
        LOAD_REPORTS.append({"module": type(self).__name__, "strict": bool(strict),
                             "missing": list(result.missing_keys),
                             "unexpected": list(result.unexpected_keys)})
        return result

    torch.nn.Module.load_state_dict = load_state_dict

    getitem = cp_dataset_test.CPDatasetTest.__getitem__

    def record_item(self, index):
        item = getitem(self, index)
        RECORD.setdefault("item", {
            "cloth": item["cloth"]["unpaired"], "cloth_mask": item["cloth_mask"]["unpaired"],
            "parse_agnostic": item["parse_agnostic"], "densepose": item["densepose"],
            "agnostic": item["agnostic"]})
        return item

    cp_dataset_test.CPDatasetTest.__getitem__ = record_item

    tocg_forward = networks.ConditionGenerator.forward

    def record_tocg(self, opt, input1, input2, *a, **kw):
        flow_list, segmap, warped_c, warped_cm = tocg_forward(self, opt, input1, input2, *a, **kw)
        RECORD["tocg"] = {"input1": input1, "input2": input2, "flow": flow_list[-1],
                          "segmap": segmap, "warped_c": warped_c, "warped_cm": warped_cm}
        return flow_list, segmap, warped_c, warped_cm

    networks.ConditionGenerator.forward = record_tocg

    gen_forward = network_generator.SPADEGenerator.forward

    def seeded_generator(self, x, seg):
        torch.manual_seed(SEED["value"])
        out = gen_forward(self, x, seg)
        RECORD["gen"] = {"input": x, "seg": seg, "output": out}
        return out

    network_generator.SPADEGenerator.forward = seeded_generator


def to_numpy(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(to_numpy(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value.detach().cpu().numpy()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--original", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--checkpoints", type=Path, required=True)
    ap.add_argument("--spec", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ngf", type=int, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    original = args.original.resolve()
    sys.path.insert(0, str(original))
    install_torchvision_stub()
    install_recorders()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

    test_dir = args.data / "test"
    sys.argv = ["get_parse_agnostic.py", "--data_path", str(test_dir),
                "--output_path", str(test_dir / "image-parse-agnostic-v3.2")]
    runpy.run_path(str(original / "get_parse_agnostic.py"), run_name="__main__")

    import test_generator  # the original, imported after the stubs

    results = {}
    os.chdir(args.out)  # its preview grid goes to ./output/...
    for case in json.loads(args.spec.read_text()):
        RECORD.clear()
        del LOAD_REPORTS[:]
        SEED["value"] = case["seed"]
        sys.argv = ["test_generator.py", "--occlusion", "--test_name", case["name"],
                    "--dataroot", str(args.data), "--data_list", case["pairs"],
                    "--datasetting", "unpaired", "--output_dir", str(args.out / case["name"]),
                    "--tocg_checkpoint", str(args.checkpoints / "hr-viton" / "mtviton.pth"),
                    "--gen_checkpoint", str(args.checkpoints / "hr-viton" / "gen.pth"),
                    "--ngf", str(args.ngf), "-j", "0", "-b", str(case["batch"])]
        test_generator.main()
        np.savez_compressed(args.out / f"{case['name']}.npz", **to_numpy(RECORD))
        results[case["name"]] = {"loads": list(LOAD_REPORTS)}
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
