"""Recurring closures (demandcast.closures): a week a plant's demand dips every year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demandcast import closures


def _plant(weeks: pd.DatetimeIndex, dip_dates: list[str], level: float = 100.0) -> pd.DataFrame:
    demand = np.full(len(weeks), level)
    for day in dip_dates:  # the week holding this date sells a fifth
        demand[weeks == pd.Timestamp(day) - pd.Timedelta(days=pd.Timestamp(day).weekday())] = 20
    return pd.DataFrame({"plant_id": "P1", "period_start": weeks, "demand": demand})


WEEKS = pd.date_range("2022-01-03", "2025-12-22", freq="7D")  # Mondays


def test_a_dip_on_the_same_dates_every_year_scales_that_week_only():
    # the year-end closure falls on ISO week 52 one year and week 1 the next: by the date
    totals = _plant(WEEKS, ["2022-12-29", "2023-12-28", "2024-12-31"])
    future = pd.DataFrame(
        {"plant_id": "P1", "period_start": pd.to_datetime(["2025-12-22", "2025-12-29"])}
    )
    factors = closures.closure_factors(totals, future)
    assert list(factors["period_start"]) == [pd.Timestamp("2025-12-29")]
    assert factors["factor"].iloc[0] == 0.2
    assert "2024-12-30 20%" in factors["detail"].iloc[0]


def test_one_year_of_dip_or_a_shallow_one_changes_nothing():
    future = pd.DataFrame({"plant_id": "P1", "period_start": pd.to_datetime(["2025-12-29"])})
    once = _plant(WEEKS, ["2024-12-31"])
    assert closures.closure_factors(once, future).empty
    shallow = _plant(WEEKS, ["2022-12-29", "2023-12-28", "2024-12-31"])
    shallow.loc[shallow["demand"] == 20, "demand"] = 70.0  # 70 % of its neighbours
    assert closures.closure_factors(shallow, future).empty


def test_the_forecast_and_its_intervals_are_scaled_and_the_reason_said():
    totals = _plant(WEEKS, ["2022-12-29", "2023-12-28", "2024-12-31"])
    fc = pd.DataFrame(
        {
            "series_id": ["P1|A", "P1|A", "P2|A"],
            "period_start": [pd.Timestamp("2025-12-22").date(), pd.Timestamp("2025-12-29").date()]
            + [pd.Timestamp("2025-12-29").date()],
            "forecast": [50.0, 50.0, 50.0],
            "lo_80": [40.0, 40.0, 40.0],
            "hi_80": [60.0, 60.0, 60.0],
            "fallback_reason": [None, None, None],
        }
    )
    plant_of = pd.Series({"P1|A": "P1", "P2|A": "P2"})
    future = fc.assign(
        plant_id=fc["series_id"].map(plant_of), period_start=pd.to_datetime(fc["period_start"])
    )
    factors = closures.closure_factors(totals, future)
    assert len(factors) == 1  # P2 has no closure on record
    out = closures.apply(fc, plant_of, factors, (80,))
    assert out["forecast"].tolist() == [50.0, 10.0, 50.0]
    # the bounds' distance from the point by the factor's square root (a week of a
    # fifth of its orders is relatively noisier): 10 -+ 10 * sqrt(0.2)
    lo, hi = out[["lo_80", "hi_80"]].iloc[1]
    assert (lo, hi) == (pytest.approx(10 - 10 * 0.2**0.5), pytest.approx(10 + 10 * 0.2**0.5))
    wide = fc.assign(lo_80=0.0, hi_80=200.0)  # a bound that would fall below 0 stops at it
    assert closures.apply(wide, plant_of, factors, (80,))["lo_80"].iloc[1] == 0.0
    assert out["fallback_reason"].iloc[1].startswith("plant closure: the same week")
    assert out["fallback_reason"].isna().tolist() == [True, False, True]
    assert closures.apply(fc, plant_of, factors.iloc[:0], (80,)) is fc


def test_the_forecast_step_scales_a_weekly_forecast_from_the_series_own_history():
    # pipeline.with_closures reads the plants' totals from the series it forecasts
    from demandcast.config import Settings
    from demandcast.pipeline import with_closures

    totals = _plant(WEEKS, ["2022-12-29", "2023-12-28", "2024-12-31"])
    series = pd.concat(
        [totals.assign(series_id=f"P1|{p}", demand=totals["demand"] / 2) for p in "AB"]
    )
    fresh = pd.DataFrame(
        {
            "series_id": ["P1|A", "P1|B"],
            "period_start": [pd.Timestamp("2025-12-29").date()] * 2,
            "forecast": [50.0, 50.0],
            "lo_80": [40.0, 40.0],
            "hi_80": [60.0, 60.0],
            "lo_95": [30.0, 30.0],
            "hi_95": [70.0, 70.0],
            "fallback_reason": [None, None],
        }
    )
    out = with_closures(series, fresh, Settings(frequency="week"))
    assert out["forecast"].tolist() == [10.0, 10.0]
    assert con_relation_gives_the_same(series, fresh)


def con_relation_gives_the_same(series: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    """The same through a DuckDB relation (as dbt hands int_series__filled over)."""
    import duckdb

    from demandcast.config import Settings
    from demandcast.pipeline import with_closures

    con = duckdb.connect()
    rel = con.from_df(series)
    a = with_closures(rel, fresh, Settings(frequency="week"))
    b = with_closures(series, fresh, Settings(frequency="week"))
    return a["forecast"].tolist() == b["forecast"].tolist() == [10.0, 10.0]


def test_the_closures_of_a_run_are_each_plant_week_of_its_horizon_that_dips():
    # int_forecast__closures: what the forecast and the launches are scaled by, and what
    # fct_demand_forecast's closure_factor says
    import duckdb

    from demandcast.config import Settings
    from demandcast.pipeline import closures_run, with_closures

    totals = _plant(WEEKS, ["2022-12-29", "2023-12-28", "2024-12-31"])
    series = pd.concat(
        [
            totals.assign(series_id="P1|A"),
            totals.assign(series_id="P2|A", plant_id="P2", demand=100.0),
        ]
    )

    class Run(dict):
        settings = Settings(frequency="week", horizon=4)

    run = Run(forecast_origin=pd.Timestamp("2025-12-15").date())
    weeks = closures_run(run, duckdb.connect().from_df(series))
    assert weeks[["plant_id", "step", "closure_factor"]].values.tolist() == [["P1", 2, 0.2]]
    assert weeks["period_start"].tolist() == [pd.Timestamp("2025-12-29").date()]
    assert weeks["closure_reason"].iloc[0].startswith("plant closure: the same week")
    assert str(weeks["closure_factor"].dtype) == "float64"
    # the forecast scaled by the table gives what finding them in place gives
    fresh = pd.DataFrame(
        {
            "series_id": ["P1|A", "P1|A", "P2|A"],
            "period_start": [pd.Timestamp(d).date() for d in ("2025-12-22", "2025-12-29")]
            + [pd.Timestamp("2025-12-29").date()],
            "forecast": [50.0] * 3,
            "lo_80": [40.0] * 3,
            "hi_80": [60.0] * 3,
            "lo_95": [30.0] * 3,
            "hi_95": [70.0] * 3,
            "fallback_reason": [None] * 3,
        }
    )
    by_table = with_closures(series, fresh, run.settings, factors=weeks)
    in_place = with_closures(series, fresh, run.settings)
    pd.testing.assert_frame_equal(by_table, in_place)
    assert by_table["forecast"].tolist() == [50.0, 10.0, 50.0]
    # no rows, typed, at a monthly frequency or without plants
    Run.settings = Settings(frequency="month", season_length=12, horizon=4)
    assert closures_run(run, series).empty
    Run.settings = Settings(frequency="week", horizon=4)
    empty = closures_run(run, series.drop(columns="plant_id"))
    assert empty.empty and list(empty.columns)[3] == "closure_factor"


def test_the_report_names_each_plant_week_a_closure_scaled():
    import duckdb

    from demandcast import report

    con = duckdb.connect()
    said = "plant closure: the same week of the year held 2024-12-30 20%"
    con.execute(
        """create table fct_demand_forecast as select * from (values
        ('P1', date '2025-12-29', $said, 0.2),
        ('P1', date '2025-12-29', 'not backtested; ' || $said, 0.2),
        ('P1', date '2026-01-05', null, null))
        as t (plant_id, period_start, fallback_reason, closure_factor)""",
        {"said": said},
    )
    said = report._closures_said(con)
    assert said.count("<li>") == 1
    assert "<li>P1, week of 2025-12-29: the same week of the year held 2024-12-30 20%" in said
    con.execute("delete from fct_demand_forecast where fallback_reason is not null")
    assert report._closures_said(con) == ""


def _days(
    closed: tuple[str, str] = ("12-24", "01-01"), holidays: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A plant's daily totals 2022-2025: 100 a weekday, 5 a weekend day, a tenth of that on
    the closure's dates (24 December to 1 January by default) and on `holidays` (MM-DD)."""
    dates = pd.date_range("2022-01-03", "2025-12-14", freq="D")
    demand = np.where(dates.weekday < 5, 100.0, 5.0)
    md = dates.strftime("%m-%d")
    shut = (md >= closed[0]) | (md <= closed[1]) if closed else np.zeros(len(dates), bool)
    shut |= np.isin(md, list(holidays))
    demand[shut] *= 0.1
    return pd.DataFrame({"plant_id": "P1", "order_date": dates, "demand": demand})


def _weeks_of(days: pd.DataFrame) -> pd.DataFrame:
    monday = days["order_date"] - pd.to_timedelta(days["order_date"].dt.weekday, unit="D")
    totals = days.assign(period_start=monday).groupby(["plant_id", "period_start"])
    return totals["demand"].sum().reset_index()


FUTURE = pd.DataFrame(
    {"plant_id": "P1", "period_start": pd.date_range("2025-12-15", periods=26, freq="7D")}
)


def test_the_days_scale_a_partly_closed_week_by_the_share_of_its_days_closed():
    days = _days()
    factors = closures.closure_factors(_weeks_of(days), FUTURE, days).set_index("period_start")
    # 2025-12-22: Monday to Tuesday open, Wednesday 24 to Sunday 28 closed (the weekend
    # between two closed days with them); 2025-12-29: Monday 29 to Thursday 1 closed
    assert list(factors.index) == list(pd.to_datetime(["2025-12-22", "2025-12-29"]))
    usual = 5 * 100 + 2 * 5
    assert factors.loc["2025-12-22", "factor"] == pytest.approx((200 + 0.1 * 310) / usual)
    assert factors.loc["2025-12-29", "factor"] == pytest.approx((100 + 10 + 0.1 * 400) / usual)
    said = factors.loc["2025-12-22", "detail"]
    assert said.startswith(
        "plant closure: 24 Dec to 28 Dec closed on the same dates in 3 of the 3 earlier years"
    )
    assert "those 5 days usually carry 61% of the week's demand" in said
    assert said.endswith("scaled by 0.45")
    # the weekly rule, without the days, scales the partial week by its years' median
    weekly = closures.closure_factors(_weeks_of(days), FUTURE).set_index("period_start")
    assert weekly.loc["2025-12-22", "detail"].startswith("plant closure: the same week")


def test_a_one_day_holiday_only_the_days_can_see_and_no_dip_without_recurrence():
    days = _days(closed=(), holidays=("05-01",))
    factors = closures.closure_factors(_weeks_of(days), FUTURE, days)
    # 1 May 2026 is a Friday: a fifth of the week's usual weekdays at a tenth
    assert factors["period_start"].tolist() == [pd.Timestamp("2026-04-27")]
    assert factors["factor"].iloc[0] == pytest.approx((400 + 10 + 10) / 510)
    assert closures.closure_factors(_weeks_of(days), FUTURE).empty  # 0.82 of a week
    once = days.copy()
    once.loc[once["order_date"] != pd.Timestamp("2025-05-01"), "demand"] = np.where(
        once["order_date"].dt.weekday < 5, 100.0, 5.0
    )[once["order_date"] != pd.Timestamp("2025-05-01")]
    assert closures.closure_factors(_weeks_of(once), FUTURE, once).empty


def test_a_plant_whose_days_dip_at_random_keeps_the_weekly_rule():
    days = _days()
    rng = np.random.default_rng(7)
    noisy = days["order_date"].dt.weekday < 5
    days.loc[noisy, "demand"] *= rng.choice([1.0, 0.3], size=int(noisy.sum()), p=[0.9, 0.1])
    calendar = closures.day_calendars(days)["P1"]
    assert calendar.noise > closures.DAY_NOISE
    factors = closures.closure_factors(_weeks_of(days), FUTURE, days)
    weekly = factors["detail"].str.startswith("plant closure: the same week")
    assert len(factors) and weekly.all()


def test_the_forecast_step_reads_the_days_from_a_relation_or_a_frame():
    import duckdb

    from demandcast.config import Settings
    from demandcast.pipeline import with_closures

    days = _days()
    series = _weeks_of(days).assign(series_id="P1|A")
    fresh = pd.DataFrame(
        {
            "series_id": "P1|A",
            "period_start": [pd.Timestamp("2025-12-22").date()],
            "forecast": [51.0],
            "lo_80": [40.8],
            "hi_80": [61.2],
            "lo_95": [30.6],
            "hi_95": [71.4],
            "fallback_reason": [None],
        }
    )
    settings = Settings(frequency="week")
    a = with_closures(series, fresh, settings, days)
    b = with_closures(series, fresh, settings, duckdb.connect().from_df(days))
    assert a["forecast"].iloc[0] == b["forecast"].iloc[0] == pytest.approx(51 * 231 / 510)
    f = 231 / 510
    assert a["lo_80"].iloc[0] == pytest.approx(51 * f - (51 - 40.8) * f**0.5)


def test_the_calibration_leaves_out_the_residuals_of_past_closure_weeks():
    from demandcast import pipeline
    from demandcast.config import Settings

    totals = _plant(WEEKS, ["2022-12-29", "2023-12-28", "2024-12-31"])
    assert sorted(w for _, w in closures.past_closures(totals)) == list(
        pd.to_datetime(["2022-12-26", "2023-12-25", "2024-12-30"])
    )
    series = totals.assign(series_id="P1|A")
    settings = Settings(frequency="week", horizon=4, n_windows=2, step_size=2)
    closed = pipeline._past_closures(series, settings)
    # two windows of 4 weeks, 2 apart, the last ending at 2025-01-13: 2024-12-09 to
    # 2024-12-30 and 2024-12-23 to 2025-01-13; the closure week 2024-12-30 is the first's
    # fourth step and the second's second
    rows = pd.DataFrame({"series_id": ["P1|A", "P2|A"], "backtest_origin": ["2025-01-13"] * 2})
    rows["backtest_origin"] = pd.to_datetime(rows["backtest_origin"])
    blob = np.arange(8, dtype="<f4")
    out = pipeline._without_closures([blob, blob], rows, closed, settings)
    assert np.isnan(out[0]).tolist() == [False] * 3 + [True, False, True, False, False]
    assert np.array_equal(out[1], blob)  # another plant: nothing left out
    assert pipeline._past_closures(series, Settings(frequency="month")) == {}


def test_a_launch_is_scaled_by_its_plant_s_closure_though_it_has_no_history():
    from demandcast.config import Settings
    from demandcast.pipeline import with_closures

    days = _days()
    series = _weeks_of(days).assign(series_id="P1|A")
    launch = pd.DataFrame(
        {
            "series_id": ["P1|NEW"],
            "period_start": [pd.Timestamp("2025-12-29").date()],
            "forecast": [10.0],
            "lo_80": [5.0],
            "hi_80": [20.0],
            "lo_95": [2.0],
            "hi_95": [30.0],
            "fallback_reason": ["the launch curve of group G"],
        }
    )
    settings = Settings(frequency="week")
    # without its plant the launch is no series of any plant: nothing to scale
    assert with_closures(series, launch, settings, days)["forecast"].iloc[0] == 10.0
    out = with_closures(series, launch, settings, days, pd.Series({"P1|NEW": "P1"}))
    assert out["forecast"].iloc[0] == pytest.approx(10.0 * 150 / 510)
    assert out["fallback_reason"].iloc[0].startswith("the launch curve of group G; plant closure")
    # before its launch date a launch forecasts zeros: nothing to scale, nor to say
    before = launch.assign(**{c: 0.0 for c in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95")})
    out = with_closures(series, before, settings, days, pd.Series({"P1|NEW": "P1"}))
    assert out["fallback_reason"].iloc[0] == "the launch curve of group G"


def test_a_launch_curve_leaves_out_the_weeks_of_last_year_s_closure():
    # a launch whose first weeks held last year's shutdown carried the dip into its
    # group's curve, and the forecast step scaled the future's closure week again
    from demandcast.config import Settings
    from demandcast.launch import first_periods, launch_curves
    from demandcast.pipeline import without_past_closures

    totals = _plant(WEEKS, ["2022-12-29", "2023-12-28", "2024-12-31"])
    closed = pd.Timestamp("2024-12-30")
    launched = WEEKS[WEEKS >= pd.Timestamp("2024-12-16")]  # its third week is the closure
    new = pd.DataFrame(
        {
            "series_id": "P1|NEW",
            "period_start": launched,
            "demand": np.where(launched == closed, 2.0, 10.0),
        }
    )
    other = new.assign(series_id="P2|NEW", demand=10.0)  # P2 has no closure
    series = pd.concat(
        [
            totals.assign(series_id="P1|A"),
            totals.assign(series_id="P2|A", plant_id="P2", demand=100.0),
            new.assign(plant_id="P1"),
            other.assign(plant_id="P2"),
        ]
    )
    history = series[["series_id", "period_start", "demand"]]
    settings = Settings(frequency="week", horizon=4)
    out = without_past_closures(history, series, settings)
    hit = out["demand"].isna()
    assert set(out.loc[hit, "series_id"]) == {"P1|A", "P1|NEW"}  # P2's weeks stay
    assert closed in set(out.loc[hit & (out["series_id"] == "P1|NEW"), "period_start"])
    assert out.loc[~hit, "demand"].equals(history.loc[~hit.to_numpy(), "demand"].astype(float))
    curves = launch_curves(out, 4)
    assert curves.loc["P1|NEW"].tolist()[:2] == [10.0, 10.0] and np.isnan(curves.loc["P1|NEW", 2])
    assert first_periods(out, "P1|NEW", 4).tolist() == [10.0, 10.0, 10.0, 10.0]
    assert first_periods(history, "P1|NEW", 4).tolist() == [10.0, 10.0, 2.0, 10.0]
    monthly = Settings(frequency="month", season_length=12)
    assert without_past_closures(history, series, monthly) is history
