"""Settings: VTO_ variables, the seed deployment's variables, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from vto.errors import InvalidInput
from vto.service.settings import load_settings


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert (s.port, s.queue_max, s.max_attempts, s.lease_s) == (8384, 32, 3, 60.0)
    assert s.working_size == (768, 1024) and s.storage == "local"
    assert s.data_dir == tmp_path / "vto-data"  # resolved once, absolute
    assert s.db_url == f"sqlite:///{tmp_path / 'vto-data' / 'jobs.db'}"


def test_seed_environment_keeps_working(monkeypatch):
    monkeypatch.setenv("CHECKPOINT_PATH", "/models/ootd")
    monkeypatch.setenv("S3_Bucket", "seed-bucket")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-seed")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "shh")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    s = load_settings()
    assert s.checkpoints == "/models/ootd" and s.storage == "s3"
    assert (s.s3_bucket, s.s3_access_key, s.s3_secret_key, s.s3_region) == (
        "seed-bucket", "AKIA-seed", "shh", "eu-west-1")
    assert "shh" not in repr(s)


def test_vto_variables_and_flags(monkeypatch):
    monkeypatch.setenv("VTO_PORT", "9000")
    monkeypatch.setenv("VTO_API_KEYS", "first-key-1, second-key-2")
    monkeypatch.setenv("VTO_CORS_ORIGINS", '["https://a.example"]')
    s = load_settings(port=9100)
    assert s.port == 9100  # a flag beats the environment
    assert s.api_keys == ["first-key-1", "second-key-2"]
    assert s.cors_origins == ["https://a.example"]


@pytest.mark.parametrize("overrides", [{"port": 0}, {"cors_origins": ["*"]},
                                       {"api_keys": ["short"]}, {"storage": "s3"},
                                       {"webhook_secret": "plain"}, {"preload_models": ["xl"]}])
def test_invalid_settings_are_user_errors(overrides):
    with pytest.raises(InvalidInput):
        load_settings(**overrides)


def test_admin_keys_and_read_timeouts_from_the_environment_and_flags(monkeypatch):
    import argparse

    from vto.cli import serve

    monkeypatch.setenv("VTO_ADMIN_KEYS", "operator-key-1")
    monkeypatch.setenv("VTO_HEADER_TIMEOUT_S", "12.5")
    s = load_settings()
    assert s.admin_keys == ["operator-key-1"] and "operator-key-1" not in repr(s)
    assert (s.header_timeout_s, s.body_timeout_s, s.max_garments_per_key) == (12.5, 30.0, 100)
    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--admin-key", "flag-admin-1", "--admin-key",
                              "flag-admin-2"])
    flags = serve.settings_from_args(args, admin_keys=args.admin_keys)
    assert flags.admin_keys == ["flag-admin-1", "flag-admin-2"]
    with pytest.raises(InvalidInput):
        load_settings(admin_keys=["short"])


def test_performance_settings_defaults_and_environment(monkeypatch):
    from vto.core.models.base import Memory, RuntimeOptions, VaeRuntime
    from vto.core.paths import default_export_dir

    s = load_settings()
    assert (s.max_batch, s.memory, s.compile, s.cache_bytes, s.warm_catalog) == (
        4, Memory.AUTO, False, None, False)
    assert s.runtime_options() == RuntimeOptions(export_dir=default_export_dir())
    monkeypatch.setenv("VTO_MAX_BATCH", "8")
    monkeypatch.setenv("VTO_VAE", "Torch")
    monkeypatch.setenv("VTO_EXPORT_DIR", "~/graphs")
    monkeypatch.setenv("VTO_MEMORY", "Balanced")
    monkeypatch.setenv("VTO_COMPILE", "true")
    monkeypatch.setenv("VTO_CACHE_BYTES", "2GiB")
    monkeypatch.setenv("VTO_WARM_CATALOG", "1")
    s = load_settings()
    assert (s.max_batch, s.memory, s.compile, s.warm_catalog) == (8, Memory.BALANCED, True, True)
    assert s.runtime_options() == RuntimeOptions(memory=Memory.BALANCED, compile=True,
                                                 cache_bytes=2 * 2**30, vae=VaeRuntime.TORCH,
                                                 export_dir=Path("~/graphs").expanduser())
    assert load_settings(memory="low").memory is Memory.LOW  # a flag beats the environment
    # the worker process gets the settings as JSON
    from vto.service.settings import Settings

    assert Settings(**s.model_dump(mode="json")).runtime_options() == s.runtime_options()


@pytest.mark.parametrize("text, expected", [("0", 0), ("1024", 1024), ("512MiB", 512 * 2**20),
                                            ("500MB", 500_000_000), ("1.5 GiB", 3 * 2**29),
                                            ("2g", 2 * 2**30)])
def test_cache_sizes(text, expected):
    assert load_settings(cache_bytes=text).cache_bytes == expected


@pytest.mark.parametrize("overrides, message", [
    ({"max_batch": 0}, "max_batch"), ({"memory": "huge"}, "'auto', 'full', 'balanced' or 'low'"),
    ({"cache_bytes": "lots"}, "not a byte size"), ({"cache_bytes": "2 parsecs"}, "byte size"),
    ({"cache_bytes": -1}, "cache_bytes"), ({"compile": "maybe"}, "compile")])
def test_invalid_performance_settings_are_one_line(overrides, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        load_settings(**overrides)
    assert "\n" not in str(caught.value)
