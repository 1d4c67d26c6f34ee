"""Class champion per horizon-step bucket: does it beat one champion for the whole horizon?

Reuses scripts/global_lab.py's stage (cached ETS / DOTheta / CES fits of scripts/temporal_lab.py,
classic Theta, the catalog's GlobalAR and GlobalGBM fitted anew per slot) to build, for every
combination of the pool, the per-series forecasts of the 3 backtest windows (ceil(h/3) apart)
and of the held-out future (the minimum of global_lab.main(), copied here). Results:
docs/accuracy.md, "Horizon-specific selection (twenty-fifth session)".

Rules, each chosen on the backtest only (except d):
  a  one combination for all steps: the lowest backtest MASE over all h steps (global_lab's
     class-champion rule: geometric mean over series of each series' backtest MASE, over the
     series every pool member scores finite and > 0; global_lab.by_group / pooling)
  b  per bucket: steps split in 3 equal buckets; per bucket the combination with the lowest
     backtest MASE on that bucket's steps only; each step forecast by its bucket's choice
  c  per step: each step its own lowest-backtest combination
  d  hindsight (reference only): the best single combination on the future's MASE
  d' hindsight per bucket (reference only): per bucket the best on the future's MASE
No demand classes exist in the lab (global_lab has none; selection_lab: "one class per data
set"), so every rule chooses over all series of the set.

    .venv/bin/python scripts/temporal_lab.py --data DIR --horizon 18 --cache CACHE  # once
    .venv/bin/python scripts/step_lab.py --data DIR --horizon 18 --cache CACHE --json OUT.json
    # Tourism: --horizon 24; --members FILE.npz keeps the built forecasts for a rerun
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from global_lab import classic_theta, stage  # noqa: E402
from temporal_lab import MODELS, SHORT, M, score  # noqa: E402

from demandcast.catalog import load_catalog  # noqa: E402

# global_lab.by_group's pool ("the catalog's combinations above": names starting with Combo,
# "mean of ETS", "median of", without "+"), and the wider pool adding ComboGlobal and
# ComboGlobalMedian (in the catalog's smooth pool too; global_lab names them "global ... + ...")
POOL6 = ["mean3", "ComboMedian4", "ComboGBM", "ComboGlobal5", "ComboGlobal5Median",
         "ComboGlobal6Median"]  # fmt: skip
POOL8 = POOL6 + ["ComboGlobal", "ComboGlobalMedian"]


def build(a) -> dict:
    """global_lab.main()'s arrays, trimmed to what the pool needs."""
    h = a.horizon
    st = stage(a.data, h, a.cache)
    ids, A, sc, y_fut = st["ids"], st["A"], st["sc"], st["y_fut"]
    ys, step, by, n_o = st["ys"], st["step"], st["by"], 4
    base = {SHORT[m]: A[m][1][..., :h] for m in MODELS}
    theta = classic_theta(ys, h, step, n_o, a.cache)
    catalog = load_catalog()
    glob = {}
    for name in ("GlobalAR", "GlobalGBM"):
        g = np.full((len(ids), n_o, h), np.nan)
        t0 = time.process_time()
        for slot in range(n_o):
            offset = 0 if slot == 0 else h + (slot - 1) * step
            model = catalog.pooled(name, M, h)
            model.n_series = len(ys)
            model.fit(ys, [offset])
            g[:, slot] = model.predict_batch([y[: len(y) - offset] for y in ys], offset)
        print(f"{name}: {time.process_time() - t0:.1f} s CPU, every slot", flush=True)
        glob[name] = g
    return dict(ids=ids, sc=sc, y_fut=y_fut[:, :h], by=by, theta=theta, **base, **glob)


def arguments(doc: str) -> argparse.ArgumentParser:
    """The labs' common options: the data, the horizon, temporal_lab's cache, the members."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--horizon", type=int, required=True)
    p.add_argument("--cache", type=Path, required=True, help="scripts/temporal_lab.py's cache")
    p.add_argument("--members", type=Path, help="npz of the members' arrays (written / reused)")
    return p


def members(a: argparse.Namespace) -> dict:
    """build(a)'s arrays, from a.members when that file exists (written there otherwise)."""
    if a.members and a.members.exists():
        print(f"members from {a.members}")
        return dict(np.load(a.members, allow_pickle=True))
    d = build(a)
    if a.members:
        np.savez(a.members, **d)
    return d


def combinations(d: dict) -> dict[str, np.ndarray]:
    """The pool's combinations, exactly as global_lab.main() forms them."""
    local = [d["ETS"], d["DOTheta"], d["CES"]]
    both = [d["GlobalAR"], d["GlobalGBM"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "mean3": np.nanmean(np.stack(local, -1), -1),
            "ComboMedian4": np.nanmedian(np.stack([*local, d["theta"]], -1), -1),
            "ComboGBM": np.nanmean(np.stack([*local, d["GlobalGBM"]], -1), -1),
            "ComboGlobal5": np.nanmean(np.stack([*local, *both], -1), -1),
            "ComboGlobal5Median": np.nanmedian(np.stack([*local, *both], -1), -1),
            "ComboGlobal6Median": np.nanmedian(np.stack([*local, d["theta"], *both], -1), -1),
            "ComboGlobal": np.nanmean(np.stack([*local, d["GlobalAR"]], -1), -1),
            "ComboGlobalMedian": np.nanmedian(np.stack([*local, d["GlobalAR"]], -1), -1),
        }


def bt_mase_steps(f: np.ndarray, by: np.ndarray, sc: np.ndarray, steps) -> np.ndarray:
    """global_lab.bt_mase restricted to `steps` (0-based indices within each window)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = np.abs(np.maximum(f[:, 1:, steps], 0) - by[:, :, steps])
        return np.nanmean(e.reshape(len(f), -1), 1) / sc


def choose(pool: dict, by, sc, steps, agg: str) -> tuple[str, dict]:
    """The class-champion rule on `steps`: lowest geometric (or arithmetic) mean over series
    of the backtest MASE, over the series every pool member scores (finite, > 0)."""
    per = {n: bt_mase_steps(f, by, sc, steps) for n, f in pool.items()}
    common = np.all([np.isfinite(v) & (v > 0) for v in per.values()], axis=0)
    if agg == "gmean":
        s = {n: float(np.exp(np.log(v[common]).mean())) for n, v in per.items()}
    else:
        s = {n: float(v[common].mean()) for n, v in per.items()}
    return min(s, key=s.get), s


def per_series_mase(fc, y, sc) -> np.ndarray:
    return np.nanmean(np.abs(np.maximum(fc, 0) - y), 1) / sc


def evaluate(d: dict, pool_names: list[str], agg: str, combos: dict) -> dict:
    h = d["y_fut"].shape[1]
    by, sc, y = d["by"], d["sc"], d["y_fut"]
    pool = {n: combos[n] for n in pool_names}
    t0 = time.process_time()
    k = h // 3
    buckets = [list(range(b * k, (b + 1) * k)) for b in range(3)]
    if h % 3:
        buckets[-1] += list(range(3 * k, h))
    out: dict = {"pool": pool_names, "agg": agg, "buckets": [[s + 1 for s in b] for b in buckets]}
    # a: one champion
    champ, s_all = choose(pool, by, sc, list(range(h)), agg)
    fa = pool[champ][:, 0]
    # b: per bucket
    fb = np.full_like(fa, np.nan)
    chosen_b, bt_b = [], []
    for b in buckets:
        n, s = choose(pool, by, sc, b, agg)
        chosen_b.append(n)
        bt_b.append(s)
        fb[:, b] = pool[n][:, 0][:, b]
    # c: per step
    fc = np.full_like(fa, np.nan)
    chosen_c = []
    for st in range(h):
        n, _ = choose(pool, by, sc, [st], agg)
        chosen_c.append(n)
        fc[:, st] = pool[n][:, 0, st]
    sel_cpu = time.process_time() - t0
    # d: hindsight, best single on the future MASE; d': per bucket on the future MASE
    fut = {n: score(f[:, 0], y, sc) for n, f in pool.items()}
    best_d = min(fut, key=lambda n: fut[n]["mase"])
    fd2 = np.full_like(fa, np.nan)
    chosen_d2 = []
    for b in buckets:
        m = {n: np.nanmean(per_series_mase(f[:, 0, b], y[:, b], sc)) for n, f in pool.items()}
        n = min(m, key=m.get)
        chosen_d2.append(n)
        fd2[:, b] = pool[n][:, 0][:, b]
    rows = {
        "a one champion": (fa, champ),
        "b per bucket": (fb, " | ".join(chosen_b)),
        "c per step": (fc, " ".join(chosen_c)),
        "d hindsight: best single on the future": (pool[best_d][:, 0], best_d),
        "d' hindsight: best per bucket on the future": (fd2, " | ".join(chosen_d2)),
    }
    ma = per_series_mase(fa, y, sc)
    res = {}
    for name, (f, chosen) in rows.items():
        r = score(f, y, sc)
        diff = per_series_mase(f, y, sc) - ma  # paired against a, per series
        ok = np.isfinite(diff)
        r["mase_diff_vs_a"] = float(diff[ok].mean())
        r["mase_diff_se"] = float(diff[ok].std(ddof=1) / np.sqrt(ok.sum()))
        r["chosen"] = chosen
        res[name] = r
    out["rules"] = res
    out["bt_all_steps"] = s_all
    out["bt_per_bucket"] = bt_b
    out["future_per_combination"] = fut
    out["per_step_choices"] = chosen_c
    out["selection_cpu_s"] = sel_cpu
    return out


def main() -> None:
    p = arguments(__doc__)
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    t0, w0 = time.process_time(), time.time()
    d = members(a)
    build_cpu, build_wall = time.process_time() - t0, time.time() - w0
    combos = combinations(d)
    h = a.horizon
    print(f"{a.data}: {len(d['ids'])} series, h {h}; members {build_cpu:.1f} s CPU "
          f"({build_wall:.1f} s wall)")  # fmt: skip
    print("\nevery combination: future sMAPE / MASE, backtest MASE (arith. mean, global_lab's "
          "column)")  # fmt: skip
    for n, f in combos.items():
        r = score(f[:, 0], d["y_fut"], d["sc"])
        bt = np.nanmean(bt_mase_steps(f, d["by"], d["sc"], list(range(h))))
        print(f"  {n:20s} {r['smape']:7.3f} {r['mase']:7.4f} {bt:8.4f}")
    results = {"set": str(a.data), "h": h, "members_cpu_s": build_cpu, "runs": []}
    for pool_names, pname in (
        (POOL6, "pool6 (global_lab.by_group's)"),
        (POOL8, "pool8 (+ComboGlobal, ComboGlobalMedian)"),
    ):
        for agg in ("gmean", "amean"):
            out = evaluate(d, pool_names, agg, combos)
            out["pool_name"] = pname
            results["runs"].append(out)
            spans = [(b[0], b[-1]) for b in out["buckets"]]
            print(f"\n== {pname}, backtest ranked by {agg} of per-series MASE; buckets "
                  f"{spans}; selection {out['selection_cpu_s']:.2f} s CPU")  # fmt: skip
            for name, r in out["rules"].items():
                diff = f"{r['mase_diff_vs_a']:+.4f} (se {r['mase_diff_se']:.4f})"
                print(f"  {name:45s} {r['smape']:7.3f} {r['mase']:7.4f}  dMASE vs a "
                      f"{diff}  {r['chosen']}")  # fmt: skip
            print("  backtest score per bucket:")
            for b, s in zip(out["buckets"], out["bt_per_bucket"], strict=True):
                top = sorted(s, key=s.get)
                print(f"    steps {b[0]}-{b[-1]}: " + ", ".join(f"{n} {s[n]:.4f}" for n in top))
    results["total_cpu_s"] = time.process_time() - t0
    print(f"\ntotal {results['total_cpu_s']:.1f} s CPU, {time.time() - w0:.1f} s wall")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
