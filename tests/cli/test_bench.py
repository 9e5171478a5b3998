"""`vto bench` from the command line: the FLOP acceptance run and a tiny timed run."""

from __future__ import annotations

import json

from vto.cli.main import main

KEYS = {"scenario", "mode", "seconds_per_image", "images_per_s", "ratio", "peak_memory_bytes",
        "flops_per_image", "max_pixel_diff"}


def rows_by(data):
    return {(r["scenario"], r["mode"]): r for r in data["rows"]}


def test_flops_at_768x1024_20_steps_meet_the_acceptance_ratios(tmp_path, capsys):
    out = tmp_path / "flops.json"
    assert main(["bench", "--flops", "--size", "768x1024", "--steps", "20",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["config"]["size"] == "768x1024" and data["config"]["steps"] == 20
    rows = rows_by(data)
    assert {s for s, _ in rows} == {"cold", "warm", "catalog", "same-person", "queue"}
    for row in data["rows"]:
        assert set(row) >= KEYS and row["flops_per_image"] > 0
        assert row["seconds_per_image"] is None and row["max_pixel_diff"] is None  # nothing ran
    base = rows["warm", "baseline"]["flops_per_image"]
    assert rows["cold", "baseline"]["flops_per_image"] == base  # the original caches nothing
    assert 280e12 < base < 295e12  # the issue: 288 TFLOP per image for the original
    assert rows["warm", "vto"]["flops_per_image"] <= 0.63 * base
    assert rows["cold", "vto"]["flops_per_image"] <= 0.70 * base
    assert "same-person" in capsys.readouterr().out


def test_tiny_timed_run_prints_rows_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--tiny", "--device", "cpu", "--size", "64x96", "--steps", "2",
                 "--queue", "2", "--scenarios", "cold,warm,queue", "--no-memory-check",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [(r["scenario"], r["mode"]) for r in data["rows"]] == [
        (s, m) for s in ("cold", "warm", "queue") for m in ("baseline", "vto")]
    for row in data["rows"]:
        assert set(row) >= KEYS
        assert row["max_pixel_diff"] <= 1 and row["images_per_s"] > 0
        assert row["flops_per_image"] > 0
    printed = capsys.readouterr().out.splitlines()
    assert sum(line.startswith(("cold ", "warm ", "queue ")) for line in printed) == 6


def test_checkpoints_are_loaded_through_the_normal_loader(tiny_checkpoint, tmp_path):
    out = tmp_path / "ckpt.json"
    assert main(["bench", "--checkpoints", str(tiny_checkpoint.root), "--device", "cpu",
                 "--model", "dc", "--size", "64x96", "--steps", "2", "--scenarios", "catalog",
                 "--no-memory-check", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["config"]["weights"] == str(tiny_checkpoint.root)
    assert data["config"]["model"] == "dc"
    vto = rows_by(data)["catalog", "vto"]
    assert vto["max_pixel_diff"] <= 1 and vto["flops_per_image"] > 0


def test_bad_scenario_is_refused(capsys):
    try:
        main(["bench", "--scenarios", "cold,lukewarm"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "scenarios are" in capsys.readouterr().err


def test_cli_scenario_names_are_the_benchs():
    from vto.cli.bench import SCENARIO_NAMES
    from vto.core.bench.scenarios import ORDER

    assert SCENARIO_NAMES == ORDER  # kept apart so that `vto bench --help` imports no torch
