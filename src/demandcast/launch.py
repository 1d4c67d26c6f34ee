"""Launch forecasts: a product listed in the optional `launches` input that has no orders
yet at its plant is forecast from its launch date (`int_forecast__launches`).

Launch curves. A series whose first period comes after the data's first period was
launched inside the data; its launch curve is its demand in the `horizon` periods from its
first order, y[0], ..., y[h-1] (periods not yet observed are missing). Series that start
with the data are not used: their first periods are not a launch.

- No analog (model `LaunchCurve`): the forecast k periods after the launch period is the
  mean of y[k] over the launch curves of the product's group (every group's curves pooled
  when the group has fewer than `MIN_CURVES`; every series' first periods when the data
  holds no launch at all), and the interval at level L is the empirical (1-L)/2 and
  (1+L)/2 quantiles of those y[k]: the spread of the group's launches, level included.
- With `analog_product_id` (model `LaunchAnalog`): the analog's own curve at that plant
  (its first plant launched inside the data otherwise; an analog whose series all start
  with the data has no launch to copy, and the product gets its group's curve, as
  fallback_reason says), times the ratio of the median launch level
  (mean of y over the curve) of the product's group to that of the analog's group (1 when
  they are the same group); its intervals are the analog group's quantiles of y[k] over
  the group's mean y[k], times the analog's own (scaled) y[k]: the group's relative spread
  around the analog's periods.
- Periods before the launch period forecast 0; beyond the curve's length its last value.

The rows follow the `int_forecast__predictions` contract with method 'launch';
fallback_reason says how the forecast was made. From its first orders on a launch is a
series like any other (cold start, then its own models).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa

from demandcast.forecast import prediction_columns
from demandcast.frames import future_periods
from demandcast.intervals import finalize

MIN_CURVES = 3  # a group with fewer launch curves borrows every group's
ALL = "\x00all"  # the pooled curves' key


def launched_inside(history: pd.DataFrame) -> pd.Series:
    """series_id -> first period, of the series whose first period is after the data's
    first (launched inside the data: a series that starts with the data has no launch)."""
    starts = pd.to_datetime(history["period_start"])
    first = starts.groupby(history["series_id"]).min()
    return first[first > starts.min()]


def launch_curves(history: pd.DataFrame, h: int, before=None) -> pd.DataFrame:
    """series_id x k (0..h-1) -> demand in the k-th period from the first order, for the
    series whose first period is after the data's first (launched inside the data) and,
    with `before`, before it (only what was known then: periods from `before` on are
    missing). Without any such series, every series' first periods."""
    df = history[["series_id", "period_start", "demand"]].copy()
    df["period_start"] = pd.to_datetime(df["period_start"])
    df = df.sort_values(["series_id", "period_start"], kind="stable")
    inside = launched_inside(df)
    if before is not None:
        before = pd.Timestamp(before)
        inside = inside[inside < before]
        df = df[df["period_start"] < before]
    launched = df["series_id"].isin(inside.index)
    if launched.any():
        df = df[launched.to_numpy()]
    df = df.assign(k=df.groupby("series_id").cumcount())
    df = df[df["k"] < h]
    return df.pivot(index="series_id", columns="k", values="demand").reindex(columns=range(h))


def group_profiles(curves: pd.DataFrame, groups: pd.Series, levels) -> dict:
    """Per product group (and ALL, every curve): mean and quantiles of y[k], the median
    launch level and how many curves; `groups`: series_id -> product group."""
    group = groups.reindex(curves.index).fillna("").astype(str)
    out = {}
    for name, rows in [(ALL, curves), *curves.groupby(group.to_numpy())]:
        values = rows.to_numpy(dtype=float)
        # a step no curve reached is NaN (numpy warns of the empty slice): `_filled` fills it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            prof = {"n": len(rows), "mean": np.nanmean(values, axis=0) if len(rows) else None}
            level = np.nanmedian(np.nanmean(values, axis=1)) if len(rows) else 0.0
            prof["level"] = float(level) if np.isfinite(level) else 0.0
            for lv in levels:
                a = (1 - lv / 100) / 2
                prof[f"lo_{lv}"] = np.nanquantile(values, a, axis=0)
                prof[f"hi_{lv}"] = np.nanquantile(values, 1 - a, axis=0)
        out[name] = _filled(prof, levels)
    return out


def _filled(prof: dict, levels) -> dict:
    """Steps no curve reached take the last step that one did."""
    for key in ["mean", *(f"{s}_{lv}" for lv in levels for s in ("lo", "hi"))]:
        prof[key] = pd.Series(prof[key]).ffill().fillna(0.0).to_numpy()
    return prof


def as_arrow(frame: pd.DataFrame, levels) -> pa.Table:
    """The rows with the warehouse types of int_forecast__predictions, even when there
    are none (no launches file: an empty table of the same columns, not untyped nulls)."""
    types = {"series_id": pa.string(), "period_start": pa.date32(), "step": pa.int64()}
    names = prediction_columns(levels)
    schema = pa.schema(
        [(n, types.get(n, pa.string() if n in STRINGS else pa.float64())) for n in names]
    )
    rows = frame[names].assign(period_start=pd.to_datetime(frame["period_start"]).dt.date)
    return pa.Table.from_pandas(rows, schema=schema, preserve_index=False)


STRINGS = ("model_name", "method", "fallback_reason")


def _period_index(dates, frequency: str) -> np.ndarray:
    """A running period number: consecutive periods differ by 1."""
    d = pd.DatetimeIndex(pd.to_datetime(dates))
    if frequency == "month":
        return (d.year * 12 + d.month).to_numpy()
    days = (d - pd.Timestamp("1970-01-05")).days.to_numpy()  # a Monday
    return days // 7 if frequency == "week" else days


def first_periods(history: pd.DataFrame, series_id: str, h: int) -> np.ndarray:
    """One series' demand in its first h periods (the last one repeated past its end);
    a period left out (NaN: a past plant closure) takes its neighbours' level."""
    y = history.loc[history["series_id"] == series_id].sort_values("period_start")["demand"]
    y = y.astype(float).reset_index(drop=True).interpolate(limit_direction="both")
    y = y.fillna(0.0).to_numpy(dtype=float)[:h]
    return np.concatenate([y, np.full(h - len(y), y[-1] if len(y) else 0.0)])


def forecast_launches(
    launches: pd.DataFrame,
    history: pd.DataFrame,
    series: pd.DataFrame,
    product_groups: pd.Series,
    origin,
    settings,
) -> pd.DataFrame:
    """Prediction rows (method 'launch') for the launches without a series in `series`.
    `launches`: series_id, plant_id, product_id, launch_date, analog_product_id;
    `history`: series_id, period_start, demand (zeros filled; NaN in a week left out of
    the curves: pipeline.without_past_closures); `series`: series_id,
    plant_id, product_id, product_group; `product_groups`: product_id -> product group."""
    levels, h = list(settings.levels), settings.horizon
    todo = launches[~launches["series_id"].isin(series["series_id"])]
    if todo.empty:
        return pd.DataFrame(columns=prediction_columns(levels))
    curves = launch_curves(history, h)
    launched = set(launched_inside(history).index.astype(str))
    groups = series.set_index("series_id")["product_group"]
    profiles = group_profiles(curves, groups, levels)
    periods = future_periods(pd.Series([pd.Timestamp(origin)], index=["x"]), h, settings.frequency)
    future = _period_index(periods["ds"], settings.frequency)
    rows = []
    for launch in todo.itertuples(index=False):
        group = product_groups.get(launch.product_id)
        prof, used = profile_for(profiles, group)
        k = future - _period_index([launch.launch_date], settings.frequency)[0]
        at = np.clip(k, 0, h - 1)
        mean = prof["mean"][at]
        bounds = {f"{s}_{lv}": prof[f"{s}_{lv}"][at] for lv in levels for s in ("lo", "hi")}
        name, how = "LaunchCurve", _curve_words(used, prof["n"])
        analog = launch.analog_product_id
        analog_id = None
        if isinstance(analog, str) and analog:
            analog_id = _analog_series(series, launch.plant_id, analog, launched)
            if analog_id is None:
                how += (
                    f"; the analog {analog}'s series start with the data, so their first "
                    "periods are no launch"
                )
        if analog_id is not None:
            a_group = product_groups.get(analog)
            a_prof, _ = profile_for(profiles, a_group)
            scale = 1.0
            if group != a_group and a_prof["level"] > 0:
                scale = prof["level"] / a_prof["level"]
            own = first_periods(history, analog_id, h) * scale
            bounds = _around(own, a_prof, bounds, at)
            mean, name = own[at], "LaunchAnalog"
            if group == a_group:
                how = f"the first periods of {analog_id}, as sold (the same product group)"
            else:
                how = (
                    f"the first periods of {analog_id}, scaled by {scale:.3g}: group "
                    f"{group}'s median launch level over group {a_group}'s"
                )
        on = pd.Timestamp(launch.launch_date).date()
        pre = k < 0
        mean = np.where(pre, 0.0, mean)
        bounds = {key: np.where(pre, 0.0, b) for key, b in bounds.items()}
        mean, bounds = finalize(mean, bounds, levels)
        frame = pd.DataFrame(
            {
                "series_id": launch.series_id,
                "period_start": pd.to_datetime(periods["ds"]).dt.date.to_numpy(),
                "step": np.arange(1, h + 1, dtype="int64"),
                "forecast": mean,
                **bounds,
                "model_name": name,
                "method": "launch",
                "fallback_reason": f"no orders yet; launch on {on}: {how}",
            }
        )
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    for col in ("series_id", "model_name", "method", "fallback_reason"):
        out[col] = out[col].astype("string")
    return out[prediction_columns(levels)]


def _around(own: np.ndarray, prof: dict, keys, at: np.ndarray) -> dict:
    """An analog launch's bounds: the analog group's quantiles over its mean at each period
    after launch, times the analog's own (scaled) value there, so the band sits around the
    analog's periods with the group's relative spread. Where the group's mean is 0: its
    quantiles at the analog's mean level over the group's median launch level."""
    mean = prof["mean"][at]
    level = own.mean() / prof["level"] if prof["level"] > 0 else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            key: np.where(mean > 0, own[at] * prof[key][at] / mean, prof[key][at] * level)
            for key in keys
        }


def profile_for(profiles: dict, group) -> tuple[dict, str]:
    """The group's launch profile, or every group's when it has fewer than MIN_CURVES."""
    prof = profiles.get(str(group)) if group is not None else None
    if prof is not None and prof["n"] >= MIN_CURVES:
        return prof, str(group)
    return profiles[ALL], ALL


def _curve_words(used: str, n: int) -> str:
    where = "every group" if used == ALL else f"group {used}"
    return f"the launch curve of {where} ({n} launches in the data)"


def _analog_series(series: pd.DataFrame, plant_id, analog, launched: set) -> str | None:
    """The analog's series at the plant, else its first series (by series_id), among those
    launched inside the data (`launched`): a series that starts with the data has a first
    period that is the data's start (often part of a period), not a launch. None if the
    analog has no such series."""
    rows = series[(series["product_id"] == analog) & series["series_id"].isin(launched)]
    rows = rows.sort_values("series_id")
    here = rows[rows["plant_id"] == plant_id]
    pick = here if len(here) else rows
    return str(pick["series_id"].iloc[0]) if len(pick) else None


def backtest_launches(
    history: pd.DataFrame, groups: pd.Series, h: int, since, levels=(80, 95)
) -> pd.DataFrame:
    """Every series whose first period is on or after `since` (and after the data's first),
    forecast as if at its first order from the launch curves of the series launched before
    it (what was known then), against what it then sold: one row per series x k with the
    actual, the launch forecast and bounds, and the naive baseline (the median first-period
    demand of the same curves, flat). `groups`: series_id -> product group."""
    df = history.assign(period_start=pd.to_datetime(history["period_start"]))
    first = launched_inside(df)
    rows = []
    for sid, f in first[first >= pd.Timestamp(since)].sort_values().items():
        curves = launch_curves(df, h, before=f)
        if curves.empty:
            continue
        prof, used = profile_for(group_profiles(curves, groups, levels), groups.get(sid))
        peers = curves if used == ALL else curves[groups.reindex(curves.index).eq(used)]
        actual = df[df["series_id"] == sid].sort_values("period_start")["demand"].to_numpy()[:h]
        n = len(actual)
        frame = pd.DataFrame(
            {
                "series_id": sid,
                "k": np.arange(n),
                "actual": actual,
                "forecast": prof["mean"][:n],
                "naive": float(np.nanmedian(peers[0])),
                "n_curves": prof["n"],
            }
        )
        for lv in levels:
            frame[f"lo_{lv}"] = prof[f"lo_{lv}"][:n]
            frame[f"hi_{lv}"] = prof[f"hi_{lv}"][:n]
        rows.append(frame)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def launch_scores(rows: pd.DataFrame, levels=(80, 95)) -> dict:
    """WAPE (sum of absolute errors over the sum of actuals) and bias (sum of errors over
    the sum of actuals) of the launch curve and of the naive baseline, and the share of
    actuals inside each interval."""
    if rows.empty:
        return {"series": 0}
    total = rows["actual"].abs().sum()
    out = {"series": rows["series_id"].nunique(), "periods": len(rows)}
    for name in ("forecast", "naive"):
        err = rows[name] - rows["actual"]
        out[f"wape_{name}"] = float(err.abs().sum() / total)
        out[f"bias_{name}"] = float(err.sum() / total)
    for lv in levels:
        inside = rows["actual"].between(rows[f"lo_{lv}"], rows[f"hi_{lv}"])
        out[f"coverage_{lv}"] = float(inside.mean())
    return out
