"""Shared route dependencies: the wired services and the caller's identity."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from vto.service.wiring import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="API key as a Bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def owner_of(services: Services, presented: str | None) -> str | None:
    """The owner id of a presented key ('' when the server has no keys), None if invalid."""
    keys = services.settings.api_keys
    if not keys:
        return ""
    if presented:
        digest = hash_key(presented)
        for key in keys:
            known = hash_key(key)
            if secrets.compare_digest(digest, known):
                return known[:16]
    return None


def caller(services: ServicesDep,
           bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
           api_key: Annotated[str | None, Security(_api_key)]) -> str:
    """The caller's owner id ('' when the server has no API keys). 401 without a valid key."""
    owner = owner_of(services, bearer.credentials if bearer is not None else api_key)
    if owner is None:
        raise HTTPException(401, "a valid API key is required (Authorization: Bearer <key> "
                                 "or X-API-Key)", headers={"WWW-Authenticate": "Bearer"})
    return owner


Owner = Annotated[str, Depends(caller)]


def submitter(request: Request, services: ServicesDep, owner: Owner) -> str:
    """The caller's owner id, after counting one submission against its rate limit (429 when
    over): per API key, or per client address when the server has no keys."""
    if services.limiter is not None:
        services.limiter.check(owner or (request.client.host if request.client else "unknown"))
    return owner


Submitter = Annotated[str, Depends(submitter)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
