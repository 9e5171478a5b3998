"""vto's error hierarchy, shared by the library, the CLI and the HTTP service.

Every error a user can cause is a :class:`VtoError` subclass. Each class carries the HTTP
status and the RFC 9457 problem ``type`` slug it maps to, so the service renders every one
of them as ``application/problem+json`` from one handler table and the CLI prints one line
and exits non-zero.

    VtoError                      500-free base; never raised directly
    ├── InvalidInput              422  a parameter or combination is not allowed
    │   ├── InvalidImage          415  not a decodable JPEG/PNG/WEBP image (or a file that is no image)
    │   ├── ImageTooLarge         413  more pixels than the configured cap (decompression bombs)
    │   └── PersonCheckFailed     422  no person / several people / body parts not visible
    ├── InputNotFound             404  a file, garment id or job that does not exist
    ├── CheckpointError           503  the checkpoint tree is missing files or is broken
    ├── DownloadError             502  weights could not be fetched (no network, auth, …)
    ├── Cancelled                 409  a job's step callback asked to stop
    ├── Conflict                  409  e.g. an idempotency key still in flight
    ├── RateLimited               429  too many submissions from one client (carries Retry-After)
    └── Unavailable               503  queue full / models not loaded yet (carries Retry-After)
"""

from __future__ import annotations


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
