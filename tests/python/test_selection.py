"""Champion selection (demandcast.selection)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from demandcast.backtest import run_backtest
from demandcast.catalog import load_catalog
from demandcast.config import Settings
from demandcast.frames import profile_series
from demandcast.selection import CHAMPION_COLUMNS, parse_champion, select_champions

RMSSE = Settings(selection_metric="rmsse", selection_margin=0.1, single_margin=0.5)
"""Settings for the hand-made metric frames, which hold rmsse only."""
CANDIDATES = ("Naive", "HistoricAverage", "WindowAverage13", "SeasonalNaive", "SES0.1")


@pytest.fixture
def weak_default_catalog(tmp_path):
    """Packaged models, but a weak default (Naive) for every class."""
    path = tmp_path / "catalog.yml"
    path.write_text(
        textwrap.dedent(
            """
            candidates:
              - {name: Naive, model: Naive}
              - {name: HistoricAverage, model: HistoricAverage}
              - {name: WindowAverage13, model: WindowAverage, kwargs: {window_size: 13}}
              - {name: SeasonalNaive, model: SeasonalNaive, season: required}
              - {name: SES0.1, model: SimpleExponentialSmoothing, kwargs: {alpha: 0.1}}
              - {name: MeanTopK, combine: mean, members: top_k}
            defaults: {smooth: Naive, erratic: Naive, intermittent: Naive, lumpy: Naive}
            """
        )
    )
    return load_catalog(path)


def _panel(make, n: int = 4, length: int = 156, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    parts = []
    for i in range(n):
        y = make(t, rng)
        periods = pd.date_range("2022-01-03", periods=length, freq="W-MON")
        parts.append(
            pd.DataFrame({"series_id": f"s{i}", "period_start": periods.date, "demand": y})
        )
    series = pd.concat(parts, ignore_index=True)
    return series, profile_series(series)


def _run(series, profiles, catalog, **kw):
    settings = Settings(candidates="all", **kw)
    metrics = run_backtest(series, profiles, settings, catalog)
    return select_champions(metrics, profiles, settings, catalog), metrics


def test_pure_seasonal_series_choose_the_seasonal_method(weak_default_catalog):
    series, profiles = _panel(
        lambda t, rng: 100 + 40 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 1, t.size)
    )
    champions, _ = _run(series, profiles, weak_default_catalog, single_margin=0.5)
    assert tuple(champions.columns) == CHAMPION_COLUMNS
    assert (champions["champion"] == "SeasonalNaive").all()
    assert champions["reason"].str.contains("beats class champion Naive").all()
    assert (champions["n_windows"] == 3).all()
    assert (champions["runner_up"] != champions["champion"]).all()
    assert (champions["champion_score"] <= champions["runner_up_score"]).all()


def test_constant_series_choose_a_mean_type_method(weak_default_catalog):
    series, profiles = _panel(lambda t, rng: 50 + rng.normal(0, 5, t.size))
    champions, _ = _run(
        series, profiles, weak_default_catalog, selection_margin=0.0, single_margin=0.0
    )
    mean_type = {"HistoricAverage", "WindowAverage13", "SES0.1"}
    picked = champions["champion"].map(lambda c: parse_champion(c)[0])
    assert picked.isin(mean_type | {"MeanTopK"}).all()
    top_k = champions.loc[picked == "MeanTopK", "champion"]
    assert all(set(parse_champion(c)[1]) <= mean_type for c in top_k)


def test_a_series_leaves_its_class_champion_only_when_the_evidence_clears_the_margin():
    # a: the other pool member 5 % better (noise); b: 20 % better (pool margin 10 %), with a
    # single model 40 % better (single margin 50 %: noise); c: a single model 60 % better
    metrics = pd.DataFrame(
        {
            "series_id": np.repeat(["a", "b", "c"], 3),
            "model_name": ["ComboMean", "ComboMedian", "Naive"] * 3,
            "n_windows": 3,
            "rmsse": [1.0, 0.95, 1.1, 1.0, 0.80, 0.60, 1.0, 1.0, 0.40],
            "status": "ok",
        }
    )
    profiles = pd.DataFrame({"series_id": ["a", "b", "c"], "demand_class": "smooth"})
    out = select_champions(metrics, profiles, RMSSE).set_index("series_id")
    assert (out["class_champion"] == "ComboMean").all()  # catalog default: too few to pool
    assert out.loc["a", "champion"] == "ComboMean"
    assert "within the margin" in out.loc["a", "reason"]
    assert out.loc["a", "runner_up"] == "ComboMedian"
    assert out.loc["b", "champion"] == "ComboMedian"
    assert "beats class champion ComboMean" in out.loc["b", "reason"]
    assert "by 20.0%" in out.loc["b", "reason"]
    assert out.loc["c", "champion"] == "Naive" and "margin 50%" in out.loc["c", "reason"]
    argmin = select_champions(metrics, profiles, RMSSE.with_(selection_margin=0, single_margin=0))
    assert argmin.set_index("series_id")["champion"].to_dict() == {
        "a": "ComboMedian",
        "b": "Naive",
        "c": "Naive",
    }


def test_the_class_champion_is_the_pool_member_best_over_the_class():
    # 12 smooth series: ComboMean best on 11, far off on one (which the arithmetic mean
    # would let decide for ComboMedian)
    ids = [f"s{i}" for i in range(12)]
    rmsse = {"ComboMean": [0.7] * 11 + [10.0], "ComboMedian": [0.9] * 12}
    metrics = pd.DataFrame(
        [
            {"series_id": s, "model_name": m, "n_windows": 3, "rmsse": v[i], "status": "ok"}
            for m, v in rmsse.items()
            for i, s in enumerate(ids)
        ]
    )
    profiles = pd.DataFrame({"series_id": ids, "demand_class": "smooth"})
    out = select_champions(metrics, profiles, RMSSE)
    assert (out["class_champion"] == "ComboMean").all()
    assert out["reason"].str.contains("lowest geometric mean score over 12 smooth").all()


def test_an_intermittent_class_champion_is_not_handed_to_the_member_that_forecasts_least():
    # 20 intermittent series: ComboIntermittent 10 % better on 19; on one, where demand was
    # a single small order, ComboSimple all but hit it (0.01). In a geometric mean that one
    # series would decide for ComboSimple; the class averages the scores themselves
    ids = [f"s{i:02d}" for i in range(20)]
    rmsse = {"ComboSimple": [0.8] * 19 + [0.01], "ComboIntermittent": [0.72] * 19 + [0.3]}
    metrics = pd.DataFrame(
        [
            {"series_id": s, "model_name": m, "n_windows": 3, "rmsse": v[i], "status": "ok"}
            for m, v in rmsse.items()
            for i, s in enumerate(ids)
        ]
    )
    wide = pd.DataFrame(rmsse)
    assert np.log(wide.clip(lower=1e-9)).mean().idxmin() == "ComboSimple"
    profiles = pd.DataFrame({"series_id": ids, "demand_class": "intermittent"})
    out = select_champions(metrics, profiles, RMSSE).set_index("series_id")
    assert (out["class_champion"] == "ComboIntermittent").all()
    assert out["reason"].str.contains("lowest mean score over 20 intermittent").all()
    # the series itself may still leave the champion, by the margin
    assert out.loc["s19", "champion"] == "ComboSimple"
    assert (out.drop(index="s19")["champion"] == "ComboIntermittent").all()


def test_a_series_without_demand_in_its_backtest_windows_votes_but_never_moves():
    # 12 series: ComboIntermittent 0.02 better on 10; on 2 the backtest windows held no
    # demand (wape NaN where the forecast was not 0), where ComboSimple and Naive forecast
    # 0 and score 0. In an intermittent class (scores averaged as they are) the 2 vote:
    # windows without demand are what sparse series mostly have, and a forecast that
    # follows them there is better; ComboSimple's mean 0.600 against 0.625. But neither
    # series leaves its class champion for Naive, whose perfect score only says it
    # forecast least
    heard, quiet = [f"h{i:02d}" for i in range(10)], ["q0", "q1"]
    rows = []
    for s in heard:
        rows += [("ComboIntermittent", s, 0.70, 0.5), ("ComboSimple", s, 0.72, 0.5)]
        rows += [("Naive", s, 0.95, 0.6)]
    for s, score in zip(quiet, [0.5, 0.00021], strict=True):
        rows += [("ComboIntermittent", s, score, np.nan), ("ComboSimple", s, 0.0, 0.0)]
        rows += [("Naive", s, 0.0, 0.0)]
    metrics = pd.DataFrame(rows, columns=["model_name", "series_id", "rmsse", "wape"]).assign(
        n_windows=3, status="ok", mae=lambda d: d["rmsse"]
    )
    profiles = pd.DataFrame({"series_id": heard + quiet, "demand_class": "intermittent"})
    out = select_champions(metrics, profiles, RMSSE).set_index("series_id")
    assert (out["class_champion"] == "ComboSimple").all()
    assert out["reason"].str.contains("lowest mean score over 12 intermittent").all()
    assert (out.loc[quiet, "champion"] == "ComboSimple").all()
    assert out.loc[quiet, "reason"].str.contains("no demand in its backtest windows").all()
    # an erratic class (a geometric mean, where a score of 0 would decide alone), ComboMean
    # in ComboIntermittent's place: the 2 do not vote, and do not move either
    erratic = profiles.assign(demand_class="erratic")
    metrics["model_name"] = metrics["model_name"].replace("ComboIntermittent", "ComboMean")
    out = select_champions(metrics, erratic, RMSSE).set_index("series_id")
    assert (out["class_champion"] == "ComboMean").all()
    assert out["reason"].str.contains("lowest geometric mean score over 10 erratic").all()
    assert (out.loc[quiet, "champion"] == "ComboMean").all()
    assert "rmsse 0 against 0.00021)" in out.loc["q1", "reason"], out.loc["q1", "reason"]


def test_windows_with_a_tenth_of_the_usual_demand_are_no_evidence_to_leave_the_champion():
    # a lumpy series selling 1.44 a period whose windows held 0.05 a period (mae / wape):
    # SESOptimized, which followed them down to 0, scores 0.028 against the class
    # champion's 0.396, yet says nothing of the level when demand returns; at 0.2 a
    # period (a seventh of the mean, above a tenth) the same scores move it
    heard = [f"h{i:02d}" for i in range(10)]
    rows = []
    for s in heard:
        rows += [("ComboSimple", s, 0.70, 0.7, 0.5), ("SESOptimized", s, 0.80, 0.8, 0.6)]
    for s, held in (("thin", 0.05), ("fair", 0.2)):
        rows += [("ComboSimple", s, 0.396, 0.9, 0.9 / held)]
        rows += [("SESOptimized", s, 0.028, 0.06, 0.06 / held)]
    metrics = pd.DataFrame(rows, columns=["model_name", "series_id", "rmsse", "mae", "wape"])
    metrics = metrics.assign(n_windows=3, status="ok")
    profiles = pd.DataFrame(
        {"series_id": [*heard, "thin", "fair"], "demand_class": "lumpy", "mean_demand": 1.44}
    )
    out = select_champions(metrics, profiles, RMSSE).set_index("series_id")
    assert out.loc["thin", "champion"] == "ComboSimple"
    assert "(almost) no demand in its backtest windows" in out.loc["thin", "reason"]
    assert out.loc["fair", "champion"] == "SESOptimized"
    without = select_champions(metrics, profiles.drop(columns="mean_demand"), RMSSE)
    assert without.set_index("series_id").loc["thin", "champion"] == "SESOptimized"


def test_a_quiet_series_whose_class_champion_failed_takes_its_class_default_not_a_zero():
    # ComboIntermittent is the class champion (10 series) but failed on q0, whose windows
    # held no demand: there Naive forecast 0 and scores 0, ComboSimple (the catalog's
    # intermittent default) scored too. The best scorer would be the forecast of nothing
    heard = [f"h{i:02d}" for i in range(10)]
    rows = []
    for s in heard:
        rows += [("ComboIntermittent", s, "ok", 0.70, 0.5), ("ComboSimple", s, "ok", 0.72, 0.5)]
        rows += [("Naive", s, "ok", 0.95, 0.6)]
    rows += [("ComboIntermittent", "q0", "failed", np.nan, np.nan)]
    rows += [("ComboSimple", "q0", "ok", 0.3, np.nan), ("Naive", "q0", "ok", 0.0, 0.0)]
    metrics = pd.DataFrame(rows, columns=["model_name", "series_id", "status", "rmsse", "wape"])
    metrics = metrics.assign(n_windows=3, mae=lambda d: d["rmsse"])
    profiles = pd.DataFrame({"series_id": [*heard, "q0"], "demand_class": "intermittent"})
    out = select_champions(metrics, profiles, RMSSE).set_index("series_id")
    q0 = out.loc["q0"]
    assert (q0["class_champion"], q0["champion"]) == ("ComboIntermittent", "ComboSimple")
    assert "class champion ComboIntermittent has no score (failed)" in q0["reason"]
    assert "its class's catalog default, ComboSimple" in q0["reason"]
    # a series with demand in its windows still takes its best scorer there
    heard_rows = metrics["series_id"] == "q0"
    loud = metrics.assign(wape=np.where(heard_rows & metrics["wape"].isna(), 0.9, metrics["wape"]))
    out = select_champions(loud, profiles, RMSSE).set_index("series_id")
    assert out.loc["q0", "champion"] == "Naive"
    assert "lowest rmsse" in out.loc["q0", "reason"]


def test_a_series_too_short_to_backtest_gets_its_class_champion():
    metrics = pd.DataFrame(
        {
            "series_id": ["a", "a"],
            "model_name": ["ComboMean", "Naive"],
            "n_windows": 3,
            "rmsse": [1.0, 1.2],
            "status": "ok",
        }
    )
    profiles = pd.DataFrame(
        {
            "series_id": ["a", "short", "new"],
            "demand_class": "smooth",
            "lifecycle": ["active", "active", "new"],
            "n_periods": [156, 30, 5],
        }
    )
    out = select_champions(metrics, profiles, RMSSE).set_index("series_id")
    assert list(out.index) == ["a", "short"]  # new products: cold start in the forecast
    assert out.loc["short", "champion"] == "ComboMean" and out.loc["short", "n_windows"] == 0
    assert "30 periods is too short to backtest" in out.loc["short", "reason"]


def test_with_no_series_backtested_every_active_one_gets_its_class_default():
    """A frequency or horizon no series is long enough for: an empty backtest, and every
    active series its class's catalog default, fitted on what it has (reselected once it
    can be backtested)."""
    metrics = pd.DataFrame(columns=["series_id", "model_name", "n_windows", "rmsse", "status"])
    profiles = pd.DataFrame(
        {
            "series_id": ["s", "e", "i", "new"],
            "demand_class": ["smooth", "erratic", "intermittent", "smooth"],
            "lifecycle": ["active", "active", "active", "new"],
            "n_periods": [30, 30, 30, 5],
        }
    )
    out = select_champions(metrics, profiles, RMSSE).set_index("series_id")
    defaults = load_catalog().defaults
    assert list(out.index) == ["e", "i", "s"]
    assert out["champion"].to_dict() == {
        c: defaults[k] for c, k in [("e", "erratic"), ("i", "intermittent"), ("s", "smooth")]
    }
    assert (out["n_windows"] == 0).all()
    assert out["reason"].str.contains("too short to backtest").all()
    assert out["reason"].str.contains("catalog default for").all()


def test_a_default_without_a_score_gives_way_to_the_best():
    metrics = pd.DataFrame(
        {
            "series_id": ["a", "a"],
            "model_name": ["ComboMean", "Naive"],
            "n_windows": 2,
            "rmsse": [np.nan, 0.9],
            "status": ["failed", "ok"],
        }
    )
    profiles = pd.DataFrame({"series_id": ["a"], "demand_class": ["smooth"]})
    out = select_champions(metrics, profiles, RMSSE).iloc[0]
    assert out["champion"] == "Naive" and "failed" in out["reason"]
    assert out["n_candidates"] == 1 and out["n_windows"] == 2


def test_ties_are_broken_by_catalog_order_whatever_the_row_order():
    names = ["WindowAverage13", "Naive", "HistoricAverage", "SES0.1"]  # not catalog order
    metrics = pd.DataFrame(
        {
            "series_id": "a",
            "model_name": names,
            "n_windows": 3,
            "rmsse": 0.5,
            "status": "ok",
        }
    )
    profiles = pd.DataFrame({"series_id": ["a"], "demand_class": ["no_demand"]})
    catalog = load_catalog()
    settings = RMSSE.with_(selection_margin=0.0)
    no_default = catalog.__class__(catalog.candidates, catalog.sets, {}, catalog.long_season)
    first = select_champions(metrics, profiles, settings, no_default)
    again = select_champions(metrics.iloc[::-1], profiles, settings, no_default)
    assert first.equals(again)
    order = list(catalog.candidates)
    assert first["champion"].iloc[0] == min(names, key=order.index)  # Naive
    assert first["runner_up"].iloc[0] == "HistoricAverage"


def test_top_k_champion_names_its_members_in_backtest_rank_order():
    metrics = pd.DataFrame(
        {
            "series_id": "a",
            "model_name": ["Naive", "HistoricAverage", "SES0.1", "WindowAverage13", "MeanTopK"],
            "n_windows": 3,
            "rmsse": [0.9, 0.7, 0.8, 1.0, 0.5],
            "status": "ok",
        }
    )
    profiles = pd.DataFrame({"series_id": ["a"], "demand_class": ["smooth"]})
    out = select_champions(metrics, profiles, RMSSE.with_(ensemble_top_k=3)).iloc[0]
    assert out["champion"] == "MeanTopK[HistoricAverage|SES0.1|Naive]"
    assert parse_champion(out["champion"]) == ("MeanTopK", ["HistoricAverage", "SES0.1", "Naive"])
    assert "members HistoricAverage, SES0.1, Naive" in out["reason"]


def test_intermittent_series_are_selected_by_rmsse_which_a_zero_forecast_does_not_win(
    weak_default_catalog,
):
    # two series, one smooth and one intermittent, the same two candidates: on MASE the
    # near-zero level (HistoricAverage here stands for it) wins both; on RMSSE the level
    # model does; the intermittent series is judged by RMSSE, the smooth one by MASE
    profiles = pd.DataFrame(
        {
            "series_id": ["smooth1", "sparse1"],
            "demand_class": ["smooth", "intermittent"],
            "lifecycle": ["active", "active"],
            "n_periods": [156, 156],
        }
    )
    rows = []
    for sid in ("smooth1", "sparse1"):
        rows.append((sid, "HistoricAverage", 0.60, 1.40))  # MAE-best (close to zero)
        rows.append((sid, "SES0.1", 0.80, 0.90))  # RMSSE-best (the mean level)
    metrics = pd.DataFrame(rows, columns=["series_id", "model_name", "mase", "rmsse"])
    metrics = metrics.assign(status="ok", n_windows=3, mae=metrics["mase"])
    settings = Settings(selection_margin=0.0, single_margin=0.0)
    out = select_champions(metrics, profiles, settings, weak_default_catalog).set_index("series_id")
    assert out.loc["smooth1", "champion"] == "HistoricAverage"
    assert out.loc["smooth1", "selection_metric"] == "mase"
    assert out.loc["sparse1", "champion"] == "SES0.1"
    assert out.loc["sparse1", "selection_metric"] == "rmsse"
    assert "rmsse" in out.loc["sparse1", "reason"]


def test_learned_weights_that_ran_lead_the_class_and_lambda_0_leaves_the_champion_as_it_was():
    # 12 smooth series: ComboMean best over the class. ComboLearned skipped (the last
    # backtest window chose lambda 0) changes nothing; ComboLearned scored (lambda above 0)
    # is the class champion, even where a fixed combination scores better on a series
    ids = [f"s{i}" for i in range(12)]
    scores = {"ComboMean": [0.70] * 12, "ComboMedian": [0.90] * 12, "ComboLearned": [0.75] * 12}
    metrics = pd.DataFrame(
        [
            {"series_id": s, "model_name": m, "n_windows": 3, "rmsse": v[i], "status": "ok"}
            for m, v in scores.items()
            for i, s in enumerate(ids)
        ]
    )
    metrics["members"] = np.where(
        metrics["model_name"] == "ComboLearned",
        "lambda=0.5:ComboMean|AutoETS*0.400|AutoCES*0.300|DynamicOptimizedTheta*0.300",
        None,
    )
    profiles = pd.DataFrame({"series_id": ids, "demand_class": "smooth"})
    fixed = select_champions(metrics[metrics["model_name"] != "ComboLearned"], profiles, RMSSE)
    lambda_0 = metrics.assign(
        status=np.where(metrics["model_name"] == "ComboLearned", "skipped", "ok"),
        rmsse=np.where(metrics["model_name"] == "ComboLearned", np.nan, metrics["rmsse"]),
    )
    pd.testing.assert_frame_equal(select_champions(lambda_0, profiles, RMSSE), fixed)
    assert (fixed["champion"] == "ComboMean").all()
    # with stacking's message, the same champion, and its reason says why learning stood aside
    why = "lambda 0: the class champion ComboMean forecasts the smooth class (1.0 standard errors)"
    aside = select_champions(
        lambda_0.assign(
            error_message=np.where(lambda_0["model_name"] == "ComboLearned", why, None)
        ),
        profiles,
        RMSSE,
    )
    pd.testing.assert_frame_equal(aside.drop(columns="reason"), fixed.drop(columns="reason"))
    assert (
        aside["reason"].str.contains(f"the learned weights stood aside ({why})", regex=False).all()
    )
    out = select_champions(metrics, profiles, RMSSE)
    assert (out["class_champion"] == "ComboLearned").all()
    assert out["champion"].str.startswith("ComboLearned[lambda=0.5:ComboMean|").all()
    assert out["reason"].str.contains("shrunk by the last backtest window").all()
