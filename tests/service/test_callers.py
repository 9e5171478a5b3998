"""Who is calling: API keys, admin keys, and the anonymous tenant of a server without keys."""

from __future__ import annotations

from types import SimpleNamespace

from vto.service.callers import Caller, hash_key, identify


def settings(api: list[str], admin: list[str]) -> SimpleNamespace:
    return SimpleNamespace(api_keys=api, admin_keys=admin)


def test_without_api_keys_everyone_is_the_anonymous_tenant():
    assert identify(settings([], []), None) == Caller("", admin=False)
    assert identify(settings([], []), "whatever") == Caller("", admin=False)
    # admin keys alone: anonymous tenants, and the admin key still marks the operator
    assert identify(settings([], ["admin-key-1"]), "admin-key-1") == Caller("", admin=True)
    assert identify(settings([], ["admin-key-1"]), "admin-key-2") == Caller("", admin=False)


def test_with_api_keys_a_key_is_needed_and_names_the_owner():
    s = settings(["tenant-key-1"], ["admin-key-1"])
    assert identify(s, None) is None and identify(s, "nope-nope") is None
    assert identify(s, "tenant-key-1") == Caller(hash_key("tenant-key-1")[:16], admin=False)
    # an admin key is also a valid API key, with jobs of its own
    assert identify(s, "admin-key-1") == Caller(hash_key("admin-key-1")[:16], admin=True)
