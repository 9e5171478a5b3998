"""Device and precision choices, in one place (the CLI, the library and the worker use these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vto.errors import InvalidInput

if TYPE_CHECKING:
    import torch

DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "float16": "float16",
               "fp16": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def resolve_device(device: "str | torch.device | None") -> "torch.device":
    """'auto'/None -> cuda when available, else cpu; 'cpu', 'cuda', 'cuda:N' as given."""
    import torch

    if isinstance(device, torch.device):
        return device
    if not device or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise InvalidInput(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):
        raise InvalidInput(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"device {device!r} asked for, but this machine has no CUDA GPU; "
                           "use --device cpu")
    return resolved


def check_dtype_name(name: str | None) -> str | None:
    """Torch-free check of a dtype name (settings, CLI flags): the canonical name or None."""
    if not name:
        return None
    if name not in DTYPE_NAMES:
        raise InvalidInput(f"dtype must be float32, float16 or bfloat16, got {name!r}")
    return DTYPE_NAMES[name]


def parse_dtype(name: "str | torch.dtype | None", device: "torch.device") -> "torch.dtype":
    """fp16 on CUDA and fp32 on CPU by default; half precision on CPU is refused (slow, lossy)."""
    import torch

    if isinstance(name, torch.dtype):
        return name
    canonical = check_dtype_name(name)
    if canonical is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    dtype = getattr(torch, canonical)
    if device.type == "cpu" and dtype is not torch.float32:
        raise InvalidInput(f"{name} needs a CUDA device; on CPU use float32")
    return dtype
