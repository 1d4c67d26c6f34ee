"""Benchmark the forecasting engine against plain StatsForecast doing the same work.

Times each stage of demandcast (wall time, CPU time of this process and its
worker processes, peak memory, number of model fits and StatsForecast calls),
then the same work done with plain StatsForecast and pandas in the same run
(`plain_statsforecast`: the same candidates on the same series, routed by
demand class as demandcast routes them, the same windows, step and refit
setting, the same selection criterion, a refit of the champions only, conformal
intervals), and prints the ratio of the two totals. Prints a table; writes JSON.
The reference neither races candidates nor learns ComboLearned's weights, so with
it demandcast runs every candidate on every series (`race_share` 1) without
ComboLearned and the per-series top-k combinations, the same work;
`--no-reference` times the candidates as they ship
(the race, ComboLearned), demandcast alone.

    .venv/bin/python scripts/bench_automl.py --series 2000 --years 3 --n-jobs 2

Data: the demo generator (realistic mix of demand classes and lifecycles) at
about --series series; --source synthetic uses frames.synthetic_series
(a quarter each of smooth, erratic, intermittent, lumpy; all full length).
The machine is shared: the script records the load average before each stage, and
a figure is only as clean as the load it was taken under. `--unrouted` adds the
earlier reference, which does different work (every candidate on every series,
every candidate refit), labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive

from demandcast.backtest import BacktestStats, run_backtest
from demandcast.catalog import load_catalog
from demandcast.config import Settings
from demandcast.demo import write_demo
from demandcast.forecast import ForecastStats, forecast_series

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import TreeSampler, peak  # noqa: E402

from demandcast.frames import series_from_orders, synthetic_series, to_sf
from demandcast.intervals import Calibration
from demandcast.pooled import fit_panel, learners
from demandcast.selection import LEVEL_CLASSES, parse_champion, select_champions
from demandcast.stacking import LEARNED

ROOT = Path(__file__).resolve().parents[1]


class Stage:
    """Wall time, CPU time (self + finished children) and peak RSS of a block."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.load = os.getloadavg()[0]
        self.wall0 = time.perf_counter()
        self.cpu0 = _cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = _cpu() - self.cpu0
        self.rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.rss_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return False

    def row(self, **extra) -> dict:
        return {
            "stage": self.name,
            "wall_s": round(self.wall, 2),
            "cpu_s": round(self.cpu, 2),
            "load_before": round(self.load, 2),
            **extra,
        }


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def make_data(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    if args.source == "synthetic":
        return synthetic_series(args.series, 52 * args.years, seed=args.seed)
    n_plants = max(1, args.series // 500)
    with tempfile.TemporaryDirectory(prefix="demandcast-bench-") as folder:
        out = Path(folder)
        write_demo(
            out,
            n_plants=n_plants,
            n_products=args.series // n_plants,
            years=args.years,
            seed=args.seed,
        )
        orders = pd.read_parquet(out / "orders.parquet")
        products = pd.read_parquet(out / "products.parquet")
    return series_from_orders(orders, products)


# ---------------------------------------------------------------- the plain reference


def plain_statsforecast(
    series: pd.DataFrame, profiles: pd.DataFrame, settings: Settings, catalog, label: str
) -> tuple[list[dict], pd.DataFrame]:
    """demandcast's work done with plain StatsForecast and pandas; its rows and champions.

    The same work: demandcast's own plan (`backtest._plan`: the eligible series, the
    windows that fit each, and the candidates that apply to each by demand class and
    history) decides which candidates run on which series; one plain `cross_validation`
    per routing group, with the same windows and step, the `forward` candidates estimated
    once at the first origin (refit=False) and the others refit on every window (two calls
    where a group has both, since plain StatsForecast takes one refit setting a call), the
    same models (as the catalog builds them), StatsForecast's `fallback_model` (Naive) for
    a fit that raises. Then the same selection criterion in pandas: MASE over all windows
    (RMSSE for the intermittent and lumpy classes, the default vars),
    the catalog's fixed combinations (mean or median of their members), per demand class
    the pool member with the lowest geometric mean, and a series leaves it only for a
    score better by the margins. Not done: demandcast's metrics other than the selection
    metric's (the per-series top-k combinations, MeanTopK, are left out of both runs).
    Then a refit of the champions only (each member on the series that need it, in one
    `forecast` call per member; active series too short to backtest get their class
    champion), and intervals: conformal, from the champions' backtest errors pooled per
    demand class, champion and step.
    """
    from demandcast.backtest import _plan
    from demandcast.race import Race
    from demandcast.selection import MIN_POOL_SERIES

    h, m, levels = settings.horizon, settings.season_length, list(settings.levels)
    catalog = catalog.at_season(m)  # the combinations' members as a run at this season sees them
    cands = catalog.resolve(settings.candidates, settings.season_length)
    singles = [c for c in cands if not c.is_combination]
    combos = [c for c in cands if c.is_combination and not c.is_top_k]
    fits = {"cv": 0, "forecast": 0}
    calls = {"cv": 0, "forecast": 0}
    rows = []
    panel = to_sf(series)
    values = {u: g.to_numpy(float) for u, g in panel.groupby("unique_id")["y"]}
    dates = {u: g.to_numpy() for u, g in panel.groupby("unique_id")["ds"]}

    def global_model(name: str, offsets: list[int]):
        """A global candidate (GlobalAR) learned on its classes' eligible series: no
        StatsForecast model, the same numpy solve demandcast makes."""
        model = catalog.pooled(name, m, h)
        mine = learners(profiles, catalog.candidates[name].classes)
        return fit_panel({name: (model, mine)}, [series], offsets, settings.n_jobs)[name]

    with Stage(f"{label}: backtest") as st:
        plan = _plan(
            series, profiles, settings, singles, Race.plan(profiles, settings, catalog, cands)
        )
        df = to_sf(series, ids=plan.index)
        offsets = [h + k * settings.step_size for k in range(settings.n_windows)]
        glob = {c.name: global_model(c.name, offsets) for c in singles if c.is_pooled}
        scores, errors, maes, scales = [], [], [], []
        for (n_win, key), members in plan[plan["n_windows"] > 0].groupby(
            ["n_windows", "run_key"], sort=True
        ):
            run = [c for c in singles if c.name in set(key.split("|"))] if key else []
            if not run:
                continue
            sub = df[df["unique_id"].isin(members.index)]
            parts = []
            built = [(c, catalog.build(c.name, m)) for c in run if not c.is_pooled]
            for refit in (False, True):
                # refit=False: estimated at the first origin, `forward` on the later windows
                models = [
                    model for c, model in built if _estimate_once(c, model, settings) != refit
                ]
                if not models:
                    continue
                sf = StatsForecast(
                    models=models,
                    freq=settings.freq,
                    n_jobs=settings.n_jobs,
                    fallback_model=Naive(),
                )
                parts.append(
                    sf.cross_validation(
                        df=sub,
                        h=h,
                        n_windows=int(n_win),
                        step_size=settings.step_size,
                        refit=refit,
                    ).set_index(["unique_id", "ds", "cutoff"])
                )
                calls["cv"] += 1
                fits["cv"] += len(members) * int(n_win) * len(models)
            cv = pd.concat([parts[0], *[p.drop(columns="y") for p in parts[1:]]], axis=1)
            names = [c.name for c, _ in built]
            for c in (c for c in run if c.is_pooled):  # each window from its cutoff's model
                rows_at = cv.index.to_frame(index=False)
                step = rows_at.groupby(["unique_id", "cutoff"]).cumcount().to_numpy()
                fc = {}
                keys = rows_at[["unique_id", "cutoff"]].drop_duplicates()
                keys["cut"] = [
                    int(np.searchsorted(dates[u], np.datetime64(k), side="right"))
                    for u, k in zip(keys["unique_id"], keys["cutoff"], strict=True)
                ]
                keys["offset"] = [
                    len(values[u]) - cut
                    for u, cut in zip(keys["unique_id"], keys["cut"], strict=True)
                ]
                for offset, at in keys.groupby("offset"):  # one batch an origin, as demandcast
                    before = [
                        values[u][:cut] for u, cut in zip(at["unique_id"], at["cut"], strict=True)
                    ]
                    pred = glob[c.name].predict_batch(before, int(offset))
                    for (u, k), p in zip(
                        zip(at["unique_id"], at["cutoff"], strict=True), pred, strict=True
                    ):
                        fc[(u, k)] = p
                cv[c.name] = [
                    fc[(u, k)][j]
                    for u, k, j in zip(rows_at["unique_id"], rows_at["cutoff"], step, strict=True)
                ]
                names.append(c.name)
            for combo in combos:
                present = [n for n in combo.members if n in names]
                if len(present) >= 2 and 2 * len(present) >= len(combo.members):
                    agg = "mean" if combo.combine == "mean" else "median"
                    cv[combo.name] = cv[present].agg(agg, axis=1)
                    names.append(combo.name)
            cv = cv.reset_index()
            err = cv[names].sub(cv["y"], axis=0)
            mae = err.abs().groupby(cv["unique_id"]).mean()
            mse = (err**2).groupby(cv["unique_id"]).mean()
            both = _scales(sub, cv.groupby("unique_id")["cutoff"].min(), m).reindex(mae.index)
            scale = both["mae"]
            # the selection metric per demand class: MASE, RMSSE for the level classes
            level = profiles.drop_duplicates("series_id").set_index("series_id")
            level = level["demand_class"].reindex(mae.index).isin(LEVEL_CLASSES).to_numpy()
            rmsse = np.sqrt(mse.div(both["mse"], axis=0))
            score = mae.div(scale, axis=0).mask(pd.Series(level, index=mae.index), rmsse, axis=0)
            score = score.rename_axis(index="series_id", columns="model")
            scores.append(score.stack().rename("score").reset_index())
            maes.append(mae)
            scales.append(scale)
            # scaled errors per step, kept for the champions' intervals
            step = cv.groupby(["unique_id", "cutoff"]).cumcount().to_numpy() + 1
            iscale = np.sqrt(scale.to_numpy()[:, None] * mae.to_numpy())
            iscale = pd.DataFrame(iscale, index=mae.index, columns=names).reindex(cv["unique_id"])
            e = err / iscale.to_numpy()
            e["unique_id"], e["step"] = cv["unique_id"].to_numpy(), step
            errors.append(e)
        scores = pd.concat(scores, ignore_index=True)
    rows.append(
        st.row(series=int(scores["series_id"].nunique()), fits=fits["cv"], calls=calls["cv"])
    )

    with Stage(f"{label}: select") as st:
        prof = profiles.drop_duplicates("series_id").set_index("series_id")
        cls = prof["demand_class"].astype(str)
        wide = scores.pivot(index="series_id", columns="model", values="score")
        wide = wide.replace([np.inf, -np.inf], np.nan)
        series_cls = cls.reindex(wide.index)
        per_class = {}
        for c in sorted(series_cls.unique()):
            pool = [p for p in catalog.pool.get(c, ()) if p in wide.columns]
            sub = wide.loc[series_cls == c, pool]
            sub = sub.loc[:, sub.notna().mean() >= 0.9].dropna()
            if len(sub) >= MIN_POOL_SERIES and sub.shape[1]:
                per_class[c] = np.log(sub.clip(lower=1e-9)).mean().idxmin()
            elif catalog.defaults.get(c):
                per_class[c] = catalog.defaults[c]
        default = series_cls.map(per_class)
        d = np.array([wide.at[i, k] if k in wide.columns else np.nan for i, k in default.items()])
        pool_cols = {
            c: [p for p in catalog.pool.get(c, ()) if p in wide.columns] for c in per_class
        }
        champion = default.copy()
        for i, c in series_cls.items():
            if not np.isfinite(d[wide.index.get_loc(i)]):
                champion[i] = wide.loc[i].idxmin()
                continue
            row, di = wide.loc[i], d[wide.index.get_loc(i)]
            pool, score = row[pool_cols.get(c, [])], di
            if pool.notna().any() and pool.min() < di * (1 - settings.selection_margin):
                champion[i], score = pool.idxmin(), pool.min()
            # a single candidate: better than the class champion by single_margin, and
            # better than what the pool gave
            rest = row.drop(pool_cols.get(c, []))
            if rest.notna().any() and rest.min() < min(di * (1 - settings.single_margin), score):
                champion[i] = rest.idxmin()
        # active series too short to backtest: their class champion
        short = prof[(prof["lifecycle"] == "active") & ~prof.index.isin(wide.index)]
        short = short[short["demand_class"].isin(list(per_class))]
        champion = pd.concat([champion, short["demand_class"].map(per_class)]).dropna()
        champion = champion.rename("champion")
    rows.append(st.row(series=len(champion), fits=0, calls=0))

    with Stage(f"{label}: forecast") as st:
        full = to_sf(series, ids=champion.index)
        length = full.groupby("unique_id").size()
        need = []
        for sid, champ in champion.items():
            cand = catalog.candidates[champ]
            for member in cand.members if cand.is_combination else (champ,):
                if length[sid] >= catalog.candidates[member].required_history(m):
                    need.append((sid, member, cand.combine or "single"))
        need = pd.DataFrame(need, columns=["unique_id", "member", "combine"])
        member_fc = []
        for member, ids in need.groupby("member")["unique_id"]:
            if catalog.candidates[member].is_pooled:
                model = global_model(member, [0])
                res = pd.DataFrame(
                    {
                        "unique_id": np.repeat(ids.to_numpy(), h),
                        "mean": model.predict_batch([values[u] for u in ids]).ravel(),
                        "member": member,
                        "step": np.tile(np.arange(1, h + 1), len(ids)),
                    }
                )
                member_fc.append(res)
                continue
            n_jobs = settings.n_jobs if len(ids) >= 200 else 1  # no pool start-up for a few
            sf = StatsForecast(
                models=[catalog.build(member, m)],
                freq=settings.freq,
                n_jobs=n_jobs,
                fallback_model=Naive(),
            )
            res = sf.forecast(df=full[full["unique_id"].isin(ids)], h=h)
            res = res.rename(columns={res.columns[-1]: "mean"}).assign(member=member)
            res["step"] = res.groupby("unique_id").cumcount() + 1
            member_fc.append(res)
            calls["forecast"] += 1
            fits["forecast"] += len(ids)
        fc = pd.concat(member_fc, ignore_index=True).merge(need, on=["unique_id", "member"])
        point = pd.concat(
            [
                g.groupby(["unique_id", "step"])["mean"].agg(
                    "median" if how == "median" else "mean"
                )
                for how, g in fc.groupby("combine")
            ]
        ).reset_index()
        # conformal intervals: the champions' scaled backtest errors per class, champion, step
        e = pd.concat(
            [
                pd.DataFrame(
                    {"unique_id": g["unique_id"], "step": g["step"], "err": _pick(g, champion)}
                )
                for g in errors
            ],
            ignore_index=True,
        ).dropna()
        e["demand_class"] = cls.reindex(e["unique_id"]).to_numpy()
        e["champion"] = champion.reindex(e["unique_id"]).to_numpy()
        q = e.groupby(["demand_class", "champion", "step"])["err"].quantile(
            sorted({a for lv in levels for a in ((1 - lv / 100) / 2, 1 - (1 - lv / 100) / 2)})
        )
        point["demand_class"] = cls.reindex(point["unique_id"]).to_numpy()
        point["champion"] = champion.reindex(point["unique_id"]).to_numpy()
        q = q.unstack().reset_index()
        point = point.merge(q, on=["demand_class", "champion", "step"], how="left")
        # bounds: forecast + the series' scale x the pooled quantiles of its champion; the
        # scale sqrt(MASE scale x the champion's MAE), the class median for a short series
        mae_all = pd.concat(maes)
        mae_all["unique_id"] = mae_all.index
        champ_mae = pd.Series(_pick(mae_all, champion), index=mae_all.index)
        isc = np.sqrt(pd.concat(scales) * champ_mae).reindex(champion.index)
        isc = isc.fillna(isc.groupby(cls.reindex(isc.index)).transform("median"))
        isc = isc.reindex(point["unique_id"]).to_numpy()
        for a in q.columns[3:]:
            point[f"bound_{a}"] = (point["mean"] + isc * point[a]).clip(lower=0)
    rows.append(
        st.row(
            series=int(point["unique_id"].nunique()), fits=fits["forecast"], calls=calls["forecast"]
        )
    )
    return rows, champion


def _estimate_once(cand, model, settings: Settings) -> bool:
    """Whether demandcast's backtest estimates the candidate once (catalog `forward`, the
    built model has `forward`, backtest_refit false), as Guarded decides."""
    return (
        not settings.backtest_refit and cand.forward and callable(getattr(model, "forward", None))
    )


def _pick(g: pd.DataFrame, champion: pd.Series) -> np.ndarray:
    """Each row's error of its series' champion (NaN where the champion is not a column)."""
    cols = g.columns.get_indexer(champion.reindex(g["unique_id"]).fillna("").to_numpy())
    values = g.to_numpy(dtype=object)
    out = np.full(len(g), np.nan)
    ok = cols >= 0
    out[ok] = values[np.nonzero(ok)[0], cols[ok]].astype(float)
    return out


def _scales(history: pd.DataFrame, first_cutoff: pd.Series, season_length: int) -> pd.DataFrame:
    """Per series: the in-sample mean absolute and mean squared error of the seasonal naive
    forecast on the history up to its first cutoff (with no more than a season of it, or a
    zero: lag 1, then the mean level, then 1), as demandcast scales MASE and RMSSE."""
    h = history[history["ds"] <= history["unique_id"].map(first_cutoff)]
    g = h.groupby("unique_id")["y"]
    n = g.size()
    out = {}
    for col, power in (("mae", 1), ("mse", 2)):
        by = h["unique_id"]
        seasonal = ((h["y"] - g.shift(season_length)).abs() ** power).groupby(by).mean()
        lag1 = ((h["y"] - g.shift(1)).abs() ** power).groupby(by).mean()
        out[col] = (
            seasonal.where(n > season_length),
            lag1,
            (h["y"].abs() ** power).groupby(by).mean(),
        )
    mae, mse = out["mae"][0], out["mse"][0]
    for fb_mae, fb_mse in zip(out["mae"][1:], out["mse"][1:], strict=True):
        bad = ~(mae > 0)
        mae, mse = mae.where(~bad, fb_mae), mse.where(~bad, fb_mse)
    bad = ~(mae > 0) | ~(mse > 0)
    return pd.DataFrame({"mae": mae.where(~bad, 1.0), "mse": mse.where(~bad, 1.0)})


def unrouted_reference(series: pd.DataFrame, ids, settings: Settings, catalog) -> list[dict]:
    """Different work, for comparison with earlier figures: every single candidate on every
    series with all windows (no routing), one plain `cross_validation` call, then every
    candidate refit on every series (not the champions only), no intervals."""
    singles = [
        c
        for c in catalog.resolve(settings.candidates, settings.season_length)
        if not c.is_combination
    ]
    models = [catalog.build(c.name, settings.season_length) for c in singles]
    df = to_sf(series, ids=ids)
    sf = StatsForecast(
        models=models, freq=settings.freq, n_jobs=settings.n_jobs, fallback_model=Naive()
    )
    label = "plain SF, every candidate on every series, all refit (different work)"
    with Stage(f"{label}: backtest") as cv_stage:
        cv = sf.cross_validation(
            df=df, h=settings.horizon, n_windows=settings.n_windows, step_size=settings.step_size
        )
        del cv
    with Stage(f"{label}: forecast") as fc_stage:
        fc = sf.forecast(df=df, h=settings.horizon)
        del fc
    n = len(ids)
    return [
        cv_stage.row(series=n, fits=n * settings.n_windows * len(models), calls=1),
        fc_stage.row(series=n, fits=n * len(models), calls=1),
    ]


def demandcast_run(
    series: pd.DataFrame, profiles: pd.DataFrame, settings: Settings, catalog
) -> tuple[list[dict], pd.DataFrame, pd.DataFrame, pd.DataFrame, float]:
    """demandcast's backtest, selection and forecast, timed; rows, metrics, champions and
    forecasts, and the sampled peak PSS."""
    rows = []
    bstats, fstats = BacktestStats(), ForecastStats()
    sampler = TreeSampler(os.getpid(), interval=0.25)  # PSS: shared pages counted once
    sampler.start()
    with Stage("demandcast: backtest") as st:
        calibration = Calibration()
        metrics = run_backtest(series, profiles, settings, catalog, bstats, calibration)
        quantiles = calibration.quantiles(settings.levels)
    rows.append(st.row(series=bstats.n_series, fits=bstats.n_fits, calls=bstats.n_calls))
    with Stage("demandcast: select") as st:
        champions = select_champions(metrics, profiles, settings, catalog)
    rows.append(st.row(series=len(champions), fits=0, calls=0))
    with Stage("demandcast: forecast") as st:
        fc = forecast_series(
            series, profiles, champions, settings, catalog, fstats, calibration=quantiles
        )
    rows.append(
        st.row(series=int(fc["series_id"].nunique()), fits=fstats.n_fits, calls=fstats.n_calls)
    )
    return rows, metrics, champions, fc, peak(sampler.stop(), 2)


def _total(label: str, rows: list[dict], tag: str = "") -> dict:
    return {
        "stage": f"{label}: total{tag}",
        "wall_s": round(sum(r["wall_s"] for r in rows), 2),
        "cpu_s": round(sum(r["cpu_s"] for r in rows), 2),
        "fits": sum(r["fits"] for r in rows),
        "calls": sum(r["calls"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument(
        "--candidates", default="default", help="a catalog set, or candidate names joined by commas"
    )
    ap.add_argument("--source", choices=("demo", "synthetic"), default="demo")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run demandcast and the plain reference this many times, alternating",
    )
    ap.add_argument(
        "--n-windows", type=int, help="backtest windows (default: the project's n_windows)"
    )
    ap.add_argument("--no-reference", action="store_true", help="demandcast alone")
    ap.add_argument(
        "--unrouted",
        action="store_true",
        help="also the earlier reference, which does different work: every candidate on every "
        "full-length series (no routing), every candidate refit",
    )
    ap.add_argument("--json", default=str(ROOT / "reports" / "bench_automl.json"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    series, profiles = make_data(args)
    prep_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wanted = tuple(args.candidates.split(",")) if "," in args.candidates else args.candidates
    windows = {"n_windows": args.n_windows} if args.n_windows else {}  # the step follows it
    settings = Settings(n_jobs=args.n_jobs, candidates=wanted, **windows)
    if not args.no_reference:
        # the plain reference neither races candidates nor learns ComboLearned's weights,
        # and scores by MASE (RMSSE for the level classes): demandcast does the same work,
        # every candidate on every series (race_share 1) without ComboLearned
        if (settings.selection_metric, settings.intermittent_metric) != ("mase", "rmsse"):
            ap.error("the plain reference selects by MASE and RMSSE, the default metrics")
        at = load_catalog().at_season(settings.season_length)
        names = [c.name for c in at.resolve(wanted, settings.season_length)]
        # nor per-series top-k combinations (MeanTopK)
        names = tuple(n for n in names if n != LEARNED and not at.candidates[n].is_top_k)
        settings = replace(settings, race_share=1.0, candidates=names)
    catalog = load_catalog()
    classes = profiles["demand_class"].value_counts().to_dict()
    lifecycles = profiles["lifecycle"].value_counts().to_dict()
    print(
        f"{len(profiles)} series x up to {series.groupby('series_id').size().max()} weeks; "
        f"classes {classes}; lifecycles {lifecycles}; "
        f"{len(catalog.resolve(settings.candidates, settings.season_length))} candidates; "
        f"n_jobs {settings.n_jobs}; {os.cpu_count()} cores; load {os.getloadavg()}",
        file=sys.stderr,
    )
    # untimed warm-up of both on a few series of each class, with the same n_jobs: numba
    # compiles (and caches) every model, the worker processes' imports reach the file cache,
    # so neither timed run pays for it
    few = profiles.groupby("demand_class").head(3)["series_id"]
    warm = (series[series["series_id"].isin(few)], profiles[profiles["series_id"].isin(few)])
    demandcast_run(*warm, settings, catalog)
    if not args.no_reference:
        plain_statsforecast(*warm, settings, catalog, "warm-up")

    rows, ratios, agreement = [], [], []
    peak_pss = 0.0
    for r in range(args.rounds):
        tag = f" (round {r + 1})" if args.rounds > 1 else ""
        ours, metrics, champions, fc, pss = demandcast_run(series, profiles, settings, catalog)
        peak_pss = max(peak_pss, pss)
        for row in ours:
            row["stage"] += tag
        rows += [*ours, _total("demandcast", ours, tag)]
        if args.no_reference:
            continue
        plain, plain_champions = plain_statsforecast(
            series, profiles, settings, catalog, "plain StatsForecast, same work"
        )
        for row in plain:
            row["stage"] += tag
        rows += [*plain, _total("plain StatsForecast, same work", plain, tag)]
        ratio = _total("", ours)["wall_s"] / _total("", plain)["wall_s"]
        cpu_ratio = _total("", ours)["cpu_s"] / _total("", plain)["cpu_s"]
        ratios.append({"wall": round(ratio, 3), "cpu": round(cpu_ratio, 3)})
        ours_champ = champions.set_index("series_id")["champion"].astype(str)
        ours_champ = ours_champ.map(lambda c: parse_champion(c)[0])  # MeanTopK[A|B] -> MeanTopK
        common = ours_champ.index.intersection(plain_champions.index)
        same = ours_champ.reindex(common).to_numpy() == plain_champions.reindex(common).to_numpy()
        same = float(same.mean()) if len(common) else 0.0
        agreement.append(round(same, 4))
        rows.append(
            {
                "stage": f"ratio demandcast / plain{tag}",
                "wall_s": round(ratio, 3),
                "cpu_s": round(cpu_ratio, 3),
            }
        )

    if args.unrouted:
        # plain cross_validation over all series at once cannot mix history lengths: the
        # series with every window
        ok = metrics[(metrics["status"] == "ok") & (metrics["n_windows"] == settings.n_windows)]
        ids = ok["series_id"].unique()
        ref = unrouted_reference(series, ids, settings, catalog)
        rows += [*ref, _total("plain SF, different work (every candidate, all refit)", ref)]

    table = pd.DataFrame(rows)
    for col in ("series", "fits", "calls"):
        table[col] = table[col].astype("Int64")
    table = table.astype(object).fillna("")
    print(table.to_string(index=False))
    for i, (ratio, same) in enumerate(zip(ratios, agreement, strict=True)):
        print(
            f"round {i + 1}: demandcast / plain StatsForecast doing the same work = "
            f"{ratio['wall']:.3f} wall, {ratio['cpu']:.3f} CPU (goal <= 1.1); the same "
            f"champion on {100 * same:.1f} % of the series both backtested"
        )
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak RSS (data prep and every run included): main process {peak_self:.0f} MiB, "
        f"largest worker {peak_child:.0f} MiB; data prep alone {prep_rss:.0f} MiB"
    )
    print(f"peak PSS of demandcast's stages, main process + workers (sampled): {peak_pss:.0f} MiB")
    print(
        f"methods: {fc['method'].value_counts().to_dict()}; "
        f"backtest rows {len(metrics)}, status {metrics['status'].value_counts().to_dict()}"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "args": vars(args),
                "windows": {"n_windows": settings.n_windows, "step_size": settings.step_size},
                "series": int(len(profiles)),
                "classes": {k: int(v) for k, v in classes.items()},
                "stages": rows,
                "ratio_demandcast_over_plain": ratios,
                "same_champion_share": agreement,
                "peak_rss_mib": {
                    "data_prep": round(prep_rss),
                    "peak_pss_demandcast_sampled": round(peak_pss),
                    "main": round(peak_self),
                    "largest_worker": round(peak_child),
                },
                "cpu_count": os.cpu_count(),
            },
            indent=2,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
