"""vto.core.download: the plan, links into a (hand-written) Hugging Face cache, offline and
unreachable-Hub failures, and checks of files placed by hand. No request leaves loopback."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from tests.fake_hub import add_to_cache, content_for, fill_cache
from vto.core import download as dl
from vto.core.download import HubFile, HubSettings, State
from vto.core.models import registry
from vto.core.models.base import Need, WeightFile
from vto.core.models.ootd.spec import OOTD_DC, OOTD_HD
from vto.errors import CheckpointError, DownloadError


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture()
def hub(tmp_path) -> HubSettings:
    """Offline settings over an empty cache in tmp_path (tests fill it)."""
    return HubSettings(cache_dir=tmp_path / "hf-cache", endpoint=f"http://127.0.0.1:{closed_port()}",
                       offline=True)


MANUAL = WeightFile("gan/generator.pth", "https://example.org/weights (the authors' Google Drive)",
                    sha256=hashlib.sha256(b"generator weights").hexdigest(), size=17)


def test_every_registered_model_names_hub_files_or_manual_sources():
    for spec in registry.SPECS:
        files = dl.model_files([spec])
        assert files, spec.id
        for file in files:
            if file.source.startswith("hf:"):
                parsed = HubFile.parse(file.source)
                assert parsed.repo.count("/") == 1 and parsed.filename, file
    with pytest.raises(ValueError, match="hf:org/name/path"):
        HubFile.parse("hf:only-a-repo")
    assert HubFile.parse("https://example.org/x.pth") is None


def test_ootd_files_include_its_preprocessing_models_once():
    paths = [f.path for f in dl.model_files([OOTD_HD, OOTD_DC])]
    assert len(paths) == len(set(paths))
    for rel in ("openpose/ckpts/body_pose_model.pth", "humanparsing/parsing_atr.onnx",
                "humanparsing/parsing_lip.onnx", "clip-vit-large-patch14/model.safetensors",
                "ootd/ootd_hd/checkpoint-36000/unet_vton/diffusion_pytorch_model.safetensors",
                "ootd/ootd_dc/checkpoint-36000/unet_garm/config.json"):
        assert rel in paths
    assert len(dl.preprocess_files({Need.MASK})) == 3  # the automatic mask runs pose and parsing
    assert [f.path for f in dl.preprocess_files({Need.POSE})] == ["openpose/ckpts/body_pose_model.pth"]


def test_plan_tells_present_cached_fetch_and_manual_apart(tmp_path, hub):
    root = tmp_path / "ck"
    files = dl.model_files([OOTD_HD]) + [MANUAL]
    present, cached = files[0], files[1]
    (root / present.path).parent.mkdir(parents=True)
    (root / present.path).write_text("{}")
    add_to_cache(hub.cache_dir, HubFile.parse(cached.source), b"cached")
    states = {item.file.path: item.state for item in dl.plan(root, files, hub)}
    assert states[present.path] is State.PRESENT
    assert states[cached.path] is State.CACHED
    assert states[MANUAL.path] is State.MANUAL
    assert sum(s is State.FETCH for s in states.values()) == len(files) - 3


def test_download_links_the_published_layout_into_the_cache(tmp_path, hub):
    root = tmp_path / "ck"
    files = dl.model_files([OOTD_HD])
    snapshots = fill_cache(hub.cache_dir, files)
    report = dl.download(root, files, hub=hub, progress=False)
    assert sorted(report.linked) == sorted(f.path for f in files)
    assert report.fetched == [] and report.copied == []
    for file in files:
        dest = root / file.path
        assert dest.is_symlink(), file.path  # no second copy of the weights
        assert Path(os.readlink(dest)) == snapshots[file.path].absolute()
        assert dest.read_bytes() == content_for(HubFile.parse(file.source))
    assert dl.verify(root, files, deep=True) == {}  # every blob matches its sha256 name
    # Nothing left to do on a second run.
    assert {i.state for i in dl.plan(root, files, hub)} == {State.PRESENT}
    assert dl.download(root, files, hub=hub, progress=False).linked == []


def test_offline_with_files_missing_from_the_cache_fails_at_once(tmp_path, hub):
    with pytest.raises(DownloadError, match=r"HF_HUB_OFFLINE is set and 20 file\(s\) are not in "
                                            r"the Hugging Face cache") as caught:
        dl.download(tmp_path / "ck", dl.model_files([OOTD_HD]), hub=hub, progress=False)
    assert len(caught.value.extra["missing"]) == 20
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").rglob("*.json"))


def test_unreachable_hub_is_one_sentence_before_any_download(tmp_path, hub):
    online = HubSettings(cache_dir=hub.cache_dir, endpoint=hub.endpoint, offline=False)
    with pytest.raises(DownloadError, match=r"the Hugging Face Hub \(http://127\.0\.0\.1:\d+\) "
                                            r"cannot be reached \(.*\); check the network"):
        dl.download(tmp_path / "ck", dl.model_files([OOTD_HD]), hub=online, progress=False)


def test_files_in_the_cache_are_linked_even_when_online(tmp_path, hub):
    """A CLIP model the user already has is linked without asking the (unreachable) Hub."""
    online = HubSettings(cache_dir=hub.cache_dir, endpoint=hub.endpoint, offline=False)
    clip = [f for f in dl.model_files([OOTD_HD]) if f.path.startswith("clip-vit-large-patch14/")]
    fill_cache(hub.cache_dir, clip)
    report = dl.download(tmp_path / "ck", clip, hub=online, progress=False)
    assert len(report.linked) == len(clip) == 3 and report.fetched == []


def test_copies_where_symlinks_fail(tmp_path, hub, monkeypatch):
    files = dl.model_files([OOTD_HD])[:3]
    fill_cache(hub.cache_dir, files)

    def no_symlinks(*args, **kwargs):
        raise OSError("symbolic links are not supported here")

    monkeypatch.setattr(dl.os, "symlink", no_symlinks)
    report = dl.download(tmp_path / "ck", files, hub=hub, progress=False)
    assert sorted(report.copied) == sorted(f.path for f in files)
    for file in files:
        dest = tmp_path / "ck" / file.path
        assert dest.is_file() and not dest.is_symlink()
        assert dest.read_bytes() == content_for(HubFile.parse(file.source))
        assert not dest.with_name(dest.name + ".partial").exists()


def test_a_dangling_link_is_replaced(tmp_path, hub):
    files = dl.model_files([OOTD_HD])[:1]
    root = tmp_path / "ck"
    (root / files[0].path).parent.mkdir(parents=True)
    os.symlink(tmp_path / "cleared-cache" / "gone", root / files[0].path)  # cache was emptied
    assert dl.plan(root, files, hub)[0].state is State.FETCH
    fill_cache(hub.cache_dir, files)
    assert dl.download(root, files, hub=hub, progress=False).linked == [files[0].path]
    assert (root / files[0].path).is_file()


def test_a_corrupt_blob_fails_the_deep_check(tmp_path, hub):
    files = dl.model_files([OOTD_HD])[:2]
    snapshots = fill_cache(hub.cache_dir, files)
    root = tmp_path / "ck"
    dl.download(root, files, hub=hub, progress=False)
    Path(os.path.realpath(snapshots[files[0].path])).write_bytes(b"flipped bits")
    assert dl.verify(root, files) == {}  # sizes only: the spec gives none
    problems = dl.verify(root, files, deep=True)
    assert list(problems) == [files[0].path] and "sha256" in problems[files[0].path]


def test_manually_placed_files_are_checked_by_size_and_sha256(tmp_path):
    root = tmp_path / "ck"
    assert dl.verify(root, [MANUAL]) == {MANUAL.path: "missing"}
    (root / "gan").mkdir(parents=True)
    (root / MANUAL.path).write_bytes(b"generator weightz")  # right size, wrong bytes
    assert "sha256" in dl.verify(root, [MANUAL])[MANUAL.path]
    (root / MANUAL.path).write_bytes(b"short")
    assert dl.verify(root, [MANUAL]) == {MANUAL.path: "5 bytes, expected 17"}
    (root / MANUAL.path).write_bytes(b"generator weights")
    assert dl.verify(root, [MANUAL]) == {}
    line = dl.describe_manual(MANUAL)
    assert "https://example.org/weights" in line and MANUAL.sha256 in line and "17 bytes" in line


def test_download_leaves_manual_files_alone(tmp_path, hub):
    report = dl.download(tmp_path / "ck", [MANUAL], hub=hub, progress=False)
    assert report.linked == [] and not (tmp_path / "ck" / MANUAL.path).exists()


def test_a_fetched_file_that_fails_its_checksum_is_refused(tmp_path, hub, monkeypatch):
    file = WeightFile("x/model.bin", "hf:org/model/model.bin", sha256="0" * 64)
    snapshot = add_to_cache(hub.cache_dir, HubFile.parse(file.source), b"payload")
    monkeypatch.setattr(dl, "_fetch", lambda hub_file, settings: snapshot)
    online = HubSettings(cache_dir=tmp_path / "empty-cache", endpoint=hub.endpoint, offline=False)
    monkeypatch.setattr(dl, "probe_hub", lambda endpoint: None)
    with pytest.raises(CheckpointError, match=r"x/model.bin from hf:org/model/model.bin is corrupt "
                                              r"\(sha256 .*, expected 000000000000…\)"):
        dl.download(tmp_path / "ck", [file], hub=online, progress=False)


def test_hub_settings_follow_the_huggingface_environment(monkeypatch, tmp_path):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "HF_ENDPOINT",
                 "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    settings = HubSettings.from_env()
    assert settings.cache_dir == tmp_path / "xdg" / "huggingface" / "hub"
    assert settings.endpoint == "https://huggingface.co" and not settings.offline
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert HubSettings.from_env().cache_dir == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1/")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert HubSettings.from_env() == HubSettings(tmp_path / "hub", "http://127.0.0.1:1", True)


def test_default_checkpoint_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("VTO_CHECKPOINTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dl.default_checkpoint_dir() == tmp_path / "vto" / "checkpoints"
    monkeypatch.setenv("VTO_CHECKPOINTS", str(tmp_path / "mine"))
    assert dl.default_checkpoint_dir() == tmp_path / "mine"


@pytest.fixture()
def fake_hub():
    from tests.fake_hub import FakeHub

    files = {("org/model", "weights/big.bin"): bytes(range(256)) * 400,
             ("org/model", "config.json"): b'{"a": 1}'}
    hub = FakeHub(files)
    yield hub
    hub.close()


HUB_FILES = [WeightFile("m/big.bin", "hf:org/model/weights/big.bin"),
             WeightFile("m/config.json", "hf:org/model/config.json")]


def test_fetches_from_the_hub_into_the_cache_and_links(tmp_path, fake_hub):
    """The real hf_hub_download against a loopback stand-in for the Hub."""
    online = HubSettings(cache_dir=tmp_path / "hf-cache", endpoint=fake_hub.url, offline=False)
    report = dl.download(tmp_path / "ck", HUB_FILES, hub=online, progress=False)
    assert sorted(report.fetched) == ["m/big.bin", "m/config.json"]
    big = tmp_path / "ck" / "m" / "big.bin"
    assert big.is_symlink() and big.read_bytes() == fake_hub.files[("org/model", "weights/big.bin")]
    assert Path(os.path.realpath(big)).parent.name == "blobs"  # the cache's own layout
    assert dl.verify(tmp_path / "ck", HUB_FILES, deep=True) == {}


def test_a_dropped_connection_resumes_with_a_range_request(tmp_path):
    from tests.fake_hub import FakeHub

    # huggingface_hub reads 10 MiB chunks: a file of 2.5 chunks, cut in the middle of the second
    data = bytes(range(256)) * (25 * 4096)
    hub = FakeHub({("org/model", "weights/big.bin"): data}, cut_first_get_at=15 << 20)
    try:
        online = HubSettings(cache_dir=tmp_path / "hf-cache", endpoint=hub.url, offline=False)
        dl.download(tmp_path / "ck", HUB_FILES[:1], hub=online, progress=False)
    finally:
        hub.close()
    ranges = [r[2] for r in hub.requests if r[0] == "GET"]
    assert ranges == [None, f"bytes={10 << 20}-"]  # from the last whole chunk on, not from 0
    assert (tmp_path / "ck" / "m" / "big.bin").read_bytes() == data


def test_a_second_run_fetches_only_what_is_missing(tmp_path, fake_hub):
    online = HubSettings(cache_dir=tmp_path / "hf-cache", endpoint=fake_hub.url, offline=False)
    dl.download(tmp_path / "ck", HUB_FILES[:1], hub=online, progress=False)  # then "interrupted"
    fake_hub.requests.clear()
    report = dl.download(tmp_path / "ck", HUB_FILES, hub=online, progress=False)
    assert report.fetched == ["m/config.json"]
    assert not [r for r in fake_hub.requests if "big.bin" in r[1]]


def test_orphaned_partial_downloads_are_removed(tmp_path, fake_hub):
    data = fake_hub.files[("org/model", "weights/big.bin")]
    blobs = tmp_path / "hf-cache" / "models--org--model" / "blobs"
    blobs.mkdir(parents=True)
    sha = hashlib.sha256(data).hexdigest()
    orphan, live = blobs / f"{sha}.0badc0de.incomplete", blobs / f"{sha}.11111111.incomplete"
    orphan.write_bytes(data[:1000])
    live.write_bytes(data[:1000])
    os.utime(orphan, (0, 0))  # untouched since 1970: an earlier run that died
    online = HubSettings(cache_dir=tmp_path / "hf-cache", endpoint=fake_hub.url, offline=False)
    dl.download(tmp_path / "ck", HUB_FILES[:1], hub=online, progress=False)
    assert not orphan.exists() and live.exists()


def test_a_file_missing_on_the_hub_is_one_error(tmp_path, fake_hub):
    online = HubSettings(cache_dir=tmp_path / "hf-cache", endpoint=fake_hub.url, offline=False)
    with pytest.raises(DownloadError, match=r"could not download org/model:nope.bin: .*run the "
                                            r"command again"):
        dl.download(tmp_path / "ck", [WeightFile("m/nope.bin", "hf:org/model/nope.bin")],
                    hub=online, progress=False)
