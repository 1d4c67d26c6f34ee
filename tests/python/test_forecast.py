"""Forecasts from champions, cold start and fallback (demandcast.forecast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import catalog_from

from demandcast.backtest import run_backtest
from demandcast.config import Settings
from demandcast.forecast import forecast_series, prediction_columns, until_discontinued
from demandcast.frames import profile_series, synthetic_series
from demandcast.intervals import finalize
from demandcast.selection import select_champions

FAST = ("Naive", "SeasonalNaive", "HistoricAverage", "SES0.1", "Theta", "CrostonSBA", "MeanTopK")


def _pipeline(series, profiles, settings, catalog=None):
    metrics = run_backtest(series, profiles, settings, catalog)
    champions = select_champions(metrics, profiles, settings, catalog)
    return champions, forecast_series(series, profiles, champions, settings, catalog)


@pytest.fixture(scope="module")
def run():
    series, profiles = synthetic_series(12, 156, seed=7)
    profiles.loc[profiles.index[-1], "lifecycle"] = "discontinued"
    settings = Settings(candidates=FAST)
    champions, fc = _pipeline(series, profiles, settings)
    return series, profiles, settings, champions, fc


def test_exactly_horizon_rows_per_active_series_with_the_contract_columns(run):
    series, profiles, settings, _, fc = run
    assert list(fc.columns) == prediction_columns(settings.levels)
    assert list(fc.columns)[4:8] == ["lo_80", "hi_80", "lo_95", "hi_95"]
    counts = fc.groupby("series_id").size()
    assert (counts == settings.horizon).all()
    discontinued = profiles.loc[profiles["lifecycle"] == "discontinued", "series_id"]
    assert set(counts.index) == set(profiles["series_id"]) - set(discontinued)
    steps = fc.groupby("series_id")["step"].apply(list)
    assert all(s == list(range(1, 14)) for s in steps)


def test_periods_are_the_weeks_after_the_last_one(run):
    series, _, _, _, fc = run
    last = pd.Timestamp(max(series["period_start"]))
    first = fc[fc["step"] == 1]["period_start"].map(pd.Timestamp)
    assert (first == last + pd.Timedelta(weeks=1)).all()
    thirteenth = fc[fc["step"] == 13]["period_start"].map(pd.Timestamp)
    assert (thirteenth == last + pd.Timedelta(weeks=13)).all()
    assert (first.dt.dayofweek == 0).all()  # weeks start on Monday


def test_intervals_are_nested_non_negative_and_never_missing(run):
    fc = run[4]
    cols = ["lo_95", "lo_80", "forecast", "hi_80", "hi_95"]
    values = fc[cols].to_numpy()
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (np.diff(values, axis=1) >= -1e-9).all()
    assert (fc["hi_95"] > fc["lo_95"]).mean() > 0.9  # intervals have width
    assert (fc["method"] == "champion").all()
    assert (
        fc["model_name"] == fc["series_id"].map(run[3].set_index("series_id")["champion"])
    ).all()


def test_periods_after_the_masters_discontinued_date_are_zero_and_say_so(run):
    *_, forecast = run
    ids = forecast["series_id"].drop_duplicates().tolist()[:2]
    weeks = sorted(forecast["period_start"].unique())
    # the first series' product ends inside its third week: from the fourth on, 0; the
    # second's ends on the horizon's last week's start: nothing changes
    ends = pd.DataFrame(
        {"series_id": ids, "discontinued_date": [weeks[2] + pd.Timedelta(days=2), weeks[-1]]}
    )
    out = until_discontinued(forecast, ends)
    values = [c for c in out.columns if c == "forecast" or c.startswith(("lo_", "hi_"))]
    ended = (out["series_id"] == ids[0]).to_numpy() & (out["period_start"] > weeks[2]).to_numpy()
    assert ended.sum() == len(weeks) - 3
    assert (out.loc[ended, values] == 0).all().all()
    assert (
        out.loc[ended, "fallback_reason"]
        .str.endswith(f"the product master ends it on {(weeks[2] + pd.Timedelta(days=2)):%Y-%m-%d}")
        .all()
    )
    pd.testing.assert_frame_equal(out[~ended], forecast[~ended])
    assert forecast.loc[ended, "forecast"].gt(0).any()  # the input is untouched
    # a reused forecast that says so already is left as it is: the note once
    pd.testing.assert_frame_equal(until_discontinued(out, ends), out)


def test_cold_start_for_new_and_short_series():
    rng = np.random.default_rng(3)
    long = rng.poisson(20, 156).astype(float)
    new = np.array([4.0, 6.0, 8.0])
    parts = []
    for sid, y in {"long": long, "new": new}.items():
        periods = pd.date_range(end="2024-12-30", periods=len(y), freq="W-MON")
        parts.append(pd.DataFrame({"series_id": sid, "period_start": periods.date, "demand": y}))
    series = pd.concat(parts, ignore_index=True)
    profiles = profile_series(series)
    settings = Settings(candidates=("Naive", "HistoricAverage"))
    champions, fc = _pipeline(series, profiles, settings)
    assert list(champions["series_id"]) == ["long"]
    cold = fc[fc["series_id"] == "new"]
    assert len(cold) == 13 and (cold["method"] == "cold_start").all()
    assert cold["forecast"].nunique() == 1  # flat
    # 3 of 13 periods of its own history: their mean
    assert cold["forecast"].iloc[0] == pytest.approx(6.0)
    assert (cold["hi_95"] > cold["hi_80"]).all() and (cold["lo_80"] < 6.0).all()
    # and it says why (fct_forecast_exceptions' detail is this)
    assert profiles.set_index("series_id").loc["new", "lifecycle"] == "new"
    assert set(cold["fallback_reason"]) == {
        "a new product: 3 period(s) of history, too few to backtest;"
        " the mean of its last 3 period(s)"
    }


def test_a_new_product_in_a_group_of_big_sellers_keeps_its_own_level():
    """A new product with 7 weeks of about 28 a week, in a product group whose established
    products sell about 1,400 a week, is forecast at its own level (shrunk towards the
    group's it was forecast at about 700); a product with one period borrows only the
    group's relative spread, so its interval is as wide, relative to its level."""
    rng = np.random.default_rng(5)
    ys = {f"big{k}": rng.normal(1400, 140, 156).clip(0) for k in range(3)}
    ys["new"] = np.array([25.0, 30, 28, 26, 31, 27, 26])
    ys["one"] = np.array([10.0])
    parts = []
    for sid, y in ys.items():
        periods = pd.date_range(end="2024-12-30", periods=len(y), freq="W-MON")
        parts.append(pd.DataFrame({"series_id": sid, "period_start": periods.date, "demand": y}))
    series = pd.concat(parts, ignore_index=True)
    profiles = profile_series(series).assign(product_group="fasteners")
    settings = Settings(candidates=("Naive", "HistoricAverage"))
    _, fc = _pipeline(series, profiles, settings)
    new = fc[fc["series_id"] == "new"]
    assert (new["method"] == "cold_start").all()
    assert new["forecast"].iloc[0] == pytest.approx(ys["new"].mean())
    assert new["hi_95"].max() < 60  # not pulled towards the group's 1,400
    one = fc[fc["series_id"] == "one"].iloc[0]
    assert one["forecast"] == pytest.approx(10.0)
    # the group's spread is about a tenth of its level: at level 10, sqrt(10) (Poisson)
    # is wider, so the floor holds; widened by sqrt(1 + 1/1)
    assert one["hi_95"] - one["forecast"] == pytest.approx(
        1.96 * np.sqrt(10) * np.sqrt(2), rel=0.05
    )


def test_a_series_not_backtested_is_held_flat_past_its_own_length():
    """A model fitted on 20 periods without a backtest carries the series 20 steps; the
    forecast and every bound after that are those of step 20 (a trend model extrapolated
    one such series 1000-fold over a 157-week horizon)."""
    periods = pd.date_range(end="2024-12-30", periods=20, freq="W-MON")
    y = np.arange(20, dtype=float) * 5 + 10  # a steep trend: Holt carries it on
    series = pd.DataFrame({"series_id": "s", "period_start": periods.date, "demand": y})
    profiles = profile_series(series).assign(lifecycle="active")
    settings = Settings(candidates=("Holt",), horizon=60, min_train_length=1)
    champions = pd.DataFrame(
        {"series_id": ["s"], "champion": ["Holt"], "n_windows": [0], "interval_scale": [np.nan]}
    )
    fc = forecast_series(series, profiles, champions, settings).set_index("step")
    assert len(fc) == 60 and (fc["method"] == "champion").all()
    assert fc.loc[20, "forecast"] > fc.loc[1, "forecast"]  # the trend, within reach
    held = fc.loc[21:, ["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]]
    assert (held == fc.loc[20, held.columns]).all().all()
    assert fc.loc[21:, "fallback_reason"].str.startswith("held flat after step 20").all()
    # within reach it says why it has no backtest score (fct_demand_forecast.backtest_mase)
    assert (
        fc.loc[:20, "fallback_reason"] == "not backtested: 20 period(s) of history, 61 needed "
        "to backtest; its class's champion, fitted on all it has"
    ).all()
    backtested = champions.assign(n_windows=2)
    fc = forecast_series(series, profiles, backtested, settings).set_index("step")
    assert fc.loc[60, "forecast"] > fc.loc[20, "forecast"]  # trusted the whole horizon
    assert fc["fallback_reason"].isna().all()


class Boom:
    """Fits short histories, raises on the full one: fails only at refit."""

    def __init__(self, alias: str = "Boom"):
        self.alias = alias

    def new(self):
        return Boom(self.alias)

    def forecast(self, y, h, X=None, X_future=None, level=None, fitted=False):
        if len(y) > 150:  # the longest backtest window trains on 143
            raise RuntimeError("boom at refit")
        return {"mean": np.full(h, float(np.mean(y[-4:])))}


def test_champion_failing_at_refit_falls_back_with_the_reason(tmp_path, caplog):
    caplog.set_level("INFO", logger="demandcast.progress")
    catalog = catalog_from(
        tmp_path,
        """
            candidates:
              - {name: Boom, model: "test_forecast:Boom"}
              - {name: Naive, model: Naive, intervals: native}
            defaults: {smooth: Boom, erratic: Boom, intermittent: Boom, lumpy: Boom}
            """,
    )
    series, profiles = synthetic_series(4, 156, seed=1)
    settings = Settings(candidates="all", selection_margin=0.99)
    champions, fc = _pipeline(series, profiles, settings, catalog)
    assert (champions["champion"] == "Boom").all()  # fine in the backtest
    assert (fc["method"] == "fallback").all()
    assert (fc["model_name"] == "WindowAverage").all()
    assert fc["fallback_reason"].str.contains("champion Boom failed at refit").all()
    assert fc["fallback_reason"].str.contains("boom at refit").all()
    assert np.isfinite(fc[["forecast", "lo_95", "hi_95"]].to_numpy()).all()
    # the log sums the refit failures up per model, with the first error
    assert "forecast: Boom failed on 4 series; first error: RuntimeError: boom at refit" in (
        caplog.messages
    )


class Rocket:
    """Doubles the last value every period: a runaway forecast (as CES can give after a
    spike), 2**13 times the series' level by the last step."""

    def __init__(self, alias: str = "Rocket"):
        self.alias = alias

    def new(self):
        return Rocket(self.alias)

    def forecast(self, y, h, X=None, X_future=None, level=None, fitted=False):
        return {"mean": float(y[-1]) * 2.0 ** np.arange(1, h + 1)}


ROCKET_CATALOG = """
candidates:
  - {name: Rocket, model: "test_forecast:Rocket"}
  - {name: Naive, model: Naive, intervals: native}
  - {name: ComboRocket, combine: mean, members: [Rocket, Naive]}
defaults: {smooth: Naive, erratic: Naive, intermittent: Naive, lumpy: Naive}
"""


@pytest.mark.parametrize("champion", ["ComboRocket", "Rocket"])
def test_a_runaway_member_is_left_out_and_said_so(tmp_path, champion, caplog):
    caplog.set_level("INFO", logger="demandcast.progress")
    catalog = catalog_from(tmp_path, ROCKET_CATALOG)
    series, profiles = synthetic_series(3, 156, seed=4)
    settings = Settings(candidates="all")
    champions = pd.DataFrame(
        {"series_id": profiles["series_id"], "champion": champion, "n_windows": 3}
    )
    fc = forecast_series(series, profiles, champions, settings, catalog).set_index("series_id")
    for sid, y in series.groupby("series_id")["demand"]:
        y = y.to_numpy(dtype=float)
        level = max(np.quantile(y[y > 0], 0.9), np.median(y[-settings.horizon :]))
        cap = settings.max_forecast_multiple * level + 1
        got = fc.loc[sid]
        assert got["forecast"].max() <= cap  # within what the forecast gate allows
        reason = got["fallback_reason"].iloc[0]
        assert f"above the plausible maximum {cap:,.1f}: left out" in reason
        if champion == "ComboRocket":  # Naive carries the combination alone
            assert (got["method"] == "champion").all()
            assert got["forecast"].to_numpy() == pytest.approx(np.full(13, y[-1]))
            assert reason.startswith("member(s) left out, combined the rest: Rocket: forecast")
        else:  # nothing left: the fallback method, as when the champion raises
            assert (got["method"] == "fallback").all()
            assert reason.startswith("champion Rocket left out: Rocket: forecast up to")
    assert any(
        m.startswith("forecast: 3 member forecast(s) above the plausible maximum")
        and m.endswith("Rocket on 3 series")
        for m in caplog.messages
    )
    # a multiple that allows the runaway keeps it
    loose = settings.with_(max_forecast_multiple=1e6)
    kept = forecast_series(series, profiles, champions, loose, catalog)
    assert kept["fallback_reason"].isna().all() and (kept["method"] == "champion").all()
    assert kept["forecast"].max() > fc["forecast"].max() * 100


def test_a_level_that_has_lasted_half_a_horizon_is_plausible_a_spike_is_not():
    # the last 8 of 156 weeks at 30 times the series' level (a new customer): its 90th
    # percentile is still the old level, the median of its last 13 weeks the new one. Naive
    # forecasts the new level and is kept; a single spike in the last week is left out
    series, profiles = synthetic_series(1, 156, seed=4)
    y = series["demand"].to_numpy(dtype=float)
    jump = y.copy()
    jump[-8:] = 30 * np.quantile(y[y > 0], 0.9)
    spike = y.copy()
    spike[-1] = 30 * np.quantile(y[y > 0], 0.9)
    settings = Settings(candidates=("Naive", "HistoricAverage", "SES0.1"))
    champion = "MeanTopK[Naive|HistoricAverage]"
    champions = pd.DataFrame(
        {"series_id": profiles["series_id"], "champion": champion, "n_windows": 3}
    )
    for demand, kept in ((jump, True), (spike, False)):
        fc = forecast_series(series.assign(demand=demand), profiles, champions, settings)
        reason = fc["fallback_reason"].iloc[0]
        if kept:
            assert pd.isna(reason)
            assert fc["forecast"].to_numpy() == pytest.approx((demand[-1] + demand.mean()) / 2)
        else:
            assert reason.startswith("member(s) left out, combined the rest: Naive: forecast")
            assert fc["forecast"].to_numpy() == pytest.approx(demand.mean())


def test_a_top_k_champion_is_rebuilt_from_its_members():
    series, profiles = synthetic_series(2, 156, seed=2)
    settings = Settings(candidates=("Naive", "HistoricAverage", "SES0.1"))
    champions = pd.DataFrame(
        {
            "series_id": profiles["series_id"],
            "champion": "MeanTopK[Naive|HistoricAverage]",
            "n_windows": 3,
        }
    )
    fc = forecast_series(series, profiles, champions, settings)
    sid = profiles["series_id"].iloc[0]
    y = series.loc[series["series_id"] == sid, "demand"].to_numpy()
    expected = max((y[-1] + y.mean()) / 2, 0)
    got = fc[fc["series_id"] == sid]["forecast"].to_numpy()
    assert got == pytest.approx(np.full(13, expected))
    assert (fc["method"] == "champion").all() and fc["fallback_reason"].isna().all()


def test_discontinued_series_get_no_rows():
    series, profiles = synthetic_series(2, 156, seed=2)
    profiles["lifecycle"] = "discontinued"
    none = pd.DataFrame(columns=["series_id", "champion", "n_windows"])
    fc = forecast_series(series, profiles, none, Settings())
    assert fc.empty and list(fc.columns) == prediction_columns((80, 95))


def _paused_forecast() -> tuple[pd.DataFrame, str]:
    """Two smooth-ish series of 156 weeks, the first silent for its last 20 weeks (an
    inactive series: forecast as usual), both by WindowAverage26 (no intervals of its own),
    with no calibration table: the intervals come from the last resort."""
    series, profiles = synthetic_series(2, 156, seed=2)
    paused = profiles["series_id"].iloc[0]
    tail = series.groupby("series_id").cumcount(ascending=False) < 20
    series.loc[(series["series_id"] == paused) & tail, "demand"] = 0.0
    champions = pd.DataFrame(
        {"series_id": profiles["series_id"], "champion": "WindowAverage26", "n_windows": 3}
    )
    return forecast_series(series, profiles, champions, Settings()), paused


def test_a_paused_series_without_calibration_still_gets_intervals_with_width():
    fc, paused = _paused_forecast()
    got = fc[fc["series_id"] == paused]
    assert len(got) == 13 and (got["forecast"] > 0).all()
    assert (got["hi_95"] > got["lo_95"]).all()


def test_finalize_clips_at_zero_and_nests_crossing_bounds():
    forecast = np.array([[5.0, -1.0]])
    bounds = {
        "lo_80": np.array([[6.0, -3.0]]),  # above the forecast: pulled down to it
        "hi_80": np.array([[9.0, 2.0]]),
        "lo_95": np.array([[5.5, -5.0]]),  # narrower than the 80% bound: widened to it
        "hi_95": np.array([[8.0, np.nan]]),  # missing: at least the 80% bound
    }
    f, b = finalize(forecast, bounds, [80, 95])
    assert f.tolist() == [[5.0, 0.0]]
    assert b["lo_80"].tolist() == [[5.0, 0.0]] and b["lo_95"].tolist() == [[5.0, 0.0]]
    assert b["hi_80"].tolist() == [[9.0, 2.0]] and b["hi_95"].tolist() == [[9.0, 2.0]]


@pytest.mark.parametrize(("frequency", "m"), [("month", 12), ("week", 52)])
def test_combo_plain_forecasts_the_plain_statsforecast_mean(frequency, m):
    """ComboPlain's forecast is the mean of plain StatsForecast AutoETS, AutoCES and AutoTheta
    at the data's season length: what `evaluate --plain-mean` scores, at a native and at a
    long season."""
    from statsforecast import StatsForecast
    from statsforecast import models as sf_models

    from demandcast.evaluate import PLAIN_MEAN
    from demandcast.frames import to_sf

    series, profiles = synthetic_series(2, 3 * m, seed=5, frequency=frequency, season_length=m)
    settings = Settings(frequency=frequency, season_length=m, horizon=6, n_jobs=1)
    champions = profiles[["series_id"]].assign(champion="ComboPlain", n_windows=3)
    fc = forecast_series(series, profiles, champions, settings).sort_values(
        ["series_id", "period_start"]
    )
    models = [getattr(sf_models, n)(season_length=m, alias=n) for n in PLAIN_MEAN]
    plain = StatsForecast(models=models, freq=settings.freq, n_jobs=1).forecast(
        df=to_sf(series), h=6
    )
    expected = np.maximum(plain.sort_values(["unique_id", "ds"])[list(PLAIN_MEAN)].mean(axis=1), 0)
    assert (fc["model_name"] == "ComboPlain").all() and fc["fallback_reason"].isna().all()
    assert fc["forecast"].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9, abs=1e-9)


def test_a_trimmed_champion_forecasts_the_mean_of_its_middle_members(tmp_path):
    cat = catalog_from(
        tmp_path,
        """
        candidates:
          - {name: Naive, model: Naive}
          - {name: HistoricAverage, model: HistoricAverage}
          - {name: SES0.1, model: SimpleExponentialSmoothing, kwargs: {alpha: 0.1}}
          - {name: SES0.5, model: SimpleExponentialSmoothing, kwargs: {alpha: 0.5}}
          - {name: WindowAverage4, model: WindowAverage, kwargs: {window_size: 4}}
          - name: Trim
            combine: trimmed
            members: [Naive, HistoricAverage, SES0.1, SES0.5, WindowAverage4]
        """,
    )
    series, profiles = synthetic_series(3, 156, seed=5)
    names = ["Naive", "HistoricAverage", "SES0.1", "SES0.5", "WindowAverage4"]
    settings = Settings(candidates=(*names, "Trim"))

    def forecast(champion: str) -> np.ndarray:
        champions = pd.DataFrame(
            {"series_id": profiles["series_id"], "champion": champion, "n_windows": 3}
        )
        fc = forecast_series(series, profiles, champions, settings, cat)
        return fc.sort_values(["series_id", "period_start"])["forecast"].to_numpy()

    members = np.sort(np.stack([forecast(n) for n in names]), axis=0)
    expected = members[1:-1].mean(axis=0)  # the lowest and the highest of five dropped
    got = forecast("Trim")
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert not np.allclose(got, members[2])  # not the median of the five
