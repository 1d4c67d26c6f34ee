"""Known answers for the accuracy metrics (demandcast.metrics), and utilsforecast's agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from utilsforecast import losses

from demandcast.metrics import (
    METRIC_COLUMNS,
    interval_quantiles,
    pinball_loss,
    score_arrays,
    score_frame,
    seasonal_scales,
)


def _history(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"unique_id": uid, "ds": pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=i), "y": v}
        for uid, ys in values.items()
        for i, v in enumerate(ys)
    ]
    return pd.DataFrame(rows)


def _score(y: list[float], y_hat: list[float], scales: pd.DataFrame | None = None) -> dict:
    """Every metric of one series and one model (mase and rmsse NaN without scales)."""
    s_mae = s_mse = np.array([np.nan])
    if scales is not None:
        s_mae, s_mse = scales["scale_mae"].to_numpy(), scales["scale_mse"].to_numpy()
    f = np.asarray(y_hat, dtype=float)[None, :, None]
    res = score_arrays(np.asarray(y, dtype=float)[None, :], f, s_mae, s_mse)
    return {k: float(v[0, 0]) for k, v in res.items()}


def test_point_metrics_match_hand_computed_values():
    # e = forecast - actual = [1, 0, -1, -2]
    scales = seasonal_scales(_history({"a": [1, 3, 2, 4, 3, 5]}), season_length=2)
    r = _score([1, 2, 3, 4], [2, 2, 2, 2], scales)
    assert r["mae"] == pytest.approx(1.0)
    assert r["rmse"] == pytest.approx(np.sqrt(6 / 4))
    assert r["bias"] == pytest.approx(-0.5)
    assert r["smape"] == pytest.approx((2 / 3 + 0 + 2 / 5 + 4 / 6) / 4)
    assert r["wape"] == pytest.approx(4 / 10)
    # seasonal naive (lag 2) in-sample errors are all 1: MASE = MAE, RMSSE = RMSE
    assert r["mase"] == pytest.approx(1.0)
    assert r["rmsse"] == pytest.approx(np.sqrt(6 / 4))


def test_scale_is_seasonal_naive_error_of_the_history():
    # lag-2 differences: [2, -2, 4, 0] -> MAE 2, MSE 6
    scales = seasonal_scales(_history({"a": [1, 5, 3, 3, 7, 3]}), season_length=2)
    assert scales.loc["a", "scale_lag"] == 2
    assert scales.loc["a", "scale_mae"] == pytest.approx(2.0)
    assert scales.loc["a", "scale_mse"] == pytest.approx(6.0)
    # and the history's standard deviation (population): mean 11 / 3, mean square 17
    assert scales.loc["a", "scale_sd"] == pytest.approx(np.sqrt(17 - (11 / 3) ** 2))


def test_scale_falls_back_to_naive_1_when_history_is_not_longer_than_a_season():
    # 3 points, season 4: lag-1 differences [1, 2] -> MAE 1.5, MSE 2.5
    scales = seasonal_scales(_history({"a": [1, 2, 4]}), season_length=4)
    assert scales.loc["a", "scale_lag"] == 1
    assert scales.loc["a", "scale_mae"] == pytest.approx(1.5)
    assert scales.loc["a", "scale_mse"] == pytest.approx(2.5)


def test_zero_scale_is_guarded():
    scales = seasonal_scales(
        _history({"flat": [5, 5, 5, 5, 5], "zeros": [0, 0, 0, 0, 0], "alt": [1, 2, 1, 2, 1]}),
        season_length=2,
    )
    # flat: seasonal and naive-1 errors are 0 -> mean |y| (5), mean y^2 (25)
    assert scales.loc["flat", "scale_mae"] == pytest.approx(5.0)
    assert scales.loc["flat", "scale_mse"] == pytest.approx(25.0)
    # all zero: 1, so MASE is the MAE in demand units rather than infinite
    assert scales.loc["zeros", "scale_mae"] == 1.0
    # no spread at all: the standard deviation falls back to the MASE scale
    assert scales.loc["flat", "scale_sd"] == pytest.approx(5.0)
    assert scales.loc["zeros", "scale_sd"] == 1.0
    # alternating with period 2: seasonal errors 0 -> naive-1 errors (all 1)
    assert scales.loc["alt", "scale_mae"] == pytest.approx(1.0)
    assert (scales[["scale_mae", "scale_mse"]] > 0).all().all()


def test_metrics_are_per_series_and_model_without_mixing_groups():
    y = np.array([[10.0, 10.0], [0.0, 4.0]])  # series a, b
    f = np.array([[[10, 14], [10, 6]], [[1, 0], [3, 0]]], dtype=float)  # models good, bad
    r = score_arrays(y, f, np.full(2, np.nan), np.full(2, np.nan))
    assert r["mae"][0, 0] == 0
    assert r["mae"][0, 1] == pytest.approx(4)
    assert r["bias"][0, 1] == pytest.approx(0)
    assert r["rmse"][1, 0] == pytest.approx(1)
    assert r["wape"][1, 1] == pytest.approx(1)
    assert np.isnan(r["mase"]).all()  # no scales given


def test_a_failed_forecast_makes_the_group_nan():
    r = _score([1, 2], [1, np.nan])
    assert np.isnan(r["mae"]) and np.isnan(r["rmse"])


def test_wape_of_all_zero_actuals():
    perfect = _score([0, 0], [0, 0])
    wrong = _score([0, 0], [1, 0])
    assert perfect["wape"] == 0 and perfect["smape"] == 0
    assert np.isnan(wrong["wape"])
    assert wrong["smape"] == pytest.approx(1.0)  # 2|1| / (0 + 1) = 2 on one of two points


def test_shared_definitions_agree_with_utilsforecast():
    """mae, rmse, bias are utilsforecast's; smape is twice its; wape its but for 0/0;
    mase and rmsse its mae and mse over our scales (metrics.py says why not its own)."""
    rng = np.random.default_rng(0)
    n, t, m = 6, 10, 3
    y = rng.poisson(5, (n, t)).astype(float)
    y[0] = 0.0  # all-zero actuals: wape differs only where the forecast is exact
    f = np.abs(rng.normal(5, 2, (n, t, m)))
    hist = _history({str(i): list(rng.poisson(5, 20).astype(float)) for i in range(n)})
    scales = seasonal_scales(hist, season_length=4)
    ours = score_arrays(y, f, scales["scale_mae"].to_numpy(), scales["scale_mse"].to_numpy())
    models = [f"m{j}" for j in range(m)]
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat([str(i) for i in range(n)], t),
            "y": y.ravel(),
            **{name: f[:, :, j].ravel() for j, name in enumerate(models)},
        }
    )
    theirs = {
        "mae": losses.mae(frame, models),
        "rmse": losses.rmse(frame, models),
        "bias": losses.bias(frame, models),
        "smape": losses.smape(frame, models),
        "wape": losses.wape(frame, models),
        "mse": losses.mse(frame, models),
    }
    theirs = {k: v.set_index("unique_id")[models].to_numpy() for k, v in theirs.items()}
    s_mae, s_mse = scales["scale_mae"].to_numpy()[:, None], scales["scale_mse"].to_numpy()[:, None]
    expected = {
        "mae": theirs["mae"],
        "rmse": theirs["rmse"],
        "bias": theirs["bias"],
        "smape": 2 * theirs["smape"],
        "wape": theirs["wape"],
        "mase": theirs["mae"] / s_mae,
        "rmsse": np.sqrt(theirs["mse"] / s_mse),
    }
    for col in METRIC_COLUMNS:
        np.testing.assert_allclose(ours[col], expected[col], rtol=1e-12, err_msg=col)
    # where the definitions part: all-zero actuals forecast exactly
    exact_zero = pd.DataFrame({"unique_id": ["a"], "y": [0.0], "m": [0.0]})
    assert np.isnan(losses.wape(exact_zero, ["m"])["m"].iloc[0])
    assert _score([0.0], [0.0])["wape"] == 0


def test_interval_quantiles_are_the_median_and_each_levels_bounds():
    assert interval_quantiles([80, "95"]) == [
        (0.5, "forecast"),
        (pytest.approx(0.1), "lo_80"),
        (pytest.approx(0.9), "hi_80"),
        (pytest.approx(0.025), "lo_95"),
        (pytest.approx(0.975), "hi_95"),
    ]


def test_pinball_loss_by_hand():
    # under the quantile costs q per unit, over it 1 - q
    np.testing.assert_allclose(pinball_loss([10, 10, 10], [7, 10, 12], 0.9), [2.7, 0, 0.2])
    np.testing.assert_allclose(pinball_loss([10, 10], [7, 12], 0.5), [1.5, 1.0])


def _intermittent() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One intermittent series, season 4: history 0 0 4 0 0 0 0 4 (lag-4 differences
    0, 0, -4, 4: scale_mae 2, scale_mse 8, mean 1), actuals 0 4 0 0, forecast by a zero
    model (every quantile 0) and by the mean (1, 80 % interval 0..3, 95 % 0..4)."""
    hist = _history({"i": [0, 0, 4, 0, 0, 0, 0, 4]})
    y = [0.0, 4.0, 0.0, 0.0]
    rows = {
        "zero": dict(forecast=0.0, lo_80=0.0, hi_80=0.0, lo_95=0.0, hi_95=0.0),
        "mean": dict(forecast=1.0, lo_80=0.0, hi_80=3.0, lo_95=0.0, hi_95=4.0),
    }
    frame = pd.DataFrame([{"unique_id": name, "y": v, **b} for name, b in rows.items() for v in y])
    scales = seasonal_scales(hist, season_length=4)
    scales = pd.concat([scales.rename(index={"i": name}) for name in rows])
    return frame, scales


def test_a_zero_forecast_wins_mase_but_loses_rmsse_and_spl_to_the_mean():
    frame, scales = _intermittent()
    assert scales["scale_mae"].tolist() == [2.0, 2.0] and scales["scale_mse"].tolist() == [8, 8]
    r = score_frame(frame, scales, levels=[80, 95])
    # zero: e 0 -4 0 0 -> MAE 1, MSE 4; mean: e 1 -3 1 1 -> MAE 1.5, MSE 3
    assert r.loc["zero", "mase"] == pytest.approx(1 / 2)
    assert r.loc["mean", "mase"] == pytest.approx(1.5 / 2)
    assert r.loc["zero", "rmsse"] == pytest.approx(np.sqrt(4 / 8))
    assert r.loc["mean", "rmsse"] == pytest.approx(np.sqrt(3 / 8))
    # zero: every quantile 0 misses the 4 by 4 q, a mean loss of q per quantile:
    # (0.5 + 0.1 + 0.9 + 0.025 + 0.975) / 5 / 2
    assert r.loc["zero", "spl"] == pytest.approx(0.25)
    assert r.loc["zero", "spl_80"] == pytest.approx((0.1 + 0.9) / 2 / 2)
    # mean, mean loss per quantile over the 4 periods:
    #   median 1:  0.5 x 3 over, 0.5 x 3 under          -> (1.5 + 1.5) / 4 = 0.75
    #   q 0.1 0:   0.1 x 4 under                        -> 0.4 / 4         = 0.1
    #   q 0.9 3:   (1 - 0.9) x 3 over, thrice; 0.9 x 1  -> 1.8 / 4         = 0.45
    #   q 0.025 0: 0.025 x 4 under                      -> 0.1 / 4         = 0.025
    #   q 0.975 4: (1 - 0.975) x 4 over, thrice         -> 0.3 / 4         = 0.075
    assert r.loc["mean", "spl"] == pytest.approx((0.75 + 0.1 + 0.45 + 0.025 + 0.075) / 5 / 2)
    assert r.loc["mean", "spl_80"] == pytest.approx((0.1 + 0.45) / 2 / 2)
    assert r.loc["mean", "spl_95"] == pytest.approx((0.025 + 0.075) / 2 / 2)
    assert r.loc["zero", "mase"] < r.loc["mean", "mase"]
    assert r.loc["zero", "rmsse"] > r.loc["mean", "rmsse"]
    assert r.loc["zero", "spl"] > r.loc["mean", "spl"]


def test_score_frame_is_score_arrays_on_a_long_frame():
    rng = np.random.default_rng(1)
    n, t = 5, 7
    y = rng.poisson(3, (n, t)).astype(float)
    f = rng.gamma(2, 2, (n, t, 1))
    f[2, 3, 0] = np.nan  # a failed forecast: the series' metrics are NaN in both
    scales = seasonal_scales(
        _history({str(i): list(rng.poisson(3, 12).astype(float)) for i in range(n)}), 4
    )
    arrays = score_arrays(y, f, scales["scale_mae"].to_numpy(), scales["scale_mse"].to_numpy())
    frame = pd.DataFrame(
        {"unique_id": np.repeat([str(i) for i in range(n)], t), "y": y.ravel(), "f": f.ravel()}
    )
    ours = score_frame(frame.sample(frac=1, random_state=0), scales, forecast_col="f")
    for col in METRIC_COLUMNS:
        np.testing.assert_allclose(ours[col].to_numpy(), arrays[col][:, 0], err_msg=col)
    assert np.isnan(ours.loc["2"]).all()


def test_spl_and_rmsse_agree_with_utilsforecast():
    """spl is utilsforecast's mqloss over our MASE scale, and where that scale is the plain
    seasonal naive (history longer than a season, not flat) its scaled_mqloss; spl_L its
    mqloss over L's two quantiles; rmsse its rmsse there. The median's pinball is mae / 2."""
    rng = np.random.default_rng(2)
    n, t, m = 8, 6, 4
    ids = [f"s{i}" for i in range(n)]
    lengths = [20, 20, 20, 9, 5, 3, 20, 20]  # s5 not longer than a season
    hist = _history(
        {s: list(rng.poisson(4, k).astype(float)) for s, k in zip(ids, lengths, strict=True)}
    )
    hist.loc[hist.unique_id == "s6", "y"] = 3.0  # flat: the scale falls back to mean |y|
    hist.loc[hist.unique_id == "s7", "y"] = 0.0  # all zero: scale 1
    scales = seasonal_scales(hist, season_length=m)
    ds = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.tile(np.arange(t), n), unit="W")
    y = rng.poisson(4, n * t).astype(float)
    y[:t] = 0.0  # an intermittent stretch
    point = rng.gamma(4, 1, n * t)
    width80, width95 = rng.uniform(0.5, 3, n * t), rng.uniform(3, 6, n * t)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, t),
            "ds": ds,
            "y": y,
            "forecast": point,
            "lo_80": point - width80,
            "hi_80": point + width80,
            "lo_95": point - width95,
            "hi_95": point + width95,
        }
    )
    ours = score_frame(frame, scales, levels=[80, 95])
    qs = interval_quantiles([80, 95])
    quantiles = np.array([q for q, _ in qs])
    cols = [c for _, c in qs]

    def mq(columns: list[str], q: np.ndarray) -> np.ndarray:
        res = losses.mqloss(frame, {"m": columns}, quantiles=q)
        return res.set_index("unique_id").loc[ids, "m"].to_numpy()

    s_mae = scales.loc[ids, "scale_mae"].to_numpy()
    np.testing.assert_allclose(ours.loc[ids, "spl"], mq(cols, quantiles) / s_mae, rtol=1e-12)
    np.testing.assert_allclose(
        ours.loc[ids, "spl_80"], mq(["lo_80", "hi_80"], np.array([0.1, 0.9])) / s_mae, rtol=1e-12
    )
    median = losses.quantile_loss(frame, {"m": "forecast"}, q=0.5).set_index("unique_id")
    np.testing.assert_allclose(median.loc[ids, "m"] * 2 / s_mae, ours.loc[ids, "mase"])
    plain = [s for s in ids if scales.loc[s, "scale_lag"] == m]
    assert plain == ["s0", "s1", "s2", "s3"]
    train = hist[hist.unique_id.isin(plain)]
    sub = frame[frame.unique_id.isin(plain)]
    theirs = losses.scaled_mqloss(sub, {"m": cols}, quantiles, seasonality=m, train_df=train)
    np.testing.assert_allclose(
        ours.loc[plain, "spl"], theirs.set_index("unique_id").loc[plain, "m"], rtol=1e-12
    )
    theirs = losses.rmsse(sub, ["forecast"], seasonality=m, train_df=train)
    np.testing.assert_allclose(
        ours.loc[plain, "rmsse"], theirs.set_index("unique_id").loc[plain, "forecast"], rtol=1e-12
    )
    # where the scale falls back, utilsforecast's own scaled losses are not finite or differ
    assert scales.loc["s5", "scale_lag"] == 1 and scales.loc["s7", "scale_mae"] == 1.0
