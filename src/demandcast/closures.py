"""Recurring closures: weeks in which a plant's demand dips every year.

A plant that shuts down over the year end (or for a fixed holiday) sells a fraction of a
usual week then, every year. The weekly models cannot see it: a dip of one week a year is
not a smooth yearly season (the Fourier terms), and it falls on ISO week 52 one year and
week 1 the next. So it is found on the plant's own totals, by the calendar dates:

- each past week's ratio to the median of its eight neighbours (four weeks either side);
- a future week looks at the same dates one, two and three years before (the week holding
  its Thursday's date, a year back), so a closure fixed by date is found whatever ISO week
  it fell in;
- where two of those years or more held under DIP_RATIO of their neighbours, and so did
  their median, the plant's forecast of that week (and its intervals) is scaled by the
  median ratio; elsewhere nothing changes. (A closure of fixed dates, 24 December to 1
  January, covers all of one week and part of another, which part changing with the
  weekday the dates fall on: the median of three years scales the partial week by about
  what it lost.)

Weekly frequency only: a monthly season holds a date-fixed closure already, and a daily
calendar has its own (weekends) that the daily models see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DIP_RATIO = 0.6  # a week under this share of its neighbours' demand dips
MIN_YEARS = 2  # years that must show the dip
YEARS_BACK = 3
NEIGHBOURS = 4  # weeks either side for a week's usual level
FACTOR_COLUMNS = ["plant_id", "period_start", "factor", "detail"]


def week_ratios(totals: pd.DataFrame) -> pd.Series:
    """Per plant and week (plant_id, period_start: Monday, demand: the plant's total), the
    week's demand over the median of its NEIGHBOURS weeks either side; NaN where a
    neighbour is missing or their median is 0."""
    out = []
    for plant, g in totals.groupby("plant_id", sort=True):
        s = g.set_index(pd.to_datetime(g["period_start"]))["demand"].astype(float)
        s = s.sort_index().asfreq("7D", fill_value=0.0)
        v = s.to_numpy()
        n = len(v)
        ratio = np.full(n, np.nan)
        for i in range(NEIGHBOURS, n - NEIGHBOURS):
            around = np.r_[v[i - NEIGHBOURS : i], v[i + 1 : i + 1 + NEIGHBOURS]]
            usual = np.median(around)
            if usual > 0:
                ratio[i] = v[i] / usual
        out.append(pd.Series(ratio, index=pd.MultiIndex.from_product([[plant], s.index])))
    if not out:
        return pd.Series(dtype=float)
    return pd.concat(out)


def closure_factors(totals: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
    """The factor for each (plant_id, period_start) of `future` that a recurring closure
    dips: plant_id, period_start, factor, detail (the years and their ratios, in words).
    Weeks without one are left out."""
    ratios = week_ratios(totals)
    rows = []
    if ratios.empty:
        return pd.DataFrame(columns=FACTOR_COLUMNS)
    for plant, week in (
        future[["plant_id", "period_start"]].drop_duplicates().itertuples(index=False)
    ):
        thursday = pd.Timestamp(week) + pd.Timedelta(days=3)
        seen = []
        for k in range(1, YEARS_BACK + 1):
            then = thursday - pd.DateOffset(years=k)
            monday = (then - pd.Timedelta(days=then.weekday())).normalize()
            r = ratios.get((plant, monday), np.nan)
            if np.isfinite(r):
                seen.append((monday, float(r)))
        dips = sum(r < DIP_RATIO for _, r in seen)
        factor = float(np.median([r for _, r in seen])) if seen else np.nan
        if dips >= MIN_YEARS and factor < DIP_RATIO:
            years = ", ".join(f"{m:%Y-%m-%d} {r:.0%}" for m, r in sorted(seen))
            rows.append(
                (
                    plant,
                    week,
                    factor,
                    f"plant closure: the same week of the year held {years} of its "
                    f"neighbouring weeks' demand; forecast scaled by {factor:.2f}",
                )
            )
    return pd.DataFrame(rows, columns=FACTOR_COLUMNS)


def apply(
    forecast: pd.DataFrame, plant_of: pd.Series, totals: pd.DataFrame, levels: tuple
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`forecast` (series_id, period_start, forecast, lo_*/hi_*, fallback_reason) with each
    recurring closure's factor applied to the forecast and its intervals, the reason said
    in fallback_reason; and the factors found (closure_factors)."""
    if forecast.empty:
        return forecast, pd.DataFrame(columns=FACTOR_COLUMNS)
    out = forecast.copy()
    out["plant_id"] = out["series_id"].astype(str).map(plant_of)
    weeks = pd.to_datetime(out["period_start"])
    factors = closure_factors(totals, out.assign(period_start=weeks))
    if factors.empty:
        return forecast, factors
    key = factors.assign(period_start=pd.to_datetime(factors["period_start"])).set_index(
        ["plant_id", "period_start"]
    )
    idx = pd.MultiIndex.from_arrays([out["plant_id"], weeks])
    factor = key["factor"].reindex(idx).to_numpy()
    hit = np.isfinite(factor)
    cols = ["forecast"] + [f"{side}_{lv}" for lv in levels for side in ("lo", "hi")]
    for col in cols:
        out.loc[hit, col] = out.loc[hit, col].to_numpy(dtype=float) * factor[hit]
    detail = key["detail"].reindex(idx).to_numpy()
    before = out["fallback_reason"].astype("object")
    out["fallback_reason"] = np.where(
        hit,
        np.where(before.isna(), detail, before.astype(str) + "; " + detail.astype(str)),
        before,
    )
    return out.drop(columns="plant_id"), factors
