"""Recurring closures (demandcast.closures): a week a plant's demand dips every year."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    out, factors = closures.apply(fc, plant_of, totals, (80,))
    assert out["forecast"].tolist() == [50.0, 10.0, 50.0]  # P2 has no closure on record
    assert out[["lo_80", "hi_80"]].iloc[1].tolist() == [8.0, 12.0]
    assert out["fallback_reason"].iloc[1].startswith("plant closure: the same week")
    assert out["fallback_reason"].isna().tolist() == [True, False, True]
    assert len(factors) == 1


def test_the_forecast_step_scales_a_weekly_forecast_from_the_series_own_history():
    # pipeline._with_closures reads the plants' totals from the series it forecasts
    from demandcast.config import Settings
    from demandcast.pipeline import _with_closures

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
    out = _with_closures(series, fresh, Settings(frequency="week"))
    assert out["forecast"].tolist() == [10.0, 10.0]
    assert con_relation_gives_the_same(series, fresh)


def con_relation_gives_the_same(series: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    """The same through a DuckDB relation (as dbt hands int_series__filled over)."""
    import duckdb

    from demandcast.config import Settings
    from demandcast.pipeline import _with_closures

    con = duckdb.connect()
    rel = con.from_df(series)
    a = _with_closures(rel, fresh, Settings(frequency="week"))
    b = _with_closures(series, fresh, Settings(frequency="week"))
    return a["forecast"].tolist() == b["forecast"].tolist() == [10.0, 10.0]


def test_the_report_names_each_plant_week_a_closure_scaled():
    import duckdb

    from demandcast import report

    con = duckdb.connect()
    said = "plant closure: the same week of the year held 2024-12-30 20%"
    con.execute(
        """create table fct_demand_forecast as select * from (values
        ('P1', date '2025-12-29', $said), ('P1', date '2025-12-29', 'not backtested; ' || $said),
        ('P1', date '2026-01-05', null)) as t (plant_id, period_start, fallback_reason)""",
        {"said": said},
    )
    said = report._closures_said(con)
    assert said.count("<li>") == 1
    assert "<li>P1, week of 2025-12-29: the same week of the year held 2024-12-30 20%" in said
    con.execute("delete from fct_demand_forecast where fallback_reason is not null")
    assert report._closures_said(con) == ""
