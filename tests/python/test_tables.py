"""The tables a BI user queries without joins (fct_demand_forecast, fct_forecast_runs) and
planners' overrides of quantities, on real builds of the small demo."""

from __future__ import annotations

import duckdb
from conftest import FAST_VARS, Project

from demandcast.catalog import describe


def test_the_forecast_needs_no_join(built):
    """fct_demand_forecast carries the series' names, group, demand class and lifecycle as
    dim_series has them, the model in planner words (the catalog's description), the
    champion's backtest MASE as the registry has it, and on a first run no previous run;
    without overrides the final forecast is the statistical one."""
    db = built.published
    mismatched = built.query(
        """select count(*) from fct_demand_forecast as f join dim_series as s using (series_id)
        where f.plant_name is distinct from s.plant_name
            or f.product_name is distinct from s.product_name
            or f.product_group is distinct from s.product_group
            or f.demand_class is distinct from s.demand_class
            or f.lifecycle is distinct from s.lifecycle""",
        db,
    )
    assert mismatched == [(0,)]
    assert built.query("select count(product_group) from fct_demand_forecast", db)[0][0] > 0
    described = built.query(
        "select distinct model_name, model_description from fct_demand_forecast", db
    )
    assert described and all(words == describe(name) for name, words in described), described
    assert any(words != name for name, words in described)
    (off,) = built.query(
        """select count(*) filter (where f.backtest_mase is distinct from r.champion_mase),
            count(f.backtest_mase)
        from fct_demand_forecast as f join fct_model_registry as r
            on f.series_id = r.series_id and f.run_id = r.run_id
        where f.method = 'champion'""",
        db,
    )
    assert off[0] == 0 and off[1] > 0, off
    (first,) = built.query(
        """select count(*), count(previous_run_id), count(previous_forecast),
            count(*) filter (where forecast <> statistical_forecast), count(override_quantity)
        from fct_demand_forecast""",
        db,
    )
    assert first[0] > 0 and first[1:] == (0, 0, 0, 0), first
    (run,) = built.query("select run_id from publication", db)[0]
    assert built.query(
        "select run_id, previous_run_id, is_live_for_origin, repeats_previous_run"
        " from fct_forecast_runs",
        db,
    ) == [(run, None, True, None)]


def _overrides(project: Project, rows: list[tuple]) -> None:
    with duckdb.connect(str(project.db)) as con:
        con.execute(
            """create or replace table planner_overrides (plant_id varchar,
            product_id varchar, period_start date, quantity double, reason varchar,
            set_by varchar)"""
        )
        if rows:
            con.executemany("insert into planner_overrides values (?, ?, ?, ?, ?, ?)", rows)


def test_planner_overrides_of_quantities_end_to_end(built_copy):
    """A table of overrides the BI app writes (var quantity_overrides_table), rebuilt on the
    first run's warehouse: the published forecast shows the statistical forecast, the
    override and the final figure; the run names the first as its previous run, with the
    change against its forecast; fct_forecast_runs lists both. A bad row (unknown series,
    period outside the horizon, negative quantity) stops the overrides model with one line
    naming the table and row."""
    project = built_copy
    (first_run,) = project.query("select run_id from publication", project.published)[0]
    (a, b) = project.query(
        """select plant_id, product_id, min(period_start) filter (where step = 2),
            any_value(forecast) filter (where step = 2)
        from fct_demand_forecast group by all order by 1, 2 limit 2""",
        project.published,
    )
    _overrides(
        project,
        [
            (a[0], a[1], a[2], a[3] + 100.0, "promotion", "ann"),
            (b[0], b[1], b[2], 0.0, "customer lost", "bob"),
        ],
    )
    vars = FAST_VARS[:-1] + ", quantity_overrides_table: planner_overrides}"
    result = project.dbt("build", vars=vars)
    assert result.returncode == 0, result.output[-4000:]
    rows = project.query(
        """select product_id, step, forecast, statistical_forecast, override_quantity,
            override_reason, override_set_by, previous_run_id, previous_forecast,
            forecast_change
        from fct_demand_forecast where override_quantity is not null order by 1""",
        project.published,
    )
    assert [r[:2] + r[4:8] for r in rows] == [
        (a[1], 2, a[3] + 100.0, "promotion", "ann", first_run),
        (b[1], 2, 0.0, "customer lost", "bob", first_run),
    ]
    for row in rows:
        assert row[2] == row[4]  # the final figure is the override
        assert row[9] == row[2] - row[8]
    (unchanged,) = project.query(
        f"""select count(*) filter (where forecast <> statistical_forecast
            or previous_run_id is distinct from '{first_run}'), count(forecast_change)
        from fct_demand_forecast where override_quantity is null""",
        project.published,
    )
    assert unchanged[0] == 0 and unchanged[1] > 0, unchanged
    (second_run,) = project.query("select run_id from publication", project.published)[0]
    runs = project.query(
        """select run_id, previous_run_id, is_live_for_origin, repeats_previous_run,
            n_changed_forecasts, n_new_forecasts from fct_forecast_runs order by started_at""",
        project.published,
    )
    assert [r[:4] for r in runs] == [
        (first_run, None, False, None),
        (second_run, first_run, True, False),
    ]
    assert runs[1][4:] == (2, 0)  # the two overridden periods; the same origin: none new
    assert runs[0][4] is None and runs[0][5] > 0  # a first run: every row new
    history = project.query(
        "select count(*) from fct_forecast_history where override_quantity is not null"
        f" and run_id = '{second_run}'",
        project.published,
    )
    assert history == [(2,)]

    # the overrides withdrawn, the same data again: every series reuses its forecast, and
    # what it reuses is the statistical forecast, not the final figure of the run before
    _overrides(project, [])
    result = project.dbt("build", vars=vars)
    assert result.returncode == 0, result.output[-4000:]
    again = project.query(
        f"""select d.reason, f.forecast, f.statistical_forecast, f.override_quantity
        from fct_demand_forecast as f inner join int_forecast__decisions as d using (series_id)
        where f.plant_id = '{a[0]}' and f.product_id = '{a[1]}' and f.step = 2""",
    )
    assert again == [("no_new_data", a[3], a[3], None)]

    last_period = project.query(
        "select max(period_start) + 7, min(period_start) from fct_demand_forecast",
        project.published,
    )[0]
    for row, message in [
        (("nowhere", a[1], a[2], 1.0, "r", "ann"), "name no series of this run"),
        ((a[0], a[1], last_period[0], 1.0, "r", "ann"), "is not a forecast period"),
        ((a[0], a[1], last_period[1], -5.0, "r", "ann"), "quantity -5.0 is negative"),
    ]:
        _overrides(project, [(b[0], b[1], b[2], 1.0, "fine", "bob"), row])
        failed = project.dbt("run", "-s", "int_forecast__quantity_overrides", vars=vars)
        assert failed.returncode == 1
        lines = [line for line in failed.output.splitlines() if message in line]
        assert lines and "table planner_overrides, row 2: " in lines[0], failed.output[-3000:]
