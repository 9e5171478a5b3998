"""vto's error hierarchy, shared by the library, the CLI and the HTTP service.

Every error a user can cause is a :class:`VtoError` subclass. Each class carries the HTTP
status and the RFC 9457 problem ``type`` slug it maps to; :meth:`VtoError.to_problem` is the
one builder of problem documents: every HTTP error body and every stored job error comes from
it (the service renders it as ``application/problem+json``; the CLI prints ``detail`` as one
line and exits 2).

    VtoError                      base; never raised directly
    ├── InvalidInput              422  a parameter, an image or a combination is not allowed
    │   ├── InvalidImage          415  not a decodable JPEG/PNG/WEBP image (or a file that is no image)
    │   ├── ImageTooLarge         413  more pixels than the configured cap (decompression bombs)
    │   └── PersonCheckFailed     422  no person / several people / body parts not visible
    ├── Forbidden                 403  a valid key that may not do this (catalog writes need admin)
    ├── InputNotFound             404  a file, garment id or job that does not exist (for this key)
    ├── Cancelled                 409  a job was canceled (queued or running: the same problem)
    ├── Conflict                  409  e.g. an idempotency key still in flight
    ├── RateLimited               429  too many submissions from one client (carries Retry-After)
    ├── DownloadError             502  weights could not be fetched (no network, auth, …)
    ├── CheckpointError           503  the checkpoint tree is missing files or is broken
    ├── Unavailable               503  queue full, models loading, database or broker down
    │   │                              (carries Retry-After)
    │   └── OutOfMemory           503  the device ran out of memory for a job
    ├── WorkerLost                503  the worker running a job died too many times
    └── InternalError             500  a bug; the detail says only where to look
"""

from __future__ import annotations


PROBLEM_BASE = "urn:vto:problem:"


class VtoError(Exception):
    """Base class: a message meant for the user, an HTTP status and a problem type."""

    status: int = 400
    problem: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def __str__(self) -> str:
        return self.detail

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.problem

    def to_problem(self, instance: str | None = None) -> dict[str, object]:
        """The RFC 9457 document: type, title, status, detail, [instance], and the JSON-safe
        extension members given as keyword arguments (e.g. ``field``, ``missing``)."""
        body: dict[str, object] = {"type": self.type, "title": self.title,
                                   "status": self.status, "detail": self.detail}
        if instance is not None:
            body["instance"] = instance
        for key, value in self.extra.items():
            if key not in body and isinstance(value, (str, int, float, bool, list)):
                body[key] = value
        return body


class InvalidInput(VtoError):
    status = 422
    problem = "invalid-input"
    title = "Invalid input"


class InvalidImage(InvalidInput):
    status = 415
    problem = "unsupported-image"
    title = "Not a supported image"


class ImageTooLarge(InvalidInput):
    status = 413
    problem = "image-too-large"
    title = "Image too large"


class PersonCheckFailed(InvalidInput):
    status = 422
    problem = "person-check-failed"
    title = "Person check failed"


class NoPersonFound(PersonCheckFailed):
    problem = "no-person-detected"
    title = "No person found"


class SeveralPersonsFound(PersonCheckFailed):
    problem = "several-persons-detected"
    title = "More than one person found"


class BodyPartsNotVisible(PersonCheckFailed):
    problem = "body-parts-not-visible"
    title = "Body parts not visible"


class Forbidden(VtoError):
    status = 403
    problem = "forbidden"
    title = "Forbidden"


class InputNotFound(VtoError):
    status = 404
    problem = "not-found"
    title = "Not found"


class CheckpointError(VtoError):
    status = 503
    problem = "checkpoint-error"
    title = "Checkpoint missing or broken"


class DownloadError(VtoError):
    status = 502
    problem = "download-failed"
    title = "Download failed"


class Cancelled(VtoError):
    status = 409
    problem = "canceled"
    title = "Canceled"


class Conflict(VtoError):
    status = 409
    problem = "conflict"
    title = "Conflict"


class RateLimited(VtoError):
    status = 429
    problem = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: int, **extra: object) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s


class Unavailable(VtoError):
    status = 503
    problem = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after_s: int = 5, **extra: object) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s


class OutOfMemory(Unavailable):
    problem = "out-of-memory"
    title = "Out of memory"


class WorkerLost(VtoError):
    status = 503
    problem = "worker-lost"
    title = "Worker lost"


class InternalError(VtoError):
    status = 500
    problem = "internal-error"
    title = "Internal error"


def _subclasses(cls: type[VtoError]) -> list[type[VtoError]]:
    return [cls] + [sub for child in cls.__subclasses__() for sub in _subclasses(child)]


def problem_error(problem: dict[str, object]) -> VtoError:
    """The VtoError a problem document describes (errors cross process boundaries as documents:
    the worker process and Celery send them back to the API)."""
    slug = str(problem.get("type", "")).removeprefix(PROBLEM_BASE)
    cls = next((c for c in _subclasses(VtoError) if c.problem == slug), InternalError)
    error = cls.__new__(cls)
    extra = {k: v for k, v in problem.items()
             if k not in ("type", "title", "status", "detail", "instance")}
    VtoError.__init__(error, str(problem.get("detail", "")), **extra)
    if isinstance(error, (Unavailable, RateLimited)):
        error.retry_after_s = int(extra.get("retry_after", 5))  # type: ignore[arg-type]
    return error
