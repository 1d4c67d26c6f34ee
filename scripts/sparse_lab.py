"""Sparse-class lab: two tries on ComboSimple, the intermittent and lumpy classes' champion.

ComboSimple is the median of seven simple methods (docs/forecasting.md). This lab refits its
members with StatsForecast on a kept build's history (`scripts/accuracy.py --keep`), at the
origin and at the backtest's three window origins (h + k ceil(h / 3) periods before it), and
scores the held-out future (RMSSE, MASE, bias) of:

- `--windows`: its window averages as the catalog has them (13, 26 and 52 periods: a
  quarter, a half and a whole year of weeks) against windows in fractions of a season (3, 6
  and 12 months for a monthly set);
- `--bias`: its future multiplied, per class, by the class's backtest ratio of actual to
  forecast over the three windows (a correction of the level's lag), and by half of it.

    .venv/bin/python scripts/accuracy.py --data data/carparts10 --keep --no-baselines \
        --vars '{frequency: month, season_length: 12, horizon: 6,
                 forecast_origin: "2025-12-01", data_docs: false}'
    .venv/bin/python scripts/sparse_lab.py --db WORK/default_0.duckdb \
        --actuals data/carparts10/actuals.parquet --horizon 6 --season 12 --freq MS
    # the demo after `make demo`: --db warehouse/dev.duckdb --actuals data/demo/truth.parquet
    #   --horizon 13 --season 52 --freq W-MON

Results: docs/accuracy.md, "Two tries on the sparse classes (twenty-fifth session)".
"""

from __future__ import annotations

import argparse
import time
import warnings

import duckdb
import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive, WindowAverage

from demandcast.catalog import _build_spec, load_catalog
from demandcast.metrics import seasonal_scales

MEMBERS = ["SESOptimized", "Theta", "SeasonalNaive", "WindowAverage13", "HoltDamped",
           "Fourier.WindowAverage26", "WindowAverage52"]  # fmt: skip
NEED = {"WindowAverage13": 13, "Fourier.WindowAverage26": 26, "WindowAverage52": 52,
        "HoltDamped": 10}  # fmt: skip


def seasonal_members(m: int) -> dict:
    """The three windows as fractions of the season: a quarter, a half, a whole one."""
    q, half = max(1, round(m / 4)), max(1, round(m / 2))
    spec = {"model": "Deseasonalized", "kwargs": {"model": {"model": "WindowAverage",
            "kwargs": {"window_size": half}}}}  # fmt: skip
    return {
        f"WindowAverage{q}s": (WindowAverage(window_size=q), q),
        f"Fourier.WindowAverage{half}s": (_build_spec(spec, "Fourier", m, True), 2 * m),
        f"WindowAverage{m}s": (WindowAverage(window_size=m), m),
    }


def fit(df: pd.DataFrame, models: dict, h: int, freq: str) -> pd.DataFrame:
    """Each model's forecast of every series long enough for it: (unique_id, ds) x model."""
    lens = df.groupby("unique_id").size()
    out = []
    for name, (model, need) in models.items():
        ok = lens[lens >= need].index
        if len(ok):
            sf = StatsForecast(models=[model], freq=freq, n_jobs=2, fallback_model=Naive())
            r = sf.forecast(df=df[df["unique_id"].isin(ok)], h=h)
            col = [c for c in r.columns if c not in ("unique_id", "ds")][0]
            out.append(r.rename(columns={col: name}).set_index(["unique_id", "ds"])[name])
    return pd.concat(out, axis=1)


def score(f: pd.Series, d: pd.DataFrame, sc: pd.DataFrame) -> str:
    e = f - d["y"]
    g = e.groupby(d["unique_id"])
    s = sc.reindex(g.size().index)
    rmsse = np.sqrt(g.apply(lambda x: (x**2).mean()) / s["scale_mse"]).mean()
    mase = (g.apply(lambda x: x.abs().mean()) / s["scale_mae"]).mean()
    return f"RMSSE {rmsse:.4f}  MASE {mase:.4f}  bias {100 * e.sum() / d['y'].sum():+.1f} %"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--actuals", required=True)
    p.add_argument("--horizon", type=int, required=True)
    p.add_argument("--season", type=int, required=True)
    p.add_argument("--freq", required=True, help="pandas frequency: MS, W-MON")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    h, m = a.horizon, a.season
    con = duckdb.connect(a.db, read_only=True)
    origin = con.sql("select forecast_origin from int_run__context").fetchall()[0][0]
    meta = con.sql("""select distinct series_id, plant_id, product_id, demand_class
        from fct_demand_forecast where method = 'champion'
        and demand_class in ('intermittent', 'lumpy')""").df()
    hist = con.execute(
        """select series_id as unique_id, period_start as ds, demand as y
        from fct_demand_history where period_start <= ? order by 1, 2""",
        [origin],
    ).df()
    hist = hist[hist["unique_id"].isin(meta["series_id"])]
    hist["ds"] = pd.to_datetime(hist["ds"])
    cat = load_catalog()
    members = {n: (cat.build(n, m), NEED.get(n, 1)) for n in MEMBERS}
    seasonal = seasonal_members(m)
    step = -(-h // 3)
    t0 = time.process_time()
    slots = {}
    for off in [0] + [h + k * step for k in range(3)]:
        n = hist.groupby("unique_id")["y"].transform("size")
        rank = hist.groupby("unique_id").cumcount()
        cut = hist[rank < n - off]
        slots[off] = fit(cut, {**members, **seasonal}, h, a.freq)
    print(f"fits: {time.process_time() - t0:.1f} s CPU")
    if a.actuals.endswith("truth.parquet"):
        from demandcast.evaluate import demo_actuals

        act = demo_actuals(a.actuals, "week", origin, h)
    else:
        act = pd.read_parquet(a.actuals)
    act["period_start"] = pd.to_datetime(act["period_start"])
    act = act.merge(meta, on=["plant_id", "product_id"])
    act = act.rename(columns={"series_id": "unique_id", "period_start": "ds"})
    cls = meta.set_index("series_id")["demand_class"]
    sc = seasonal_scales(hist, m)
    catalog_set = [c for c in MEMBERS if c in slots[0].columns]
    season_set = ["SESOptimized", "Theta", "SeasonalNaive", "HoltDamped", *seasonal]

    def combo(off: int, names: list[str]) -> pd.Series:
        f = slots[off]
        return f[[c for c in names if c in f.columns]].median(axis=1).clip(lower=0)

    fut = combo(0, catalog_set).rename("f").reset_index()
    fut = fut.merge(act[["unique_id", "ds", "y"]], on=["unique_id", "ds"])
    fut["cls"] = fut["unique_id"].map(cls)
    print(f"{fut['unique_id'].nunique()} series, {len(fut)} held-out periods")
    print("ComboSimple as the catalog has it:  ", score(fut["f"], fut, sc))
    alt = combo(0, season_set).reindex(pd.MultiIndex.from_frame(fut[["unique_id", "ds"]]))
    print("windows in fractions of a season:   ", score(pd.Series(alt.to_numpy()), fut, sc))
    y = hist.set_index(["unique_id", "ds"])["y"]
    ratio = {}
    for c in ("intermittent", "lumpy"):
        per, sums = [], [0.0, 0.0]
        for off in [h + k * step for k in range(3)]:
            j = pd.concat([combo(off, catalog_set).rename("f"), y], axis=1, join="inner")
            j = j[j.index.get_level_values(0).map(cls) == c]
            per.append(j["y"].sum() / j["f"].sum())
            sums = [sums[0] + j["y"].sum(), sums[1] + j["f"].sum()]
        ratio[c] = sums[0] / sums[1]
        print(f"{c}: backtest actual / forecast {ratio[c]:.3f}, per window "
              f"{', '.join(f'{r:.3f}' for r in per)}")  # fmt: skip
    for shrink in (1.0, 0.5):
        k = fut["cls"].map(lambda c, s=shrink: 1 + s * (ratio[c] - 1))
        print(f"x the class's backtest ratio, {shrink:.0%}:  ", score(fut["f"] * k, fut, sc))


if __name__ == "__main__":
    main()
