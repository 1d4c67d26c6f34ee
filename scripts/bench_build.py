"""Time `dbt build` on demo plants of several sizes: wall, CPU, peak memory,
and the share the Great Expectations gates take; then the same `dbt build` again with no
new data (wall, CPU, fits, gate expectations validated or reused; --no-rebuild skips it).

Memory is sampled (`TreeSampler`) over the whole process tree of the build: dbt and
the StatsForecast workers it starts, RSS and PSS (PSS splits the pages a forked worker
shares with dbt, so its sum is the tree's real footprint).

    .venv/bin/python scripts/bench_build.py                 # 200 and 2,000 products per plant
    .venv/bin/python scripts/bench_build.py --products 200  # one size

Each size gets a fresh demo and a fresh warehouse under reports/bench/; the
figures go to reports/bench_build.json and the table printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from demandcast.cli import dbt_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class TreeSampler(threading.Thread):
    """RSS and PSS of a process and all its descendants, sampled every `interval` s.

    `samples`: (seconds since start, tree RSS MiB, tree PSS MiB, root RSS MiB). Linux
    only (reads /proc)."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float, float, float]] = []
        self._done = threading.Event()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        pids, todo = [], [pid]
        while todo:
            p = todo.pop()
            pids.append(p)
            try:
                tasks = list(Path(f"/proc/{p}/task").glob("*"))
            except OSError:  # the process ended between two reads
                continue
            for task in tasks:
                try:
                    todo += [int(k) for k in (task / "children").read_text().split()]
                except OSError:
                    continue
        return pids

    @staticmethod
    def _kib(pid: int) -> tuple[int, int]:
        """(RSS, PSS) of one process in KiB; zeros once it is gone."""
        rss = pss = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss = int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss = int(line.split()[1])
        except OSError:
            pass
        return rss, pss

    def run(self) -> None:
        start = time.monotonic()
        while not self._done.wait(self.interval):
            sizes = [self._kib(p) for p in self._tree(self.pid)]
            rss, pss = (sum(col) / 1024 for col in zip(*sizes, strict=True))
            self.samples.append((time.monotonic() - start, rss, pss, sizes[0][0] / 1024))

    def stop(self) -> list[tuple[float, float, float, float]]:
        self._done.set()
        self.join()
        return self.samples


def run_sampled(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `cmd` in ROOT, its process tree's memory sampled; its wall and CPU seconds
    (user + system of the command and every descendant it waited for), samples, and the
    machine's 1-minute load average at its start and end (`uptime`'s first figure)."""
    load = [os.getloadavg()[0]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start, epoch = time.perf_counter(), time.time()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    samples = sampler.stop()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    load = [round(x, 2) for x in (*load, os.getloadavg()[0])]
    return done, {"wall_s": wall, "cpu_s": cpu, "samples": samples, "epoch": epoch, "load": load}


def peak(samples: list, column: int, spans: list[tuple[float, float]] | None = None) -> float:
    """Largest sampled value of a column (1 tree RSS, 2 tree PSS, 3 root RSS), within
    `spans` of seconds since the start when given."""
    values = [s[column] for s in samples if spans is None or any(a <= s[0] <= b for a, b in spans)]
    return round(max(values, default=0.0))


ENGINE_PREFIX = "int_forecast__"
"""The forecasting engine's nodes: the dbt Python models decisions, backtest, champions
and predictions."""


def node_spans(results: list[dict], epoch: float, prefix: str) -> list[tuple[float, float]]:
    """When the nodes whose name starts with `prefix` executed, in seconds since `epoch`."""
    spans = []
    for r in results:
        if r["unique_id"].split(".")[-1].startswith(prefix):
            for t in r["timing"]:
                if t["name"] == "execute":
                    a, b = (
                        datetime.fromisoformat(t[k].replace("Z", "+00:00")).timestamp() - epoch
                        for k in ("started_at", "completed_at")
                    )
                    spans.append((a, b))
    return spans


def build(
    products: int, plants: int, years: int, vars_: str | None, work: Path, rebuild: bool = True
) -> dict:
    from demandcast.demo import write_demo

    raw, db, target = work / "raw", work / "wh.duckdb", work / "target"
    for path in (db, Path(f"{db}.wal")):
        path.unlink(missing_ok=True)
    demo = write_demo(raw, n_plants=plants, n_products=products, years=years)
    env = dbt_env(db=db, raw=raw, profiles=ROOT / "profiles")
    cmd = [str(BIN / "dbt"), "build", "--target-path", str(target), "--log-path", str(work)]
    if vars_:
        cmd += ["--vars", vars_]
    done, run = run_sampled(cmd, env)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:])
        raise SystemExit(f"dbt build failed for {products} products per plant")
    results = json.loads((target / "run_results.json").read_text())["results"]
    first = _first_build_figures(products, plants, demo, run, results, work)
    if not rebuild:
        return first
    # the same plain `dbt build` again, no new data (issue 23, point 10)
    again, rerun = run_sampled(cmd, env)
    if again.returncode != 0:
        print(again.stdout[-4000:], again.stderr[-2000:])
        raise SystemExit(f"the rebuild failed for {products} products per plant")
    timing = json.loads((target / "run_results.json").read_text())["results"]
    slowest = sorted(timing, key=lambda r: -r["execution_time"])[:6]
    return {
        **first,
        "rebuild_wall_s": round(rerun["wall_s"], 1),
        "rebuild_cpu_s": round(rerun["cpu_s"], 1),
        "rebuild_load": rerun["load"],
        "rebuild_wall_share": round(rerun["wall_s"] / run["wall_s"], 3),
        "rebuild_cpu_share": round(rerun["cpu_s"] / run["cpu_s"], 3),
        "rebuild_slowest_nodes": {
            r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in slowest
        },
        **rebuild_work(db),
    }


def rebuild_work(db: Path) -> dict:
    """What the last run did: its fits and decisions, and its gates' expectations validated
    anew or copied from an earlier published run with the same input fingerprint."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        (run_id,) = con.execute(
            "select run_id from demandcast_runs order by started_at desc limit 1"
        ).fetchone()
        decisions = dict(
            con.execute(
                "select decision, count(*) from fct_retrain_decisions where run_id = ? group by 1",
                [run_id],
            ).fetchall()
        )
        (fits,) = con.execute(
            "select coalesce(sum(n_fits), 0) from fct_retrain_decisions where run_id = ?",
            [run_id],
        ).fetchone()
        validated, reused = con.execute(
            """select count(*) filter (where validated_run_id = run_id),
                count(*) filter (where validated_run_id <> run_id)
            from gate_results where run_id = ?""",
            [run_id],
        ).fetchone()
    return {
        "rebuild_decisions": decisions,
        "rebuild_fits": int(fits),
        "rebuild_expectations_validated": validated,
        "rebuild_expectations_reused": reused,
    }


def _first_build_figures(products, plants, demo, run, results, work) -> dict:
    timing = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}
    nodes = sum(timing.values())
    gates = sum(t for name, t in timing.items() if name.startswith("gate_"))
    slowest = sorted(timing.items(), key=lambda kv: -kv[1])[:6]
    engine = node_spans(results, run["epoch"], ENGINE_PREFIX)
    spans = {r["unique_id"].split(".")[-1]: node_spans([r], run["epoch"], "") for r in results}
    (work / "memory.json").write_text(json.dumps({"samples": run["samples"], "nodes": spans}))
    return {
        "products_per_plant": products,
        "plants": plants,
        "series": demo["n_series"],
        "order_lines": demo["n_order_lines"],
        "wall_s": round(run["wall_s"], 1),
        "cpu_s": round(run["cpu_s"], 1),
        "load": run["load"],
        "peak_rss_mib": peak(run["samples"], 3),  # the dbt process
        "peak_tree_rss_mib": peak(run["samples"], 1),
        "peak_tree_pss_mib": peak(run["samples"], 2),
        "engine_peak_rss_mib": peak(run["samples"], 3, engine),
        "engine_peak_tree_pss_mib": peak(run["samples"], 2, engine),
        "engine_s": round(sum(b - a for a, b in engine), 1),
        "gates_s": round(gates, 1),
        "gates_share": round(gates / nodes, 3) if nodes else None,
        "slowest_nodes": {name: round(t, 1) for name, t in slowest},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--plants", type=int, default=2)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--vars", default=None, help="dbt --vars for every build")
    parser.add_argument(
        "--no-rebuild",
        action="store_true",
        help="skip the second `dbt build` with no new data after each first build",
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench_build.json"))
    args = parser.parse_args(argv)

    rows = []
    for products in args.products:
        work = ROOT / "reports" / "bench" / f"p{products}"
        work.mkdir(parents=True, exist_ok=True)
        print(f"building {args.plants} plants x {products} products ...", flush=True)
        rows.append(build(products, args.plants, args.years, args.vars, work, not args.no_rebuild))
        print(json.dumps(rows[-1]), flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cpus": os.cpu_count(), "runs": rows}, indent=2))
    print()
    print("| products/plant | series | order lines | wall s | CPU s | peak RSS MiB | gates |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['products_per_plant']:,} | {r['series']:,} | {r['order_lines']:,} "
            f"| {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_mib']:,} "
            f"| {r['gates_s']} s ({100 * (r['gates_share'] or 0):.1f} %) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
