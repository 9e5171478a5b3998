"""`vto download`: a model's weights into the Hugging Face cache, linked into a checkpoint dir.

    vto download [--model ID|all ...] [--dir DIR] [--dry-run] [--verify] [--no-progress]

``--model`` takes any registered model id or alias (``ootd-hd``/``hd``, ``ootd-dc``/``dc``) or
``all``, repeatable; the default is OOTDiffusion hd and dc (what ``vto tryon`` and
``vto serve`` run by default). Files on the Hub are fetched (resumable) and linked; files
that are not (``WeightFile.source`` a URL or a sentence) are listed with where to get them, their
size and sha256, and checked once placed. Exit 0 when every file of the chosen models is there
and passes its checks. See vto.core.download for the cache conventions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vto.core.download import (DownloadReport, HubSettings, PlanItem, State, default_checkpoint_dir,
                               describe_manual, download, model_files, plan, verify)
from vto.core.models import registry
from vto.core.models.base import ModelSpec
from vto.errors import CheckpointError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download", help="download model weights (Hugging Face cache, resumable, verified)",
        description="Fetch the files a model needs from the Hugging Face Hub into the Hugging Face "
                    "cache (HF_HOME / HF_HUB_CACHE; resumable; files already cached are not "
                    "fetched again) and link them into the checkpoint directory in the published "
                    "layout. Files that are not on the Hub are listed with where to get them and "
                    "checked once you placed them. Re-run to resume or re-check.")
    p.add_argument("--dir", metavar="DIR",
                   help=f"checkpoint directory (default: $VTO_CHECKPOINTS, else "
                        f"{_shown(default_checkpoint_dir())})")
    p.add_argument("--model", action="append", metavar="ID",
                   help=f"model id or alias ({', '.join(_choices())}) or 'all' (default: ootd-hd and ootd-dc); "
                        "repeatable")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be linked, fetched or placed by hand; change nothing")
    p.add_argument("--verify", action="store_true",
                   help="also hash every file (sha256) against the published checksums")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _choices() -> list[str]:
    return [name for spec in registry.SPECS for name in (spec.id, *spec.aliases)]


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + "/") else text


DEFAULT_MODELS = ("ootd-hd", "ootd-dc")  # what `vto tryon` and `vto serve` run by default


def chosen_specs(names: list[str] | None) -> list[ModelSpec]:
    """Specs for ``--model`` values (None -> OOTDiffusion hd and dc, 'all' -> every registered
    model), each once."""
    if not names:
        names = list(DEFAULT_MODELS)
    if "all" in [n.strip().lower() for n in names]:
        return list(registry.SPECS)
    specs: dict[str, ModelSpec] = {}
    for name in names:
        spec = registry.get_spec(name)  # InvalidInput naming the choices
        specs.setdefault(spec.id, spec)
    return list(specs.values())


def run(args: argparse.Namespace) -> int:
    specs = chosen_specs(args.model)
    root = Path(args.dir).expanduser() if args.dir else default_checkpoint_dir()
    files = model_files(specs)
    hub = HubSettings.from_env()
    items = plan(root, files, hub)
    ids = ", ".join(spec.id for spec in specs)
    print(f"{root}: {len(files)} file(s) for {ids}; " + _counts(items)
          + f" (Hugging Face cache: {hub.cache_dir})")
    if args.dry_run:
        for item in items:
            print(_plan_line(item))
        return 0

    root.mkdir(parents=True, exist_ok=True)
    report = DownloadReport([], [], [])
    if any(i.state in (State.CACHED, State.FETCH) for i in items):
        report = download(root, files, hub=hub, progress=not args.no_progress, on_file=_announce)
    manual = [f for f in files if not f.source.startswith("hf:")]  # placed by hand, or to be
    problems = verify(root, files, deep=args.verify)
    if problems:
        _print_problems(root, manual, problems)
        which = " ".join(f"--model {spec.id}" for spec in specs)
        raise CheckpointError(
            f"{root} is incomplete: {len(problems)} file(s) missing or failing their check "
            f"(listed above); place them and run 'vto download --dir {root} {which}' again",
            missing=sorted(problems))
    fetched = f", {len(report.fetched)} downloaded" if report.fetched else ""
    copied = f", {len(report.copied)} copied (no symlinks here)" if report.copied else ""
    print(f"{root}: complete ({len(report.linked)} linked{fetched}{copied}; "
          f"{'sha256-verified' if args.verify else 'sizes checked'})")
    if root != default_checkpoint_dir():
        print(f"use it with --checkpoints {root} or: export VTO_CHECKPOINTS={root}")
    return 0


def _counts(items: list[PlanItem]) -> str:
    counts = {state: sum(i.state is state for i in items) for state in State}
    return (f"{counts[State.PRESENT]} present, {counts[State.CACHED]} in the Hugging Face cache, "
            f"{counts[State.FETCH]} to download, {counts[State.MANUAL]} not on the Hub")


def _plan_line(item: PlanItem) -> str:
    if item.state is State.MANUAL:
        return f"  manual   {describe_manual(item.file)}"
    what = {State.PRESENT: "present", State.CACHED: "link", State.FETCH: "fetch"}[item.state]
    return f"  {what:<8} {item.file.path}  <- {item.hub}"


def _announce(n: int, total: int, item: PlanItem) -> None:
    verb = "linking" if item.state is State.CACHED else "fetching"
    print(f"[{n}/{total}] {verb} {item.hub}", file=sys.stderr, flush=True)


def _print_problems(root: Path, manual: list, problems: dict[str, str]) -> None:
    manual_paths = {f.path: f for f in manual}
    if any(p in manual_paths for p in problems):
        print("These files are not on the Hugging Face Hub; get them and place them under "
              f"{root}:")
    for path, problem in sorted(problems.items()):
        if path in manual_paths:
            print(f"  {describe_manual(manual_paths[path])}" +
                  ("" if problem == "missing" else f"  -> placed copy is wrong: {problem}"))
        else:
            print(f"  {path}: {problem}")
