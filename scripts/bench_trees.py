"""GlobalGBM's trees on one or two OpenMP threads, alone on the machine and beside a busy one.

The trees (scikit-learn's HistGradientBoostingRegressor, one ensemble per horizon step)
run many short parallel loops whose threads wait for each other spinning. When another
process holds a core, a thread that waits for a descheduled partner burns CPU for
nothing. This benchmark fits the catalog's GlobalGBM (weekly: one season of 52 lags, 13
steps, 3 backtest origins) on a synthetic panel, the same work in every row:

- threads 1, threads 2: alone on the machine;
- the same beside a process spinning on one core (`--busy`);
- auto: demandcast's choice (pooled.tree_threads: the run's n_jobs, no more than the cores
  other work leaves free), alone and beside the spinning process.

    .venv/bin/python scripts/bench_trees.py --series 400 --repeat 2

Wall and CPU seconds of the fit (the process's, the spinning one's not counted).
Results: docs/benchmarks.md, "The trees' threads".
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from demandcast import pooled
from demandcast.catalog import load_catalog


def fit(ys: list[np.ndarray], threads: int, force: bool) -> tuple[float, float, int]:
    """Wall and CPU seconds of one fit; `force`: exactly `threads`, not pooled's choice."""
    model = load_catalog().pooled("GlobalGBM", 52, 13)
    model.n_series = len(ys)
    model.n_threads = threads
    choose = pooled.tree_threads
    used = threads if force else choose(threads)
    pooled.tree_threads = lambda wanted, n=used: n  # the fit takes what was decided here
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(ys, [13, 26, 39])
        return time.perf_counter() - t0, time.process_time() - c0, used
    finally:
        pooled.tree_threads = choose


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=400)
    p.add_argument("--weeks", type=int, default=156)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    t = np.arange(a.weeks)
    ys = [
        np.maximum(0, 100 + np.cumsum(rng.normal(0, 5, a.weeks)) + 20 * np.sin(t * 2 * np.pi / 52))
        for _ in range(a.series)
    ]
    print(f"GlobalGBM, {a.series} weekly series of {a.weeks} weeks, 3 origins")
    print(f"{'case':32s} {'threads':>7s} {'wall s':>7s} {'CPU s':>7s}")
    for busy in (False, True):
        spin = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            if spin:
                time.sleep(1)
            for threads, label, force in ((1, "1 thread", True), (2, "2 threads", True),
                                          (2, "auto (n_jobs 2)", False)):  # fmt: skip
                for _ in range(a.repeat):
                    wall, cpu, used = fit(ys, threads, force)
                    case = f"{label}, {'beside a busy core' if busy else 'alone'}"
                    print(f"{case:32s} {used:7d} {wall:7.1f} {cpu:7.1f}", flush=True)
        finally:
            if spin:
                spin.kill()
                spin.wait()


if __name__ == "__main__":
    main()
