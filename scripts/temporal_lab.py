"""Temporal aggregation (MAPA / THieF-style) lab for demandcast's competition data.

Each monthly series is aggregated into non-overlapping blocks of k months that end at
the origin (incomplete first block dropped), for k in 1, 2, 3, 4, 6, 12. AutoETS,
DynamicOptimizedTheta and AutoCES are fitted at season 12/k (non-seasonal where 12/k
is 1), forecast ceil(H/k) aggregated periods, and each aggregated value is spread
evenly over its k months. Combinations across k: mean (MAPA-like), median, and THieF
structural-scaling reconciliation of the annual temporal hierarchy.

Backtest as demandcast and scripts/selection_lab.py: up to 3 windows ceil(h/3) apart,
min train length max(h, 6); ETS and Theta estimated once at the first (oldest) window
and carried forward with `forward` (at every level k), CES refit each window.
Scores: sMAPE pooled over points, MASE per series (in-sample seasonal-naive scale,
selection_lab.scales) then averaged; forecasts clipped at zero (selection_lab.score).

Stage 1 (fits, cached per chunk of series in CACHE/chunks) is the heavy part;
stage 2 (combinations, scores, backtest ranking) runs from the cache in seconds.

    .venv/bin/python scripts/competition_data.py --dataset m1 --out DIR   # m3, tourism
    .venv/bin/python scripts/temporal_lab.py --data DIR --horizon 18 --cache CACHE --json out.json
    # M3: --horizon 18; Tourism: --horizon 24

Findings (docs/accuracy.md, "Temporal aggregation"): spreading an aggregated
forecast evenly loses on all three sets; THieF helps ETS and CES a little and
hurts DynamicOptimizedTheta; only Tourism gains beyond noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from selection_lab import gmean, load, scales, score  # noqa: E402  (reused, not changed)

M = 12
KS = (1, 2, 3, 4, 6, 12)
MODELS = ("AutoETS", "DynamicOptimizedTheta", "AutoCES")
SHORT = {"AutoETS": "ETS", "DynamicOptimizedTheta": "DOTheta", "AutoCES": "CES"}
FORWARD = {"AutoETS", "DynamicOptimizedTheta"}  # carried forward in the backtest
MIN_AGG = 4  # an aggregated level needs at least this many aggregated observations
CHUNK = 40


def make(model: str, m: int):
    from statsforecast import models as sfm

    if model == "AutoETS":
        return sfm.AutoETS(model="ZZZ", season_length=m)
    if model == "DynamicOptimizedTheta":
        return sfm.DynamicOptimizedTheta(season_length=m)
    return sfm.AutoCES(model="Z" if m > 1 else "N", season_length=m)


def aggregate(y: np.ndarray, k: int) -> np.ndarray | None:
    n = len(y) // k
    if n < MIN_AGG:
        return None
    return y[len(y) - n * k :].reshape(n, k).sum(1)


def _run(fn, hk: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = np.asarray(fn()["mean"], dtype=float)
        if f.shape != (hk,) or not np.all(np.isfinite(f)):
            raise ValueError
        return f
    except Exception:
        return np.full(hk, np.nan)


def one_series(args) -> list[dict]:
    """All fits of one series: origin -1 is the future, 0.. the backtest windows (0 latest)."""
    uid, y, h, H, n_win = args
    step = -(-h // 3)
    rows = []
    # future
    cuts = [(-1, len(y))] + [(w, len(y) - h - w * step) for w in range(n_win)]
    for k in KS:
        m = M // k if M % k == 0 and M // k > 1 else 1
        hk = -(-H // k)
        for model in MODELS:
            fitted = None  # forward-mode estimate (ETS, Theta), from the oldest window
            for origin, cut in [cuts[0]] + sorted(cuts[1:], key=lambda c: c[1]):
                a = aggregate(y[:cut], k)
                t0 = time.process_time()
                if a is None:
                    f, status = np.full(hk, np.nan), "short"
                elif origin >= 0 and model in FORWARD:
                    if fitted is None:
                        # estimate at the oldest window where this level can be estimated; a
                        # failure there ("tiny datasets" on a short aggregated series) is retried
                        # at the next, longer window instead of blanking the level for good
                        try:
                            with warnings.catch_warnings():
                                warnings.simplefilter("ignore")
                                fitted = make(model, m).fit(y=a)
                        except Exception:
                            fitted = None
                    if fitted is None:
                        f = np.full(hk, np.nan)
                    else:
                        f = _run(lambda fit=fitted, a=a, hk=hk: fit.forward(y=a, h=hk), hk)
                    status = "ok" if np.isfinite(f).all() else "failed"
                else:
                    f = _run(
                        lambda mod=model, m=m, a=a, hk=hk: make(mod, m).forecast(y=a, h=hk), hk
                    )
                    status = "ok" if np.isfinite(f).all() else "failed"
                cpu = time.process_time() - t0
                rows.append(
                    dict(
                        unique_id=uid,
                        origin=origin,
                        k=k,
                        model=model,
                        status=status,
                        cpu=cpu,
                        agg=f,  # aggregated (sum over k months) forecasts, ceil(H/k)
                    )
                )
    return rows


def _warm() -> None:
    y = np.abs(np.sin(np.arange(60) / 2)) * 10 + 20 + np.arange(60) * 0.1
    for model in MODELS:
        for m in (12, 2, 1):
            try:
                mod = make(model, m).fit(y=y)
                mod.forecast(y=y, h=4)
                if hasattr(mod, "forward"):
                    mod.forward(y=y, h=4)
            except Exception:
                pass


def fit_all(df: pd.DataFrame, h: int, H: int, cache: Path, jobs: int) -> pd.DataFrame:
    chunks = cache / "chunks"
    chunks.mkdir(parents=True, exist_ok=True)
    step, min_train = -(-h // 3), max(h, M // 2)
    ys = {u: g["y"].to_numpy(float) for u, g in df.groupby("unique_id", sort=True)}
    ids = sorted(ys)
    todo = []
    for i in range(0, len(ids), CHUNK):
        p = chunks / f"part_{i // CHUNK:04d}.pkl"
        if not p.exists():
            todo.append((p, ids[i : i + CHUNK]))
    if todo:
        print(f"fitting {sum(len(c) for _, c in todo)} series in {len(todo)} chunks", flush=True)
        t0 = time.time()
        with ProcessPoolExecutor(jobs, initializer=_warm) as ex:
            for j, (p, chunk) in enumerate(todo):
                args = []
                for u in chunk:
                    n = len(ys[u])
                    nw = int(min(3, max(0, (n - h - min_train) // step + 1)))
                    args.append((u, ys[u], h, H, nw))
                rows = [r for res in ex.map(one_series, args) for r in res]
                pd.DataFrame(rows).to_pickle(p)
                print(f"  chunk {j + 1}/{len(todo)}  {time.time() - t0:.0f}s", flush=True)
    return pd.concat([pd.read_pickle(p) for p in sorted(chunks.glob("part_*.pkl"))])


# ---------------------------------------------------------------------------------------
# stage 2


def thief_matrix(levels: tuple[int, ...]) -> np.ndarray:
    """Structural-scaling THieF projection for one year: (12, n_nodes) mapping the stacked
    aggregated forecasts of `levels` (each 12/k nodes, sums) to reconciled monthly values."""
    rows, w = [], []
    for k in levels:
        for j in range(M // k):
            r = np.zeros(M)
            r[j * k : (j + 1) * k] = 1
            rows.append(r)
            w.append(k)
    S = np.array(rows)
    Wi = np.diag(1 / np.array(w, float))
    return np.linalg.solve(S.T @ Wi @ S, S.T @ Wi)


def arrays(fits: pd.DataFrame, ids: np.ndarray, H: int, n_o: int):
    """A[model][k]: (series, origin slot, H) monthly-spread forecasts; slot 0 the future,
    slot 1 + w backtest window w. G[model][k]: the aggregated values (series, slot, ceil(H/k)).
    CPU[model][k]: (series, slot)."""
    pos = {u: i for i, u in enumerate(ids)}
    A, G, CPU = {}, {}, {}
    for (model, k), g in fits.groupby(["model", "k"]):
        hk = -(-H // k)
        a = np.full((len(ids), n_o, H), np.nan)
        gg = np.full((len(ids), n_o, hk), np.nan)
        c = np.zeros((len(ids), n_o))
        for u, o, f, cpu in zip(g["unique_id"], g["origin"], g["agg"], g["cpu"], strict=True):
            if u not in pos:
                continue
            i, s = pos[u], o + 1
            gg[i, s] = f
            a[i, s] = np.repeat(f / k, k)[:H]
            c[i, s] = cpu
        A.setdefault(model, {})[k] = a
        G.setdefault(model, {})[k] = gg
        CPU.setdefault(model, {})[k] = c
    return A, G, CPU


def thief(G: dict, H: int, ks: tuple[int, ...] = KS) -> np.ndarray:
    """Reconcile per series/slot/year using the levels (of `ks`) whose forecasts exist there."""
    some = G[1]
    n, n_o = some.shape[:2]
    out = np.full((n, n_o, H), np.nan)
    cache: dict = {}
    for yr in range(H // M):
        blocks = {k: G[k][:, :, yr * (M // k) : (yr + 1) * (M // k)] for k in ks}
        avail = np.stack([np.isfinite(blocks[k]).all(-1) for k in ks], -1)  # (n, n_o, |K|)
        for pat in {tuple(r) for r in avail.reshape(-1, len(ks))}:
            lv = tuple(k for k, ok in zip(ks, pat, strict=True) if ok)
            if not lv:
                continue
            if lv not in cache:
                cache[lv] = thief_matrix(lv)
            P = cache[lv]
            sel = (avail == np.array(pat)).all(-1)
            stacked = np.concatenate([blocks[k][sel] for k in lv], -1)
            out[sel, yr * M : (yr + 1) * M] = stacked @ P.T
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--horizon", type=int, required=True)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--every", type=int, default=1, help="keep every n-th series (by id)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    h = a.horizon
    H = M * -(-h // M)  # fit whole years so THieF can reconcile; scored on the first h
    df, act = load(a.data)
    keep = sorted(act["unique_id"].unique())[:: a.every]
    df, act = df[df["unique_id"].isin(keep)], act[act["unique_id"].isin(keep)]
    fits = fit_all(df, h, H, a.cache, a.jobs)
    ids = np.array(sorted(keep))
    n_o = 4
    A, G, CPU = arrays(fits, ids, H, n_o)
    sc = scales(df).reindex(ids).to_numpy()
    y_fut = act.pivot(index="unique_id", columns="step", values="y").reindex(ids).to_numpy(float)
    y = {u: g["y"].to_numpy(float) for u, g in df.groupby("unique_id")}
    step = -(-h // 3)
    by = np.full((len(ids), 3, h), np.nan)  # backtest actuals per window (0 latest)
    for i, u in enumerate(ids):
        n_win = min(3, max(0, (len(y[u]) - h - max(h, M // 2)) // step + 1))
        for w in range(n_win):
            cut = len(y[u]) - h - w * step
            by[i, w] = y[u][cut : cut + h]
    bt_rows = np.isfinite(by).any((1, 2))

    # candidates: name -> (forecast (series, slot, h), cpu (series, slot))
    cand: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ta_mean, ta_med, ta_thief, base, ta_prop = {}, {}, {}, {}, {}
    for model in MODELS:
        s = SHORT[model]
        stack = np.stack([A[model][k][..., :h] for k in KS], -1)
        cpu = sum(CPU[model][k] for k in KS)
        base[s] = (A[model][1][..., :h], CPU[model][1])
        ta_mean[s] = (np.nanmean(stack, -1), cpu)
        ta_med[s] = (np.nanmedian(stack, -1), cpu)
        ta_thief[s] = (thief(G[model], H)[..., :h], cpu)
        # diagnostic variant: spread each aggregated value over its k months in proportion to
        # the same model's monthly (k=1) forecast instead of evenly (keeps monthly seasonality)
        props = [A[model][1][..., :h]]
        b1 = A[model][1]
        for k in KS[1:]:
            blk = b1[..., : (H // k) * k].reshape(b1.shape[:2] + (H // k, k))
            tot = blk.sum(-1, keepdims=True)
            okp = np.isfinite(tot) & (tot > 0) & (blk >= 0).all(-1, keepdims=True)
            share = np.where(okp, blk / np.where(okp, tot, 1), 1 / k).reshape(b1.shape)
            props.append((np.repeat(G[model][k], k, -1)[..., :H] * share)[..., :h])
        ta_prop[s] = (np.nanmean(np.stack(props, -1), -1), cpu)
        cand[s] = base[s]
        cand[f"TA-mean {s}"] = ta_mean[s]
        cand[f"TA-median {s}"] = ta_med[s]
        cand[f"THieF {s}"] = ta_thief[s]
        cand[f"TA-mean-prop {s}"] = ta_prop[s]

    def mean_of(parts):
        return (
            np.nanmean(np.stack([p[0] for p in parts], -1), -1),
            sum(p[1] for p in parts),
        )

    cand["Mean3 (base)"] = mean_of(list(base.values()))
    cand["Mean3 TA-mean"] = mean_of(list(ta_mean.values()))
    cand["Mean3 TA-median"] = mean_of(list(ta_med.values()))
    cand["Mean3 THieF"] = mean_of(list(ta_thief.values()))
    cand["Mix6 base+TA-mean"] = mean_of(list(base.values()) + list(ta_mean.values()))
    cand["Mix6 base+TA-median"] = mean_of(list(base.values()) + list(ta_med.values()))
    cand["Mix6 base+THieF"] = mean_of(list(base.values()) + list(ta_thief.values()))
    cand["Mean3 TA-mean-prop"] = mean_of(list(ta_prop.values()))
    cand["Mix6 base+TA-mean-prop"] = mean_of(list(base.values()) + list(ta_prop.values()))
    # the three as they are and THieF where it helped (ETS, CES): the catalog's ComboTHieF
    cand["Mean5 base+THieF ETS, CES"] = mean_of(
        list(base.values()) + [ta_thief["ETS"], ta_thief["CES"]]
    )
    # the temporal versions already contain the k=1 (base) fits: count their CPU once
    for v in ("TA-mean", "TA-median", "THieF", "TA-mean-prop"):
        cand[f"Mix6 base+{v}"] = (cand[f"Mix6 base+{v}"][0], cand[f"Mean3 {v}"][1])
    # single level (diagnostic): ETS/Theta/CES mean at one level only
    for k in KS[1:]:
        cand[f"diag: Mean3 at k={k} only"] = mean_of(
            [(A[m][k][..., :h], CPU[m][k]) for m in MODELS]
        )

    res = {}
    per_fut = {}
    for name, (f, cpu) in cand.items():
        fut = f[:, 0]
        r = score(fut, y_fut, sc)
        per_fut[name] = np.nanmean(np.abs(np.maximum(fut, 0) - y_fut), 1) / sc
        r["nan_series_future"] = int((~np.isfinite(fut).all(1)).sum())
        r["cpu_future_s"] = float(cpu[:, 0].sum())
        r["cpu_backtest_s"] = float(cpu[:, 1:].sum())
        bf = np.maximum(f[:, 1:], 0)
        ae = np.abs(bf - by)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per = np.nanmean(ae.reshape(len(ae), -1), 1) / sc
        ok = np.isfinite(per) & bt_rows
        r["bt_gmean_mase"] = gmean(per[ok])
        r["bt_mean_mase"] = float(np.mean(per[ok]))
        r["bt_series"] = int(ok.sum())
        res[name] = r

    status = fits.groupby(["model", "k", "status"]).size().unstack(fill_value=0)
    print(f"series {len(ids)}, h {h}, backtest series {int(bt_rows.sum())}")
    print("fit status (all origins):")
    print(status.to_string())
    print()
    cols = ("sMAPE", 7), ("MASE", 7), ("cpu fut", 8), ("cpu bt", 8), ("bt gmMASE", 9)
    cols += ("bt rank", 7), ("fut rank", 8)
    hdr = f"{'candidate':28s} " + " ".join(f"{c:>{w}s}" for c, w in cols)
    main_c = [c for c in res if not c.startswith("diag")]
    bt_rank = {
        c: i + 1 for i, c in enumerate(sorted(main_c, key=lambda c: res[c]["bt_gmean_mase"]))
    }
    fu_rank = {c: i + 1 for i, c in enumerate(sorted(main_c, key=lambda c: res[c]["mase"]))}
    print(hdr)
    for c in res:
        r = res[c]
        print(
            f"{c:28s} {r['smape']:7.3f} {r['mase']:7.4f} {r['cpu_future_s']:8.1f} "
            f"{r['cpu_backtest_s']:8.1f} {r['bt_gmean_mase']:9.4f} "
            f"{bt_rank.get(c, ''):>7} {fu_rank.get(c, ''):>8}"
        )
    champ = min(main_c, key=lambda c: res[c]["bt_gmean_mase"])
    print(
        f"\nbacktest champion: {champ}  (future MASE {res[champ]['mase']:.4f}, "
        f"sMAPE {res[champ]['smape']:.3f})"
    )
    best = min(main_c, key=lambda c: res[c]["mase"])
    print(f"future-best:       {best}  (future MASE {res[best]['mase']:.4f})")
    core = [c for c in main_c if not (c.startswith("THieF") or "prop" in c or "THieF" in c)]
    champ_core = min(core, key=lambda c: res[c]["bt_gmean_mase"])
    best_core = min(core, key=lambda c: res[c]["mase"])
    print(
        "backtest champion among base, TA-mean, TA-median, Mean3s, Mix6s: "
        f"{champ_core} (future MASE {res[champ_core]['mase']:.4f}); future-best there: {best_core} "
        f"({res[best_core]['mase']:.4f})"
    )
    # paired comparisons: temporal version vs its base; backtest said vs future said
    pairs = []
    for s_ in SHORT.values():
        for v in ("TA-mean", "TA-median", "THieF", "TA-mean-prop"):
            pairs.append((f"{v} {s_}", s_))
    for v in ("TA-mean", "TA-median", "THieF", "TA-mean-prop"):
        pairs.append((f"Mean3 {v}", "Mean3 (base)"))
        if f"Mix6 base+{v}" in cand:
            pairs.append((f"Mix6 base+{v}", "Mean3 (base)"))
    rng = np.random.default_rng(0)
    print(
        f"\n{'temporal vs reference':45s} {'bt dgm':>8s} {'fut dMASE':>9s} "
        f"{'95% CI (series bootstrap)':>26s}"
        f" {'series better':>13s} {'dsMAPE':>7s} agree"
    )
    paired = {}
    for c, ref in pairs:
        d = per_fut[c] - per_fut[ref]
        d = d[np.isfinite(d)]
        boots = rng.choice(d, (2000, len(d))).mean(1)
        lo, hi = np.percentile(boots, [2.5, 97.5])
        dbt = res[c]["bt_gmean_mase"] - res[ref]["bt_gmean_mase"]
        dfu = res[c]["mase"] - res[ref]["mase"]
        dsm = res[c]["smape"] - res[ref]["smape"]
        agree = "yes" if np.sign(dbt) == np.sign(dfu) else "NO"
        print(
            f"{c + ' vs ' + ref:45s} {dbt:+8.4f} {dfu:+9.4f} [{lo:+.4f}, {hi:+.4f}]{'':>8s}"
            f" {np.mean(d < 0):12.0%} {dsm:+7.3f} {agree}"
        )
        paired[f"{c} vs {ref}"] = dict(
            bt_dgm=dbt, fut_dmase=dfu, ci=[lo, hi], share_better=float(np.mean(d < 0)), dsmape=dsm
        )
    if a.json:
        a.json.write_text(
            json.dumps(
                {"champion": champ, "champion_core": champ_core, "scores": res, "paired": paired},
                indent=1,
                default=float,
            )
        )


if __name__ == "__main__":
    main()
