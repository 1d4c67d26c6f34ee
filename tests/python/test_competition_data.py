"""scripts/competition_data.py writes real competition series in demandcast's input shape."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import load_script


@pytest.mark.parametrize(
    ("dataset", "series", "freq", "held_out", "weeks"),
    [
        ("m1", 617, "MS", 18, False),
        ("m3-other", 174, "W-MON", 8, False),
        ("m1", 617, "W-MON", 18, True),  # monthly series dated as weeks (--weeks)
    ],
)
def test_every_series_ends_at_the_origin_and_its_future_follows(
    tmp_path, dataset, series, freq, held_out, weeks
):
    counts = load_script("competition_data").write(dataset, tmp_path, "2025-12-03", weeks)
    orders = pd.read_parquet(tmp_path / "orders.parquet")
    actuals = pd.read_parquet(tmp_path / "actuals.parquet")
    assert counts["series"] == series == orders["product_id"].nunique()
    assert pd.read_csv(tmp_path / "products.csv")["product_id"].nunique() == series
    origin = pd.Timestamp("2025-12-01")  # the month's first day; the week's Monday
    last = pd.to_datetime(orders.groupby("product_id")["order_date"].max())
    assert (last == origin).all()
    for _, g in orders.groupby("product_id"):  # one line a period, none missing
        dates = pd.DatetimeIndex(pd.to_datetime(g["order_date"])).sort_values()
        assert dates.equals(pd.date_range(dates[0], origin, freq=freq))
    first = pd.to_datetime(actuals[actuals["step"] == 1]["period_start"])
    assert (first == origin + pd.tseries.frequencies.to_offset(freq)).all()
    assert actuals.groupby("product_id")["step"].max().eq(held_out).all()
