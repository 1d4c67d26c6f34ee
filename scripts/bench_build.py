"""Time `dbt build` on demo plants of several sizes: wall, CPU, peak memory,
and the share the Great Expectations gates take.

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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def build(products: int, plants: int, years: int, vars_: str | None, work: Path) -> dict:
    from demandcast.demo import write_demo

    raw, db, target = work / "raw", work / "wh.duckdb", work / "target"
    for path in (db, Path(f"{db}.wal")):
        path.unlink(missing_ok=True)
    demo = write_demo(raw, n_plants=plants, n_products=products, years=years)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DEMANDCAST_DB": str(db),
        "DEMANDCAST_RAW_PATH": str(raw),
        "GX_ANALYTICS_ENABLED": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [str(BIN / "dbt"), "build", "--target-path", str(target), "--log-path", str(work)]
    if vars_:
        cmd += ["--vars", vars_]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:])
        raise SystemExit(f"dbt build failed for {products} products per plant")
    results = json.loads((target / "run_results.json").read_text())["results"]
    timing = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}
    nodes = sum(timing.values())
    gates = sum(t for name, t in timing.items() if name.startswith("gate_"))
    slowest = sorted(timing.items(), key=lambda kv: -kv[1])[:6]
    return {
        "products_per_plant": products,
        "plants": plants,
        "series": demo["n_series"],
        "order_lines": demo["n_order_lines"],
        "wall_s": round(wall, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        # ru_maxrss of children is the largest child's peak, in KiB on Linux
        "peak_rss_mib": round(after.ru_maxrss / 1024),
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
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench_build.json"))
    args = parser.parse_args(argv)

    rows = []
    for products in args.products:
        work = ROOT / "reports" / "bench" / f"p{products}"
        work.mkdir(parents=True, exist_ok=True)
        print(f"building {args.plants} plants x {products} products ...", flush=True)
        rows.append(build(products, args.plants, args.years, args.vars, work))
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
