"""Launches: forecasts for planned products without orders (demandcast.launch), the
launches input's checks, and the launch rows in the built and published tables."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_DEMO, Project

from demandcast.config import Settings
from demandcast.demo import write_demo
from demandcast.launch import (
    as_arrow,
    backtest_launches,
    forecast_launches,
    group_profiles,
    launch_scores,
)

WEEK = pd.Timedelta(weeks=1)
DATA_START = pd.Timestamp("2024-01-01")  # a Monday


def _history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seven series at plant P: O starts with the data (not a launch); A1..A3 (group a)
    launch in weeks 10, 20 and 30 at 10, 20 and 30 a week; in group b, B1 (100 a week) in
    week 12, B2 (200 a week) in week 16 and the analog X in week 14, at 1, 2, 3, ... a
    week. Data to week 59."""
    rows = []
    starts = {"O": 0, "A1": 10, "A2": 20, "A3": 30, "B1": 12, "B2": 16, "X": 14}
    level = {"O": 5.0, "A1": 10.0, "A2": 20.0, "A3": 30.0, "B1": 100.0, "B2": 200.0}
    for name, start in starts.items():
        weeks = np.arange(start, 60)
        demand = level.get(name)
        y = np.full(len(weeks), demand) if demand else np.arange(1.0, len(weeks) + 1)
        rows.append(
            pd.DataFrame(
                {"series_id": f"P|{name}", "period_start": DATA_START + weeks * WEEK, "demand": y}
            )
        )
    series = pd.DataFrame(
        {
            "series_id": [f"P|{n}" for n in starts],
            "plant_id": "P",
            "product_id": list(starts),
            "product_group": ["a", "a", "a", "a", "b", "b", "b"],
        }
    )
    return pd.concat(rows, ignore_index=True), series


def test_a_launch_follows_its_groups_curve_or_its_analog_scaled_and_is_zero_before_it():
    history, series = _history()
    settings = Settings(horizon=4, levels=(80, 95))
    origin = DATA_START + 59 * WEEK
    launches = pd.DataFrame(
        {
            "series_id": ["P|NEW", "P|ANA", "P|A1", "P|ANO"],
            "plant_id": "P",
            "product_id": ["NEW", "ANA", "A1", "ANO"],
            "launch_date": [
                origin + 2 * WEEK + pd.Timedelta(days=3),
                origin + WEEK,
                origin,
                origin + WEEK,
            ],
            "analog_product_id": [None, "X", None, "O"],
        }
    )
    groups = pd.Series({"NEW": "a", "ANA": "a", "A1": "a", "X": "b", "ANO": "a", "O": "a"})
    out = forecast_launches(launches, history, series, groups, origin, settings)

    # A1 has orders: it is a series, not a launch
    assert set(out["series_id"]) == {"P|NEW", "P|ANA", "P|ANO"}
    # the analog O started with the data: its first weeks are no launch; the group's curve
    ano = out[out["series_id"] == "P|ANO"].set_index("step")
    assert (ano["model_name"] == "LaunchCurve").all()
    assert ano["forecast"].tolist() == pytest.approx([20.0] * 4)
    assert "the analog O's series start with the data" in ano.loc[1, "fallback_reason"]
    assert (out["method"] == "launch").all()
    new = out[out["series_id"] == "P|NEW"].set_index("step")
    # launched in the week of step 2: nothing before; then the mean of the group's three
    # launch curves (10, 20, 30 a week; O started with the data: not a launch)
    assert new.loc[1, "forecast"] == 0.0 and new.loc[1, "hi_95"] == 0.0
    assert new.loc[[2, 3, 4], "forecast"].tolist() == pytest.approx([20.0, 20.0, 20.0])
    assert (new["model_name"] == "LaunchCurve").all()
    assert "launch curve of group a (3 launches" in new.loc[1, "fallback_reason"]
    assert (
        "launch on " + str((origin + 2 * WEEK + pd.Timedelta(days=3)).date())
        in (new.loc[1, "fallback_reason"])
    )
    # intervals: the empirical quantiles of the three curves, nested around the forecast
    assert new.loc[3, "lo_95"] <= new.loc[3, "lo_80"] <= 20 <= new.loc[3, "hi_80"]
    assert new.loc[3, "hi_80"] <= new.loc[3, "hi_95"] <= 30
    assert new.loc[3, "lo_95"] >= 10 and new.loc[3, "hi_95"] - new.loc[3, "lo_95"] > 15

    ana = out[out["series_id"] == "P|ANA"].set_index("step")
    # launched in step 1's week: X's first weeks 1, 2, 3, 4, scaled by group a's median
    # launch level (20) over group b's (the median of 100, 200 and X's 2.5)
    assert ana["forecast"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert (
        "scaled by 0.2: group a's median launch level over group b's"
        in (ana.loc[1, "fallback_reason"])
    )
    assert (ana["model_name"] == "LaunchAnalog").all()
    assert "first periods of P|X" in ana.loc[1, "fallback_reason"]
    assert (ana["hi_95"] >= ana["hi_80"]).all() and (ana["hi_80"] >= ana["forecast"]).all()
    # its band: group b's quantiles over its mean (of 100, 200 and X's k-th week), each week,
    # around X's own weeks; strictly around the point, not clamped onto it
    b = np.array([[100.0, 200.0, k] for k in (1, 2, 3, 4)])
    for lv in (80, 95):
        a = (1 - lv / 100) / 2
        for side, q in (("lo", a), ("hi", 1 - a)):
            want = ana["forecast"].to_numpy() * np.quantile(b, q, axis=1) / b.mean(axis=1)
            np.testing.assert_allclose(ana[f"{side}_{lv}"].to_numpy(), want, rtol=1e-9)
    assert (ana["lo_80"] < ana["forecast"]).all() and (ana["forecast"] < ana["hi_80"]).all()
    # the warehouse types, with rows and without
    for frame in (out, out.iloc[:0]):
        table = as_arrow(frame, settings.levels)
        assert [str(t) for t in table.schema.types[:4]] == [
            "string",
            "date32[day]",
            "int64",
            "double",
        ]
        assert table.num_rows == len(frame)


def test_steps_no_curve_reached_take_the_last_reached_step_without_numpy_warnings():
    # two launches of two and one periods, a horizon of four: steps 3 and 4 have no curve
    curves = pd.DataFrame(
        [[1.0, 2.0, np.nan, np.nan], [3.0, np.nan, np.nan, np.nan]], index=["P|a", "P|b"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice", "All-NaN slice"
        prof = group_profiles(curves, pd.Series({"P|a": "g", "P|b": "g"}), [80])["g"]
    assert prof["mean"].tolist() == [2.0, 2.0, 2.0, 2.0]
    assert prof["level"] == 2.25  # the median of the curves' means, 1.5 and 3
    assert prof["hi_80"].tolist() == pytest.approx([2.8, 2.0, 2.0, 2.0])


def test_backtest_uses_only_the_launches_before_each_and_scores_against_a_naive_level():
    history, series = _history()
    groups = series.set_index("series_id")["product_group"]
    rows = backtest_launches(history, groups, h=4, since=DATA_START + 25 * WEEK)
    # only A3 (week 30) launched after `since`; group a has two curves before it (A1, A2),
    # fewer than three, so every launch before week 30: A1, A2, B1, B2, X
    assert set(rows["series_id"]) == {"P|A3"}
    assert rows["n_curves"].iloc[0] == 5
    assert rows["forecast"].tolist() == pytest.approx([(330 + k) / 5 for k in (1, 2, 3, 4)])
    assert rows["naive"].tolist() == [20.0] * 4  # the median first week of those five
    scores = launch_scores(rows)
    assert scores["series"] == 1 and scores["periods"] == 4
    assert scores["wape_naive"] == pytest.approx(1 / 3)
    assert scores["bias_forecast"] == pytest.approx((sum(rows["forecast"]) - 120) / 120)


@pytest.fixture(scope="module")
def launched(built, tmp_path_factory) -> Project:
    """The small demo plant (the `built` fixture's: the same orders) with its launches file,
    built once on a copy of the shared build's warehouse, as a plant adds the file to a
    warehouse that has run: the one build of this file (the other builds leave the optional
    file out); from the shared build's saved parse."""
    work = tmp_path_factory.mktemp("launched")
    write_demo(work / "raw", **{**SMALL_DEMO, "launches": True})
    project = built.copy_to(work, raw=work / "raw")
    result = project.dbt("build")
    assert result.returncode == 0, result.output[-4000:]
    return project


def test_the_built_demo_forecasts_its_planned_launches_in_the_published_tables(launched):
    built = launched
    forecast = built.query(
        "select series_id, model_name, count(*), min(step), sum(forecast),"
        " bool_and(hi_95 >= forecast),"
        " bool_and(plant_name is not null and product_name is not null)"
        " from fct_demand_forecast where method = 'launch' group by all order by 1",
        built.published,
    )
    # the small demo's two roll-outs to its second plant (demo.py): one with an analog, its
    # own first weeks at the first plant, where it launched inside the history (the
    # first weeks of a series that starts with the data are no launch), one on its group's
    # launch curve
    assert [(r[0], r[1], r[2], r[3]) for r in forecast] == [
        ("PL02|P00015", "LaunchCurve", 13, 1),
        ("PL02|P00020", "LaunchAnalog", 13, 1),
    ]
    (why,) = built.query(
        "select distinct fallback_reason from fct_demand_forecast where series_id = 'PL02|P00020'",
        built.published,
    )[0]
    assert "the first periods of PL01|P00020" in why, why
    assert all(r[4] > 0 and r[5] and r[6] for r in forecast)
    # every level counts them: the launches are base rows and PL02's total holds them
    levels = built.query(
        "select (select sum(forecast) from fct_demand_forecast_levels where level = 'total'),"
        " (select sum(forecast) from fct_demand_forecast),"
        " (select sum(forecast) from fct_demand_forecast_levels where level = 'plant'"
        "  and level_key = 'PL02'),"
        " (select sum(forecast) from fct_demand_forecast where plant_id = 'PL02'),"
        " (select count(*) from fct_demand_forecast_levels where level = 'plant_product'"
        "  and level_key in ('PL02|P00015', 'PL02|P00020'))",
        built.published,
    )[0]
    assert levels[0] == pytest.approx(levels[1]) and levels[2] == pytest.approx(levels[3])
    assert levels[4] == 26
    exceptions = built.query(
        "select series_id, model_name, lifecycle from fct_forecast_exceptions"
        " where exception_type = 'launch' order by 1",
        built.published,
    )
    assert exceptions == [
        ("PL02|P00015", "LaunchCurve", "launch"),
        ("PL02|P00020", "LaunchAnalog", "launch"),
    ]
    # the report lists them, each under its product and plant
    from demandcast import report

    page = built.db.parent / "launches.html"
    report.write_report(built.published, page, max_series=1)
    launches = page.read_text().split('id="launches"')[1].split("<h2")[0]
    assert "2 planned launch(es)" in launches
    assert launches.count("<tr>") == 3  # the header and one row per launch
    dates = built.query(
        "select launch_date from dim_series where lifecycle = 'launch'", built.published
    )
    assert len(dates) == 2 and all(f"<td>{d}</td>" in launches for (d,) in dates)
    history = built.query(
        "select count(*) from fct_forecast_history where method = 'launch'", built.published
    )
    assert history == [(26,)]
    # the launches of the last two years have orders by now: series, not launches
    ordered = built.query(
        "select count(*) from stg_erp__launches join dim_series using (series_id)"
        " where lifecycle <> 'launch'"
    )
    assert ordered[0][0] > 0
    # the planned ones without orders are in dim_series too, as fct_demand_forecast has them
    planned = built.query(
        "select count(*), count(d.series_id), bool_and(d.lifecycle = 'launch')"
        " from (select distinct series_id from fct_demand_forecast where method = 'launch') as f"
        " left join dim_series as d using (series_id)"
    )
    assert planned[0][0] > 0 and planned[0][0] == planned[0][1] and planned[0][2]
    gate = built.query(
        "select count(*), bool_and(success) from gate_results where suite = 'forecast__launches'"
    )
    assert gate[0][0] > 0 and gate[0][1]


BAD = [
    ("plant_id", "'PL99'", "column plant_id holds 'PL99', which is a plant of neither"),
    ("product_id", "'P99999'", "column product_id holds 'P99999', which is not a product"),
    (
        "launch_date",
        "'2026-02-30'",
        "column launch_date holds '2026-02-30', which is not a valid date",
    ),
    (
        "analog_product_id",
        "'P99999'",
        "column analog_product_id holds 'P99999', which is no product with orders",
    ),
]


def test_a_bad_launches_file_stops_the_run_naming_file_row_and_column(launched, tmp_path):
    """Each bad value in row 2 of a launches CSV stops stg_erp__launches in one line;
    without the file the launch models build empty."""
    built_copy = launched.copy_to(tmp_path)
    launches = built_copy.query(
        f"select plant_id, product_id, cast(launch_date as varchar) as launch_date,"
        f" analog_product_id from '{built_copy.raw}/launches.parquet'"
    )
    frame = pd.DataFrame(
        launches, columns=["plant_id", "product_id", "launch_date", "analog_product_id"]
    )
    for column, value, said in BAD:
        raw = tmp_path / column
        shutil.copytree(built_copy.raw, raw, ignore=shutil.ignore_patterns("launches.*"))
        bad = frame.copy()
        bad.loc[1, column] = value.strip("'")
        bad.to_csv(raw / "launches.csv", index=False)
        result = built_copy.dbt("run", "-s", "stg_erp__launches", raw=raw)
        assert result.returncode == 1, result.output[-2000:]
        assert f"{raw}/launches.csv, row 2: {said}" in result.output, result.output[-3000:]
    raw = tmp_path / "absent"
    shutil.copytree(built_copy.raw, raw, ignore=shutil.ignore_patterns("launches.*"))
    result = built_copy.dbt("run", "-s", "stg_erp__launches", "int_forecast__launches", raw=raw)
    assert result.returncode == 0, result.output[-3000:]
    assert built_copy.query("select count(*) from int_forecast__launches") == [(0,)]
    types = built_copy.query(
        "select column_name, column_type from (describe int_forecast__launches)"
        " where column_name in ('period_start', 'step', 'forecast', 'lo_80')"
    )
    assert dict(types) == {
        "period_start": "DATE",
        "step": "BIGINT",
        "forecast": "DOUBLE",
        "lo_80": "DOUBLE",
    }
