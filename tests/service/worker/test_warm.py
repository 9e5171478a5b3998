"""Warm-up before ready: with VTO_COMPILE each preloaded model runs once at the deployment's
shapes, with VTO_WARM_CATALOG every catalog garment the default model can wear is warmed; the
worker says ready only afterwards, and a garment that cannot be warmed never blocks it."""

from __future__ import annotations

from PIL import Image

from tests.service.conftest import make_settings
from tests.service.fakes import FakeEngine
from vto.core.types import Category
from vto.service.worker.messages import Status
from vto.service.worker.process import _Child
from vto.service.worker.warm import warm


def catalog_with(settings, *names: str) -> None:
    root = settings.catalog_dir
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (64, 96), (200, 40, 40)).save(root / name)
    (root / "broken.png").write_bytes(b"not a png")


class WarmingEngine(FakeEngine):
    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.warmed_up: list = []

    def warm_up(self, request) -> bool:
        self.warmed_up.append((request.model, request.size, request.num_inference_steps))
        return True


def test_the_catalog_is_warmed_for_the_default_model(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint, warm_catalog=True)
    catalog_with(settings, "shirt.png", "dress_long.png", "pants_lower.png")
    engine = WarmingEngine(settings)
    counts = warm(engine, settings)
    # ootd-hd dresses tops only: the dress and the trousers are skipped, the broken file too
    assert engine.warmed == [("ootd-hd", Category.UPPER_BODY, (64, 96))]
    assert counts == {"models": 0, "garments": 1, "skipped": 3}
    assert engine.warmed_up == []  # compile is off


def test_compile_warms_up_every_preloaded_model_at_the_working_size(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint, compile=True,
                             preload_models=["ootd-hd", "ootd-dc"])
    engine = WarmingEngine(settings)
    assert warm(engine, settings)["models"] == 2
    assert engine.warmed_up == [("ootd-hd", settings.working_size, 2),
                                ("ootd-dc", settings.working_size, 2)]
    assert engine.warmed == []


class Pipe:
    def __init__(self) -> None:
        self.sent: list = []

    def send(self, message) -> None:
        self.sent.append(message)


def test_the_worker_reports_ready_only_after_warming(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint, warm_catalog=True, compile=True)
    catalog_with(settings, "shirt.png")
    child = _Child(Pipe(), settings, "w-test")
    child.engine = WarmingEngine(settings)
    child.load()
    states = [(m.state, m.detail) for m in child.conn.sent if isinstance(m, Status)]
    assert states[0] == ("loading", "") and states[-1][0] == "ready"
    assert ("loading", "warming up ootd-hd") in states
    assert any(detail.startswith("warming catalog garment") for _, detail in states)
    assert child.engine.warmed and child.engine.warmed_up and child.ready


def test_without_the_settings_nothing_is_warmed(tmp_path, tiny_checkpoint):
    settings = make_settings(tmp_path, tiny_checkpoint)
    catalog_with(settings, "shirt.png")
    child = _Child(Pipe(), settings, "w-test")
    child.engine = WarmingEngine(settings)
    child.load()
    assert child.engine.warmed == [] and child.engine.warmed_up == [] and child.ready


def test_a_garment_can_be_warmed_through_an_engine_call(tmp_path, tiny_checkpoint):
    from vto.service.worker import calls

    settings = make_settings(tmp_path, tiny_checkpoint)
    engine = WarmingEngine(settings)
    garment = Image.new("RGB", (64, 96), (10, 20, 30))
    answer = calls.handle(engine, "warm", {"request": {"model": "ootd-dc", "category": "dress"},
                                           "garment": calls.b64_png(garment)})
    assert answer == {"warmed": True}
    assert engine.warmed == [("ootd-dc", Category.DRESS, (64, 96))]
    assert calls.handle(object(), "warm", {"request": {}, "garment": calls.b64_png(garment)}
                        ) == {"warmed": False}  # an engine without a garment cache
