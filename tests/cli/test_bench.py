"""`vto bench` compares like with like: the baseline computes the same images."""

from __future__ import annotations

from vto.cli.main import main


def test_bench_prints_ratio_rows_with_identical_images(tiny_checkpoint, capsys):
    assert main(["bench", "--checkpoints", str(tiny_checkpoint.root), "--size", "64x96",
                 "--steps", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith(("original math", "vto,"))]
    assert len(rows) == 4
    for row in rows:
        if row.startswith("vto,"):
            assert row.split()[-1] in ("0", "1")  # max pixel difference to the baseline
            assert row.split()[-2].endswith("x")
