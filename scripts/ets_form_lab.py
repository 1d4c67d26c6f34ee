"""Offline lab: is the forecast step's AutoETS search on the full history worth its CPU?

The forecast step fits each champion's members on the series' whole history; for
AutoETS that is the full model search (error, trend, season forms), most of the
forecast step's CPU on monthly data. The alternative measured here keeps the form the
search chose at the first backtest origin (as the backtest estimates it) and only
re-estimates its parameters on the whole history. Both are scored on the competition's
held-out future as `demandcast evaluate` scores (sMAPE pooled over points, MASE per
series with the in-sample seasonal-naive scale, then averaged).

    .venv/bin/python scripts/ets_form_lab.py --data data/m1_monthly --horizon 18
"""

from __future__ import annotations

import argparse
import resource

import numpy as np
import pandas as pd
from statsforecast.models import AutoETS


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a scripts/competition_data.py folder")
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--season-length", type=int, default=12)
    parser.add_argument("--n-windows", type=int, default=3)
    args = parser.parse_args(argv)
    h, m, w = args.horizon, args.season_length, args.n_windows
    step = -(-h // 3)  # the product's default step_size
    orders = pd.read_parquet(f"{args.data}/orders.parquet")
    actuals = pd.read_parquet(f"{args.data}/actuals.parquet")
    for frame in (orders, actuals):
        frame["uid"] = frame["plant_id"].astype(str) + "/" + frame["product_id"].astype(str)
    history = orders.groupby(["uid", "order_date"])["quantity"].sum()
    future = actuals.sort_values(["uid", "step"]).groupby("uid")["y"].apply(np.asarray)
    scores: dict[str, list] = {"full-history search": [], "backtest-origin form": []}
    cpu = {"full-history search": 0.0, "backtest-origin form": 0.0, "origin search": 0.0}
    same = refused = 0
    for uid, s in history.groupby(level=0):
        x, y = s.to_numpy(dtype=float), future.get(uid)
        if y is None:
            continue
        y = y[:h]
        t = _cpu()
        full = AutoETS(season_length=m).fit(x)
        f_full = full.predict(len(y))["mean"]
        cpu["full-history search"] += _cpu() - t
        cut = len(x) - (h + (w - 1) * step)  # the first backtest origin
        f_form = f_full
        if cut >= max(h, m // 2) + 2:
            t = _cpu()
            form = AutoETS(season_length=m).fit(x[:cut]).model_["components"]
            cpu["origin search"] += _cpu() - t
            t = _cpu()
            try:  # a multiplicative form refuses a history that gained a zero: searched
                fixed = AutoETS(season_length=m, model=form[:3], damped=form[3] == "D").fit(x)
                f_form = fixed.predict(len(y))["mean"]
            except ValueError:
                refused += 1
            cpu["backtest-origin form"] += _cpu() - t
            same += full.model_["components"] == form
        scale = np.mean(np.abs(x[m:] - x[:-m])) if len(x) > m else np.mean(np.abs(np.diff(x)))
        for name, f in (("full-history search", f_full), ("backtest-origin form", f_form)):
            f = np.maximum(f, 0.0)
            mase = np.mean(np.abs(y - f)) / scale if scale > 0 else np.nan
            scores[name].append((np.abs(y - f), np.abs(y) + np.abs(f), mase))
    for name, rows in scores.items():
        num = np.concatenate([r[0] for r in rows])
        den = np.concatenate([r[1] for r in rows])
        smape = 200 * np.mean(np.where(den > 0, num / np.where(den > 0, den, 1), 0))
        mase = np.nanmean([r[2] for r in rows])
        print(f"{name}: sMAPE {smape:.3f}, MASE {mase:.3f}, fit CPU {cpu[name]:.1f} s")
    print(
        f"series {len(scores['full-history search'])}; the same form both ways: {same}; "
        f"the origin's form refused (full search used): {refused}"
    )
    print(f"CPU of the search at the first backtest origin: {cpu['origin search']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
