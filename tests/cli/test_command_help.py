"""`vto COMMAND --help` imports no heavy library for the model commands (fast help)."""

from __future__ import annotations

import pytest

from tests.cli.test_main import run_probe


@pytest.mark.parametrize("command", ["tryon", "mask", "run-ootd", "bench"])
def test_model_commands_help_imports_nothing_heavy(command):
    done = run_probe(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("HEAVY:"), done.stdout[-300:]
    assert "usage: vto " + command in done.stdout
