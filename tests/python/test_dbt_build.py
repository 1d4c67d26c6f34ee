"""End to end: the real `dbt build` on a small demo plant, in a warehouse of its own."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess

import duckdb
import pytest
from conftest import BIN, Project, assert_rebuilds_recorded, raw_with_orders

from demandcast.config import RetrainPolicy, Settings

BI_TABLES = ["fct_demand_forecast", "dim_series", "fct_demand_history", "fct_model_registry"]


def test_build_creates_series_with_every_class_and_lifecycle(built):
    classes = {c for (c,) in built.query("select distinct demand_class from dim_series")}
    assert {"smooth", "erratic", "intermittent", "lumpy"} <= classes
    lifecycles = {c for (c,) in built.query("select distinct lifecycle from dim_series")}
    assert lifecycles == {"new", "active", "discontinued"}


def test_series_have_one_row_per_period_up_to_the_origin(built):
    (origin,) = built.query("select forecast_origin from int_run__context")[0]
    bad = built.query(
        f"""
        select series_id from fct_demand_history group by 1
        having max(period_start) != date '{origin}'
            or count(*) != date_diff('week', min(period_start), max(period_start)) + 1
        """
    )
    assert bad == []


def test_net_demand_equals_order_lines_returns_included(built):
    orders = duckdb.sql(
        f"select sum(quantity) from (select distinct * from '{built.raw}/orders.parquet')"
    ).fetchall()[0][0]
    (history,) = built.query("select sum(demand) from fct_demand_history")[0]
    (after,) = built.query(
        "select coalesce(sum(quantity), 0) from mon_orders__excluded"
        " where reason = 'after_forecast_origin'"
    )[0]
    assert history + after == pytest.approx(orders)


def test_duplicates_and_returns_are_flagged_not_dropped(built):
    (lines,) = duckdb.sql(f"select count(*) from '{built.raw}/orders.parquet'").fetchall()[0]
    n, dup, ret = built.query(
        "select count(*), count(*) filter (is_duplicate), count(*) filter (is_return)"
        " from stg_erp__orders"
    )[0]
    assert n == lines and dup > 0 and ret > 0
    (excluded,) = built.query(
        "select n_lines from mon_orders__excluded where reason = 'exact_duplicate'"
    )[0]
    assert excluded == dup


def test_csv_and_parquet_folder_inputs_give_the_same_series(built, tmp_path):
    expected = built.checksum("int_series__filled")
    for layout in ("csv", "folder"):
        raw = tmp_path / layout
        raw.mkdir()
        for name in ("products.parquet", "plants.parquet"):
            shutil.copy(built.raw / name, raw / name)
        con = duckdb.connect()
        src = f"'{built.raw}/orders.parquet'"
        if layout == "csv":
            con.execute(f"copy (select * from {src}) to '{raw}/orders.csv' (header)")
        else:
            (raw / "orders").mkdir()
            con.execute(
                f"copy (select * from {src} where year(order_date) < 2025)"
                f" to '{raw}/orders/part-0.parquet'"
            )
            con.execute(
                f"copy (select * from {src} where year(order_date) >= 2025)"
                f" to '{raw}/orders/part-1.parquet'"
            )
        # a warehouse file of the shared build's name: dbt reuses its saved parse
        wh = tmp_path / f"wh-{layout}"
        wh.mkdir()
        project = type(built)(raw=raw, db=wh / "wh.duckdb", target=wh / "target")
        project.reuse_parse(built)
        result = project.dbt("run", "--select", "+int_series__filled")
        assert result.returncode == 0, result.output[-3000:]
        assert project.checksum("int_series__filled") == expected, layout


def _ordered_intervals_and_full_horizon(project, horizon: int) -> None:
    bad = project.query(
        f"""
        select series_id, count(*) as n from fct_demand_forecast group by 1
        having count(*) != {horizon} or min(step) != 1 or max(step) != {horizon}
        """
    )
    assert bad == []
    (inverted,) = project.query(
        "select count(*) from fct_demand_forecast where not"
        " (lo_95 <= lo_80 and lo_80 <= forecast and forecast <= hi_80 and hi_80 <= hi_95)"
        " or forecast < 0 or lo_95 is null or hi_95 is null"
    )[0]
    assert inverted == 0
    forecast = {  # planned launches without orders have no series yet
        s
        for (s,) in project.query(
            "select distinct series_id from fct_demand_forecast where method != 'launch'"
        )
    }
    expected = {
        s
        for (s,) in project.query(
            "select series_id from dim_series where lifecycle != 'discontinued'"
        )
    }
    assert forecast == expected


def test_every_live_series_gets_horizon_rows_with_ordered_intervals(built):
    _ordered_intervals_and_full_horizon(built, 13)
    (discontinued,) = built.query(
        "select count(*) from fct_forecast_exceptions where exception_type = 'discontinued'"
    )[0]
    assert (
        discontinued
        == built.query("select count(*) from dim_series where lifecycle = 'discontinued'")[0][0]
    )


def test_the_backtest_writes_the_calibration_the_forecast_reads(built):
    # the small demo has too few residuals per class and step for pooled quantiles
    # (fewer than 200): the table is written, and its counts say why it is not used
    rows = built.query(
        "select demand_class, model_name, step, n_residuals, lo_80, hi_95 "
        "from int_forecast__calibration"
    )
    assert rows and {r[0] for r in rows} >= {"*"}
    assert {r[2] for r in rows} == set(range(1, 14))
    assert all(r[4] <= r[5] for r in rows)


def test_a_plain_build_on_dev_or_prod_leaves_the_unit_tests_to_ci(built, tmp_path):
    """selectors.yml's default `build`: dev and prod leave dbt's unit tests out, the ci
    target and an explicit selection run them (dbt ls, in process, without the suite's
    own exclusion). In a target folder of its own, starting from the shared build's saved
    parse, which the dev calls reuse (a change of target re-parses the whole project: the
    other targets come last); the shared build's parse is left as the tests copy it."""
    import contextlib

    from dbt.cli.main import dbtRunner

    from demandcast.cli import environment

    own = Project(raw=built.raw, db=built.db, target=tmp_path / "target").reuse_parse(built)
    cmd, env = own.command("ls", "--resource-type", "unit_test", "--output", "name")
    env.pop("DBT_EXCLUDE_RESOURCE_TYPES")

    def listed(*extra: str) -> list[str]:
        with environment(env, built.db.parent), contextlib.redirect_stdout(io.StringIO()):
            result = dbtRunner().invoke([*cmd[1:], *extra])
        assert result.success, result.exception
        return sorted(result.result)

    everything, selected = listed("--selector", "everything"), listed("--select", "test_type:unit")
    assert listed() == []
    in_ci = listed("--target", "ci")
    assert len(in_ci) >= 20 and everything == selected == in_ci
    assert listed("--target", "prod") == []


def test_the_pandas_profile_classes_every_series_as_the_sql_model_does(built):
    """frames.profile_series (the engine's tests and synthetic panels) takes its
    Syntetos-Boylan cut-offs from the seed int_series__profiled joins: one home, the same
    class, ADI and CV2 for every series of the shared build."""
    from demandcast.frames import profile_series

    with duckdb.connect(str(built.db), read_only=True) as con:
        series = con.execute("select series_id, period_start, demand from int_series__filled").df()
        sql = con.execute("select series_id, demand_class, adi, cv2 from int_series__profiled").df()
    both = profile_series(series).merge(sql, on="series_id", suffixes=("", "_sql"))
    assert len(both) == len(sql) > 0 and both["demand_class"].nunique() >= 3
    assert (both["demand_class"] == both["demand_class_sql"]).all()
    assert ((both["adi"] - both["adi_sql"]).abs().fillna(0) < 1e-9).all()


def test_the_shared_build_ran_every_dbt_unit_test(built):
    """The suite's other builds leave dbt's unit tests out (conftest): this one runs them."""
    manifest = json.loads((built.target / "manifest.json").read_text())
    results = json.loads((built.target / "run_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert set(ran) == set(manifest["unit_tests"]) and len(ran) >= 20
    assert set(ran.values()) == {"pass"}


def test_the_build_used_two_worker_processes(built):
    # the fixture builds with n_jobs: 2; the run context records what ran
    assert built.query("select n_jobs from int_run__context") == [(2,)]


def test_the_run_context_carries_every_forecasting_and_retraining_setting(built):
    # the forecasting models read their Settings from this one row: a setting missing here
    # is its default in the forecast whatever the var (max_forecast_multiple was, the
    # seventeenth session's bound held to 10 while the gate read the var)
    columns = {r[0] for r in built.query("describe int_run__context")}
    for cls in (Settings, RetrainPolicy):
        fields = {f.name for f in dataclasses.fields(cls)}
        assert fields <= columns, (cls.__name__, sorted(fields - columns))


def test_the_gated_default_catalog_build_on_the_ci_target(tmp_path):
    """What `make ci-check` runs, as a user runs it from another folder: `demandcast build
    --target ci` with the default catalog, every gate and Data Docs on a small plant (the
    default catalog backtests at least 50 candidates; every live series gets its horizon),
    the standalone `demandcast check` on the warehouse, then `demandcast report`. dbt's unit
    tests are the shared build's (`built`), not run again here."""
    from demandcast.demo import write_demo

    raw = tmp_path / "raw"
    write_demo(raw, n_plants=1, n_products=8, years=3, seed=5)
    project = Project(raw=raw, db=tmp_path / "ci.duckdb", target=tmp_path / "target")
    env = {k: v for k, v in os.environ.items() if k not in ("DBT_PROFILES_DIR", "DEMANDCAST_DB")}
    # dbt's unit tests (hand-made rows, the same result in every build) run in the shared
    # build (test_the_shared_build_ran_every_dbt_unit_test), not again here
    assert env["DBT_EXCLUDE_RESOURCE_TYPES"] == "unit_test"
    env.update(DEMANDCAST_DB=project.db.name, DEMANDCAST_RAW_PATH="/nonexistent")

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [str(BIN / "demandcast"), *args, "--target", "ci"]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)

    target = ["--target-path", str(project.target), "--log-path", str(project.target / "logs")]
    done = run("build", "--raw", str(raw), *target)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "published" in done.stdout
    (n_candidates,) = project.query(
        "select count(distinct model_name) from fct_backtest_metrics where status = 'ok'"
    )[0]
    assert n_candidates >= 50
    _ordered_intervals_and_full_horizon(project, 13)
    assert (tmp_path / "ci_data_docs" / "index.html").is_file()
    checked = run("check")
    assert checked.returncode == 0, (checked.stdout + checked.stderr)[-4000:]
    assert f"reading the working warehouse {project.db}" in checked.stdout
    html = tmp_path / "forecast_ci.html"
    report = run("report", "--out", str(html))
    assert report.returncode == 0, (report.stdout + report.stderr)[-4000:]
    assert html.stat().st_size > 0
    _rebuilt_exactly(project.db)


def _rebuilt_exactly(db) -> None:
    """Champion forecasts of the default catalog's run, rebuilt from the memory alone, are
    the ones recorded (with a global member where the run has one; test_pooled checks
    that rebuild on its own)."""
    with duckdb.connect(str(db), read_only=True) as con:
        (run_id,) = con.execute("select run_id from int_run__context").fetchone()
        assert_rebuilds_recorded(con, run_id, 3)


def test_docs_generate_runs_without_raw_files(built, tmp_path):
    empty = tmp_path / "raw"
    empty.mkdir()
    # a new, empty warehouse; the shared build's saved parse (same vars and file name)
    project = Project(raw=empty, db=tmp_path / "wh.duckdb", target=tmp_path / "target")
    result = project.reuse_parse(built).dbt("docs", "generate", write_json=True)
    assert result.returncode == 0, result.output[-3000:]
    catalog = json.loads((project.target / "catalog.json").read_text())
    assert (
        "model.demandcast.fct_demand_forecast"
        in json.loads((project.target / "manifest.json").read_text())["nodes"]
    )
    assert catalog["errors"] is None
    assert not project.published.exists()


def test_source_freshness_passes_on_a_fresh_extract_and_publishes_nothing(built_copy):
    before = built_copy.published_digest()
    result = built_copy.dbt("source", "freshness")  # the build's vars: its saved parse
    assert result.returncode == 0, result.output[-3000:]
    assert "PASS freshness of erp.orders" in result.output
    assert built_copy.published_digest() == before


def test_the_build_logs_the_progress_of_the_backtest_and_the_forecast(built):
    out = built.output
    assert re.search(r"backtest: \d+ series \(\d+ too short to backtest\), .* model fits", out)
    assert re.search(r"backtest: finished (\d+)/\1 series, (\d+)/\2 groups in \d+ s", out)
    assert re.search(r"forecast: \d+ series, \d+ distinct champions: \d+ models to refit", out)
    assert re.search(r"forecast: \d+/\d+ models, \d+ % of [\d,]+ refits; \d+ s elapsed, ~", out)
    assert re.search(r"forecast: finished (\d+)/\1 models in \d+ s", out)


def test_monthly_data_with_an_18_month_horizon_and_a_candidate_that_fails(tmp_path):
    """Monthly periods and an 18-month horizon; the three biggest products sell nothing in
    one early month: multiplicative Holt-Winters refuses the zero on their series, and the
    build sums the failures up in its log."""
    from demandcast.demo import write_demo

    full = tmp_path / "full"
    write_demo(full, n_plants=1, n_products=30, years=5, seed=11)
    raw = raw_with_orders(
        full,
        tmp_path / "raw",
        """select * from orders where not (
            product_id in (
                select product_id from orders group by 1 order by sum(quantity) desc limit 3
            )
            and date_trunc('month', order_date)
                = (select date_trunc('month', min(order_date)) + interval 6 month from orders)
        )""",
    )
    project = Project(raw=raw, db=tmp_path / "m.duckdb", target=tmp_path / "target")
    result = project.dbt(
        "build",
        vars="{frequency: month, horizon: 18, season_length: 12, n_windows: 2, n_jobs: 1, "
        "candidates: [Naive, HistoricAverage, SeasonalNaive, HoltWintersMultiplicative], "
        "data_docs: false}",
    )
    assert result.returncode == 0, result.output[-4000:]
    _ordered_intervals_and_full_horizon(project, 18)
    (not_month_start,) = project.query(
        "select count(*) from fct_demand_forecast where day(period_start) != 1"
    )[0]
    assert not_month_start == 0
    (backtested,) = project.query("select count(distinct series_id) from fct_backtest_metrics")[0]
    assert backtested > 0
    ((failed, first),) = project.query(
        """select count(*), min_by(error_message, series_id) from int_forecast__backtest
        where model_name = 'HoltWintersMultiplicative' and status = 'failed'"""
    )
    assert failed >= 1
    assert "series x candidate failure(s) in 1 candidate(s), recorded" in result.output
    line = f"backtest: HoltWintersMultiplicative failed on {failed} series; first error: {first}"
    assert line in result.output


def _lifecycle(project, series_id: str) -> tuple:
    """lifecycle, is_inactive, trailing zero periods, forecast rows (with both bounds of
    every level, ordered) and the exception types of one series."""
    ((lifecycle, inactive, trailing),) = project.query(
        "select lifecycle, is_inactive, trailing_zero_periods from int_series__profiled"
        f" where series_id = '{series_id}'"
    )
    (rows,) = project.query(
        "select count(*) from fct_demand_forecast where series_id = "
        f"'{series_id}' and lo_95 <= lo_80 and lo_80 <= forecast and forecast <= hi_80"
        " and hi_80 <= hi_95"
    )[0]
    kinds = project.query(
        "select exception_type, model_name from fct_forecast_exceptions"
        f" where series_id = '{series_id}' and exception_type != 'candidate_failed'"
    )
    return lifecycle, inactive, trailing, rows, dict(kinds)


def test_a_pause_is_forecast_and_flagged_inactive_only_the_master_discontinues(
    built_copy, tmp_path
):
    """Three established series of the shared build (three products, no discontinued_date):
    one loses its last 20 weeks of orders, one its last 110, and the third's product gets a
    discontinued_date two weeks before the origin. By default both pauses are forecast and
    flagged inactive, the dated product gets no forecast. (With discontinued_after_periods,
    a long silence discontinues too: the dbt unit test
    discontinued_after_periods_discontinues_a_long_silence; test_config checks that less
    than two seasons is refused.)"""
    ((origin,),) = built_copy.query("select forecast_origin from int_run__context")
    picked: dict[str, tuple[str, str]] = {}
    for series_id, plant, product in built_copy.query(
        "select series_id, plant_id, product_id from dim_series where lifecycle = 'active'"
        " and not is_inactive and discontinued_date is null and n_periods >= 140"
        " and demand_class = 'smooth' order by n_nonzero desc, series_id"
    ):
        if product not in {p for _, p in picked.values()} and len(picked) < 3:
            picked[series_id] = (plant, product)
    short, long, ended = picked
    cuts = {short: 20, long: 110}
    removed = " or ".join(
        f"(plant_id = '{picked[s][0]}' and product_id = '{picked[s][1]}'"
        f" and order_date >= date '{origin}' - interval {7 * (weeks - 1)} day)"
        for s, weeks in cuts.items()
    )
    raw = raw_with_orders(
        built_copy.raw, tmp_path / "raw", f"select * from orders where not ({removed})"
    )
    duckdb.execute(
        f"copy (select * replace (case when product_id = '{picked[ended][1]}'"
        f" then date '{origin}' - interval 14 day else discontinued_date end"
        f" as discontinued_date) from '{built_copy.raw}/products.parquet')"
        f" to '{raw}/products.parquet'"
    )

    result = built_copy.dbt("build", raw=raw)
    assert result.returncode == 0, result.output[-4000:]
    for series_id, weeks in cuts.items():
        lifecycle, inactive, trailing, rows, kinds = _lifecycle(built_copy, series_id)
        assert (lifecycle, inactive, rows) == ("active", True, 13), series_id
        assert trailing >= weeks, series_id
        (model,) = built_copy.query(
            f"select distinct model_name from fct_demand_forecast where series_id = '{series_id}'"
        )[0]
        assert kinds == {"inactive": model}, series_id
    lifecycle, inactive, trailing, rows, kinds = _lifecycle(built_copy, ended)
    assert (lifecycle, inactive, rows, kinds) == ("discontinued", False, 0, {"discontinued": None})
    assert trailing < 13  # it sold until the end: only the master ended it
    # by default the master alone discontinues, and every inactive series is listed
    assert (
        built_copy.query(
            "select series_id from dim_series where (lifecycle = 'discontinued')"
            f" != coalesce(discontinued_date <= date '{origin}', false)"
        )
        == []
    )
    assert set(
        built_copy.query(
            "select series_id from fct_forecast_exceptions where exception_type = 'inactive'"
        )
    ) == set(built_copy.query("select series_id from dim_series where is_inactive"))
