"""The `vto` shell: help without importing any command (no torch), global flags anywhere,
one line for a missing extra."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import vto
from vto.cli import main as cli

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from vto.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "diffusers", "transformers", "cv2", "onnxruntime", "fastapi")
               if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
sys.exit(code)
"""


def run_probe(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", prelude + PROBE, *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize("args", [["--help"], ["download", "--help"], ["doctor", "--help"],
                                  ["--version"], ["serve", "--version"]])
def test_help_and_version_import_no_heavy_library(args):
    done = run_probe(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("HEAVY:"), done.stdout[-300:]


def test_top_level_help_lists_every_command():
    done = run_probe("--help")
    for command in cli.COMMANDS:
        assert f"    {command.name}" in done.stdout
    assert "-v, --verbose" in done.stdout and "--version" in done.stdout


def test_the_listing_says_what_each_command_registers():
    """The one-line help in COMMANDS is the one each module's register() gives."""
    for command in cli.COMMANDS:
        parser = cli.build_parser([command.name])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        shown = {action.dest: action.help for action in sub._choices_actions}
        assert shown[command.name] == command.help, command.name


@pytest.mark.parametrize("argv", [
    ["-v", "tryon", "--person", "p.jpg", "--garment", "g.jpg", "--out", "o"],
    ["tryon", "-v", "--person", "p.jpg", "--garment", "g.jpg", "--out", "o"],
    ["tryon", "--person", "p.jpg", "--garment", "g.jpg", "--out", "o", "--verbose"],
])
def test_verbose_anywhere(argv):
    args = cli.parse(argv)
    assert args.verbose and args.command == "tryon" and args.person == "p.jpg"


def test_version_anywhere(capsys):
    assert cli.main(["tryon", "--person", "p.jpg", "--version"]) == 0
    assert capsys.readouterr().out == f"vto {vto.__version__} (vto-tryon)\n"


def test_split_global_flags_stops_at_double_dash():
    assert cli.split_global_flags(["a", "-v", "--", "-v"]) == ({"verbose"}, ["a", "--", "-v"])


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_a_command_whose_extra_is_missing_is_one_line():
    done = run_probe("serve", "--help", prelude="import sys; sys.modules['pydantic_settings'] = None\n")
    assert done.returncode == 2
    assert done.stderr == "vto serve needs the serve extra: pip install 'vto-tryon[serve]'\n"


def test_an_extra_missing_at_run_time_is_one_line(monkeypatch, capsys):
    module = types.ModuleType("vto_test_fake_command")

    def run(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'boto3'", name="boto3")

    def register(sub: argparse._SubParsersAction) -> None:
        sub.add_parser("fake", help="x").set_defaults(func=run)

    module.register, module.run = register, run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    fake = cli.Command("fake", module.__name__, "x")
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, fake))
    monkeypatch.setitem(cli._BY_NAME, "fake", fake)
    assert cli.main(["fake"]) == 2
    assert capsys.readouterr().err == "vto fake needs the s3 extra: pip install 'vto-tryon[s3]'\n"


def test_a_missing_module_that_is_no_extra_keeps_its_traceback(monkeypatch):
    def boom(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'numpyy'", name="numpyy")

    monkeypatch.setattr(cli, "parse", lambda argv: argparse.Namespace(
        version=False, verbose=False, func=boom, command="x", print_help=lambda: None))
    with pytest.raises(ModuleNotFoundError):
        cli.main(["x"])
