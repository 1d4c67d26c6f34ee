"""The Great Expectations checkpoints in gx/: each passes clean data and fails on its defect.

The frames here have the shape of the tables the checkpoints validate (the stage tables and
the check models); the SQL of the check models is tested by dbt's unit tests
(models/checks/_checks__unit_tests.yml) and by the builds of test_gates_in_build.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from demandcast import gates

SERIES = ["P1|A", "P1|B", "P2|A"]
HORIZON = 3
ORIGIN = pd.Timestamp("2024-02-05")
WEEK = pd.Timedelta(days=7)
PARAMETERS = {
    "run_date": pd.Timestamp("2024-12-31"),
    "min_order_date": pd.Timestamp("2000-01-01"),
    "max_duplicate_share": 0.01,
    "max_staleness_periods": 13.0,
    "min_demand": 0,
    "min_period_lines": 1,
    "max_silent_periods": 1,
    "forecast_origin": ORIGIN,
    "horizon": HORIZON,
}


def orders() -> pd.DataFrame:
    rows = []
    for s in SERIES:
        plant, product = s.split("|")
        for week in range(6):
            rows.append((plant, product, ORIGIN - (5 - week) * WEEK, 10.0 + week))
    frame = pd.DataFrame(rows, columns=["plant_id", "product_id", "order_date", "quantity"])
    frame["order_date"] = frame["order_date"].astype("datetime64[us]")
    frame.insert(0, "order_line_id", np.arange(1, len(frame) + 1))
    frame.insert(1, "source_file", "orders.csv")
    frame.insert(2, "source_row", frame["order_line_id"] + 1)
    frame["is_duplicate"] = False
    frame["plausible_max"] = 1000 * 12.5
    return frame


def series() -> pd.DataFrame:
    rows = [
        (s, *s.split("|"), ORIGIN - (5 - i) * WEEK, i, 10.0 + i) for s in SERIES for i in range(6)
    ]
    columns = ["series_id", "plant_id", "product_id", "period_start", "period_index", "demand"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["period_start"] = frame["period_start"].astype("datetime64[us]")
    frame["plausible_max"] = 1000 * 12.5
    return frame


def forecast() -> pd.DataFrame:
    rows = [
        (s, ORIGIN + step * WEEK, step, 12.0, 8.0, 10.0, 14.0, 16.0)
        for s in SERIES
        for step in range(1, HORIZON + 1)
    ]
    columns = ["series_id", "period_start", "step", "forecast", "lo_95", "lo_80", "hi_80", "hi_95"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["period_start"] = frame["period_start"].astype("datetime64[us]")
    frame["model_name"] = "ets"
    frame["method"] = "champion"
    return frame


def backtest() -> pd.DataFrame:
    columns = "series_id model_name n_windows mae rmse bias smape wape mase rmsse status".split()
    rows = [(s, m, 2, 1.0, 1.5, -0.2, 12.0, 0.1, 0.9, 0.8, "ok") for s in SERIES for m in "ab"]
    return pd.DataFrame(rows, columns=columns)


def _frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


FRAMES = {
    "orders": orders,
    "orders__lines": lambda: _frame(
        n_lines=[19],
        n_duplicates=[0],
        duplicate_share=[0.0],
        duplicate_file=pd.Series([None], dtype=object),
        duplicate_file_duplicates=pd.Series([None], dtype="Int64"),
        duplicate_file_lines=pd.Series([None], dtype="Int64"),
    ),
    "orders__dates": lambda: _frame(
        order_date=pd.to_datetime(["2024-01-01", "2024-02-05"]),
        n_lines=[3, 4],
        first_order_line_id=[1, 6],
        first_source_file=["orders.csv", "orders.csv"],
        first_source_row=[1, 6],
    ),
    "orders__periods": lambda: _frame(
        period_start=pd.Series([ORIGIN - 2 * WEEK, ORIGIN - WEEK, ORIGIN], dtype="datetime64[us]"),
        n_lines=[6, 0, 7],
        median_lines=6.0,
        year_share=[None, 0.1, None],  # the empty week: low a year before too (a shutdown)
        lines_unexplained=[6, None, 7],
    ),
    "orders__plants": lambda: _frame(
        plant_id=["P1", "P2", "P3"],
        last_period=pd.Series([ORIGIN, ORIGIN - WEEK, ORIGIN - 3 * WEEK], dtype="datetime64[us]"),
        extract_last_period=pd.Series([ORIGIN] * 3, dtype="datetime64[us]"),
        silent_periods=[0, 1, 3],
        periods_in_year=[52, 51, 30],
        periods_year_before=[0, 1, 3],
        silent_unexplained=[0, 1, None],  # P3 ships in 30 weeks of 52: not a steady plant
    ),
    "orders__series": lambda: _frame(
        plant_id=["P1", "P2"],
        product_id=["A", "A"],
        sales_quantity=[60.0, 9.0],
        return_quantity=[2.0, 0.0],
    ),
    "products": lambda: _frame(source_file="p.csv", source_row=[2, 3], product_id=["A", "B"]),
    "plants": lambda: _frame(source_file="p.csv", source_row=[2, 3], plant_id=["P1", "P2"]),
    "run": lambda: _frame(
        run_id=["t"],
        forecast_origin=[ORIGIN],
        data_start_period=[ORIGIN - 5 * WEEK],
        data_end_period=[ORIGIN],
        run_period=[ORIGIN + 2 * WEEK],
        stale_periods=[2],
        frequency=["week"],
        n_order_dates=[30],
        data_cadence=["day"],
    ),
    "series": series,
    "series__demand": lambda: _frame(  # clean: no period below zero
        series_id=pd.Series([], dtype=str),
        period_start=pd.Series([], dtype="datetime64[us]"),
        demand=pd.Series([], dtype=float),
        largest_return=pd.Series([], dtype=float),
        return_source_file=pd.Series([], dtype=str),
        return_source_row=pd.Series([], dtype="Int64"),
    ),
    "series__series": lambda: _frame(
        series_id=SERIES,
        first_index=0,
        missing_periods=0,
        misplaced_periods=0,
        last_period=[ORIGIN] * 3,
    ),
    "series__products": lambda: _frame(product_id=["A", "B"], n_series=[2, 1]),
    "backtest": backtest,
    "backtest__series": lambda: _frame(
        series_id=SERIES, n_missing_candidates=0, missing_candidates=None
    ),
    "forecast": forecast,
    "forecast__launches": lambda: forecast().assign(model_name="LaunchCurve", method="launch"),
    "forecast__series": lambda: _frame(
        series_id=SERIES,
        n_steps=HORIZON,
        forecast_max=12.0,
        history_p90=15.0,
        plausible_max=[151.0, 151.0, None],
    ),
    "forecast__intervals": lambda: _frame(
        series_id="P1|A",
        step=[1, 1],
        bounds=["lo_80 <= forecast", "forecast <= hi_80"],
        lower=[10.0, 12.0],
        upper=[12.0, 14.0],
    ),
    "forecast__run": lambda: _frame(n_rows=[9], period_starts_per_step=[1]),
}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    work = tmp_path_factory.mktemp("gx")
    return gates.context(work / "results", work / "docs")


def check(ctx, name, frame, **parameters):
    """The checkpoint's validation (its results and report; no Data Docs, which the tests of
    `data_docs` and of `demandcast check` below render)."""
    return gates.validate(ctx, name, frame, {**PARAMETERS, **parameters}, run_id="t")[:2]


def failed(results: pd.DataFrame) -> set[tuple[str, str]]:
    bad = results[results["success"].eq(False).fillna(False)]
    return set(zip(bad["expectation"], bad["column_name"], strict=True))


def test_every_checkpoint_has_a_clean_frame_here(ctx):
    assert sorted(gates.checkpoints_by_table(ctx).values()) == sorted(FRAMES)


@pytest.mark.parametrize("name", list(FRAMES))
def test_clean_frame_passes_every_expectation(ctx, name):
    results, report = check(ctx, name, FRAMES[name]())
    assert report is None, report
    assert len(results) == len(ctx.suites.get(name).expectations)
    assert results["success"].all()


def _set(frame, mask, column, value):
    frame.loc[mask(frame), column] = value
    return frame


def _first(f):
    return f.index == 0


def _drop_first(f):
    return f.iloc[1:].reset_index(drop=True)


NEGATIVE = pd.DataFrame(
    {
        "series_id": ["P1|A"],
        "period_start": pd.Series([ORIGIN - WEEK], dtype="datetime64[us]"),
        "demand": [-3.0],
        "largest_return": [-20.0],
        "return_source_file": ["orders.csv"],
        "return_source_row": [812],
    }
)
BETWEEN = "expect_column_values_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"

CASES = {
    "null product id": (
        "orders",
        lambda f: _set(f, _first, "product_id", None),
        NOT_NULL,
        "product_id",
    ),
    "null plant id": ("orders", lambda f: _set(f, _first, "plant_id", None), NOT_NULL, "plant_id"),
    "unparseable order date": (
        "orders",
        lambda f: _set(f, _first, "order_date", pd.NaT),
        NOT_NULL,
        "order_date",
    ),
    "NaN quantity": ("orders", lambda f: _set(f, _first, "quantity", np.nan), NOT_NULL, "quantity"),
    "infinite quantity": (
        "orders",
        lambda f: _set(f, _first, "quantity", np.inf),
        "expect_column_values_to_not_be_in_set",
        "quantity",
    ),
    "repeated order line id": (
        "orders",
        lambda f: _set(f, lambda g: g.index == 1, "order_line_id", 1),
        "expect_column_values_to_be_unique",
        "order_line_id",
    ),
    "a line far above its series' median": (
        "orders",
        lambda f: _set(f, _first, "quantity", 1e9),
        PAIR,
        "plausible_max, quantity",
    ),
    "empty orders": ("orders", lambda f: f.iloc[:0], "expect_table_row_count_to_be_between", ""),
    "duplicates above threshold": (
        "orders__lines",
        lambda f: f.assign(duplicate_share=0.1),
        BETWEEN,
        "duplicate_share",
    ),
    "order date in the future": (
        "orders__dates",
        lambda f: _set(f, _first, "order_date", pd.Timestamp("2031-01-01")),
        BETWEEN,
        "order_date",
    ),
    "order date before the sane minimum": (
        "orders__dates",
        lambda f: _set(f, _first, "order_date", pd.Timestamp("1970-01-01")),
        BETWEEN,
        "order_date",
    ),
    "returns beyond sales": (
        "orders__series",
        lambda f: f.assign(return_quantity=500.0),
        PAIR,
        "sales_quantity, return_quantity",
    ),
    "product listed twice": (
        "products",
        lambda f: f.assign(product_id="A"),
        "expect_column_values_to_be_unique",
        "product_id",
    ),
    "product without an id": (
        "products",
        lambda f: _set(f, _first, "product_id", None),
        NOT_NULL,
        "product_id",
    ),
    "plant listed twice": (
        "plants",
        lambda f: f.assign(plant_id="P1"),
        "expect_column_values_to_be_unique",
        "plant_id",
    ),
    "origin before the data": (
        "run",
        lambda f: f.assign(forecast_origin=ORIGIN - 9 * WEEK),
        PAIR,
        "forecast_origin, data_start_period",
    ),
    "origin after the data": (
        "run",
        lambda f: f.assign(forecast_origin=ORIGIN + WEEK),
        PAIR,
        "data_end_period, forecast_origin",
    ),
    "a period without an order line": (
        "orders__periods",
        lambda f: f.assign(year_share=[None, 0.9, None], lines_unexplained=[6, 0, 7]),
        BETWEEN,
        "lines_unexplained",
    ),
    "a steady plant silent at the extract's end": (
        "orders__plants",
        lambda f: f.assign(silent_unexplained=[0, 1, 3]),
        BETWEEN,
        "silent_unexplained",
    ),
    "stale extract": ("run", lambda f: f.assign(stale_periods=40), BETWEEN, "stale_periods"),
    "monthly data forecast weekly": (
        "run",
        lambda f: f.assign(data_cadence="month"),
        "expect_column_pair_values_to_be_in_set",
        "frequency, data_cadence",
    ),
    "weekly data forecast daily": (
        "run",
        lambda f: f.assign(frequency="day", data_cadence="week"),
        "expect_column_pair_values_to_be_in_set",
        "frequency, data_cadence",
    ),
    "a period far above its series' median": (
        "series",
        lambda f: _set(f, _first, "demand", 1e9),
        PAIR,
        "plausible_max, demand",
    ),
    "negative demand": ("series__demand", lambda f: NEGATIVE, BETWEEN, "demand"),
    "null demand": ("series", lambda f: _set(f, _first, "demand", np.nan), NOT_NULL, "demand"),
    "repeated series period": (
        "series",
        lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
        "expect_compound_columns_to_be_unique",
        "series_id, period_start",
    ),
    "gap in a series": (
        "series__series",
        lambda f: _set(f, _first, "missing_periods", 1),
        BETWEEN,
        "missing_periods",
    ),
    "gap hidden by renumbering": (
        "series__series",
        lambda f: _set(f, _first, "misplaced_periods", 2),
        BETWEEN,
        "misplaced_periods",
    ),
    "index not from zero": (
        "series__series",
        lambda f: _set(f, _first, "first_index", 1),
        BETWEEN,
        "first_index",
    ),
    "series short of the origin": (
        "series__series",
        lambda f: _set(f, _first, "last_period", ORIGIN - WEEK),
        BETWEEN,
        "last_period",
    ),
    "missing active product": (
        "series__products",
        lambda f: _set(f, _first, "n_series", 0),
        BETWEEN,
        "n_series",
    ),
    "non-finite metric": ("backtest", lambda f: _set(f, _first, "mase", np.inf), BETWEEN, "mase"),
    "missing metric": ("backtest", lambda f: _set(f, _first, "smape", np.nan), NOT_NULL, "smape"),
    "negative metric": ("backtest", lambda f: _set(f, _first, "rmse", -1.0), BETWEEN, "rmse"),
    "infinite bias": (
        "backtest",
        lambda f: _set(f, _first, "bias", -np.inf),
        "expect_column_values_to_not_be_in_set",
        "bias",
    ),
    "no window scored": (
        "backtest",
        lambda f: _set(f, _first, "n_windows", 0),
        BETWEEN,
        "n_windows",
    ),
    "unknown status": (
        "backtest",
        lambda f: _set(f, _first, "status", "crashed"),
        "expect_column_values_to_be_in_set",
        "status",
    ),
    "repeated candidate row": (
        "backtest",
        lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
        "expect_compound_columns_to_be_unique",
        "series_id, model_name",
    ),
    "missing candidate row": (
        "backtest__series",
        lambda f: _set(f, _first, "n_missing_candidates", 1),
        BETWEEN,
        "n_missing_candidates",
    ),
    "step beyond the horizon": (
        "forecast",
        lambda f: _set(f, lambda g: g["step"].eq(HORIZON), "step", HORIZON + 1),
        BETWEEN,
        "step",
    ),
    "negative forecast": (
        "forecast",
        lambda f: _set(f, _first, "forecast", -1.0),
        BETWEEN,
        "forecast",
    ),
    "unknown method": (
        "forecast",
        lambda f: _set(f, _first, "method", "guess"),
        "expect_column_values_to_be_in_set",
        "method",
    ),
    "a launch forecast of another method": (
        "forecast__launches",
        lambda f: _set(f, _first, "method", "champion"),
        "expect_column_values_to_be_in_set",
        "method",
    ),
    "negative launch forecast": (
        "forecast__launches",
        lambda f: _set(f, _first, "forecast", -1.0),
        BETWEEN,
        "forecast",
    ),
    "wrong number of steps": (
        "forecast__series",
        lambda f: _set(f, _first, "n_steps", 2),
        BETWEEN,
        "n_steps",
    ),
    "implausible forecast": (
        "forecast__series",
        lambda f: _set(f, _first, "forecast_max", 1e6),
        PAIR,
        "plausible_max, forecast_max",
    ),
    "crossed intervals": (
        "forecast__intervals",
        lambda f: _set(f, _first, "lower", 13.0),
        PAIR,
        "upper, lower",
    ),
    "mixed origins": (
        "forecast__run",
        lambda f: f.assign(period_starts_per_step=2),
        BETWEEN,
        "period_starts_per_step",
    ),
}
ALSO_FAILS = {  # defects that, rightly, break a second rule as well
    "infinite quantity": {(PAIR, "plausible_max, quantity")},
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_fails_on_its_defect(ctx, case):
    name, spoil, expectation, column = CASES[case]
    results, report = check(ctx, name, spoil(FRAMES[name]()))
    assert failed(results) == {(expectation, column)} | ALSO_FAILS.get(case, set())
    assert report.startswith(f"Gate '{name}' failed")
    assert expectation in report and column.split(", ")[-1] in report


def test_a_report_names_rule_why_and_offending_rows(ctx):
    frame = orders()
    frame.loc[[3, 7], "quantity"] = np.nan
    results, report = check(ctx, "orders", frame)
    assert report.startswith("Gate 'orders' failed: 1 of 9 expectations on int_orders__screened")
    assert "rule: quantity values must never be null" in report
    assert "why: The quantity did not parse as a number." in report
    assert "observed: 2 of 18 rows unexpected" in report
    rows = [line.split() for line in report.splitlines() if "orders.csv" in line]
    assert rows == [
        ["orders.csv", "5", "P1", "A", "2024-01-22", "null"],
        ["orders.csv", "9", "P1", "B", "2024-01-08", "null"],
    ]
    sample = json.loads(results.loc[~results["success"], "failing_rows_sample"].iloc[0])
    assert [r["source_row"] for r in sample] == [5, 9]


def test_a_relation_is_read_for_the_columns_the_suite_names_only(ctx):
    """A gate over a DuckDB table reads only the columns its expectations and failing-row
    samples name (the orders gate over millions of lines: its memory), with the same result
    and report as over the whole frame."""
    frame = orders()
    frame.loc[[3, 7], "quantity"] = np.nan
    frame["comment"] = "x" * 1000  # a wide column no expectation names
    con = duckdb.connect()
    relation = con.from_df(frame)
    whole, whole_report = check(ctx, "orders", frame)
    read, read_report = check(ctx, "orders", relation)
    pd.testing.assert_frame_equal(
        whole.drop(columns="validated_at"), read.drop(columns="validated_at")
    )
    seconds = re.compile(r"; [0-9.]+ s\)")  # the report says how long it took
    assert seconds.sub("", read_report) == seconds.sub("", whole_report)
    columns = gates.read_columns("int_orders__screened")
    assert "quantity" in columns and "plausible_max" in columns and "comment" not in columns
    assert list(gates._as_frame(relation, columns).columns) == [
        c for c in frame.columns if c in columns
    ]


def test_a_rule_gx_has_no_sentence_for_is_told_by_its_why(ctx):
    _, report = check(ctx, "run", FRAMES["run"]().assign(data_cadence="month"))
    assert "why: The orders are dated once a month" in report
    assert "rule:" not in report  # not GX's call spelled out
    assert "e.g. [week, month]" in report


def test_a_file_loaded_twice_is_named_with_its_duplicates(ctx):
    lines = FRAMES["orders__lines"]().assign(
        n_lines=40,
        n_duplicates=20,
        duplicate_share=0.5,
        duplicate_file="orders/2026-11 (1).parquet",
        duplicate_file_duplicates=20,
        duplicate_file_lines=20,
    )
    _, report = check(ctx, "orders__lines", lines)
    row = report.splitlines()[-1].split()  # the keys, then the share
    assert row == ["40", "orders/2026-11", "(1).parquet", "20", "20", "0.5"], row
    assert "it is a copy; remove it" in report


def test_a_negative_period_names_its_largest_return_line(ctx):
    _, report = check(ctx, "series__demand", NEGATIVE)
    row = next(line.split() for line in report.splitlines() if line.strip().startswith("P1|A"))
    assert row == ["P1|A", str((ORIGIN - WEEK).date()), "-20", "orders.csv", "812", "-3"]
    assert "set var allow_negative_demand" in report


def test_pair_failures_show_both_values_by_key(ctx):
    frame = FRAMES["forecast__series"]()
    frame.loc[1, "forecast_max"] = 1e6
    _, report = check(ctx, "forecast__series", frame)
    row = next(line.split() for line in report.splitlines() if line.strip().startswith("P1|B"))
    assert row == ["P1|B", "151", "1e+06"]  # key, then plausible_max and forecast_max


def test_thresholds_are_suite_parameters(ctx):
    lines = FRAMES["orders__lines"]().assign(duplicate_share=0.1)
    assert check(ctx, "orders__lines", lines, max_duplicate_share=0.2)[1] is None
    assert check(ctx, "series__demand", NEGATIVE, min_demand=-np.inf)[1] is None
    gap = FRAMES["orders__periods"]().assign(lines_unexplained=[6, 0, 7])
    assert check(ctx, "orders__periods", gap, min_period_lines=0)[1] is None  # var allows
    silent = FRAMES["orders__plants"]().assign(silent_unexplained=[0, 1, 3])
    assert check(ctx, "orders__plants", silent, max_silent_periods=np.inf)[1] is None
    stale = FRAMES["run"]().assign(stale_periods=400)
    assert check(ctx, "run", stale, max_staleness_periods=np.inf)[1] is None  # var null
    old = _set(FRAMES["orders__dates"](), _first, "order_date", pd.Timestamp("1995-03-06"))
    assert "order_date" in check(ctx, "orders__dates", old)[1]  # before 2000-01-01
    assert check(ctx, "orders__dates", old, min_order_date=pd.Timestamp("1990-01-01"))[1] is None


def test_the_earliest_order_date_is_the_runs_var(tmp_path):
    """var min_order_date (int_run__started) sets the dates gate's lower bound; a warehouse
    of a run before the var existed gets its default, 2000-01-01."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _started(con)
    con.execute("create table int_run__context as select date '2024-02-05' as forecast_origin")
    assert gates.suite_parameters(con)["min_order_date"] == pd.Timestamp("2000-01-01")
    con.execute("alter table int_run__started add column min_order_date date")
    con.execute("update int_run__started set min_order_date = date '1976-01-05'")
    assert gates.suite_parameters(con)["min_order_date"] == pd.Timestamp("1976-01-05")


def test_a_missing_parameter_is_named(ctx):
    with pytest.raises(ValueError, match=r"\['horizon'\]"):
        check(ctx, "forecast", forecast(), horizon=None)


def test_a_missing_column_fails_readably(ctx):
    results, report = check(ctx, "orders", orders().drop(columns=["plant_id"]))
    assert ("expect_column_values_to_not_be_null", "plant_id") in failed(results)
    assert "plant_id" in report and "error:" in report


def _started(con, modes='{"orders": "fail"}', docs=True):
    con.execute(
        "create table int_run__started as select 'r1' as run_id, date '2024-12-31' as run_date,"
        " 0.01 as max_duplicate_share, false as allow_negative_demand,"
        f" 13 as max_staleness_periods, '{modes}' as gate_modes, {docs} as data_docs,"
        " null::varchar as data_docs_path"
    )


def test_in_build_failures_are_recorded_and_come_back_blocking(tmp_path):
    """Inside dbt the gate does not raise: the post-hook gate_verdict fails the node with the
    report (dbt would print a traceback before a Python exception). gate_results keeps the
    rows even when dbt rolls the model back."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _started(con)
    frame = orders()
    frame.loc[0, "product_id"] = None
    con.begin()
    out = gates.gate_in_build(
        {"int_orders__screened": frame, "stg_erp__plants": FRAMES["plants"]()}, con
    )
    con.rollback()
    blocking = out[out["blocking"]]
    assert list(blocking["column_name"]) == ["product_id"]
    assert blocking["report"].iloc[0].startswith("Gate 'orders' failed")
    assert str(tmp_path / "wh_data_docs" / "index.html") in blocking["report"].iloc[0]
    rows = con.execute(
        "select suite, count(*), count(*) filter (where not success) from gate_results "
        "where run_id = 'r1' group by 1 order by 1"
    ).fetchall()
    assert rows == [("orders", 9, 1), ("plants", 2, 0)]
    assert list(con.execute("select * from gate_results limit 0").df()) == gates.RESULT_COLUMNS
    # Great Expectations' own store and Data Docs, beside the warehouse
    assert list((tmp_path / "wh_gx_results" / "orders").rglob("*.json"))
    assert (tmp_path / "wh_data_docs" / "index.html").is_file()


def test_a_second_build_in_the_process_writes_its_data_docs(tmp_path, monkeypatch):
    """A process that runs several builds (`demandcast build --past-origins`: cli.run_dbt)
    restores its environment after each; the context made by the first build's gate is
    reused, and the second build's Data Docs are still written where its vars say."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _started(con)
    gates.gate_in_build({"stg_erp__plants": FRAMES["plants"]()}, con)
    for name in ("DEMANDCAST_GX_RESULTS", "DEMANDCAST_DATA_DOCS"):
        monkeypatch.delenv(name)  # as run_dbt restores the environment after a build
    index = tmp_path / "wh_data_docs" / "index.html"
    index.unlink()
    con.execute("update int_run__started set run_id = 'r2'")
    plants = FRAMES["plants"]()
    plants.loc[0, "plant_name"] = None  # new rows: validated, not copied from r1
    plants["plant_id"] += "x"
    gates.gate_in_build({"stg_erp__plants": plants}, con)
    assert index.is_file()


def test_an_input_a_published_run_validated_is_not_validated_again(tmp_path):
    """The same rows (of the columns the suite reads), parameters and modes as a published
    run's: its results are copied under the new run (validated_run_id names the run that
    validated); other rows, or a run that was not published, are validated anew."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _started(con, docs=False)
    con.execute(
        "create table demandcast_runs (run_id varchar, started_at timestamp, status varchar)"
    )
    con.execute("insert into demandcast_runs values ('r1', now(), 'started')")
    plants = FRAMES["plants"]()

    def gate(run_id):
        con.execute("update int_run__started set run_id = ?", [run_id])
        gates.gate_in_build({"stg_erp__plants": plants}, con)
        return con.execute(
            "select count(*), count(distinct input_fingerprint), any_value(validated_run_id)"
            " from gate_results where run_id = ?",
            [run_id],
        ).fetchall()[0]

    assert gate("r1") == (2, 1, "r1")
    assert gate("r2") == (2, 1, "r2")  # r1 is not published (yet): validated again
    con.execute("update demandcast_runs set status = 'published' where run_id = 'r1'")
    assert gate("r3") == (2, 1, "r1")
    (same,) = con.execute(
        "select count(distinct input_fingerprint) from gate_results where run_id in ('r1', 'r3')"
    ).fetchall()[0]
    assert same == 1
    plants.loc[0, "plant_name"] = "renamed"  # a column the suite does not read
    assert gate("r4") == (2, 1, "r1")
    plants["source_row"] += 100  # the failing-row key only (the run gate's holds run_id)
    assert gate("r4b") == (2, 1, "r1")
    plants.loc[0, "plant_id"] = "ZZ"
    assert gate("r5") == (2, 1, "r5")
    assert len(list((tmp_path / "wh_gx_results").rglob("*.json"))) == 3  # r1, r2, r5
    # a run with a failing row (its sample names that run's keys) is never copied
    plants.loc[1, "plant_id"] = "ZZ"
    assert gate("r6") == (2, 1, "r6")
    con.execute("insert into demandcast_runs values ('r6', now(), 'published')")
    assert gate("r7") == (2, 1, "r7")
    # a build of a selection without int_run__started validates again under the same run
    # id: r8 holds its results once, the latest, and a copy of them has each expectation once
    plants.loc[1, "plant_id"] = "YY"
    assert gate("r8") == (2, 1, "r8")
    con.execute("insert into demandcast_runs values ('r8', now(), 'published')")
    assert gate("r8") == (2, 1, "r8")
    assert gate("r9") == (2, 1, "r8")


def test_without_data_docs_the_results_are_still_stored_and_recorded(tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _started(con, docs=False)
    frame = orders()
    frame.loc[0, "product_id"] = None
    out = gates.gate_in_build({"int_orders__screened": frame}, con)
    assert list(out.loc[out["blocking"], "column_name"]) == ["product_id"]
    assert out["report"].dropna().iloc[0].endswith("Data Docs: off (var data_docs)")
    assert con.execute("select count(*) from gate_results").fetchall() == [(9,)]
    assert list((tmp_path / "wh_gx_results" / "orders").rglob("*.json"))
    assert not (tmp_path / "wh_data_docs").exists()


def test_warn_mode_records_and_does_not_block(tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _started(con, modes='{"orders": "warn"}')
    lines = FRAMES["orders__lines"]().assign(duplicate_share=0.5)
    out = gates.gate_in_build({"chk_orders__lines": lines}, con)
    assert out["success"].eq(False).sum() == 1 and not out["blocking"].any()
    assert out["mode"].eq("warn").all()


def test_old_results_are_pruned(tmp_path):
    for i in range(5):
        run = tmp_path / "orders" / f"run{i}"
        run.mkdir(parents=True)
        os.utime(run, (i, i))
    gates.prune(tmp_path, keep=2)
    assert sorted(p.name for p in (tmp_path / "orders").iterdir()) == ["run3", "run4"]


# --- the standalone check on a built warehouse -----------------------------------------


TABLES = {
    "int_orders__screened": "orders",
    "chk_orders__lines": "orders__lines",
    "chk_orders__dates": "orders__dates",
    "chk_orders__periods": "orders__periods",
    "chk_orders__plants": "orders__plants",
    "chk_orders__series": "orders__series",
    "stg_erp__products": "products",
    "stg_erp__plants": "plants",
    "int_run__context": "run",
    "int_series__filled": "series",
    "chk_series__demand": "series__demand",
    "chk_series__series": "series__series",
    "chk_series__products": "series__products",
    "int_forecast__backtest": "backtest",
    "chk_backtest__series": "backtest__series",
    "int_forecast__predictions": "forecast",
    "int_forecast__launches": "forecast__launches",
    "chk_forecast__series": "forecast__series",
    "chk_forecast__intervals": "forecast__intervals",
    "chk_forecast__run": "forecast__run",
}


def _warehouse(path, spoil=None, drop=()):
    frames = {table: FRAMES[name]() for table, name in TABLES.items()}
    frames["int_run__context"] = frames["int_run__context"].assign(horizon=HORIZON)
    if spoil:
        spoil(frames)
    con = duckdb.connect(str(path))
    _started(con)
    for table, frame in frames.items():
        if table not in drop:
            con.register("_frame", frame)
            con.execute(f"create table {table} as select * from _frame")
            con.unregister("_frame")
    con.close()
    return path


def test_check_passes_a_good_warehouse_and_writes_offline_data_docs(tmp_path, capsys):
    db = _warehouse(tmp_path / "good.duckdb")
    assert gates.check_warehouse(db, tmp_path / "docs") == 0
    out = capsys.readouterr().out
    lines = [line.split()[:2] for line in out.splitlines()[: len(TABLES)]]
    assert sorted(lines) == sorted([name, "passed"] for name in TABLES.values())
    index = (tmp_path / "docs" / "index.html").read_text()
    assert "static/vendor/js/jquery.min.js" in index and "code.jquery.com" not in index
    assert len(list((tmp_path / "docs" / "validations").rglob("*.html"))) == len(TABLES)


def test_check_fails_a_bad_warehouse_naming_each_failure(tmp_path, capsys):
    def spoil(frames):
        frames["chk_orders__dates"].loc[0, "order_date"] = pd.Timestamp("2025-06-01")
        frames["chk_series__demand"] = NEGATIVE

    db = _warehouse(tmp_path / "bad.duckdb", spoil, drop=("int_forecast__predictions",))
    assert gates.check_warehouse(db, tmp_path / "docs") == 1
    out = capsys.readouterr().out
    assert (
        "orders__dates        1 of 1 failed: expect_column_values_to_be_between(order_date)" in out
    )
    assert "series__demand       1 of 1 failed" in out, out
    assert "forecast             missing: no table main.int_forecast__predictions" in out
    assert "Traceback" not in out


def test_check_without_a_file_says_so(tmp_path, capsys):
    assert gates.check_warehouse(tmp_path / "nope.duckdb", tmp_path / "docs") == 1
    assert "no warehouse file" in capsys.readouterr().out


def test_the_committed_gx_project_is_what_build_gx_writes(tmp_path):
    """scripts/build_gx.py is idempotent: run on a copy of gx/, it changes nothing."""
    import shutil

    shutil.copytree(ROOT / "gx", tmp_path / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    env = {**os.environ, "DEMANDCAST_GX_RESULTS": str(tmp_path / "r")}
    env["DEMANDCAST_DATA_DOCS"] = str(tmp_path / "d")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_gx.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for path in (ROOT / "gx").rglob("*"):
        if path.is_file() and "uncommitted" not in path.parts:
            copy = tmp_path / path.relative_to(ROOT)
            assert copy.read_text() == path.read_text(), f"{path} differs from build_gx.py"
