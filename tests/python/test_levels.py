"""Forecasts at every level (demandcast.levels, int_forecast__levels, fct_demand_forecast_levels):
the hierarchy, the champions' window forecasts read back from the backtest memory, the
choice that keeps the base when reconciliation loses there, and the published levels of
the shared demo build adding up."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsforecast import StatsForecast

from demandcast import levels
from demandcast.backtest import run_backtest
from demandcast.catalog import Guarded, load_catalog
from demandcast.config import Settings
from demandcast.frames import to_sf
from demandcast.intervals import Calibration
from demandcast.pipeline import _with_residuals

SETTINGS = Settings.from_mapping(
    {"frequency": "month", "horizon": 6, "season_length": 12, "n_jobs": 1, "n_windows": 2}
)
SERIES = pd.DataFrame(
    [
        ("A|P1", "A", "P1", "G1"),
        ("A|P2", "A", "P2", "G1"),
        ("A|P3", "A", "P3", None),
        ("B|P1", "B", "P1", "G1"),
        ("B|P|4", "B", "P|4", "G2"),
    ],
    columns=["series_id", "plant_id", "product_id", "product_group"],
)


def _history(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-01", periods=n, freq="MS")
    rows = []
    for k, sid in enumerate(SERIES["series_id"]):
        level = 20.0 + 10 * k
        season = 1 + 0.3 * np.sin(np.arange(n) * 2 * np.pi / 12 + k)
        y = np.maximum(0.0, level * season + rng.normal(0, level * 0.15, n))
        rows.append(pd.DataFrame({"series_id": sid, "period_start": dates, "demand": y}))
    return pd.concat(rows, ignore_index=True)


def _base_forecasts(h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every base series' forecast (10, 11, ... over h months, fixed intervals) and its
    champion (Theta)."""
    future = pd.date_range("2025-01-01", periods=h, freq="MS")
    preds = pd.DataFrame(
        [
            (sid, d, k + 1, 10.0 + k, 5.0, 20.0, 1.0, 30.0)
            for sid in SERIES["series_id"]
            for k, d in enumerate(future)
        ],
        columns=["series_id", "period_start", "step", "forecast", "lo_80", "hi_80"]
        + ["lo_95", "hi_95"],
    )
    return preds, SERIES[["series_id"]].assign(champion="Theta")


def test_every_level_and_its_summing_matrix() -> None:
    tree = levels.hierarchy(SERIES)
    nodes = tree.nodes
    count = nodes.groupby("level").size().to_dict()
    assert count == {
        "total": 1,
        "plant": 2,
        "product_group": 3,  # G1, G2 and the products without a group
        "product": 4,  # P1 across both plants
        "plant_product_group": 4,
        "plant_product": 5,
    }
    S = tree.S
    assert S.shape[1] == 5 and (S[-5:] == np.eye(5)).all()
    sums = {(lv, key): S[row].sum() for lv, key, row in nodes[["level", "level_key", "row"]].values}
    assert sums[("total", "total")] == 5
    assert sums[("plant", "A")] == 3
    assert sums[("product", "P1")] == 2
    assert sums[("product_group", "G1")] == 3
    assert sums[("product_group", levels.NO_GROUP)] == 1
    # an aggregate of one series is that series' own row; a '|' in an id is escaped
    p4 = nodes[(nodes["level"] == "product") & (nodes["level_key"] == "P\\|4")]
    last = list(tree.base_ids).index("B|P|4")
    assert len(p4) == 1 and p4["row"].item() == S.shape[0] - 5 + last
    assert nodes.loc[nodes["level"] == "product", "plant_id"].isna().all()
    # one plant: the plant is the total, one distinct row of S
    one = levels.hierarchy(SERIES[SERIES["plant_id"] == "A"])
    rows = one.nodes.set_index("level")["row"]
    assert rows["total"] == rows["plant"]


def test_a_large_hierarchy_is_a_sparse_sum():
    """10,000 base series in two plants: S holds one entry per series and distinct sum (a
    dense S was 1.2 GB, 4 GB to build, the peak of a 10,000-series build)."""
    from scipy import sparse

    ids = [
        (f"P{p}|{i:05d}", f"P{p}", f"{i:05d}", f"G{i % 40}") for p in (1, 2) for i in range(5000)
    ]
    tree = levels.hierarchy(
        pd.DataFrame(ids, columns=["series_id", "plant_id", "product_id", "product_group"])
    )
    assert sparse.issparse(tree.S) and tree.S.shape == (10000 + tree.n_aggregates, 10000)
    # each series: itself, the total, its plant, its group, its product, its plant's group
    assert tree.S.nnz == 10000 * 6
    assert np.array_equal(np.asarray(tree.S.sum(axis=1)).ravel()[:3], [10000, 5000, 5000])


@pytest.mark.parametrize("demand_class", ["smooth", "intermittent"])
def test_the_champions_window_forecasts_come_back_from_the_backtest_memory(demand_class) -> None:
    """The backtest keeps each candidate's scaled residuals; the levels read the window
    forecasts back from them: equal to StatsForecast's own cross-validation. A sparse
    class's residuals are scaled by the history's standard deviation, not its MASE scale
    (intervals.interval_base): read back by the same."""
    history = _history()
    profiles = SERIES[["series_id"]].assign(
        demand_class=demand_class, lifecycle="active", is_backtestable=True
    )
    settings = SETTINGS.with_(candidates=("Theta", "SeasonalNaive"))
    calibration = Calibration(keep_series=True)
    rows = run_backtest(history, profiles, settings, calibration=calibration)
    classes = profiles.set_index("series_id")["demand_class"]
    memory = _with_residuals(rows, classes, calibration)
    champions = profiles[["series_id"]].assign(champion="Theta")
    tree = levels.hierarchy(SERIES)
    y, dates, starts = levels._matrix(history, tree.base_ids)
    pos = levels._windows(len(dates) - 1, settings)
    got, have = levels.champion_windows(memory, champions, y, starts, tree.base_ids, pos, settings)
    assert have.all()
    # a champion named with its weights or members is its candidate's backtest row
    learned = memory.assign(model_name=memory["model_name"].replace({"Theta": "ComboLearned"}))
    named = champions.assign(champion="ComboLearned[lambda=1:ComboMean|Theta*1.000]")
    again, have = levels.champion_windows(learned, named, y, starts, tree.base_ids, pos, settings)
    assert have.all() and np.array_equal(again, got)
    # the dbt model hands the backtest over as a DuckDB relation: only the champions'
    # rows come back, the same as filtering the whole table in pandas
    con = duckdb.connect()
    read = levels.champion_rows(con, con.from_df(learned), named)
    assert set(read["model_name"]) == {"ComboLearned"} and len(read) == len(SERIES)
    in_pandas = learned[learned["model_name"] == "ComboLearned"]
    assert read.sort_values("series_id")["mae"].tolist() == (
        in_pandas.sort_values("series_id")["mae"].tolist()
    )
    again, have = levels.champion_windows(read, named, y, starts, tree.base_ids, pos, settings)
    assert have.all() and np.array_equal(again, got)
    catalog = load_catalog()  # as the backtest: estimated at the first window, then forward
    model = Guarded(catalog.build("Theta", 12), catalog.candidates["Theta"].forward)
    cv = StatsForecast(models=[model], freq="MS", n_jobs=1).cross_validation(
        df=to_sf(history), h=6, n_windows=2, step_size=settings.step_size, refit=False
    )
    want = cv.sort_values(["unique_id", "cutoff", "ds"])["Theta"].to_numpy().reshape(5, 12)
    order = np.argsort(tree.base_ids)  # cv is sorted by unique_id, as base_ids
    np.testing.assert_allclose(got, want[order], rtol=1e-5)


def test_reconciliation_is_kept_only_where_it_does_not_lose_at_the_base() -> None:
    names = [lv for lv, _ in levels.LEVELS]
    better_above = pd.DataFrame(
        {"bottom_up": 1.0, "mint_shrink": 0.8, "wls_struct": 0.9}, index=names
    )
    assert levels._choose(better_above) == ["mint_shrink", "wls_struct", "bottom_up"]
    loses_at_base = better_above.copy()
    loses_at_base.loc[levels.BASE, ["mint_shrink", "wls_struct"]] = 1.01
    assert levels._choose(loses_at_base) == ["bottom_up"]
    loses_at_base.loc[levels.BASE, "wls_struct"] = 1.0  # ties at the base: kept
    assert levels._choose(loses_at_base) == ["wls_struct", "bottom_up"]
    assert levels._choose(better_above.assign(mint_shrink=np.nan)) == ["wls_struct", "bottom_up"]


def test_a_level_with_no_scored_node_has_no_median_and_no_warning() -> None:
    tree = levels.hierarchy(SERIES)
    n = tree.S.shape[0]
    own = np.full(n, np.nan)  # forecasts of their own at the base only
    base_rows = tree.nodes.loc[tree.nodes["level"] == levels.BASE, "row"].to_numpy()
    own[base_rows] = 0.5
    bu = np.linspace(1.0, 2.0, n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" would raise here
        per = levels._per_level(tree, {"bottom_up": bu, "own": own})
    assert per.loc[levels.BASE, "own"] == 0.5
    assert per.loc[["total", "plant"], "own"].isna().all()  # sums of several series
    total = tree.nodes.loc[tree.nodes["level"] == "total", "row"].to_numpy()
    assert per.loc["total", "bottom_up"] == pytest.approx(bu[total].mean())
    # a level's figure is its nodes' median: one node with a scale near 0 does not decide it
    bu[base_rows[0]] = 1e6
    per = levels._per_level(tree, {"bottom_up": bu})
    assert per.loc[levels.BASE, "bottom_up"] == pytest.approx(np.median(bu[base_rows]))
    assert per.loc[levels.BASE, "bottom_up"] < 3


def test_a_node_with_no_scored_period_has_no_mase_and_no_warning() -> None:
    y = np.array([[1.0, 2.0, np.nan], [np.nan, np.nan, np.nan]])
    f = np.array([[2.0, 2.0, 5.0], [1.0, 1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = levels._mase(y, f, np.array([0.5, 1.0]))
    assert got[0] == pytest.approx(1.0) and np.isnan(got[1])  # (1 + 0) / 2 / 0.5


def test_every_level_adds_up_and_bottom_up_keeps_the_base() -> None:
    history = _history()
    h = SETTINGS.horizon
    preds, champions = _base_forecasts(h)
    out = levels.reconcile_levels(history, SERIES, preds, champions, pd.DataFrame(), SETTINGS)
    assert len(out) == 19 * h
    sums = out.groupby(["level", "step"])["forecast"].sum().unstack()
    np.testing.assert_allclose(sums.to_numpy(), np.tile(sums.loc["total"], (6, 1)))
    assert (out["forecast"] >= 0).all()
    for lv in SETTINGS.levels:
        assert (out[f"lo_{lv}"] <= out["forecast"] + 1e-9).all()
        assert (out[f"hi_{lv}"] >= out["forecast"] - 1e-9).all()
    chosen = out["reconciliation"].unique()
    assert len(chosen) == 1 and chosen[0] in levels.METHODS
    if chosen[0] == "bottom_up":  # the base is the champions' forecast, untouched
        base = out[out["level"] == levels.BASE].merge(
            preds, left_on=["level_key", "step"], right_on=["series_id", "step"]
        )
        np.testing.assert_allclose(base["forecast_x"], base["forecast_y"])
    evidence = out.drop_duplicates("level").set_index("level")
    assert evidence.loc[levels.BASE, "backtest_mase"] <= evidence.loc[levels.BASE, "bottom_up_mase"]
    # an aggregate of one series (P2, P3 and P|4 are sold in one plant) keeps its interval
    one = out[(out["level"] == "product") & (out["n_series"] == 1)].set_index(
        ["product_id", "step"]
    )
    base = out[out["level"] == levels.BASE].set_index(["product_id", "step"])
    assert len(one) == 3 * h
    for lv in SETTINGS.levels:
        cols = [f"lo_{lv}", f"hi_{lv}"]
        np.testing.assert_allclose(one[cols].to_numpy(), base.loc[one.index, cols].to_numpy())
    assert not np.allclose(  # while a product of two plants pools its level's errors
        out.loc[out["level_key"] == "P1", "hi_80"].to_numpy(), 2 * 20.0
    )


def test_the_aggregates_forecasts_are_reused_only_from_the_same_inputs() -> None:
    """A run with the same aggregate histories, windows and settings takes the aggregate
    model's forecasts from its own last output (no fit); any change fits again."""
    history = _history()
    h, w = SETTINGS.horizon, SETTINGS.n_windows
    preds, champions = _base_forecasts(h)

    def run(hist, previous=None):
        return levels.reconcile_levels(
            hist, SERIES, preds, champions, pd.DataFrame(), SETTINGS, previous=previous
        )

    first = run(history)
    agg = first["own_inputs"].notna()
    tree = levels.hierarchy(SERIES)
    assert agg.sum() == (tree.nodes["row"] < tree.n_aggregates).sum() * h > 0
    assert first.loc[~agg, "own_backtest"].isna().all()
    assert (first.loc[agg, "own_backtest"].map(len) == w).all()
    assert first.loc[agg, "own_inputs"].nunique() == 1
    again = run(history, previous=first)
    pd.testing.assert_frame_equal(again, first)
    # what is reused is what the last output holds: doubled there, doubled here
    doctored = first.assign(own_future=first["own_future"] * 2)
    doubled = run(history, previous=doctored)
    np.testing.assert_allclose(
        doubled.loc[agg, "own_future"], 2 * first.loc[agg, "own_future"], rtol=1e-12
    )
    # one new value in one series changes the key: fitted again, not taken from `doctored`
    changed = history.copy()
    changed.loc[changed.index[-1], "demand"] += 50.0
    fresh, refit = run(changed), run(changed, previous=doctored)
    assert fresh.loc[agg, "own_inputs"].iloc[0] != first.loc[agg, "own_inputs"].iloc[0]
    pd.testing.assert_frame_equal(refit, fresh)
    # an output without the reuse columns (an older warehouse) fits
    pd.testing.assert_frame_equal(run(history, previous=first.drop(columns="own_inputs")), first)


@pytest.mark.xdist_group("built")
def test_the_published_levels_add_up_to_fct_demand_forecast(built) -> None:
    q = lambda sql: built.query(sql, built.published)  # noqa: E731
    found = {lv for (lv,) in q("select distinct level from fct_demand_forecast_levels")}
    assert found == {lv for lv, _ in levels.LEVELS}
    (bad,) = q("""
        with b as (select period_start, sum(forecast) as f from fct_demand_forecast group by 1),
        l as (select level, period_start, sum(forecast) as f
            from fct_demand_forecast_levels group by 1, 2)
        select count(*) from l join b using (period_start)
        where abs(l.f - b.f) > 1e-6 * greatest(1, b.f)""")[0]
    assert bad == 0
    (n_base, n_fct, n_diff) = q("""
        select count(*), (select count(*) from fct_demand_forecast),
            count(*) filter (where abs(l.forecast - f.forecast) > 1e-9 or l.lo_80 <> f.lo_80)
        from fct_demand_forecast_levels as l join fct_demand_forecast as f
            on l.level = 'plant_product' and l.level_key = f.series_id
            and l.period_start = f.period_start""")[0]
    assert n_base == n_fct > 0 and n_diff == 0
    (n_total, no_interval) = q("""select count(*), count(*) filter (where lo_80 is null
        or hi_95 is null) from fct_demand_forecast_levels where level = 'total'""")[0]
    assert n_total > 0 and no_interval == 0
    assert "reconciliation:" in built.output


def test_an_aggregate_interval_is_as_wide_either_side_when_the_backtest_ran_low() -> None:
    """On a steep trend the backtest's (seasonal naive) windows all run low, so the
    aggregates' errors are all positive: the interval is their size either side of the
    point (signed quantiles would start it at the point, and hold nothing below)."""
    history = _history()
    months = history.groupby("series_id").cumcount().to_numpy()
    history = history.assign(demand=history["demand"] * 1.1**months)
    preds, champions = _base_forecasts(SETTINGS.horizon)
    out = levels.reconcile_levels(history, SERIES, preds, champions, pd.DataFrame(), SETTINGS)
    total = out[out["level"] == "total"]
    for lv in SETTINGS.levels:
        assert (out[f"lo_{lv}"] <= out["forecast"] + 1e-9).all(), lv
        assert (out[f"lo_{lv}"] <= out[f"hi_{lv}"]).all(), lv
    for lv in SETTINGS.levels:
        half = total[f"hi_{lv}"] - total["forecast"]
        assert (half > 0).all(), lv
        np.testing.assert_allclose(total[f"lo_{lv}"], np.maximum(total["forecast"] - half, 0))
        assert (total[f"lo_{lv}"] < total["forecast"]).all(), lv
    assert (total["hi_95"] > total["hi_80"]).all()


def test_a_plant_closure_scales_its_aggregates_own_forecast_and_interval() -> None:
    """Plant A's step 3 is a closure week at 0.2: its series' forecasts arrive scaled
    (int_forecast__predictions); the aggregates' own models cannot see it, so their
    forecasts take the share of their bottom-up forecast the closure left (plant A 0.2,
    the total less; plant B and the other steps as without it), and the half-width of
    their intervals its square root, as the series' (closures.apply)."""
    history = _history()
    h = SETTINGS.horizon
    preds, champions = _base_forecasts(h)
    plain = levels.reconcile_levels(history, SERIES, preds, champions, pd.DataFrame(), SETTINGS)
    closures = pd.DataFrame({"plant_id": ["A"], "step": [3], "closure_factor": [0.2]})
    in_a = preds["series_id"].str.startswith("A|") & (preds["step"] == 3)
    cols = ["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    shut = preds.copy()
    shut.loc[in_a, cols] = shut.loc[in_a, cols] * 0.2
    out = levels.reconcile_levels(
        history, SERIES, shut, champions, pd.DataFrame(), SETTINGS, closures=closures
    )
    key = ["level", "level_key", "step"]
    a, b = plain.set_index(key), out.set_index(key)
    assert b.loc[("plant", "A", 3), "own_forecast"] == pytest.approx(
        0.2 * a.loc[("plant", "A", 3), "own_forecast"]
    )
    share = (3 * 12 * 0.2 + 2 * 12) / (5 * 12)  # the total: A's three series at 0.2 of 12
    assert b.loc[("total", "total", 3), "own_forecast"] == pytest.approx(
        share * a.loc[("total", "total", 3), "own_forecast"]
    )
    for node, scale in [(("plant", "A", 3), 0.2), (("total", "total", 3), share)]:
        for lv in SETTINGS.levels:
            half = b.loc[node, f"hi_{lv}"] - b.loc[node, "forecast"]
            assert half == pytest.approx(
                np.sqrt(scale) * (a.loc[node, f"hi_{lv}"] - a.loc[node, "forecast"])
            )
    for node in [("plant", "B", 3), ("plant", "A", 2), ("total", "total", 4)]:
        assert b.loc[node, "own_forecast"] == pytest.approx(a.loc[node, "own_forecast"])
        assert b.loc[node, "hi_80"] == pytest.approx(a.loc[node, "hi_80"])
