"""Model weights onto this machine: the Hugging Face cache, a checkpoint directory of links.

Every model's files are :class:`~vto.core.models.base.WeightFile` s (its spec's
``required_files()`` plus the preprocessing models its needs call for). A file whose source is
``hf:<org>/<repo>/<path>`` is fetched with ``huggingface_hub.hf_hub_download`` into the Hugging
Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``: shared
with every other Hugging Face tool; a file already there is not fetched again), and
the checkpoint directory gets a symlink at the published path pointing into the cache's
snapshot: the directory has exactly the published layout and no second copy. Where symlinks
cannot be made (some Windows set-ups, some network file systems) the file is copied instead.

Resuming: every finished file stays in the cache, so a second run fetches only what is missing;
a dropped connection resumes where it broke (huggingface_hub retries with a Range request). A
file interrupted by the end of the process starts over on the next run: huggingface_hub 2
downloads into a per-process temporary file, ``blobs/<etag>.<id>.incomplete``; those an earlier
run left behind are deleted once the file is complete (if untouched for an hour).

A file from anywhere else (a URL, a sentence) cannot be fetched here: :func:`plan` marks it
``manual`` and :func:`verify` checks a copy the user placed (size and sha256 when the spec
gives them).

``HF_HUB_OFFLINE=1`` uses the cache only and fails at once, naming what is not there; an
unreachable Hub (``HF_ENDPOINT``, default https://huggingface.co) is found with one short probe
before any download, so neither case spends time retrying.

Everything here reads the environment at call time (not at import), and nothing imports torch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vto.core.models.base import ModelSpec, Need, WeightFile
from vto.core.paths import user_cache_dir
from vto.errors import CheckpointError, DownloadError

log = logging.getLogger(__name__)

ENV_VAR = "VTO_CHECKPOINTS"
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 5.0
STALE_PARTIAL_S = 3600.0  # an .incomplete file nobody wrote to for this long is an orphan
_TRUE = {"1", "ON", "YES", "TRUE"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# The preprocessing models (what Need.POSE / Need.PARSE cost), published with OOTDiffusion.
_OOTD = "hf:levihsu/OOTDiffusion/checkpoints"
PREPROCESS_FILES: dict[Need, tuple[WeightFile, ...]] = {
    Need.POSE: (WeightFile("openpose/ckpts/body_pose_model.pth",
                           f"{_OOTD}/openpose/ckpts/body_pose_model.pth"),),
    Need.PARSE: (WeightFile("humanparsing/parsing_atr.onnx", f"{_OOTD}/humanparsing/parsing_atr.onnx"),
                 WeightFile("humanparsing/parsing_lip.onnx", f"{_OOTD}/humanparsing/parsing_lip.onnx")),
}
PREPROCESS_NAMES = {Need.POSE: "openpose", Need.PARSE: "humanparsing"}


def default_checkpoint_dir() -> Path:
    """``$VTO_CHECKPOINTS``, else ``$XDG_CACHE_HOME/vto/checkpoints`` (``~/.cache/vto/checkpoints``).

    Next to the Hugging Face cache on purpose: the directory holds only links into it.
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return user_cache_dir() / "checkpoints"


@dataclass(frozen=True)
class HubSettings:
    """The Hugging Face environment as it is now (huggingface_hub reads it at import)."""

    cache_dir: Path
    endpoint: str
    offline: bool

    @classmethod
    def from_env(cls) -> "HubSettings":
        env = os.environ
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or
                                                  os.path.join(os.path.expanduser("~"), ".cache"),
                                                  "huggingface")
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
        offline = any((env.get(k) or "").upper() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
        return cls(cache_dir=Path(os.path.expandvars(cache)).expanduser(),
                   endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"), offline=offline)


@dataclass(frozen=True)
class HubFile:
    repo: str      # "org/name"
    filename: str  # path inside the repo

    @classmethod
    def parse(cls, source: str) -> "HubFile | None":
        """``hf:org/name/path/in/repo`` -> HubFile; anything else -> None."""
        if not source.startswith("hf:"):
            return None
        parts = source[3:].split("/", 2)
        if len(parts) < 3 or not all(parts):
            raise ValueError(f"bad hf: source {source!r} (want hf:org/name/path)")
        return cls(f"{parts[0]}/{parts[1]}", parts[2])

    def __str__(self) -> str:
        return f"{self.repo}:{self.filename}"


def model_files(specs: Iterable[ModelSpec]) -> list[WeightFile]:
    """Every file the models need (their own and their preprocessing models'), each path once."""
    files: dict[str, WeightFile] = {}
    for spec in specs:
        for file in spec.required_files() + preprocess_files(spec.capabilities.needs):
            files.setdefault(file.path, file)
    return list(files.values())


def preprocess_files(needs: Iterable[Need]) -> list[WeightFile]:
    """The pose and parsing files a model's needs cost (the automatic mask runs both)."""
    wanted = set(needs)
    if Need.MASK in wanted:
        wanted |= {Need.POSE, Need.PARSE}
    return [f for need in (Need.POSE, Need.PARSE) if need in wanted for f in PREPROCESS_FILES[need]]


class State(str, Enum):
    PRESENT = "present"    # in the checkpoint directory (and passes the size check)
    CACHED = "cached"      # not in the directory, already in the Hugging Face cache: linked
    FETCH = "fetch"        # to download from the Hub
    MANUAL = "manual"      # not on the Hub: the user places it (see WeightFile.source)


@dataclass(frozen=True)
class PlanItem:
    file: WeightFile
    state: State
    hub: HubFile | None
    cached: Path | None = None  # the snapshot path in the HF cache, for State.CACHED


def plan(root: Path, files: Sequence[WeightFile], hub: HubSettings | None = None) -> list[PlanItem]:
    """What ``download`` would do for each file, looking only at the disk (no network)."""
    hub = hub or HubSettings.from_env()
    items = []
    for file in files:
        source = HubFile.parse(file.source)
        if file.present(root) is not None:
            items.append(PlanItem(file, State.PRESENT, source))
        elif source is None:
            items.append(PlanItem(file, State.MANUAL, None))
        else:
            cached = cached_path(source, hub.cache_dir)
            items.append(PlanItem(file, State.CACHED if cached else State.FETCH, source, cached))
    return items


def cached_path(file: HubFile, cache_dir: Path) -> Path | None:
    """The file's path in the HF cache snapshot of the repo's main ref, if it is there."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(file.repo, file.filename, cache_dir=str(cache_dir))
    return Path(found) if isinstance(found, str) else None


def probe_hub(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """One short request to the Hub; DownloadError in one sentence when it cannot be reached."""
    from huggingface_hub import get_session

    try:
        get_session().head(f"{endpoint}/api/models", timeout=timeout_s, follow_redirects=False)
    except Exception as exc:  # connect/DNS/TLS/timeout errors: the Hub is not reachable
        raise DownloadError(
            f"the Hugging Face Hub ({endpoint}) cannot be reached ({_reason(exc)}); check the "
            "network (or HF_ENDPOINT for a mirror) and run the command again, or copy the weights "
            "from a machine that has them") from None


@dataclass
class DownloadReport:
    linked: list[str]   # placed in the directory this run (from the cache or freshly fetched)
    fetched: list[str]  # of those, downloaded from the Hub this run
    copied: list[str]   # of those, copied because a symlink could not be made


def download(root: Path, files: Sequence[WeightFile], *, hub: HubSettings | None = None,
             progress: bool = True, on_file: Callable[[int, int, PlanItem], None] | None = None,
             ) -> DownloadReport:
    """Place every ``hf:`` file that ``root`` lacks, via the HF cache; then check the tree.

    Manual files are not touched here (see :func:`verify`). Raises DownloadError (no
    network, offline with files missing from the cache, a failed transfer: files finished so far
    stay in the cache, so running again resumes) or CheckpointError (a file failed its check).
    """
    hub = hub or HubSettings.from_env()
    items = [i for i in plan(root, files, hub) if i.state in (State.CACHED, State.FETCH)]
    to_fetch = [i for i in items if i.state is State.FETCH]
    if to_fetch and hub.offline:
        shown = ", ".join(str(i.hub) for i in to_fetch[:4]) + (
            f" and {len(to_fetch) - 4} more" if len(to_fetch) > 4 else "")
        raise DownloadError(
            f"HF_HUB_OFFLINE is set and {len(to_fetch)} file(s) are not in the Hugging Face cache "
            f"({hub.cache_dir}): {shown}; unset HF_HUB_OFFLINE on a machine that reaches the Hub, "
            "or copy the files into the cache or the checkpoint directory", missing=[
                i.file.path for i in to_fetch])
    if to_fetch:
        probe_hub(hub.endpoint)
    report = DownloadReport([], [], [])
    _quiet_hub_logging(progress)
    for n, item in enumerate(items, 1):
        if on_file is not None:
            on_file(n, len(items), item)
        assert item.hub is not None
        source = item.cached or _fetch(item.hub, hub)
        if item.cached is None:
            report.fetched.append(item.file.path)
            _check_blob(item.file, source)
            remove_stale_partials(source)
        if link_or_copy(source, root / item.file.path):
            report.copied.append(item.file.path)
        report.linked.append(item.file.path)
    return report


def _fetch(file: HubFile, hub: HubSettings) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(file.repo, file.filename, cache_dir=str(hub.cache_dir),
                                    endpoint=hub.endpoint, local_files_only=hub.offline))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # huggingface_hub raises many types (HTTP, offline, OS)
        raise DownloadError(
            f"could not download {file}: {_reason(exc)}; check the network (or HF_ENDPOINT / "
            "HF_TOKEN) and run the command again: finished files are kept in the Hugging Face "
            "cache and a partial one resumes") from None


def remove_stale_partials(path: Path, older_than_s: float = STALE_PARTIAL_S) -> list[Path]:
    """Delete the partial downloads of ``path``'s blob that earlier runs left behind.

    Only ``<blob>.<id>.incomplete`` files untouched for ``older_than_s`` (a live download keeps
    writing to its own); returns what was removed.
    """
    import time

    blob = Path(os.path.realpath(path))
    removed = []
    for partial in blob.parent.glob(f"{blob.name}.*.incomplete"):
        try:
            if time.time() - partial.stat().st_mtime > older_than_s:
                partial.unlink()
                removed.append(partial)
        except FileNotFoundError:  # its owner finished or cleaned up meanwhile
            continue
    return removed


def link_or_copy(target: Path, dest: Path) -> bool:
    """A symlink ``dest`` -> ``target`` (absolute); a copy where links fail. True if copied.

    A dangling or stale link at ``dest`` is replaced; a regular file there is left alone.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink():
        dest.unlink()
    elif dest.exists():
        return False
    try:
        os.symlink(os.path.abspath(target), dest)
        return False
    except (OSError, NotImplementedError):
        partial = dest.with_name(dest.name + ".partial")
        shutil.copyfile(os.path.realpath(target), partial)
        os.replace(partial, dest)
        return True


def _check_blob(file: WeightFile, path: Path) -> None:
    """A freshly fetched file against the spec's sha256/size, else an LFS blob against its name
    (the Hugging Face cache names LFS blobs by their sha256)."""
    blob = Path(os.path.realpath(path))
    expected = file.sha256 or (blob.name if _SHA256.match(blob.name) else None)
    problem = file_problem(blob, size=file.size, sha256=expected)
    if problem:
        raise CheckpointError(f"{file.path} from {file.source} is corrupt ({problem}); delete "
                              f"{blob} and run the command again")


def file_problem(path: Path, size: int | None = None, sha256: str | None = None) -> str | None:
    """None when ``path`` matches the size and sha256 given, else what is wrong (one phrase)."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"{actual_size} bytes, expected {size}"
    if sha256 is not None:
        digest = sha256_of(path)
        if digest != sha256.lower():
            return f"sha256 {digest[:12]}…, expected {sha256.lower()[:12]}…"
    return None


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(root: Path, files: Sequence[WeightFile], *, deep: bool = False) -> dict[str, str]:
    """{path: problem} for every file that is missing or fails its check; {} when all is well.

    Always: presence and the spec's size. The spec's sha256 when the file is not on the Hub (a
    file the user placed) or ``deep``; with ``deep`` a file linked into the Hugging Face cache
    is also hashed against its LFS blob name. Sizes only is what `vto doctor` affords.
    """
    problems: dict[str, str] = {}
    for file in files:
        path = file.present(root)
        if path is None:
            problems[file.path] = "missing"
            continue
        sha256 = file.sha256 if (deep or not file.source.startswith("hf:")) else None
        if deep and sha256 is None:
            blob = Path(os.path.realpath(path)).name
            sha256 = blob if _SHA256.match(blob) else None
        problem = file_problem(path, size=file.size, sha256=sha256)
        if problem:
            problems[file.path] = problem
    return problems


def describe_manual(file: WeightFile) -> str:
    """One line: where to get a file vto cannot fetch, its size and sha256."""
    facts = [f"{file.size / 1e6:.1f} MB ({file.size} bytes)" if file.size else None,
             f"sha256 {file.sha256}" if file.sha256 else None]
    shown = ", ".join(f for f in facts if f)
    return f"{file.path}: from {file.source}" + (f" [{shown}]" if shown else "")


def _quiet_hub_logging(progress: bool) -> None:
    from huggingface_hub import logging as hf_logging
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    hf_logging.set_verbosity_error()  # its retry warnings would bury our one-line error
    (enable_progress_bars if progress else disable_progress_bars)()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
