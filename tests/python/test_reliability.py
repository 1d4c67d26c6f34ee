"""What each kind of bad input gets, on a real `dbt build` over a copy of a good warehouse:
the exit code, a message naming what is wrong, and a published copy (what BI tools read)
whose every table is unchanged. The README's "What bad input gets" lists the same cases."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import duckdb
import pandas as pd
import pytest
from conftest import FAST_VARS, ROOT, demandcast, raw_with_orders

FIRST_LINE = "(select min(order_id) from orders)"
# a series that sells every week: the one with the most order lines
BUSY = (
    "(select product_id from orders where plant_id = (select min(plant_id) from orders)"
    " group by 1 order by count(*) desc, 1 limit 1)"
)


def _one_line(sql_value: str, column: str) -> str:
    """The good orders with one line's `column` replaced by `sql_value`."""
    return (
        f"select * replace (case when order_id = {FIRST_LINE} then {sql_value}"
        f" else {column} end as {column}) from orders"
    )


def _busy_line(quantity: str) -> str:
    """The good orders with the busiest series' last line set to `quantity`."""
    last = (
        f"(select max(order_id) from orders where product_id = {BUSY}"
        " and plant_id = (select min(plant_id) from orders))"
    )
    return (
        f"select * replace (case when order_id = {last} then {quantity}"
        " else quantity end as quantity) from orders"
    )


def _stopped(project, before, result, *words, code=None):
    """The build failed (with `code` when given), said every word, and published nothing."""
    assert result.returncode != 0, result.output[-3000:]
    if code is not None:
        assert result.returncode == code, result.output[-3000:]
    for word in words:
        assert word in result.output, (word, result.output[-4000:])
    assert "Traceback" not in result.output, result.output[-4000:]
    assert project.published_digest() == before


# --- bad order lines: stopped by the orders gate or by staging ----------------------

ORDERS = {
    "null product id": (_one_line("null", "product_id"), "parquet", ["orders", "product_id"]),
    "date in the future": (
        _one_line("date '2099-01-01'", "order_date"),
        "parquet",
        ["order_date", "2099-01-01", "first_source_file", "first_source_row"],
    ),
    "duplicates above the threshold": (
        "select * from orders union all"
        " (select * from orders order by order_id limit (select count(*) // 20 from orders))",
        "parquet",
        ["is_duplicate", "max_duplicate_share"],
    ),
    "returns beyond sales (negative demand)": (
        "select * from orders union all"
        " select 'X-RETURN' as order_id, max(order_date) as order_date, product_id, plant_id,"
        " -10 * sum(quantity) - 1000 as quantity from orders"
        " where product_id = (select min(product_id) from orders) group by all",
        "parquet",
        ["return_quantity"],
    ),
    "missing column": (
        "select * exclude (quantity) from orders",
        "parquet",
        ["orders.parquet", "quantity", "missing", "it has: order_id, order_date"],
        2,
    ),
    "unparseable date": (
        "select order_id, case when order_id = (select min(order_id) from orders)"
        " then '2024-02-30' else cast(order_date as varchar) end as order_date,"
        " product_id, plant_id, quantity from orders",
        "csv",
        ["orders.csv", "order_date", "2024-02-30", "expected YYYY-MM-DD"],
    ),
    "text quantity": (
        "select order_id, order_date, product_id, plant_id,"
        " case when order_id = (select max(order_id) from orders) then 'twelve'"
        " else cast(quantity as varchar) end as quantity from orders",
        "csv",
        ["orders.csv", "quantity", "twelve"],
    ),
    "decimal comma": (
        "select order_id, order_date, product_id, plant_id,"
        " case when order_id = (select max(order_id) from orders) then '12,5'"
        " else cast(quantity as varchar) end as quantity from orders",
        "csv",
        ["orders.csv", "quantity", "12,5", "with a decimal point, e.g. 12.5"],
    ),
    "one line of 1e12": (
        _busy_line("1e12"),
        "parquet",
        ["plausible_max", "1e+12", "outlier_ratio"],
    ),
    "one line of 1e6 in a series of a few hundred a week": (
        _busy_line("1e6"),
        "parquet",
        ["plausible_max", "1e+06", "outlier_ratio"],
    ),
    # monthly totals at the weekly default: the run gate names the cadence and what to set,
    # rather than forecasting weeks of zeros
    "orders dated on the 1st of each month": (
        "select * replace (cast(date_trunc('month', order_date) as date) as order_date)"
        " from orders",
        "parquet",
        ["Gate 'run' failed", "frequency, data_cadence", "[week, month]", "frequency month"],
    ),
    # one plant's part of the export stopped three weeks early: its series would take zeros
    "a plant's last three weeks missing": (
        "select * from orders where not (plant_id = (select min(plant_id) from orders)"
        " and order_date > (select max(order_date) - 21 from orders))",
        "parquet",
        ["Gate 'orders__plants' failed", "silent_unexplained", "allow_empty_periods"],
    ),
    "empty orders file": (
        "select * from orders where false",
        "parquet",
        ["expect_table_row_count_to_be_between", "empty orders extract"],
    ),
}


# a gate's one-line summary keeps the value seen and the line's file and row (its rule and
# why are in the report below)
ONE_LINE = {"date in the future": ["e.g. 2099-01-01", "/raw/orders.parquet"]}

# its build is test_check_labels_its_report_with_the_failed_run's, which checks the same
CHECKED = "null product id"


@pytest.mark.parametrize("case", [case for case in ORDERS if case != CHECKED])
def test_bad_orders_stop_the_build_and_publish_nothing(case, built_copy, tmp_path):
    sql, fmt, words, *code = ORDERS[case]  # exit 1: a gate or test; 2: before any node
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", sql, fmt)
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(built_copy, before, result, *words, code=code[0] if code else 1)
    if case in ONE_LINE:  # the NOT published line itself names the value seen
        (said,) = [line for line in result.output.splitlines() if "NOT published:" in line]
        for word in ONE_LINE[case]:
            assert word in said, (word, said)


def test_a_staging_error_is_named_first_with_its_message_then_the_skipped(built_copy, tmp_path):
    """A bad date stops stg_erp__orders and everything after it is skipped: the NOT
    published line names that model and its error before any skipped node."""
    sql, fmt, words = ORDERS["unparseable date"]
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", sql, fmt)
    result = built_copy.dbt("build", raw=raw)
    assert result.returncode == 1, result.output[-3000:]
    (said,) = [line for line in result.output.splitlines() if "NOT published:" in line]
    why = said.split("NOT published: ", 1)[1]
    assert why.startswith("stg_erp__orders (error): "), said
    first, rest = why.split(". ", 1)[0], why
    for word in words:
        assert word in first, (word, said)
    assert rest.index("stg_erp__orders") < rest.index("(skipped)"), said
    assert said.endswith("_published.duckdb still holds the last good run."), said
    ((status, message),) = built_copy.query(
        "select status, message from demandcast_runs order by started_at desc limit 1"
    )
    assert status == "not published" and message.startswith("stg_erp__orders (error): ")
    # a target that has never published says so, not that a last good run is kept
    built_copy.published.unlink()
    result = built_copy.dbt("build", raw=raw)
    (said,) = [line for line in result.output.splitlines() if "NOT published:" in line]
    assert said.endswith(
        "_published.duckdb does not exist: no run of this target has been published yet."
    ), said
    assert not built_copy.published.exists()


def test_two_orders_files_stop_the_run_naming_both(built_copy, tmp_path):
    """orders.parquet and orders.csv in one raw folder: which is the extract is not
    guessed; the run stops before any table, naming both."""
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", "select * from orders")
    duckdb.sql(f"copy (select * from '{raw}/orders.parquet') to '{raw}/orders.csv' (header)")
    before = built_copy.published_digest()
    mtime = built_copy.db.stat().st_mtime
    result = built_copy.dbt("build", raw=raw)
    _stopped(
        built_copy,
        before,
        result,
        "more than one orders file",
        f"{raw}/orders.parquet",
        f"{raw}/orders.csv",
        code=2,
    )
    assert built_copy.db.stat().st_mtime == mtime


def test_latin1_orders_stop_the_build_naming_file_line_and_encoding(built_copy, tmp_path):
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", "select * from orders", "csv")
    text = (raw / "orders.csv").read_text(encoding="utf-8").splitlines()
    text[5] = text[5].replace(",P", ",Pé", 1)
    (raw / "orders.csv").write_bytes(("\n".join(text) + "\n").encode("latin-1"))
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(built_copy, before, result, "orders.csv", "Line: 6", "not utf-8 encoded")


def test_an_absurd_line_is_capped_and_recorded_when_the_var_says_so(built_copy, tmp_path):
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", _busy_line("1e6"))
    result = built_copy.dbt(
        "build",
        raw=raw,
        vars="{candidates: fast, n_windows: 2, outlier_action: cap, data_docs: false}",
    )
    assert result.returncode == 0, result.output[-3000:]
    capped = built_copy.query(
        "select original_quantity, capped_quantity, plausible_max, median_line_quantity"
        " from mon_orders__capped",
        built_copy.published,
    )
    assert len(capped) == 1
    original, kept, threshold, median = capped[0]
    assert original == 1e6 and kept == threshold == pytest.approx(1000 * median)
    (top,) = built_copy.query(
        "select max(forecast) from fct_demand_forecast", built_copy.published
    )[0]
    assert top < 10_000


# --- master data and keys ------------------------------------------------------------


def _raw_with_master(built_copy, tmp_path, products_sql=None, plants_sql=None):
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", "select * from orders")
    con = duckdb.connect()
    for name, sql in (("products", products_sql), ("plants", plants_sql)):
        if sql:
            con.execute(f"create view {name} as select * from '{built_copy.raw}/{name}.parquet'")
            (raw / f"{name}.parquet").unlink()
            con.execute(f"copy ({sql}) to '{raw}/{name}.csv' (header)")
    return raw


def test_duplicated_plant_is_named_by_the_plants_gate(built_copy, tmp_path):
    raw = _raw_with_master(
        built_copy, tmp_path, plants_sql="select * from plants union all select * from plants"
    )
    (plant,) = built_copy.query("select min(plant_id) from stg_erp__plants")[0]
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(built_copy, before, result, "Gate 'plants' failed", "plant_id", plant, code=1)


def test_duplicated_product_is_named_by_the_products_gate(built_copy, tmp_path):
    raw = _raw_with_master(
        built_copy,
        tmp_path,
        products_sql="select * from products union all"
        " (select * from products order by product_id limit 1)",
    )
    (product,) = built_copy.query("select min(product_id) from stg_erp__products")[0]
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(built_copy, before, result, "Gate 'products' failed", "product_id", product, code=1)


def test_series_keys_cannot_collide_and_ids_are_trimmed(built_copy, tmp_path):
    extra = (
        "select * from orders union all"
        " select 'K' || n as order_id, o.order_date, p.product_id, p.plant_id, 5 as quantity"
        " from (select max(order_date) - 28 as order_date from orders) as o,"
        " (values ('C', 'A|B'), ('B|C', 'A'), ('P1 ', 'A'), ('P1', 'A'))"
        " as p(product_id, plant_id),"
        " range(3) as r(n)"
    )
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", extra)
    result = built_copy.dbt(
        "build", "--select", "+int_orders__aggregated", "--indirect-selection", "cautious", raw=raw
    )
    assert result.returncode == 0, result.output[-3000:]
    rows = built_copy.query(
        "select series_id, plant_id, product_id, sum(n_lines) from int_orders__aggregated"
        " where plant_id in ('A', 'A|B') group by all order by all"
    )
    assert rows == [
        ("A\\|B|C", "A|B", "C", 3),
        ("A|B\\|C", "A", "B|C", 3),
        ("A|P1", "A", "P1", 3),  # lines K0 to K2 twice, once as 'P1 ': duplicates once trimmed
    ]
    assert "NOT published" in result.output


# --- vars, origin and staleness: stopped before anything is published -----------------


def test_wrong_vars_are_named_one_per_line_before_any_table(built_copy):
    before = built_copy.published_digest()
    mtime = built_copy.db.stat().st_mtime
    result = built_copy.dbt(
        "build",
        vars="{horizon: 0, max_duplicate_share: abc, step_size: 0, lifecycle_periods: -1,"
        " engine: spark, outlier_action: drop}",
    )
    _stopped(
        built_copy,
        before,
        result,
        "wrong vars; the run stopped before touching any table",
        "var 'horizon': invalid value 0",
        "var 'max_duplicate_share': invalid value 'abc'",
        "var 'step_size': invalid value 0",
        "var 'lifecycle_periods': invalid value -1",
        "var 'engine': invalid value 'spark'",
        "var 'outlier_action': invalid value 'drop', expected one of fail, cap",
    )
    assert built_copy.db.stat().st_mtime == mtime


def test_an_unknown_var_is_named_with_the_closest_var_before_any_table(built_copy):
    before = built_copy.published_digest()
    mtime = built_copy.db.stat().st_mtime
    result = built_copy.dbt(
        "build", vars="{horizn: 26, candidates: fast, n_windows: 2, data_docs: false, zq_x: 1}"
    )
    _stopped(
        built_copy,
        before,
        result,
        "wrong vars; the run stopped before touching any table",
        "unknown var 'horizn': did you mean 'horizon'?",
        "unknown var 'zq_x': not a var of demandcast",
        code=2,
    )
    assert built_copy.db.stat().st_mtime == mtime


def test_an_unknown_candidate_is_named_before_any_table(built_copy):
    before = built_copy.published_digest()
    result = built_copy.dbt("build", vars="{candidates: [AutoETS, NoSuchModel]}")
    _stopped(built_copy, before, result, "unknown candidate(s) ['NoSuchModel']")


@pytest.mark.parametrize(
    ("origin", "words"),
    [
        ("2099-01-05", ["forecast_origin", "data_end_period", "after the last order"]),
        ("2001-01-01", ["forecast_origin", "data_start_period", "before the first order"]),
        ("2024-06-03", ["stale_periods", "max_staleness_periods"]),
    ],
    ids=["future", "before the data", "long past"],
)
def test_an_origin_outside_the_data_or_long_past_stops_the_run_gate(built_copy, origin, words):
    before = built_copy.published_digest()
    result = built_copy.dbt(
        "build",
        vars=f"{{candidates: fast, n_windows: 2, forecast_origin: '{origin}', data_docs: false}}",
    )
    _stopped(built_copy, before, result, "Gate 'run' failed", *words, code=1)


def test_a_stale_extract_stops_the_run_gate(built_copy, tmp_path):
    raw = raw_with_orders(
        built_copy.raw,
        tmp_path / "raw",
        "select * from orders where order_date < (select max(order_date) - 200 from orders)",
    )
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(built_copy, before, result, "Gate 'run' failed", "stale_periods", code=1)


def test_a_week_returned_beyond_its_sales_names_the_return_line(built_copy, tmp_path):
    """One return larger than its week's sales (the product's history as a whole still sold
    more): gate series stops it by series and week, naming the return's file and row."""
    raw = raw_with_orders(
        built_copy.raw,
        tmp_path / "raw",
        "select * from orders union all"
        " select 'X-RETURN', week, product_id, plant_id, -sold - 50 from ("
        "  select product_id, plant_id, cast(date_trunc('week', order_date) as date) as week,"
        "  sum(quantity) as sold from orders"
        "  where order_date >= (select max(order_date) - 100 from orders)"
        "  group by all order by sold desc limit 1)",
    )
    rows = duckdb.sql(f"select count(*) from '{raw}/orders.parquet'").fetchall()[0][0]
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(
        built_copy, before, result, "Gate 'series__demand' failed", "return_source_row", code=1
    )
    line = next(x for x in result.output.splitlines() if x.strip().startswith("PL"))
    file, row, demand = line.split()[-3:]  # the return is the file's last row; the week -50
    assert file.endswith("/raw/orders.parquet") and [row, demand] == [f"{rows:,}", "-50"], line


def test_weeks_missing_from_the_extract_stop_the_orders_gate(built_copy, tmp_path):
    """21 days without a single order line mid-extract (a failed export): the orders
    gate names them; the demo's year-end shutdown, low every year, is not one (var
    allow_empty_periods would accept them: test_gates)."""
    raw = raw_with_orders(
        built_copy.raw,
        tmp_path / "raw",
        "select * from orders where order_date not between"
        " (select max(order_date) - 60 from orders) and (select max(order_date) - 40 from orders)",
    )
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(
        built_copy, before, result, "Gate 'orders__periods' failed", "lines_unexplained", code=1
    )
    gaps = [
        x.split() for x in result.output.splitlines() if re.match(r"\s+20\d\d-\d\d-\d\d\s+0\s", x)
    ]
    # 21 days: two whole weeks without a line (the days either side fall in weeks with some)
    assert [g[:2] for g in gaps] == [[g[0], "0"] for g in gaps] and len(gaps) == 2, gaps


# --- SQL from input ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "var"])
def test_a_raw_path_holding_sql_is_only_a_path(built_copy, how):
    evil = "x'); drop table fct_demand_forecast; --"
    before = built_copy.published_digest()
    if how == "env":
        result = built_copy.dbt("build", raw=evil)
    else:
        result = built_copy.dbt("build", vars=json.dumps({"raw_path": evil}))
    _stopped(built_copy, before, result, "no orders file in raw_path", evil)
    assert built_copy.query("select count(*) from fct_demand_forecast")[0][0] > 0


# --- every value the var check accepts builds and publishes (issue 25) ----------------


def _last_weeks(built_copy, tmp_path, weeks: int):
    """A raw folder holding only the order lines of the extract's last `weeks` weeks."""
    return raw_with_orders(
        built_copy.raw,
        tmp_path / "raw",
        f"select * from orders where order_date > (select max(order_date) from orders)"
        f" - interval {weeks} weeks",
    )


def test_a_short_extract_is_refused_a_horizon_past_its_history_and_publishes_at_it(
    built_copy, tmp_path
):
    """An extract of 30 weeks: `horizon: 1000` is refused before any table, in one line
    naming the largest allowed horizon (the longest series' weeks up to the origin). At that
    horizon, with `season_length: 1` and `levels: [50, 99.9]`, no series is long enough to
    backtest (min_train_length + horizon > its history): the build publishes anyway, every
    active series forecast by its class's catalog default fitted on all it has, held flat
    after as many steps as it has weeks; the interval columns follow the levels."""
    raw = _last_weeks(built_copy, tmp_path, 30)
    before = built_copy.published_digest()
    runs = built_copy.query("select * from demandcast_runs")
    result = built_copy.dbt("build", raw=raw, vars=FAST_VARS[:-1] + ", horizon: 1000}")
    _stopped(built_copy, before, result, "var 'horizon': invalid value 1000", code=2)
    # checked once the raw files are registered (views in the schema raw), before the run
    # is registered or any table touched
    assert built_copy.query("select * from demandcast_runs") == runs
    line = next(x for x in result.output.splitlines() if "var 'horizon'" in x)
    largest = int(line.split("expected at most ")[1].split(":")[0])
    # the weeks of the extract, counted on their own: every week has orders, the origin is
    # the last complete week
    with duckdb.connect() as con:
        (weeks,) = con.execute(
            "select count(distinct date_trunc('week', order_date)) filter ("
            " where date_trunc('week', order_date) + interval 6 days <= max_date)"
            f" from '{raw}/orders.parquet', (select max(order_date) as max_date"
            f" from '{raw}/orders.parquet')"
        ).fetchone()
    assert largest == weeks, (largest, weeks)

    vars_ = FAST_VARS[:-1] + f", horizon: {largest}, season_length: 1, levels: [50, 99.9]}}"
    result = built_copy.dbt("build", raw=raw, vars=vars_)
    assert result.returncode == 0, result.output[-4000:]
    assert "published to" in result.output and "NOT published" not in result.output
    pub = built_copy.published
    # the log's count is the file's
    (said,) = [x for x in result.output.splitlines() if " published to " in x]
    n_said = int(said.rsplit(" (", 1)[1].split(" tables")[0])
    assert built_copy.query("select count(*) from duckdb_tables()", pub) == [(n_said,)], said
    assert built_copy.query("select horizon, season_length from publication", pub) == [(largest, 1)]
    assert built_copy.query("select count(*) from fct_backtest_metrics", pub) == [(0,)]
    # the contracted columns stay lo_80 ... hi_95, null; the levels asked for are published
    # in fct_demand_forecast_intervals and appended to the history as columns
    columns = [c for (c, *_) in built_copy.query("describe fct_demand_forecast", pub)]
    assert [c for c in columns if c[:3] in ("lo_", "hi_")] == ["lo_80", "hi_80", "lo_95", "hi_95"]
    assert built_copy.query("select count(lo_80) + count(hi_95) from fct_demand_forecast", pub) == [
        (0,)
    ]
    assert built_copy.query(
        "select interval_level, count(*) = (select count(*) from fct_demand_forecast),"
        " bool_and(lo <= hi) from fct_demand_forecast_intervals group by 1 order by 1",
        pub,
    ) == [(50.0, True, True), (99.9, True, True)]
    history = [c for (c, *_) in built_copy.query("describe fct_forecast_history", pub)]
    assert {"lo_50", "hi_99.9"} <= set(history)
    from demandcast.catalog import load_catalog

    defaults = load_catalog().defaults
    registry = pd.DataFrame(
        built_copy.query(
            "select r.series_id, r.champion, r.n_windows, r.reason, s.demand_class, s.n_periods"
            " from fct_model_registry r join int_series__profiled s using (series_id)"
            " where r.run_id = (select run_id from int_run__context) and r.champion is not null"
        ),
        columns=["series_id", "champion", "n_windows", "reason", "demand_class", "n_periods"],
    )
    assert len(registry) > 10
    assert (registry["champion"] == registry["demand_class"].map(defaults)).all()
    assert (registry["n_windows"] == 0).all()
    assert registry["reason"].str.contains("too short to backtest").all()
    fc = pd.DataFrame(
        built_copy.query(
            "select f.series_id, f.step, f.forecast, i.hi, f.fallback_reason from"
            " fct_demand_forecast f join fct_demand_forecast_intervals i"
            " using (series_id, period_start)"
            " where f.method = 'champion' and i.interval_level = 99.9",
            pub,
        ),
        columns=["series_id", "step", "forecast", "hi", "fallback_reason"],
    ).merge(registry[["series_id", "n_periods"]], on="series_id")
    assert (fc.groupby("series_id").size() == largest).all()
    past = fc[fc["step"] > fc["n_periods"]]
    assert len(past) > 0  # some series are shorter than the horizon
    assert past["fallback_reason"].str.startswith("held flat after step").all()
    last = fc[fc["step"] == fc["n_periods"]].set_index("series_id")
    for col in ("forecast", "hi"):
        assert (past[col].to_numpy() == last.loc[past["series_id"], col].to_numpy()).all()


# --- partial selections, kills, locks and readers --------------------------------------


def test_a_partial_selection_publishes_nothing_and_says_so(built_copy):
    before = built_copy.published_digest()
    result = built_copy.dbt("build", "--select", "+fct_demand_forecast")
    assert result.returncode == 0, result.output[-3000:]
    assert "NOT published: the selection left out" in result.output
    assert "only a complete dbt build publishes" in result.output
    assert built_copy.published_digest() == before
    (status,) = built_copy.query(
        "select status from demandcast_runs order by started_at desc limit 1"
    )[0]
    assert status == "not published"


def test_a_failed_dbt_test_publishes_nothing(built_copy, tmp_path):
    # the plants gate only warns, so the duplicated plant reaches dim_series, whose
    # key test (series_id unique) fails after the forecast tables were rebuilt
    raw = _raw_with_master(
        built_copy, tmp_path, plants_sql="select * from plants union all select * from plants"
    )
    before = built_copy.published_digest()
    vars_ = (
        "{candidates: fast, n_windows: 2, n_jobs: 2, gate_modes: {plants: warn}, data_docs: false}"
    )
    result = built_copy.dbt("build", raw=raw, vars=vars_)
    assert result.returncode == 1, result.output[-3000:]
    assert "NOT published" in result.output and "column_values_dim_series_" in result.output
    # the failed test's first rows follow its name: how many keys are duplicated, and the
    # first of them (every series: each plant is listed twice); no null cell is printed
    (n_series,) = built_copy.query("select count(distinct series_id) from dim_series")[0]
    shown = re.search(r"failing rows: (.*?)\)\. ", result.output).group(1)
    assert re.fullmatch(
        rf"column_name=series_id, rule=unique, failing_rows={n_series}, duplicated_key=\S+",
        shown,
    ), shown
    assert built_copy.published_digest() == before


def test_broken_column_rules_are_named_with_their_counts(built_copy):
    # one column_values test checks a model's column rules (not null, ranges, accepted
    # values) in one scan; its failure names each broken rule's column and row count
    with duckdb.connect(str(built_copy.db)) as con:
        con.execute("update fct_demand_forecast set model_name = null where step <= 2")
        con.execute("update fct_demand_forecast set forecast = -1 where step = 3")
        con.execute("update fct_demand_forecast set method = 'guess' where step = 4")
        (n,) = con.execute("select count(*) from fct_demand_forecast where step <= 2").fetchone()
        (m,) = con.execute("select count(*) from fct_demand_forecast where step = 3").fetchone()
    result = built_copy.dbt("test", "--select", "fct_demand_forecast")
    assert result.returncode == 1, result.output[-3000:]
    assert "column_values_fct_demand_forecast" in result.output
    assert "Got 3 results, configured to fail if != 0" in result.output
    shown = re.search(r"failing rows: (.*?)\)\. ", result.output).group(1).split("; ")
    assert sorted(shown) == sorted(
        [
            f"column_name=model_name, rule=not null, failing_rows={n}",
            f"column_name=forecast, rule=>= 0, failing_rows={m}",
            f"column_name=method, rule=in (champion, cold_start, fallback, launch), "
            f"failing_rows={m}",
        ]
    )


def test_a_publish_that_fails_says_so_and_its_run_is_never_reused(built, built_copy):
    """Every node passes but the published copy cannot be replaced (a directory stands
    where it goes): the build fails, says why in one line, leaves no staging file, and
    its run is 'not published', so the next build neither reuses nor keeps its rows."""
    (first_run,) = built_copy.query("select run_id from publication", built_copy.published)[0]
    published = built_copy.published
    published.unlink()
    published.mkdir()
    (published / "not a database").touch()
    # every series re-selected: the failed run makes forecasts of its own
    result = built_copy.dbt("build", vars=FAST_VARS[:-1] + ", retrain: always}")
    out = result.output
    assert result.returncode == 1, out[-3000:]
    said = [line for line in out.splitlines() if "NOT published:" in line]
    assert len(said) == 1 and "is a directory" in said[0], out[-3000:]
    assert "Error:" not in said[0], said[0]  # not under DuckDB's "Invalid Input Error:"
    assert "Traceback" not in out and "IsADirectoryError" not in out, out[-3000:]
    assert not list(published.parent.glob(published.name + "*.tmp")), out[-3000:]
    ((failed_run, status, message),) = built_copy.query(
        "select run_id, status, message from demandcast_runs order by started_at desc limit 1"
    )
    assert failed_run != first_run and status == "not published", (status, message)
    assert "is a directory" in message
    assert (published / "not a database").exists()

    shutil.rmtree(published)
    result = built_copy.reuse_parse(built).dbt("build")  # the shared build's vars and parse
    assert result.returncode == 0, result.output[-3000:]
    for table in (
        "fct_forecast_history",
        "fct_model_registry",
        "fct_retrain_decisions",
        "demandcast_backtest_memory",
        "demandcast_calibration_memory",
    ):
        rows = built_copy.query(f"select count(*) from {table} where run_id = '{failed_run}'")
        assert rows == [(0,)], table
    for table in ("fct_demand_forecast", "fct_forecast_history"):
        made = built_copy.query(
            f"select distinct forecast_run_id from {table}", built_copy.published
        )
        assert (failed_run,) not in made and (first_run,) in made, (table, made)


def test_a_published_copy_that_cannot_be_written_is_named_and_no_staging_is_left(tmp_path):
    """The plugin's two steps of a publish: a folder that cannot be written (immutable,
    as a read-only mount) or that is missing is named before the copy is made; a rename
    that fails says why and removes the staging copy."""
    from demandcast.dbt_plugin import publish_problem, replace_file

    missing = tmp_path / "nowhere" / "wh_published.duckdb"
    assert publish_problem(str(missing)) == (
        f"the folder {missing.parent} of {missing} does not exist"
    )
    folder = tmp_path / "published"
    folder.mkdir()
    dst = folder / "wh_published.duckdb"
    assert publish_problem(str(dst)) == "" and not list(folder.iterdir())
    staging = tmp_path / "wh_published.duckdb.run.tmp"
    staging.write_bytes(b"a finished copy")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        assert publish_problem(str(dst)) == (
            f"cannot write in the folder {folder}: Operation not permitted"
        )
        assert replace_file(str(staging), str(dst)) == (
            f"cannot replace {dst}: Operation not permitted"
        )
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert not staging.exists() and not dst.exists()


def _start_build(project, log):
    cmd, env = project.command(
        "build", vars="{candidates: fast, n_windows: 2, n_jobs: 2, data_docs: false}"
    )
    return subprocess.Popen(
        cmd,
        cwd=project.db.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(path, text, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        assert proc.poll() is None, path.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in {path} after {timeout} s")


def test_a_killed_build_publishes_nothing_and_leaves_no_rows(built_copy, tmp_path):
    before = built_copy.published_digest()
    log_path = tmp_path / "build.log"
    with log_path.open("w") as log:
        proc = _start_build(built_copy, log)
        _wait_for(log_path, "START python table model main.int_forecast__backtest", proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert built_copy.published_digest() == before
    result = built_copy.dbt("build", "--select", "stg_erp__plants")
    assert result.returncode == 0, result.output[-3000:]
    statuses = [s for (s,) in built_copy.query("select status from demandcast_runs")]
    assert "abandoned" in statuses
    assert built_copy.published_digest() == before


def test_readers_never_block_a_build_and_never_see_a_mix(built_copy, tmp_path):
    # a raw folder with a quote and a space in its name works like any other
    raw = tmp_path / "plant's raw"
    shutil.copytree(built_copy.raw, raw)
    built_copy.raw = raw
    reader = duckdb.connect(str(built_copy.published), read_only=True)
    old_run = reader.execute("select run_id from publication").fetchone()[0]
    log_path = tmp_path / "build.log"
    with log_path.open("w") as log:
        proc = _start_build(built_copy, log)
        _wait_for(log_path, "START python table model main.gate_orders", proc)
        second = built_copy.dbt("build")  # the same warehouse, at the same time
        runs_seen = set()
        while proc.poll() is None:
            for table in ("publication", "fct_demand_forecast", "fct_backtest_metrics"):
                query = f"select distinct run_id from {table}"
                runs_seen |= {r for (r,) in reader.execute(query).fetchall()}
            time.sleep(0.5)
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    assert second.returncode != 0
    assert "is in use by another process" in second.output
    assert "Traceback" not in second.output
    assert runs_seen == {old_run}, "the open reader saw only the run it opened"
    reader.close()
    fresh = duckdb.connect(str(built_copy.published), read_only=True)
    new_run = fresh.execute("select run_id from publication").fetchone()[0]
    assert new_run != old_run
    for table in ("fct_demand_forecast", "fct_backtest_metrics", "mon_orders__excluded"):
        runs = {r for (r,) in fresh.execute(f"select distinct run_id from {table}").fetchall()}
        assert runs <= {new_run}, (table, runs)
    registry = {
        r for (r,) in fresh.sql("select distinct run_id from fct_model_registry").fetchall()
    }
    assert {old_run, new_run} <= registry
    fresh.close()


def test_check_labels_its_report_with_the_failed_run(built_copy, tmp_path):
    """The bad orders case CHECKED (a null product id) stops the build as the others do
    (test_bad_orders_stop_the_build_and_publish_nothing); `demandcast check` then names the
    failed run."""
    sql, fmt, words = ORDERS[CHECKED]
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", sql, fmt)
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(built_copy, before, result, *words, code=1)
    (run_id,) = built_copy.query(
        "select run_id from demandcast_runs order by started_at desc limit 1"
    )[0]
    done = demandcast(
        "check",
        "--db",
        str(built_copy.db),
        "--docs",
        str(tmp_path),
        env=dict(os.environ),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert run_id in done.output


# --- extracts DuckDB cannot read as they are (issue 25): one line naming the file -------


def _raw_copy(built_copy, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(built_copy.raw, raw)
    return raw


def test_extract_timestamptz_order_dates_keep_their_own_local_date(built_copy, tmp_path):
    """order_date as a Parquet timestamp with time zone, written by pandas at 00:30 +01:00:
    every line keeps its own local date (the zone Arrow stored with the column), not the
    UTC day before."""
    raw = _raw_copy(built_copy, tmp_path)
    orders = duckdb.sql(f"select * from '{raw}/orders.parquet'").df()
    local = orders["order_date"].astype("datetime64[us]")
    orders["order_date"] = local.dt.tz_localize("+01:00") + pd.Timedelta(minutes=30)
    orders.to_parquet(raw / "orders.parquet", index=False)
    before = built_copy.published_digest()
    result = built_copy.dbt("build", "--select", "stg_erp__orders", raw=raw)
    assert result.returncode == 0, result.output[-3000:]
    wrong = built_copy.query(
        "select count(*) from stg_erp__orders as s join read_parquet("
        f"'{built_copy.raw}/orders.parquet', file_row_number = true) as o"
        " on s.source_row = o.file_row_number + 1 where s.order_date <> o.order_date"
    )
    assert wrong == [(0,)]
    assert built_copy.published_digest() == before


def test_extract_timestamptz_without_a_zone_stops_the_run_naming_file_and_column(
    built_copy, tmp_path
):
    """The same instants written by DuckDB: Parquet keeps only the UTC instant, so which day
    the plant's was is not guessed."""
    raw = raw_with_orders(
        built_copy.raw,
        tmp_path / "raw",
        "select * replace (cast(strftime(order_date, '%Y-%m-%d') || ' 00:30:00+01:00'"
        " as timestamptz) as order_date) from orders",
    )
    before = built_copy.published_digest()
    mtime = built_copy.db.stat().st_mtime
    result = built_copy.dbt("build", raw=raw)
    _stopped(
        built_copy,
        before,
        result,
        f"raw file '{raw}/orders.parquet' (orders): column order_date is a timestamp with"
        " time zone",
        "Export order_date as a date",
        code=2,
    )
    assert built_copy.db.stat().st_mtime == mtime


def test_extract_product_ids_matching_no_order_stop_the_run_naming_both_forms(built_copy, tmp_path):
    """orders say '00021', products say 21: ids are text, so no product matches; the run
    stops before any table, naming both forms, instead of unnamed series."""
    raw = raw_with_orders(
        built_copy.raw,
        tmp_path / "raw",
        "select * replace (substr(product_id, 2) as product_id) from orders",
    )
    duckdb.sql(
        "copy (select * replace (cast(substr(product_id, 2) as integer) as product_id)"
        f" from '{built_copy.raw}/products.parquet') to '{raw}/products.parquet'"
    )
    before = built_copy.published_digest()
    mtime = built_copy.db.stat().st_mtime
    result = built_copy.dbt("build", raw=raw)
    _stopped(
        built_copy,
        before,
        result,
        f"raw file '{raw}/products.parquet': products.product_id 1 matches no orders.product_id",
        "orders have '00001'",
        "Ids are compared as text",
        code=2,
    )
    assert built_copy.db.stat().st_mtime == mtime


# a master file the run cannot use as it is: (products_sql, plants_sql, words given the
# raw folder), each stopped at on-run-start (exit 2)
MASTERS = {
    "plant ids matching no order, both forms named": (
        None,
        "select * replace (cast(substr(plant_id, 3) as integer) as plant_id) from plants",
        lambda raw: [
            f"raw file '{raw}/plants.csv': plants.plant_id '1' matches no orders.plant_id",
            "orders have 'PL01'",
        ],
    ),
    # an empty export of the product master is not "no products file": the run would
    # forget every discontinued date and product name without a word
    "a header-only products file": (
        "select * from products limit 0",
        None,
        lambda raw: [
            f"raw file '{raw}/products.csv' (products) holds no product_id",
            "remove the file to run without one",
        ],
    ),
}


@pytest.mark.parametrize("case", list(MASTERS))
def test_an_unusable_master_file_stops_the_run_before_any_table(case, built_copy, tmp_path):
    products_sql, plants_sql, words = MASTERS[case]
    raw = _raw_with_master(built_copy, tmp_path, products_sql=products_sql, plants_sql=plants_sql)
    before = built_copy.published_digest()
    result = built_copy.dbt("build", raw=raw)
    _stopped(built_copy, before, result, *words(raw), code=2)


def test_extract_an_extra_column_named_filename_is_ignored(built_copy, tmp_path):
    raw = raw_with_orders(
        built_copy.raw, tmp_path / "raw", "select *, 'erp_export.csv' as filename from orders"
    )
    result = built_copy.dbt("build", "--select", "stg_erp__orders", raw=raw)
    assert result.returncode == 0, result.output[-3000:]
    assert built_copy.query("select distinct source_file from stg_erp__orders") == [
        (f"{raw}/orders.parquet",)
    ]


def test_extract_equal_lines_of_the_four_columns_alone_are_two_orders(built_copy, tmp_path):
    """Without a column that tells its lines apart (an order number), two equal lines of a
    file are two orders of one size on one day, both kept; a day exported twice (its lines
    appended again) is found all the same. With an order number, an exact duplicate is a
    line exported twice (test_dbt_build: the demo's order_id)."""
    columns = "order_date, product_id, plant_id, quantity"
    raw = raw_with_orders(
        built_copy.raw,
        tmp_path / "raw",
        f"select {columns} from orders union all"
        f" select {columns} from orders where order_date = date '2025-06-02'",
    )
    result = built_copy.dbt("build", "--select", "stg_erp__orders", raw=raw)
    assert result.returncode == 0, result.output[-3000:]
    (day,) = duckdb.sql(
        f"select count(*) from '{built_copy.raw}/orders.parquet' where order_date = '2025-06-02'"
    ).fetchall()[0]
    equal, duplicates, on_the_day = built_copy.query(
        f"select count(*) - count(distinct ({columns})), count(*) filter (is_duplicate),"
        " count(*) filter (is_duplicate and order_date = '2025-06-02') from stg_erp__orders"
    )[0]
    assert day > 10 and equal > day and duplicates == on_the_day == day


def test_extract_a_product_master_without_launch_or_discontinued_dates_builds(built_copy, tmp_path):
    """A product master of ids, names and groups only: its launch and discontinued dates are
    unknown (null), not a stop."""
    raw = _raw_copy(built_copy, tmp_path)
    products = raw / "products.parquet"
    plain = tmp_path / "plain.csv"
    duckdb.connect().execute(
        f"copy (select product_id, product_name, product_group from '{products}') to '{plain}'"
    )
    products.unlink()
    shutil.move(plain, raw / "products.csv")
    result = built_copy.dbt("build", "--select", "stg_erp__products", raw=raw)
    assert result.returncode == 0, result.output[-3000:]
    rows = built_copy.query(
        "select count(*), count(launch_date), count(discontinued_date) from stg_erp__products"
    )
    assert rows[0][0] > 0 and rows[0][1:] == (0, 0)
    # a column that may not be left out stops it, and the error says which ones may
    duckdb.connect().execute(
        f"copy (select product_id, product_name from '{raw / 'products.csv'}') to '{plain}'"
    )
    shutil.move(plain, raw / "products.csv")
    result = built_copy.dbt("build", "--select", "stg_erp__products", raw=raw)
    assert result.returncode != 0
    assert "is missing the column(s) product_group; it has: product_id, product_name." in (
        result.output
    ), result.output[-3000:]
    assert "(launch_date, discontinued_date may be left out)" in result.output


@pytest.mark.parametrize("damage", ["truncated", "not parquet", "corrupt footer", "corrupt pages"])
def test_extract_an_unreadable_parquet_file_is_named_with_what_to_do(built_copy, tmp_path, damage):
    raw = _raw_copy(built_copy, tmp_path)
    path = raw / "orders.parquet"
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "not parquet":
        path.write_text("order_id,order_date\n1,2024-01-01\n")
    elif damage == "corrupt footer":  # the footer's length points before the file's start
        path.write_bytes(data[:-8] + (10**9).to_bytes(4, "little") + b"PAR1")
    else:  # 4 KiB zeroed inside the data pages: header, footer and schema read fine
        third = len(data) // 3
        path.write_bytes(data[:third] + bytes(4096) + data[third + 4096 :])
    before = built_copy.published_digest()
    mtime = built_copy.db.stat().st_mtime
    result = built_copy.dbt("build", raw=raw)
    _stopped(
        built_copy,
        before,
        result,
        f"raw file '{path}' (orders) is not a readable Parquet file",
        "Re-export it",
        code=2,
    )
    assert built_copy.db.stat().st_mtime == mtime


def test_extract_a_warehouse_that_cannot_be_written_is_named_in_one_line(built_copy):
    """`demandcast build` on a warehouse file that cannot be written (immutable, as on a
    read-only mount; chmod does not stop root): one line naming the file and the fix, exit
    2, no adapter traceback, the published copy unchanged."""
    before = built_copy.published_digest()
    db = built_copy.db
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        done = demandcast(
            "build",
            *("--raw", str(built_copy.raw), "--vars", FAST_VARS, "--project-dir", str(ROOT)),
            *("--target-path", str(built_copy.target)),
            env={**os.environ, "DEMANDCAST_DB": str(db)},
            cwd=db.parent,
        )
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    out = done.output
    assert done.returncode == 2, out[-3000:]
    said = [line for line in out.splitlines() if "demandcast: " in line]
    assert len(said) == 1, out[-3000:]
    assert f"cannot write the warehouse file {db}" in said[0] and "DEMANDCAST_DB" in said[0]
    assert "Traceback" not in out, out[-3000:]
    assert built_copy.published_digest() == before
