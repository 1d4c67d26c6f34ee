"""Monitoring on real builds: past forecasts scored as their actuals arrive, keyed by
frequency, with the accuracy of a series checked by hand, and drift per series."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import FAST_VARS, ROOT, DbtResult, Project, demandcast

from demandcast import cli, pipeline
from demandcast.metrics import score_frame, seasonal_scales


def _cli_build(project: Project, *args: str) -> DbtResult:
    """`demandcast build` as a user runs it (in this process), from the warehouse's folder,
    without DBT_PROFILES_DIR (the project's profile), the warehouse where DEMANDCAST_DB says
    (relative to the caller), --raw over DEMANDCAST_RAW_PATH."""
    env = {k: v for k, v in os.environ.items() if k != "DBT_PROFILES_DIR"}
    env.update(DEMANDCAST_DB=project.db.name, DEMANDCAST_RAW_PATH="/nonexistent")
    target = ["--target-path", str(project.target), "--log-path", str(project.target / "logs")]
    return demandcast(
        "build", "--raw", str(project.raw), *args, *target, env=env, cwd=project.db.parent
    )


def _past_origins(project: Project, n: int, vars: str = FAST_VARS) -> list[tuple[str, dict]]:
    env = {"DEMANDCAST_RAW_PATH": str(project.raw), "DEMANDCAST_DB": str(project.db)}
    return cli.past_build_vars(ROOT, env, vars, None, n)


def test_a_warehouse_that_has_run_a_while(small_demo, tmp_path):
    """Three builds in one warehouse: a monthly one at a past origin whose first forecast
    month starts on a Monday, in a warehouse as the previous version left it (no frequency
    in fct_forecast_history, and a second run that reused the monthly forecast, appended
    again without saying which run made it); then `demandcast build --past-origins 1`
    with the memory kept for one run: a weekly build 13 weeks back and one at the current
    origin. The weekly past run is scored, a series by hand; the monthly forecast of that
    Monday's month is never matched to the weekly actual of that week; the memory of the
    monthly runs is pruned but for what a series still needs, their forecasts stay."""
    project = Project(raw=small_demo, db=tmp_path / "wh.duckdb", target=tmp_path / "target")
    ((past, _),) = _past_origins(project, 1)
    month_origin, monday, (month_run, reused_run) = _monthly_past_build(project, past)
    (tmp_path / "vars.yml").write_text(FAST_VARS[:-1] + ", memory_keep_runs: 1}\n")
    done = _cli_build(project, "--vars", "vars.yml", "--past-origins", "1")
    out = done.output
    assert done.returncode == 0, out[-4000:]
    assert f"past origin {past} (1 of 1)" in out and "the current origin" in out
    _check_published(project, out)

    runs = project.query("""select run_id, cast(forecast_origin as varchar), frequency, horizon,
        season_length, forecast_run_id from fct_forecast_history group by all order by 2, 1""")
    # the monthly runs' old rows got their frequency, horizon and season from the backfill,
    # and the reused forecast the run that made it; the forecast history is never pruned
    current_run = project.query("select run_id from int_run__context")[0][0]
    month_runs = sorted([month_run, reused_run])
    assert [r[:1] + r[2:] for r in runs] == [
        (month_runs[0], "month", 3, 12, month_run),
        (month_runs[1], "month", 3, 12, month_run),
        (runs[2][0], "week", 13, 52, runs[2][0]),
        (current_run, "week", 13, 52, current_run),
    ]
    assert [r[1] for r in runs] == [str(month_origin)] * 2 + [past, runs[3][1]]
    assert project.query(
        "select count(distinct forecast_created_at) from fct_forecast_history"
        f" where forecast_origin = date '{month_origin}'"
    ) == [(1,)]
    # the old names were renamed in place: the monthly runs' rows keep their values
    for table, column in (("fct_model_registry", "method"), ("fct_retrain_decisions", "method")):
        kept = project.query(
            f"select count(*), count({column}) from {table} where run_id = '{month_run}'"
        )
        assert kept[0][0] > 0 and kept[0][0] == kept[0][1], (table, kept)
    names = {c for (c, *_) in project.query("describe fct_retrain_decisions")}
    assert {"model_name", "method"} <= names and "forecast_model" not in names
    _check_the_past_run_by_hand(project, past, runs[2][0])
    _check_one_definition_with_metrics_py(project)
    _check_no_cross_match(project, out, month_origin, monday)
    _check_the_memory_was_pruned(project, out, runs[2][0], month_runs)
    # built again, the past origin is not: the warehouse holds its published forecast
    assert _past_origins(project, 1) == [(past, None)]
    # and with nothing new since, neither is the current one: dbt is not started
    files = [(p.stat().st_size, p.stat().st_mtime_ns) for p in (project.db, project.published)]
    again = _cli_build(project, "--vars", "vars.yml", "--past-origins", "1")
    assert again.returncode == 0, again.output[-4000:]
    assert "already in the warehouse, skipped" in again.output
    assert "nothing changed since the build of" in again.output
    assert "dbt not started" in again.output and "Running with dbt" not in again.output
    assert [(p.stat().st_size, p.stat().st_mtime_ns) for p in (project.db, project.published)] == (
        files
    )
    # --force builds anyway (one node selected: what it builds is test_retrain's no-new-data
    # build)
    forced = _cli_build(project, "--vars", "vars.yml", "--force", "--select", "stg_erp__plants")
    assert forced.returncode == 0, forced.output[-4000:]
    assert "Running with dbt" in forced.output and "dbt not started" not in forced.output


def _check_published(project: Project, stdout: str) -> None:
    """The CLI's last build is the published copy's, with the vars file's candidates and
    every product named (the demo lists every product and plant)."""
    with duckdb.connect(str(project.published), read_only=True) as con:
        (run_id,) = con.execute("select run_id from publication").fetchone()
        sets = con.execute(
            "select distinct candidate_set from fct_model_registry where run_id = ?", [run_id]
        ).fetchall()
        named = con.execute(
            "select count(*) from fct_demand_forecast where product_name is null"
        ).fetchone()[0]
    assert f"run {run_id} published" in stdout
    assert [s.strip('"') for (s,) in sets] == ["fast"]  # the vars file was read
    assert named == 0


def _monthly_past_build(
    project: Project, weekly_past: str
) -> tuple[dt.date, dt.date, tuple[str, str]]:
    """A monthly build whose first forecast month is the latest one starting on a Monday
    within the weekly history; then a second published run at its origin that reused every
    series' forecast, as the previous version wrote it (its registry rows and forecast rows
    copied, a second later); then the columns new in this version dropped. Returns the
    origin, the Monday, and the two runs' ids."""
    weekly_origin = dt.date.fromisoformat(weekly_past) + dt.timedelta(weeks=13)
    month = weekly_origin.replace(day=1)
    while month.weekday() != 0:
        month = (month - dt.timedelta(days=1)).replace(day=1)
    origin = (month - dt.timedelta(days=1)).replace(day=1)
    result = project.dbt(
        "build",
        vars="{frequency: month, horizon: 3, season_length: 12, candidates: fast, "
        f"n_windows: 2, n_jobs: 2, forecast_origin: '{origin}', max_staleness_periods: null, "
        "data_docs: false}",
    )
    assert result.returncode == 0, result.output[-4000:]
    reused = "00000000-reused-monthly-forecast"
    with duckdb.connect(str(project.db)) as con:
        (month_run,) = con.execute("select run_id from int_run__context").fetchone()
        later = "interval 1 second"
        con.execute(
            f"""insert into demandcast_runs select * replace ('{reused}' as run_id,
                started_at + {later} as started_at) from demandcast_runs
                where run_id = '{month_run}'"""
        )
        con.execute(
            f"""insert into fct_model_registry by name select * replace ('{reused}' as run_id,
                'reuse' as decision, 'no_new_data' as decision_reason,
                registered_at + {later} as registered_at) from fct_model_registry
                where run_id = '{month_run}'"""
        )
        con.execute(
            f"""insert into fct_forecast_history by name select * replace ('{reused}' as run_id,
                forecast_created_at + {later} as forecast_created_at) from fct_forecast_history
                where run_id = '{month_run}'"""
        )
        for column in ("frequency", "horizon", "season_length", "forecast_run_id"):
            con.execute(f"alter table fct_forecast_history drop column {column}")
        # the append-only tables' names before they were made one across tables
        for table, old, new in (
            ("fct_model_registry", "forecast_method", "method"),
            ("fct_retrain_decisions", "forecast_model", "model_name"),
            ("fct_retrain_decisions", "forecast_method", "method"),
        ):
            con.execute(f"alter table {table} rename column {new} to {old}")
    return origin, month, (month_run, reused)


def _check_the_past_run_by_hand(project: Project, past: str, past_run: str) -> None:
    """The past weekly run is scored on every period up to the current origin (the current
    run not yet); one series' row of mon_accuracy__by_series computed by hand, with the
    MASE scale of metrics.py."""
    (current_origin,) = project.query("select forecast_origin from int_run__context")[0]
    steps = (current_origin - dt.date.fromisoformat(past)).days // 7
    scored = project.query(
        "select run_id, count(distinct step), min(step), max(step) from mon_forecast_accuracy "
        "group by 1"
    )
    assert scored == [(past_run, steps, 1, steps)]

    # one series by hand: the champion's forecast against the history and the metrics.py
    # scale, every column of mon_accuracy__by_series
    fc = pd.DataFrame(
        project.query(f"""select series_id, step, forecast, demand, lo_80, hi_80, lo_95, hi_95
            from fct_forecast_history join fct_demand_history using (series_id, period_start)
            where run_id = '{past_run}' and method = 'champion'
            order by series_id, step"""),
        columns=["series_id", "step", "f", "y", "lo_80", "hi_80", "lo_95", "hi_95"],
    )
    series = fc.groupby("series_id")["y"].sum().idxmax()  # the biggest: every metric defined
    fc = fc[fc.series_id == series]
    hist = pd.DataFrame(
        project.query(f"""select series_id, period_start, demand from fct_demand_history
            where series_id = '{series}' and period_start <= date '{past}'
            order by period_start"""),
        columns=["unique_id", "ds", "y"],
    )
    scale = seasonal_scales(hist, 52)["scale_mae"].iloc[0]
    y_hist = hist["y"].to_numpy()
    assert len(y_hist) >= 52  # the seasonal naive is a season back, not naive-1
    d_season = y_hist[52:] - y_hist[:-52]
    assert np.mean(np.abs(d_season)) == pytest.approx(scale)  # no fallback: the same lag
    scale_mse = np.mean(d_season**2)
    snaive = np.array([y_hist[len(y_hist) - 52 + (h - 1) % 52] for h in fc.step])
    y, f = fc.y.to_numpy(), fc.f.to_numpy()
    e = f - y
    # pinball loss at the median (the forecast) and at each bound as its quantile
    quantiles = {0.5: f, 0.1: fc.lo_80, 0.9: fc.hi_80, 0.025: fc.lo_95, 0.975: fc.hi_95}
    pinball = [np.mean(np.maximum(q * (y - p), (q - 1) * (y - p))) for q, p in quantiles.items()]
    with np.errstate(invalid="ignore", divide="ignore"):
        smape = np.where(np.abs(y) + np.abs(f) == 0, 0.0, 2 * np.abs(e) / (np.abs(y) + np.abs(f)))
    expected = {
        "mae": np.mean(np.abs(e)),
        "mean_error": np.mean(e),
        "wape": np.abs(e).sum() / np.abs(y).sum(),
        "bias": e.sum() / np.abs(y).sum(),
        "mase": np.mean(np.abs(e)) / scale,
        "rmsse": np.sqrt(np.mean(e**2) / scale_mse),
        "smape": np.mean(smape),
        "spl": np.mean(pinball) / scale,
        "coverage_80": np.mean((y >= fc.lo_80) & (y <= fc.hi_80)),
        "coverage_95": np.mean((y >= fc.lo_95) & (y <= fc.hi_95)),
        "seasonal_naive_mae": np.mean(np.abs(snaive - y)),
        "seasonal_naive_mase": np.mean(np.abs(snaive - y)) / scale,
        "fva_mase": (np.mean(np.abs(snaive - y)) - np.mean(np.abs(e))) / scale,
        "fva_share": 1 - np.abs(e).sum() / np.abs(snaive - y).sum(),
        "mase_scale": scale,
        "rmsse_scale": scale_mse,
    }
    (row,) = project.query(
        f"select n_periods, is_complete, {', '.join(expected)} from mon_accuracy__by_series "
        f"where run_id = '{past_run}' and series_id = '{series}'"
    )
    assert row[:2] == (steps, steps == 13)
    assert dict(zip(expected, row[2:], strict=True)) == pytest.approx(expected, rel=1e-9)

    # the pooled table's overall row counts every scored period; drift has every series
    ((n_periods, n_runs),) = project.query(
        "select n_periods, n_runs from mon_accuracy__by_segment "
        "where demand_class = 'all' and model_name = 'all' and step = 0"
    )
    assert (n_periods, n_runs) == (
        project.query("select count(*) from mon_forecast_accuracy")[0][0],
        1,
    )
    assert (
        project.query("select count(*) from mon_demand_drift")[0][0]
        == project.query("select count(*) from dim_series")[0][0]
    )
    assert project.query("select count(*) from mon_accuracy__by_series", project.published)[0][0]


def _check_one_definition_with_metrics_py(project: Project) -> None:
    """Every run and series of mon_accuracy__by_series scores as metrics.score_frame scores
    the same forecasts and actuals, with metrics.seasonal_scales of the history up to the
    run's origin: the scales, MASE, RMSSE, sMAPE and the scaled pinball loss; and the
    overall row of mon_accuracy__by_segment is their mean (RMSSE over forecasts, the others
    over periods)."""
    with duckdb.connect(str(project.db), read_only=True) as con:
        scored = con.sql("select * from mon_forecast_accuracy").df()
        mine = []
        for (run, origin, m), rows in scored.groupby(
            ["run_id", "forecast_origin", "season_length"]
        ):
            hist = con.execute(
                "select series_id as unique_id, period_start as ds, demand as y"
                " from fct_demand_history where period_start <= ?",
                [origin],
            ).df()
            fc = con.execute(
                "select series_id, period_start, forecast, lo_80, hi_80, lo_95, hi_95"
                " from fct_forecast_history where run_id = ? and forecast_run_id = run_id",
                [run],
            ).df()
            frame = rows[["series_id", "period_start", "demand"]].merge(
                fc, on=["series_id", "period_start"], validate="1:1"
            )
            assert len(frame) == len(rows)
            scales = seasonal_scales(hist, int(m))
            metrics = score_frame(
                frame, scales, levels=[80, 95], id_col="series_id", target_col="demand"
            )
            mine.append(metrics.join(scales).reset_index().assign(run_id=run))
        by_series = con.sql("select * from mon_accuracy__by_series").df()
        (overall,) = con.sql("""select mase, rmsse, smape, spl from mon_accuracy__by_segment
            where demand_class = 'all' and model_name = 'all' and step = 0""").fetchall()
        floors = dict(
            con.sql("""select step, [coverage_floor_80, coverage_floor_95]
            from mon_accuracy__by_segment
            where demand_class = 'all' and model_name = 'all' and step in (0, 1)""").fetchall()
        )
    both = by_series.merge(
        pd.concat(mine), on=["run_id", "series_id"], suffixes=("", "_py"), validate="1:1"
    )
    assert len(both) == len(by_series) > 0
    pairs = {
        "mase_scale": "scale_mae",
        "rmsse_scale": "scale_mse",
        "mase": "mase_py",
        "rmsse": "rmsse_py",
        "smape": "smape_py",
        "spl": "spl_py",
    }
    for sql, py in pairs.items():
        np.testing.assert_allclose(both[sql], both[py], rtol=1e-12, err_msg=sql)
    w = both["n_periods"]
    assert overall == pytest.approx(
        (
            np.average(both["mase_py"], weights=w),
            both["rmsse_py"].mean(),
            np.average(both["smape_py"], weights=w),
            np.average(both["spl_py"], weights=w),
        ),
        rel=1e-12,
    )
    # the coverage floor: per run and series the larger of L and its share of zeros over
    # all its periods, averaged over the cell's periods (all steps; step 1 alone)
    share = scored.groupby(["run_id", "series_id"])["demand"].transform(lambda d: (d == 0).mean())
    assert (share > 0.8).any() and (share < 0.8).any()  # both sides of the larger of
    for step, cell in ((0, scored["step"] > 0), (1, scored["step"] == 1)):
        rows = cell & scored["within_80"].notna()
        assert floors[step] == pytest.approx(
            [float(np.maximum(share[rows], lv).mean()) for lv in (0.8, 0.95)], rel=1e-12
        ), step


def _check_the_memory_was_pruned(
    project: Project, out: str, past_run: str, month_runs: list[str]
) -> None:
    """memory_keep_runs 1: the current build deleted the rows of the earlier runs that no
    series needs any more. The weekly past run re-selected every live series, so its rows
    are their latest state; of the monthly runs only the rows of series the weekly builds
    no longer forecast stay. The past run's forecast can still be rebuilt."""
    assert "retrain: memory pruned (memory_keep_runs 1;" in out
    registry = dict(project.query("select run_id, count(*) from fct_model_registry group by 1"))
    (live,) = project.query(
        f"select count(distinct series_id) from fct_forecast_history where run_id = '{past_run}'"
    )[0]
    assert registry[past_run] == live
    left = [registry.get(r, 0) for r in month_runs]
    (monthly,) = project.query(
        "select count(distinct series_id) from fct_forecast_history"
        f" where run_id = '{month_runs[0]}'"
    )[0]
    assert sum(left) < 2 * monthly
    assert project.query(f"""select count(*) from fct_model_registry as m
        join fct_model_registry as w using (series_id)
        where m.run_id in {tuple(month_runs)} and w.run_id = '{past_run}'""") == [(0,)]
    assert project.query(f"""select count(*) from demandcast_backtest_memory as m
        join demandcast_backtest_memory as w using (series_id)
        where m.run_id in {tuple(month_runs)} and w.run_id = '{past_run}'""") == [(0,)]
    calibrated = {r for (r,) in project.query("select run_id from demandcast_calibration_memory")}
    assert past_run in calibrated and calibrated <= set(registry)
    with duckdb.connect(str(project.db), read_only=True) as con:
        (sid,) = con.execute(
            f"""select series_id from fct_model_registry where run_id = '{past_run}'
                and interval_scale is not null order by 1 limit 1"""
        ).fetchone()
        rebuilt = pipeline.rebuild_forecast(con, past_run, [sid])
        recorded = con.execute(
            f"""select forecast from fct_forecast_history where run_id = '{past_run}'
                and series_id = '{sid}' order by step"""
        ).fetchall()
    np.testing.assert_array_equal(rebuilt["forecast"].to_numpy(float), [f for (f,) in recorded])


def _check_no_cross_match(project: Project, out: str, origin: dt.date, monday: dt.date) -> None:
    """The monthly forecasts wait unscored, though the old join (series and period alone)
    would have matched the month starting on a Monday to that week; a warn test says so."""
    (would_match,) = project.query(f"""select count(*) from fct_forecast_history as h
        join fct_demand_history as a using (series_id, period_start)
        where h.frequency = 'month' and h.period_start = date '{monday}'""")[0]
    assert would_match > 0
    assert project.query("select distinct frequency from mon_forecast_accuracy") == [("week",)]
    assert project.query(
        f"select count(*) from mon_forecast_accuracy where forecast_origin = date '{origin}'"
    ) == [(0,)]
    results = [line for line in out.splitlines() if " of " in line and "START" not in line]
    warned = [line for line in results if "assert_forecast_history_freq" in line]
    assert len(warned) == 2 and all("WARN" in line for line in warned), warned  # both weekly
    passed = [line for line in results if "assert_accuracy_scores_one_freq" in line]
    assert len(passed) == 2 and all("PASS" in line for line in passed), passed


def test_drift_truth_script_scores_the_builds_flags(built, small_demo):
    """scripts/drift_truth.py (docs/accuracy.md, "Drift flags") counts the build's own flags
    of mon_demand_drift, and the variance rule without the range condition beside them:
    that rule flags every series the built one does and more, never fewer."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "drift_truth.py"), "--db", str(built.db),
         "--truth", str(small_demo / "truth.parquet")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    rows = {
        cells[1].strip(): (int(cells[2]), int(cells[3]))
        for cells in (line.split("|") for line in done.stdout.splitlines()[2:])
    }
    judged, drifted, variance, was_variance = built.query(
        """select count(*), count(*) filter (where is_drifted),
            count(*) filter (where is_variance_shift),
            count(*) filter (where is_judged and coalesce(sd_ratio > 2 or sd_ratio < 0.5,
                recent_sd > 0))
        from mon_demand_drift where is_judged"""
    )[0]
    assert rows["series judged"] == (judged, judged) and judged > 0
    assert rows["flagged"][1] == drifted
    assert rows["flagged"][0] >= drifted and was_variance >= variance
