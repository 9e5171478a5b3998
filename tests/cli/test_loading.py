"""The loading indicator: a spinner on a terminal, one plain line otherwise, nothing on stdout."""

from __future__ import annotations

import io
import re
import threading

import pytest

from vto.cli import loading
from vto.cli.loading import Loading


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_prints_one_plain_line():
    stream = io.StringIO()
    with Loading("loading ootd-hd", stream=stream):
        pass
    assert stream.getvalue() == "vto: loading ootd-hd…\n"
    quiet = io.StringIO()
    with Loading("finding the person", stream=quiet, plain=False):
        pass
    assert quiet.getvalue() == ""


def test_a_terminal_gets_a_spinner_then_the_time_taken(monkeypatch):
    monkeypatch.setattr(loading, "INTERVAL_S", 0.001)
    stream = FakeTerminal()
    turned = threading.Event()
    real_write = stream.write

    def write(text: str) -> int:
        if text.count("|") + text.count("/") + text.count("-") + text.count("\\"):
            turned.set()
        return real_write(text)
    monkeypatch.setattr(stream, "write", write)
    with Loading("loading ootd-hd", stream=stream):
        assert turned.wait(5)
    shown = stream.getvalue()
    assert shown.startswith("\r\033[K| loading ootd-hd… 0 s")
    assert re.search(r"\r\033\[Kvto: loading ootd-hd: done in \d+\.\d s\n$", shown), shown[-80:]
    assert shown.count("\n") == 1  # the spinner rewrites one line


def test_a_failure_is_said_and_stop_is_idempotent():
    stream = FakeTerminal()
    with pytest.raises(RuntimeError):
        with Loading("loading ootd-hd", stream=stream):
            raise RuntimeError("broken checkpoint")
    assert "loading ootd-hd: failed in" in stream.getvalue()
    spinner = Loading("x", stream=io.StringIO())
    spinner.start()
    spinner.stop()
    spinner.stop()
