"""Standard Webhooks signatures, the SSRF guard (tested on the address check itself), and one
pinned delivery through a replaced transport: no test here can reach a non-loopback address."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from vto.errors import InvalidInput
from vto.service.webhooks import check_target, new_secret, sign, verify


def test_signature_matches_the_standard_webhooks_spec_example():
    # standard-webhooks spec, "Verifying webhooks" example values
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, ts = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    body = b'{"test": 2432232314}'
    assert sign(secret, msg_id, ts, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    key = base64.b64decode(secret[6:])
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert sign(secret, msg_id, ts, body) == "v1," + expected


def test_verify_rejects_tampering_and_old_timestamps():
    import time

    secret = new_secret()
    ts = int(time.time())
    headers = {"webhook-id": "j.e", "webhook-timestamp": str(ts),
               "webhook-signature": sign(secret, "j.e", ts, b"{}")}
    assert verify(secret, headers, b"{}")
    assert not verify(secret, headers, b"{ }")
    assert not verify(new_secret(), headers, b"{}")
    old = {**headers, "webhook-timestamp": str(ts - 3600)}
    assert not verify(secret, old, b"{}")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost:8080/", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[fe80::1]/",
    "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "ftp://example.com/", "http:///nohost",
    "http://user:pw@example.com/",
    # IPv6 forms that carry a loopback or private IPv4 address
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a00:1]/", "http://[64:ff9b:1::c0a8:1]/",
    "http://[2002:7f00:1::]/", "http://[2002:a00:1::]/", "http://[::127.0.0.1]/",
    "http://[::10.0.0.1]/", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/"])
def test_private_and_odd_targets_are_refused(url):
    with pytest.raises(InvalidInput):
        check_target(url, allow_private=False, resolve=lambda host: [host.strip("[]")]
                     if host[0].isdigit() or ":" in host else ["127.0.0.1"])


def test_public_targets_pass_and_private_ones_when_allowed():
    check_target("https://hooks.example.com/x", allow_private=False,
                 resolve=lambda host: ["93.184.216.34"])
    check_target("http://127.0.0.1:9/x", allow_private=True)


def test_public_embedded_addresses_pass():
    for address in ("64:ff9b::5db8:d822", "2002:5db8:d822::1"):  # 93.184.216.34 inside
        check_target(f"http://[{address}]/", allow_private=False)


def test_delivery_is_signed_and_pinned_to_the_checked_address():
    import httpx

    from vto.service.webhooks import WebhookSender

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    answers = iter([["93.184.216.34"], ["93.184.216.34"], ["127.0.0.1"]])  # DNS rebinding
    secret = new_secret()
    sender = WebhookSender(secret, resolve=lambda host: next(answers),
                           transport=httpx.MockTransport(handler))
    assert sender.deliver("https://hooks.example.com/x?t=1", "j.e", "job.completed", {}) is None
    request = seen[0]
    assert request.url.host == "93.184.216.34" and request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert verify(secret, dict(request.headers), request.content)
    assert sender.deliver("https://hooks.example.com/x", "j.e", "job.completed", {}) is None
    # the next answer points inside: refused, nothing sent
    assert sender.deliver("https://hooks.example.com/x", "j.e", "e", {}).startswith("refused")
    assert len(seen) == 2
