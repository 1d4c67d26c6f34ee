"""Does selection pay? Holdout accuracy on demo data whose future we never see.

Builds weekly series from the demo's order lines (pandas twin of the SQL),
runs backtest -> selection -> forecast on the history, and scores the
forecast of the next `horizon` weeks against the demo's truth.parquet (the
realised future demand, which the history does not contain). Side by side on
the same series:

- selection        our champions (method 'champion')
- class defaults   each demand class's default from catalog.yml, no selection
- argmin           each series' lowest backtest score, no defaults, no margin
- best single (bt) the one candidate with the best mean backtest score,
                   applied to every series (chosen without the future)
- best single (hs) the one candidate with the best holdout MASE, applied to
                   every series (chosen WITH the future: an oracle bar)
- SeasonalNaive    applied to every series
- expected         the generator's expected demand (the noise floor)

Metrics: mean MASE and mean RMSSE over series (scales: in-sample seasonal
naive on the full history), WAPE pooled over series; overall and per demand
class. Coverage of our intervals at each level. Prints tables; writes JSON.

    .venv/bin/python scripts/accuracy.py --plants 2 --products 300 --n-jobs 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from statsforecast import StatsForecast

from demandcast.backtest import run_backtest
from demandcast.catalog import Guarded, load_catalog
from demandcast.config import Settings
from demandcast.demo import write_demo
from demandcast.forecast import forecast_series
from demandcast.frames import series_from_orders, to_sf
from demandcast.metrics import score, seasonal_scales
from demandcast.selection import parse_champion, select_champions

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("smooth", "erratic", "intermittent", "lumpy")


def load_demo(args: argparse.Namespace) -> Path:
    if args.data and (Path(args.data) / "orders.parquet").exists():
        return Path(args.data)
    out = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="demandcast-acc-"))
    write_demo(
        out, n_plants=args.plants, n_products=args.products, years=args.years, seed=args.seed
    )
    return out


def holdout_truth(
    truth: pd.DataFrame, full: pd.DataFrame, origin: pd.Timestamp, horizon: int
) -> pd.DataFrame:
    """Actual and expected demand per series x week after `origin` (step 1..horizon).

    Beyond the history the actual is the demo's realised future demand; inside
    the history (an earlier origin) it is the series itself (net of returns).
    """
    day = pd.to_datetime(truth["demand_date"])
    t = truth.assign(step=(day - origin).dt.days // 7)
    t = t[(t["step"] >= 1) & (t["step"] <= horizon)]
    out = (
        t.groupby(["unique_id", "step"], observed=True)[["actual_demand", "expected_demand"]]
        .sum(min_count=1)
        .reset_index()
        .rename(columns={"actual_demand": "y", "expected_demand": "expected"})
    )
    past = full.assign(step=(pd.to_datetime(full["period_start"]) - origin).dt.days // 7)
    past = past[(past["step"] >= 1) & (past["step"] <= horizon)]
    past = past.rename(columns={"series_id": "unique_id", "demand": "y_hist"})
    out = out.merge(past[["unique_id", "step", "y_hist"]], on=["unique_id", "step"], how="left")
    out["y"] = out["y_hist"].where(out["y_hist"].notna(), out["y"])
    return out.drop(columns="y_hist").dropna(subset=["y"])


def all_candidates(
    df: pd.DataFrame, ids: np.ndarray, settings: Settings, catalog
) -> tuple[pd.DataFrame, list]:
    """Every single candidate refit on the full history of every series (long frame)."""
    cands = catalog.resolve(settings.candidates, settings.season_length)
    singles = [c for c in cands if not c.is_combination]
    models = [Guarded(catalog.build(c.name, settings.season_length)) for c in singles]
    sf = StatsForecast(models=models, freq=settings.freq, n_jobs=settings.n_jobs)
    res = sf.forecast(df=df[df["unique_id"].isin(ids)], h=settings.horizon)
    res = res.sort_values(["unique_id", "ds"], kind="stable")
    res["step"] = res.groupby("unique_id").cumcount() + 1
    long = res.melt(
        id_vars=["unique_id", "step"],
        value_vars=[c.name for c in singles],
        var_name="model",
        value_name="y_hat",
    )
    long["unique_id"] = long["unique_id"].astype(str)
    return long, cands


def combine(long: pd.DataFrame, members_of: pd.Series, how: str, name: str) -> pd.DataFrame:
    """A combination per series: members_of maps unique_id -> list of member names."""
    pairs = members_of.explode().rename("model").reset_index()
    pairs.columns = ["unique_id", "model"]
    sub = long.merge(pairs, on=["unique_id", "model"])
    out = sub.groupby(["unique_id", "step"])["y_hat"].agg(how).reset_index()
    out["model"] = name
    return out


def evaluate(fc: pd.DataFrame, truth: pd.DataFrame, scales: pd.DataFrame, cls: pd.Series):
    """Mean MASE / RMSSE and pooled WAPE per model, overall and per class."""
    d = fc.merge(truth[["unique_id", "step", "y"]], on=["unique_id", "step"])
    d["y_hat"] = d["y_hat"].clip(lower=0)
    per = score(d, scales, keys=("unique_id", "model"))
    per["demand_class"] = cls.reindex(per["unique_id"]).to_numpy()
    d["ae"] = (d["y_hat"] - d["y"]).abs()
    d["demand_class"] = cls.reindex(d["unique_id"]).to_numpy()
    rows = []
    for group, sel in [("all", slice(None))] + [(c, c) for c in CLASSES]:
        p = per if group == "all" else per[per["demand_class"] == sel]
        q = d if group == "all" else d[d["demand_class"] == sel]
        agg = p.groupby("model").agg(
            mase=("mase", "mean"), rmsse=("rmsse", "mean"), n=("mase", "size")
        )
        wape = q.groupby("model")["ae"].sum() / q.groupby("model")["y"].sum()
        agg["wape"] = wape
        agg["group"] = group
        rows.append(agg.reset_index())
    return pd.concat(rows, ignore_index=True), per


def run_origin(
    orders: pd.DataFrame,
    products: pd.DataFrame,
    truth: pd.DataFrame,
    full: pd.DataFrame,
    weeks_back: int,
    settings: Settings,
    catalog,
) -> tuple[pd.DataFrame, dict]:
    """One forecast origin: every strategy's per-series holdout errors."""
    last = pd.to_datetime(orders["order_date"]).max()
    cut = last - pd.Timedelta(weeks=weeks_back)
    series, profiles = series_from_orders(
        orders[pd.to_datetime(orders["order_date"]) <= cut], products
    )
    origin = pd.to_datetime(series["period_start"]).max()
    bt = run_backtest(series, profiles, settings, catalog)
    ch = select_champions(bt, profiles, settings, catalog)
    fc = forecast_series(series, profiles, ch, settings, catalog)
    hold = holdout_truth(truth, full, origin, settings.horizon)
    df = to_sf(series)
    scales = seasonal_scales(df, settings.season_length)
    cls = profiles.set_index("series_id")["demand_class"]

    ours = fc[fc["method"] == "champion"].rename(columns={"series_id": "unique_id"})
    ids = np.intersect1d(ours["unique_id"].unique(), hold["unique_id"].unique())
    long, cands = all_candidates(df, ids, settings, catalog)
    combos = []
    for c in cands:
        if c.is_combination and not c.is_top_k:
            members = pd.Series([list(c.members)] * len(ids), index=ids)
            combos.append(combine(long, members, c.combine, c.name))
    singles_table = pd.concat([long, *combos], ignore_index=True)

    def by_champion(champs: pd.Series, label: str) -> pd.DataFrame:
        parts = []
        for champ, sel in champs.groupby(champs):
            name, members = parse_champion(champ)
            uid = sel.index.to_numpy()
            if members:
                ms = pd.Series([members] * len(uid), index=uid)
                parts.append(combine(long, ms, catalog.candidates[name].combine, label))
            else:
                part = singles_table[
                    (singles_table["model"] == name) & singles_table["unique_id"].isin(uid)
                ].copy()
                part["model"] = label
                parts.append(part)
        return pd.concat(parts, ignore_index=True)

    defaults = cls.reindex(ids).map(catalog.defaults).dropna()
    no_default = dataclasses.replace(catalog, defaults={})
    argmin = select_champions(bt, profiles, settings, no_default)
    argmin = argmin.set_index("series_id")["champion"].reindex(ids).dropna()
    sel = ours[ours["unique_id"].isin(ids)][["unique_id", "step", "forecast"]]
    sel = sel.rename(columns={"forecast": "y_hat"}).assign(model="selection")
    expected = hold[hold["unique_id"].isin(ids)][["unique_id", "step", "expected"]]
    expected = expected.rename(columns={"expected": "y_hat"}).assign(model="expected")
    allfc = pd.concat(
        [
            singles_table,
            by_champion(defaults, "class defaults"),
            by_champion(argmin, "argmin"),
            sel,
            expected,
        ],
        ignore_index=True,
    )
    d = allfc.merge(hold[["unique_id", "step", "y"]], on=["unique_id", "step"])
    d["y_hat"] = d["y_hat"].clip(lower=0)
    per = score(d, scales, keys=("unique_id", "model"))
    sums = d.assign(ae=(d["y_hat"] - d["y"]).abs()).groupby(["unique_id", "model"])[["ae", "y"]]
    per = per.merge(sums.sum().reset_index(), on=["unique_id", "model"])
    per["demand_class"] = cls.reindex(per["unique_id"]).to_numpy()
    per["origin"] = str(origin.date())

    ok = bt[(bt["status"] == "ok") & bt["series_id"].isin(ids)]
    rank = ok.groupby("model_name")[settings.selection_metric].mean().sort_values()
    names = set(singles_table["model"].unique())
    info = {
        "origin": str(origin.date()),
        "series": int(len(ids)),
        "best_single_bt": next(n for n in rank.index if n in names),
        "champions": ch["champion"].str.split("[").str[0].value_counts().to_dict(),
        "candidates": sorted(names),
    }
    cov = fc.rename(columns={"series_id": "unique_id"}).merge(hold, on=["unique_id", "step"])
    cov["demand_class"] = cls.reindex(cov["unique_id"]).to_numpy()
    for lv in settings.levels:
        cov[f"in_{lv}"] = (cov["y"] >= cov[f"lo_{lv}"] - 1e-9) & (
            cov["y"] <= cov[f"hi_{lv}"] + 1e-9
        )
    cov["origin"] = info["origin"]
    info["coverage"] = cov[
        ["origin", "unique_id", "step", "method", "demand_class"]
        + [f"in_{lv}" for lv in settings.levels]
    ]
    return per, info


def summarise(per: pd.DataFrame, model: str, group: str) -> dict | None:
    p = per[per["model"] == model]
    if group != "all":
        p = p[p["demand_class"] == group]
    if p.empty:
        return None
    return {
        "mase": float(p["mase"].mean()),
        "rmsse": float(p["rmsse"].mean()),
        "wape": float(p["ae"].sum() / p["y"].sum()),
        "n": int(len(p)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="demo folder (written there if it has no orders.parquet)")
    ap.add_argument("--plants", type=int, default=2)
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--origins",
        default="0,13,26",
        help="forecast origins as weeks before the end of the history (0: the real future)",
    )
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--candidates", default="default")
    ap.add_argument("--margin", type=float, default=None, help="selection_margin override")
    ap.add_argument("--no-routing", action="store_true")
    ap.add_argument("--json", default=str(ROOT / "reports" / "accuracy.json"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    started = time.perf_counter()
    data = load_demo(args)
    orders = pd.read_parquet(data / "orders.parquet")
    products = pd.read_parquet(data / "products.parquet")
    truth = pd.read_parquet(
        data / "truth.parquet",
        columns=["plant_id", "product_id", "demand_date", "expected_demand", "actual_demand"],
    )
    truth["unique_id"] = truth["plant_id"].astype(str) + "|" + truth["product_id"].astype(str)
    full, _ = series_from_orders(orders, products)
    settings = Settings(n_jobs=args.n_jobs, candidates=args.candidates)
    if args.margin is not None:
        settings = settings.with_(selection_margin=args.margin)
    if args.no_routing:
        settings = settings.with_(route_by_class=False)
    catalog = load_catalog()

    pers, infos = [], []
    for weeks_back in [int(w) for w in args.origins.split(",")]:
        per, info = run_origin(orders, products, truth, full, weeks_back, settings, catalog)
        pers.append(per)
        infos.append(info)
        print(
            f"origin {info['origin']}: {info['series']} series, "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    per = pd.concat(pers, ignore_index=True)
    names = set(infos[0]["candidates"])
    overall = per[per["model"].isin(names)].groupby("model")["mase"].mean()
    best_hs = overall.idxmin()
    best_bt = pd.Series([i["best_single_bt"] for i in infos]).mode().iloc[0]
    show = {
        "selection": "selection",
        "class defaults (no selection)": "class defaults",
        "argmin (no defaults, no margin)": "argmin",
        f"best single, by backtest: {best_bt}": best_bt,
        f"best single, in hindsight: {best_hs}": best_hs,
        "SeasonalNaive": "SeasonalNaive",
        "expected demand (noise floor)": "expected",
    }
    groups = ("all", *CLASSES)
    lines = [
        f"holdout: next {settings.horizon} weeks at origins "
        + ", ".join(i["origin"] for i in infos)
        + f"; {sum(i['series'] for i in infos)} series-origins",
        "cells: mean MASE / pooled WAPE (series-origins)",
        f"{'strategy':44s} " + " ".join(f"{g:>22s}" for g in groups),
    ]
    table = {}
    for label, model in show.items():
        cells, table[label] = [], {}
        for g in groups:
            r = summarise(per, model, g)
            table[label][g] = r
            cells.append(
                f"{'-':>22s}" if r is None else f"{r['mase']:7.3f} / {r['wape']:6.3f} ({r['n']:4d})"
            )
        lines.append(f"{label:44s} " + " ".join(cells))
    lines += ["", "best single candidate per class in hindsight (mean MASE) vs selection:"]
    for g in CLASSES:
        p = per[(per["demand_class"] == g) & per["model"].isin(names)]
        if p.empty:
            continue
        b = p.groupby("model")["mase"].mean().sort_values()
        s = summarise(per, "selection", g)
        lines.append(f"  {g:13s} {b.index[0]:24s} {b.iloc[0]:.3f}   selection {s['mase']:.3f}")
    lines += [
        "",
        "per origin (mean MASE): "
        + ", ".join(
            f"{o}: selection {p[p.model == 'selection'].mase.mean():.3f} / "
            f"defaults {p[p.model == 'class defaults'].mase.mean():.3f} / "
            f"{best_hs} {p[p.model == best_hs].mase.mean():.3f}"
            for o, p in per.groupby("origin")
        ),
    ]
    cov = pd.concat([i["coverage"] for i in infos], ignore_index=True)
    cols = [f"in_{lv}" for lv in settings.levels]
    by = cov.groupby(["method", "demand_class"])[cols].mean()
    lines += ["", "interval coverage (share of actuals inside the interval):"]
    lines.append(by.round(3).to_string())
    tot = cov.groupby("method")[cols].mean()
    lines.append(tot.round(3).to_string())
    champs = pd.DataFrame([i["champions"] for i in infos]).sum().sort_values(ascending=False)
    lines += [
        "",
        "champions (all origins): "
        + ", ".join(f"{k} {int(v)}" for k, v in champs.head(12).items()),
    ]
    lines.append(f"wall time {time.perf_counter() - started:.0f} s")
    print("\n".join(lines))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "origins": [i["origin"] for i in infos],
                "series_origins": int(sum(i["series"] for i in infos)),
                "settings": {
                    k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()
                },
                "table": table,
                "coverage": {m: {k: float(v) for k, v in r.items()} for m, r in tot.iterrows()},
                "coverage_by_class": {
                    f"{m}/{c}": {k: float(v) for k, v in r.items()} for (m, c), r in by.iterrows()
                },
                "champions": {k: int(v) for k, v in champs.items()},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
