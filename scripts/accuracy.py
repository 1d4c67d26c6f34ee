"""Does selection pay? Score real `dbt build` runs against a held-out future, with ablations.

Every configuration is a real `dbt build` into a fresh DuckDB file, scored by
`demandcast evaluate` (what the warehouse holds, in SQL), so the figures are the
product's own. Two kinds of data:

- a folder in the input shape with an `actuals.parquet` beside the orders (a
  forecasting competition written by scripts/competition_data.py, or any real
  extract with its held-out future): one origin, the vars given by --vars;
- `--demo`: the demo plant (written here), scored at several weekly origins
  (`--origins 0,13`: weeks before the end of the history). Origin 0 is scored on
  the demo's realised future (truth.parquet); an earlier origin is built from
  the order lines up to it and scored on the weeks after it.

Each `--config NAME=VARS` adds a configuration (dbt vars as YAML, merged over
--vars); the default configuration is always first. Baselines (seasonal naive,
Theta, the catalog's class default for every series) are scored for the first
configuration. Wall and CPU time are those of the whole `dbt build`; `other_cpu_s` in
the JSON is the CPU other processes used meanwhile (a wall time is comparable only
when that is near 0).

    .venv/bin/python scripts/accuracy.py --data DIR --vars '{frequency: month, horizon: 18,
        season_length: 12, forecast_origin: "2025-12-01"}' --json reports/accuracy_m1.json
    .venv/bin/python scripts/accuracy.py --demo --origins 0,13 --json reports/accuracy_demo.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import yaml

from demandcast.cli import dbt_env
from demandcast.evaluate import PLAIN_SPARSE

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
END_DATE = "2026-11-22"
# Held-out evaluation builds at origins in the past: the extract is stale on purpose.
EVALUATION_VARS = {"max_staleness_periods": None}
BASELINES = ("seasonal_naive", "zero", "theta", "class_default", "plain_mean")
SPARSE_BASELINES = tuple(PLAIN_SPARSE)
"""With --sparse: `demandcast evaluate --plain-sparse`'s plain intermittent-demand methods."""
COLUMNS = (
    "smape",
    "mase",
    "wape",
    "bias",
    "coverage_80",
    "coverage_95",
    "msis_95",
    "rmsse",
    "spl",
)


def machine_busy_s() -> float | None:
    """CPU seconds every process on the machine has used since boot (/proc/stat: all but
    idle and iowait), or None where there is no /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def build(raw: Path, db: Path, dbt_vars: dict, work: Path) -> dict:
    """One `dbt build`: exit code, wall and CPU seconds (children), and the CPU seconds
    other processes used meanwhile (`other_cpu_s`): a wall time is the build's own only
    when that is near 0; on a shared 2-core machine a busy neighbour can halve the cores
    the build gets (its CPU changes far less)."""
    env = dbt_env(db=db, raw=raw, profiles=ROOT / "profiles")
    cmd = [str(BIN / "dbt"), "build", "--vars", json.dumps({**EVALUATION_VARS, **dbt_vars})]
    cmd += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_s()
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = None if busy is None else machine_busy_s() - busy
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:  # the work folder goes unless --keep: the end of dbt's output here
        (work / "dbt.log").write_text(done.stdout + done.stderr)
        tail = (done.stdout + done.stderr).splitlines()[-30:]
        print(f"dbt build failed ({done.returncode}):", *tail, sep="\n", file=sys.stderr)
    run = {"returncode": done.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
    if busy is not None:
        run["other_cpu_s"] = round(max(busy - cpu, 0.0), 1)
        print(
            f"build: {wall:.0f} s wall, {cpu:.0f} s CPU; other processes used "
            f"{run['other_cpu_s']:.0f} s CPU meanwhile ({os.cpu_count()} cores)",
            flush=True,
        )
    return run


def evaluate(db: Path, actuals: Path, out: Path, baselines: bool, sparse: bool = False) -> dict:
    """`demandcast evaluate` on a built warehouse; its JSON report (`sparse`: with the plain
    intermittent-demand methods among the baselines)."""
    cmd = [str(BIN / "demandcast"), "evaluate", "--db", str(db), "--actuals", str(actuals)]
    cmd += ["--json", str(out)] + (["--plain-mean"] if baselines else ["--no-baselines"])
    cmd += ["--plain-sparse"] if baselines and sparse else []
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def overall(report: dict, source: str) -> dict:
    """The report's overall row of one source."""
    rows = [
        r
        for r in report["rows"]
        if r["source"] == source and r["group"] == "overall" and r["value"] == "all"
    ]
    return rows[0] if rows else {}


def demo_origin(demo: Path, weeks_back: int, horizon: int, work: Path) -> tuple[Path, Path]:
    """Raw folder and actuals file for an origin `weeks_back` weeks before the demo's end."""
    if weeks_back == 0:
        return demo, demo / "truth.parquet"
    con = duckdb.connect()
    orders = str(demo / "orders.parquet")
    end = con.execute(f"select max(order_date) from read_parquet('{orders}')").fetchone()[0]
    cut = end - dt.timedelta(weeks=weeks_back)  # the last day of the history
    raw = work / f"raw_{weeks_back}"
    raw.mkdir(parents=True, exist_ok=True)
    for name in ("products.parquet", "plants.parquet"):
        if (demo / name).exists():
            (raw / name).write_bytes((demo / name).read_bytes())
    con.execute(
        f"copy (select * from read_parquet('{orders}') where order_date <= ?) "
        f"to '{raw / 'orders.parquet'}' (format parquet)",
        [cut],
    )
    actuals = work / f"actuals_{weeks_back}.parquet"
    con.execute(  # every series with history, every week after the cut: no order = 0
        f"""copy (
            with lines as (select distinct * from read_parquet('{orders}')),
            series as (select distinct plant_id, product_id from lines where order_date <= $cut),
            weeks as (
                select unnest(generate_series(
                    date_trunc('week', $cut::date + 1)::date,
                    date_trunc('week', $cut::date + 1)::date + interval ({horizon - 1}) week,
                    interval 1 week
                ))::date as period_start
            ),
            demand as (
                select plant_id, product_id, date_trunc('week', order_date)::date as period_start,
                    sum(quantity)::double as y
                from lines where order_date > $cut group by all
            )
            select s.plant_id, s.product_id, w.period_start, coalesce(d.y, 0) as y
            from series as s cross join weeks as w
            left join demand as d using (plant_id, product_id, period_start)
            where w.period_start + interval 6 day <= $end
        ) to '{actuals}' (format parquet)""",
        {"cut": cut, "end": end},
    )
    return raw, actuals


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    """A fresh folder for the builds (warehouses, their published copies, validation results,
    the demo's data), removed afterwards, whatever happened, unless `keep`."""
    work = Path(tempfile.mkdtemp(prefix="demandcast-accuracy-"))
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, help="raw folder with actuals.parquet beside the orders")
    ap.add_argument("--demo", action="store_true", help="write and score the demo plant")
    ap.add_argument("--products", type=int, default=200, help="demo products per plant")
    ap.add_argument("--origins", default="0,13", help="demo origins, weeks before its end")
    ap.add_argument("--vars", default="{}", help="dbt vars (YAML) of every configuration")
    ap.add_argument(
        "--config", action="append", default=[], help="NAME={var: value, ...}: an ablation"
    )
    ap.add_argument(
        "--sparse",
        action="store_true",
        help="also score each plain intermittent-demand method (evaluate --plain-sparse)",
    )
    ap.add_argument(
        "--no-baselines",
        action="store_true",
        help="score the builds only (the baselines refit plain models: minutes on long series)",
    )
    ap.add_argument("--json", type=Path, default=ROOT / "reports" / "accuracy.json")
    ap.add_argument(
        "--keep", action="store_true", help="keep the built warehouses (their path is printed)"
    )
    args = ap.parse_args(argv)
    if not args.data and not args.demo:
        ap.error("give --data DIR or --demo")
    if args.data and not (args.data / "actuals.parquet").is_file():
        ap.error(f"--data {args.data}: no actuals.parquet there (the held-out future to score)")
    base = yaml.safe_load(args.vars) or {}
    configs = [("default", {})]
    for text in args.config:
        name, _, spec = text.rpartition("={")
        extra = yaml.safe_load("{" + spec) if name else None
        if not isinstance(extra, dict):
            ap.error(f"--config {text!r}: expected NAME={{var: value, ...}}")
        configs.append((name, extra))
    with workspace(args.keep) as work:
        if args.demo:
            from demandcast.demo import write_demo

            demo = work / "demo"
            # the end date the README figures were measured with
            write_demo(
                demo, n_plants=2, n_products=args.products, years=3, seed=42, end_date=END_DATE
            )
            horizon = int(base.get("horizon", 13))
            origins = [int(w) for w in args.origins.split(",")]
            cases = [demo_origin(demo, w, horizon, work) for w in origins]
        else:
            origins = [0]
            cases = [(args.data, args.data / "actuals.parquet")]

        baselines = BASELINES + (SPARSE_BASELINES if args.sparse else ())
        results = []
        for i, (name, extra) in enumerate(configs):
            runs = []
            for origin, (raw, actuals) in zip(origins, cases, strict=True):
                db = work / f"{name}_{origin}.duckdb"
                run = build(raw, db, {**base, **extra}, work)
                if run["returncode"] == 0:
                    out = work / f"{name}_{origin}.json"
                    with_baselines = i == 0 and not args.no_baselines
                    report = evaluate(
                        db, actuals, out, baselines=with_baselines, sparse=args.sparse
                    )
                    run["forecast"] = overall(report, "forecast")
                    if with_baselines:
                        run["baselines"] = {s: overall(report, s) for s in baselines}
                if args.keep:
                    print(f"kept {db}", flush=True)
                runs.append({"origin_weeks_back": origin, **run})
            results.append({"config": name, "vars": {**base, **extra}, "runs": runs})
            print(_row(name, runs), flush=True)
        if results and "baselines" in results[0]["runs"][0]:
            for source in baselines:
                rows = [{"forecast": r["baselines"][source]} for r in results[0]["runs"]]
                print(_row(f"baseline: {source}", rows), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(r["returncode"] == 0 for c in results for r in c["runs"]) else 1


def _row(name: str, runs: list[dict]) -> str:
    """A markdown row: metrics averaged over origins (points-weighted would differ little)."""
    cells = []
    for col in COLUMNS:
        vals = [r["forecast"].get(col) for r in runs if r.get("forecast")]
        vals = [v for v in vals if v is not None]
        cells.append(f"{sum(vals) / len(vals):.3f}" if vals else "-")
    walls = [r["wall_s"] for r in runs if "wall_s" in r]
    cpus = [r["cpu_s"] for r in runs if "cpu_s" in r]
    time_cells = [f"{sum(walls) / len(walls):.0f}", f"{sum(cpus) / len(cpus):.0f}"] if walls else []
    return "| " + " | ".join([name, *cells, *time_cells]) + " |"


if __name__ == "__main__":
    sys.exit(main())
