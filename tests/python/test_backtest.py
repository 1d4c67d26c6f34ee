"""The rolling-origin backtest (demandcast.backtest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import catalog_from

from demandcast.backtest import BACKTEST_COLUMNS, BacktestStats, run_backtest
from demandcast.catalog import load_catalog
from demandcast.config import Settings
from demandcast.frames import profile_series, synthetic_series
from demandcast.intervals import Calibration

FAST = ("Naive", "SeasonalNaive", "HistoricAverage", "SES0.1", "CrostonSBA", "MeanTopK")


def _settings(**kw) -> Settings:
    return Settings(**{"candidates": FAST, "n_jobs": 1, **kw})


def _frame(values: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    parts = []
    for sid, y in values.items():
        periods = pd.date_range("2022-01-03", periods=len(y), freq="W-MON")
        parts.append(pd.DataFrame({"series_id": sid, "period_start": periods.date, "demand": y}))
    series = pd.concat(parts, ignore_index=True)
    return series, profile_series(series)


def test_one_row_per_eligible_series_and_candidate_with_the_contract_columns():
    series, profiles = synthetic_series(8, 156, seed=3)
    profiles.loc[0, "lifecycle"] = "discontinued"
    profiles.loc[1, "is_backtestable"] = False
    out = run_backtest(series, profiles, _settings())
    assert tuple(out.columns) == BACKTEST_COLUMNS
    n_cands = len(load_catalog().resolve(FAST, 52))
    assert len(out) == 6 * n_cands
    assert not out["series_id"].isin(profiles["series_id"][:2]).any()
    assert not out.duplicated(["series_id", "model_name"]).any()
    ok = out[out["status"] == "ok"]
    assert ok[["mae", "rmse", "smape", "mase", "rmsse"]].notna().all().all()
    assert (ok["n_windows"] == 3).all()


def test_naive_on_a_ramp_has_the_known_error():
    # y_t = t: naive forecasts the last value, so errors are -1..-13 on every window
    series, profiles = _frame({"ramp": np.arange(156, dtype=float)})
    out = run_backtest(series, profiles, _settings(candidates=("Naive",)))
    r = out.set_index("model_name").loc["Naive"]
    assert r["mae"] == pytest.approx(7.0)
    assert r["bias"] == pytest.approx(-7.0)
    assert r["rmse"] == pytest.approx(np.sqrt(np.mean(np.arange(1, 14) ** 2)))
    # scale: seasonal naive error of the ramp before the first origin is 52
    assert r["mase"] == pytest.approx(7.0 / 52)


def test_short_series_get_as_many_windows_as_fit():
    rng = np.random.default_rng(0)
    lengths = {"w3": 156, "w2": 60, "w1": 45, "short": 30}
    series, profiles = _frame({k: rng.poisson(20, n).astype(float) for k, n in lengths.items()})
    profiles["is_backtestable"] = True  # let the backtest itself find 'short' too short
    stats = BacktestStats()
    out = run_backtest(series, profiles, _settings(step_size=13), stats=stats)
    windows = out.groupby("series_id")["n_windows"].max()
    assert windows.to_dict() == {"w3": 3, "w2": 2, "w1": 1, "short": 0}
    short = out[out["series_id"] == "short"]
    assert (short["status"] == "skipped").all()
    assert short["error_message"].str.contains("shorter than min_train_length").all()
    # seasonal naive needs a season before the earliest origin: skipped on w2, w1
    snaive = out[out["model_name"] == "SeasonalNaive"].set_index("series_id")["status"]
    assert snaive["w3"] == "ok" and snaive["w2"] == "skipped"
    assert stats.n_calls == 3  # one cross_validation per window count, not per series


def test_a_group_is_one_call_after_the_probe_and_batches_change_no_number():
    series, profiles = synthetic_series(24, 156, seed=5)
    stats, calibration = BacktestStats(), Calibration()
    whole = run_backtest(series, profiles, _settings(), stats=stats, calibration=calibration)
    # one group (all series have three windows; the fast set runs on every class): one
    # call, after the step's first PROBE_SERIES series alone (the log's first pace)
    assert stats.n_calls == 2
    assert stats.n_fits == 24 * 3 * 5
    # the same series in three batches, as warehouse.series_batches hands them over
    ids = sorted(series["series_id"].unique())
    parts, part_calibration = [], Calibration()
    for batch in (ids[:1], ids[1:9], ids[9:]):
        parts.append(
            run_backtest(
                series[series["series_id"].isin(batch)],
                profiles[profiles["series_id"].isin(batch)],
                _settings(),
                calibration=part_calibration,
            )
        )
    batched = pd.concat(parts).sort_values(["series_id", "model_name"], ignore_index=True)
    pd.testing.assert_frame_equal(
        whole.sort_values(["series_id", "model_name"], ignore_index=True), batched, check_exact=True
    )
    pd.testing.assert_frame_equal(
        calibration.quantiles((80, 95)), part_calibration.quantiles((80, 95)), check_exact=True
    )


def test_routing_skips_expensive_candidates_on_intermittent_series():
    series, profiles = synthetic_series(8, 156, seed=2)
    settings = _settings(candidates=("Naive", "AutoETS", "CrostonSBA"))
    out = run_backtest(series, profiles, settings).merge(
        profiles[["series_id", "demand_class"]], on="series_id"
    )
    ets = out[out["model_name"] == "AutoETS"]
    sparse = ets["demand_class"].isin(["intermittent", "lumpy"])
    assert (ets.loc[sparse, "status"] == "skipped").all()
    assert ets.loc[sparse, "error_message"].str.contains("route_by_class").all()
    assert (ets.loc[~sparse, "status"] == "ok").all()
    unrouted = run_backtest(series, profiles, settings.with_(route_by_class=False))
    assert (unrouted["status"] == "ok").all()


def test_a_candidate_that_raises_is_recorded_and_does_not_fail_the_run(tmp_path, caplog):
    caplog.set_level("INFO", logger="demandcast.progress")
    catalog = catalog_from(
        tmp_path,
        """
            candidates:
              - {name: Naive, model: Naive}
              - {name: HistoricAverage, model: HistoricAverage}
              - name: Fragile
                model: conftest:RaisesOnBigValues
            defaults: {smooth: HistoricAverage}
            """,
    )
    rng = np.random.default_rng(1)
    series, profiles = _frame(
        {"small": rng.uniform(1, 5, 120), "big": rng.uniform(1, 5, 120) + 1000.0}
    )
    out = run_backtest(series, profiles, Settings(candidates="all", n_jobs=1), catalog)
    r = out.set_index(["series_id", "model_name"])
    assert r.loc[("small", "Fragile"), "status"] == "ok"
    assert r.loc[("big", "Fragile"), "status"] == "failed"
    assert "too big for me" in r.loc[("big", "Fragile"), "error_message"]
    assert np.isnan(r.loc[("big", "Fragile"), "mae"])
    assert r.loc[("big", "Naive"), "status"] == "ok"
    # the log sums the failures up per candidate, with the first error
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "demandcast.progress"]
    assert any(
        line.startswith("backtest: Fragile failed on 1 series; first error: ")
        and "too big for me" in line
        for line in lines
    ), lines


def test_combinations_are_scored_on_the_same_windows():
    series, profiles = synthetic_series(8, 156, seed=4)
    settings = _settings(
        candidates=("Naive", "SES0.1", "HistoricAverage", "ComboLevel", "MeanTopK")
    )
    out = run_backtest(series, profiles, settings)
    combos = out[out["model_name"].isin(["ComboLevel", "MeanTopK"])]
    assert (combos["status"] == "ok").all()
    assert (combos["n_windows"] == 3).all()
    # a mean combination's bias is the mean of its members' biases
    r = out.set_index(["series_id", "model_name"])["bias"]
    members = ["SESOptimized", "WindowAverage13", "CrostonOptimized", "TSB0.1_0.1"]
    sid = out["series_id"].iloc[0]
    assert r[(sid, "ComboLevel")] == pytest.approx(np.mean([r[(sid, m)] for m in members]))


def test_a_member_that_runs_away_in_a_window_is_left_out_of_its_combinations(tmp_path, caplog):
    """The forecast step's runaway rule, in the backtest: Rocket doubles its last value
    every period (test_forecast.Rocket), far above every window's plausible maximum."""
    caplog.set_level("INFO", logger="demandcast.progress")
    catalog = catalog_from(
        tmp_path,
        """
            candidates:
              - {name: Rocket, model: "test_forecast:Rocket"}
              - {name: Rocket2, model: "test_forecast:Rocket"}
              - {name: Naive, model: Naive}
              - {name: ComboRocket, combine: mean, members: [Rocket, Naive]}
              - {name: ComboRockets, combine: mean, members: [Rocket, Rocket2]}
            defaults: {smooth: Naive, erratic: Naive, intermittent: Naive, lumpy: Naive}
            """,
    )
    rng = np.random.default_rng(4)
    series, profiles = _frame({f"S{i}": rng.uniform(50, 100, 156) for i in range(3)})
    settings = Settings(candidates="all", n_jobs=1)
    out = run_backtest(series, profiles, settings, catalog).set_index(["series_id", "model_name"])
    for sid in profiles["series_id"]:
        naive, rocket = out.loc[(sid, "Naive"), "mae"], out.loc[(sid, "Rocket"), "mae"]
        # Naive carries the combination in every window, as it does in the forecast
        assert out.loc[(sid, "ComboRocket"), "mae"] == pytest.approx(naive)
        assert rocket > 100 * naive  # the member's own row keeps its score
        # every member ran away: the combination as they forecast it
        assert out.loc[(sid, "ComboRockets"), "mae"] == pytest.approx(rocket)
    # 3 series x 3 windows x (Rocket, Rocket2)
    assert any(m.startswith("backtest: 18 window forecast(s) of a member") for m in caplog.messages)
    # a multiple that allows the runaway keeps it in the combination
    loose = settings.with_(max_forecast_multiple=1e6)
    again = run_backtest(series, profiles, loose, catalog).set_index(["series_id", "model_name"])
    sid = profiles["series_id"].iloc[0]
    assert again.loc[(sid, "ComboRocket"), "mae"] > 10 * again.loc[(sid, "Naive"), "mae"]


def test_a_trimmed_combination_is_backtested_on_its_middle_members():
    from demandcast.backtest import _combine

    combo = load_catalog().candidates["ComboGlobal5Trim"]
    names = list(combo.members)
    rng = np.random.default_rng(3)
    f = rng.gamma(2.0, 10.0, size=(4, 6, 5))  # series, window points, members
    crit = np.ones((4, 5))
    crit[1, 4] = np.nan  # a member that failed on series 1 is left out there
    out, _ = _combine(combo, f, names, crit, [], 2)
    s = np.sort(f, axis=2)
    np.testing.assert_allclose(out[[0, 2, 3]], s[[0, 2, 3], :, 1:-1].mean(axis=2))
    four = np.sort(f[1, :, :4], axis=1)
    np.testing.assert_allclose(out[1], four[:, 1:-1].mean(axis=1))
