"""`vto doctor`: each kind of line (ok / warning / error) with its fix, and the exit status.
Service probes talk to loopback only (a PING server written here, moto, a closed port)."""

from __future__ import annotations

import logging
import shutil
import socket
from pathlib import Path

import pytest

from vto.cli import doctor, doctor_services
from vto.cli.doctor import Level
from vto.cli.main import main
from vto.core import fidelity
from vto.core.fidelity import OpenCVStatus

SERVICE_ENV = ("VTO_QUEUE", "VTO_BROKER_URL", "VTO_DATABASE_URL", "VTO_STORAGE", "VTO_S3_BUCKET",
               "S3_Bucket", "S3_BUCKET", "AWS_ENDPOINT_URL", "VTO_S3_ENDPOINT_URL",
               "VTO_CHECKPOINTS", "CHECKPOINT_PATH")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("VTO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def by_subject(checks) -> dict:
    return {c.subject: c for c in checks}


def test_a_complete_checkpoint_is_ok_and_exits_0(tiny_checkpoint, capsys):
    assert main(["doctor", "--checkpoints", str(tiny_checkpoint.root)]) == 0
    out = capsys.readouterr().out
    assert f"ok       checkpoints      {tiny_checkpoint.root} (--checkpoints)" in out
    for line in ("ok       model ootd-hd    complete", "ok       model ootd-dc    complete",
                 "ok       openpose         complete", "ok       humanparsing     complete (onnxruntime",
                 "ok       python", "ok       torch", "ok       device cpu", "ok       extras"):
        assert line in out
    assert out.rstrip().endswith("no errors")


def test_missing_weights_are_warnings_with_the_download_line(tiny_checkpoint, tmp_path):
    root = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint.root, root)
    shutil.rmtree(root / "ootd" / "ootd_dc")
    (root / "humanparsing" / "parsing_lip.onnx").unlink()
    checks = by_subject(doctor.checkpoint_checks(str(root)))
    assert checks["model ootd-hd"].level is Level.OK
    dc = checks["model ootd-dc"]
    assert dc.level is Level.WARNING and dc.detail.startswith("missing 4 of 17 file(s) (ootd/ootd_dc/")
    assert dc.fix == f"vto download --dir {root} --model ootd-dc"
    parsing = checks["humanparsing"]
    assert parsing.level is Level.WARNING and "humanparsing/parsing_lip.onnx" in parsing.detail
    assert "models" not in checks  # one model can run: no error


def test_no_complete_model_is_an_error_and_exits_1(capsys):
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "does not exist" in out  # the default directory under XDG_CACHE_HOME
    assert "error    models           no model is complete" in out
    assert "fix: vto download --model ootd-hd" in out
    assert out.rstrip().endswith("1 error(s)")


def test_opencv_verified_unverified_and_clashing(monkeypatch):
    def status(version: str, dists: dict[str, str]):
        monkeypatch.setattr(fidelity, "opencv_status", lambda: OpenCVStatus(version, dists))
        return next(c for c in doctor.opencv_checks() if c.subject == "opencv")

    good = status("4.7.0", {"opencv-python-headless": "4.7.0.72"})
    assert good.level is Level.OK and "pixel-identical" in good.detail
    newer = status("4.10.0", {"opencv-python-headless": "4.10.0.84"})
    assert newer.level is Level.WARNING and "not the verified 4.7.0.72" in newer.detail
    assert newer.fix == "pip install 'opencv-python-headless==4.7.0.72' 'numpy==1.26.*'"
    clash = status("4.10.0", {"opencv-python": "4.10.0.84", "opencv-python-headless": "4.7.0.72"})
    assert clash.level is Level.ERROR and "2 distributions install cv2" in clash.detail
    assert clash.fix.startswith("pip uninstall -y opencv-python opencv-python-headless && pip install")


def test_the_installed_opencv_is_found_by_its_distribution():
    status = fidelity.opencv_status()
    assert "opencv-python-headless" in status.distributions
    assert status.cv2_version == status.distributions["opencv-python-headless"].rsplit(".", 1)[0]


def test_mask_computation_warns_once_about_an_unverified_opencv(monkeypatch, caplog):
    import cv2
    from vto.core.preprocess.masking import get_mask_location
    import numpy as np

    monkeypatch.setattr(fidelity, "_warned", False)
    monkeypatch.setattr(cv2, "__version__", "4.10.0")
    labels = np.zeros((512, 384), np.uint8)
    keypoints = {"pose_keypoints_2d": [[192.0, 100.0 + 10 * i] for i in range(18)]}
    with caplog.at_level(logging.WARNING, logger="vto.core.fidelity"):
        get_mask_location("hd", "upper_body", labels, keypoints)
        get_mask_location("hd", "upper_body", labels, keypoints)
    warnings = [r for r in caplog.records if r.name == "vto.core.fidelity"]
    assert len(warnings) == 1
    assert "OpenCV 4.10.0 is not the verified 4.7.0" in warnings[0].getMessage()


def test_the_verified_opencv_is_the_one_in_the_constraints_file():
    text = (Path(__file__).resolve().parents[2] / "constraints" / "fidelity.txt").read_text()
    assert f"{fidelity.VERIFIED_OPENCV_DIST}=={fidelity.VERIFIED_OPENCV}\n" in text
    assert f"numpy=={fidelity.VERIFIED_NUMPY}." in text


REDIS = "redis://127.0.0.1:6379/0"  # `make test` starts it (as for the queue tests)


def test_redis_only_when_configured_then_ok_or_error(monkeypatch):
    assert "redis" not in by_subject(doctor_services.service_checks())
    monkeypatch.setenv("VTO_BROKER_URL", f"redis://:s3cret@127.0.0.1:{closed_port()}/0")
    check = by_subject(doctor_services.service_checks())["redis"]
    assert check.level is Level.ERROR and "s3cret" not in check.detail and ":***@" in check.detail
    assert "VTO_BROKER_URL" in check.fix
    up = doctor_services.broker_check(REDIS)
    if up.level is not Level.OK:
        pytest.skip(f"no Redis on 127.0.0.1:6379 ({up.detail})")
    assert up.detail == f"{REDIS} answers PING"


def test_database_sqlite_postgres_down_and_up(monkeypatch):
    sqlite = by_subject(doctor_services.service_checks())["job table"]
    assert sqlite.level is Level.OK and "SQLite" in sqlite.detail
    monkeypatch.setenv("VTO_DATABASE_URL", f"postgresql://vto:pw@127.0.0.1:{closed_port()}/vto")
    down = by_subject(doctor_services.service_checks())["postgresql"]
    assert down.level is Level.ERROR and "VTO_DATABASE_URL" in down.fix and ":pw@" not in down.detail
    up = doctor_services.database_check("postgresql://postgres@127.0.0.1:5432/postgres")
    if up.level is not Level.OK:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({up.detail})")
    assert up.detail.endswith("answers")


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_s3_bucket_reachable_missing_and_unreachable(monkeypatch, moto_endpoint):
    import boto3

    keys = dict(aws_access_key_id="test", aws_secret_access_key="test")
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                 **keys).create_bucket(Bucket="vto-doctor")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("S3_Bucket", "vto-doctor")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert by_subject(doctor_services.service_checks())["s3"].level is Level.OK
    monkeypatch.setenv("S3_Bucket", "no-such-bucket")
    missing = by_subject(doctor_services.service_checks())["s3"]
    assert missing.level is Level.ERROR and "the bucket does not exist" in missing.detail
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    down = by_subject(doctor_services.service_checks())["s3"]
    assert down.level is Level.ERROR and "AWS_ENDPOINT_URL" in down.fix


def test_invalid_service_settings_are_one_error(monkeypatch):
    monkeypatch.setenv("VTO_PORT", "99999")
    [check] = list(doctor_services.service_checks())
    assert check.level is Level.ERROR and check.subject == "settings" and "port" in check.detail


def test_a_check_that_crashes_is_an_error_line_not_a_traceback(monkeypatch):
    def broken():
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setattr(doctor, "extras_checks", broken)
    checks = [c for c in doctor.all_checks() if "boom" in c.detail]
    assert checks and checks[0].level is Level.ERROR
