"""Where the VAE's two halves run: torch, or ONNX Runtime on CPU (faster there, same math).

On CPU, ONNX Runtime runs the SD VAE's convolutions faster than torch's oneDNN path does
(measured side by side on the 2-core CPU, full-size SD VAE at 384x512, fp32: encode 4.5-4.8 s
against 5.8-7.2 s, decode 9.7-11.0 s against 11.6-12.9 s channels-last); the outputs differ by
float rounding only (~4e-5 on [-1, 1], far inside 1/255). So on a CPU, in fp32, the VAE is
exported once with torch's own exporter (``torch.onnx.export``, dynamo, dynamic batch and
size) and run by ORT; everywhere else (CUDA, half precision, the meta device of `vto bench
--flops`, ``OOTDPipeline.original_math``) torch runs it, as the original does.

Exporting takes seconds (about a minute at full size on two cores), so it happens once: hd and
dc share one VAE object and so one runner; exported graphs are kept on disk under
``export_dir/<fingerprint of the weights>/`` when the caller gives a folder (the service, CLI
and bench use vto's cache folder), so a restarted worker loads instead of exporting; small
graphs (test models, rebuilt often) are also kept in memory for the process. Any failure to
export or load falls back to torch with a warning: a slower VAE, never a failed request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from vto.core.models.base import VaeRuntime

log = logging.getLogger(__name__)

#: bump when what is exported changes (inputs, outputs, opset): old folders are then ignored
EXPORT_FORMAT = 1
#: exported graphs up to this size are also kept in memory for the process (small test models
#: are rebuilt often); a full-size one (~160 MB per half) is kept on disk only
KEEP_IN_MEMORY_BYTES = 32 * 2**20


class VaeRunner(Protocol):
    """The two VAE calls the OOTD pipeline makes."""

    def encode_mode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Posterior mean of (B, 3, H, W) pixels in [-1, 1] (unscaled latents)."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, 3, 8h, 8w) pixels from (B, C, h, w) latents already divided by the scaling factor."""


class TorchVae:
    """diffusers' own calls (offload hooks, slicing and channels-last apply as set)."""

    name = "torch"

    def __init__(self, vae: nn.Module) -> None:
        self.vae = vae

    def encode_mode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(pixels).latent_dist.mode()

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents).sample


class _Moments(nn.Module):
    """pixels -> posterior parameters [mean ‖ logvar] (diffusers' encode, as one graph)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(pixels).latent_dist.parameters


class _Decode(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents).sample


class OnnxVae:
    """The VAE exported to ONNX and run by ONNX Runtime on CPU (fp32)."""

    name = "onnx"

    def __init__(self, vae: nn.Module, export_dir: Path | None = None,
                 threads: int | None = None) -> None:
        self.vae = vae
        self.export_dir = export_dir
        self.threads = threads or torch.get_num_threads()
        self.latent_channels = int(vae.config.latent_channels)
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._fingerprint: str | None = None

    # -- the two calls --------------------------------------------------------------------------

    def encode_mode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._run("encoder", pixels)[:, :self.latent_channels]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self._run("decoder", latents)

    def _run(self, part: str, x: torch.Tensor) -> torch.Tensor:
        session = self.session(part)
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        out = session.run(None, {session.get_inputs()[0].name: array})[0]
        return torch.from_numpy(out)

    # -- export and sessions --------------------------------------------------------------------

    def prepare(self) -> None:
        """Export (or load) both halves now, e.g. before a service reports ready."""
        for part in ("encoder", "decoder"):
            self.session(part)

    def session(self, part: str):
        with self._lock:
            if part not in self._sessions:
                try:
                    self._sessions[part] = self._open(self._graph(part))
                except Exception:
                    # a kept file ORT cannot read (damaged, another version's): the next
                    # process exports again instead of failing on it too
                    if self.export_dir is not None:
                        (self.export_dir / self.fingerprint() / f"{part}.onnx").unlink(
                            missing_ok=True)
                    raise
            return self._sessions[part]

    def _open(self, graph: bytes):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # ORT's arena keeps its peak activations resident after a run (1.5 GB for one 384x512
        # decode, measured); without it they are freed, at the same speed (9.9 s either way)
        options.enable_cpu_mem_arena = False
        # threads that spin after a run would take the cores torch's next step needs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def fingerprint(self) -> str:
        """Weights, config, torch and export format: what the exported graph depends on."""
        if self._fingerprint is None:
            digest = hashlib.blake2b(digest_size=16)
            digest.update(json.dumps({"config": dict(self.vae.config), "torch": torch.__version__,
                                      "format": EXPORT_FORMAT}, sort_keys=True,
                                     default=str).encode())
            for name, tensor in self.vae.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().to("cpu").contiguous().view(-1)
                              .view(torch.uint8).numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def _graph(self, part: str) -> bytes:
        key = (self.fingerprint(), part)
        path = self.export_dir / key[0] / f"{part}.onnx" if self.export_dir else None
        with _GRAPHS_LOCK:
            graph = _GRAPHS.get(key)
        if graph is not None:  # exported earlier in this process: keep it for the next ones too
            if path is not None and not path.is_file():
                _write_atomically(path, graph)
            return graph
        if path is not None and path.is_file():
            graph = path.read_bytes()
        else:
            log.info("exporting the VAE %s to ONNX (once per weights%s)", part,
                     f"; kept in {path.parent}" if path is not None else "")
            graph = self._export(part)
            if path is not None:
                _write_atomically(path, graph)
        if len(graph) <= KEEP_IN_MEMORY_BYTES:
            with _GRAPHS_LOCK:
                _GRAPHS[key] = graph
        return graph

    def _export(self, part: str) -> bytes:
        from torch.export import Dim

        batch = Dim("batch", min=1, max=4096)
        h, w = Dim("h", min=2, max=4096), Dim("w", min=2, max=4096)
        # distinct example sizes (2 rows, 8x6 latents) so no dimension is specialised to a constant
        if part == "encoder":
            module: nn.Module = _Moments(self.vae)
            example = torch.zeros(2, 3, 8 * self.factor, 6 * self.factor)
            dims = {0: batch, 2: self.factor * h, 3: self.factor * w}
        else:
            module = _Decode(self.vae)
            example = torch.zeros(2, self.latent_channels, 8, 6)
            dims = {0: batch, 2: h, 3: w}
        # the exporter narrates each pass (and torchvision's absence) at INFO/WARNING; torch's
        # guard code once logged ~30 ERROR lines during an export that then succeeded (and not
        # when repeated). A real failure still raises and reaches _Fallback's one warning.
        quiet = {"torch.onnx": logging.ERROR, "onnx_ir": logging.ERROR,
                 "onnxscript": logging.ERROR, "torch._guards": logging.CRITICAL,
                 "torch.fx.experimental.symbolic_shapes": logging.CRITICAL}
        loggers = [logging.getLogger(name) for name in quiet]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(quiet[logger.name])
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecations inside torch's own exporter
                program = torch.onnx.export(module.eval(), (example,), dynamo=True,
                                            dynamic_shapes=(dims,), verbose=False)
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
        return program.model_proto.SerializeToString()


_GRAPHS: dict[tuple[str, str], bytes] = {}   # (fingerprint, part) -> serialized ONNX model
_GRAPHS_LOCK = threading.Lock()
_RUNNERS: "weakref.WeakKeyDictionary[nn.Module, OnnxVae]" = weakref.WeakKeyDictionary()
_RUNNERS_LOCK = threading.Lock()


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache folder costs an export per process, nothing else
        log.warning("could not keep the exported VAE in %s: %s", path.parent, exc)


class _Fallback:
    """ONNX first; torch from the first failure on (logged once)."""

    def __init__(self, onnx: OnnxVae, torch_vae: TorchVae) -> None:
        self.onnx, self.torch = onnx, torch_vae
        self.failed = False

    @property
    def name(self) -> str:
        return self.torch.name if self.failed else self.onnx.name

    def encode_mode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._call("encode_mode", pixels)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self._call("decode", latents)

    def prepare(self) -> None:
        if not self.failed:
            try:
                self.onnx.prepare()
            except Exception as exc:  # noqa: BLE001 - any exporter/runtime error: torch runs it
                self._fail(exc)

    def _call(self, method: str, x: torch.Tensor) -> torch.Tensor:
        if not self.failed:
            try:
                return getattr(self.onnx, method)(x).to(x.device, x.dtype)
            except Exception as exc:  # noqa: BLE001
                self._fail(exc)
        return getattr(self.torch, method)(x)

    def _fail(self, exc: Exception) -> None:
        self.failed = True
        log.warning("the VAE runs in torch: ONNX Runtime could not take it (%s: %s)",
                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")


def onnx_usable(device: torch.device, dtype: torch.dtype) -> bool:
    if device.type != "cpu" or dtype != torch.float32:
        return False
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx.export's dynamo exporter needs it)
    except ImportError:
        return False
    return True


def vae_runner(vae: nn.Module, runtime: VaeRuntime | str, device: torch.device,
               dtype: torch.dtype, export_dir: Path | None = None) -> VaeRunner:
    """The runner for ``runtime``: auto is ONNX Runtime on CPU in fp32 (when installed), torch
    elsewhere; onnx where it cannot run (a GPU, half precision) is torch too, with a warning.
    One ONNX runner per VAE object (hd and dc share it)."""
    runtime = VaeRuntime(runtime)
    torch_vae = TorchVae(vae)
    if runtime is VaeRuntime.TORCH:
        return torch_vae
    if not onnx_usable(torch.device(device), dtype):
        if runtime is VaeRuntime.ONNX:
            log.warning("--vae onnx needs a CPU, float32 and onnxruntime + onnxscript; the VAE "
                        "runs in torch")
        return torch_vae
    with _RUNNERS_LOCK:
        onnx = _RUNNERS.get(vae)
        if onnx is None:
            onnx = _RUNNERS[vae] = OnnxVae(vae, export_dir)
    return _Fallback(onnx, torch_vae)
