"""What the API process and its worker process say to each other over their pipe.

    API → worker    Wake · Cancel(job_id) · Call(call_id, method, payload) · Stop
    worker → API    Status(state, detail) · JobChanged(job_id) · Progress(job_id, step, total)
                    · CallResult(call_id, value | problem) · DeviceMemory(per_gpu)

Small frozen dataclasses (pickled by multiprocessing). Job state itself lives in the job table;
these only say "look again" quickly and carry the per-step progress that is written to the
table at a bounded rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Wake:
    """A job was queued: claim now instead of at the next poll."""


@dataclass(frozen=True)
class Cancel:
    job_id: str


@dataclass(frozen=True)
class Call:
    """Run ``method`` of the engine service (e.g. "classify", "mask") on ``payload``."""

    call_id: int
    method: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stop:
    """Finish the current job's step, then exit."""


@dataclass(frozen=True)
class Status:
    state: str                 # "loading" | "ready" | "failed"
    detail: str = ""
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobChanged:
    job_id: str


@dataclass(frozen=True)
class Progress:
    job_id: str
    step: int
    total: int


@dataclass(frozen=True)
class CallResult:
    call_id: int
    value: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None   # VtoError.to_problem() when the call failed


@dataclass(frozen=True)
class DeviceMemory:
    """GPU memory of the worker: gpu index -> (allocated, reserved) bytes."""

    per_gpu: dict[int, tuple[int, int]]
