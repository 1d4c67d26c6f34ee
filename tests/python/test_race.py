"""The backtest race (demandcast.race): contenders everywhere, the rest on raced series."""

from __future__ import annotations

import numpy as np
import pandas as pd

from demandcast.backtest import run_backtest
from demandcast.catalog import load_catalog
from demandcast.config import Settings
from demandcast.frames import profile_series
from demandcast.race import MIN_SCOUT_SERIES, PROMOTE_WINS, Race

# smooth series: with ComboLearned, its learner pool's members among these are contenders
CANDIDATES = (
    "Naive",
    "HistoricAverage",
    "WindowAverage13",
    "SESOptimized",
    "ComboSimple",
    "ComboLearned",
)


def _smooth_panel(n: int, seed: int = 0, periods: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    t = np.arange(periods)
    parts = []
    for i in range(n):
        y = 100 + 10 * np.sin(2 * np.pi * t / 12 + i) + rng.normal(0, 3, periods)
        when = pd.date_range("2020-01-01", periods=periods, freq="MS")
        parts.append(
            pd.DataFrame({"series_id": f"s{i:03d}", "period_start": when.date, "demand": y})
        )
    series = pd.concat(parts, ignore_index=True)
    return series, profile_series(series)


def _settings(**kw) -> Settings:
    base = dict(frequency="month", horizon=6, season_length=12, n_jobs=1, candidates=CANDIDATES)
    return Settings(**{**base, **kw})


def test_raced_series_are_a_share_of_each_class_at_least_thirty_and_chosen_by_id():
    _, profiles = _smooth_panel(400)
    catalog = load_catalog()
    cands = catalog.resolve(CANDIDATES, 12)
    race = Race.plan(profiles, _settings(race_share=0.1), catalog, cands)
    assert race.active
    assert len(race.scouts) == 40  # 10 % of 400
    few = Race.plan(profiles.iloc[:100], _settings(race_share=0.1), catalog, cands)
    assert len(few.scouts) == MIN_SCOUT_SERIES
    # a series is raced or not whatever the other series: the smaller panel's raced
    # series are the 30 lowest-ranked of its 100, so every one of the 400's among those
    # 100 is one of them
    assert race.scouts & set(profiles["series_id"][:100]) <= few.scouts
    everything = Race.plan(profiles, _settings(race_share=1.0), catalog, cands)
    assert not everything.active


def test_contenders_run_everywhere_and_the_rest_only_on_raced_series_saying_why():
    # 40 series: the class's 30 raced ones (MIN_SCOUT_SERIES) and 10 that are not
    series, profiles = _smooth_panel(40)
    out = run_backtest(series, profiles, _settings(race_share=0.1))
    catalog = load_catalog()
    race = Race.plan(profiles, _settings(race_share=0.1), catalog, catalog.resolve(CANDIDATES, 12))
    raced_ids = race.scouts
    contenders = catalog.contenders("smooth", catalog.resolve(CANDIDATES, 12))
    # the smooth learner pool (ComboLearned brings it); Naive, HistoricAverage, ... raced
    assert {"SESOptimized", "SeasonalNaive", "Theta", "AutoETS"} <= contenders
    assert not {"Naive", "HistoricAverage", "WindowAverage13"} & contenders
    naive = out[out["model_name"] == "Naive"].set_index("series_id")
    on_raced = naive.loc[sorted(raced_ids)]
    elsewhere = naive.drop(index=sorted(raced_ids))
    assert (on_raced["status"] == "ok").all()
    assert (elsewhere["status"] == "skipped").all()
    assert elsewhere["error_message"].str.contains("not a contender for smooth series").all()
    ses = out[out["model_name"] == "SESOptimized"]
    assert len(elsewhere) == 10
    assert (ses["status"] == "ok").all() and len(ses) == 40


def test_the_race_changes_no_number_of_what_runs():
    # 30 series: enough for ComboLearned to learn its weights (MIN_LEARN_SERIES)
    series, profiles = _smooth_panel(30, seed=2)
    raced = run_backtest(series, profiles, _settings(race_share=0.0))
    full = run_backtest(series, profiles, _settings(race_share=1.0))
    ok = raced[raced["status"] == "ok"].set_index(["series_id", "model_name"])
    same = full.set_index(["series_id", "model_name"]).loc[ok.index]
    pd.testing.assert_series_equal(ok["mase"], same["mase"])
    assert len(raced[raced["status"] == "ok"]) < len(full[full["status"] == "ok"])


def test_a_raced_candidate_that_beats_the_pool_outright_is_promoted():
    _, profiles = _smooth_panel(40)
    catalog = load_catalog()
    cands = catalog.resolve(CANDIDATES, 12)
    settings = _settings(race_share=0.5)
    race = Race.plan(profiles, settings, catalog, cands)
    scouts = sorted(race.scouts)
    rows = []
    for i, sid in enumerate(scouts):
        rows.append({"series_id": sid, "model_name": "ComboMean", "status": "ok", "mase": 1.0})
        # Naive 20x better than the pool on two raced series, worse elsewhere
        naive = 0.05 if i < PROMOTE_WINS else 2.0
        rows.append({"series_id": sid, "model_name": "Naive", "status": "ok", "mase": naive})
        rows.append(
            {"series_id": sid, "model_name": "HistoricAverage", "status": "ok", "mase": 0.5}
        )  # better, but not by single_margin
    race.decide(pd.DataFrame(rows), settings, catalog)
    assert "Naive" in race.promoted["smooth"]
    assert "HistoricAverage" not in race.promoted.get("smooth", {})
    assert race.runs("Naive", "smooth", scout=False)[0]
    assert not race.runs("HistoricAverage", "smooth", scout=False)[0]
