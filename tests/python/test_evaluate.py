"""`demandcast evaluate`: known answers on a hand-made warehouse, and the demo build scored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest

from demandcast import cli
from demandcast.evaluate import demo_actuals, evaluate

# Monthly, origin 2024-08-01, horizon 2, season 4. A has 8 periods (seasonal scale:
# every |y_t - y_(t-4)| is 2), B has 3 (not longer than a season: lag 1, |2|, |3| -> 2.5),
# D has a forecast but no actuals; C has actuals but no forecast.
HISTORY = {
    "A": ("2024-01-01", [10, 20, 30, 40, 12, 22, 32, 42]),
    "B": ("2024-06-01", [5, 7, 4]),
    "D": ("2024-07-01", [1, 1]),
}
# series, period, step, forecast, lo_80, hi_80, lo_95, hi_95, method, demand_class
FORECAST = [
    ("A", "2024-09-01", 1, 14, 12, 16, 10, 18, "champion", "smooth"),
    ("A", "2024-10-01", 2, 20, 18, 21, 16, 23, "champion", "smooth"),
    ("B", "2024-09-01", 1, 5, 4, 6, 3, 7, "cold_start", "intermittent"),
    ("B", "2024-10-01", 2, 0, 0, 1, 0, 2, "cold_start", "intermittent"),
    ("D", "2024-09-01", 1, 1, 0, 2, 0, 3, "champion", "smooth"),
    ("D", "2024-10-01", 2, 1, 0, 2, 0, 3, "champion", "smooth"),
]
# product, period, y, step (A's November is beyond the horizon; B's October has a wrong step)
ACTUALS = [
    ("A", "2024-09-01", 13, 1),
    ("A", "2024-10-01", 25, 2),
    ("A", "2024-11-01", 30, 3),
    ("B", "2024-09-01", 0, 1),
    ("B", "2024-10-01", 0, 5),
    ("C", "2024-09-01", 3, 1),
    ("C", "2024-10-01", 4, 2),
]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """A hand-made warehouse (the tables evaluate reads) and an actuals CSV."""
    db, csv = tmp_path / "tiny.duckdb", tmp_path / "actuals.csv"
    with duckdb.connect(str(db)) as con:
        con.execute("""create table int_run__context as select 'run-1' as run_id,
            'month' as frequency, date '2024-08-01' as forecast_origin, 2 as horizon,
            4 as season_length""")
        con.execute("""create table fct_demand_history (series_id varchar, plant_id varchar,
            product_id varchar, period_start date, demand double)""")
        for product, (start, values) in HISTORY.items():
            for i, v in enumerate(values):
                con.execute(
                    "insert into fct_demand_history values "
                    "(?, 'PL1', ?, ?::date + to_months(?), ?)",
                    [f"PL1|{product}", product, start, i, v],
                )
        con.execute("""create table fct_demand_forecast (plant_id varchar, product_id varchar,
            series_id varchar, period_start date, step bigint, forecast double, lo_80 double,
            hi_80 double, lo_95 double, hi_95 double, model_name varchar, method varchar,
            demand_class varchar, run_id varchar, forecast_origin date)""")
        for p, d, step, *values, method, cls in FORECAST:
            con.execute(
                "insert into fct_demand_forecast values "
                "('PL1', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'M', ?, ?, 'run-1', '2024-08-01')",
                [p, f"PL1|{p}", d, step, *values, method, cls],
            )
    csv.write_text(
        "period_start,product_id,plant_id,y,step\n"
        + "".join(f"{d},{p},PL1,{y},{s}\n" for p, d, y, s in ACTUALS)
    )
    return db, csv


def _row(result: dict, source: str, group: str, value: str) -> dict:
    hits = [
        r for r in result["rows"] if (r["source"], r["group"], r["value"]) == (source, group, value)
    ]
    assert len(hits) == 1, (source, group, value)
    return hits[0]


def test_known_answers(tiny: tuple[Path, Path]) -> None:
    result = evaluate(*tiny, baselines=False)
    overall = _row(result, "forecast", "overall", "all")
    # A: |e| 1, 5 over y 13, 25; B: |e| 5, 0 over y 0, 0 (both 0: sMAPE 0)
    assert overall["n_series"] == 2 and overall["n_points"] == 4
    assert overall["smape"] == pytest.approx((200 / 27 + 1000 / 45 + 200 + 0) / 4)
    assert overall["mase"] == pytest.approx((3 / 2 + 2.5 / 2.5) / 2)
    assert overall["wape"] == pytest.approx(11 / 38)
    assert overall["bias"] == pytest.approx(1 / 38)
    assert overall["coverage_80"] == pytest.approx(0.5)
    assert overall["coverage_95"] == pytest.approx(0.5)
    # MSIS 80 (2/a = 10): A (4 + 3 + 10*4) / 2 / 2; B (2 + 10*4 + 1) / 2 / 2.5
    assert overall["msis_80"] == pytest.approx((47 / 4 + 43 / 5) / 2)
    # MSIS 95 (2/a = 40): A (8 + 7 + 40*2) / 2 / 2; B (4 + 40*3 + 2) / 2 / 2.5
    assert overall["msis_95"] == pytest.approx((95 / 4 + 126 / 5) / 2)
    assert _row(result, "forecast", "demand_class", "smooth")["mase"] == pytest.approx(1.5)
    assert _row(result, "forecast", "method", "cold_start")["msis_80"] == pytest.approx(8.6)
    step1 = _row(result, "forecast", "step", "1")
    assert step1["mase"] == pytest.approx((1 / 2 + 5 / 2.5) / 2)
    assert step1["smape"] == pytest.approx((200 / 27 + 200) / 2)
    # seasonal naive: A 12, 22 (a season back); B shorter than a season: last value 4, 4
    snaive = _row(result, "seasonal_naive", "overall", "all")
    assert snaive["mase"] == pytest.approx((2 / 2 + 4 / 2.5) / 2)
    assert snaive["smape"] == pytest.approx((200 / 25 + 600 / 47 + 200 + 200) / 4)
    assert snaive["coverage_80"] is None and snaive["msis_95"] is None
    assert {r["source"] for r in result["rows"]} == {"forecast", "seasonal_naive"}


def test_missing_forecasts_are_counted(tiny: tuple[Path, Path]) -> None:
    result = evaluate(*tiny, baselines=False)
    counts = result["counts"]
    assert counts["n_actual_rows"] == 7 and counts["n_actual_series"] == 3
    assert counts["n_series_missing_forecast"] == 1
    assert counts["series_missing_forecast"] == ["PL1|C"]
    assert counts["n_actual_rows_without_forecast"] == 3  # C twice, A beyond the horizon
    assert counts["n_forecast_rows_without_actuals"] == 2  # D
    assert counts["n_forecast_series_without_actuals"] == 1
    assert counts["n_step_mismatch"] == 1
    assert any("another step" in w for w in result["warnings"])


def test_a_forecast_of_an_earlier_run_is_flagged(tiny: tuple[Path, Path]) -> None:
    with duckdb.connect(str(tiny[0])) as con:  # a later build stopped at a gate
        con.execute("update int_run__context set run_id = 'run-2'")
    result = evaluate(*tiny, baselines=False)
    assert result["context"]["run_id"] == "run-1"
    assert any("holds run run-1" in w for w in result["warnings"])


def test_season_length_override_changes_the_scale(tiny: tuple[Path, Path]) -> None:
    # lag 1 on A: |diffs| 10, 10, 10, 28, 10, 10, 10 -> 88 / 7
    result = evaluate(*tiny, season_length=1, baselines=False)
    assert _row(result, "forecast", "demand_class", "smooth")["mase"] == pytest.approx(3 * 7 / 88)


def test_actuals_without_a_column_are_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("period_start,product_id,y\n2024-09-01,A,1\n")
    with pytest.raises(ValueError, match="plant_id"):
        evaluate(tiny[0], bad, baselines=False)


def test_demo_actuals_keep_complete_future_periods(tmp_path: Path) -> None:
    path = tmp_path / "truth.parquet"
    duckdb.sql(f"""copy (
        select 'PL1' as plant_id, 'P1' as product_id, d::date as demand_date,
            d >= date '2024-01-03' as is_future, 1.0 as expected_demand,
            case when d >= date '2024-01-03' then 1.0 end as actual_demand
        from range(date '2023-12-01', date '2024-01-29', interval 1 day) as t (d)
    ) to '{path}'""")
    # future: Wed 3 Jan .. Sun 28 Jan; the week of 1 Jan is incomplete, so is January
    weeks = demo_actuals(path, "week", "2024-01-01", horizon=2)
    assert [str(d.date()) for d in weeks["period_start"]] == ["2024-01-08", "2024-01-15"]
    assert weeks["y"].tolist() == [7.0, 7.0]
    assert demo_actuals(path, "month", "2023-12-01", horizon=3).empty
    assert len(demo_actuals(path, "day", "2024-01-26", horizon=5)) == 2


def test_evaluate_the_demo_build(built, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--db", str(built.db), "--actuals", str(built.raw / "truth.parquet")]
    assert cli.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert {r["source"] for r in rows} == {"forecast", "seasonal_naive", "theta", "class_default"}
    assert {r["group"] for r in rows} == {"overall", "demand_class", "method", "step"}
    overall = next(r for r in rows if r["source"] == "forecast" and r["group"] == "overall")
    assert overall["n_series"] > 0 and overall["n_points"] > 0
    assert math.isfinite(overall["mase"]) and overall["mase"] > 0
    for r in rows:
        if r["source"] == "forecast":
            for level in result["context"]["levels"]:
                assert 0 <= r[f"coverage_{level}"] <= 1
    # discontinued series have truth but no forecast: counted, not dropped
    assert result["counts"]["n_series_missing_forecast"] >= 0
    assert result["counts"]["n_actual_series"] >= overall["n_series"]
