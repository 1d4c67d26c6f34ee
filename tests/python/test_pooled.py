"""The global model (demandcast.pooled): one autoregression learned across every series."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import pytest

from demandcast.backtest import BacktestStats, fit_pooled, run_backtest
from demandcast.catalog import load_catalog
from demandcast.config import Settings
from demandcast.forecast import forecast_series
from demandcast.frames import SeriesBatches, synthetic_series
from demandcast.pooled import GlobalAR, GlobalGBM, busy_cores, tree_threads

POOLED = ("AutoETS", "GlobalAR", "ComboGlobal")


def _settings(**kw) -> Settings:
    return Settings(**{"candidates": ("GlobalAR",), "n_jobs": 1, **kw})


def _windows(y: np.ndarray, lags: int, h: int, level_span: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's training rows written out the long way: one window at a time."""
    xs, ts = [], []
    for s in range(len(y) - lags - h + 1):
        w = y[s : s + lags + h]
        level = w[lags - level_span : lags].mean()
        if level > 0:
            z = np.log1p(np.maximum(w / level, 0))
            xs.append(np.r_[z[:lags], 1.0])
            ts.append(z[lags:])
    return np.array(xs), np.array(ts)


def test_the_weights_are_the_ridge_solution_over_every_series_windows():
    rng = np.random.default_rng(0)
    ys = [rng.gamma(3, 10, n) for n in (40, 55, 70, 20)]  # the last: whole windows at offset 0 only
    model = GlobalAR(lags=12, horizon=6, season_length=12, ridge=0.01).fit(ys, [0, 6])
    for offset in (0, 6):
        parts = [_windows(y[: len(y) - offset], 12, 6, 12) for y in ys]
        parts = [p for p in parts if len(p[0])]
        x = np.concatenate([p[0] for p in parts])
        t = np.concatenate([p[1] for p in parts])
        penalty = np.diag(np.r_[np.full(12, 0.01 * len(x)), 0.0])  # the intercept is free
        expected = np.linalg.solve(x.T @ x + penalty, x.T @ t)
        np.testing.assert_allclose(model.weights[offset], expected, rtol=1e-9)
        assert model.n_windows[offset] == len(x)


def test_a_panel_of_one_repeating_shape_is_continued_at_each_series_level():
    shape = 1 + 0.5 * np.sin(2 * np.pi * np.arange(120) / 12)
    ys = [level * shape[: 60 + 5 * i] for i, level in enumerate((3.0, 40.0, 900.0, 7.0))]
    model = GlobalAR(lags=24, horizon=12, season_length=12, ridge=1e-8).fit(ys, [0])
    for y in ys:
        n = len(y)
        expected = y[0] / shape[0] * shape[n : n + 12]
        np.testing.assert_allclose(model.predict(y), expected, rtol=1e-4)


def test_short_zero_and_unlearned_histories():
    model = GlobalAR(lags=24, horizon=6, season_length=12).fit([np.arange(1.0, 60)], [0])
    assert np.isfinite(model.predict(np.array([5.0, 6.0, 7.0]))).all()  # padded in front
    np.testing.assert_array_equal(model.predict(np.r_[np.ones(30), np.zeros(12)]), 0.0)
    assert np.isnan(model.predict(np.arange(1.0, 60), offset=6)).all()  # no weights there
    assert (model.predict(np.r_[np.ones(40), 1e6]) <= 20 * 1e6).all()  # the growth cap


@pytest.mark.parametrize("name", ["GlobalAR", "GlobalGBM"])
def test_no_window_sees_the_future_of_any_series(name):
    # a window's model learns from every series up to that window's origin: changing what
    # comes after it, on every series, changes nothing of that window's forecasts
    series, profiles = synthetic_series(16, 156, seed=2)
    settings = _settings(candidates=(name,))
    catalog = load_catalog().at_season(52)
    cands = catalog.resolve(settings.candidates, 52)
    h = settings.horizon
    last = series.groupby("series_id")["period_start"].transform("max")
    cut = series["period_start"] > (pd.Timestamp(last.iloc[0]) - pd.Timedelta(weeks=h)).date()
    changed = series.assign(demand=np.where(cut, series["demand"] * 5 + 100, series["demand"]))
    offsets = [h + k * settings.step_size for k in range(3)]

    def fitted(panel, at=None):
        return fit_pooled(catalog, cands, settings, profiles, SeriesBatches.of(panel), at)[name]

    before, after = fitted(series), fitted(changed)
    assert sorted(before.n_windows) == offsets
    old = [g.to_numpy(float) for _, g in series.groupby("series_id")["demand"]]
    new = [g.to_numpy(float) for _, g in changed.groupby("series_id")["demand"]]
    for offset in offsets:
        np.testing.assert_array_equal(
            before.predict_batch([y[:-offset] for y in old], offset),
            after.predict_batch([y[:-offset] for y in new], offset),
        )
    # and the forecast after the end does learn from the changed periods
    assert not np.array_equal(
        fitted(series, [0]).predict_batch(new), fitted(changed, [0]).predict_batch(new)
    )


def test_the_trees_share_max_rows_among_the_series_and_predict_in_batches():
    rng = np.random.default_rng(1)
    shape = 1 + 0.4 * np.sin(2 * np.pi * np.arange(102) / 12)
    ys = [rng.uniform(5, 500) * shape[:96] * rng.gamma(20, 1 / 20, 96) for _ in range(40)]
    catalog = load_catalog()
    model = catalog.pooled("GlobalGBM", 12, 6)
    model.max_rows, model.n_series = 400, len(ys)  # 10 windows a series, of 67
    model.fit(ys, [0, 6])
    assert model.n_windows == {0: 400, 6: 400}
    batch = model.predict_batch(ys)
    np.testing.assert_array_equal(batch[3], model.predict(ys[3]))
    assert np.isfinite(batch).all() and (batch >= 0).all()
    # the shape carries on at each series' level: the next months' ratio to the last season
    ratio = batch / np.array([y[-12:].mean() for y in ys])[:, None]
    np.testing.assert_allclose(np.median(ratio, axis=0), shape[96:102], rtol=0.1)
    with pytest.raises(ValueError, match="GlobalGBM takes no \\['ridge'\\]"):
        from demandcast.catalog import pooled_kwargs

        pooled_kwargs(catalog.candidates["GlobalGBM"], {"ridge": 1.0})


def test_the_catalog_trees_forecast_the_median_not_the_mean_of_a_skewed_panel():
    """Every series steps up to a new level at the end of a window now and then: the median
    continuation is the flat level, the mean is pulled up by the steps. The catalog's
    trees (absolute error) forecast the flat level; on squared error they sit above it."""
    rng = np.random.default_rng(3)
    ys = []
    for _ in range(60):
        y = np.full(120, 100.0)
        for start in rng.choice(np.arange(30, 110), size=4, replace=False):
            y[start:] *= 3.0
        ys.append(y * rng.gamma(400, 1 / 400, 120))
    model = load_catalog().pooled("GlobalGBM", 12, 3)
    assert model.loss == "absolute_error"
    model.n_series = len(ys)
    squared = load_catalog().pooled("GlobalGBM", 12, 3)
    squared.loss, squared.n_series = "squared_error", len(ys)
    last = [y[-24:] for y in ys]  # a flat last two years
    ratio = model.fit(ys, [0]).predict_batch(last) / np.array([y[-1] for y in last])[:, None]
    ratio_sq = squared.fit(ys, [0]).predict_batch(last) / np.array([y[-1] for y in last])[:, None]
    np.testing.assert_allclose(np.median(ratio), 1.0, atol=0.03)
    assert np.median(ratio_sq) > np.median(ratio) + 0.05
    with pytest.raises(ValueError, match="GlobalGBM: loss 'poisson' is not one of"):
        GlobalGBM(lags=24, horizon=3, season_length=12, loss="poisson")


def test_the_backtest_scores_the_global_model_and_its_combination_batch_by_batch():
    series, profiles = synthetic_series(24, 156, seed=5)
    settings = _settings(candidates=POOLED)
    stats = BacktestStats()
    whole = run_backtest(series, profiles, settings, stats=stats)
    rows = whole.set_index(["series_id", "model_name"])
    smooth = profiles.loc[profiles["demand_class"].isin(["smooth", "erratic"]), "series_id"]
    ours = rows.loc[(slice(None), ["GlobalAR", "ComboGlobal"]), :]
    ok = ours[ours["status"] == "ok"]
    assert set(ok.index.get_level_values(0)) == set(smooth.astype(str))  # routed by class
    assert ok["mase"].notna().all() and len(ok) == 2 * len(smooth)
    # ComboGlobal's three local members on 3 windows; the global model is no StatsForecast fit
    assert stats.n_fits == len(smooth) * 3 * 3
    # batches with the panel's own fit change no number (as pipeline.backtest_run passes it)
    catalog = load_catalog().at_season(52)
    cands = catalog.resolve(settings.candidates, 52)
    pooled = fit_pooled(catalog, cands, settings, profiles, SeriesBatches.of(series))
    ids = sorted(series["series_id"].unique())
    parts = [
        run_backtest(series[series["series_id"].isin(b)], profiles, settings, pooled=pooled)
        for b in (ids[:7], ids[7:])
    ]
    batched = pd.concat(parts).sort_values(["series_id", "model_name"], ignore_index=True)
    pd.testing.assert_frame_equal(
        whole.sort_values(["series_id", "model_name"], ignore_index=True), batched
    )


def test_a_global_champion_is_forecast_from_weights_learned_on_the_whole_panel():
    series, profiles = synthetic_series(12, 156, seed=7)
    smooth = profiles.loc[profiles["demand_class"] == "smooth", "series_id"].astype(str)
    champions = pd.DataFrame({"series_id": smooth, "champion": "ComboGlobal"})
    settings = _settings(candidates=POOLED)
    fc = forecast_series(series, profiles, champions, settings)
    mine = fc[fc["series_id"].isin(smooth)]
    assert (mine["model_name"] == "ComboGlobal").all() and (mine["method"] == "champion").all()
    assert mine["forecast"].notna().all() and (mine["forecast"] >= 0).all()
    # the mean of its members: AutoETS refit here, GlobalAR from the panel's weights
    catalog = load_catalog().at_season(52)
    model = fit_pooled(
        catalog, [catalog.candidates["GlobalAR"]], settings, profiles, SeriesBatches.of(series), [0]
    )["GlobalAR"]
    one = smooth.iloc[0]
    y = series.loc[series["series_id"] == one, "demand"].to_numpy(float)
    alone = forecast_series(
        series, profiles, champions.assign(champion="GlobalAR"), settings
    ).set_index(["series_id", "step"])
    np.testing.assert_allclose(
        alone.loc[one, "forecast"].to_numpy(), model.predict(y)[: settings.horizon], rtol=1e-9
    )
    # a subset forecast in its own run (fit_ids) learns from the same panel: same numbers
    part = forecast_series(series, profiles, champions, settings, fit_ids={one})
    pd.testing.assert_frame_equal(
        part.reset_index(drop=True), fc[fc["series_id"] == one].reset_index(drop=True)
    )


def test_a_pooled_entry_is_not_built_as_a_statsforecast_model():
    catalog = load_catalog()
    with pytest.raises(ValueError, match="learned across series"):
        catalog.build("GlobalAR", 12)
    assert catalog.pooled("GlobalAR", 12, 18).lags == 24
    assert catalog.pooled("GlobalAR", 1, 18).lags == 8  # min_lags without a season


def test_a_past_global_forecast_is_rebuilt_from_the_memory_and_its_learners(tmp_path):
    """pipeline.rebuild_forecast of a few series whose champion has a global member: the
    model learns again from every backtested series of its classes on record in the run's
    registry (not only the series asked for), so the rebuilt forecast is the recorded one."""
    from demandcast.pipeline import rebuild_forecast
    from demandcast.retrain import history_fingerprints

    series, profiles = synthetic_series(16, 156, seed=4)
    profiles["is_backtestable"] = True
    settings = _settings(candidates=POOLED)
    ids = profiles["series_id"].astype(str)
    smooth = ids[profiles["demand_class"] == "smooth"].tolist()
    champions = pd.DataFrame(
        {"series_id": smooth, "champion": "ComboGlobal", "interval_scale": 1.0, "scale_mae": 1.0}
    )
    recorded = forecast_series(series, profiles, champions, settings).set_index("series_id")
    keys = ("backtest_refit", "candidates", "ensemble_top_k", "frequency", "horizon")
    keys += ("intermittent_metric", "levels", "min_train_length", "n_windows", "race_share")
    keys += ("reconciliation", "route_by_class", "season_length", "selection_margin")
    keys += ("selection_metric", "single_margin", "step_size")
    registry = (
        profiles[["series_id", "demand_class"]]
        .assign(series_id=ids, run_id="r1", n_windows=2)
        .merge(champions, on="series_id", how="left")
        .merge(history_fingerprints(series)[["series_id", "history_fingerprint"]])
        .assign(
            settings=json.dumps({k: getattr(settings, k) for k in keys}),
            forecast_origin=pd.to_datetime(series["period_start"]).max(),
        )
    )
    db = tmp_path / "memory.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("registry", registry)
        con.register("history", series)
        con.execute("create table fct_model_registry as select * from registry")
        con.execute("create table fct_demand_history as select * from history")
        con.execute(  # none on record: the intervals are the Gaussian fallback, both times
            "create table demandcast_calibration_memory (run_id varchar, demand_class varchar)"
        )
        rebuilt = rebuild_forecast(con, "r1", smooth[:2]).set_index("series_id")
        cols = ["model_name", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
        pd.testing.assert_frame_equal(rebuilt[cols], recorded.loc[smooth[:2], cols])
        # the learners' history is checked too: a restated one is refused
        con.execute(
            "update fct_demand_history set demand = demand + 1 where series_id = ?", [ids[1]]
        )
        with pytest.raises(ValueError, match="differs from the one the model was fitted on"):
            rebuild_forecast(con, "r1", smooth[:1])


def test_a_panel_too_short_to_learn_from_skips_the_global_model_with_the_reason():
    # 60 weekly periods: the windows of 52 lags and 13 steps fit at the origin only, never
    # before a backtest window's origin; the rows say so (skipped, not failed)
    series, profiles = synthetic_series(8, 60, seed=3)
    profiles["is_backtestable"] = True
    out = run_backtest(series, profiles, _settings(candidates=("GlobalAR", "Naive")))
    rows = out[out["model_name"] == "GlobalAR"]
    assert set(rows["status"]) == {"skipped"}
    routed = rows["error_message"].str.startswith("not run on")  # intermittent and lumpy
    assert rows.loc[~routed, "error_message"].str.contains("52 periods of lags and 13").all()
    assert (~routed).sum() == 4
    assert (out.loc[out["model_name"] == "Naive", "status"] == "ok").all()


def test_the_trees_take_no_more_threads_than_other_work_leaves_free(tmp_path):
    assert tree_threads(None, cores=2, busy=0) == 2
    assert tree_threads(2, cores=2, busy=1) == 1  # one core taken: one thread, no spinning
    assert tree_threads(None, cores=8, busy=3) == 5 and tree_threads(4, cores=8, busy=3) == 4
    assert tree_threads(2, cores=2, busy=5) == 1  # never none
    # Linux's run-queue count counts this process's running threads: '3/120' with the
    # reader alone running is two others; with a second thread of ours running, one
    fake = tmp_path / "loadavg"
    fake.write_text("1.52 1.10 0.90 3/120 4242\n")
    ours = tmp_path / "task"
    for tid, state in (("10", "R"), ("11", "S"), ("12", "S")):
        (ours / tid).mkdir(parents=True)
        (ours / tid / "stat").write_text(f"{tid} (python (x)) {state} 1 2 3\n")
    assert busy_cores(str(fake), tasks=str(ours)) == 2
    (ours / "11" / "stat").write_text("11 (python (x)) R 1 2 3\n")
    assert busy_cores(str(fake), tasks=str(ours)) == 1
    assert busy_cores(str(tmp_path / "missing")) == 0
    # a process spinning beside this one is seen
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert busy_cores() >= 1
    finally:
        spin.kill()
        spin.wait()
