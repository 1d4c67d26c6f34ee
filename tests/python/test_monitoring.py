"""Monitoring on real builds: past forecasts scored as their actuals arrive, keyed by
frequency, with the accuracy of a series checked by hand, and drift per series."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import BIN, FAST_VARS, ROOT, Project

from demandcast import cli
from demandcast.metrics import seasonal_scales


def _cli_build(project: Project, *args: str) -> subprocess.CompletedProcess:
    """`demandcast build` as a user runs it, from the warehouse's folder."""
    env = {**os.environ, "DEMANDCAST_DB": project.db.name, "GX_ANALYTICS_ENABLED": "false"}
    target = ["--target-path", str(project.target), "--log-path", str(project.target / "logs")]
    return subprocess.run(
        [str(BIN / "demandcast"), "build", "--raw", str(project.raw), *args, *target],
        cwd=project.db.parent,
        env=env,
        capture_output=True,
        text=True,
    )


def _past_origins(project: Project, n: int, vars: str = FAST_VARS) -> list[tuple[str, dict]]:
    env = {"DEMANDCAST_RAW_PATH": str(project.raw), "DEMANDCAST_DB": str(project.db)}
    return cli.past_build_vars(ROOT, env, vars, None, n)


def test_a_warehouse_that_has_run_a_while(small_demo, tmp_path):
    """Three builds in one warehouse: a monthly one at a past origin whose first forecast
    month starts on a Monday, in a warehouse as the previous version left it (no frequency
    in fct_forecast_history); then `demandcast build --past-origins 1`: a weekly build 13
    weeks back and one at the current origin. The weekly past run is scored, a series by
    hand; the monthly forecast of that Monday's month is never matched to the weekly
    actual of that week."""
    project = Project(raw=small_demo, db=tmp_path / "wh.duckdb", target=tmp_path / "target")
    ((past, _),) = _past_origins(project, 1)
    month_origin, monday = _monthly_past_build(project, past)
    done = _cli_build(project, "--vars", FAST_VARS, "--past-origins", "1")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert f"past origin {past} (1 of 1)" in out and "the current origin" in out

    runs = project.query("""select run_id, cast(forecast_origin as varchar), frequency, horizon,
        season_length from fct_forecast_history group by all order by 2""")
    # the monthly run's old rows got their frequency, horizon and season from the backfill
    assert [r[1:] for r in runs] == [
        (str(month_origin), "month", 3, 12),
        (past, "week", 13, 52),
        (runs[2][1], "week", 13, 52),
    ]
    _check_the_past_run_by_hand(project, past, runs[1][0])
    _check_no_cross_match(project, out, month_origin, monday)
    # built again, the past origin is not: the warehouse holds its published forecast
    assert _past_origins(project, 1) == [(past, None)]


def _monthly_past_build(project: Project, weekly_past: str) -> tuple[dt.date, dt.date]:
    """A monthly build whose first forecast month is the latest one starting on a Monday
    within the weekly history; then its columns new in this version dropped."""
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
    with duckdb.connect(str(project.db)) as con:
        for column in ("frequency", "horizon", "season_length"):
            con.execute(f"alter table fct_forecast_history drop column {column}")
    return origin, month


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
    snaive = np.array([y_hist[len(y_hist) - 52 + (h - 1) % 52] for h in fc.step])
    y, f = fc.y.to_numpy(), fc.f.to_numpy()
    e = f - y
    expected = {
        "mae": np.mean(np.abs(e)),
        "mean_error": np.mean(e),
        "wape": np.abs(e).sum() / np.abs(y).sum(),
        "bias": e.sum() / np.abs(y).sum(),
        "mase": np.mean(np.abs(e)) / scale,
        "coverage_80": np.mean((y >= fc.lo_80) & (y <= fc.hi_80)),
        "coverage_95": np.mean((y >= fc.lo_95) & (y <= fc.hi_95)),
        "seasonal_naive_mae": np.mean(np.abs(snaive - y)),
        "seasonal_naive_mase": np.mean(np.abs(snaive - y)) / scale,
        "fva_mase": (np.mean(np.abs(snaive - y)) - np.mean(np.abs(e))) / scale,
        "fva_share": 1 - np.abs(e).sum() / np.abs(snaive - y).sum(),
        "mase_scale": scale,
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
