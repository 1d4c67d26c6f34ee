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


def test_a_wide_csv_holds_out_its_last_months_and_leaves_out_gaps_and_empty_histories(tmp_path):
    source = tmp_path / "parts.csv"
    source.write_text(
        "Part,Jan-98,Feb-98,Mar-98,Apr-98,May-98\n"
        "11,0,2,0,1,3\n"  # kept: demand before the held-out months
        "12,0,0,0,4,0\n"  # left out: no demand in its history
        "13,1,0,,,\n"  # left out: months missing
        "14,5,0,0,0,0\n"  # kept: its future may be all zero
    )
    out = tmp_path / "out"
    counts = load_script("competition_data").write(
        "wide", out, "2025-12-01", source=source, holdout=2
    )
    assert counts == {"series": 2, "order_lines": 6, "actuals": 4}
    orders = pd.read_parquet(out / "orders.parquet")
    actuals = pd.read_parquet(out / "actuals.parquet")
    assert orders.groupby("product_id")["quantity"].apply(list).to_dict() == {
        "11": [0.0, 2.0, 0.0],
        "14": [5.0, 0.0, 0.0],
    }
    assert (pd.to_datetime(orders["order_date"]).max()) == pd.Timestamp("2025-12-01")
    assert actuals[actuals["product_id"] == "11"]["y"].tolist() == [1.0, 3.0]
    assert actuals["period_start"].astype(str).unique().tolist() == ["2026-01-01", "2026-02-01"]
    products = pd.read_csv(out / "products.csv")
    assert products["product_group"].unique().tolist() == ["PARTS"]
    # --min-demands counts the history's months with demand, not the future's: with one
    # month held out 11 has two (2 and 1), 14 one
    kept = tmp_path / "two"
    load_script("competition_data").write(
        "wide", kept, "2025-12-01", source=source, holdout=1, min_demands=2
    )
    assert pd.read_parquet(kept / "orders.parquet")["product_id"].unique().tolist() == ["11"]
    assert pd.read_csv(out / "plants.csv")["plant_id"].tolist() == ["PARTS"]


def test_a_wide_csv_with_its_future_in_another_file_keeps_each_rows_own_length(tmp_path):
    """M4's layout: rows padded with empty fields to the longest, the future in a test file."""
    train, test = tmp_path / "Weekly-train.csv", tmp_path / "Weekly-test.csv"
    train.write_text('"V1","V2","V3","V4","V5"\n"W1","3","4","5","6"\n"W2","7.5","8",,\n')
    test.write_text('"V1","V2","V3"\n"W1","7","8"\n"W2","9","9.5"\n')
    out = tmp_path / "out"
    load_script("competition_data").write(
        "wide", out, "2025-12-01", weeks=True, source=train, future=test
    )
    orders = pd.read_parquet(out / "orders.parquet")
    actuals = pd.read_parquet(out / "actuals.parquet")
    assert orders.groupby("product_id")["quantity"].apply(list).to_dict() == {
        "W1": [3.0, 4.0, 5.0, 6.0],
        "W2": [7.5, 8.0],
    }
    assert set(pd.to_datetime(orders["order_date"]).dt.dayofweek) == {0}  # weeks from Monday
    assert actuals.groupby("product_id")["y"].apply(list).to_dict() == {
        "W1": [7.0, 8.0],
        "W2": [9.0, 9.5],
    }
