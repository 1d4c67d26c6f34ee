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
    MIN_EVIDENCE,
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
    # 24 seasonal series (at least MIN_LEARN_SERIES): the learned combination is scored on
    # every one, its weights reach the champion's name, and the forecast rebuilds it
    n = 24
    assert n >= MIN_LEARN_SERIES
    rng = np.random.default_rng(5)
    parts = []
    for i in range(n):
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
    assert len(learned) == n and (learned["status"] == "ok").all()
    assert learned["members"].str.match(r"^[A-Za-z]").all()
    champions = select_champions(metrics, profiles, settings)
    chosen = champions["champion"].str.startswith(f"{LEARNED}[")
    assert chosen.any()
    fc = forecast_series(series, profiles, champions, settings)
    assert fc["forecast"].notna().all() and len(fc) == n * 6
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


def _last_window_case(
    n: int, a_after, grid, members=("B", "C"), seed: int = 0, cls: str = "smooth", silent=0
):
    """3 windows of 6 steps, 2 apart (their last steps overlap the last window), member A
    exact before the last window's origin and `a_after(y, cm)` from it on (in the last
    window and in the earlier windows' steps it overlaps); B and C noisy; the class
    champion CM is the mean of B and C, a combination of `members`; every series of
    demand class `cls`; the last `silent` series without demand from the origin on."""
    rng = np.random.default_rng(seed)
    h, n_win, step = 6, 3, 2
    y = rng.normal(100, 10, size=(n, n_win * h))
    after = np.array([s >= (n_win - 1 - w) * step for w in range(n_win) for s in range(h)])
    y[n - silent :, after] = 0.0
    b, c = y + rng.normal(0, 3, y.shape), y + rng.normal(0, 3, y.shape)
    cm = (b + c) / 2
    a = np.where(after, a_after(y, cm), y)
    stack = Stacking({cls: ("A", "B", "C")}, {cls: ("CM",)}, {"CM": members}, grid, step)
    ids = np.array([f"s{i:02d}" for i in range(n)])
    ones = np.ones(n)
    failed = np.zeros((n, 3), dtype=bool)
    f = np.stack([a, b, c], axis=2)
    stack.add(ids, np.repeat(cls, n), ["A", "B", "C"], y, f, failed, ones, ones, 3, {"CM": cm})
    return stack, stack.finish().set_index("series_id")


def _nested(n: int, after_origin_error: float, grid=(0.0, 0.5, 1.0), seed: int = 0):
    """A off by `after_origin_error` from the last window's origin on."""
    return _last_window_case(n, lambda y, cm: y + after_origin_error, grid, seed=seed)


def test_lambda_is_chosen_on_the_last_window_with_weights_from_before_its_origin():
    # A is exact on every point before the last window's origin and off by 50 after it:
    # weights learned on what came before the origin go all to A, and the last window,
    # where A is off, chooses lambda 0 (the class champion). A learner that saw the
    # earlier windows' steps past the origin (they overlap the last window) would not
    # put everything on A.
    stack, rows = _nested(60, 50.0)
    chosen = stack.chosen["smooth"]
    assert chosen["early_weights"] == "A*1.000"
    assert chosen["lambda"] == 0.0 and chosen["champion"] == "CM"
    assert chosen["last_window"][0.0] < chosen["last_window"][0.5] < chosen["last_window"][1.0]
    # lambda 0: ComboLearned stands aside and the class champion forecasts, unchanged
    assert (rows["status"] == "skipped").all()
    assert rows["error_message"].str.startswith("lambda 0: the class champion CM").all()


def test_where_the_learned_weights_hold_on_the_last_window_they_are_used_shrunk():
    # A is exact throughout: lambda 1 wins on the last window; with a grid of 0 and 0.5 the
    # weights used are half the learned ones (all A) and half CM's members, equally
    stack, rows = _nested(60, 0.0)
    assert stack.chosen["smooth"]["lambda"] == 1.0
    assert (rows["status"] == "ok").all()
    assert rows["members"].str.startswith("lambda=1:CM|A*1.000").all()
    half, rows = _nested(60, 0.0, grid=(0.0, 0.5))
    assert half.chosen["smooth"]["lambda"] == 0.5
    assert half.weights["smooth"][1] == pytest.approx([0.5, 0.25, 0.25], abs=1e-3)
    names, w = parse_weights(rows.loc["s00", "members"].split("|"))
    assert rows.loc["s00", "members"].startswith("lambda=0.5:CM|")
    assert dict(zip(names, w, strict=True)) == pytest.approx({"A": 0.5, "B": 0.25, "C": 0.25})


def _against_champion(
    factor: np.ndarray, members=("B", "C"), grid=(0.0, 1.0), cls: str = "smooth", silent=0
):
    """Grid (0, 1) by default: lambda 1 is A alone, and from the last window's origin on
    series i's error is `factor[i]` times that of the class champion CM: on the last
    window, lambda 1's score over lambda 0's is `factor`."""
    a_after = lambda y, cm: y + factor[:, None] * (cm - y)  # noqa: E731
    return _last_window_case(len(factor), a_after, grid, members, cls=cls, silent=silent)


def test_a_lambda_above_0_must_beat_the_champion_by_evidence_not_by_chance():
    # half the series 50 % better than the champion on the last window, half 80 % worse:
    # lambda 1 has the lower geometric mean (0.95 of the champion's) but the gain is within
    # the noise across series (under half a standard error): the champion stays
    stack, rows = _against_champion(np.tile([0.5, 1.8], 20))
    chosen = stack.chosen["smooth"]
    assert chosen["last_window"][1.0] == pytest.approx(0.9487 * chosen["last_window"][0.0], 1e-3)
    assert 0 < chosen["evidence"][1.0] < MIN_EVIDENCE
    assert chosen["lambda"] == 0.0
    assert (rows["status"] == "skipped").all()
    assert (
        rows["error_message"]
        .str.contains(r"lambda 1 beats the champion by 0\.\d standard errors, 2 needed")
        .all()
    )
    # every series 10 % better: a small gain, but on every series: lambda 1 is chosen
    stack, rows = _against_champion(np.full(40, 0.9))
    assert stack.chosen["smooth"]["evidence"][1.0] > MIN_EVIDENCE
    assert stack.chosen["smooth"]["lambda"] == 1.0
    assert (rows["status"] == "ok").all()


def test_an_intermittent_class_is_not_decided_by_the_few_series_a_forecast_hits_exactly():
    # 40 series: on the last window the learned weights' error is 10 % above the class
    # champion's on 34 and 0 on 6 (as a forecast of 0 over a window without demand). In
    # logs (a smooth class's geometric mean) each of the 6 outweighs the 34 together, by
    # evidence; an intermittent class averages the scores themselves, and there the
    # champion stays
    factor = np.r_[np.full(34, 1.1), np.zeros(6)]
    stack, _ = _against_champion(factor)
    assert stack.chosen["smooth"]["evidence"][1.0] > MIN_EVIDENCE
    assert stack.chosen["smooth"]["lambda"] == 1.0
    stack, rows = _against_champion(factor, cls="intermittent")
    chosen = stack.chosen["intermittent"]
    assert 0 < chosen["evidence"][1.0] < MIN_EVIDENCE
    assert chosen["lambda"] == 0.0
    assert chosen["last_window"][1.0] == pytest.approx(
        (34 * 1.1 * chosen["last_window"][0.0] + 0) / 40, rel=0.05
    )
    assert (rows["status"] == "skipped").all()


def test_a_last_window_without_demand_is_no_evidence_for_a_lambda():
    # the same 34 and 6, the 6 now without demand in the last window, where the learned
    # weights forecast 0 and the champion does not: they leave the comparison, and the
    # weights, 10 % worse on every series with demand, stand aside
    factor = np.r_[np.full(34, 1.1), np.zeros(6)]
    stack, _ = _against_champion(factor, silent=6)
    chosen = stack.chosen["smooth"]
    assert chosen["series"] == 34
    assert chosen["lambda"] == 0.0
    assert chosen["last_window"][1.0] == pytest.approx(1.1 * chosen["last_window"][0.0], 1e-6)


def test_a_champion_outside_the_learner_pool_is_compared_with_the_learned_weights_alone():
    # CM's members are not all in the pool (as ComboSimple's are not): nothing to shrink
    # towards, so lambda is 0 (CM) or 1 (the learned weights alone), by the same evidence
    stack, rows = _against_champion(np.full(40, 0.9), members=("B", "X"), grid=(0, 0.5, 1))
    assert set(stack.chosen["smooth"]["last_window"]) == {0, 1}
    assert stack.chosen["smooth"]["lambda"] == 1
    assert rows["members"].str.startswith("lambda=1:CM|A*1.000").all()
    stack, rows = _against_champion(np.full(40, 1.1), members=("B", "X"), grid=(0, 0.5, 1))
    assert stack.chosen["smooth"]["lambda"] == 0
    assert (rows["status"] == "skipped").all()


def test_the_catalog_names_the_shrinkage_grid_and_a_value_out_of_range_fails_at_load(tmp_path):
    from demandcast.catalog import CATALOG_PATH, load_catalog

    catalog = load_catalog()
    assert catalog.shrink == (0.0, 0.25, 0.5, 0.75, 1.0)
    stack = Stacking.from_catalog(catalog, ["AutoETS", "AutoCES", "DynamicOptimizedTheta"])
    assert stack.grid == catalog.shrink
    assert stack.members["ComboMedian4"] == ("AutoETS", "AutoCES", "DynamicOptimizedTheta", "Theta")
    assert "ComboLearned" not in stack.champions["smooth"]
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["selection"]["shrink"] = [0, 1.5]
    bad = tmp_path / "catalog.yml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="selection.shrink must be a list of numbers from 0 to 1"):
        load_catalog(bad)
