"""Known answers for the accuracy metrics (demandcast.metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demandcast.metrics import score, score_arrays, seasonal_scales


def _history(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"unique_id": uid, "ds": pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=i), "y": v}
        for uid, ys in values.items()
        for i, v in enumerate(ys)
    ]
    return pd.DataFrame(rows)


def _long(uid: str, model: str, y: list[float], y_hat: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": uid, "model": model, "y": y, "y_hat": y_hat})


def test_point_metrics_match_hand_computed_values():
    # e = forecast - actual = [1, 0, -1, -2]
    df = _long("a", "m", [1, 2, 3, 4], [2, 2, 2, 2])
    scales = seasonal_scales(_history({"a": [1, 3, 2, 4, 3, 5]}), season_length=2)
    r = score(df, scales).iloc[0]
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
    df = pd.concat(
        [
            _long("a", "good", [10, 10], [10, 10]),
            _long("a", "bad", [10, 10], [14, 6]),
            _long("b", "good", [0, 4], [1, 3]),
            _long("b", "bad", [0, 4], [0, 0]),
        ]
    )
    r = score(df).set_index(["unique_id", "model"])
    assert r.loc[("a", "good"), "mae"] == 0
    assert r.loc[("a", "bad"), "mae"] == pytest.approx(4)
    assert r.loc[("a", "bad"), "bias"] == pytest.approx(0)
    assert r.loc[("b", "good"), "rmse"] == pytest.approx(1)
    assert r.loc[("b", "bad"), "wape"] == pytest.approx(1)
    assert r["mase"].isna().all()  # no scales given


def test_a_failed_forecast_makes_the_group_nan():
    df = _long("a", "m", [1, 2], [1, np.nan])
    r = score(df).iloc[0]
    assert np.isnan(r["mae"]) and np.isnan(r["rmse"])


def test_wape_of_all_zero_actuals():
    perfect = score(_long("a", "m", [0, 0], [0, 0])).iloc[0]
    wrong = score(_long("a", "m", [0, 0], [1, 0])).iloc[0]
    assert perfect["wape"] == 0 and perfect["smape"] == 0
    assert np.isnan(wrong["wape"])
    assert wrong["smape"] == pytest.approx(1.0)  # 2|1| / (0 + 1) = 2 on one of two points


def test_array_and_frame_versions_agree():
    rng = np.random.default_rng(0)
    y = rng.poisson(5, (3, 6)).astype(float)
    f = rng.normal(5, 2, (3, 6, 2))
    s_mae, s_mse = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])
    arr = score_arrays(y, f, s_mae, s_mse)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(["a", "b", "c"], 12),
            "model": np.tile(np.repeat(["m0", "m1"], 1), 18),
            "y": np.repeat(y.ravel(), 2),
            "y_hat": f.ravel(),
        }
    )
    scales = pd.DataFrame({"scale_mae": s_mae, "scale_mse": s_mse}, index=["a", "b", "c"])
    r = score(frame, scales).set_index(["unique_id", "model"])
    for i, uid in enumerate("abc"):
        for j in range(2):
            for col in ("mae", "rmse", "bias", "smape", "wape", "mase", "rmsse"):
                assert r.loc[(uid, f"m{j}"), col] == pytest.approx(arr[col][i, j])
