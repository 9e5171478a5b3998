"""Shared route dependencies: the wired services and the caller's identity (vto.service.callers).

``Owner``: the caller's owner id (401 without a valid key where keys are needed);
``CallerDep``: the whole :class:`~vto.service.callers.Caller` (owner and admin flag);
``Submitter``/``SubmittingCaller``: the same, after counting one submission against the
caller's rate limit (try-ons and garment uploads).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from vto.service.callers import Caller, hash_key, identify
from vto.service.wiring import Services

__all__ = ["Caller", "CallerDep", "Owner", "ServicesDep", "Submitter", "SubmittingCaller",
           "base_url", "hash_key", "owner_of"]


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="API key as a Bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def owner_of(services: Services, presented: str | None) -> str | None:
    """The owner id of a presented key ('' when the server has no keys), None if invalid."""
    found = identify(services.settings, presented)
    return None if found is None else found.owner


def current_caller(services: ServicesDep,
                   bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
                   api_key: Annotated[str | None, Security(_api_key)]) -> Caller:
    """Who is calling. 401 without a valid key where the server has API keys."""
    found = identify(services.settings, bearer.credentials if bearer is not None else api_key)
    if found is None:
        raise HTTPException(401, "a valid API key is required (Authorization: Bearer <key> "
                                 "or X-API-Key)", headers={"WWW-Authenticate": "Bearer"})
    return found


CallerDep = Annotated[Caller, Depends(current_caller)]


def caller(found: CallerDep) -> str:
    """The caller's owner id ('' when the server has no API keys). 401 without a valid key."""
    return found.owner


Owner = Annotated[str, Depends(caller)]


def submitting_caller(request: Request, services: ServicesDep, found: CallerDep) -> Caller:
    """The caller, after counting one submission against its rate limit (429 when over): per
    API key, or per client address when the server has no keys."""
    if services.limiter is not None:
        services.limiter.check(found.owner or (request.client.host if request.client
                                               else "unknown"))
    return found


SubmittingCaller = Annotated[Caller, Depends(submitting_caller)]


def submitter(found: SubmittingCaller) -> str:
    """The caller's owner id, after counting one submission against its rate limit."""
    return found.owner


Submitter = Annotated[str, Depends(submitter)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
