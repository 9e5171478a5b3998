"""Images given by reference (JSON requests): ``data:`` URIs and http(s) URLs, fetched safely.

    fetcher = ImageFetcher(allow_private=False, timeout_s=5.0, max_bytes=25 * 2**20)
    data = fetcher.fetch("https://shop.example/shirt.jpg", field="garment_image")   # bytes

The rules are the webhooks' (vto.service.webhooks): an http(s) URL whose host resolves only to
public addresses (private, loopback, link-local … refused unless the deployment allows private
targets, ``VTO_WEBHOOK_ALLOW_PRIVATE``), no credentials in the URL, the connection pinned to
the address that passed the check (a DNS answer that changes in between cannot redirect it),
the host name sent as ``Host`` and TLS SNI. Redirects are followed by hand, at most
:data:`MAX_REDIRECTS`, each target checked again, so a public URL cannot bounce the server to a
private one. Each image may take at most ``timeout_s`` seconds in all (the webhook timeout) and
``max_bytes`` bytes (the upload limit), whether it declares its length or not.

Every refusal is an :class:`~vto.errors.InvalidInput` naming the field. ``transport`` (an
httpx transport) and ``resolve`` (host -> addresses) replace the network in tests; ``clock``
replaces the time source.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpx

from vto.errors import InvalidInput
from vto.service.webhooks import Resolver, check_target

MAX_REDIRECTS = 3
USER_AGENT = "vto-image-fetch/1"


def is_reference(value: str) -> bool:
    """True for the strings :meth:`ImageFetcher.fetch` understands (data:, http:, https:)."""
    scheme = value.split(":", 1)[0].strip().lower() if ":" in value else ""
    return scheme in ("data", "http", "https")


class ImageFetcher:
    """Turns an image reference into bytes under the SSRF, size and time rules above."""

    def __init__(self, *, allow_private: bool, timeout_s: float, max_bytes: int,
                 resolve: Resolver | None = None, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.resolve = resolve
        self.clock = clock
        self._client = httpx.Client(transport=transport, timeout=timeout_s,
                                    follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def fetch(self, reference: str, *, field: str) -> bytes:
        """The bytes ``reference`` names (nothing is decoded here: the caller's image checks
        apply to them as to an upload)."""
        reference = reference.strip()
        if reference[:5].lower() == "data:":
            return self._data_uri(reference, field)
        if not is_reference(reference):
            raise InvalidInput(f"{field} must be an http(s) URL or a data: URI", field=field)
        return self._download(reference, field)

    # --- data: URIs (RFC 2397) ----------------------------------------------------------------
    def _data_uri(self, uri: str, field: str) -> bytes:
        header, comma, payload = uri[5:].partition(",")
        if not comma:
            raise InvalidInput(f"{field} is not a valid data: URI (no comma)", field=field)
        params = [p.strip().lower() for p in header.split(";")]
        media = params[0] or "text/plain"
        if not media.startswith("image/"):
            raise InvalidInput(f"{field} is a data: URI of {media}, not of an image",
                               field=field)
        if "base64" in params[1:]:
            # 4 base64 characters carry 3 bytes: refuse before decoding anything too large
            if len(payload) * 3 // 4 > self.max_bytes + 3:
                raise self._too_large(field)
            try:
                data = base64.b64decode(unquote_to_bytes(payload), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(f"{field} is a data: URI whose base64 is broken",
                                   field=field) from None
        else:
            data = unquote_to_bytes(payload)
        if len(data) > self.max_bytes:
            raise self._too_large(field)
        if not data:
            raise InvalidInput(f"{field} is an empty data: URI", field=field)
        return data

    # --- http(s) --------------------------------------------------------------------------
    def _download(self, url: str, field: str) -> bytes:
        deadline = self.clock() + self.timeout_s
        for _ in range(MAX_REDIRECTS + 1):
            address = check_target(url, allow_private=self.allow_private,
                                   resolve=self.resolve, field=field)[0]
            pinned, headers, extensions = _pinned(url, address)
            try:
                with self._client.stream("GET", pinned, headers=headers,
                                         extensions=extensions) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if not 200 <= response.status_code < 300:
                        raise InvalidInput(f"{field}: the image URL answered HTTP "
                                           f"{response.status_code}", field=field)
                    return self._read(response, deadline, field)
            except httpx.TimeoutException:
                raise self._too_slow(field) from None
            except httpx.HTTPError as exc:
                raise InvalidInput(f"{field}: the image URL could not be fetched "
                                   f"({type(exc).__name__})", field=field) from None
        raise InvalidInput(f"{field}: the image URL redirects more than {MAX_REDIRECTS} times",
                           field=field)

    def _read(self, response: httpx.Response, deadline: float, field: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(field)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large(field)
            if self.clock() > deadline:
                raise self._too_slow(field)
            chunks.append(chunk)
        if self.clock() > deadline:
            raise self._too_slow(field)
        if not size:
            raise InvalidInput(f"{field}: the image URL answered with an empty body",
                               field=field)
        return b"".join(chunks)

    def _too_large(self, field: str) -> InvalidInput:
        return InvalidInput(f"{field} is larger than {self.max_bytes} bytes, the limit for an "
                            "image", field=field)

    def _too_slow(self, field: str) -> InvalidInput:
        return InvalidInput(f"{field}: the image URL did not deliver within "
                            f"{self.timeout_s:g} s", field=field)


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL with the checked address in place of the host, headers, httpx extensions)."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    headers = {"host": parts.netloc.rsplit("@", 1)[-1], "user-agent": USER_AGENT,
               "accept": "image/*"}
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), headers, extensions
