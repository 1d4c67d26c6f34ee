"""Per horizon step of a kept demo build: the summed interval bounds over the summed
forecast, and the share of actuals inside and under the intervals.

    .venv/bin/python scripts/accuracy.py --demo --origins 0,13 --no-baselines --keep
    .venv/bin/python scripts/interval_steps.py WORK   # the folder accuracy.py kept

Results: docs/accuracy.md, "Closures by the day (twenty-ninth session)".
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pandas as pd


def actuals(path: Path) -> pd.DataFrame:
    """plant_id, product_id, period_start (a Monday), y: the demo's truth (daily, its
    future part summed to weeks) or accuracy.py's weekly actuals of a past origin."""
    a = pd.read_parquet(path)
    if "demand_date" in a.columns:
        a = a[a["is_future"]].assign(day=pd.to_datetime(a["demand_date"]))
        a["period_start"] = a["day"] - pd.to_timedelta(a["day"].dt.weekday, unit="D")
        a = a.groupby(["plant_id", "product_id", "period_start"], as_index=False, observed=True)
        a = a["actual_demand"].sum().rename(columns={"actual_demand": "y"})
    return a.assign(period_start=pd.to_datetime(a["period_start"]).dt.date)


def main() -> None:
    work = Path(sys.argv[1])
    for origin, truth in (
        ("0", work / "demo" / "truth.parquet"),
        ("13", work / "actuals_13.parquet"),
    ):
        con = duckdb.connect(str(work / f"default_{origin}_published.duckdb"), read_only=True)
        con.register("a", actuals(truth))
        print(f"origin {origin} weeks back")
        table = con.sql(
            """select step, round(sum(lo_80) / sum(forecast), 2) as lo_80,
                round(sum(hi_80) / sum(forecast), 2) as hi_80,
                round(avg((y between lo_80 and hi_80)::int), 3) as held_80,
                round(avg((y between lo_95 and hi_95)::int), 3) as held_95,
                round(avg((y < lo_80)::int), 3) as under_80
            from fct_demand_forecast join a using (plant_id, product_id, period_start)
            where method <> 'launch' group by step order by step"""
        ).df()
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
