"""FLOPs on the meta device: cached work is not counted, the step memo is exact."""

from __future__ import annotations

from torch.utils.flop_counter import FlopCounterMode

from vto.core.bench.flops import count_flops, meta_pipeline
from vto.core.bench.models import Shapes
from vto.core.bench.scenarios import BenchConfig, job


def per_image(counted, scenario, mode="vto"):
    m = counted[scenario, mode]
    return m.flops / m.images


# The acceptance at 768x1024, 20 steps runs through the CLI: tests/cli/test_bench.py.


def test_cached_work_is_not_counted_again():
    counted = count_flops(BenchConfig(size=(64, 96), steps=2, queue=2),
                          ["cold", "warm", "catalog", "same-person", "queue"],
                          shapes=Shapes.tiny())
    cold, warm = per_image(counted, "cold"), per_image(counted, "warm")
    catalog, same = per_image(counted, "catalog"), per_image(counted, "same-person")
    assert per_image(counted, "cold", "baseline") > cold > max(catalog, same)
    assert min(catalog, same) > warm
    assert per_image(counted, "queue") == cold  # batching changes the shapes, not the work


def test_memoised_steps_count_what_running_every_step_counts():
    config = BenchConfig(size=(64, 96), steps=3)
    counted = count_flops(config, ["cold"], shapes=Shapes.tiny())
    pipe = meta_pipeline(shapes=Shapes.tiny())  # no memo: every step runs on meta
    for original, mode in ((True, "baseline"), (False, "vto")):
        pipe.cache.clear()
        with FlopCounterMode(display=False) as counter:
            if original:
                with pipe.original_math():
                    pipe.run_batch([job(config, 0)])
            else:
                pipe.run_batch([job(config, 0)])
        assert counter.get_total_flops() == counted["cold", mode].flops, mode
