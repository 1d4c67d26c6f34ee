"""Learned combination weights (demandcast.stacking) and ComboLearned end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from demandcast.backtest import run_backtest
from demandcast.config import Settings
from demandcast.forecast import forecast_series
from demandcast.frames import profile_series
from demandcast.selection import select_champions
from demandcast.stacking import (
    LEARNED,
    MIN_LEARN_SERIES,
    MIN_WEIGHT,
    Stacking,
    format_weights,
    parse_weights,
    weights_on_simplex,
)


def test_independent_errors_are_weighted_by_their_inverse_variance():
    # errors of variance 1 and 4, uncorrelated: the optimal weights are 4/5 and 1/5
    w = weights_on_simplex(np.array([[[1.0, 0.0], [0.0, 4.0]]]))[0]
    assert w == pytest.approx([0.8, 0.2], abs=1e-6)


def test_errors_that_cancel_are_combined_and_a_worse_member_gets_nothing():
    # A and B err in opposite directions (correlation -1): half of each is exact;
    # C's own error (variance 4) can only add to that
    a = np.array([[[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 4.0]]])
    w = weights_on_simplex(a)[0]
    assert w == pytest.approx([0.5, 0.5, 0.0], abs=1e-4)


def test_a_masked_member_gets_no_weight_and_the_rest_sum_to_one():
    a = np.array([[[1.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 0.01]]])
    w = weights_on_simplex(a, mask=np.array([[True, True, False]]))[0]
    assert w[2] == 0.0
    assert w.sum() == pytest.approx(1.0)
    assert w[:2] == pytest.approx([0.8, 0.2], abs=1e-6)


def test_weights_are_written_largest_first_and_read_back():
    text = format_weights(["A", "B", "C"], np.array([0.2, 0.8, 0.0]))
    assert text == "B*0.800|A*0.200"
    names, w = parse_weights(text.split("|"))
    assert names == ["B", "A"]
    assert w == pytest.approx([0.8, 0.2])


def _panel(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y (n, 30) and three members: A = y + N(0, 1), B = y + N(0, 2), C = y + 10 + N(0, 1)."""
    rng = np.random.default_rng(seed)
    y = rng.normal(100, 10, size=(n, 30))
    f = np.stack(
        [
            y + rng.normal(0, 1, y.shape),
            y + rng.normal(0, 2, y.shape),
            y + 10 + rng.normal(0, 1, y.shape),
        ],
        axis=2,
    )
    return y, f, np.zeros((n, 3), dtype=bool)


def test_class_weights_follow_the_evidence_and_each_series_is_scored_without_itself():
    n = 60
    y, f, failed = _panel(n)
    ids = np.array([f"s{i:02d}" for i in range(n)])
    stack = Stacking({"smooth": ("A", "B", "C")})
    ones = np.ones(n)
    stack.add(ids, np.repeat("smooth", n), ["A", "B", "C"], y, f, failed, ones, ones, 3)
    rows = stack.finish()
    pool, w, used = stack.weights["smooth"]
    assert used == n
    assert w[0] > 0.7 and w[1] > 0.1 and w[2] < 0.02  # A best, B some, the biased C none
    assert (rows["status"] == "ok").all() and len(rows) == n
    first = parse_weights(rows["members"].iloc[0].split("|"))
    assert first[0][0] == "A"
    # series 0's score uses weights learned on the 59 others: recompute them by hand
    e = f - y[:, :, None]
    mats = np.einsum("ntj,ntk->njk", e, e) / e.shape[1]
    norm = mats / (np.einsum("njj->n", mats) / 3)[:, None, None]
    keep = (w >= MIN_WEIGHT)[None, :]  # C's sliver of weight is left out, A and B re-weighted
    assert keep.tolist() == [[True, True, False]]
    w0 = weights_on_simplex(norm[1:].mean(axis=0)[None], keep)[0]
    fc0 = f[0] @ w0
    assert rows.set_index("series_id").loc["s00", "mae"] == pytest.approx(
        np.mean(np.abs(fc0 - y[0])), rel=1e-6
    )


def test_a_class_with_too_few_series_gets_skipped_rows_that_say_why():
    n = MIN_LEARN_SERIES - 1
    y, f, failed = _panel(n, seed=1)
    ids = np.array([f"s{i}" for i in range(n)])
    stack = Stacking({"smooth": ("A", "B", "C")})
    ones = np.ones(n)
    stack.add(ids, np.repeat("smooth", n), ["A", "B", "C"], y, f, failed, ones, ones, 3)
    rows = stack.finish()
    assert (rows["status"] == "skipped").all()
    assert rows["error_message"].str.contains(f"{MIN_LEARN_SERIES} are needed").all()
    assert "smooth" not in stack.weights


def test_a_learned_champion_forecasts_the_weighted_mean_of_its_members():
    y = np.arange(1.0, 61.0)  # a ramp: Naive forecasts 60, HistoricAverage 30.5
    periods = pd.date_range("2020-01-01", periods=len(y), freq="MS")
    series = pd.DataFrame({"series_id": "ramp", "period_start": periods.date, "demand": y})
    profiles = profile_series(series)
    champions = pd.DataFrame(
        {"series_id": ["ramp"], "champion": [f"{LEARNED}[Naive*0.750|HistoricAverage*0.250]"]}
    )
    settings = Settings(frequency="month", horizon=6, season_length=12, n_jobs=1)
    fc = forecast_series(series, profiles, champions, settings)
    assert fc["forecast"].to_numpy() == pytest.approx(np.full(6, 0.75 * 60 + 0.25 * 30.5))
    assert (fc["method"] == "champion").all()


def test_combo_learned_is_backtested_selected_and_forecast_on_real_shaped_data():
    # 40 seasonal series: the learned combination is scored on every one, its weights
    # reach the champion's name, and the forecast rebuilds it
    rng = np.random.default_rng(5)
    parts = []
    for i in range(40):
        t = np.arange(72)
        y = 100 + 0.5 * t + 20 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 5, 72)
        periods = pd.date_range("2019-01-01", periods=72, freq="MS")
        parts.append(
            pd.DataFrame(
                {"series_id": f"s{i:02d}", "period_start": periods.date, "demand": np.maximum(y, 0)}
            )
        )
    series = pd.concat(parts, ignore_index=True)
    profiles = profile_series(series)
    cands = ("Theta", "SESOptimized", "SeasonalNaive", "HistoricAverage", "ComboLearned")
    settings = Settings(frequency="month", horizon=6, season_length=12, n_jobs=1, candidates=cands)
    metrics = run_backtest(series, profiles, settings)
    learned = metrics[metrics["model_name"] == LEARNED]
    assert len(learned) == 40 and (learned["status"] == "ok").all()
    assert learned["members"].str.match(r"^[A-Za-z]").all()
    champions = select_champions(metrics, profiles, settings)
    chosen = champions["champion"].str.startswith(f"{LEARNED}[")
    assert chosen.any()
    fc = forecast_series(series, profiles, champions, settings)
    assert fc["forecast"].notna().all() and len(fc) == 40 * 6
    assert fc.loc[fc["model_name"].str.startswith(LEARNED), "lo_80"].notna().all()


def test_a_small_class_learns_with_the_classes_that_share_its_pool():
    y, f, failed = _panel(45, seed=3)
    ids = np.array([f"s{i:02d}" for i in range(45)])
    classes = np.array(["smooth"] * 40 + ["erratic"] * 5)
    pool = ("A", "B", "C")
    stack = Stacking({"smooth": pool, "erratic": pool, "intermittent": ("A", "B")})
    ones = np.ones(45)
    stack.add(ids, classes, ["A", "B", "C"], y, f, failed, ones, ones, 3)
    rows = stack.finish().set_index("series_id")
    assert (rows.loc[ids[40:], "status"] == "ok").all()  # 5 erratic series, learned with 45
    assert stack.weights["erratic"][2] == 45
    assert stack.weights["smooth"][2] == 40


def test_shrinkage_moves_the_learned_weights_towards_the_prior_by_the_factor():
    # learned alone: A about 0.8, B 0.2, the biased C nothing; half-way towards the equal
    # mean of B and C (the prior) adds a quarter to each of them, for scoring and forecasting
    n = 60
    y, f, failed = _panel(n, seed=2)
    ids = np.array([f"s{i:02d}" for i in range(n)])
    ones = np.ones(n)
    learned = Stacking({"smooth": ("A", "B", "C")})
    learned.add(ids, np.repeat("smooth", n), ["A", "B", "C"], y, f, failed, ones, ones, 3)
    rows = learned.finish().set_index("series_id")
    shrunk = Stacking({"smooth": ("A", "B", "C")}, {"smooth": ("B", "C")}, 0.5)
    shrunk.add(ids, np.repeat("smooth", n), ["A", "B", "C"], y, f, failed, ones, ones, 3)
    rows_shrunk = shrunk.finish().set_index("series_id")
    w = learned.weights["smooth"][1]
    assert shrunk.weights["smooth"][1] == pytest.approx(0.5 * w + [0, 0.25, 0.25], abs=1e-9)
    names, w0 = parse_weights(rows_shrunk.loc["s00", "members"].split("|"))
    assert w0[names.index("C")] == pytest.approx(shrunk.weights["smooth"][1][2], abs=1e-3)
    # C is biased by 10: the shrunk combination scores worse on every series
    assert (rows_shrunk["mae"] > rows["mae"]).all()


def test_the_catalog_names_the_prior_and_a_shrinkage_out_of_range_fails_at_load(tmp_path):
    from demandcast.catalog import CATALOG_PATH, load_catalog

    catalog = load_catalog()
    assert catalog.prior["smooth"] == ("AutoETS", "AutoCES", "DynamicOptimizedTheta")
    stack = Stacking.from_catalog(catalog, ["AutoETS", "AutoCES", "DynamicOptimizedTheta"])
    assert stack.shrink == catalog.shrink and stack.priors == catalog.prior
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["selection"]["shrink"] = 1.5
    bad = tmp_path / "catalog.yml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="selection.shrink must be a number from 0 to 1"):
        load_catalog(bad)
