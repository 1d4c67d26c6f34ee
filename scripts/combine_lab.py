"""Trimmed means: the combinations' robust middle ground between the mean and the median.

The pool's combinations of the global models with the local ones are means (ComboGBM,
ComboGlobal5) or medians (ComboGlobal5Median, ComboGlobal6Median). A mean takes in every
member's error, a median throws away all but one or two members; the trimmed mean drops the
highest and the lowest member of each period and averages the rest (Jose and Winkler 2008,
"Simple robust averages of forecasts"). This lab scores, on M1, M3 and Tourism's held-out
futures and on their backtests, each member set combined all three ways (and winsorised;
of four members the trimmed mean is their median), and the class-champion rule over
step_lab's pool with and without the trimmed mean (global_lab's rule: the lowest geometric
mean over series of the backtest MASE).

It reuses scripts/step_lab.py's members (the cached ETS / DOTheta / CES fits of
scripts/temporal_lab.py, classic Theta, the catalog's GlobalAR and GlobalGBM per slot):

    .venv/bin/python scripts/temporal_lab.py --data DIR --horizon 18 --cache CACHE  # once
    .venv/bin/python scripts/combine_lab.py --data DIR --horizon 18 --cache CACHE \
        --members CACHE/members.npz        # Tourism: --horizon 24

Results: docs/accuracy.md, "Trimmed means (twenty-sixth session)".
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_lab import POOL8, arguments, choose, combinations, members  # noqa: E402
from temporal_lab import score  # noqa: E402

from demandcast.catalog import trimmed_mean  # noqa: E402

FIVE = ["ETS", "CES", "DOTheta", "GlobalAR", "GlobalGBM"]
SETS = {
    "5 (ETS, CES, DOTheta, GlobalAR, GlobalGBM)": FIVE,
    "6 (and Theta)": [*FIVE[:3], "theta", *FIVE[3:]],
}


def robust(d: dict) -> dict[str, np.ndarray]:
    """Per member set: mean, median, trimmed mean, winsorised mean (series, slot, step)."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, names in SETS.items():
            a = np.stack([d[n] for n in names], -1)
            s = np.sort(a, -1)
            out[f"{label}: mean"] = np.nanmean(a, -1)
            out[f"{label}: median"] = np.nanmedian(a, -1)
            out[f"{label}: trimmed"] = trimmed_mean(a, axis=-1)
            out[f"{label}: winsorised"] = np.clip(a, s[..., 1:2], s[..., -2:-1]).mean(-1)
    return out


def main() -> None:
    a = arguments(__doc__).parse_args()
    d = members(a)
    h = a.horizon
    by, sc, y = d["by"], d["sc"], d["y_fut"]
    every = list(range(h))
    cands = robust(d)
    print(f"{a.data}: {len(d['ids'])} series, h {h}")
    print(f"  {'combination':55s} {'sMAPE':>7s} {'MASE':>7s} {'bt gmean':>8s}")
    for name, f in cands.items():
        r = score(f[:, 0], y, sc)
        _, bt = choose({name: f}, by, sc, every, "gmean")
        print(f"  {name:55s} {r['smape']:7.3f} {r['mase']:7.4f} {bt[name]:8.4f}")
    combos = combinations(d)
    combos["ComboGlobal5Trim"] = cands[next(iter(SETS)) + ": trimmed"]
    for pool in (POOL8, [*POOL8, "ComboGlobal5Trim"]):
        champ, _ = choose({n: combos[n] for n in pool}, by, sc, every, "gmean")
        r = score(combos[champ][:, 0], y, sc)
        label = "with ComboGlobal5Trim" if "ComboGlobal5Trim" in pool else "step_lab's pool8"
        print(f"  class champion, {label:22s}: {champ:20s} {r['smape']:7.3f} {r['mase']:7.4f}")
        fut = {n: score(combos[n][:, 0], y, sc) for n in pool}
        best = min(fut, key=lambda n: fut[n]["mase"])
        r = fut[best]
        print(f"  hindsight, the future's best: {best:20s} {r['smape']:7.3f} {r['mase']:7.4f}")


if __name__ == "__main__":
    main()
