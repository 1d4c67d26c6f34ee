"""Pooled conformal intervals (demandcast.intervals) and the backtest's forward shortcut."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import AutoCES, AutoETS

from demandcast.backtest import run_backtest
from demandcast.catalog import Guarded
from demandcast.config import Settings
from demandcast.forecast import _zero_share, forecast_series
from demandcast.frames import synthetic_series, to_sf
from demandcast.intervals import (
    ALL_CLASSES,
    SPREAD_CLASSES,
    Calibration,
    by_other_windows,
    finalize,
    pooled_bounds,
    step_quantiles,
    zero_floor,
)
from demandcast.metrics import seasonal_scales
from demandcast.selection import select_champions


def _calibration(n_series: int = 100, h: int = 2) -> Calibration:
    """Residuals 1..n_series at step 1 and twice that at step 2, scale 1 for every series."""
    cal = Calibration()
    r = np.arange(1, n_series + 1, dtype=float)
    y = np.column_stack([r, 2 * r])  # one window of h = 2
    f = np.zeros((n_series, h, 1))
    cal.add(
        np.repeat("smooth", n_series), ["M"], y, f, np.ones(n_series), np.ones((n_series, 1)), 1
    )
    return cal


def test_quantiles_are_per_step_and_also_pooled_over_classes():
    q = _calibration().quantiles([80])
    smooth = q[q["demand_class"] == "smooth"].set_index("step")
    assert list(q["demand_class"].unique()) == [ALL_CLASSES, "smooth"]
    assert smooth.loc[1, "n_residuals"] == 100
    # step 2's residuals are step 1's doubled: the same shape, twice the spread
    assert smooth.loc[2, "hi_80"] == pytest.approx(2 * smooth.loc[1, "hi_80"])
    assert smooth.loc[2, "lo_80"] == smooth.loc[1, "lo_80"]  # a lower bound never rises
    # and of an even spread 1..100, the 10 % and 90 % quantiles, near enough
    assert smooth.loc[1, "lo_80"] == pytest.approx(np.quantile(np.arange(1, 101), 0.1), abs=1)
    assert smooth.loc[1, "hi_80"] == pytest.approx(np.quantile(np.arange(1, 101), 0.9), abs=1)


def test_step_quantiles_hold_their_level_where_each_steps_own_quantiles_overshoot():
    """24 steps of errors alike, 555 rows (Tourism's class size): each step's own
    quantiles under a running maximum carry every noisy step's excess onward."""
    rng = np.random.default_rng(1)
    past, future = rng.standard_t(4, (555, 24)), rng.standard_t(4, (200_000, 24))
    for a, level in ((0.1, 0.80), (0.025, 0.95)):
        lo, hi = step_quantiles(past, a)
        held = ((future >= lo) & (future <= hi)).mean()
        own_lo = np.minimum.accumulate(np.quantile(past, a, axis=0))
        own_hi = np.maximum.accumulate(np.quantile(past, 1 - a, axis=0))
        own = ((future >= own_lo) & (future <= own_hi)).mean()
        assert abs(held - level) < 0.015
        assert own - level > held - level + 0.005


def test_step_quantiles_keep_the_skew_and_ignore_the_row_order():
    rng = np.random.default_rng(2)
    r = rng.exponential(1.0, (400, 6)) - 0.5  # a long upper tail
    lo, hi = step_quantiles(r, 0.05)
    assert hi[0] - np.median(r[:, 0]) > 2 * (np.median(r[:, 0]) - lo[0])
    again = step_quantiles(r[rng.permutation(400)], 0.05)
    assert np.array_equal(lo, again[0]) and np.array_equal(hi, again[1])
    # 299 of 300 at 0 (a forecast of 0 where nothing was ordered): as np.quantile says, no
    # 2.5 % tail on either side
    lumpy = np.r_[np.zeros((299, 3)), np.ones((1, 3))]
    assert [q.tolist() for q in step_quantiles(lumpy, 0.025)] == [[0.0] * 3, [0.0] * 3]


def test_residuals_are_divided_by_the_geometric_mean_of_the_two_scales():
    cal = Calibration()
    y = np.full((300, 1), 8.0)
    f = np.zeros((300, 1, 1))
    # scale sqrt(4 * 16) = 8: every scaled residual is 1
    cal.add(np.repeat("smooth", 300), ["M"], y, f, np.full(300, 4.0), np.full((300, 1), 16.0), 1)
    q = cal.quantiles([95])
    assert np.allclose(q[["lo_95", "hi_95"]].to_numpy(), 1.0)


def test_a_windows_residuals_are_pooled_as_scaled_by_the_other_windows_errors():
    # one series, 3 windows of 1 step, errors 1, 1 and 4; scale_mae 2, mae 2. Kept as the
    # levels read forecasts back: divided by s = sqrt(2 * 2). Pooled: each window divided
    # by sqrt(2 * the MAE of the other two): sqrt(5), sqrt(5), sqrt(2)
    cal = Calibration(keep_series=True)
    y = np.array([[1.0, 1.0, 4.0]])
    cal.add(np.array(["smooth"]), ["M"], y, np.zeros((1, 3, 1)), np.array([2.0]),
            np.array([[2.0]]), 3, ids=np.array(["s"]))  # fmt: skip
    kept = cal.series_residuals[("s", "M")]
    assert kept == pytest.approx([0.5, 0.5, 2.0])
    want = [1 / np.sqrt(5), 1 / np.sqrt(5), 4 / np.sqrt(2)]
    assert by_other_windows(kept.reshape(1, 3, 1)).ravel() == pytest.approx(want, rel=1e-6)
    # a run pools kept residuals (carried from the warehouse) exactly as the backtest's own
    again = Calibration()
    again.add_series("smooth", "M", [kept], h=1)
    assert np.array_equal(np.concatenate(cal._parts[("smooth", "M")]),
                          np.concatenate(again._parts[("smooth", "M")]))  # fmt: skip
    # where the other windows had (nearly) no error, their scale says nothing: the window
    # is taken as if they had a third of the series' mean error, a factor of sqrt(3) at
    # most, not the thousands a forecast of 0 against months without demand gave
    for quiet in (0.0, 1e-6):
        r = np.array([[[quiet], [quiet], [3.0]]])
        assert by_other_windows(r).ravel() == pytest.approx(
            [quiet * np.sqrt(2 / 3), quiet * np.sqrt(2 / 3), 3 * np.sqrt(3)], rel=1e-3
        )


def test_intervals_hold_their_level_when_the_error_level_moves_between_windows():
    """600 series, 3 backtest windows of 4 steps; each window's (and the future's) error
    level is the series' own times a random factor. Scaled by an MAE its own errors went
    into, a window that ran wide shrinks itself: the 95 % interval held 92.8 %."""
    rng = np.random.default_rng(3)
    n, w, h, draws = 600, 3, 4, 200
    sig = np.exp(rng.normal(0, 1, n))
    level = sig[:, None] * np.exp(rng.normal(0, 0.6, (n, w)))
    e = (rng.standard_normal((n, w, h)) * level[:, :, None]).reshape(n, w * h)
    mae = np.abs(e).mean(axis=1)
    cal = Calibration()
    cal.add(np.repeat("smooth", n), ["M"], e, np.zeros((n, w * h, 1)), sig, mae[:, None], w)
    future_level = np.repeat(sig * np.exp(rng.normal(0, 0.6, n)), draws)
    future = rng.standard_normal((n * draws, h)) * future_level[:, None]
    b = pooled_bounds(np.zeros((n * draws, h)), np.repeat(np.sqrt(sig * mae), draws),
                      np.repeat("smooth", n * draws), np.repeat("M", n * draws),
                      cal.quantiles([80, 95]), [80, 95])  # fmt: skip
    for lv in (80, 95):
        held = ((future >= b[f"lo_{lv}"]) & (future <= b[f"hi_{lv}"])).mean()
        assert abs(held - lv / 100) < 0.02, (lv, held)


def test_pooled_bounds_scale_per_series_and_fall_back_to_all_classes():
    table = _calibration(n_series=300).quantiles([80])
    forecast = np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0]])
    out = pooled_bounds(
        forecast,
        scale=np.array([1.0, 2.0, 1.0]),
        demand_class=np.array(["smooth", "smooth", "lumpy"]),
        model=np.array(["M", "M", "Unknown"]),
        table=table,
        levels=[80],
    )
    lo1 = table.query("demand_class == 'smooth' and step == 1")["lo_80"].item()
    assert out["lo_80"][0, 0] == pytest.approx(10 + lo1)
    assert out["lo_80"][1, 0] == pytest.approx(10 + 2 * lo1)  # twice the scale
    assert np.isnan(out["hi_80"][2]).all()  # no rows for the model at all
    lumpy = pooled_bounds(
        forecast[:1], np.ones(1), np.array(["lumpy"]), np.array(["M"]), table, [80]
    )
    star = table.query("demand_class == '*' and step == 1")["lo_80"].item()
    assert lumpy["lo_80"][0, 0] == pytest.approx(10 + star)  # the '*' rows


def test_small_classes_use_the_rows_pooled_over_all_classes():
    table = _calibration(n_series=50).quantiles([80])  # 50 residuals: below MIN_RESIDUALS
    out = pooled_bounds(
        np.zeros((1, 2)), np.ones(1), np.array(["smooth"]), np.array(["M"]), table, [80]
    )
    assert np.isnan(out["lo_80"]).all()  # '*' has the same 50: nothing trustworthy


def test_forward_applies_the_first_estimate_and_refit_models_fit_again():
    rng = np.random.default_rng(3)
    y = 50 + 10 * np.sin(np.arange(96) * 2 * np.pi / 12) + rng.normal(0, 2, 96)
    ets = Guarded(AutoETS(season_length=12, alias="AutoETS"), forward=True)
    ets.fit(y[:60])
    expected = AutoETS(season_length=12).fit(y[:60]).forward(y=y[:84], h=12)["mean"]
    assert np.allclose(ets.forward(y=y[:84], h=12)["mean"], expected)
    ces = Guarded(AutoCES(season_length=12, alias="AutoCES"), forward=False)
    ces.fit(y[:60])
    refit = AutoCES(season_length=12).forecast(y=y[:84], h=12)["mean"]
    assert np.allclose(ces.forward(y=y[:84], h=12)["mean"], refit)


def test_champion_intervals_are_the_pooled_quantiles_times_the_series_scale():
    series, profiles = synthetic_series(90, 156, seed=4)
    settings = Settings(candidates=("Naive", "SES0.1", "WindowAverage13", "ComboLevel"), n_jobs=1)
    cal = Calibration()
    metrics = run_backtest(series, profiles, settings, calibration=cal)
    table = cal.quantiles(settings.levels)
    champions = select_champions(metrics, profiles, settings)
    fc = forecast_series(series, profiles, champions, settings, calibration=table)
    pooled = table[(table["demand_class"] == ALL_CLASSES) & (table["n_residuals"] >= 200)]
    assert len(pooled)  # 90 series x 3 windows
    q = table.set_index(["demand_class", "model_name", "step"])["hi_95"]
    top = table.set_index(["demand_class", "model_name", "step"])["top_95"]
    got = fc[fc["method"] == "champion"].merge(champions, on="series_id")
    got = got.merge(profiles[["series_id", "demand_class"]], on="series_id")
    # an intermittent or lumpy series' scale: the whole history's standard deviation in
    # place of the backtest's MASE scale, times the champion's backtest MAE
    sd = seasonal_scales(to_sf(series), settings.season_length)["scale_sd"]
    sparse = got["demand_class"].isin(SPREAD_CLASSES)
    mae = got["interval_scale"] ** 2 / got["scale_mae"]
    got["interval_scale"] = np.where(
        sparse, np.sqrt(sd.reindex(got["series_id"]).to_numpy() * mae), got["interval_scale"]
    )
    assert sparse.any() and (~sparse).any()
    n_checked = {"central": 0, "from zero": 0}
    for row in got.itertuples():
        key = (row.demand_class, row.champion, row.step)
        ok = (
            key in q.index
            and table.set_index(["demand_class", "model_name", "step"]).loc[key, "n_residuals"]
            >= 200
        )
        # an interval whose lower bound is 0 runs to the 0.95 quantile (intervals from zero)
        kind, col = ("from zero", top) if row.lo_95 == 0 else ("central", q)
        quantile = col[key] if ok else col.get((ALL_CLASSES, row.champion, row.step), np.nan)
        if row.forecast > 0 and quantile > 0 and np.isfinite(row.interval_scale):
            assert row.hi_95 == pytest.approx(row.forecast + row.interval_scale * quantile)
            n_checked[kind] += 1
    assert min(n_checked.values()) > 0, n_checked


def test_top_is_the_level_quantile_the_interval_from_zero_runs_to():
    q = _calibration().quantiles([80, 95]).query("demand_class == 'smooth'").set_index("step")
    for lv in (80, 95):
        assert q.loc[1, f"top_{lv}"] == pytest.approx(
            np.quantile(np.arange(1, 101), lv / 100), abs=1.5
        )
        assert q.loc[1, f"lo_{lv}"] < q.loc[1, f"top_{lv}"] < q.loc[1, f"hi_{lv}"]


def test_an_interval_from_zero_holds_its_level_where_the_central_one_holds_more():
    """Demand that is zero half the time, otherwise spread: the 80 % central interval's
    lower bound is at the floor, so [0, 90th percentile] holds 90 % of the future; the
    interval from zero, [0, 80th percentile], holds 80 %. Where demand is never zero
    (lower bound above 0) both are the central interval."""
    rng = np.random.default_rng(7)

    def demand(n, p_zero):
        return np.where(rng.random((n, 1)) < p_zero, 0.0, rng.gamma(2.0, 5.0, (n, 1)) + 20)

    for p_zero, held_from_zero, held_central in ((0.5, 0.80, 0.90), (0.0, 0.80, 0.80)):
        n = 4000
        cal = Calibration()
        f = np.full((n, 1, 1), 30 * (1 - p_zero))  # the forecast: the mean demand
        cal.add(np.repeat("lumpy", n), ["M"], demand(n, p_zero), f, np.ones(n), np.ones((n, 1)), 1)
        table = cal.quantiles([80])
        future = demand(n, p_zero)
        bounds = pooled_bounds(
            f[:, :, 0], np.ones(n), np.repeat("lumpy", n), np.repeat("M", n), table, [80]
        )
        for from_zero, want in ((True, held_from_zero), (False, held_central)):
            _, b = finalize(f[:, :, 0], bounds, [80], from_zero)
            held = ((future >= b["lo_80"]) & (future <= b["hi_80"])).mean()
            assert held == pytest.approx(want, abs=0.025), (p_zero, from_zero, held)
            if p_zero == 0.0:
                assert (b["lo_80"] > 0).all()


def test_finalize_takes_the_level_quantile_only_where_the_interval_starts_at_zero():
    forecast = np.array([[5.0, 1.0, 0.0]])
    bounds = {
        "lo_80": np.array([[3.0, -2.0, -1.0]]),
        "hi_80": np.array([[8.0, 4.0, 2.0]]),
        "top_80": np.array([[7.0, 3.0, np.nan]]),  # no top: the central bound stands
        "lo_95": np.array([[-1.0, -4.0, -2.0]]),
        "hi_95": np.array([[10.0, 6.0, 3.0]]),
        "top_95": np.array([[9.0, 5.0, 2.5]]),
    }
    _, b = finalize(forecast, bounds, [80, 95], from_zero=True)
    assert b["lo_80"].tolist() == [[3.0, 0.0, 0.0]] and b["hi_80"].tolist() == [[8.0, 3.0, 2.0]]
    assert b["lo_95"].tolist() == [[0.0, 0.0, 0.0]] and b["hi_95"].tolist() == [[9.0, 5.0, 2.5]]
    _, b = finalize(forecast, bounds, [80, 95])  # central everywhere
    assert b["hi_80"].tolist() == [[8.0, 4.0, 2.0]] and b["hi_95"].tolist() == [[10.0, 6.0, 3.0]]


def test_a_series_with_enough_periods_without_demand_gets_intervals_from_zero():
    """Pooled over a class, the residuals' lower quantile can put lo_80 above 0 for a
    series with a period in four without demand; its own zeros say demand's 10th
    percentile is 0: lo_80 goes to 0, and with it hi_80 to the 0.8 quantile."""
    bounds = {
        "lo_80": np.array([[2.0, 2.0], [2.0, 2.0], [np.nan, np.nan]]),
        "hi_80": np.array([[9.0, 9.0]] * 3),
        "top_80": np.array([[7.0, 7.0]] * 3),
        "lo_95": np.array([[1.0, 1.0]] * 3),
        "hi_95": np.array([[12.0, 12.0]] * 3),
        "top_95": np.array([[10.0, 10.0]] * 3),
    }
    # a quarter of the periods without demand; one in twenty; a series with no bounds
    floored = zero_floor(bounds, np.array([0.25, 0.05, 0.5]), [80, 95])
    assert floored["lo_80"][0].tolist() == [0.0, 0.0] and floored["lo_80"][1].tolist() == [2, 2]
    assert floored["lo_95"][:2].tolist() == [[0.0, 0.0], [0.0, 0.0]]  # 5 % >= 2.5 %
    assert np.isnan(floored["lo_80"][2]).all()  # no bound to move: the fallbacks decide
    _, b = finalize(np.full((3, 2), 5.0), floored, [80, 95], from_zero=True)
    assert b["hi_80"][:2].tolist() == [[7.0, 7.0], [9.0, 9.0]]
    assert b["hi_95"][:2].tolist() == [[10.0, 10.0], [10.0, 10.0]]


def test_the_zero_share_counts_the_last_periods_only():
    df = pd.DataFrame(
        {
            "unique_id": ["a"] * 6 + ["b"] * 2,
            "ds": list(range(6)) + [0, 1],
            "y": [0, 0, 0, 5, 0, 5, 3, 0],
        }
    )
    got = _zero_share(df, np.array(["a", "b", "c"], dtype=object), 4)
    assert got.tolist() == [0.5, 0.5, 0.0]


def test_an_interval_never_narrows_with_the_horizon():
    cal = Calibration()
    r = np.arange(1, 301, dtype=float)
    y = np.column_stack([2 * r, r])  # step 2's residuals are half step 1's
    f = np.zeros((300, 2, 1))
    cal.add(np.repeat("smooth", 300), ["M"], y, f, np.ones(300), np.ones((300, 1)), 1)
    q = cal.quantiles([80]).query("demand_class == 'smooth'").set_index("step")
    assert q.loc[2, "hi_80"] >= q.loc[1, "hi_80"]
    assert q.loc[2, "lo_80"] <= q.loc[1, "lo_80"]
    # the median moved down to 150.5, the spreads stayed step 1's: the band moved down
    assert q.loc[2, "lo_80"] < q.loc[1, "lo_80"] - 100


def test_residuals_left_out_count_nowhere():
    # NaN is a residual left out (a closure week, pipeline._without_closures): rows left
    # out at every step give the quantiles of the rows kept; a row left out at one step
    # still counts at the others
    rng = np.random.default_rng(3)
    r = rng.normal(size=(400, 3))
    holes = r.copy()
    holes[::7] = np.nan
    for got, want in zip(
        step_quantiles(holes, 0.1), step_quantiles(r[np.arange(400) % 7 != 0], 0.1), strict=True
    ):
        assert got == pytest.approx(want)
    one_step = r.copy()
    one_step[::7, 2] = np.nan
    lo, hi = step_quantiles(one_step, 0.1)
    assert np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < 0).all() and (hi > 0).all()
    # a step with none kept (every window's week shut) takes the step before's quantiles, and
    # the steps after it keep their own (a NaN there ran on to the horizon's end)
    no_step = r.copy()
    no_step[:, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = step_quantiles(no_step, 0.1)
    kept = step_quantiles(r[:, [0, 2]], 0.1)
    assert lo[[0, 2]] == pytest.approx(kept[0]) and hi[[0, 2]] == pytest.approx(kept[1])
    assert (lo[1], hi[1]) == pytest.approx((lo[0], hi[0]))
    # the other-windows factor counts only the residuals there are: window 1's own mean
    # error 11 / 5 against its other windows' 10 / 4 (12 / 6 and 10 / 4 with none left out)
    w = np.array([[[1.0, np.nan], [1.0, 1.0], [4.0, 4.0]]])  # 3 windows of 2 steps
    full = np.array([[[1.0, 1.0], [1.0, 1.0], [4.0, 4.0]]])
    assert np.isnan(by_other_windows(w)[0, 0, 1])
    assert by_other_windows(w)[0, 0, 0] == pytest.approx(np.sqrt((11 / 5) / (10 / 4)), rel=1e-6)
    assert by_other_windows(full)[0, 0, 0] == pytest.approx(np.sqrt((12 / 6) / (10 / 4)), rel=1e-6)
