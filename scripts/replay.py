"""Weekly replay: N successive Monday builds, selective retraining against full re-selection.

As cron would run `demandcast build` every Monday, each origin gets the extract as it
stood that Monday (the order lines up to the Sunday before; master data as given) and
one build in each of two warehouses of their own:

- `selective`: the defaults, `retrain: auto` (each series re-selected, refit or reused);
- `full`: `retrain: always` (every series re-selected every week).

At the first origin both warehouses are empty, so both modes re-select every series: it is
built once, in `selective`, and copied to `full` (its row says so, with the same figures).

The origins are N successive weeks, the last one `horizon` weeks before the data's last
complete week (or --last-origin), so every forecast meets its whole horizon of actuals.
After the last origin the selective warehouse is built twice more on the same extract and
origin, with no new data: `demandcast build` as cron runs it (nothing it reads has changed,
so dbt is not started: the run is `skipped` and the last forecast stands), then with
`--force` (dbt runs: every series `reuse`, nothing may be fitted).

Per run: wall time and CPU (user + sys of the build and every process under it, from
getrusage(RUSAGE_CHILDREN) deltas), the load average before and after, fits (sum of
n_fits in fct_retrain_decisions for the run) and decisions by kind. Accuracy: each run's
forecast (fct_demand_forecast of its warehouse, right after the build) is scored by
`demandcast.evaluate` against the actuals that arrive after its origin: the weekly sum of
the extract's distinct order lines (returns net, no order = 0) in the `horizon` weeks
after the origin, for every series with history up to it. MASE as evaluate computes it
(per series, scaled by the in-sample seasonal naive up to the origin, then the mean
over series); the same for both modes.

    .venv/bin/python scripts/replay.py --demo --plants 2 --products 300 --origins 8
    .venv/bin/python scripts/replay.py --data /data/erp/latest --origins 8 --vars '{n_jobs: 2}'

Writes reports/replay.json (rewritten after every run) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

import duckdb
import yaml

from demandcast.build_stamp import published_for
from demandcast.cli import dbt_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODES = {"selective": {"retrain": "auto"}, "full": {"retrain": "always"}}
FIRST_MODE = "selective"  # built at the first origin; the other mode copies it
DECISIONS = ("reselect", "refit", "reuse")
RERUN_LABELS = {
    "skipped": ", no new data (dbt not started)",
    "forced": ", no new data, --force",
}
# the issue's targets: a steady-state selective run's CPU against a full re-selection run's,
# and its mean MASE over the origins at most this much above full re-selection's
TARGET_CPU_SHARE = 0.25
TARGET_MASE_EXCESS = 0.01


def _reader(raw: Path) -> tuple[str, str]:
    """The DuckDB reader of the orders under `raw` and the format to write a cut in."""
    for pattern, reader, fmt in (
        ("orders.parquet", "read_parquet", "parquet"),
        ("orders/*.parquet", "read_parquet", "parquet"),
        ("orders.csv", "read_csv", "csv"),
    ):
        if list(raw.glob(pattern)):
            path = str(raw / pattern).replace("'", "''")
            options = ", all_varchar = true, header = true" if fmt == "csv" else ""
            return f"{reader}('{path}'{options})", fmt
    raise SystemExit(f"replay: no orders file (orders.parquet, orders/, orders.csv) in {raw}")


def last_complete_week(raw: Path) -> dt.date:
    """Monday of the last ISO week whose every day lies in the extract."""
    reader, _ = _reader(raw)
    (end,) = (
        duckdb.connect()
        .execute(f"select max(try_cast(order_date as date)) from {reader}")
        .fetchone()
    )
    if end is None:
        raise SystemExit(f"replay: no dated order lines in {raw}")
    after = end + dt.timedelta(days=1)
    return after - dt.timedelta(days=after.weekday() + 7)


def weekly_origins(last: dt.date, n: int) -> list[dt.date]:
    """N successive Mondays ending at `last`, oldest first."""
    monday = last - dt.timedelta(days=last.weekday())
    return [monday - dt.timedelta(weeks=k) for k in range(n - 1, -1, -1)]


def cut_extract(raw: Path, origin: dt.date, out: Path) -> Path:
    """The extract as it stood on the Monday after the origin week: the order lines up to
    that week's Sunday; products and plants copied as they are."""
    reader, fmt = _reader(raw)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("products", "plants"):
        for ext in ("parquet", "csv"):
            if (raw / f"{name}.{ext}").is_file():
                shutil.copy(raw / f"{name}.{ext}", out / f"{name}.{ext}")
    part = out / f".orders.{fmt}.part"  # renamed when whole: a --resume finds it whole or not
    target = str(part).replace("'", "''")
    options = "(format csv, header)" if fmt == "csv" else "(format parquet)"
    duckdb.connect().execute(
        f"copy (select * from {reader} where try_cast(order_date as date) <= $cut) "
        f"to '{target}' {options}",
        {"cut": origin + dt.timedelta(days=6)},
    )
    os.replace(part, out / f"orders.{fmt}")
    return out


def actuals_after(raw: Path, origin: dt.date, horizon: int, out: Path) -> Path:
    """The weeks 1..horizon after the origin from the full extract: distinct order lines
    summed per week (returns net, as the warehouse sums them), 0 where nothing was ordered,
    for every series with a line up to the origin week."""
    reader, _ = _reader(raw)
    part = out.with_name(f".{out.name}.part")
    duckdb.connect().execute(
        f"""copy (
            with lines as (
                select distinct * from {reader}
            ),
            typed as (
                select trim(plant_id::varchar) as plant_id,
                    trim(product_id::varchar) as product_id,
                    try_cast(order_date as date) as order_date,
                    try_cast(quantity as double) as quantity
                from lines
            ),
            series as (
                select distinct plant_id, product_id from typed
                where order_date <= $cut and plant_id is not null and product_id is not null
            ),
            weeks as (
                select k as step, cast($origin::date + to_weeks(k) as date) as period_start
                from range(1, {int(horizon) + 1}) as t (k)
            ),
            demand as (
                select plant_id, product_id,
                    cast(date_trunc('week', order_date) as date) as period_start,
                    sum(quantity) as y
                from typed where order_date > $cut and quantity is not null group by all
            )
            select s.plant_id, s.product_id, w.period_start, w.step, coalesce(d.y, 0.0) as y
            from series as s cross join weeks as w
            left join demand as d using (plant_id, product_id, period_start)
        ) to '{str(part).replace("'", "''")}' (format parquet)""",
        {"origin": origin, "cut": origin + dt.timedelta(days=6)},
    )
    os.replace(part, out)
    return out


def build(raw: Path, db: Path, run_vars: dict, work: Path, log: Path, force: bool = False) -> dict:
    """One `demandcast build`; exit code, wall seconds, CPU seconds of it and its children,
    whether it was skipped (nothing new since the last build: dbt not started)."""
    env = dbt_env(db=db)
    cmd = [str(BIN / "demandcast"), "build", "--project-dir", str(ROOT), "--raw", str(raw)]
    cmd += ["--vars", json.dumps(run_vars, default=str)]
    cmd += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    cmd += ["--force"] if force else []
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "returncode": code,
        "skipped": "dbt not started" in log.read_text(errors="replace"),
        "wall_s": round(wall, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "user_s": round(after.ru_utime - before.ru_utime, 1),
        "sys_s": round(after.ru_stime - before.ru_stime, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def share_first_build(work: Path, source: str, mode: str, origin: dt.date, report: dict) -> dict:
    """The first origin in `mode`: `source`'s build of it, copied. Both warehouses start
    empty, so both modes re-select every series there (no memory: nothing to refit or
    reuse) and fit the same models on the same extract: one build serves both. Its warehouse
    and published copy become `mode`'s; its figures are recorded again, marked shared."""
    src = work / source / "warehouse.duckdb"
    dst = work / mode / "warehouse.duckdb"
    built = next(
        r
        for r in report["runs"]
        if (r["origin"], r["mode"], r["rerun"]) == (str(origin), source, None)
    )
    if built["returncode"] == 0:
        shutil.copyfile(src, dst)
        shutil.copyfile(published_for(ROOT, src, {}), published_for(ROOT, dst, {}))
    return {**built, "mode": mode, "shared_with": source}


def run_facts(db: Path) -> dict:
    """The run the build made: its id, status, fits and decisions (fct_retrain_decisions)."""
    with duckdb.connect(str(db), read_only=True) as con:
        (run_id,) = con.execute("select run_id from int_run__context").fetchone()
        (status,) = con.execute(
            "select status from demandcast_runs where run_id = ?", [run_id]
        ).fetchone()
        rows = con.execute(
            """select decision, count(*), sum(n_fits), sum(n_backtest_fits), sum(n_refits)
            from fct_retrain_decisions where run_id = ? group by decision""",
            [run_id],
        ).fetchall()
        reasons = con.execute(
            """select decision || ': ' || reason, count(*) from fct_retrain_decisions
            where run_id = ? group by all order by 2 desc, 1""",
            [run_id],
        ).fetchall()
    by_kind = {kind: 0 for kind in DECISIONS}
    by_kind.update({d: int(n) for d, n, *_ in rows})
    return {
        "run_id": run_id,
        "status": status,
        "series": sum(by_kind.values()),
        "decisions": by_kind,
        "reasons": {r: int(n) for r, n in reasons},
        "fits": int(sum(f or 0 for _, _, f, _, _ in rows)),
        "backtest_fits": int(sum(f or 0 for *_, f, _ in rows)),
        "refits": int(sum(f or 0 for *_, f in rows)),
    }


def score(db: Path, actuals: Path) -> dict:
    """The run's forecast against the actuals that arrived: evaluate's overall row."""
    from demandcast.evaluate import evaluate

    result = evaluate(db, actuals, baselines=False)
    row = next(
        r
        for r in result["rows"]
        if r["source"] == "forecast" and r["group"] == "overall" and r["value"] == "all"
    )
    keep = ("n_series", "n_points", "mase", "smape", "wape", "bias", "coverage_80", "coverage_95")
    return {k: row.get(k) for k in keep} | {"warnings": result["warnings"]}


def summarise(runs: list[dict], n_origins: int) -> dict:
    """Targets: steady-state selective CPU against full; mean MASE over the origins.

    A run that failed (no forecast published) counts in the totals, as the CPU was spent,
    but not in the steady-state means, which describe a week that worked; the MASE of the
    two modes is compared over the origins where both scored (`paired_origins`)."""
    weekly = {m: [r for r in runs if r["mode"] == m and not r["rerun"]] for m in MODES}
    out: dict = {}
    for mode, rs in weekly.items():
        done = [r for r in rs if r.get("returncode") == 0 and r.get("mase") is not None]
        # the first selective run finds no memory: steady state is the runs after it
        steady = [r for r in rs[1:] if r.get("returncode") == 0]
        out[mode] = {
            "runs": len(rs),
            "failed": sum(r.get("returncode") != 0 for r in rs),
            "mean_mase": mean(r["mase"] for r in done) if len(done) == n_origins else None,
            "total_cpu_s": round(sum(r["cpu_s"] for r in rs), 1),
            "total_wall_s": round(sum(r["wall_s"] for r in rs), 1),
            "total_fits": sum(r.get("fits", 0) for r in rs),
            "steady_runs": len(steady),
            "steady_cpu_s": mean(r["cpu_s"] for r in steady) if steady else None,
            "steady_wall_s": mean(r["wall_s"] for r in steady) if steady else None,
            "steady_fits": mean(r.get("fits", 0) for r in steady) if steady else None,
        }
    sel, full = out["selective"], out["full"]
    if sel["steady_cpu_s"] is not None and full["steady_cpu_s"]:
        share = sel["steady_cpu_s"] / full["steady_cpu_s"]
        out["cpu_share"] = round(share, 3)
        out["cpu_target_met"] = share <= TARGET_CPU_SHARE
    scored = {
        m: {r["origin"]: r["mase"] for r in rs if r.get("returncode") == 0 and r.get("mase")}
        for m, rs in weekly.items()
    }
    both = sorted(set(scored["selective"]) & set(scored["full"]))
    if both:
        pair = {m: mean(scored[m][o] for o in both) for m in MODES}
        out["paired_origins"] = len(both)
        out["paired_mase"] = pair
        excess = pair["selective"] / pair["full"] - 1
        out["mase_excess"] = round(excess, 4)
        out["mase_target_met"] = excess <= TARGET_MASE_EXCESS
    for r in runs:
        if r["rerun"]:
            keep = ("wall_s", "cpu_s", "fits", "decisions", "returncode", "skipped")
            out.setdefault("no_new_data", {})[r["rerun"]] = {k: r.get(k) for k in keep}
    return out


def _fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(report: dict) -> str:
    """The runs as a markdown table, then the summary lines."""
    lines = [
        "| origin | mode | wall s | CPU s | load 1 min | fits | reselect | refit | reuse | MASE |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["runs"]:
        d = r.get("decisions", {})
        load = f"{r['load_before'][0]:.1f}–{r['load_after'][0]:.1f}"
        mode = r["mode"] + RERUN_LABELS.get(r["rerun"], "")
        mode += f" (the {r['shared_with']} build)" if r.get("shared_with") else ""
        head = f"| {r['origin']} | {mode} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {load} |"
        if r.get("returncode") == 0:
            cells = [f"{r['fits']:,}", *(str(d[k]) for k in DECISIONS), _fmt(r["mase"], ".4f")]
        elif r.get("returncode") == -1:
            cells = ["not published", "", "", "", ""]
        else:
            cells = [f"failed (exit {r['returncode']})", "", "", "", ""]
        lines.append(f"{head} {' | '.join(cells)} |")
    s = report.get("summary", {})
    sel, full = s.get("selective", {}), s.get("full", {})
    pair = s.get("paired_mase", {})
    lines += [
        "",
        f"mean MASE over the {s.get('paired_origins', 0)} of {report['n_origins']} origins "
        f"both modes scored: selective {_fmt(pair.get('selective'), '.4f')}, full "
        f"{_fmt(pair.get('full'), '.4f')}"
        + (
            f" (selective {s['mase_excess']:+.2%}; target at most +1 %: "
            f"{'met' if s['mase_target_met'] else 'MISSED'})"
            if "mase_excess" in s
            else ""
        ),
        f"steady-state CPU (runs 2..{report['n_origins']} that published: selective "
        f"{sel.get('steady_runs', 0)}, full {full.get('steady_runs', 0)}): selective "
        f"{_fmt(sel.get('steady_cpu_s'))} s, full {_fmt(full.get('steady_cpu_s'))} s"
        + (
            f" ({s['cpu_share']:.1%}; target at most 25 %: "
            f"{'met' if s['cpu_target_met'] else 'MISSED'})"
            if "cpu_share" in s
            else ""
        ),
        f"total CPU: selective {_fmt(sel.get('total_cpu_s'), '.0f')} s, "
        f"full {_fmt(full.get('total_cpu_s'), '.0f')} s; total fits: selective "
        f"{sel.get('total_fits', 0):,}, full {full.get('total_fits', 0):,}",
    ]
    for kind, n in s.get("no_new_data", {}).items():
        lines.append(
            f"no new data{RERUN_LABELS[kind]} (same origin again, selective): "
            f"{_fmt(n['wall_s'], '.1f')} s wall, {_fmt(n['cpu_s'], '.1f')} s CPU, "
            f"{n.get('fits')} fits, decisions {n.get('decisions')}"
        )
    return "\n".join(lines)


def _resumed(path: Path, fresh: dict, work: Path) -> dict:
    """The report of the replay to go on with, checked against this command's plan."""
    old = json.loads(path.read_text(encoding="utf-8"))
    for key in ("data", "vars", "horizon", "origins"):
        if old.get(key) != json.loads(json.dumps(fresh[key], default=str)):
            raise SystemExit(
                f"replay --resume: {path} is a replay with another {key} "
                f"({old.get(key)!r}, not {fresh[key]!r}); run it without --resume"
            )
    if old.get("work") != str(work):
        raise SystemExit(f"replay --resume: {path} worked in {old.get('work')}, not {work}")
    old.setdefault("resumed", []).append(fresh["uptime_start"])
    return old


def _not_built_unrecorded(db: Path, origin: dt.date, mode: str) -> None:
    """On --resume: a run the report lacks must not already be in the warehouse (the replay
    stopped between the build and its record): built again, it would find no new data."""
    if not db.is_file():
        return
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "select count(*) from fct_forecast_history where forecast_origin = ?", [origin]
        ).fetchone()[0]
    if found:
        raise SystemExit(
            f"replay --resume: the {mode} warehouse already holds a published run at {origin} "
            "that the report does not record (the replay stopped right after that build); "
            "run the replay again without --resume"
        )


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Selective runs 2..N are the steady state; run 1 of both modes selects everything.",
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="raw folder (orders, products, plants) to replay")
    src.add_argument("--demo", action="store_true", help="write a demo plant and replay it")
    ap.add_argument("--plants", type=int, default=2, help="demo plants (default 2)")
    ap.add_argument("--products", type=int, default=300, help="demo products per plant")
    ap.add_argument("--years", type=int, default=3, help="demo years of history (default 3)")
    ap.add_argument("--seed", type=int, default=42, help="demo seed (default 42)")
    ap.add_argument("--origins", type=int, default=8, help="weekly origins (default 8)")
    ap.add_argument(
        "--last-origin",
        type=dt.date.fromisoformat,
        help="the last origin, YYYY-MM-DD (default: `horizon` weeks before the data's last "
        "complete week, so every forecast is scored on its whole horizon)",
    )
    ap.add_argument("--vars", default="{}", help="dbt vars (YAML) for every build of both modes")
    ap.add_argument(
        "--reruns",
        default="skipped,forced",
        help="the builds with no new data at the end, comma-separated: skipped (dbt not "
        "started), forced (--force: dbt runs and fits nothing); none for neither "
        "(default skipped,forced)",
    )
    ap.add_argument("--work", type=Path, help="folder for extracts and warehouses (kept)")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="go on with a replay that stopped (killed, or the machine went down): the runs "
        "--json records are kept, the others are built; needs the same --work and options",
    )
    ap.add_argument(
        "--json", type=Path, default=ROOT / "reports" / "replay.json", help="the report (JSON)"
    )
    args = ap.parse_args(argv)
    if args.origins < 1:
        ap.error("--origins: at least 1")
    args.reruns = [] if args.reruns == "none" else args.reruns.split(",")
    if not set(args.reruns) <= set(RERUN_LABELS):
        ap.error(f"--reruns: {','.join(args.reruns)!r}, expected some of skipped,forced or none")
    user_vars = yaml.safe_load(args.vars) or {}
    if not isinstance(user_vars, dict):
        ap.error(f"--vars: expected a YAML mapping, got {args.vars!r}")
    if "retrain" in user_vars or "forecast_origin" in user_vars:
        ap.error("--vars: retrain and forecast_origin are the replay's own")
    defaults = yaml.safe_load((ROOT / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    settings = {**defaults, **user_vars}
    if str(settings["frequency"]).lower() != "week":
        ap.error("--vars: the replay is weekly (frequency: week)")
    horizon = int(settings["horizon"])

    if args.resume and not (args.work and args.json.is_file()):
        ap.error("--resume: needs the --work folder and the --json report of the replay")
    work = args.work or Path(tempfile.mkdtemp(prefix="demandcast-replay-"))
    work.mkdir(parents=True, exist_ok=True)
    # a replay starts from empty warehouses (and, with --demo, a new demo)
    for own in (*MODES, "extracts", *(["data"] if args.demo else [])):
        if not args.resume:
            shutil.rmtree(work / own, ignore_errors=True)
    data_info: dict = {}
    if args.demo and args.resume:
        raw = work / "data"
    elif args.demo:
        from demandcast.demo import write_demo

        raw = work / "data"
        data_info = write_demo(
            raw,
            n_plants=args.plants,
            n_products=args.products,
            years=args.years,
            seed=args.seed,
        )
        data_info = {k: v for k, v in data_info.items() if not str(v).startswith(str(raw))}
    else:
        raw = args.data.resolve()
    last = args.last_origin or last_complete_week(raw) - dt.timedelta(weeks=horizon)
    origins = weekly_origins(last, args.origins)

    report = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "data": "demo" if args.demo else str(raw),
        "demo": data_info or None,
        "scale": {"series": None, "plants": args.plants, "products_per_plant": args.products}
        if args.demo
        else None,
        "vars": user_vars,
        "horizon": horizon,
        "n_origins": len(origins),
        "origins": [str(o) for o in origins],
        "accuracy_method": "demandcast.evaluate on each run's fct_demand_forecast against the "
        "weekly sums of the extract's distinct order lines in the horizon after its origin "
        "(0 where none); MASE per series scaled by the in-sample seasonal naive, mean over series",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "uptime_start": _uptime(),
        "work": str(work),
        "runs": [],
    }
    if args.resume:
        report = _resumed(args.json, report, work)
    print(f"replay: {len(origins)} weekly origins {origins[0]} .. {origins[-1]}, work {work}")
    print(f"replay: {report['uptime_start']}", flush=True)

    def save() -> None:
        report["summary"] = summarise(report["runs"], len(origins))
        report["uptime_end"] = _uptime()
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")

    def record(run: dict) -> dict:
        report["runs"].append(run)
        save()
        d = run.get("decisions", {})
        print(
            f"replay: {run['origin']} {run['mode']}{RERUN_LABELS.get(run['rerun'], '')}: "
            f"exit {run['returncode']}, {run['wall_s']:.0f} s wall, {run['cpu_s']:.0f} s CPU, "
            f"load {run['load_before'][0]:.1f}->{run['load_after'][0]:.1f}, "
            f"fits {run.get('fits', '-')}, {d}, MASE {_fmt(run.get('mase'), '.4f')}"
            + (f" (the {run['shared_with']} build, copied)" if run.get("shared_with") else ""),
            flush=True,
        )
        return run

    def one(mode: str, origin: dt.date, extract: Path, actuals: Path, rerun: str | None) -> dict:
        run_vars = {
            **user_vars,
            **MODES[mode],
            "forecast_origin": str(origin),
            "max_staleness_periods": None,  # past origins: the extract is stale on purpose
        }
        db = work / mode / "warehouse.duckdb"
        db.parent.mkdir(exist_ok=True)
        recorded = [
            r
            for r in report["runs"]
            if (r["origin"], r["mode"], r["rerun"]) == (str(origin), mode, rerun)
        ]
        if recorded:  # --resume: built before the replay stopped
            return recorded[0]
        run = {"origin": str(origin), "mode": mode, "rerun": rerun}
        # the first origin's other mode: a copy (made again where a replay stopped before
        # recording it)
        if origin == origins[0] and mode != FIRST_MODE and not rerun:
            return record(run | share_first_build(work, FIRST_MODE, mode, origin, report))
        if args.resume and not rerun:
            _not_built_unrecorded(db, origin, mode)
        tag = f"{origin}{f'_{rerun}' if rerun else ''}"
        log = work / mode / f"build_{tag}.log"
        run |= build(extract, db, run_vars, work / mode, log, force=rerun == "forced")
        if run["returncode"] == 0 and run["skipped"]:  # no run: the last one's forecast stands
            last = run_facts(db)
            series = last["series"]
            run |= {"run_id": None, "status": "skipped", "series": series, "fits": 0}
            run |= {"decisions": {k: series if k == "reuse" else 0 for k in DECISIONS}}
            run |= {"reasons": {}, "backtest_fits": 0, "refits": 0} | score(db, actuals)
        elif run["returncode"] == 0:
            run |= run_facts(db)
            if run["status"] != "published":  # its rows leave the memory at the next run
                run["returncode"] = -1
            run |= score(db, actuals)
            report["scale"] = report["scale"] or {}
            report["scale"]["series"] = run["series"]
        return record(run)

    if args.resume:
        save()
    ok = True
    for origin in origins:
        extract, actuals = (
            work / "extracts" / str(origin),
            work / "extracts" / f"actuals_{origin}.pq",
        )
        whole = extract.is_dir() and any(extract.glob("orders.*")) and actuals.is_file()
        if not (args.resume and whole):
            extract = cut_extract(raw, origin, extract)
            actuals = actuals_after(raw, origin, horizon, actuals)
        for mode in MODES:
            ok &= one(mode, origin, extract, actuals, rerun=None)["returncode"] == 0
    if args.reruns:
        origin = origins[-1]
        extract = work / "extracts" / str(origin)
        actuals = work / "extracts" / f"actuals_{origin}.pq"
        for rerun in args.reruns:
            ok &= one("selective", origin, extract, actuals, rerun=rerun)["returncode"] == 0
    print()
    print(table(report))
    print(f"\nreplay: {report['uptime_end']}; JSON in {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
