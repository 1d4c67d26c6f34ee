"""Global-model lab: models pooled over every series (ridge, trees), alone and in combinations.

One linear model learned across a whole panel (Montero-Manso & Hyndman 2021, "locality
and globality") is the kind of forecaster the catalog lacked: every other candidate is
fitted on one series. This lab measures it on the held-out futures of M1, M3 and Tourism
the way scripts/temporal_lab.py measures temporal hierarchies, and reuses that lab's
cache of AutoETS, DynamicOptimizedTheta and AutoCES fits (its stage 1: the three models'
backtest windows and future, k = 1 and the hierarchies):

    .venv/bin/python scripts/temporal_lab.py --data DIR --horizon 18 --cache CACHE
    .venv/bin/python scripts/global_lab.py --data DIR --horizon 18 --cache CACHE \
        --lags 12,24,36 --ridge 0.0001,0.001,0.1 --transform log,ratio
    .venv/bin/python scripts/global_lab.py --data DIR --horizon 18 --cache CACHE --trees
    .venv/bin/python scripts/global_lab.py --data DIR --horizon 18 --cache CACHE --trees \
        --thief --big-trees --mlp      # the fourteenth session's tries (docs/accuracy.md)
    # Tourism: --horizon 24

The global model is demandcast.pooled.GlobalAR's own code path for `--transform log`:
windows of `lags` inputs and `horizon` outputs divided by the level of the inputs' last
season (log(1 + x) with `log`), ridge least squares; each backtest window (3 windows
ceil(h / 3) apart, as the product runs them) is forecast with weights learned on every
series cut at that window's origin, the future with weights learned on the whole history.
`--trees` adds GlobalAR and GlobalGBM exactly as the catalog builds them (the trees on at
most 30,000 windows, shared evenly among the series) and the catalog's combinations of
them. Classic Theta (the fourth member of the product's ComboMedian4) is fitted here once per
slot and cached in CACHE/theta_lab.npy. With `--trees`: `--thief` adds the mean of
ComboTHieF's five and both global models (all the hierarchy's levels, and months,
quarters and years only, with what the levels left out save of ETS's and CES's CPU);
`--big-trees` the trees on 100,000 windows (60 trees, and 150 at learning rate 0.08 of
31 leaves); `--mlp` a global multilayer perceptron on the same windows (scikit-learn's
MLPRegressor, two layers of 64, the mean of three seeds, at most 100,000 windows);
`--lookbacks` the trees on squared error (the catalog's are on absolute error since the
fifteenth session), and on one and three seasons of inputs; `--pooling` the mean and the
median of the backtest's top k combinations (forecast pooling: Kourentzes, Barrow &
Petropoulos 2019), and the pool up to the largest gap in their ranked scores; `--stack`
trees stacked on the six members' forecasts (ETS, CES, DOTheta, Theta and both global
models), learned on the backtest windows (the future's on windows 1 to 3; the latest
window's, its `bt` column, on windows 2 and 3 only, as a build's evidence would be);
`--deseason` both catalog global models on every cut's seasonally adjusted series (the M4
benchmarks' 90 % autocorrelation test and classical multiplicative indices), reseasonalised;
`--arima` ARIMA per series (the airline model (0,1,1)(0,1,1)m and a narrow stepwise
AutoARIMA, cached in CACHE/arima_<form>.npy) alone and in the catalog's combinations.

Scores as the other labs: sMAPE pooled over points, MASE per series then averaged
(selection_lab.score), backtest MASE over the windows for the ranking a build would make.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from temporal_lab import (  # noqa: E402
    KS,
    MODELS,
    SHORT,
    M,
    arrays,
    fit_all,
    load,
    scales,
    score,
    thief,
)

from demandcast.catalog import load_catalog  # noqa: E402
from demandcast.pooled import GlobalAR, GlobalGBM, lags_for  # noqa: E402


class GlobalMLP(GlobalGBM):
    """Lab only: GlobalGBM's windows and row share, one multilayer perceptron for every
    output at once in place of the trees (the mean of three seeds)."""

    def _trees(self, x: np.ndarray, t: np.ndarray) -> list:
        from sklearn.neural_network import MLPRegressor

        return [
            MLPRegressor(hidden_layer_sizes=(64, 64), early_stopping=True, random_state=s,
                         batch_size=256).fit(x, t)
            for s in range(3)
        ]  # fmt: skip

    def _predict_z(self, z: np.ndarray, offset: int) -> np.ndarray:
        return np.mean([m.predict(z) for m in self.models[offset]], axis=0)


def ratio_model(ys, cuts, lags, h, ridge) -> np.ndarray:
    """The same windows without the log: outputs / level, a plain linear autoregression."""
    x_all, t_all = [], []
    for y, c in zip(ys, cuts, strict=True):
        z = y[:c]
        if len(z) < lags + h:
            continue
        w = np.lib.stride_tricks.sliding_window_view(z, lags + h)
        level = w[:, lags - 12 : lags].mean(1)
        w = w[level > 0] / level[level > 0, None]
        x_all.append(np.c_[w[:, :lags], np.ones(len(w))])
        t_all.append(w[:, lags:])
    x, t = np.concatenate(x_all), np.concatenate(t_all)
    penalty = np.diag(np.r_[np.full(lags, ridge * len(x)), 0.0])
    W = np.linalg.solve(x.T @ x + penalty, x.T @ t)
    out = np.zeros((len(ys), h))
    for i, (y, c) in enumerate(zip(ys, cuts, strict=True)):
        z = y[:c]
        if len(z) < lags:
            z = np.r_[np.full(lags - len(z), z[:12].mean()), z]
        x_in = z[-lags:]
        level = x_in[-12:].mean()
        out[i] = np.r_[x_in / level, 1.0] @ W * level if level > 0 else 0.0
    return np.maximum(out, 0)


def classic_theta(ys, h, step, n_o, cache: Path) -> np.ndarray:
    path = cache / "theta_lab.npy"
    if path.exists():
        return np.load(path)
    from statsforecast.models import Theta

    out = np.full((len(ys), n_o, h), np.nan)
    for i, y in enumerate(ys):
        for slot in range(n_o):
            cut = len(y) if slot == 0 else len(y) - h - (slot - 1) * step
            if cut >= max(h, M // 2):
                out[i, slot] = Theta(season_length=M).forecast(y=y[:cut], h=h)["mean"]
    np.save(path, out)
    return out


ARIMA_FORMS = ("airline", "auto")


def _arima(form: str):
    from statsforecast.models import ARIMA, AutoARIMA

    if form == "airline":  # Box & Jenkins' airline model, (0,1,1)(0,1,1)m: ~16 ms a fit
        return ARIMA(order=(0, 1, 1), seasonal_order=(0, 1, 1), season_length=M)
    # a narrow stepwise search (~140 ms a monthly fit; the default search ~700 ms)
    return AutoARIMA(
        season_length=M,
        approximation=True,
        max_p=2,
        max_q=2,
        max_P=1,
        max_Q=1,
        start_p=1,
        start_q=1,
    )


def _arima_part(args) -> np.ndarray:
    form, ys, h, step, n_o = args
    warnings.filterwarnings("ignore")
    out = np.full((len(ys), n_o, h), np.nan)
    for i, y in enumerate(ys):
        for slot in range(n_o):
            cut = len(y) if slot == 0 else len(y) - h - (slot - 1) * step
            if cut >= max(h, M // 2):
                try:
                    out[i, slot] = _arima(form).forecast(y=y[:cut], h=h)["mean"]
                except Exception:  # noqa: BLE001  a failed fit is a missing member
                    pass
    return out


def arima_slots(form: str, ys, h, step, n_o, cache: Path) -> np.ndarray:
    """An ARIMA form fitted per series and slot (cached in CACHE/arima_<form>.npy), on two
    processes; NaN where a fit fails."""
    from concurrent.futures import ProcessPoolExecutor

    path = cache / f"arima_{form}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.time()
    parts = [(form, ys[i : i + 50], h, step, n_o) for i in range(0, len(ys), 50)]
    with ProcessPoolExecutor(2) as pool:
        out = np.concatenate(list(pool.map(_arima_part, parts)))
    print(f"ARIMA {form}: {time.time() - t0:.0f} s wall, two processes", flush=True)
    np.save(path, out)
    return out


def seasonal_indices(y: np.ndarray, m: int) -> np.ndarray | None:
    """The M4 benchmarks' multiplicative seasonal indices of y (None when the 90 % ACF
    test at lag m finds no season, or y is shorter than three seasons or not positive)."""
    n = len(y)
    if m <= 1 or n < 3 * m or np.any(y <= 0):
        return None
    d = y - y.mean()
    acf = np.array([d[k:] @ d[: n - k] for k in range(m + 1)]) / (d @ d)
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[1:m] ** 2)) / n)
    if abs(acf[m]) <= limit:
        return None
    w = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(y, w, mode="valid")
    lead = (len(w) - 1) // 2
    ratio = y[lead : lead + len(trend)] / trend
    idx = np.array([np.nanmean(ratio[(k - lead) % m :: m]) for k in range(m)])
    return idx / idx.mean()  # position k: periods t with t % m == k


def deseasoned(model, ys, offset: int, m: int) -> np.ndarray:
    """The global model on every series' seasonally adjusted history before the cut; its
    forecast multiplied back by the indices (continuing from the cut)."""
    adj, seas = [], []
    h = model.horizon
    for y in ys:
        z = y[: len(y) - offset] if offset else y
        idx = seasonal_indices(z, m)
        if idx is None:
            adj.append(z)
            seas.append(np.ones(h))
        else:
            t = np.arange(len(z))
            adj.append(z / idx[t % m])
            seas.append(idx[(len(z) + np.arange(h)) % m])
    model.fit(adj, [0])
    return model.predict_batch(adj, 0) * np.array(seas)


def bt_mase(f: np.ndarray, by: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """Per series: the backtest's MASE over its windows (NaN where none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(np.abs(np.maximum(f[:, 1:], 0) - by).reshape(len(f), -1), 1) / sc


def pooling(cands: dict, by: np.ndarray, sc: np.ndarray) -> None:
    """The combinations ranked by the backtest's geometric-mean MASE over the series every one
    scored (the class champion's rule); the mean and the median of the top k forecasts."""
    combos = {
        n: f for n, f in cands.items() if n.startswith(("Combo", "mean ", "median ")) or " + " in n
    }
    per = {n: bt_mase(f, by, sc) for n, f in combos.items()}
    common = np.all([np.isfinite(v) & (v > 0) for v in per.values()], axis=0)
    gm = {n: float(np.exp(np.log(v[common]).mean())) for n, v in per.items()}
    ranked = sorted(gm, key=gm.get)
    print("\nbacktest ranking (geometric mean MASE):")
    for n in ranked:
        print(f"  {gm[n]:.4f} {n}")
    for k in (2, 3, 4, 5):
        top = np.stack([combos[n] for n in ranked[:k]], -1)
        cands[f"pooled: mean of the top {k} combinations"] = top.mean(-1)
        cands[f"pooled: median of the top {k} combinations"] = np.median(top, -1)
    # Kourentzes, Barrow & Petropoulos (2019): pool up to the largest gap in the ranked scores
    g = np.array([gm[n] for n in ranked[:6]])
    k = int(np.argmax(np.diff(g))) + 1
    cands[f"pooled: up to the largest gap (k {k})"] = np.stack(
        [combos[n] for n in ranked[:k]], -1
    ).mean(-1)
    rel = [n for n in ranked if gm[n] <= gm[ranked[0]] * 1.01]
    cands[f"pooled: within 1 % of the best (k {len(rel)})"] = np.stack(
        [combos[n] for n in rel], -1
    ).mean(-1)


def stack(cands, members, ys, by, sc, h, step, y_fut) -> None:
    """Trees on the members' forecasts (FFORMA's idea, learned on the target itself): per
    series, slot and step, the features are each member's log ratio to the level of the
    last season before the cut, their mean and spread, the step, the series' scale over
    that level; the target the actual's log ratio less the members' mean (absolute error).
    Learned on backtest slots, scored on another slot: the future (learned on windows 1-3)
    and the latest window (learned on windows 2-3, as a build's evidence would be)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    n, n_o = len(ys), 4
    F = np.stack(members, -1)  # (n, slot, h, k)
    level = np.full((n, n_o), np.nan)
    for i, y in enumerate(ys):
        for slot in range(n_o):
            cut = len(y) if slot == 0 else len(y) - h - (slot - 1) * step
            if cut >= M:
                level[i, slot] = max(np.mean(y[cut - M : cut]), 1e-6)
    Y = np.concatenate([y_fut[:, None, :h], by], 1)  # (n, slot, h)
    lr = np.log1p(np.maximum(F, 0) / level[:, :, None, None])
    mean = lr.mean(-1)
    X = np.concatenate(
        [
            lr,
            mean[..., None],
            lr.std(-1)[..., None],
            np.broadcast_to(np.arange(h)[None, None, :, None], mean.shape + (1,)),
            np.broadcast_to(
                np.log(sc[:, None, None, None] / level[:, :, None, None]), mean.shape + (1,)
            ),
        ],
        -1,
    )
    T = np.log1p(np.maximum(Y, 0) / level[:, :, None]) - mean

    def fit_predict(train_slots, test_slot, loss):
        xs = X[:, train_slots].reshape(-1, X.shape[-1])
        ts = T[:, train_slots].reshape(-1)
        ok = np.isfinite(xs).all(1) & np.isfinite(ts)
        gbm = HistGradientBoostingRegressor(
            loss=loss,
            max_iter=100,
            learning_rate=0.1,
            max_leaf_nodes=15,
            min_samples_leaf=50,
            random_state=0,
        )
        gbm.fit(xs[ok], ts[ok])
        xt = X[:, test_slot].reshape(-1, X.shape[-1])
        pred = np.full(len(xt), np.nan)
        good = np.isfinite(xt).all(1)
        pred[good] = gbm.predict(xt[good])
        z = mean[:, test_slot] + pred.reshape(n, h)
        out = np.expm1(z) * level[:, test_slot, None]
        fallback = np.nanmean(F[:, test_slot], -1)
        return np.where(np.isfinite(out), out, fallback)

    base = np.nanmean(F, -1)
    for loss in ("absolute_error", "squared_error"):
        t0 = time.process_time()
        f = np.full((n, n_o, h), np.nan)
        f[:, 0] = fit_predict([1, 2, 3], 0, loss)
        f[:, 1] = fit_predict([2, 3], 1, loss)
        print(f"stacked trees ({loss}): {time.process_time() - t0:.1f} s CPU", flush=True)
        cands[f"stacked trees on the six members ({loss}); bt = last window only"] = f
    last = bt_mase(np.concatenate([base[:, :2], np.full((n, 2, h), np.nan)], 1), by, sc)
    print(f"mean of the six, last window MASE {np.nanmean(last):.4f}")


def by_group(cands: dict, groups: np.ndarray, by: np.ndarray, sc: np.ndarray, least: int) -> None:
    """The class champion's rule per product group: each group of at least `least` series
    takes the pool combination with the lowest backtest geometric-mean MASE over its own
    series; a smaller group the whole set's. The pool: the catalog's combinations above."""
    pool = {n: f for n, f in cands.items() if n.startswith(("Combo", "mean of ETS", "median of"))}
    pool = {n: f for n, f in pool.items() if "+" not in n}
    per = {n: bt_mase(f, by, sc) for n, f in pool.items()}
    common = np.all([np.isfinite(v) & (v > 0) for v in per.values()], axis=0)

    def best(mask: np.ndarray) -> str:
        gm = {n: float(np.exp(np.log(v[mask & common]).mean())) for n, v in per.items()}
        return min(gm, key=gm.get)

    whole = best(np.ones(len(groups), bool))
    out = pool[whole].copy()
    print(f"\nby group (at least {least} series; whole set: {whole}):")
    for g in sorted(set(groups)):
        mask = groups == g
        name = best(mask) if (mask & common).sum() >= least else whole
        out[mask] = pool[name][mask]
        print(f"  {g} ({mask.sum()}): {name}")
    cands[f"class champion per product group (at least {least} series)"] = out
    cands[f"class champion of the whole set ({whole})"] = pool[whole]


def stage(data: Path, h: int, cache: Path) -> dict:
    """What every run of the lab starts from: the set's series (`ids`, `df`, the actuals
    `act`), temporal_lab's cached fits as arrays (`A`, `G`, `CPU`; slot 0 the future, 1 + w
    backtest window w, 0 the latest), the MASE scales `sc`, the future's actuals `y_fut`, each
    series' history `ys`, the windows' `step` and their actuals `by` (series, window, h)."""
    H = M * -(-h // M)
    df, act = load(data)
    ids = np.array(sorted(act["unique_id"].unique()))
    df = df[df["unique_id"].isin(ids)]
    fits = fit_all(df, h, H, cache, 2)
    A, G, CPU = arrays(fits, ids, H, 4)
    sc = scales(df).reindex(ids).to_numpy()
    y_fut = act.pivot(index="unique_id", columns="step", values="y").reindex(ids).to_numpy(float)
    by_id = {u: g["y"].to_numpy(float) for u, g in df.groupby("unique_id")}
    ys = [by_id[u] for u in ids]
    step = -(-h // 3)
    by = np.full((len(ids), 3, h), np.nan)  # backtest actuals per window
    for i, y in enumerate(ys):
        for w in range(min(3, max(0, (len(y) - h - max(h, M // 2)) // step + 1))):
            cut = len(y) - h - w * step
            by[i, w] = y[cut : cut + h]
    return dict(ids=ids, df=df, act=act, A=A, G=G, CPU=CPU, sc=sc, y_fut=y_fut, ys=ys,
                step=step, by=by)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--horizon", type=int, required=True)
    p.add_argument("--cache", type=Path, required=True, help="scripts/temporal_lab.py's cache")
    p.add_argument("--lags", default="24")
    p.add_argument("--ridge", default="0.0001")
    p.add_argument("--transform", default="log")
    p.add_argument(
        "--trees",
        action="store_true",
        help="also GlobalGBM as the catalog builds it, and the catalog's combinations of both",
    )
    p.add_argument("--thief", action="store_true", help="with --trees: ComboTHieF and both")
    p.add_argument("--big-trees", action="store_true", help="with --trees: the trees on more")
    p.add_argument("--mlp", action="store_true", help="with --trees: a global perceptron")
    p.add_argument("--arima", action="store_true", help="with --trees: ARIMA as a member")
    p.add_argument(
        "--lookbacks",
        action="store_true",
        help="with --trees: GlobalGBM on squared error, and on one and three seasons of inputs",
    )
    p.add_argument(
        "--deseason",
        action="store_true",
        help="with --trees: both global models on classically deseasonalised series (M4 test)",
    )
    p.add_argument(
        "--pooling",
        action="store_true",
        help="with --trees: the mean of the backtest's top-k combinations (forecast pooling)",
    )
    p.add_argument(
        "--stack",
        action="store_true",
        help="with --trees: trees stacked on the members' forecasts (learned on the backtest)",
    )
    p.add_argument(
        "--by-group",
        type=int,
        metavar="N",
        help="with --trees: the class champion chosen per product group of at least N series",
    )
    a = p.parse_args()
    h = a.horizon
    st = stage(a.data, h, a.cache)
    ids, A, G, CPU = st["ids"], st["A"], st["G"], st["CPU"]
    sc, y_fut, ys, step, by, n_o = st["sc"], st["y_fut"], st["ys"], st["step"], st["by"], 4
    H = M * -(-h // M)
    base = {SHORT[m]: A[m][1][..., :h] for m in MODELS}
    hier = [thief(G[m], H)[..., :h] for m in ("AutoETS", "AutoCES")]
    theta = classic_theta(ys, h, step, n_o, a.cache)
    local = list(base.values())
    cands = dict(base)
    cands["mean of ETS, CES, DOTheta"] = np.nanmean(np.stack(local, -1), -1)
    cands["median of those and Theta (ComboMedian4)"] = np.nanmedian(
        np.stack([*local, theta], -1), -1
    )
    cands["mean of five with THieF (ComboTHieF)"] = np.nanmean(np.stack(local + hier, -1), -1)
    for lags in map(int, a.lags.split(",")):
        for ridge in map(float, a.ridge.split(",")):
            for transform in a.transform.split(","):
                g = np.full((len(ids), n_o, h), np.nan)
                t0 = time.process_time()
                for slot in range(n_o):
                    offset = 0 if slot == 0 else h + (slot - 1) * step
                    cuts = [len(y) - offset for y in ys]
                    if transform == "log":
                        model = GlobalAR(lags, h, M, ridge).fit(ys, [offset])
                        g[:, slot] = model.predict_batch(
                            [y[:c] for y, c in zip(ys, cuts, strict=True)], offset
                        )
                    else:
                        g[:, slot] = ratio_model(ys, cuts, lags, h, ridge)
                cpu = time.process_time() - t0
                name = f"global lags {lags} ridge {ridge:g} {transform}"
                print(f"{name}: {cpu:.1f} s CPU, every slot", flush=True)
                cands[name] = g
                combos = {
                    "mean with ETS, CES, DOTheta (ComboGlobal)": (np.nanmean, local),
                    "median with ETS, CES, DOTheta (ComboGlobalMedian)": (np.nanmedian, local),
                    "mean with ComboTHieF's five": (np.nanmean, local + hier),
                    "median with ETS, CES, DOTheta, Theta": (np.nanmedian, [*local, theta]),
                }
                for label, (how, members) in combos.items():
                    cands[f"{name} + {label}"] = how(np.stack([*members, g], -1), -1)
    if a.trees:  # the catalog's two global models and their combinations, as a build has them
        catalog = load_catalog()

        def slots(name: str, predict, label: str) -> np.ndarray:
            """The catalog's global model `name`, fitted anew per slot, `predict(model,
            offset)` its forecasts there."""
            g = np.full((len(ids), n_o, h), np.nan)
            t0 = time.process_time()
            for slot in range(n_o):
                offset = 0 if slot == 0 else h + (slot - 1) * step
                model = catalog.pooled(name, M, h)
                model.n_series = len(ys)  # as pooled.fit_panel sets it (GlobalGBM's row share)
                g[:, slot] = predict(model, offset)
            print(f"{name}{label}: {time.process_time() - t0:.1f} s CPU, every slot", flush=True)
            return g

        def raw(model, offset: int) -> np.ndarray:
            model.fit(ys, [offset])
            return model.predict_batch([y[: len(y) - offset] for y in ys], offset)

        models = {}
        for name in ("GlobalAR", "GlobalGBM"):
            models[name] = cands[f"{name} (catalog)"] = slots(name, raw, "")
        both = [models["GlobalAR"], models["GlobalGBM"]]
        cands["ComboGBM: mean of ETS, CES, DOTheta, GlobalGBM"] = np.nanmean(
            np.stack([*local, models["GlobalGBM"]], -1), -1
        )
        cands["ComboGlobal5: mean of ETS, CES, DOTheta and both"] = np.nanmean(
            np.stack([*local, *both], -1), -1
        )
        cands["ComboGlobal5Median: their median"] = np.nanmedian(np.stack([*local, *both], -1), -1)
        cands["ComboGlobal6Median: median of ComboMedian4's four and both"] = np.nanmedian(
            np.stack([*local, theta, *both], -1), -1
        )

        def run(model) -> np.ndarray:
            g = np.full((len(ids), n_o, h), np.nan)
            t0 = time.process_time()
            for slot in range(n_o):
                offset = 0 if slot == 0 else h + (slot - 1) * step
                model.fit(ys, [offset])
                g[:, slot] = model.predict_batch([y[: len(y) - offset] for y in ys], offset)
            print(f"{type(model).__name__}: {time.process_time() - t0:.1f} s CPU", flush=True)
            return g

        if a.thief:
            cands["mean of ComboTHieF's five and both (ComboGlobal7)"] = np.nanmean(
                np.stack([*local, *hier, *both], -1), -1
            )
            base_cpu = sum(CPU[m][1].sum() for m in ("AutoETS", "AutoCES"))
            for ks in [(1, 3, 12), (1, 2, 4, 12), (1, 3, 6, 12)]:
                short = [thief(G[m], H, ks)[..., :h] for m in ("AutoETS", "AutoCES")]
                left_out = [k for k in KS if k not in ks]
                saved = sum(CPU[m][k].sum() for m in ("AutoETS", "AutoCES") for k in left_out)
                cands[f"the same, levels {ks} ({saved / base_cpu:.2f} of ETS and CES saved)"] = (
                    np.nanmean(np.stack([*local, *short, *both], -1), -1)
                )
        extra = {}
        if a.big_trees:
            for rows, n_trees, rate, leaves in [(100_000, 60, 0.15, 15), (100_000, 150, 0.08, 31)]:
                model = catalog.pooled("GlobalGBM", M, h)
                model.n_series, model.max_rows, model.max_iter = len(ys), rows, n_trees
                model.learning_rate, model.max_leaf_nodes = rate, leaves
                extra[f"GlobalGBM, {rows:,} windows, {n_trees} trees of {leaves}"] = run(model)
        if a.mlp:
            ar = catalog.pooled("GlobalAR", M, h)
            extra["GlobalMLP"] = run(GlobalMLP(ar.lags, h, M, max_rows=100_000, n_series=len(ys)))
        if a.deseason:
            for name in ("GlobalAR", "GlobalGBM"):
                g = slots(name, lambda m, o: deseasoned(m, ys, o, M), " deseasoned")
                models[f"{name}_ds"] = cands[f"{name} on the adjusted series"] = g
            ds = [models["GlobalAR_ds"], models["GlobalGBM_ds"]]
            cands["DS ComboGBM"] = np.nanmean(np.stack([*local, ds[1]], -1), -1)
            cands["DS ComboGlobal5"] = np.nanmean(np.stack([*local, *ds], -1), -1)
            cands["DS ComboGlobal5Median"] = np.nanmedian(np.stack([*local, *ds], -1), -1)
            cands["DS ComboGlobal6Median"] = np.nanmedian(np.stack([*local, theta, *ds], -1), -1)
            cands["mean of three, both raw, both adjusted"] = np.nanmean(
                np.stack([*local, *both, *ds], -1), -1
            )
            cands["median of three, both raw, both adjusted"] = np.nanmedian(
                np.stack([*local, *both, *ds], -1), -1
            )
            cands["median of four, both raw, both adjusted"] = np.nanmedian(
                np.stack([*local, theta, *both, *ds], -1), -1
            )
        if a.arima:
            ar = {form: arima_slots(form, ys, h, step, n_o, a.cache) for form in ARIMA_FORMS}
            for form, g in ar.items():
                cands[f"ARIMA {form}"] = g
                cands[f"SCUM: median of ETS, CES, DOTheta, ARIMA {form}"] = np.nanmedian(
                    np.stack([*local, g], -1), -1
                )
                cands[f"mean of ETS, CES, DOTheta, ARIMA {form}"] = np.nanmean(
                    np.stack([*local, g], -1), -1
                )
                cands[f"ComboGBM + ARIMA {form} (mean)"] = np.nanmean(
                    np.stack([*local, models["GlobalGBM"], g], -1), -1
                )
                cands[f"ComboGlobal5 + ARIMA {form} (mean)"] = np.nanmean(
                    np.stack([*local, *both, g], -1), -1
                )
                cands[f"ComboGlobal5Median + ARIMA {form} (median of six)"] = np.nanmedian(
                    np.stack([*local, *both, g], -1), -1
                )
                cands[f"ComboGlobal6Median + ARIMA {form} (median of seven)"] = np.nanmedian(
                    np.stack([*local, theta, *both, g], -1), -1
                )
        if a.lookbacks:
            model = catalog.pooled("GlobalGBM", M, h)  # the catalog's is on absolute error
            model.n_series, model.loss = len(ys), "squared_error"
            extra["GlobalGBM on squared error (before the fifteenth session)"] = run(model)
            looks = [models["GlobalGBM"]]
            for seasons in (1, 3):
                model = catalog.pooled("GlobalGBM", M, h)
                model.n_series, model.lags = len(ys), lags_for(M, seasons, 8)
                looks.append(run(model))
                extra[f"GlobalGBM, {seasons} seasons of inputs"] = looks[-1]
            extra["GlobalGBM, mean over 1, 2, 3 seasons"] = np.nanmean(np.stack(looks, -1), -1)
        for name, g in extra.items():
            cands[name] = g
            cands[f"mean of ETS, CES, DOTheta and {name}"] = np.nanmean(
                np.stack([*local, g], -1), -1
            )
            cands[f"median of ETS, CES, DOTheta, GlobalAR and {name}"] = np.nanmedian(
                np.stack([*local, models["GlobalAR"], g], -1), -1
            )
            cands[f"median of ComboMedian4's four, both and {name}"] = np.nanmedian(
                np.stack([*local, theta, *both, g], -1), -1
            )
    if a.by_group:
        import pandas as pd

        prod = pd.read_csv(a.data / "products.csv", dtype=str).set_index("product_id")
        groups = np.array([prod["product_group"].get(u.split("/", 1)[1], "") for u in ids])
        by_group(cands, groups, by, sc, a.by_group)
    if a.pooling:
        pooling(cands, by, sc)
    if a.stack:
        members = [*local, theta, *both]
        stack(cands, members, ys, by, sc, h, step, y_fut)
    print(f"\n{'candidate':100s} {'sMAPE':>7s} {'MASE':>7s} {'bt MASE':>8s}")
    for name, f in cands.items():
        r = score(f[:, 0], y_fut, sc)
        print(
            f"{name:100s} {r['smape']:7.3f} {r['mase']:7.4f} {np.nanmean(bt_mase(f, by, sc)):8.4f}"
        )


if __name__ == "__main__":
    main()
