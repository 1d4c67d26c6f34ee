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

Where the orders are dated by the day (`day_calendars`, the plant's daily totals), the
closure is found day by day instead, and a week is scaled by the share of its usual
demand that falls on closed days: a closure of 24 December to 1 January closes 4 of the
days of a week that starts on 21 December, whatever it closed in earlier years.

- a plant's working days are the weekdays that usually hold 1/14 of its week or more (the
  median of each weekday over the last NEIGHBOURS * 2 weeks);
- each past working day's ratio to the median of the same weekday NEIGHBOURS weeks
  either side; a day off inside a closure (a weekend between two closed working days)
  counts as closed, at their ratio, and a day off beside one closed day as closed where
  it dipped too (a closure that began on a Sunday); other days off tell nothing;
- a future day is closed where the same date dipped under DIP_RATIO in MIN_YEARS of the
  last YEARS_BACK years or more, and so did their median; the week's factor is the
  usual-share-weighted mean of its days' factors (the median ratio on a closed day, 1
  on the others);
- a plant whose working days dip without recurring (more than DAY_NOISE of them: too few
  order lines a day to read a single day) keeps the weekly rule.

Weekly frequency only: a monthly season holds a date-fixed closure already, and a daily
calendar has its own (weekends) that the daily models see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DIP_RATIO = 0.6  # a week under this share of its neighbours' demand dips
MIN_YEARS = 2  # years that must show the dip
YEARS_BACK = 3
NEIGHBOURS = 4  # weeks either side for a week's (a weekday's) usual level
DAY_NOISE = 0.02  # at most this share of a plant's working days dips without recurring
FACTOR_COLUMNS = ["plant_id", "period_start", "factor", "detail"]


def _neighbour_ratios(v: np.ndarray, stride: int) -> np.ndarray:
    """Each value over the median of its NEIGHBOURS neighbours either side, `stride`
    apart (a week's weeks: 1; a day's same weekday: 7); NaN at the ends and where that
    median is 0."""
    lag = stride * NEIGHBOURS
    ratio = np.full(len(v), np.nan)
    at = np.arange(lag, len(v) - lag)
    if len(at):
        around = np.stack([v[at + stride * k] for k in range(-NEIGHBOURS, NEIGHBOURS + 1) if k])
        level = np.median(around, axis=0)
        ok = level > 0
        ratio[at[ok]] = v[at[ok]] / level[ok]
    return ratio


def week_ratios(totals: pd.DataFrame) -> pd.Series:
    """Per plant and week (plant_id, period_start: Monday, demand: the plant's total), the
    week's demand over the median of its NEIGHBOURS weeks either side; NaN where a
    neighbour is missing or their median is 0."""
    out = []
    for plant, g in totals.groupby("plant_id", sort=True):
        s = g.set_index(pd.to_datetime(g["period_start"]))["demand"].astype(float)
        s = s.sort_index().asfreq("7D", fill_value=0.0)
        ratio = _neighbour_ratios(s.to_numpy(), 1)
        out.append(pd.Series(ratio, index=pd.MultiIndex.from_product([[plant], s.index])))
    if not out:
        return pd.Series(dtype=float)
    return pd.concat(out)


def past_closures(totals: pd.DataFrame) -> set[tuple[str, pd.Timestamp]]:
    """The (plant_id, Monday) of the past weeks a recurring closure dipped: under
    DIP_RATIO of their neighbours, as was a week holding one of the same dates (its
    Monday's or its Sunday's) a year before or after. The backtest forecasts them unscaled,
    so the calibration leaves their residuals out (pipeline.calibration_run): a year-end
    shutdown in one window otherwise widened every series' interval from its step on (the
    demo's lower 80 % bounds fell from 0.7 to a third of the forecast from the sixth
    week)."""
    ratios = week_ratios(totals)
    out = set()
    for plant, week in ratios[ratios < DIP_RATIO].index:
        for k in (-1, 1):
            for day in (0, 6):
                then = pd.Timestamp(week) + pd.Timedelta(days=day) + pd.DateOffset(years=k)
                monday = (then - pd.Timedelta(days=then.weekday())).normalize()
                if ratios.get((plant, monday), np.nan) < DIP_RATIO:
                    out.add((plant, pd.Timestamp(week)))
    return out


@dataclass
class DayCalendar:
    """A plant's days: `weights`, the usual share of its week per weekday (Monday first);
    `ratio`, per date, a working day's demand over its usual level (a day off inside a
    closure: its closed neighbours' mean), NaN elsewhere; `noise`, the share of working
    days that dipped under DIP_RATIO while the same date a year before or after did not."""

    weights: np.ndarray
    ratio: pd.Series
    noise: float


def day_calendars(days: pd.DataFrame) -> dict[str, DayCalendar]:
    """Per plant (days: plant_id, order_date, demand, the plant's daily totals), its
    DayCalendar."""
    out = {}
    lag = 7 * NEIGHBOURS
    for plant, g in days.groupby("plant_id", sort=True):
        s = g.groupby(pd.to_datetime(g["order_date"]))["demand"].sum().astype(float)
        s = s.sort_index().asfreq("D", fill_value=0.0)
        recent = s.iloc[-2 * lag :]
        usual = recent.groupby(recent.index.weekday).median().reindex(range(7), fill_value=0.0)
        weights = usual.to_numpy() / usual.sum() if usual.sum() > 0 else np.full(7, 1 / 7)
        working = weights >= 1 / 14
        ratio = _neighbour_ratios(s.to_numpy(), 7)
        weekday = s.index.weekday.to_numpy()
        own = ratio.copy()
        ratio[~working[weekday]] = np.nan
        work = np.flatnonzero(working[weekday])
        for i in np.flatnonzero(~working[weekday]):  # a day off at the edge of a closure
            before, after = work[work < i], work[work > i]
            pair = np.array(
                [
                    ratio[before[-1]] if len(before) and i - before[-1] <= 3 else np.nan,
                    ratio[after[0]] if len(after) and after[0] - i <= 3 else np.nan,
                ]
            )
            if np.all(pair < DIP_RATIO):  # between two closed days: closed at their mean
                ratio[i] = float(pair.mean())
            elif np.any(pair < DIP_RATIO) and own[i] < DIP_RATIO:  # beside one, dipping too
                ratio[i] = own[i]
        r = pd.Series(ratio, index=s.index)
        on = r[working[weekday]].dropna()
        other = [r.reindex(on.index + pd.DateOffset(years=k)).to_numpy() for k in (-1, 1)]
        known = np.isfinite(other[0]) | np.isfinite(other[1])
        recurs = (other[0] < DIP_RATIO) | (other[1] < DIP_RATIO)
        lone = (on.to_numpy() < DIP_RATIO) & ~recurs & known
        noise = float(lone.sum() / known.sum()) if known.any() else 1.0
        out[plant] = DayCalendar(weights, r, noise)
    return out


def _day_factor(cal: DayCalendar, week: pd.Timestamp) -> tuple[float, list, set, set]:
    """The week's factor from the plant's days: its days' usual shares, each closed day's
    at the median of what the same date held YEARS_BACK years back; the closed days
    (date, ratio), the years back (1 to YEARS_BACK) that showed them closed and those
    with a record of them."""
    num = den = 0.0
    closed, years, known = [], set(), set()
    for i in range(7):
        day = week + pd.Timedelta(days=i)
        w = float(cal.weights[day.weekday()])
        seen = []
        for k in range(1, YEARS_BACK + 1):
            then = day - pd.DateOffset(years=k)
            r = cal.ratio.get(then, np.nan)
            if np.isfinite(r):
                seen.append((k, float(r)))
        f = 1.0
        if seen and sum(r < DIP_RATIO for _, r in seen) >= MIN_YEARS:
            median = float(np.median([r for _, r in seen]))
            if median < DIP_RATIO:
                f = median
                closed.append((day, median))
                years |= {y for y, r in seen if r < DIP_RATIO}
                known |= {y for y, _ in seen}
        num, den = num + w * f, den + w
    return (num / den if den > 0 else 1.0), closed, years, known


def _day_detail(cal: DayCalendar, closed: list, years: set, known: set, factor: float) -> str:
    first, last = closed[0][0], closed[-1][0]
    span = f"{first.day} {first:%b}" + ("" if first == last else f" to {last.day} {last:%b}")
    share = sum(float(cal.weights[d.weekday()]) for d, _ in closed) / float(cal.weights.sum())
    depth = float(np.median([r for _, r in closed]))
    return (
        f"plant closure: {span} closed on the same dates in {len(years)} of the "
        f"{len(known)} earlier years on record (at {depth:.0%} of a usual day); those "
        f"{len(closed)} days usually carry {share:.0%} of the week's demand; "
        f"forecast scaled by {factor:.2f}"
    )


def closure_factors(
    totals: pd.DataFrame, future: pd.DataFrame, days: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The factor for each (plant_id, period_start) of `future` that a recurring closure
    dips: plant_id, period_start, factor, detail (the years and their ratios, in words).
    Weeks without one are left out. `days` (plant_id, order_date, demand: daily totals,
    where the orders are dated by the day): a plant's closures found day by day, where
    its days are steady enough (DAY_NOISE); the weekly rule otherwise."""
    calendars = day_calendars(days) if days is not None and len(days) else {}
    calendars = {p: c for p, c in calendars.items() if c.noise <= DAY_NOISE}
    ratios = week_ratios(totals)
    rows = []
    if ratios.empty and not calendars:
        return pd.DataFrame(columns=FACTOR_COLUMNS)
    for plant, week in (
        future[["plant_id", "period_start"]].drop_duplicates().itertuples(index=False)
    ):
        if plant in calendars:
            factor, closed, years, known = _day_factor(calendars[plant], pd.Timestamp(week))
            if closed and factor < 1:
                detail = _day_detail(calendars[plant], closed, years, known, factor)
                rows.append((plant, week, factor, detail))
            continue
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
    forecast: pd.DataFrame, plant_of: pd.Series, factors: pd.DataFrame, levels: tuple
) -> pd.DataFrame:
    """`forecast` (series_id, period_start, forecast, lo_*/hi_*, fallback_reason) with each
    closure factor of its plant's week (`factors`, closure_factors' columns) applied: the
    forecast times the factor, each interval bound's distance from it times the factor's
    square root (not below 0); the reason said in fallback_reason (not on a row of zeros,
    which nothing scales)."""
    if forecast.empty or factors.empty:
        return forecast
    out = forecast.copy()
    plant = out["series_id"].astype(str).map(plant_of)
    key = factors.assign(period_start=pd.to_datetime(factors["period_start"])).set_index(
        ["plant_id", "period_start"]
    )
    idx = pd.MultiIndex.from_arrays([plant, pd.to_datetime(out["period_start"])])
    factor = key["factor"].reindex(idx).to_numpy(dtype=float)
    cols = ["forecast"] + [f"{side}_{lv}" for lv in levels for side in ("lo", "hi")]
    # a row of zeros (a launch before its date) has nothing to scale, nor a reason to
    hit = np.isfinite(factor) & (out[cols].to_numpy(dtype=float) > 0).any(axis=1)
    # the point by the factor; each bound's distance from it by the factor's square root:
    # a closure thins the week's orders, and the spread of a sum of orders grows with the
    # square root of their number (a compound Poisson's variance is linear in its rate),
    # so a week at a fifth of its orders is relatively noisier than a usual one
    point = out.loc[hit, "forecast"].to_numpy(dtype=float)
    f = factor[hit]
    for col in cols[1:]:
        bound = out.loc[hit, col].to_numpy(dtype=float)
        out.loc[hit, col] = np.maximum(point * f + (bound - point) * np.sqrt(f), 0.0)
    out.loc[hit, "forecast"] = point * f
    detail = key["detail"].reindex(idx).to_numpy()
    before = out["fallback_reason"].astype("object")
    out["fallback_reason"] = np.where(
        hit,
        np.where(before.isna(), detail, before.astype(str) + "; " + detail.astype(str)),
        before,
    )
    return out
