"""The example plug-in meets the model contract and competes like any candidate."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from demandcast.backtest import run_backtest
from demandcast.catalog import load_catalog
from demandcast.config import Settings
from demandcast.forecast import forecast_series
from demandcast.frames import profile_series
from demandcast.plugins.example import DampedSeasonalAverage
from demandcast.selection import select_champions


def test_the_class_meets_the_statsforecast_model_contract():
    model = DampedSeasonalAverage(season_length=4, window_size=2, damping=0.5)
    y = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0])
    out = model.forecast(y=y, h=2)
    # step 1 is the 3rd position of the cycle: past values 3 and 3; level mean(5, 7) = 6
    assert out["mean"] == pytest.approx([0.5 * 6 + 0.5 * 3, 0.5 * 6 + 0.5 * 4])
    fitted = model.new().fit(y)
    assert fitted.predict(h=2)["mean"] == pytest.approx(out["mean"])
    assert repr(model) == "DampedSeasonalAverage"
    short = model.forecast(y=np.array([2.0, 4.0]), h=3)["mean"]
    assert short == pytest.approx([3.0, 3.0, 3.0])  # less than a season: the window average
    with pytest.raises(ValueError, match="damping"):
        DampedSeasonalAverage(season_length=4, damping=2.0)


@pytest.fixture
def noisy_seasonal():
    """Seasonal series too noisy for one season: shrinking to the level wins."""
    rng = np.random.default_rng(11)
    t = np.arange(156)
    parts = []
    for i in range(6):
        y = 100 + 30 * np.sin(2 * np.pi * t / 52 + i) + rng.normal(0, 25, t.size)
        periods = pd.date_range("2022-01-03", periods=t.size, freq="W-MON")
        parts.append(
            pd.DataFrame({"series_id": f"s{i}", "period_start": periods.date, "demand": y})
        )
    series = pd.concat(parts, ignore_index=True)
    return series, profile_series(series)


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.yml"
    path.write_text(
        textwrap.dedent(
            """
            candidates:
              - {name: Naive, model: Naive, intervals: native}
              - {name: HistoricAverage, model: HistoricAverage, intervals: native}
              - {name: SeasonalNaive, model: SeasonalNaive, season: required, intervals: native}
              - name: Damped
                model: demandcast.plugins.example:DampedSeasonalAverage
                kwargs: {damping: 0.5}
                season: optional
            defaults: {}
            """
        )
    )
    return load_catalog(path)


def test_plugin_is_backtested_chosen_where_it_wins_and_forecast(noisy_seasonal, catalog):
    series, profiles = noisy_seasonal
    settings = Settings(candidates="all", selection_margin=0.0, selection_metric="rmsse", n_jobs=1)
    metrics = run_backtest(series, profiles, settings, catalog)
    rows = metrics[metrics["model_name"] == "Damped"]
    assert len(rows) == 6 and (rows["status"] == "ok").all()
    assert rows["rmsse"].notna().all()
    champions = select_champions(metrics, profiles, settings, catalog)
    assert (champions["champion"] == "Damped").mean() >= 5 / 6
    leaderboard = metrics.groupby("model_name")["rmsse"].mean()
    assert leaderboard.idxmin() == "Damped"
    fc = forecast_series(series, profiles, champions, settings, catalog)
    mine = fc[fc["model_name"] == "Damped"]
    assert len(mine) == 13 * (champions["champion"] == "Damped").sum()
    # no native intervals: conformal ones from its backtest errors
    assert (mine["hi_80"] > mine["forecast"]).all() and (mine["lo_80"] < mine["forecast"]).all()


def test_the_packaged_catalog_ships_the_plugin_by_import_path():
    entry = load_catalog().candidates["DampedSeasonalAverage"]
    assert entry.model == "demandcast.plugins.example:DampedSeasonalAverage"
    assert entry.family == "plugin"


def test_the_plugin_forecasts_a_horizon_longer_than_its_season():
    from demandcast.plugins.example import DampedSeasonalAverage

    y = np.tile(np.arange(12, dtype=float), 5)  # five seasons of 0..11
    model = DampedSeasonalAverage(season_length=12, damping=1.0)
    mean = model.forecast(y=y, h=18)["mean"]
    assert mean == pytest.approx(np.r_[np.arange(12), np.arange(6)])
