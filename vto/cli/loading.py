"""What the CLI shows while models load: a spinner on a terminal, one plain line otherwise.

    with Loading("loading ootd-hd"):
        engine.load("ootd-hd")

On a terminal (stderr is a TTY) a spinner with the elapsed seconds turns on stderr and is
replaced by ``vto: loading ootd-hd: done in 12.3 s``; in pipes and CI logs the line
``vto: loading ootd-hd…`` is printed once when it starts (``plain=False``: nothing). stdout is
never touched: it carries the results.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

FRAMES = "|/-\\"
INTERVAL_S = 0.1


class Loading:
    def __init__(self, text: str, *, stream: TextIO | None = None, tty: bool | None = None,
                 plain: bool = True) -> None:
        self.text = text
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.plain = plain
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def start(self) -> "Loading":
        self._started = time.monotonic()
        if self.tty:
            self._thread = threading.Thread(target=self._spin, name="vto-spinner", daemon=True)
            self._thread.start()
        elif self.plain:
            print(f"vto: {self.text}…", file=self.stream, flush=True)
        return self

    def stop(self, failed: bool = False) -> None:
        """End the spinner (idempotent); on a terminal say how long it took."""
        if self._thread is None or self._stop.is_set():
            self._stop.set()
            return
        self._stop.set()
        self._thread.join()
        elapsed = time.monotonic() - self._started
        end = "failed" if failed else "done"
        self.stream.write(f"\r\033[Kvto: {self.text}: {end} in {elapsed:.1f} s\n")
        self.stream.flush()

    def _spin(self) -> None:
        frame = 0
        while not self._stop.wait(INTERVAL_S if frame else 0):
            elapsed = time.monotonic() - self._started
            self.stream.write(f"\r\033[K{FRAMES[frame % len(FRAMES)]} {self.text}… "
                              f"{elapsed:.0f} s")
            self.stream.flush()
            frame += 1

    def __enter__(self) -> "Loading":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop(failed=kind is not None)
