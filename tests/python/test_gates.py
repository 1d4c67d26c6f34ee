"""The Great Expectations gates: each rule passes clean data and fails on its own defect."""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import duckdb
import numpy as np
import pandas as pd
import pytest

from demandcast import gates
from demandcast.gates import GateFailed, check_warehouse, gate_in_build, run_gate

SERIES = ["P1|A", "P1|B", "P2|A"]
CANDIDATES = ["naive", "ets"]
HORIZON = 3
ORIGIN = pd.Timestamp("2024-02-05")  # the 6th weekly period from 2024-01-01
WEEK = pd.Timedelta(days=7)


# --- clean frames, shaped like docs/CONTRACTS.md ----------------------------------


def orders() -> pd.DataFrame:
    rows = []
    for s in SERIES:
        plant, product = s.split("|")
        for week in range(6):
            rows.append((plant, product, ORIGIN - (5 - week) * WEEK, 10.0 + week))
    rows.append(("P1", "A", ORIGIN, -2.0))  # a return, smaller than the sales
    frame = pd.DataFrame(rows, columns=["plant_id", "product_id", "order_date", "quantity"])
    frame["order_date"] = frame["order_date"].astype("datetime64[us]")
    frame.insert(0, "order_line_id", np.arange(1, len(frame) + 1))
    frame.insert(1, "source_file", "orders.csv")
    frame.insert(2, "source_row", frame["order_line_id"] + 1)
    frame["is_return"] = frame["quantity"] < 0
    frame["is_duplicate"] = False
    frame["plausible_max"] = 1000 * 12.5  # outlier_ratio x the series' median line
    return frame


def series() -> pd.DataFrame:
    rows = []
    for s in SERIES:
        plant, product = s.split("|")
        for i in range(6):
            rows.append((s, plant, product, ORIGIN - (5 - i) * WEEK, i, 10.0 + i))
    frame = pd.DataFrame(
        rows,
        columns=["series_id", "plant_id", "product_id", "period_start", "period_index", "demand"],
    )
    frame["period_start"] = frame["period_start"].astype("datetime64[us]")
    frame["sales_quantity"] = frame["demand"]
    frame["return_quantity"] = 0.0
    frame["n_lines"] = 1
    frame["is_filled"] = False
    frame["plausible_max"] = 1000 * 12.5
    return frame


def run() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["t"],
            "forecast_origin": [ORIGIN],
            "data_start_period": [ORIGIN - 5 * WEEK],
            "data_end_period": [ORIGIN],
            "run_period": [ORIGIN + 2 * WEEK],
            "stale_periods": [2],
        }
    )


def products() -> pd.DataFrame:
    return pd.DataFrame(
        {"source_file": "products.csv", "source_row": [2, 3], "product_id": ["A", "B"]}
    )


def plants() -> pd.DataFrame:
    return pd.DataFrame(
        {"source_file": "plants.csv", "source_row": [2, 3], "plant_id": ["P1", "P2"]}
    )


def backtest() -> pd.DataFrame:
    rows = [
        (s, m, 2, 1.0, 1.5, -0.2, 12.0, 0.1, 0.9, 0.8, "ok", None)
        for s in SERIES
        for m in CANDIDATES
    ]
    columns = "series_id model_name n_windows mae rmse bias smape wape mase rmsse status"
    return pd.DataFrame(rows, columns=[*columns.split(), "error_message"])


def forecast() -> pd.DataFrame:
    rows = []
    for s in SERIES:
        for step in range(1, HORIZON + 1):
            f = 12.0
            rows.append((s, ORIGIN + step * WEEK, step, f, f - 4, f - 2, f + 2, f + 4))
    frame = pd.DataFrame(
        rows,
        columns=[
            "series_id",
            "period_start",
            "step",
            "forecast",
            "lo_95",
            "lo_80",
            "hi_80",
            "hi_95",
        ],
    )
    frame["period_start"] = frame["period_start"].astype("datetime64[us]")
    frame["model_name"] = "ets"
    frame["method"] = "champion"
    frame["fallback_reason"] = None
    return frame


FRAMES = {
    "orders": orders,
    "products": products,
    "plants": plants,
    "run": run,
    "series": series,
    "backtest": backtest,
    "forecast": forecast,
}
CONTEXTS = {
    "orders": {"run_date": "2024-12-31"},
    "products": {},
    "plants": {},
    "run": {"max_staleness_periods": 13},
    "series": {
        "active_product_ids": ["A", "B"],
        "frequency": "week",
        "forecast_origin": ORIGIN.date(),
    },
    "backtest": {"expected_series_ids": SERIES, "candidates": CANDIDATES},
    "forecast": {
        "horizon": HORIZON,
        "expected_series_ids": SERIES,
        "history_p90": {s: 15.0 for s in SERIES},
    },
}


def failed(results: pd.DataFrame) -> set[tuple[str, str]]:
    bad = results[results["success"].eq(False).fillna(False)]
    return set(zip(bad["expectation"], bad["column_name"], strict=True))


# --- clean data passes ------------------------------------------------------------


@pytest.mark.parametrize("suite", list(FRAMES))
def test_clean_frame_passes_every_expectation(suite):
    results = run_gate(suite, FRAMES[suite](), run_id="t", context=CONTEXTS[suite])
    assert len(results) == gates.load_suite(suite).n_checks
    assert results["success"].all(), results[["expectation", "column_name", "observed_value"]]


# --- each rule fails on its defect ------------------------------------------------


def _set(frame, mask, column, value):
    frame.loc[mask(frame), column] = value
    return frame


def _drop(frame, mask):
    return frame[~mask(frame)].reset_index(drop=True)


def _renumber(frame):
    frame["period_index"] = frame.groupby("series_id").cumcount()
    return frame


def _first(f):
    return f.index == 0


def _future_run(f):
    return f["period_start"].eq(f["period_start"].max()) & f["series_id"].eq("P2|A")


CASES = {
    # orders
    "null product id": (
        "orders",
        lambda f: _set(f, _first, "product_id", None),
        "expect_column_values_to_not_be_null",
        "product_id",
    ),
    "null plant id": (
        "orders",
        lambda f: _set(f, _first, "plant_id", None),
        "expect_column_values_to_not_be_null",
        "plant_id",
    ),
    "unparseable order date": (
        "orders",
        lambda f: _set(f, _first, "order_date", pd.NaT),
        "expect_column_values_to_not_be_null",
        "order_date",
    ),
    "order date in the future": (
        "orders",
        lambda f: _set(f, _first, "order_date", pd.Timestamp("2031-01-01")),
        "expect_column_values_to_be_between",
        "dates.order_date",
    ),
    "order date before the sane minimum": (
        "orders",
        lambda f: _set(f, _first, "order_date", pd.Timestamp("1970-01-01")),
        "expect_column_values_to_be_between",
        "dates.order_date",
    ),
    "NaN quantity": (
        "orders",
        lambda f: _set(f, _first, "quantity", np.nan),
        "expect_column_values_to_not_be_null",
        "quantity",
    ),
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
    "duplicates above threshold": (
        "orders",
        lambda f: _set(f, lambda g: g.index < 2, "is_duplicate", True),
        "expect_column_values_to_be_between",
        "lines.duplicate_share",
    ),
    "returns beyond sales": (
        "orders",
        lambda f: _set(f, lambda g: g["quantity"] < 0, "quantity", -500.0),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "series.sales_quantity, return_quantity",
    ),
    "a line far above its series' median": (
        "orders",
        lambda f: _set(f, _first, "quantity", 1e9),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "plausible_max, quantity",
    ),
    "empty orders": (
        "orders",
        lambda f: f.iloc[:0],
        "expect_table_row_count_to_be_between",
        "",
    ),
    # master data
    "product listed twice": (
        "products",
        lambda f: f.assign(product_id="A"),
        "expect_column_values_to_be_unique",
        "product_id",
    ),
    "product without an id": (
        "products",
        lambda f: _set(f, _first, "product_id", None),
        "expect_column_values_to_not_be_null",
        "product_id",
    ),
    "plant listed twice": (
        "plants",
        lambda f: f.assign(plant_id="P1"),
        "expect_column_values_to_be_unique",
        "plant_id",
    ),
    # the run's origin
    "origin before the data": (
        "run",
        lambda f: f.assign(forecast_origin=ORIGIN - 9 * WEEK),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "forecast_origin, data_start_period",
    ),
    "origin after the data": (
        "run",
        lambda f: f.assign(forecast_origin=ORIGIN + WEEK),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "data_end_period, forecast_origin",
    ),
    "stale extract": (
        "run",
        lambda f: f.assign(stale_periods=40),
        "expect_column_values_to_be_between",
        "stale_periods",
    ),
    # series
    "a period far above its series' median": (
        "series",
        lambda f: _set(f, _first, "demand", 1e9),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "plausible_max, demand",
    ),
    "gap in a series": (
        "series",
        lambda f: _drop(f, lambda g: g["period_index"].eq(2) & g["series_id"].eq("P1|A")),
        "expect_column_values_to_be_between",
        "series.missing_periods",
    ),
    "gap hidden by renumbering": (
        "series",
        lambda f: _renumber(
            _drop(f, lambda g: g["period_index"].eq(2) & g["series_id"].eq("P1|A"))
        ),
        "expect_column_values_to_be_between",
        "series.misplaced_periods",
    ),
    "index not from zero": (
        "series",
        lambda f: f.assign(period_index=f["period_index"] + 1),
        "expect_column_values_to_be_between",
        "series.first_index",
    ),
    "series short of the origin": (
        "series",
        lambda f: _drop(f, _future_run),
        "expect_column_values_to_be_between",
        "series.last_period",
    ),
    "negative demand": (
        "series",
        lambda f: _set(f, _first, "demand", -3.0),
        "expect_column_values_to_be_between",
        "demand",
    ),
    "null demand": (
        "series",
        lambda f: _set(f, _first, "demand", np.nan),
        "expect_column_values_to_not_be_null",
        "demand",
    ),
    "repeated series period": (
        "series",
        lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True),
        "expect_compound_columns_to_be_unique",
        "series_id, period_start",
    ),
    "missing active product": (
        "series",
        lambda f: _drop(f, lambda g: g["product_id"].eq("B")),
        "expect_column_values_to_be_between",
        "products.n_series",
    ),
    # backtest
    "non-finite metric": (
        "backtest",
        lambda f: _set(f, _first, "mase", np.inf),
        "expect_column_values_to_be_between",
        "mase",
    ),
    "missing metric": (
        "backtest",
        lambda f: _set(f, _first, "smape", np.nan),
        "expect_column_values_to_not_be_null",
        "smape",
    ),
    "negative metric": (
        "backtest",
        lambda f: _set(f, _first, "rmse", -1.0),
        "expect_column_values_to_be_between",
        "rmse",
    ),
    "infinite bias": (
        "backtest",
        lambda f: _set(f, _first, "bias", -np.inf),
        "expect_column_values_to_not_be_in_set",
        "bias",
    ),
    "no window scored": (
        "backtest",
        lambda f: _set(f, _first, "n_windows", 0),
        "expect_column_values_to_be_between",
        "n_windows",
    ),
    "unknown status": (
        "backtest",
        lambda f: _set(f, _first, "status", "crashed"),
        "expect_column_values_to_be_in_set",
        "status",
    ),
    "missing candidate row": (
        "backtest",
        lambda f: _drop(f, _first),
        "expect_column_values_to_be_between",
        "series.n_missing_candidates",
    ),
    # forecast
    "inverted intervals": (
        "forecast",
        lambda f: f.assign(lo_80=f["lo_95"], lo_95=f["lo_80"]),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "intervals.upper, lower",
    ),
    "wrong number of steps": (
        "forecast",
        lambda f: _drop(f, lambda g: g["step"].eq(HORIZON) & g["series_id"].eq("P1|B")),
        "expect_column_values_to_be_between",
        "series.n_steps",
    ),
    "step beyond the horizon": (
        "forecast",
        lambda f: _set(f, lambda g: g["step"].eq(HORIZON), "step", HORIZON + 1),
        "expect_column_values_to_be_between",
        "step",
    ),
    "missing series": (
        "forecast",
        lambda f: _drop(f, lambda g: g["series_id"].eq("P2|A")),
        "expect_column_values_to_be_between",
        "series.n_steps",
    ),
    "implausible forecast": (
        "forecast",
        lambda f: _set(f, _first, ["forecast", "hi_80", "hi_95"], [1e6, 2e6, 3e6]),
        "expect_column_pair_values_a_to_be_greater_than_b",
        "series.plausible_max, forecast_max",
    ),
    "negative forecast": (
        "forecast",
        lambda f: _set(f, _first, ["forecast", "lo_80", "lo_95"], [-1.0, -2.0, -3.0]),
        "expect_column_values_to_be_between",
        "forecast",
    ),
    "mixed origins": (
        "forecast",
        lambda f: f.assign(
            period_start=f["period_start"].where(
                f["series_id"].ne("P1|A"), f["period_start"] + WEEK
            )
        ),
        "expect_column_values_to_be_between",
        "run.period_starts_per_step",
    ),
    "mixed runs": (
        "forecast",
        lambda f: f.assign(run_id=np.where(f["series_id"].eq("P1|A"), "r1", "r2")),
        "expect_column_values_to_be_between",
        "run.run_ids",
    ),
}


# Defects that, rightly, break a second rule as well.
ALSO_FAILS = {
    "infinite quantity": {
        ("expect_column_pair_values_a_to_be_greater_than_b", "plausible_max, quantity")
    },
    "index not from zero": {
        ("expect_column_values_to_be_between", "series.missing_periods"),
        ("expect_column_values_to_be_between", "series.misplaced_periods"),
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_fails_on_its_defect(case):
    suite, spoil, expectation, column = CASES[case]
    with pytest.raises(GateFailed) as raised:
        run_gate(suite, spoil(FRAMES[suite]()), run_id="t", context=CONTEXTS[suite])
    assert failed(raised.value.results) == {(expectation, column)} | ALSO_FAILS.get(case, set())
    message = str(raised.value)
    assert f"Gate '{suite}' failed" in message
    assert expectation in message
    assert column.split(".")[-1] in message
    assert "Traceback" not in message


def test_failure_message_shows_offending_rows():
    frame = orders()
    frame.loc[[3, 7], "quantity"] = np.nan
    frame.loc[5, "order_date"] = pd.Timestamp("2031-01-01")
    with pytest.raises(GateFailed) as raised:
        run_gate("orders", frame, run_id="t", context=CONTEXTS["orders"])
    message = str(raised.value)
    assert message.startswith("Gate 'orders' failed: 2 of ")
    assert "quantity values must never be null" in message  # the rule in words
    assert "observed: 2 of 19 rows unexpected" in message
    rows = [line.split() for line in message.splitlines() if "orders.csv" in line]
    assert rows == [
        ["orders.csv", "5", "P1", "A", "2024-01-22", "NaN"],
        ["orders.csv", "9", "P1", "B", "2024-01-08", "NaN"],
    ]
    assert "less than or equal to 2024-12-31" in message
    date_row = next(line for line in message.splitlines() if line.strip().startswith("2031"))
    assert date_row.split() == ["2031-01-01", "1", "6"]  # the date, its lines, the first line


def test_in_build_a_failure_is_recorded_and_returned_as_blocking_rows(tmp_path):
    """Inside dbt the gate does not raise: the post-hook gate_verdict fails the node with
    the report, so dbt prints the report and not a Python traceback."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute(
        "create table int_run__started as select 'r1' as run_id, current_date as run_date,"
        " 0.01 as max_duplicate_share, false as allow_negative_demand,"
        """ '{"orders": "fail"}' as gate_modes"""
    )
    frame = orders()
    frame.loc[0, "product_id"] = None
    results = gate_in_build("orders", frame, con)
    blocking = results[results["blocking"]]
    assert len(blocking) == 1 and blocking["column_name"].iloc[0] == "product_id"
    assert blocking["report"].iloc[0].startswith("Gate 'orders' failed")
    assert con.execute("select count(*) from gate_results where run_id = 'r1'").fetchone()[0] > 0


def test_negative_demand_passes_when_the_var_allows_it():
    frame = series()
    frame.loc[0, "demand"] = -3.0
    context = {**CONTEXTS["series"], "allow_negative_demand": True}
    results = run_gate("series", frame, run_id="t", context=context)
    skipped = results[results["success"].isna()]
    assert list(skipped["column_name"]) == ["demand"]
    assert skipped["observed_value"].iloc[0].startswith("skipped")


def test_duplicate_threshold_comes_from_context():
    frame = orders()
    frame.loc[frame.index < 2, "is_duplicate"] = True  # 2 of 19 lines
    context = {**CONTEXTS["orders"], "max_duplicate_share": 0.2}
    assert run_gate("orders", frame, run_id="t", context=context)["success"].all()


def test_unknown_context_key_is_refused():
    with pytest.raises(ValueError, match="allow_negative_demmand"):
        run_gate("series", series(), context={"allow_negative_demmand": True})


def test_missing_required_parameter_is_named():
    context = {k: v for k, v in CONTEXTS["forecast"].items() if k != "horizon"}
    with pytest.raises(ValueError, match=r"context\['horizon'\]"):
        run_gate("forecast", forecast(), context=context)


def test_missing_column_fails_readably():
    frame = orders().drop(columns=["plant_id"])
    with pytest.raises(GateFailed) as raised:
        run_gate("orders", frame, run_id="t", context=CONTEXTS["orders"])
    assert "plant_id" in str(raised.value)
    assert "does not exist" in str(raised.value)


def test_a_duckdb_relation_is_validated_like_its_frame(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    frame = orders()
    frame.loc[0, "product_id"] = None
    con.register("_frame", frame)
    con.execute("create table stg_erp__orders as select * from _frame")
    relation = con.table("stg_erp__orders")
    with pytest.raises(GateFailed) as raised:
        run_gate("orders", relation, run_id="t", context=CONTEXTS["orders"])
    assert failed(raised.value.results) == {("expect_column_values_to_not_be_null", "product_id")}


# --- recording ----------------------------------------------------------------------


def test_results_are_recorded_even_when_the_gate_fails_and_the_caller_rolls_back(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    con.begin()  # like dbt's transaction around the gate model
    con.execute("create table gate_model_output as select 1 as x")
    frame = orders()
    frame.loc[0, "product_id"] = None
    with pytest.raises(GateFailed):
        run_gate("orders", frame, con=con, run_id="r1", context=CONTEXTS["orders"])
    con.rollback()
    con.close()

    con = duckdb.connect(str(db), read_only=True)
    tables = {
        r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
    }
    assert "gate_model_output" not in tables  # the caller's own work was rolled back
    rows = con.execute(
        "select count(*), count(*) filter (where not success), any_value(mode) "
        "from main.gate_results where run_id = 'r1'"
    ).fetchall()[0]
    assert rows == (gates.load_suite("orders").n_checks, 1, "fail")
    sample = con.execute(
        "select failing_rows_sample from main.gate_results where not success"
    ).fetchall()[0][0]
    assert '"product_id": null' in sample and '"source_row": 2' in sample
    con.close()


def test_warn_mode_records_and_does_not_raise(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    frame = series()
    frame.loc[0, "demand"] = -3.0
    run_gate("series", frame, con=con, run_id="r1", mode="warn", context=CONTEXTS["series"])
    results = run_gate(
        "series", frame, con=con, run_id="r2", mode="warn", context=CONTEXTS["series"]
    )
    assert results["success"].eq(False).sum() == 1
    assert not results["blocking"].any()
    assert results["report"].dropna().str.startswith("Gate 'series' failed").tolist() == [True]
    counts = con.execute(
        "select run_id, count(*) from main.gate_results where mode = 'warn' group by 1 order by 1"
    ).fetchall()
    assert counts == [("r1", len(results)), ("r2", len(results))]


def test_without_raising_the_failed_rows_say_blocking_and_carry_the_report(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    frame = series()
    frame.loc[0, "demand"] = -3.0
    results = run_gate(
        "series", frame, con=con, run_id="r1", context=CONTEXTS["series"], raise_on_failure=False
    )
    blocking = results[results["blocking"]]
    assert list(blocking["column_name"]) == ["demand"]
    assert "demand values must be greater than or equal to 0" in blocking["report"].iloc[0]
    recorded = con.execute("select * from main.gate_results limit 0").df().columns
    assert list(recorded) == gates.RESULT_COLUMNS


# --- the standalone check -------------------------------------------------------------


def _warehouse(path, spoil=None):
    frames = {name: build() for name, build in FRAMES.items()}
    if spoil:
        spoil(frames)
    con = duckdb.connect(str(path))
    frames["products"] = frames["products"].assign(
        product_name="a", product_group="g", launch_date=pd.NaT, discontinued_date=pd.NaT
    )
    frames["run"] = frames["run"].assign(run_id="run-1", frequency="week", horizon=HORIZON)
    tables = {
        gates.load_suite(name).table: frame for name, frame in frames.items() if name[0] != "_"
    }
    tables["int_series__profiled"] = pd.DataFrame(
        {"series_id": SERIES, "is_backtestable": True, "lifecycle": "active"}
    )
    tables["int_run__started"] = pd.DataFrame(
        {
            "run_id": ["run-1"],
            "run_date": [pd.Timestamp("2024-12-31").date()],
            "max_duplicate_share": [0.01],
            "allow_negative_demand": [False],
        }
    )
    for name, frame in tables.items():
        if name in frames.get("_drop", ()):
            continue
        con.register("_frame", frame)
        con.execute(f"create table {name} as select * from _frame")
        con.unregister("_frame")
    con.close()
    return path


def test_check_warehouse_passes_a_good_warehouse_and_writes_data_docs(tmp_path, capsys):
    db = _warehouse(tmp_path / "good.duckdb")
    docs = tmp_path / "docs"
    assert check_warehouse(db, docs) == 0
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines()[: len(FRAMES)]] == [
        [suite, "passed"] for suite in FRAMES
    ]
    assert (docs / "index.html").is_file()
    assert list((docs / "validations").rglob("*.html"))


def test_check_warehouse_fails_a_bad_warehouse(tmp_path, capsys):
    def spoil(frames):
        # after the build's run date (int_run__started), though before today
        frames["orders"].loc[0, "order_date"] = pd.Timestamp("2025-06-01")
        frames["series"].loc[0, "demand"] = -3.0
        frames["_drop"] = ("int_forecast__predictions",)

    db = _warehouse(tmp_path / "bad.duckdb", spoil)
    assert check_warehouse(db, tmp_path / "docs") == 1
    out = capsys.readouterr().out
    assert "orders    1 of" in out and "(dates.order_date)" in out
    assert "series    1 of" in out and "expect_column_values_to_be_between(demand)" in out
    assert "forecast  missing: no table main.int_forecast__predictions" in out
    assert "Traceback" not in out
    assert (tmp_path / "docs" / "index.html").is_file()


def test_check_warehouse_takes_the_dbt_vars_as_params(tmp_path, capsys):
    def spoil(frames):
        frames["series"].loc[0, "demand"] = -3.0

    db = _warehouse(tmp_path / "w.duckdb", spoil)
    params = {"allow_negative_demand": True}
    assert check_warehouse(db, tmp_path / "docs", run_date="2024-12-31", params=params) == 0
    with pytest.raises(ValueError, match="allow_negative_demmand"):
        check_warehouse(db, tmp_path / "docs", params={"allow_negative_demmand": True})


def test_check_warehouse_without_a_file_says_so(tmp_path, capsys):
    assert check_warehouse(tmp_path / "nope.duckdb", tmp_path / "docs") == 1
    assert "no warehouse file" in capsys.readouterr().out


def test_a_cold_start_is_not_judged_against_its_own_short_history():
    frame = forecast()
    first = frame["series_id"] == SERIES[0]
    frame.loc[first, ["forecast", "lo_95", "lo_80", "hi_80", "hi_95"]] = [500, 400, 450, 550, 600]
    context = CONTEXTS["forecast"]
    with pytest.raises(GateFailed, match="plausible_max"):
        run_gate("forecast", frame, run_id="t", context=context)
    frame.loc[first, "method"] = "cold_start"
    results = run_gate("forecast", frame, run_id="t", context=context)
    assert results["success"].dropna().all()
