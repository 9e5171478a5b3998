"""Outbound webhooks: Standard Webhooks signatures, SSRF checks, and one pinned delivery.

Signing (standard-webhooks spec v1): headers ``webhook-id``, ``webhook-timestamp`` (unix
seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``,
where the secret is the base64 part of a ``whsec_…`` string. ``webhook-id`` is
``{job_id}.{event}`` so a receiver can de-duplicate retries and re-runs.

SSRF: a target must be http(s) with a host whose every resolved address is public. Private,
loopback, link-local, multicast, reserved and unspecified addresses are refused unless the
deployment allows private targets; IPv6 forms that embed an IPv4 address (IPv4-mapped,
IPv4-compatible, NAT64 64:ff9b::/96 and /48, 6to4 2002::/16, Teredo) are judged by the
embedded address too. A delivery connects to the address that passed the check (pinned: a DNS
answer that changes between check and connect cannot redirect it), sends the host name as
``Host`` and TLS SNI, and never follows redirects. Retries and durability: vto.service.deliveries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable
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


Resolver = Callable[[str], list[str]]

# What check_target accepts before it resolves the host, as a regular expression (the OpenAPI
# document states it): an http(s) URL of printable ASCII, its host an RFC 3986 reg-name or a
# bracketed IPv6 address (RFC 3986 IPv6address), no credentials, a port in 1-65535.
_H16 = "[0-9A-Fa-f]{1,4}"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LS32 = f"(?:{_H16}:{_H16}|{_OCTET}(?:\\.{_OCTET}){{3}})"
IPV6_PATTERN = "(?:" + "|".join([
    f"(?:{_H16}:){{6}}{_LS32}", f"::(?:{_H16}:){{5}}{_LS32}",
    f"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
    f"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
    f"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
    f"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
    f"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
    f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
    f"(?:(?:{_H16}:){{0,6}}{_H16})?::"]) + ")"
REG_NAME_PATTERN = "[A-Za-z0-9._~%!$&'()*+,;=-]+"
_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
WEBHOOK_URL_PATTERN = (f"^[hH][tT][tT][pP][sS]?://(?:{REG_NAME_PATTERN}|\\[{IPV6_PATTERN}\\])"
                       f"(?::{_PORT})?(?:[/?#][!-~]*)?$")
_REG_NAME = re.compile(REG_NAME_PATTERN)
_IPV6 = re.compile(IPV6_PATTERN)

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if any (mapped, compatible, NAT64, 6to4,
    Teredo client)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """True when ``address`` (and any IPv4 address embedded in it) is globally routable."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
        candidates.append(inner)
    return all(c.is_global and not c.is_multicast for c in candidates)


def check_target(url: str, *, allow_private: bool, resolve: Resolver | None = None,
                 field: str = "webhook_url") -> list[str]:
    """Raise InvalidInput (naming ``field``) unless ``url`` is an http(s) URL to a public
    host; returns the addresses that passed (a delivery connects to the first). The same rules
    guard every URL the server fetches or calls (webhooks, image URLs). The URL is plain
    RFC 3986 text (printable ASCII; an international host name in its xn-- form), its host a
    name of unreserved, percent-encoded and sub-delimiter characters or a bracketed IPv6
    address."""
    if not all(33 <= ord(c) <= 126 for c in url):
        raise InvalidInput(f"{field} must be printable ASCII without spaces (percent-encode "
                           "the rest; international host names in their xn-- form)",
                           field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{field} is not a valid URL", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{field} must be an http(s) URL with a host", field=field)
    host = parts.netloc.rsplit("@", 1)[-1]
    if not host.endswith("]"):
        host = host.rsplit(":", 1)[0]  # without the port
    if not (_REG_NAME.fullmatch(host) or (host.startswith("[") and host.endswith("]")
                                          and _IPV6.fullmatch(host[1:-1]))):
        raise InvalidInput(f"{field} has no valid host", field=field)
    if parts.username or parts.password:
        raise InvalidInput(f"{field} must not carry credentials", field=field)
    if port == 0:
        raise InvalidInput(f"{field} has no usable port", field=field)
    try:
        addresses = (resolve or _resolve)(parts.hostname)
    except (OSError, UnicodeError):
        raise InvalidInput(f"{field} host {parts.hostname!r} does not resolve",
                           field=field) from None
    if not addresses:
        raise InvalidInput(f"{field} host {parts.hostname!r} does not resolve", field=field)
    if not allow_private and not all(is_public(a) for a in addresses):
        raise InvalidInput(f"{field} points to a private, loopback or link-local address, "
                           "which this server does not call", field=field)
    return addresses


def _resolve(host: str) -> list[str]:
    try:  # an address literal needs no DNS
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})


class WebhookSender:
    """Sends one signed webhook message, pinned to a checked address. ``transport`` replaces
    the network (tests); ``resolve`` replaces DNS."""

    def __init__(self, secret: str, *, allow_private: bool = False, timeout_s: float = 5.0,
                 resolve: Resolver | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.secret = secret
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.resolve = resolve
        self._client = httpx.Client(transport=transport, timeout=timeout_s,
                                    follow_redirects=False, trust_env=False)

    def deliver(self, url: str, msg_id: str, event: str, data: dict[str, Any]) -> str | None:
        """One attempt; None on a 2xx answer, else why it failed (never raises)."""
        body = json.dumps({"type": event, "timestamp": _iso_now(), "data": data},
                          separators=(",", ":")).encode()
        try:
            # Checked again at send time, and the connection goes to the address that passed.
            address = check_target(url, allow_private=self.allow_private,
                                   resolve=self.resolve)[0]
        except InvalidInput as exc:
            return f"refused: {exc}"
        parts = urlsplit(url)
        host = parts.hostname or ""
        literal = f"[{address}]" if ":" in address else address
        netloc = literal + (f":{parts.port}" if parts.port else "")
        pinned = parts._replace(netloc=netloc).geturl()
        ts = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(ts),
                   "webhook-signature": sign(self.secret, msg_id, ts, body),
                   "user-agent": "vto-webhooks/1",
                   "host": parts.netloc.rsplit("@", 1)[-1]}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            response = self._client.post(pinned, content=body, headers=headers,
                                         extensions=extensions)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def close(self) -> None:
        self._client.close()


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "?"  # never log the full URL: it may carry a token


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
