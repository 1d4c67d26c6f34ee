"""Known answers for the accuracy metrics (demandcast.metrics), and utilsforecast's agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from utilsforecast import losses

from demandcast.metrics import METRIC_COLUMNS, score_arrays, seasonal_scales


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
