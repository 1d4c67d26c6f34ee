"""Score mon_demand_drift's flags against the demo's own truth (docs/accuracy.md, "Drift flags").

The demo generator writes every series' expected demand (`data/demo/truth.parquet`), so
whether a series' demand really changed is known: its expected demand over the last
`drift_window` weeks against the same weeks a year before. This reads the flags of a
build (`make demo`, then this) and counts them among the series whose expected demand
moved under 10 % (stable: a flag there is noise) and over 30 % (a change to catch), with
the variance rule as it was before the range condition (`sd_ratio` past
`drift_sd_ratio` alone) beside it:

    .venv/bin/python scripts/drift_truth.py --db warehouse/dev.duckdb \
        --truth data/demo/truth.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, default=Path("warehouse/dev.duckdb"))
    p.add_argument("--truth", type=Path, default=Path("data/demo/truth.parquet"))
    p.add_argument("--window", type=int, default=13, help="the build's drift_window")
    p.add_argument("--sd-ratio", type=float, default=2.0, help="the build's drift_sd_ratio")
    a = p.parse_args()
    con = duckdb.connect(str(a.db), read_only=True)
    flags = con.execute(
        f"""select series_id, lifecycle, demand_class, is_judged, is_drifted,
            is_level_shift, is_variance_shift, is_zero_share_shift,
            is_judged and coalesce(sd_ratio > {a.sd_ratio} or sd_ratio < 1 / {a.sd_ratio},
                recent_sd > 0) as was_variance_shift
        from mon_demand_drift"""
    ).df()
    origin = con.execute("select max(period_start) from fct_demand_history").fetchone()[0]
    weekly = duckdb.sql(
        f"""select plant_id || '|' || product_id as series_id, date_trunc('week', demand_date)
            as week, sum(expected_demand) as expected
        from read_parquet('{a.truth}') where not is_future group by all"""
    ).df()
    weekly = weekly[weekly["week"] <= np.datetime64(origin)]
    w = weekly.pivot(index="series_id", columns="week", values="expected").sort_index(axis=1)
    recent = w.iloc[:, -a.window :].mean(axis=1)
    year_before = w.iloc[:, -52 - a.window : -52].mean(axis=1)
    with np.errstate(divide="ignore"):  # no demand expected now: moved without bound
        moved = np.log(recent / year_before.where(year_before > 0)).abs()
    d = flags[flags["is_judged"]].set_index("series_id")
    d["moved"] = moved.reindex(d.index)
    d["was_drifted"] = d["is_level_shift"] | d["was_variance_shift"] | d["is_zero_share_shift"]
    active = d["lifecycle"] != "discontinued"
    stable, changed = d["moved"] < np.log(1.1), active & (d["moved"] > np.log(1.3))
    rows = [
        ("series judged", len(d), len(d)),
        ("flagged", d["was_drifted"].sum(), d["is_drifted"].sum()),
        ("not discontinued, flagged", d.loc[active, "was_drifted"].sum(),
         d.loc[active, "is_drifted"].sum()),
        (f"flagged among the {stable.sum()} whose expected demand moved under 10 %",
         d.loc[stable, "was_drifted"].sum(), d.loc[stable, "is_drifted"].sum()),
        ("lumpy, flagged by variance",
         d.loc[d["demand_class"] == "lumpy", "was_variance_shift"].sum(),
         d.loc[d["demand_class"] == "lumpy", "is_variance_shift"].sum()),
        (f"caught among the {changed.sum()} not discontinued that moved over 30 %",
         d.loc[changed, "was_drifted"].sum(), d.loc[changed, "is_drifted"].sum()),
        ("discontinued, flagged", d.loc[~active, "was_drifted"].sum(),
         d.loc[~active, "is_drifted"].sum()),
    ]  # fmt: skip
    print("| | variance by sd_ratio alone | as built |\n| --- | ---: | ---: |")
    for label, before, after in rows:
        print(f"| {label} | {int(before)} | {int(after)} |")


if __name__ == "__main__":
    main()
