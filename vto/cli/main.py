"""`vto` command line: one sub-command per module in this package, imported only when chosen.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func=run`` (``run(args) -> int``). :data:`COMMANDS` lists them with their one-line help, so
``vto --help`` (and every other command) imports no command module but the one it runs: no
torch for a help screen. ``-v/--verbose`` and ``--version`` may stand anywhere on the line.

Errors a user can cause are :class:`vto.errors.VtoError`; they are printed as one line on stderr
and the process exits with status 2. A missing optional dependency set ends the same way, naming
the extra to install (``vto serve needs the serve extra: pip install 'vto-tryon[serve]'``).
Anything else is a bug and keeps its traceback (with ``VTO_DEBUG=1`` VtoErrors do too).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import vto
from vto.cli.extras import DIST_NAME, extra_for, missing_extra_message
from vto.errors import VtoError


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # imported only when this command runs; its register() adds the real parser
    help: str    # the line `vto --help` shows (the module's register() passes the same)


# In the order `vto --help` lists them.
COMMANDS: tuple[Command, ...] = (
    Command("tryon", "vto.cli.tryon", "dress a person photo in a garment"),
    Command("mask", "vto.cli.mask", "compute the region a garment will re-generate"),
    Command("run-ootd", "vto.cli.run_ootd", "the original run_ootd.py command line"),
    Command("download", "vto.cli.download",
            "download model weights (Hugging Face cache, resumable, verified)"),
    Command("doctor", "vto.cli.doctor", "check what this machine can run, and what to fix"),
    Command("serve", "vto.cli.serve", "run the HTTP service"),
    Command("worker", "vto.cli.worker", "run a Celery worker for `vto serve --queue celery`"),
    Command("bench", "vto.cli.bench", "vto vs the original's computation: images/s, memory, FLOPs"),
    Command("dev", "vto.cli.dev", "developer tools"),
)
_BY_NAME = {command.name: command for command in COMMANDS}
GLOBAL_FLAGS = {"-v": "verbose", "--verbose": "verbose", "--version": "version"}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 (not a usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"vto: error: {message} (see '{self.prog} --help')\n")


class MissingExtra(Exception):
    """A command needs a module of an optional dependency set that is not installed."""

    def __init__(self, command: str, extra: str) -> None:
        super().__init__(missing_extra_message(command, extra))


def split_global_flags(argv: list[str]) -> tuple[set[str], list[str]]:
    """(global flags present, the other arguments); the flags count anywhere before ``--``."""
    found: set[str] = set()
    rest: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            rest += argv[i:]
            break
        if arg in GLOBAL_FLAGS:
            found.add(GLOBAL_FLAGS[arg])
        else:
            rest.append(arg)
    return found, rest


def chosen_command(argv: list[str]) -> str | None:
    """The sub-command named on the line: its first word that is not an option."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the full sub-parsers of ``commands`` (their modules imported) and one-line
    stubs for the others; ``None``: every command in full (a command whose extra is missing
    stays a stub).

    Raises :class:`MissingExtra` when a module named in ``commands`` needs an extra that is not
    installed.
    """
    parser = _Parser(prog="vto", description="Virtual try-on: a library, a CLI and an HTTP "
                     "service. -v/--verbose and --version may stand anywhere on the line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = None if commands is None else set(commands)
    for entry in COMMANDS:
        module = None
        if chosen is None or entry.name in chosen:
            try:
                module = importlib.import_module(entry.module)
            except ModuleNotFoundError as exc:
                extra = extra_for(exc)
                if extra is None:
                    raise
                if chosen is not None:
                    raise MissingExtra(entry.name, extra) from exc
        if module is None:
            sub.add_parser(entry.name, help=entry.help, add_help=False)
        else:
            module.register(sub)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse a command line (without the program name); ``-v`` anywhere sets ``verbose``."""
    flags, rest = split_global_flags(argv)
    name = chosen_command(rest)
    parser = build_parser([name] if name in _BY_NAME else [])
    args = parser.parse_args(rest)
    args.verbose = args.verbose or "verbose" in flags
    args.print_help = parser.print_help
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "version" in split_global_flags(argv)[0]:  # before parsing: any line with it is fine
        print(f"vto {vto.__version__} ({DIST_NAME})")
        return 0
    try:
        args = parse(argv)
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        args.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VtoError as exc:
        if os.environ.get("VTO_DEBUG"):
            raise
        print(f"vto: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = extra_for(exc)
        if extra is None:
            raise
        print(missing_extra_message(args.command, extra), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vto: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
