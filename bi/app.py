"""demandcast's BI app for planners: a Streamlit app over the published copy, read-only.

`make bi` serves it on http://127.0.0.1:8501 over $(DEMANDCAST_PUBLISHED) (default
warehouse/dev_published.duckdb); by hand: `.venv/bin/streamlit run bi/app.py -- --db FILE`.
Every page's queries are in one place: the page's function below, or, for the exceptions
the overview counts and the exceptions page lists, the files of bi/queries/. They read the
published tables under the names of `TABLES` (schema `demandcast`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import altair as alt
import duckdb
import pandas as pd
import streamlit as st

HERE = Path(__file__).resolve().parent
DEFAULT_DB = HERE.parent / "warehouse" / "dev_published.duckdb"

# The published tables the pages read, as views of schema `demandcast`.
TABLES = {
    "publication": "select * from pub.publication",
    "gates": "select * from pub.publication_gates",
    # link: the series' page (plant -> product group -> product)
    "series": "select *, '/plants?plant=' || url_encode(plant_id) || '&group='"
    " || url_encode(coalesce(product_group, 'none')) || '&product=' || url_encode(product_id)"
    " as link from pub.dim_series",
    "forecast": "select * from pub.fct_demand_forecast",
    "history": "select series_id, plant_id, product_id, period_start, demand"
    " from pub.fct_demand_history",
    "forecast_history": "select run_id, forecast_origin, series_id, period_start, forecast"
    " from pub.fct_forecast_history",
    "exceptions": "select * from pub.fct_forecast_exceptions",
    "registry": "select * from pub.fct_model_registry"
    " where run_id = (select run_id from pub.publication)",
    "drift": "select * from pub.mon_demand_drift",
    "accuracy": "select * from pub.mon_forecast_accuracy",
}
EXCEPTIONS = {  # bi/queries/<name>.sql: (title, what it lists)
    "forecast_changes": (
        "Biggest changes since the previous run",
        "This run's forecast against the previous published run's, over the periods both "
        "cover, largest change in units first.",
    ),
    "runner_up": (
        "Runner-up far better than the champion",
        "The backtest scored the runner-up far better than the model kept: its score at "
        "most runner_up_flag_ratio (default 0.5) times the champion's, the runner_up rows of "
        "fct_forecast_exceptions, as the report flags them (the class champion stays unless "
        "another model beats it by the selection margin: see reason).",
    ),
    "outside_range": (
        "Forecasts outside the history's range",
        "A forecast period above the highest period of demand the series ever had, or "
        "below its lowest.",
    ),
    "drifted": (
        "Drift flags",
        "Recent demand against the series' own past: level shift in standard deviations, "
        "spread ratio, change in the share of periods without demand; and this run's "
        "decision (reselect: the model was chosen again on the changed history, listed last).",
    ),
    "lifecycle": (
        "Inactive, new and cold-start series",
        "Series that are new, silent, planned launches, of a product the products file does "
        "not list (unknown_product), without a champion's forecast, or forecast by their "
        "champion without a member that failed or ran away (member_left_out).",
    ),
}
LINK = st.column_config.LinkColumn("Series", display_text="open")


def published_path() -> Path:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=os.environ.get("DEMANDCAST_PUBLISHED") or DEFAULT_DB)
    return Path(parser.parse_known_args()[0].db).resolve()


def open_published(path: str) -> duckdb.DuckDBPyConnection:
    """The published copy attached read-only, its tables as the views every query reads
    (schema demandcast)."""
    con = duckdb.connect()
    con.execute(f"attach '{path}' as pub (read_only)")
    con.execute("create schema demandcast")
    for name, sql in TABLES.items():
        con.execute(f"create view demandcast.{name} as {sql}")
    return con


@st.cache_resource(max_entries=1)
def _connect(path: str, stamp: float) -> duckdb.DuckDBPyConnection:
    """open_published, once per copy (a new run renames a new file into place, with a new
    stamp)."""
    try:
        con = open_published(path)
    except duckdb.Error as e:  # not a published copy, or one from before this app
        st.error(f"{path} is not a published copy this app can read: {e}".splitlines()[0])
        st.stop()
    return con


@st.cache_data(show_spinner=False, max_entries=500)
def _query(path: str, stamp: float, sql: str, params: tuple) -> pd.DataFrame:
    return _connect(path, stamp).cursor().execute(sql, list(params)).df()


def q(sql: str, *params) -> pd.DataFrame:
    path = published_path()
    if not path.is_file():
        st.error(f"{path} does not exist: run `make demo`, or give the published copy (--db)")
        st.stop()
    return _query(str(path), path.stat().st_mtime, sql, params)


def exception_rows(name: str) -> pd.DataFrame:
    return q((HERE / "queries" / f"{name}.sql").read_text())


def _num(value) -> str:
    return "none" if pd.isna(value) else f"{value:.3f}"


def _series_chart(frame: pd.DataFrame, title: str) -> alt.LayerChart:
    """History, forecast and, where the frame has them, the 80 % band and 95 % lines."""
    base = alt.Chart(frame).encode(x=alt.X("period_start:T", title=None))
    layers = []
    if "lo_80" in frame:
        layers += [
            base.mark_area(opacity=0.25, color="#f58518").encode(
                y=alt.Y("lo_80:Q"), y2="hi_80:Q", tooltip=["period_start:T", "lo_80", "hi_80"]
            ),
            base.mark_line(strokeDash=[2, 3], color="#f58518").encode(y="lo_95:Q"),
            base.mark_line(strokeDash=[2, 3], color="#f58518").encode(y="hi_95:Q"),
        ]
    layers += [
        base.mark_line(color="#4c78a8").encode(
            y=alt.Y("actual:Q", title="units"), tooltip=["period_start:T", "actual"]
        ),
        base.mark_line(color="#f58518", strokeWidth=2.5).encode(
            y="forecast:Q", tooltip=["period_start:T", "forecast"]
        ),
    ]
    return alt.layer(*layers).properties(title=title, height=300)


def attention_counts() -> pd.DataFrame:
    """The overview's count of each exception list: forecast changes of 25 % or more, and of
    the drift flags those whose model this run did not select again (the report's rule for
    Needs a look: drift a re-selection answered is no longer a question)."""
    changes = exception_rows("forecast_changes")
    rows = [(EXCEPTIONS["forecast_changes"][0] + " (25 % or more)",
             int((changes["change_share"].abs() >= 0.25).sum()))]  # fmt: skip
    for name in list(EXCEPTIONS)[1:]:
        listed = exception_rows(name)
        if name == "drifted":
            rows.append((EXCEPTIONS[name][0] + " (model not selected again this run)",
                         int((listed["decision"] != "reselect").sum())))  # fmt: skip
        else:
            rows.append((EXCEPTIONS[name][0], len(listed)))
    return pd.DataFrame(rows, columns=["exception", "series"])


def overview() -> None:
    run = q("select * from demandcast.publication").iloc[0]
    totals = q(
        "select count(distinct series_id) as series, count(distinct plant_id) as plants,"
        " sum(forecast) as units from demandcast.forecast"
    ).iloc[0]
    by_run = q(
        "select forecast_origin, count(distinct series_id) as series,"
        " avg(abs_error / mase_scale) as mase,"
        " avg(seasonal_naive_abs_error / mase_scale) as seasonal_naive_mase,"
        " 1 - sum(abs_error) / nullif(sum(seasonal_naive_abs_error), 0) as value_added,"
        " sum(abs_error) / nullif(sum(abs(demand)), 0) as wape,"
        " sum(error) / nullif(sum(abs(demand)), 0) as bias,"
        " avg(within_80::int) as coverage_80, avg(within_95::int) as coverage_95"
        " from demandcast.accuracy group by forecast_origin order by forecast_origin"
    )
    gates = q(
        "select suite, any_value(mode) as mode, count(*) as expectations,"
        " count(*) filter (where success) as passed,"
        " count(*) filter (where not success) as failed_warn_only"
        " from demandcast.gates group by suite order by suite"
    )
    attention = attention_counts()

    st.title("Demand forecast")
    st.caption(
        f"Run {run.run_id} on target {run.target_name}: a {run.frequency}ly forecast of "
        f"{run.horizon} periods from {run.forecast_start:%Y-%m-%d}, on demand from "
        f"{run.data_start_date:%Y-%m-%d} to {run.data_end_date:%Y-%m-%d}, published "
        f"{run.published_at:%Y-%m-%d %H:%M}."
    )
    st.subheader("Needs attention")
    st.dataframe(attention, hide_index=True)
    st.page_link(PAGES["exceptions"], label="Open the exceptions", icon="⚠️")
    left, middle, right = st.columns(3)
    left.metric("Series forecast", f"{int(totals.series):,}")
    middle.metric("Plants", f"{int(totals.plants):,}")
    right.metric("Units over the horizon", f"{totals.units:,.0f}")

    st.subheader("Accuracy, run by run")
    st.caption(
        "Each past run's forecast scored on the actuals that have since arrived. MASE: lower "
        "is better; value added: the share of the seasonal naive's error the forecast "
        "removed (above 0, the forecast beat it)."
    )
    if by_run.empty:
        st.info("No past forecast has its actuals yet.")
    else:
        long = by_run.melt("forecast_origin", ["mase", "seasonal_naive_mase"], "measure")
        st.altair_chart(
            alt.Chart(long).mark_line(point=True).encode(
                x=alt.X("forecast_origin:T", title="forecast origin"),
                y=alt.Y("value:Q", title="MASE"), color="measure:N",
            ).properties(height=220),
            width="stretch",
        )  # fmt: skip
        st.dataframe(by_run, hide_index=True)
    st.subheader("The run's gates")
    st.caption("Every Great Expectations suite the run passed; warn-level failures counted.")
    st.dataframe(gates, hide_index=True)


def exceptions() -> None:
    st.title("Exceptions")
    st.caption("The series to look at before the forecast goes to supply planning, worst first.")
    for name, (title, what) in EXCEPTIONS.items():
        rows = exception_rows(name)
        st.subheader(f"{title} ({len(rows)})")
        st.caption(what)
        st.dataframe(rows.head(200), hide_index=True, column_config={"link": LINK})


def accuracy() -> None:
    measures = (
        "count(distinct a.series_id) as series, avg(a.abs_error / a.mase_scale) as mase,"
        " avg(a.seasonal_naive_abs_error / a.mase_scale) as seasonal_naive_mase,"
        " 1 - sum(a.abs_error) / nullif(sum(a.seasonal_naive_abs_error), 0) as value_added,"
        " sum(a.error) / nullif(sum(abs(a.demand)), 0) as bias"
    )
    by_class = q(
        f"select a.forecast_origin, a.demand_class, {measures} from demandcast.accuracy as a"
        " group by all order by all"
    )
    by_group = q(
        f"select a.forecast_origin, coalesce(s.product_group, 'none') as product_group, {measures}"
        " from demandcast.accuracy as a join demandcast.series as s using (series_id)"
        " group by all order by all"
    )
    by_step = q(
        "select step, avg(abs_error / mase_scale) as mase,"
        " avg(seasonal_naive_abs_error / mase_scale) as seasonal_naive_mase"
        " from demandcast.accuracy group by step order by step"
    )
    st.title("Accuracy")
    st.caption(
        "Past forecasts scored once their actuals arrived, run by run. MASE: mean absolute "
        "error over the series' own seasonal-naive error (lower is better). Forecast value "
        "added: the share of the seasonal naive forecast's error (same origin, same periods) "
        "the forecast removed."
    )
    if by_class.empty:
        st.info("No past forecast has its actuals yet.")
        return
    for frame, key, title in (
        (by_class, "demand_class", "demand class"),
        (by_group, "product_group", "product group"),
    ):
        st.subheader(f"By {title}")
        left, right = st.columns(2)
        left.altair_chart(
            alt.Chart(frame).mark_line(point=True).encode(
                x=alt.X("forecast_origin:T", title="forecast origin"),
                y=alt.Y("mase:Q", title="MASE"), color=f"{key}:N",
            ).properties(height=240, title=f"MASE by {title}"),
            width="stretch",
        )  # fmt: skip
        right.altair_chart(
            alt.Chart(frame).mark_bar().encode(
                x=alt.X(f"{key}:N", title=None), xOffset="forecast_origin:N",
                y=alt.Y("value_added:Q", title="value added", axis=alt.Axis(format="%")),
                color=alt.Color("forecast_origin:N", title="origin"),
            ).properties(height=240, title="Forecast value added over the seasonal naive"),
            width="stretch",
        )  # fmt: skip
        st.dataframe(frame, hide_index=True)
    st.subheader("By horizon step")
    st.altair_chart(
        alt.Chart(by_step.melt("step", ["mase", "seasonal_naive_mase"], "measure"))
        .mark_line(point=True)
        .encode(x="step:Q", y=alt.Y("value:Q", title="MASE"), color="measure:N")
        .properties(height=220),
        width="stretch",
    )


def plants() -> None:
    series = q("select * from demandcast.series order by plant_id, product_group, product_id")
    series["product_group"] = series["product_group"].fillna("none")
    params = st.query_params
    st.title("Plants")
    left, middle, right = st.columns(3)

    def pick(where, column, label, frame, key, first):
        """A select box kept in the page's address (?plant=&group=&product=)."""
        options = [first, *sorted(frame[column].dropna().unique())]
        wanted = params.get(key)
        choice = where.selectbox(
            label, options, index=options.index(wanted) if wanted in options else 0
        )
        if choice == first:
            params.pop(key, None)
            return None
        params[key] = choice
        return choice

    plant = pick(left, "plant_id", "Plant", series, "plant", "(pick a plant)")
    if plant is None:
        plants = q(
            "select plant_id, any_value(plant_name) as plant_name, count(*) as series,"
            " count(distinct product_group) as product_groups, sum(total_demand) as demand"
            " from demandcast.series group by plant_id order by plant_id"
        )
        st.dataframe(plants, hide_index=True)
        return
    group = pick(middle, "product_group", "Product group", series[series.plant_id == plant],
                 "group", "(all groups)")  # fmt: skip
    in_group = series[
        (series.plant_id == plant) & ((group is None) | (series.product_group == group))
    ]
    product = pick(right, "product_id", "Product", in_group, "product", "(all products)")
    if product is None:
        _totals(plant, group)
        return
    _series(plant, product)


def _totals(plant: str, group: str | None) -> None:
    where = "s.plant_id = ? and (? is null or coalesce(s.product_group, 'none') = ?)"
    totals = q(
        "select h.period_start, sum(h.demand) as actual, null::double as forecast"
        " from demandcast.history as h join demandcast.series as s using (series_id)"
        f" where {where} group by h.period_start"
        " union all select f.period_start, null, sum(f.forecast)"
        " from demandcast.forecast as f join demandcast.series as s using (series_id)"
        f" where {where} group by f.period_start order by 1",
        plant, group, group, plant, group, group,
    )  # fmt: skip
    products = q(
        "select s.product_group, s.product_id, s.product_name, s.demand_class, s.lifecycle,"
        " s.total_demand, f.forecast, f.model_name, s.link"
        " from demandcast.series as s left join (select series_id, sum(forecast) as forecast,"
        " any_value(model_name) as model_name from demandcast.forecast group by series_id)"
        f" as f using (series_id) where {where} order by s.product_group, s.product_id",
        plant, group, group,
    )  # fmt: skip
    label = f"plant {plant}" + (f", group {group}" if group else ", all products")
    st.altair_chart(_series_chart(totals, f"Demand and forecast, {label}"), width="stretch")
    st.dataframe(products, hide_index=True, column_config={"link": LINK})


def _series(plant: str, product: str) -> None:
    info = q(
        "select s.product_name, s.demand_class, s.lifecycle, f.model_name, f.method,"
        " f.units, r.champion, r.champion_score, r.runner_up, r.runner_up_score, r.reason,"
        " r.decision from demandcast.series as s"
        " left join demandcast.registry as r using (series_id)"
        " left join (select series_id, any_value(model_name) as model_name,"
        " any_value(method) as method, sum(forecast) as units from demandcast.forecast"
        " group by series_id) as f using (series_id)"
        " where s.plant_id = ? and s.product_id = ?",
        plant, product,
    ).iloc[0]  # fmt: skip
    chart = q(
        "select period_start, demand as actual, null::double as forecast,"
        " null::double as lo_80, null::double as hi_80, null::double as lo_95,"
        " null::double as hi_95 from demandcast.history where plant_id = ? and product_id = ?"
        " union all select period_start, null, forecast, lo_80, hi_80, lo_95, hi_95"
        " from demandcast.forecast where plant_id = ? and product_id = ? order by 1",
        plant, product, plant, product,
    )  # fmt: skip
    past = q(
        "select forecast_origin, any_value(model_name) as model_name, count(*) as periods,"
        " sum(forecast) as forecast, sum(demand) as actual, avg(abs_error / mase_scale) as mase,"
        " avg(within_80::int) as coverage_80 from demandcast.accuracy"
        " where plant_id = ? and product_id = ? group by forecast_origin order by 1",
        plant, product,
    )  # fmt: skip
    st.subheader(f"{product} {info.product_name or ''}")
    st.caption(
        f"{info.demand_class} demand, {info.lifecycle}; forecast by {info.model_name} "
        f"({info.method}), {info.units or 0:,.0f} units over the horizon. Champion "
        f"{info.champion}, runner-up {info.runner_up} (backtest scores "
        f"{_num(info.champion_score)} and {_num(info.runner_up_score)}): {info.reason}. "
        f"This run: {info.decision}."
    )
    st.altair_chart(
        _series_chart(chart, "History, forecast, 80 % band and 95 % lines"),
        width="stretch",
    )
    forecast = chart[chart.forecast.notna()].drop(columns="actual")
    st.dataframe(
        forecast.assign(period_start=forecast.period_start.dt.date).round(1), hide_index=True
    )
    st.subheader("Past forecasts against what happened")
    st.dataframe(past, hide_index=True)


st.set_page_config(page_title="demandcast", layout="wide")
PAGES = {
    "overview": st.Page(overview, title="Overview", url_path="overview", default=True),
    "exceptions": st.Page(exceptions, title="Exceptions", url_path="exceptions"),
    "accuracy": st.Page(accuracy, title="Accuracy", url_path="accuracy"),
    "plants": st.Page(plants, title="Plants and products", url_path="plants"),
}
st.navigation(list(PAGES.values())).run()
