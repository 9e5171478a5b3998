"""Shared route dependencies: the app's state container and the caller's identity."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from vto.service.jobs import JobStore
from vto.service.metrics import JobTimes, table_times
from vto.service.ratelimit import RateLimiter
from vto.service.service import JobEvents, TryOnService
from vto.service.settings import Settings
from vto.service.storage import Storage


@dataclass
class AppState:
    """Everything a route may use, built once by the app's lifespan."""

    settings: Settings
    store: JobStore
    storage: Storage
    service: TryOnService
    events: JobEvents
    catalog: Any
    metrics: Any
    presets: Any
    worker: Any = None          # the embedded worker (None with Celery)
    key_hashes: list[str] = field(default_factory=list)
    limiter: RateLimiter | None = None  # job submissions per client (None = unlimited)

    def job_times(self) -> JobTimes:
        """Job statistics from the job table, which every engine's workers write."""
        return table_times(self.store)


def get_state(request: Request) -> AppState:
    return request.app.state.vto


State = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="API key as a Bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def caller(state: State,
           bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
           api_key: Annotated[str | None, Security(_api_key)]) -> str:
    """The caller's owner id ('' when the server has no API keys). 401 without a valid key."""
    if not state.key_hashes:
        return ""
    presented = bearer.credentials if bearer is not None else api_key
    if presented:
        digest = hash_key(presented)
        for known in state.key_hashes:
            if secrets.compare_digest(digest, known):
                return known[:16]
    raise HTTPException(401, "a valid API key is required (Authorization: Bearer <key> "
                             "or X-API-Key)", headers={"WWW-Authenticate": "Bearer"})


Owner = Annotated[str, Depends(caller)]


def submitter(request: Request, state: State, owner: Owner) -> str:
    """The caller's owner id, after taking one submission token from its bucket (429 when
    empty): per API key, or per client address when the server has no keys."""
    if state.limiter is not None:
        client = owner or (request.client.host if request.client else "unknown")
        state.limiter.check(client)
    return owner


Submitter = Annotated[str, Depends(submitter)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
