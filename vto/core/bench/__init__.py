"""`vto bench`: vto against the original's computation, on the same weights, in one run.

    models     full-size OOTD models with random weights from the published configs (or tiny)
    scenarios  cold / warm / catalog / same-person / queue: cache states, jobs, the plan
    timing     the timing meter (seconds, peak memory, images)
    flops      the FLOP meter on the meta device (same plan, same code paths)
    memory     peak memory per row; hd alone vs hd+dc in child processes
    report     rows, table, JSON
    runner     options in, report out (what the CLI calls)

docs/performance.md explains each optimisation, why it is exact, and the measured tables.
"""
