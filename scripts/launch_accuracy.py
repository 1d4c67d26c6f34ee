"""Launch forecasts on history: products first ordered in the data's last two years,
forecast as if at their first order from the launch curves of the products launched
before them (demandcast.launch.backtest_launches), against what they then sold.

    .venv/bin/python scripts/launch_accuracy.py data/demo --frequency week --horizon 13
    .venv/bin/python scripts/launch_accuracy.py data/m1_monthly --frequency month --horizon 18

Reads a raw folder: orders.parquet (and actuals.parquet, the held-out months of a
competition folder, when present) summed per plant x product and period, zeros filled from
each series' first period to the data's last; products.parquet or .csv for the groups.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

from demandcast.launch import backtest_launches, launch_scores


def load(raw: Path, frequency: str):
    """Zero-filled history (series_id, period_start, demand) and series_id -> group."""
    con = duckdb.connect()
    parts = [
        f"select order_date as d, plant_id, product_id, quantity as q from '{raw}/orders.parquet'"
    ]
    if (raw / "actuals.parquet").exists():
        parts.append(f"select period_start, plant_id, product_id, y from '{raw}/actuals.parquet'")
    products = next(raw.glob("products.*"))
    history = con.sql(
        f"""
        with lines as ({" union all ".join(parts)}),
        per as (
            select plant_id || '|' || product_id as series_id, product_id,
                   date_trunc('{frequency}', d) as period_start, sum(q) as demand
            from lines group by all
        ),
        bounds as (
            select series_id, product_id, min(period_start) as f,
                   (select max(period_start) from per) as l
            from per group by all
        ),
        grid as (
            select series_id, product_id,
                   unnest(generate_series(f, l, interval 1 {frequency})) as period_start
            from bounds
        )
        select grid.series_id, grid.product_id, cast(grid.period_start as date) as period_start,
               coalesce(per.demand, 0) as demand
        from grid left join per using (series_id, period_start)
        order by 1, 3
        """
    ).df()
    groups = con.sql(f"select product_id, product_group from '{products}'").df()
    group_of = history.drop_duplicates("series_id").merge(groups, on="product_id", how="left")
    return history, group_of.set_index("series_id")["product_group"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", type=Path)
    ap.add_argument("--frequency", default="week", choices=["day", "week", "month"])
    ap.add_argument("--horizon", type=int, default=13)
    ap.add_argument("--years", type=int, default=2, help="launched in the last N years")
    args = ap.parse_args(argv)
    history, groups = load(args.raw, args.frequency)
    end = history["period_start"].max()
    since = end.replace(year=end.year - args.years)
    rows = backtest_launches(history, groups, args.horizon, since)
    print(json.dumps({"since": str(since), **launch_scores(rows)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
