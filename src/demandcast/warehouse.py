"""The edge between dbt and the package: the run's settings from the warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from demandcast.config import Settings
from demandcast.frames import SeriesBatches


@dataclass(frozen=True)
class Run:
    """One row of int_run__context (or int_run__started): who, when and how."""

    run_id: str
    values: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
            return default
        return value

    @property
    def settings(self) -> Settings:
        """The forecasting settings, validated, with the var named on error."""
        return Settings.from_mapping({key: self.get(key) for key in self.values})


def read_run(relation: Any) -> Run:
    """Read the one-row run table from a dbt relation (DuckDB) or a DataFrame."""
    frame = relation if isinstance(relation, pd.DataFrame) else relation.df()
    if len(frame) != 1:
        raise ValueError(f"expected one run row, found {len(frame)}")
    row = {k: v.item() if isinstance(v, np.generic) else v for k, v in frame.iloc[0].items()}
    return Run(run_id=str(row["run_id"]), values=row)


SERIES_COLUMNS = "series_id, period_start, demand"


def series_batches(con: Any, series: Any, size: int, ids: Any = None) -> SeriesBatches:
    """The series of a DuckDB relation (a dbt ref) or frame, `size` whole series a batch
    in series_id order, each read as Arrow when it is reached: the relation's rows of the
    batch's ids (a semi-join), series_id, period_start and demand. `ids`: only these."""
    rel = con.from_df(series) if isinstance(series, pd.DataFrame) else series
    have = (str(r[0]) for r in rel.project("series_id").distinct().fetchall())
    wanted = None if ids is None else {str(i) for i in ids}
    keep = sorted(i for i in have if wanted is None or i in wanted)

    def read(chunk: list[str]) -> pd.DataFrame:
        keys = con.from_arrow(pa.table({"series_id": chunk}))
        batch = rel.join(keys, "series_id", how="semi").project(SERIES_COLUMNS)
        table = batch.order("series_id, period_start").to_arrow_table()
        return table.to_pandas(date_as_object=False)

    return SeriesBatches(keep, read, size)


CALIBRATION_TABLE = "main.int_forecast__calibration"
"""Pooled residual quantiles of the latest backtest, written beside int_forecast__backtest."""


def read_calibration(con: Any) -> pd.DataFrame | None:
    """The calibration table, or None before any backtest wrote one."""
    found = table_exists(con, "int_forecast__calibration")
    return con.execute(f"select * from {CALIBRATION_TABLE}").df() if found else None


# --- the memory of earlier runs (pipeline.py) ---------------------------------------

REGISTRY = "main.fct_model_registry"
"""The model registry: per published run and live series, the model and what it rests on."""
BACKTEST_MEMORY = "main.demandcast_backtest_memory"
"""Every published run's backtest rows of the series it backtested, with their scaled
residuals; begin_run removes the rows of runs that were never published."""
CALIBRATION_MEMORY = "main.demandcast_calibration_memory"
"""Every published run's calibration table (int_forecast__calibration), by run_id."""
_BACKTEST_MEMORY_DDL = f"""
create table if not exists {BACKTEST_MEMORY} (
    run_id varchar, settings_hash varchar, backtested_at timestamptz, backtest_origin date,
    series_id varchar, model_name varchar, demand_class varchar, n_windows bigint,
    mae double, rmse double, bias double, smape double, wape double, mase double,
    rmsse double, status varchar, error_message varchar, residuals blob, members varchar
)"""
_BACKTEST_MEMORY_MIGRATE = f"alter table {BACKTEST_MEMORY} add column if not exists members varchar"


def _run(con: Any, sql: str, params: list | None = None) -> None:
    """A statement run to the end (DuckDB wants a result fetched before the next call)."""
    con.execute(sql, params or []).fetchall()


def table_exists(con: Any, name: str) -> bool:
    """Whether main.<name> exists (asked of DuckDB, not dbt's cache)."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'main' and table_name = ?",
            [name],
        ).fetchall()[0][0]
    )


def table_columns(con: Any, name: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'main' and table_name = ? order by ordinal_position",
            [name],
        ).fetchall()
    ]


def write_calibration(con: Any, table: pd.DataFrame, run_id: str | None = None) -> None:
    """Replace the calibration table with this run's quantiles; with a run id, also keep
    them in the calibration memory (a past run's intervals can be rebuilt)."""
    con.register("_calibration_new", table)
    _run(con, f"create or replace table {CALIBRATION_TABLE} as select * from _calibration_new")
    if run_id is not None:
        if not table_exists(con, "demandcast_calibration_memory"):
            _run(
                con,
                f"create table {CALIBRATION_MEMORY} as select "
                "cast(null as varchar) as run_id, * from _calibration_new limit 0",
            )
        have = set(table_columns(con, "demandcast_calibration_memory"))
        for col in table.columns:  # a new interval level: its columns, null in older rows
            if col not in have:
                _run(con, f'alter table {CALIBRATION_MEMORY} add column "{col}" double')
        _run(con, f"delete from {CALIBRATION_MEMORY} where run_id = ?", [run_id])
        _run(
            con,
            f"insert into {CALIBRATION_MEMORY} by name select ? as run_id, * from _calibration_new",
            [run_id],
        )
    con.unregister("_calibration_new")


def append_backtest_memory(con: Any, frame: pd.DataFrame) -> None:
    """Add this run's backtest rows (and residuals) to the memory."""
    _run(con, _BACKTEST_MEMORY_DDL)
    _run(con, _BACKTEST_MEMORY_MIGRATE)  # a memory from before ComboLearned
    if frame.empty:
        return
    con.register("_backtest_new", frame)
    _run(con, f"insert into {BACKTEST_MEMORY} by name select * from _backtest_new")
    con.unregister("_backtest_new")


def read_backtest_memory(
    con: Any, settings_hash: str, series_ids: Any, residuals: bool = True
) -> pd.DataFrame:
    """Per series, the rows of its latest backtest under these settings (every candidate)."""
    if not table_exists(con, "demandcast_backtest_memory"):
        _run(con, _BACKTEST_MEMORY_DDL)  # the first run: an empty memory
    _run(con, _BACKTEST_MEMORY_MIGRATE)
    ids = pd.DataFrame({"series_id": pd.Series(list(series_ids), dtype="object").astype(str)})
    con.register("_memory_ids", ids)
    cols = "m.*" if residuals else "m.* exclude (residuals)"
    frame = con.execute(
        f"""
        with latest as (
            select series_id, arg_max(run_id, backtested_at) as run_id
            from {BACKTEST_MEMORY}
            where settings_hash = ? and series_id in (select series_id from _memory_ids)
            group by series_id
        )
        select {cols}
        from {BACKTEST_MEMORY} as m
        inner join latest using (series_id, run_id)
        order by m.series_id
        """,
        [settings_hash],
    ).df()
    con.unregister("_memory_ids")
    return frame


def _made_forecast(con: Any) -> str:
    """The filter of registry rows whose run made the series' forecast (did not reuse it)."""
    if "decision" in table_columns(con, "fct_model_registry"):
        return "decision is distinct from 'reuse'"
    return "true"  # a registry from before retraining: no run reused a forecast


def read_previous_state(con: Any) -> pd.DataFrame:
    """Per series, its latest row of fct_model_registry (published runs only: begin_run
    removed the others), whether that run's forecast of it is on record, and
    forecast_run_id: the run that made that forecast (the latest run that did not reuse
    its last one; a reuse carries its previous run's forecast, made there or earlier)."""
    if not table_exists(con, "fct_model_registry"):
        return pd.DataFrame(columns=["series_id"])
    forecast = (
        "exists (select 1 from main.fct_forecast_history as h"
        " where h.run_id = r.run_id and h.series_id = r.series_id)"
        if table_exists(con, "fct_forecast_history")
        else "false"
    )
    made = _made_forecast(con)
    return con.execute(
        f"""
        with r as (
            select *
            from {REGISTRY}
            qualify row_number() over (
                partition by series_id order by registered_at desc, run_id desc
            ) = 1
        ),
        made as (
            select series_id, run_id as forecast_run_id
            from {REGISTRY}
            where {made}
            qualify row_number() over (
                partition by series_id order by registered_at desc, run_id desc
            ) = 1
        )
        select r.*, {forecast} as has_forecast, made.forecast_run_id
        from r
        left join made using (series_id)
        """
    ).df()


def read_live_errors(con: Any, history: pd.DataFrame, champions: pd.DataFrame) -> pd.DataFrame:
    """Per series: the absolute errors of its champion's forecasts made since it was
    selected (`champions`: series_id, champion, selected_origin) against the actuals in
    `history` (series_id, period_start, demand). One forecast per origin and period."""
    cols = ["series_id", "n_live_periods", "live_mae"]
    if champions.empty or not table_exists(con, "fct_forecast_history"):
        return pd.DataFrame(columns=cols)
    con.register("_live_champions", champions[["series_id", "champion", "selected_origin"]])
    con.register("_live_history", history[["series_id", "period_start", "demand"]])
    frame = con.execute(
        """
        with made as (
            select h.series_id, h.forecast_origin, h.period_start, any_value(h.forecast) as f
            from main.fct_forecast_history as h
            inner join _live_champions as c
                on h.series_id = c.series_id
                and h.model_name = c.champion
                and h.method = 'champion'
                and h.forecast_origin >= c.selected_origin
            group by all
        )
        select
            made.series_id,
            count(distinct made.period_start) as n_live_periods,
            avg(abs(made.f - a.demand)) as live_mae
        from made
        inner join _live_history as a
            on made.series_id = a.series_id and made.period_start = a.period_start
        group by all
        """
    ).df()
    con.unregister("_live_champions")
    con.unregister("_live_history")
    return frame[cols]


def read_registry_rows(con: Any, pairs: pd.DataFrame) -> pd.DataFrame:
    """The fct_model_registry rows of (run_id, series_id) pairs."""
    if pairs.empty or not table_exists(con, "fct_model_registry"):
        return pd.DataFrame(columns=["run_id", "series_id"])
    con.register("_registry_pairs", pairs[["run_id", "series_id"]])
    frame = con.execute(
        "select r.* from main.fct_model_registry as r "
        "inner join _registry_pairs using (run_id, series_id)"
    ).df()
    con.unregister("_registry_pairs")
    return frame


def read_forecast_rows(con: Any, pairs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows of fct_forecast_history for (run_id, series_id) pairs: the forecasts a run
    reuses. `columns`: the prediction columns to return."""
    if pairs.empty or not table_exists(con, "fct_forecast_history"):
        return pd.DataFrame(columns=columns)
    con.register("_forecast_pairs", pairs[["run_id", "series_id"]])
    select = ", ".join(f"h.{c}" for c in columns)
    frame = con.execute(
        f"select {select} from main.fct_forecast_history as h "
        "inner join _forecast_pairs using (run_id, series_id) order by h.series_id, h.step"
    ).df()
    con.unregister("_forecast_pairs")
    return frame


def prune_memory(con: Any, run_id: str, keep_runs: int | None) -> dict[str, int]:
    """Delete the memory's rows of published runs older than the last `keep_runs` (the
    run `run_id` counts as one of them; var memory_keep_runs, None keeps every run),
    except what a series still needs: in fct_model_registry its latest row (what the next
    decision reads) and the row of the run that made its standing forecast (the latest
    that was not a reuse: a reuse's forecast is attributed to it, and it can be rebuilt);
    in demandcast_backtest_memory the rows of its latest backtest (what a refit or reuse
    carries); in demandcast_calibration_memory the calibration of every run still in the
    registry. fct_forecast_history and fct_retrain_decisions are never touched. Returns
    the rows deleted per table."""
    deleted: dict[str, int] = {}
    if keep_runs is None or not table_exists(con, "demandcast_runs"):
        return deleted
    _run(con, "drop table if exists _memory_keep")
    _run(
        con,
        "create temp table _memory_keep as select ? as run_id union "
        "(select run_id from main.demandcast_runs where status = 'published' "
        "order by started_at desc limit ?)",
        [run_id, keep_runs - 1],
    )
    old = "run_id not in (select run_id from _memory_keep)"

    def delete(table: str, where: str) -> None:
        before = _count(con, table)
        _run(con, f"delete from {table} where {old} and {where}")
        deleted[table.removeprefix("main.")] = before - _count(con, table)

    # a warehouse of an earlier version: fct_forecast_history's backfill (post-hook) reads
    # the registry of old runs once, in this build; the registry is pruned from the next
    history = set(table_columns(con, "fct_forecast_history"))
    if table_exists(con, "fct_model_registry") and {"frequency", "forecast_run_id"} <= history:
        made = _made_forecast(con)
        delete(
            REGISTRY,
            f"""(run_id, series_id) not in (
                select (run_id, series_id) from {REGISTRY}
                qualify row_number() over (
                    partition by series_id order by registered_at desc, run_id desc
                ) = 1
                union all
                select (run_id, series_id) from {REGISTRY}
                where {made}
                qualify row_number() over (
                    partition by series_id order by registered_at desc, run_id desc
                ) = 1
            )""",
        )
    if table_exists(con, "demandcast_backtest_memory"):
        delete(
            BACKTEST_MEMORY,
            f"""(run_id, series_id) not in (
                select (arg_max(run_id, backtested_at), series_id)
                from {BACKTEST_MEMORY} group by series_id
            )""",
        )
    if table_exists(con, "demandcast_calibration_memory"):
        registry = (
            f"select distinct run_id from {REGISTRY}"
            if table_exists(con, "fct_model_registry")
            else "select run_id from _memory_keep"
        )
        delete(CALIBRATION_MEMORY, f"run_id not in ({registry})")
    _run(con, "drop table if exists _memory_keep")
    return deleted


def _count(con: Any, table: str) -> int:
    return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])
