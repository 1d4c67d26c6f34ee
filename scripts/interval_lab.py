"""Interval lab: the pooled conformal intervals of a kept build, recomputed by other rules.

The point forecasts of a build do not depend on how the residual quantiles per step are
estimated, so a rule for them can be scored without building again: this script reads a
build kept by `scripts/accuracy.py --keep` (its backtest residuals, the champions'
interval scales, the published forecast), recomputes every pooled conformal interval
with each rule through demandcast.intervals' own `pooled_bounds` and `finalize`, and
scores them on the held-out future: the share of actuals inside the 80 % and 95 %
intervals, and the 95 % interval score (width plus 40 times each miss, over the series'
in-sample seasonal-naive MAE, the mean over series of its mean over steps; on these
scales, not `demandcast evaluate`'s MSIS). Series whose interval is not the pooled one
(cold starts, fallbacks, native intervals, steps held flat) keep the published one.

Rules (lower, upper quantile per step of the scaled residuals, never narrowing):
- `shipped`: demandcast.intervals.step_quantiles, what the build ships (its
  `largest_change_from_build` is 0 on a build of this code: the check that the lab
  recomputes the build's own intervals);
- `running-max`: each step's own empirical quantiles, a running maximum (minimum) over
  the steps (what shipped before the nineteenth session);
- `isotonic`: each step's own quantiles, the least-squares monotone fit;
- `window-1`, `window-2`: each step's quantiles of the residuals of the steps within 1
  (2) of it, then the running maximum.

Every rule pools the residuals as the build does, each window as if scaled by the MAE
of its series' other windows (intervals.by_other_windows; the twentieth session);
`--before` adds `shipped` on the residuals as kept, one scale a series (the rule before).

`--sparse-scales` compares, for the intermittent and lumpy series only, other per-series
scales s in place of the build's (intervals.interval_base: the residuals divided by
sqrt(sd before the first backtest origin * mae), the future scaled by sqrt(sd * mae)):
each series' kept residuals are multiplied by the build's s over the new one before
pooling, and its future interval is its forecast plus the new s times the pooled
quantiles (the step rule as shipped). Read a build of d009d8d or later. Scored on
those series: the share held and the mean pinball loss of each level's two bounds
(`spl_<level>`, over the seasonal-naive MAE, as `demandcast evaluate`'s spl_<level>) and
the interval score at 95 %. The history's standard deviation `sd` is over every period up
to the forecast origin (in the backtest's residuals too, which then see their own windows),
`sd before the backtest` over the periods before the first backtest origin, the span of the
build's other scales; the last rule scales the residuals by the one and the future by the
other, as a build could.

    .venv/bin/python scripts/accuracy.py --data DIR --vars '{...}' --keep   # prints the path
    .venv/bin/python scripts/interval_lab.py --db KEPT.duckdb --actuals DIR/actuals.parquet
    # the demo's realised future: --actuals WORK/demo/truth.parquet (the daily truth)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from demandcast.evaluate import demo_actuals
from demandcast.intervals import (
    SPREAD_CLASSES,
    Calibration,
    finalize,
    pooled_bounds,
    rebased,
    step_quantiles,
)
from demandcast.metrics import seasonal_scales
from demandcast.selection import parse_champion

LEVELS = (80, 95)
BOUNDS = [f"{side}_{lv}" for lv in LEVELS for side in ("lo", "hi")]


def running_max(r: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.quantile(r, a, axis=0), np.quantile(r, 1 - a, axis=0)
    return np.minimum.accumulate(lo), np.maximum.accumulate(hi)


def isotonic(r: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.quantile(r, a, axis=0), np.quantile(r, 1 - a, axis=0)
    x = np.arange(len(lo))
    down, up = IsotonicRegression(increasing=False), IsotonicRegression(increasing=True)
    return down.fit_transform(x, lo), up.fit_transform(x, hi)


def window(k: int):
    def rule(r: np.ndarray, a: float) -> tuple[np.ndarray, np.ndarray]:
        h = r.shape[1]
        near = [r[:, max(0, s - k) : s + k + 1].ravel() for s in range(h)]
        lo, hi = np.array([np.quantile(v, [a, 1 - a]) for v in near]).T
        return np.minimum.accumulate(lo), np.maximum.accumulate(hi)

    return rule


RULES = {
    "shipped": step_quantiles,
    "running-max": running_max,
    "isotonic": isotonic,
    "window-1": window(1),
    "window-2": window(2),
}


def load(db: Path, actuals: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    h = con.execute("select max(step) from fct_demand_forecast").fetchone()[0]
    bt = con.execute(
        "select demand_class, model_name, residuals from int_forecast__backtest"
        " where residuals is not null"
    ).df()
    residuals = Calibration()  # as the build's int_forecast__calibration pools them
    before = Calibration()  # as they are kept: one scale a series (the rule before)
    for (cls, name), g in bt.groupby(["demand_class", "model_name"]):
        blobs = [np.frombuffer(b, dtype="<f4") for b in g["residuals"]]
        residuals.add_series(cls, name, blobs, h)
        before.add_series(cls, name, blobs, h, other_windows=False)
    champ = con.execute(
        "select series_id, champion, interval_scale, scale_mae from int_forecast__champions"
    ).df()
    fc = con.execute(
        f"""select series_id, plant_id, product_id, period_start, step, demand_class,
            statistical_forecast as f, {", ".join(BOUNDS)},
            method = 'champion' and fallback_reason is null as pooled, forecast_origin
        from fct_demand_forecast"""
    ).df()
    act = pd.read_parquet(actuals)
    if "y" not in act.columns:  # the demo's daily truth
        act = demo_actuals(actuals, "week", fc["forecast_origin"].max(), h)
    act = act.astype({"plant_id": str, "product_id": str})
    for frame in (act, fc):
        frame["period_start"] = pd.to_datetime(frame["period_start"])
    keys = ["plant_id", "product_id", "period_start"]
    fc = fc.merge(act[[*keys, "y"]], on=keys)
    wide = {k: fc.pivot(index="series_id", columns="step", values=k) for k in ["f", "y", *BOUNDS]}
    ids = wide["f"].index
    champ = champ.set_index("series_id").reindex(ids)
    first = fc.groupby("series_id").agg(cls=("demand_class", "first"), pooled=("pooled", "all"))
    first = first.reindex(ids)
    # the history's standard deviation to the forecast origin, and before the first backtest
    # origin (the span of the backtest's scales: the last horizon + (n_windows - 1) *
    # step_size periods left out), metrics.seasonal_scales' as the build's
    m, back = con.execute(
        "select season_length, horizon + (n_windows - 1) * step_size from int_run__context"
    ).fetchone()
    hist = con.execute(
        """select series_id as unique_id, period_start as ds, demand as y,
            count(*) over (partition by series_id) - row_number() over (
                partition by series_id order by period_start) as after
        from fct_demand_history
        where period_start <= (select max(forecast_origin) from fct_demand_forecast)"""
    ).df()
    sd = seasonal_scales(hist, m)["scale_sd"].reindex(ids)
    sd_before = seasonal_scales(hist[hist["after"] >= back], m)["scale_sd"].reindex(ids)
    con.close()
    scale = champ["interval_scale"].to_numpy(dtype=float)
    sparse = np.isin(first["cls"].to_numpy().astype(str), SPREAD_CLASSES)
    scale = np.where(sparse, rebased(scale, champ["scale_mae"], sd), scale)  # as the forecast
    return {
        "db": db,
        "h": h,
        "residuals": residuals,
        "before": before,
        "ids": ids,
        "wide": {k: v.reindex(ids).to_numpy(dtype=float) for k, v in wide.items()},
        "scale": scale,
        "sd": sd,
        "sd_before": sd_before,
        "scale_mae": champ["scale_mae"].to_numpy(dtype=float),
        "model": np.array([parse_champion(c)[0] for c in champ["champion"].fillna("")]),
        "cls": first["cls"].to_numpy(),
        "pooled": first["pooled"].to_numpy(dtype=bool) & champ["interval_scale"].notna().to_numpy(),
    }


def score(d: dict, rule) -> dict:
    f, y = d["wide"]["f"], d["wide"]["y"]
    table = d["residuals"].quantiles(LEVELS, rule)
    new = pooled_bounds(f, d["scale"], d["cls"], d["model"], table, LEVELS)
    _, new = finalize(f, new, LEVELS)
    b = {
        k: np.where(d["pooled"][:, None] & np.isfinite(new[k]), new[k], d["wide"][k])
        for k in BOUNDS
    }
    seen = np.isfinite(y)
    out = {}
    for lv in LEVELS:
        inside = (b[f"lo_{lv}"] <= y) & (y <= b[f"hi_{lv}"])
        out[f"coverage_{lv}"] = round(100 * float(inside[seen].mean()), 1)
    lo, hi = b["lo_95"], b["hi_95"]
    interval = (hi - lo) + 40 * np.maximum(lo - y, 0) + 40 * np.maximum(y - hi, 0)
    ok = seen.all(axis=1) & (d["scale_mae"] > 0)
    out["interval_score_95"] = round(float((interval[ok] / d["scale_mae"][ok, None]).mean()), 3)
    change = max(np.nanmax(np.abs(b[k] - d["wide"][k])) for k in BOUNDS)
    out["largest_change_from_build"] = float(change)
    return out


def _geo(base: str):
    return lambda v: np.sqrt(v[base] * v["mae"])


SHIPPED = (
    "shipped: the residuals by sqrt(sd before the backtest * mae), the future by sqrt(sd * mae)"
)
SPARSE_SCALES = {  # name: (s of the backtest's residuals, s of the future), from a series'
    # columns (see sparse_scales)
    SHIPPED: (_geo("sd_before"), _geo("sd")),
    "sqrt(scale_mae * mae) (before d009d8d)": (_geo("scale_mae"),) * 2,
    "scale_mae": (lambda v: v["scale_mae"],) * 2,
    "sd": (lambda v: v["sd"],) * 2,
    "sqrt(sd * mae)": (_geo("sd"),) * 2,
    "sqrt(sd before the backtest * mae)": (_geo("sd_before"),) * 2,
    "sqrt(sqrt(scale_mse) * mae)": (_geo("root_mse"),) * 2,
}


def sparse_scales(d: dict) -> dict:
    """The sparse series' intervals with each of SPARSE_SCALES (see the module's doc)."""
    con = duckdb.connect(str(d["db"]), read_only=True)
    bt = con.execute(
        """select series_id, demand_class, model_name, mae, mae / mase as scale_mae,
            rmse / rmsse as root_mse, residuals
        from int_forecast__backtest
        where residuals is not null and mase > 0 and rmsse > 0"""
    ).df()
    champ = con.execute("select series_id, champion from int_forecast__champions").df()
    con.close()
    for col in ("sd", "sd_before"):
        bt[col] = d[col].reindex(bt["series_id"]).to_numpy()
    ids, f, y = d["ids"], d["wide"]["f"], d["wide"]["y"]
    sparse = np.isin(d["cls"], SPREAD_CLASSES) & d["pooled"]
    name = pd.Series([parse_champion(c)[0] for c in champ["champion"].fillna("")],
                     index=champ["series_id"]).reindex(ids)  # fmt: skip
    own = bt.set_index(["series_id", "model_name"])
    own = own[~own.index.duplicated()].reindex(pd.MultiIndex.from_arrays([ids, name]))

    def args(t: pd.DataFrame) -> dict[str, np.ndarray]:
        cols = ("scale_mae", "mae", "root_mse", "sd", "sd_before")
        return {c: t[c].to_numpy(dtype=float) for c in cols}

    kept = SPARSE_SCALES[SHIPPED][0]  # what the build divided the sparse residuals by
    bt_sparse = bt["demand_class"].isin(SPREAD_CLASSES).to_numpy()
    out = {}
    for rule, (scale_of, future_scale_of) in SPARSE_SCALES.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(bt_sparse, kept(args(bt)) / scale_of(args(bt)), 1.0)
            scale = np.where(sparse, future_scale_of(args(own)), d["scale"])
        cal = Calibration()
        for (cls, model), g in bt.assign(factor=factor).groupby(["demand_class", "model_name"]):
            ok = np.isfinite(g["factor"]) & (g["factor"] > 0)
            blobs = [np.frombuffer(b, dtype="<f4") * k for b, k in zip(
                g["residuals"][ok], g["factor"][ok], strict=True)]  # fmt: skip
            cal.add_series(cls, model, blobs, d["h"])
        table = cal.quantiles(LEVELS, step_quantiles)
        new = pooled_bounds(f, scale, d["cls"], d["model"], table, LEVELS)
        _, new = finalize(f, new, LEVELS)
        rows = sparse & np.isfinite(scale) & np.isfinite(y).all(axis=1) & (d["scale_mae"] > 0)
        yy, sm = y[rows], d["scale_mae"][rows, None]
        res = {"series": int(rows.sum())}
        for lv in LEVELS:
            lo, hi, a = new[f"lo_{lv}"][rows], new[f"hi_{lv}"][rows], (100 - lv) / 200
            res[f"coverage_{lv}"] = round(100 * float(((lo <= yy) & (yy <= hi)).mean()), 1)
            loss = np.maximum(a * (yy - lo), (a - 1) * (yy - lo))
            loss += np.maximum((1 - a) * (yy - hi), -a * (yy - hi))
            res[f"spl_{lv}"] = round(float((loss / 2 / sm).mean(axis=1).mean()), 4)
        lo, hi = new["lo_95"][rows], new["hi_95"][rows]
        score = (hi - lo) + 40 * (np.maximum(lo - yy, 0) + np.maximum(yy - hi, 0))
        res["interval_score_95"] = round(float((score / sm).mean(axis=1).mean()), 3)
        out[rule] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True, help="a build kept by accuracy.py --keep")
    ap.add_argument("--actuals", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--before",
        action="store_true",
        help="also the shipped rule on residuals scaled by one scale a series (before)",
    )
    ap.add_argument(
        "--sparse-scales",
        action="store_true",
        help="also the intermittent and lumpy series' intervals with other per-series scales",
    )
    args = ap.parse_args()
    d = load(args.db, args.actuals)
    result = {"series": len(d["ids"]), "pooled_series": int(d["pooled"].sum())}
    result |= {name: score(d, rule) for name, rule in RULES.items()}
    if args.before:
        d["residuals"] = d["before"]
        result["shipped, each window scaled by its own series' scale"] = score(d, step_quantiles)
    if args.sparse_scales:
        d["residuals"] = None
        result["sparse series, per-series scale"] = sparse_scales(d)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
