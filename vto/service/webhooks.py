"""Outbound webhooks: Standard Webhooks signatures, retries with backoff, SSRF checks.

Signing (standard-webhooks spec v1): headers ``webhook-id``, ``webhook-timestamp`` (unix
seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``,
where the secret is the base64 part of a ``whsec_…`` string. ``webhook-id`` is
``{job_id}.{event}`` so a receiver can de-duplicate retries and re-runs.

SSRF: a target must be http(s) with a host whose every resolved address is public. Private,
loopback, link-local, multicast, reserved and unspecified addresses are refused unless the
deployment allows private targets. Redirects are never followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from vto.errors import InvalidInput

log = logging.getLogger(__name__)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def load_or_create_secret(path: Path) -> str:
    """The deployment's webhook secret, created (mode 0600) on first start."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    path.touch(mode=0o600)
    path.write_text(secret)
    log.info("created webhook signing secret in %s", path)
    return secret


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    if not secret.startswith("whsec_"):
        raise InvalidInput("webhook secret must start with 'whsec_'")
    key = base64.b64decode(secret[len("whsec_"):])
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """Receiver side (used by tests and documented for users)."""
    h = {k.lower(): v for k, v in headers.items()}
    try:
        ts = int(h["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    expected = sign(secret, h.get("webhook-id", ""), ts, body).split(",", 1)[1]
    return any(hmac.compare_digest(expected, part.split(",", 1)[1])
               for part in h.get("webhook-signature", "").split() if part.startswith("v1,"))


def check_target(url: str, *, allow_private: bool,
                 resolve: Callable[[str], list[str]] | None = None) -> None:
    """Raise InvalidInput unless ``url`` is an http(s) URL to a public host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("webhook_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("webhook_url must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise InvalidInput("webhook_url must not carry credentials")
    if allow_private:
        return
    try:
        addresses = (resolve or _resolve)(parts.hostname) if port is None or port > 0 else []
    except OSError:
        raise InvalidInput(f"webhook_url host {parts.hostname!r} does not resolve") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise InvalidInput("webhook_url points to a private, loopback or link-local "
                               "address, which this server does not call")


def _resolve(host: str) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})


class WebhookSender:
    """Delivers signed events in background threads; never blocks or fails the caller."""

    def __init__(self, secret: str, *, allow_private: bool = False, timeout_s: float = 5.0,
                 attempts: int = 5, backoff_s: float = 1.0) -> None:
        self.secret = secret
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vto-webhook")
        self._closed = threading.Event()

    def send(self, url: str, msg_id: str, event: str, data: dict[str, Any]) -> None:
        """Queue one delivery of ``{"type": event, "timestamp": …, "data": data}``."""
        if not self._closed.is_set():
            self._pool.submit(self._deliver, url, msg_id, event, data)

    def deliver(self, url: str, msg_id: str, event: str, data: dict[str, Any]) -> bool:
        """Deliver synchronously with retries; True on a 2xx answer."""
        return self._deliver(url, msg_id, event, data)

    def _deliver(self, url: str, msg_id: str, event: str, data: dict[str, Any]) -> bool:
        body = json.dumps({"type": event, "timestamp": _iso_now(), "data": data},
                          separators=(",", ":")).encode()
        for attempt in range(1, self.attempts + 1):
            try:
                # Re-check at send time: DNS may have changed since the job was accepted.
                check_target(url, allow_private=self.allow_private)
                ts = int(time.time())
                headers = {"content-type": "application/json", "webhook-id": msg_id,
                           "webhook-timestamp": str(ts),
                           "webhook-signature": sign(self.secret, msg_id, ts, body),
                           "user-agent": "vto-webhooks/1"}
                response = httpx.post(url, content=body, headers=headers,
                                      timeout=self.timeout_s, follow_redirects=False)
                if 200 <= response.status_code < 300:
                    return True
                log.warning("webhook %s to %s: HTTP %d (attempt %d)", msg_id, _host(url),
                            response.status_code, attempt)
            except InvalidInput as exc:
                log.warning("webhook %s refused: %s", msg_id, exc)
                return False
            except httpx.HTTPError as exc:
                log.warning("webhook %s to %s failed: %s (attempt %d)", msg_id, _host(url),
                            type(exc).__name__, attempt)
            if attempt < self.attempts and self._closed.wait(self.backoff_s * 2 ** (attempt - 1)):
                return False
        return False

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"  # never log the full URL: it may carry a token


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
