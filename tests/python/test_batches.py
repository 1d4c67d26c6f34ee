"""Series read and processed in batches (var batch_series) give the numbers of one batch:
the decisions, backtest rows (with the residuals the memory keeps), calibration, champions
and forecasts of the dbt models' steps (demandcast.pipeline), each run on a DuckDB
warehouse in memory."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from demandcast import pipeline, retrain
from demandcast.backtest import pooled_needed
from demandcast.catalog import load_catalog
from demandcast.config import Settings
from demandcast.demo import write_demo
from demandcast.forecast import forecast_series
from demandcast.frames import SeriesBatches, series_from_orders
from demandcast.warehouse import Run, series_batches

FAST = ["Naive", "SeasonalNaive", "HistoricAverage", "SES0.1", "Theta", "CrostonSBA", "MeanTopK"]
SMALL = 4  # series a batch: 30 series in 8 batches


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A 2 x 15 demo plant's series: active, discontinued and new (a cold start), and one
    active series cut to 30 periods (too short to backtest: its class champion, scaled
    from its class's backtest MASE)."""
    demo = write_demo(tmp_path_factory.mktemp("raw"), n_plants=2, n_products=15, seed=3)
    orders, products = pd.read_parquet(demo["orders"]), pd.read_parquet(demo["products"])
    series, profiles = series_from_orders(orders, products)
    short = profiles.loc[profiles["lifecycle"] == "active", "series_id"].iloc[5]
    cut = series[series["series_id"] == short].index[:-30]
    series = series.drop(cut).reset_index(drop=True)
    at = profiles["series_id"] == short
    profiles.loc[at, ["n_periods", "is_backtestable"]] = [30, False]
    return series, profiles


def _steps(series: pd.DataFrame, profiles: pd.DataFrame, batch: int) -> dict[str, pd.DataFrame]:
    """The four forecasting steps on a fresh warehouse, the series read from a table."""
    con = duckdb.connect()
    con.execute(
        "create table series as select series_id, cast(period_start as date) as period_start, "
        "demand from series"
    )
    origin = pd.Timestamp(max(series["period_start"]))
    values = {"candidates": FAST, "n_jobs": 1, "n_windows": 2, "batch_series": batch}
    run = Run("run-1", {**values, "forecast_origin": origin, "started_at": origin})
    rel = con.table("series")
    decisions = pipeline.decide_run(con, run, rel, profiles, None)
    metrics = pipeline.backtest_run(con, run, rel, profiles, decisions)
    calibration = pipeline.calibration_run(run, metrics)
    champions = pipeline.champions_run(con, run, metrics, profiles, decisions)
    forecast = pipeline.forecast_run(con, run, rel, profiles, champions, decisions, calibration)
    return {
        "calibration": calibration,
        "decisions": decisions,
        "metrics": metrics,
        "champions": champions,
        "forecast": forecast,
    }


def test_batches_hold_whole_series_read_from_duckdb(panel):
    series, _ = panel
    con = duckdb.connect()
    batches = series_batches(con, series, SMALL, ids=series["series_id"].unique()[1:])
    frames = list(batches)
    assert len(frames) == 8 and all(f["series_id"].nunique() <= SMALL for f in frames)
    whole = pd.concat(frames, ignore_index=True)
    assert whole["series_id"].is_monotonic_increasing
    expected = series[series["series_id"] != series["series_id"].iloc[0]]
    assert len(whole) == len(expected)
    assert whole["demand"].sum() == expected["demand"].sum()


def test_the_steps_give_the_same_numbers_in_batches_as_in_one(panel):
    series, profiles = panel
    one = _steps(series, profiles, batch=10_000)
    many = _steps(series, profiles, batch=SMALL)
    assert one["forecast"]["method"].isin(["cold_start"]).any()  # the pooled paths ran
    assert (one["champions"]["n_windows"] == 0).any()
    assert one["metrics"]["n_fits"].sum() > 0
    assert one["calibration"]["n_residuals"].min() > 0
    assert one["metrics"]["residuals"].notna().sum() > 0  # what the memory keeps
    for name in one:
        pd.testing.assert_frame_equal(one[name], many[name], check_exact=True, obj=name)


def test_forecast_series_pools_over_every_batch(panel):
    """The interval scale of a series without one (its class's median backtest MASE) and
    a cold start's product-group level pool over every batch."""
    series, profiles = panel
    champions = pd.DataFrame({"series_id": profiles["series_id"], "champion": "SES0.1"})
    champions["interval_scale"] = [float("nan")] * 3 + [1.0 + i for i in range(len(profiles) - 3)]
    champions["scale_mae"] = 1.0
    champions.loc[(profiles["lifecycle"] == "new").to_numpy(), "champion"] = None
    steps = range(1, 14)
    calibration = pd.DataFrame(
        {"demand_class": "*", "model_name": "SES0.1", "step": steps, "n_residuals": 500}
    ).assign(lo_80=-1.0, hi_80=1.0, lo_95=-2.0, hi_95=2.0)
    settings = Settings(candidates=tuple(FAST), n_jobs=1)
    one = forecast_series(series, profiles, champions, settings, calibration=calibration)
    many = forecast_series(
        SeriesBatches.of(series, SMALL), profiles, champions, settings, calibration=calibration
    )
    assert set(one["method"]) == {"champion", "cold_start"}
    pd.testing.assert_frame_equal(one, many, check_exact=True)


def test_the_batch_size_is_not_in_the_settings_hash():
    """A run with another batch_series changes no number, so it re-selects nothing."""
    catalog = load_catalog()
    one = retrain.settings_identity(Settings(batch_series=2000), catalog)
    assert retrain.settings_identity(Settings(batch_series=7), catalog) == one
    assert retrain.settings_identity(Settings(batch_series=7, horizon=8), catalog) != one


def test_the_global_models_are_learned_only_for_classes_they_run_on():
    """A run that re-selects only intermittent and lumpy series does not learn GlobalAR and
    GlobalGBM (tagged smooth and erratic; route_by_class) on the whole panel."""
    catalog = load_catalog()
    cands = catalog.resolve("default", 52)
    pooled = sorted(c.name for c in cands if c.is_pooled)
    assert pooled == ["GlobalAR", "GlobalGBM"]

    def needed(classes, **kw):
        return sorted(c.name for c in pooled_needed(cands, classes, Settings(**kw)))

    assert needed({"intermittent", "lumpy"}) == []
    assert needed({"lumpy", "erratic"}) == pooled
    assert needed(set()) == []  # nothing to backtest: a rebuild with no new data
    assert needed({"intermittent"}, route_by_class=False) == pooled  # they run everywhere
