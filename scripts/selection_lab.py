"""Offline lab for learned selection: score combination rules on real held-out futures in seconds.

A full `dbt build` of M3 takes a quarter of an hour; a selection rule only needs
every learner-pool member's backtest forecasts (per series, window and step) and
its forecast of the held-out future. This script fits both once per data set
with plain StatsForecast (the backtest as demandcast runs it: `n_windows` origins
`ceil(h / 3)` apart, as many as each series' history allows with
`min_train_length = max(h, m / 2)`; ETS and theta forms estimated once and
carried forward, CES and the simple models refit) and caches them to Parquet.
Then each rule turns the backtest windows into weights (it never sees the
future) and is scored on the future like `demandcast evaluate` does: sMAPE
pooled over points, MASE per series (in-sample seasonal-naive scale) then
averaged. Forecasts are clipped at zero, as the product's are.

Simplifications against the build: one class per data set (every competition
series is smooth or erratic, which share the learner pool), no plug-in member,
series too short to backtest get the rule's class weights.

    .venv/bin/python scripts/selection_lab.py --data DIR --horizon 18 --cache CACHE_DIR
    .venv/bin/python scripts/selection_lab.py --data DIR --horizon 24 --cache DIR2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from demandcast.stacking import weights_on_simplex

M = 12
FORWARD = {  # estimated once at the first origin, carried forward (catalog `forward: true`)
    "AutoETS": ("AutoETS", {"model": "ZZZ", "season_length": M}),
    "DynamicOptimizedTheta": ("DynamicOptimizedTheta", {"season_length": M}),
    "Theta": ("Theta", {"season_length": M}),
    "AutoTheta": ("AutoTheta", {"season_length": M}),
}
REFIT = {
    "AutoCES": ("AutoCES", {"model": "Z", "season_length": M}),
    "AutoCESNonSeasonal": ("AutoCES", {"model": "N"}),
    "SESOptimized": ("SimpleExponentialSmoothingOptimized", {}),
    "SeasonalNaive": ("SeasonalNaive", {"season_length": M}),
}
POOL = list(FORWARD) + list(REFIT)
CATALOG = Path(__file__).resolve().parents[1] / "src" / "demandcast" / "catalog.yml"


def load(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History (unique_id, ds, y) and the held-out future (unique_id, ds, y, step)."""
    o = pd.read_parquet(data / "orders.parquet")
    o["unique_id"] = o["plant_id"].astype(str) + "/" + o["product_id"].astype(str)
    df = (
        o.groupby(["unique_id", "order_date"], as_index=False)["quantity"]
        .sum()
        .rename(columns={"order_date": "ds", "quantity": "y"})
    )
    df["ds"] = pd.to_datetime(df["ds"])
    a = pd.read_parquet(data / "actuals.parquet")
    a["unique_id"] = a["plant_id"].astype(str) + "/" + a["product_id"].astype(str)
    a = a.rename(columns={"period_start": "ds"})[["unique_id", "ds", "y", "step"]]
    return df.sort_values(["unique_id", "ds"]), a


def _models(spec: dict, forward: bool) -> list:
    from statsforecast import models as sf_models

    from demandcast.catalog import Guarded

    return [
        Guarded(getattr(sf_models, cls)(alias=name, **kw), forward=forward)
        for name, (cls, kw) in spec.items()
    ]


def fit(df: pd.DataFrame, h: int, n_windows: int, cache: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every pool member's backtest (cv) and forecast of the future (fc), cached."""
    from statsforecast import StatsForecast

    cv_path, fc_path = cache / "cv.parquet", cache / "fc.parquet"
    if cv_path.exists() and fc_path.exists():
        return pd.read_parquet(cv_path), pd.read_parquet(fc_path)
    cache.mkdir(parents=True, exist_ok=True)
    step, min_train = -(-h // 3), max(h, M // 2)
    n = df.groupby("unique_id").size()
    n_win = ((n - h - min_train) // step + 1).clip(0, n_windows)
    jobs = int(os.environ.get("LAB_JOBS", "2"))
    cvs = []
    for w in sorted(set(n_win[n_win > 0])):
        sub = df[df["unique_id"].isin(n_win.index[n_win == w])]
        parts = []
        for spec, fwd in ((FORWARD, True), (REFIT, False)):
            sf = StatsForecast(models=_models(spec, fwd), freq="MS", n_jobs=jobs)
            cv = sf.cross_validation(df=sub, h=h, n_windows=int(w), step_size=step, refit=not fwd)
            parts.append(cv.set_index(["unique_id", "ds", "cutoff"]))
        cv = parts[0].join(parts[1].drop(columns="y")).reset_index()
        cvs.append(cv)
    cv = pd.concat(cvs, ignore_index=True)
    cv["step"] = cv.groupby(["unique_id", "cutoff"]).cumcount() + 1
    sf = StatsForecast(
        models=_models(FORWARD, False) + _models(REFIT, False), freq="MS", n_jobs=jobs
    )
    fc = sf.forecast(df=df, h=h)
    fc["step"] = fc.groupby("unique_id").cumcount() + 1
    cv.to_parquet(cv_path)
    fc.to_parquet(fc_path)
    return cv, fc


def scales(df: pd.DataFrame) -> pd.Series:
    """The in-sample seasonal-naive MAE (lag 1, then the mean level, as fallbacks)."""

    def one(y: np.ndarray) -> float:
        for d in (y[M:] - y[:-M] if len(y) > M else np.array([]), np.diff(y), y):
            s = np.mean(np.abs(d)) if len(d) else 0.0
            if s > 0:
                return s
        return 1.0

    return df.groupby("unique_id")["y"].apply(lambda s: one(s.to_numpy()))


def score(fc: np.ndarray, y: np.ndarray, scale: np.ndarray) -> dict:
    """sMAPE pooled over points, MASE per series then averaged (`demandcast evaluate`)."""
    fc = np.maximum(fc, 0.0)
    ae = np.abs(fc - y)
    den = np.abs(y) + np.abs(fc)
    smape = np.where(den == 0, 0.0, 200 * ae / np.where(den == 0, 1, den))
    return {"smape": float(np.nanmean(smape)), "mase": float(np.nanmean(np.nanmean(ae, 1) / scale))}


def combos() -> dict[str, tuple[str, list[str]]]:
    """The smooth pool's fixed combinations from the catalog: name -> (mean|median, members)."""
    cat = yaml.safe_load(CATALOG.read_text())
    pool = cat["selection"]["pool"]["smooth"]
    out = {}
    for e in cat["candidates"]:
        if e["name"] in pool and e.get("combine") in ("mean", "median"):
            out[e["name"]] = (e["combine"], list(e["members"]))
    return out


class Lab:
    """Backtest arrays (series, window, step, member) and future arrays (series, step, member)."""

    def __init__(self, df: pd.DataFrame, cv: pd.DataFrame, fc: pd.DataFrame, act: pd.DataFrame):
        self.ids = np.array(sorted(act["unique_id"].unique()))
        self.h = int(act["step"].max())
        sc = scales(df)
        self.scale = sc.reindex(self.ids).to_numpy()
        fut = act.pivot(index="unique_id", columns="step", values="y").reindex(self.ids)
        self.y = fut.to_numpy(float)
        self.f = np.stack(
            [
                fc.pivot(index="unique_id", columns="step", values=m).reindex(self.ids).to_numpy()
                for m in POOL
            ],
            axis=-1,
        )
        cv = cv.copy()
        cv["win"] = (
            cv.groupby("unique_id")["cutoff"].rank(method="dense", ascending=False).astype(int) - 1
        )
        n_w = int(cv["win"].max()) + 1
        idx = pd.MultiIndex.from_product([self.ids, range(n_w), range(1, self.h + 1)])
        cv = cv.set_index(["unique_id", "win", "step"]).reindex(idx)
        shape = (len(self.ids), n_w, self.h)
        self.by = cv["y"].to_numpy(float).reshape(shape)  # window 0 is the latest
        self.bf = np.stack([cv[m].to_numpy(float).reshape(shape) for m in POOL], axis=-1)
        # the in-sample scale at each window's origin (pre-origin: the scale of the whole
        # history is a fair stand-in for a relative weight; MASE ranking uses it per series)
        self.bscale = self.scale

    # -- rule building blocks -------------------------------------------------
    def member_index(self, names: list[str]) -> list[int]:
        return [POOL.index(n) for n in names]

    def combine(self, f: np.ndarray, how: str, names: list[str]) -> np.ndarray:
        sub = f[..., self.member_index(names)]
        return np.nanmedian(sub, -1) if how == "median" else np.nanmean(sub, -1)

    def weighted(self, f: np.ndarray, w: np.ndarray) -> np.ndarray:
        """f (..., pool) with weights (pool,) or (series, pool); NaN members re-weighted."""
        ok = np.isfinite(f)
        ww = np.broadcast_to(
            w.reshape(w.shape[:1] + (1,) * (f.ndim - 2) + w.shape[-1:]) if w.ndim == 2 else w,
            f.shape,
        )
        num = np.where(ok, f, 0.0) * ww
        den = (ww * ok).sum(-1)
        return np.where(den > 0, num.sum(-1) / np.where(den > 0, den, 1), np.nan)

    def backtest_mase(self, bf: np.ndarray, windows=None) -> np.ndarray:
        """Per-series backtest MASE of a combined backtest forecast (series, window, step)."""
        if windows is not None:
            bf, by = bf[:, windows], self.by[:, windows]
        else:
            by = self.by
        ae = np.abs(np.maximum(bf, 0) - by)
        return np.nanmean(ae.reshape(len(ae), -1), 1) / self.bscale

    def stack_weights(
        self, members: list[str], windows=None, steps=None, loss: str = "sq"
    ) -> np.ndarray:
        """Class weights over `members` learned from the backtest (as stacking.py does: each
        series' error products normalised to trace k, summed, minimised over the simplex)."""
        idx = self.member_index(members)
        bf, by = self.bf[..., idx], self.by
        if windows is not None:
            bf, by = bf[:, windows], by[:, windows]
        if steps is not None:
            bf, by = bf[:, :, steps], by[:, :, steps]
        e = (bf - by[..., None]).reshape(len(bf), -1, len(idx))
        rows = np.isfinite(e).all(axis=(1, 2)) & np.isfinite(by.reshape(len(by), -1)).any(1)
        e = e[rows]
        ok = np.isfinite(by.reshape(len(by), -1))[rows]
        e = np.where(ok[..., None], e, 0.0)
        if loss == "abs":
            return abs_weights(e / self.bscale[rows][:, None, None])
        prod = np.einsum("ntj,ntk->njk", e, e)
        tr = np.einsum("njj->n", prod) / len(idx)
        keep = tr > 0
        norm = prod[keep] / tr[keep][:, None, None]
        return weights_on_simplex(norm.mean(0)[None])[0]

    def full(self, names: list[str], w: np.ndarray) -> np.ndarray:
        out = np.zeros(len(POOL))
        out[self.member_index(names)] = w
        return out


def abs_weights(e: np.ndarray, iterations: int = 20) -> np.ndarray:
    """argmin_w sum |e w| over the simplex (scaled absolute error: MASE's loss), by
    iteratively reweighted least squares: each round weighs every point by 1 / |its error|."""
    a = e.reshape(-1, e.shape[-1])
    a = a[np.abs(a).sum(1) > 0]
    w = np.full(a.shape[1], 1 / a.shape[1])
    for _ in range(iterations):
        r = np.maximum(np.abs(a @ w), 1e-3 * np.abs(a).mean())
        w = weights_on_simplex(((a.T / r) @ a / len(a))[None])[0]
    return w


def gmean(s: np.ndarray) -> float:
    """The geometric mean of backtest scores, as selection compares candidates."""
    return float(np.exp(np.mean(np.log(np.maximum(s, 1e-9)))))


def rules(lab: Lab) -> dict[str, np.ndarray]:
    """Every rule's forecast of the future (series, step). Rules see the backtest only."""
    out: dict[str, np.ndarray] = {}
    cmb = combos()
    bt = {}
    for name, (how, members) in cmb.items():
        out[name] = lab.combine(lab.f, how, members)
        bt[name] = lab.backtest_mase(lab.combine(lab.bf, how, members))
    gm = {n: gmean(s[np.isfinite(s)]) for n, s in bt.items()}
    champ = min(gm, key=gm.get)
    out["class champion"] = out[champ]
    lab.champion = champ
    how, members = cmb[champ]
    w_champ = lab.full(members, np.full(len(members), 1 / len(members)))
    mean_members = cmb["ComboMean"][1]
    w_mean = lab.full(mean_members, np.full(len(mean_members), 1 / len(mean_members)))
    pools = {
        "pool8": POOL,
        "strong6": [
            "AutoETS",
            "AutoCES",
            "DynamicOptimizedTheta",
            "Theta",
            "AutoTheta",
            "AutoCESNonSeasonal",
        ],
        "strong4": ["AutoETS", "AutoCES", "DynamicOptimizedTheta", "Theta"],
    }
    lab.weights = {}
    for pname, members in pools.items():
        for loss in ("sq", "abs"):
            w = lab.full(members, lab.stack_weights(members, loss=loss))
            lab.weights[f"learned {pname} {loss}"] = w
            out[f"learned {pname} {loss}"] = lab.weighted(lab.f, w)
            for lam in (0.25, 0.5, 0.75):
                for tname, target in (("champion", w_champ), ("ComboMean", w_mean)):
                    ws = lam * w + (1 - lam) * target
                    out[f"shrink{lam}->{tname} {pname} {loss}"] = lab.weighted(lab.f, ws)
        # the last half of the horizon only (the far steps the future is judged on)
        w = lab.full(members, lab.stack_weights(members, steps=slice(lab.h // 2, None)))
        out[f"learned {pname} sq far-steps"] = lab.weighted(lab.f, w)
        # per-step weights: each horizon step its own weights
        ws = np.stack(
            [lab.full(members, lab.stack_weights(members, steps=[s])) for s in range(lab.h)]
        )
        out[f"learned {pname} sq per-step"] = np.einsum(
            "nsj,sj->ns", np.nan_to_num(lab.f), ws
        ) / np.einsum("nsj,sj->ns", np.isfinite(lab.f), ws)
    # nested: choose between learned (strong6 abs) and the class champion by the last window,
    # with weights learned on the earlier windows only
    for pname in pools:
        for loss in ("sq", "abs"):
            members = pools[pname]
            w_early = lab.full(
                members, lab.stack_weights(members, windows=slice(1, None), loss=loss)
            )
            last = [0]
            s_l = lab.backtest_mase(lab.weighted(lab.bf, w_early), windows=last)
            s_c = lab.backtest_mase(lab.combine(lab.bf, how, cmb[champ][1]), windows=last)
            both = np.isfinite(s_l) & np.isfinite(s_c)
            use = gmean(s_l[both]) < gmean(s_c[both])
            key = f"nested {pname} {loss}"
            out[key] = out[f"learned {pname} {loss}"] if use else out["class champion"]
            lab.weights[key + " chose"] = "learned" if use else "champion"
    # nested shrinkage: the factor whose early-window weights score best on the last window
    for pname in pools:
        members = pools[pname]
        w_early = lab.full(members, lab.stack_weights(members, windows=slice(1, None)))
        w_all = lab.full(members, lab.stack_weights(members))
        best = None
        for lam in (0.0, 0.25, 0.5, 0.75, 1.0):
            s_l = lab.backtest_mase(
                lab.weighted(lab.bf, lam * w_early + (1 - lam) * w_champ), windows=[0]
            )
            g = gmean(s_l[np.isfinite(s_l)])
            if best is None or g < best[0]:
                best = (g, lam)
        lam = best[1]
        out[f"nested-lambda {pname} sq"] = lab.weighted(lab.f, lam * w_all + (1 - lam) * w_champ)
        lab.weights[f"nested-lambda {pname} chose"] = f"lambda {lam}"
    # robust fixed combinations of the pool as references
    out["median strong6"] = np.nanmedian(lab.f[..., lab.member_index(pools["strong6"])], -1)
    trimmed = np.sort(lab.f[..., lab.member_index(pools["strong6"])], -1)[..., 1:-1]
    out["trimmed mean strong6"] = np.nanmean(trimmed, -1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--horizon", type=int, required=True)
    p.add_argument("--n-windows", type=int, default=3)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--json", type=Path)
    p.add_argument("--every", type=int, default=1, help="keep every n-th series (by id)")
    a = p.parse_args()
    df, act = load(a.data)
    keep = sorted(act["unique_id"].unique())[:: a.every]
    df, act = df[df["unique_id"].isin(keep)], act[act["unique_id"].isin(keep)]
    cv, fc = fit(df, a.horizon, a.n_windows, a.cache)
    lab = Lab(df, cv, fc, act)
    res = {n: score(f, lab.y, lab.scale) for n, f in rules(lab).items()}
    for m in POOL:
        res[m] = score(lab.f[..., POOL.index(m)], lab.y, lab.scale)
    print(f"class champion (backtest): {lab.champion}")
    for k, w in lab.weights.items():
        if isinstance(w, str):
            print(f"{k}: {w}")
        else:
            print(k, " ".join(f"{POOL[j]}={w[j]:.2f}" for j in np.argsort(-w) if w[j] > 0.005))
    for n, r in sorted(res.items(), key=lambda kv: kv[1]["mase"]):
        print(f"{n:40s} sMAPE {r['smape']:7.3f}  MASE {r['mase']:.4f}")
    if a.json:
        a.json.write_text(json.dumps({"champion": lab.champion, "scores": res}, indent=1))


if __name__ == "__main__":
    main()
