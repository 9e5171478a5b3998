"""One line of `vto doctor`: a level, a subject, what was found, and the fix (shared by the
machine checks in vto.cli.doctor and the service checks in vto.cli.doctor_services)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Level(str, Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Check:
    level: Level
    subject: str
    detail: str
    fix: str | None = None

    def render(self) -> str:
        line = f"{self.level.value:<8} {self.subject:<16} {self.detail}"
        return line + (f"\n{'':<8} {'':<16} fix: {self.fix}" if self.fix else "")


def ok(subject: str, detail: str) -> Check:
    return Check(Level.OK, subject, detail)
