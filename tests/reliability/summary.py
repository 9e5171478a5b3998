"""The reliability suite's one summary table: a row per scenario, printed at the end of the run
(tests/reliability/conftest.py ``pytest_terminal_summary``).

Columns: requests made (``cases``), their answers by class — 2xx/3xx, 4xx, 503 with
Retry-After (deliberate: queue full, decoding busy, a dependency down) and any other 5xx
(``5xx``: must stay 0) — the jobs accepted, completed, lost (accepted but never finished, or
failed for want of a worker) and duplicated (run or stored more often than once), and the
API process's resident memory before and at its peak.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Row:
    scenario: str
    cases: int = 0
    ok: int = 0
    client_errors: int = 0
    unavailable: int = 0
    server_errors: int = 0
    accepted: int | None = None
    completed: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    rss_before_mb: float | None = None
    rss_after_mb: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int, retry_after: str | None = None) -> None:
        """One answer (thread-safe)."""
        with self._lock:
            self.cases += 1
            if status < 400:
                self.ok += 1
            elif status < 500:
                self.client_errors += 1
            elif status == 503 and retry_after:
                self.unavailable += 1
            else:
                self.server_errors += 1

    def hook(self, response: Any) -> None:
        """An httpx response event hook."""
        self.record(response.status_code, response.headers.get("retry-after"))

    async def async_hook(self, response: Any) -> None:
        self.hook(response)

    def jobs(self, *, accepted: int, completed: int, lost: int, duplicated: int) -> None:
        self.accepted, self.completed, self.lost, self.duplicated = (accepted, completed, lost,
                                                                     duplicated)


class Summary:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def row(self, scenario: str) -> Row:
        row = Row(scenario)
        self.rows.append(row)
        return row

    def table(self) -> list[str]:
        head = ("scenario", "cases", "2xx/3xx", "4xx", "503+RA", "5xx", "accepted", "completed",
                "lost", "dup", "RSS before", "RSS peak")

        def cell(value: Any, unit: str = "") -> str:
            if value is None:
                return "-"
            return f"{value:.0f} {unit}".strip() if isinstance(value, float) else str(value)

        body = [(r.scenario, cell(r.cases), cell(r.ok), cell(r.client_errors),
                 cell(r.unavailable), cell(r.server_errors), cell(r.accepted),
                 cell(r.completed), cell(r.lost), cell(r.duplicated),
                 cell(r.rss_before_mb, "MB"), cell(r.rss_after_mb, "MB")) for r in self.rows]
        total = ("total", *(str(sum(getattr(r, f) or 0 for r in self.rows)) for f in (
            "cases", "ok", "client_errors", "unavailable", "server_errors", "accepted",
            "completed", "lost", "duplicated")), "", "")
        rows = [head, *body, total]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths)))
        rule = "-" * len(line(head))
        return [line(head), rule, *(line(r) for r in body), rule, line(total)]


SUMMARY = Summary()
assert [f.name for f in fields(Row)][:2] == ["scenario", "cases"]
