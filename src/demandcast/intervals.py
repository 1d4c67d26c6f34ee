"""Prediction intervals: pooled conformal quantiles, and the rules every interval obeys.

Pooled conformal intervals. A series has a few backtest windows, far too few
residuals for its own quantiles at every horizon step. So the backtest
(`Calibration`) pools the residuals r = actual - forecast of every series of a
demand class, per candidate and horizon step, each divided by the series'
scale s = sqrt(scale_mae * mae): the geometric mean of the MASE denominator
(in-sample seasonal-naive error) and the candidate's own backtest MAE on the
series. The interval at level L for a champion is then

    forecast[step] + s * quantile_{(1-L)/2 .. (1+L)/2}(r / s | class, candidate, step)

The future's errors are not in the s that scales them; so a backtest window's
residuals are pooled as if divided by the s of the series' other windows
(their MAE in place of mae, where it is above 0: `by_other_windows`), not by
one their own errors went into (the residuals kept per series stay divided
by s, so the window forecasts can be read back from them). A
window whose errors ran large no longer shrinks its own residuals by raising
s: with s from every window the pooled residuals were lighter-tailed than
the future's errors, and a weekly build of M1's series held 76 % in its 80 %
interval (docs/accuracy.md, "Intervals: each window scaled by the others").

The quantiles per step come from a location-scale model across the steps
(`step_quantiles`): each step has its own median and, on each side of it, its
own spread (the mean distance of the residuals above it, and of those below),
while the shape of the tails, which a step's few hundred residuals pin down
poorly, is pooled over every step. So the interval widens with the horizon as
the backtest errors did, never narrowing (a step's spread is at least the one
before); signed residuals keep the skew of demand; the per-series scale makes
one pooled distribution serve series of any size and difficulty. (Each step's
own empirical quantiles, made non-narrowing by a running maximum, carried every
noisy step's excess to the steps after it: over 24 steps Tourism's 80 %
interval held 84.5 % of the future; see docs/accuracy.md.)

Every interval then: is clipped at 0 with the forecast, contains the forecast,
and nests (lo_95 <= lo_80 <= forecast <= hi_80 <= hi_95).

Intervals from zero (`from_zero`, the var `intervals_from_zero`). Demand is never below 0.
Where the central interval's lower bound, the (1 - L)/2 quantile, is at or below 0, the
interval [0, (1 + L)/2 quantile] holds the probability of zero demand too, (1 + L)/2 of
it, not L: on sparse demand most periods' 80 % intervals held 88 to 93 % of the future.
There the interval is [0, L quantile] instead (`top_<L>`), the interval from zero that
holds L; above 0 the central one stands. So lo_L is 0 exactly where hi_L is the L
quantile, and both kinds hold L where their quantiles are right (docs/accuracy.md,
"Intervals from zero"). Whether
demand's (1 - L)/2 quantile is 0 is read from the pooled residuals and from the series
itself (`zero_floor`): at least (1 - L)/2 of its recent periods without demand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from demandcast.selection import LEVEL_CLASSES

SIDES = ("lo", "hi", "top")
"""The bounds per level: the central interval's lo_ and hi_, and top_, the L quantile (the
upper bound of the interval from zero)."""
ALL_CLASSES = "*"
"""The demand_class of the calibration rows pooled over every class (the fallback)."""
MIN_RESIDUALS = 200
"""Scaled residuals a (class, candidate, step) needs before its own quantiles are used: a
2.5 % tail (95 % interval) then rests on at least five of them."""


class Calibration:
    """Scaled backtest residuals per (demand class, candidate), pooled over series.

    `keep_series=True` also keeps each series' own scaled residuals (`series_residuals`),
    so a later run can pool them again without backtesting the series (pipeline.py keeps
    them in the warehouse and gives them back through `add_series`; levels.py reads the
    window forecasts back from them).
    """

    def __init__(self, keep_series: bool = False) -> None:
        self._parts: dict[tuple[str, str], list[np.ndarray]] = {}
        self.series_residuals: dict[tuple[str, str], np.ndarray] | None = (
            {} if keep_series else None
        )

    def add(
        self,
        classes: np.ndarray,
        names: Sequence[str],
        y: np.ndarray,
        f: np.ndarray,
        scale_mae: np.ndarray,
        mae: np.ndarray,
        n_windows: int,
        ids: np.ndarray | None = None,
    ) -> None:
        """y (series, windows*h), f (series, windows*h, models), mae (series, models);
        `ids` (series,) names the series whose residuals are kept (keep_series)."""
        n, t = y.shape
        h = t // n_windows
        for j, name in enumerate(names):
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.sqrt(scale_mae * mae[:, j])
                r = (y - f[:, :, j]) / np.where(scale > 0, scale, np.nan)[:, None]
            r = r.reshape(n, n_windows, h).astype(np.float32)
            ok = np.isfinite(r).all(axis=(1, 2))
            pooled = by_other_windows(r)
            for cls in np.unique(classes[ok]):
                rows = pooled[ok & (classes == cls)].reshape(-1, h)
                self._parts.setdefault((str(cls), name), []).append(rows)
            if self.series_residuals is not None and ids is not None:
                for i in np.nonzero(ok)[0]:  # as kept: divided by the series' one s
                    self.series_residuals[(str(ids[i]), name)] = r[i].reshape(-1)

    def add_series(
        self,
        demand_class: str,
        name: str,
        residuals: Iterable[np.ndarray],
        h: int,
        other_windows: bool = True,
    ) -> None:
        """Kept residuals, each one series' windows of `h` steps one after the other, divided
        by its one s (as `series_residuals` keeps them), pooled as `add` pools them: series
        carried from an earlier backtest. `other_windows=False` pools them as kept (the rule
        before the twentieth session; scripts/interval_lab.py compares the two)."""
        by_length: dict[int, list[np.ndarray]] = {}
        for v in residuals:
            by_length.setdefault(len(v), []).append(np.asarray(v, dtype=np.float32))
        parts = []
        for length, values in sorted(by_length.items()):
            r = np.stack(values).reshape(len(values), length // h, h)
            parts.append((by_other_windows(r) if other_windows else r).reshape(-1, h))
        if parts:
            self._parts.setdefault((str(demand_class), name), []).append(np.concatenate(parts))

    def quantiles(
        self,
        levels: Sequence[float],
        rule: Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> pd.DataFrame:
        """One row per (demand_class, model_name, step): n_residuals, lo_<L>, hi_<L>, top_<L>
        (the L quantile: the upper bound of the interval from zero, `finalize`).

        Each candidate also gets rows pooled over all classes (demand_class '*'). `rule`
        turns residuals (rows, steps) and a tail share into the lower and upper quantile
        of each step: `step_quantiles` unless given (scripts/interval_lab.py tries others).
        """
        rule = rule or step_quantiles
        pooled: dict[tuple[str, str], list[np.ndarray]] = {}
        for (cls, name), parts in self._parts.items():
            pooled.setdefault((cls, name), []).extend(parts)
            pooled.setdefault((ALL_CLASSES, name), []).extend(parts)
        cols = ["demand_class", "model_name", "step", "n_residuals"]
        cols += [f"{side}_{lv}" for lv in levels for side in SIDES]
        rows = []
        for (cls, name), parts in sorted(pooled.items()):
            r = np.concatenate(parts)
            h = r.shape[1]
            row = {
                "demand_class": np.repeat(cls, h),
                "model_name": np.repeat(name, h),
                "step": np.arange(1, h + 1),
                "n_residuals": np.repeat(len(r), h),
            }
            for lv in levels:
                row[f"lo_{lv}"], row[f"hi_{lv}"] = rule(r, (1 - lv / 100) / 2)
                row[f"top_{lv}"] = rule(r, 1 - lv / 100)[1] if lv > 50 else row[f"hi_{lv}"]
            rows.append(pd.DataFrame(row))
        if not rows:
            return pd.DataFrame(columns=cols)
        out = pd.concat(rows, ignore_index=True)
        return out.astype({"step": "int64", "n_residuals": "int64"})[cols]


SPREAD_CLASSES = LEVEL_CLASSES
"""Demand classes whose interval scale is s = sqrt(sd * mae), the history's standard deviation
in place of the seasonal-naive MAE (the classes selected on RMSSE): on sparse demand the
seasonal differences of mostly-zero months say little of the size of the orders that come."""


def interval_base(scales: pd.DataFrame, demand_class) -> np.ndarray:
    """Per series, the scale s = sqrt(base * mae) starts from: metrics.seasonal_scales'
    scale_sd for SPREAD_CLASSES, its scale_mae otherwise. On Hyndman's car parts the sparse
    classes' pinball loss fell 10 % (80 %) and 17 % (95 %) with the residuals scaled by the
    standard deviation before the backtest and the future by the whole history's
    (scripts/interval_lab.py --sparse-scales; the demo's two origins 0 to 7 %)."""
    sparse = np.isin(np.asarray(demand_class, dtype=object).astype(str), SPREAD_CLASSES)
    return np.where(sparse, scales["scale_sd"].to_numpy(float), scales["scale_mae"].to_numpy(float))


def rebased(interval_scale, scale_mae, base) -> np.ndarray:
    """s = sqrt(base * mae) from a champion's interval_scale = sqrt(scale_mae * mae): the same
    backtest MAE on another base (the forecast's standard deviation of the whole history
    for SPREAD_CLASSES); interval_scale itself where that gives no positive scale."""
    given = np.asarray(interval_scale, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sqrt(np.asarray(base, dtype=float) * given**2 / np.asarray(scale_mae, dtype=float))
    return np.where(np.isfinite(s) & (s > 0), s, given)


def by_other_windows(r: np.ndarray) -> np.ndarray:
    """Residuals (series, windows, h), each series' divided by its one scale s, as if each
    window had been divided by the s of the series' other windows: r * sqrt(m / m_others),
    m the mean |r| over all its windows and m_others over the other windows (s = sqrt(
    scale_mae * mae) with mae the mean |y - f| of the same points, so mae's part of s comes
    back from r). m_others counts at least m / n (n windows), so the factor is at most
    sqrt(n): where the other windows' errors were 0 or nearly (a sparse series whose
    forecast of 0 met months without demand), their scale says nothing, and an unbounded
    factor turned one such window into a residual of 28,779 that widened the last step's
    interval of every series of its class (Hyndman's car parts)."""
    r = np.asarray(r, dtype=np.float64)
    n_windows = r.shape[1]
    if n_windows < 2:
        return r.astype(np.float32)
    # NaN: a residual left out (a closure week, pipeline._without_closures)
    a, c = np.nansum(np.abs(r), axis=2), np.isfinite(r).sum(axis=2)
    total, count = a.sum(axis=1, keepdims=True), c.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        others = np.maximum((total - a) / (count - c), mean / n_windows)
        factor = np.where(others > 0, np.sqrt(mean / others), 1.0)
    return (r * factor[:, :, None]).astype(np.float32)


def step_quantiles(r: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    """The lower and upper `a` quantiles of each step of residuals r (rows, steps).

    Per step: the median m, and on each side of it the spread s (the mean distance of
    the residuals that lie on that side). Over every step at once: the tail t of the
    distances divided by their step's spread, so the upper quantile is m + s * t with
    P(residual > m + s * t) = a (a side holding no more than `a` of the residuals: m, as
    the empirical quantile). The spreads never shrink with the step, and neither does the
    interval: lower quantiles never rise, upper ones never fall.
    """
    # each step's residuals in order: sums that do not depend on the order the rows came in
    # (NaN, a residual left out, sorts last and lies on neither side)
    r = np.sort(np.asarray(r, dtype=float), axis=0)
    known = np.isfinite(r)
    if known.all():
        loc = np.median(r, axis=0)
    else:  # a step with no residual at all takes its neighbour's median (else NaN ran on)
        loc = np.full(r.shape[1], np.nan)
        some = known.any(axis=0)
        loc[some] = np.nanmedian(r[:, some], axis=0)
        loc = pd.Series(loc).ffill().bfill().fillna(0.0).to_numpy()
    bounds = []
    for d in (loc - r, r - loc):  # distances below the median, then above it
        side = d > 0
        n = side.sum(axis=0)
        spread = np.where(side, d, 0.0).sum(axis=0) / np.maximum(n, 1)
        spread = np.maximum.accumulate(spread)
        z = (d / np.where(spread > 0, spread, np.inf))[side]
        share = len(z) / max(int(known.sum()), 1)  # of the residuals, those on this side
        # a side holding no more than `a` of them: the quantile is the median itself
        tail = float(np.quantile(z, 1 - a / share)) if share > a else 0.0
        bounds.append(spread * tail)
    lo, hi = loc - bounds[0], loc + bounds[1]
    return np.minimum.accumulate(lo), np.maximum.accumulate(hi)


def pooled_bounds(
    forecast: np.ndarray,
    scale: np.ndarray,
    demand_class: np.ndarray,
    model: np.ndarray,
    table: pd.DataFrame | None,
    levels: Sequence[float],
) -> dict[str, np.ndarray]:
    """Bounds forecast + scale * q[step] from a Calibration table (lo_, hi_ and top_ per
    level); NaN where it has no row (top_: where it has no top_ column, a table from before
    intervals from zero).

    forecast (series, h); scale, demand_class, model (series,). A (class, model) with
    fewer than MIN_RESIDUALS residuals uses the model's rows pooled over all classes.
    """
    n, h = forecast.shape
    out = {f"{side}_{lv}": np.full((n, h), np.nan) for lv in levels for side in SIDES}
    if table is None or table.empty or n == 0:
        return out
    t = table[table["n_residuals"] >= MIN_RESIDUALS]
    q = {key: grp.set_index("step") for key, grp in t.groupby(["demand_class", "model_name"])}
    steps = np.arange(1, h + 1)
    keys = pd.DataFrame({"c": demand_class, "m": model})
    for (cls, name), idx in keys.groupby(["c", "m"], sort=False).indices.items():
        grp = q.get((cls, name), q.get((ALL_CLASSES, name)))
        if grp is None:
            continue
        grp = grp.reindex(steps).ffill()  # a longer horizon than backtested: the last step's
        s = scale[idx][:, None]
        for key in out:
            if key in grp:
                out[key][idx] = forecast[idx] + s * grp[key].to_numpy(dtype=float)[None, :]
    return out


def normal_bounds(
    forecast: np.ndarray, sigma: np.ndarray, levels: Sequence[float]
) -> dict[str, np.ndarray]:
    """Gaussian bounds forecast +- z * sigma (sigma per series, or per series x step), and
    top_<L> at the L quantile."""
    sigma = np.asarray(sigma, dtype=float)
    if sigma.ndim == 1:
        sigma = sigma[:, None]
    out = {}
    for lv in levels:
        z = norm.ppf(0.5 + lv / 200)
        out[f"lo_{lv}"] = forecast - z * sigma
        out[f"hi_{lv}"] = forecast + z * sigma
        out[f"top_{lv}"] = forecast + (norm.ppf(lv / 100) if lv > 50 else z) * sigma
    return out


def zero_floor(
    bounds: dict[str, np.ndarray], zero_share: np.ndarray, levels: Sequence[float]
) -> dict[str, np.ndarray]:
    """lo_L at most 0 for the series (rows) whose share of periods without demand is at
    least (1 - L)/2: there demand's (1 - L)/2 quantile is 0, whatever the pooled residuals'
    smooth model of the lower tail says (pooled over a class, it puts lo_80 above 0 on
    series with a period in four without demand); `finalize` then makes it the interval
    from zero."""
    share = np.asarray(zero_share, dtype=float)[:, None]
    out = dict(bounds)
    for lv in levels:
        lo = bounds[f"lo_{lv}"]
        out[f"lo_{lv}"] = np.where(
            (share >= (1 - lv / 100) / 2) & np.isfinite(lo), np.minimum(lo, 0.0), lo
        )
    return out


def finalize(
    forecast: np.ndarray,
    bounds: dict[str, np.ndarray],
    levels: Sequence[float],
    from_zero: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Clip at 0 and order: lo_wide <= lo_narrow <= forecast <= hi_narrow <= hi_wide.
    `from_zero`: where lo_L is 0, hi_L is the L quantile (`top_<L>` of `bounds`, where
    finite) instead of the (1 + L)/2 one: the interval from zero that holds L (above)."""
    f = np.maximum(forecast, 0.0)
    lo_prev, hi_prev = f, f
    out = {}
    for lv in sorted(levels):  # narrow to wide
        lo = np.maximum(bounds[f"lo_{lv}"], 0.0)
        lo = np.minimum(np.where(np.isfinite(lo), lo, lo_prev), lo_prev)
        hi = bounds[f"hi_{lv}"]
        top = bounds.get(f"top_{lv}")
        if from_zero and top is not None:
            hi = np.where((lo <= 0) & np.isfinite(top), top, hi)
        hi = np.maximum(hi, 0.0)
        hi = np.maximum(np.where(np.isfinite(hi), hi, hi_prev), hi_prev)
        out[f"lo_{lv}"], out[f"hi_{lv}"] = lo, hi
        lo_prev, hi_prev = lo, hi
    return f, out
