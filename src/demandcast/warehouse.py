"""The edge between dbt and the package: the run's settings from the warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
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


# --- the memory of earlier runs (pipeline.py) --------------------------------------

MEMORY_TABLES = (
    "fct_model_registry",
    "fct_forecast_history",
    "demandcast_backtest_memory",
    "demandcast_calibration_memory",
)
"""The tables that remember the published runs, models built downstream of the steps that
read them: fct_model_registry (per run and live series, the model and what it rests on),
fct_forecast_history (every run's forecast), demandcast_backtest_memory (the rows and
scaled residuals of each run's backtest), demandcast_calibration_memory (each run's
calibration). The dbt models read them as the sources `memory` (models/memory)."""


@dataclass(frozen=True)
class Memory:
    """The memory tables a step reads, as SQL relations by name; a table not yet built
    (the first run) is absent."""

    con: Any
    tables: dict[str, str]

    @classmethod
    def of_sources(cls, con: Any, **sources: Any) -> Memory:
        """From dbt: name -> a function returning the dbt source's relation (a `def` in
        the model whose body calls `dbt.source("memory", name)`, which dbt's parser sees;
        it raises while the table does not exist)."""
        tables = {}
        for name, source in sources.items():
            try:
                tables[name] = f"({source().sql_query()})"
            except duckdb.CatalogException:
                continue  # not built yet: the first run
        return cls(con, tables)

    @classmethod
    def of_warehouse(cls, con: Any) -> Memory:
        """Outside dbt (rebuild_forecast, tests): the tables of the warehouse's main."""
        return cls(con, {t: f"main.{t}" for t in MEMORY_TABLES if table_exists(con, t)})

    def has(self, name: str) -> bool:
        return name in self.tables

    def __getitem__(self, name: str) -> str:
        return self.tables[name]

    def columns(self, name: str) -> set[str]:
        if not self.has(name):
            return set()
        cursor = self.con.execute(f"select * from {self.tables[name]} limit 0")
        return {d[0] for d in cursor.description}


MEMORY_COLUMNS = (
    "run_id",
    "settings_hash",
    "backtested_at",
    "backtest_origin",
    "series_id",
    "model_name",
    "demand_class",
    "n_windows",
    "mae",
    "rmse",
    "bias",
    "smape",
    "wape",
    "mase",
    "rmsse",
    "status",
    "error_message",
    "members",
    "residuals",
)


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


def read_backtest_memory(
    memory: Memory, settings_hash: str, series_ids: Any, residuals: bool = True
) -> pd.DataFrame:
    """Per series, the rows of its latest backtest under these settings (every candidate);
    none before the model demandcast_backtest_memory is first built."""
    if not memory.has("demandcast_backtest_memory"):
        return pd.DataFrame(columns=list(MEMORY_COLUMNS if residuals else MEMORY_COLUMNS[:-1]))
    con, table = memory.con, memory["demandcast_backtest_memory"]
    ids = pd.DataFrame({"series_id": pd.Series(list(series_ids), dtype="object").astype(str)})
    con.register("_memory_ids", ids)
    cols = "m.*" if residuals else "m.* exclude (residuals)"
    frame = con.execute(
        f"""
        with latest as (
            select series_id, arg_max(run_id, backtested_at) as run_id
            from {table}
            where settings_hash = ? and series_id in (select series_id from _memory_ids)
            group by series_id
        )
        select {cols}
        from {table} as m
        inner join latest using (series_id, run_id)
        order by m.series_id
        """,
        [settings_hash],
    ).df()
    con.unregister("_memory_ids")
    return frame.reindex(columns=[*frame.columns, "members"]) if "members" not in frame else frame


def _made_forecast(memory: Memory) -> str:
    """The filter of registry rows whose run made the series' forecast (did not reuse it)."""
    if "decision" in memory.columns("fct_model_registry"):
        return "decision is distinct from 'reuse'"
    return "true"  # a registry from before retraining: no run reused a forecast


def read_previous_state(memory: Memory) -> pd.DataFrame:
    """Per series, its latest row of fct_model_registry (published runs only: begin_run
    removed the others), whether that run's forecast of it is on record, and
    forecast_run_id: the run that made that forecast (the latest run that did not reuse
    its last one; a reuse carries its previous run's forecast, made there or earlier)."""
    if not memory.has("fct_model_registry"):
        return pd.DataFrame(columns=["series_id"])
    registry = memory["fct_model_registry"]
    forecast = (
        f"exists (select 1 from {memory['fct_forecast_history']} as h"
        " where h.run_id = r.run_id and h.series_id = r.series_id)"
        if memory.has("fct_forecast_history")
        else "false"
    )
    made = _made_forecast(memory)
    return memory.con.execute(
        f"""
        with r as (
            select *
            from {registry}
            qualify row_number() over (
                partition by series_id order by registered_at desc, run_id desc
            ) = 1
        ),
        made as (
            select series_id, run_id as forecast_run_id
            from {registry}
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


def read_live_errors(
    memory: Memory, history: pd.DataFrame, champions: pd.DataFrame
) -> pd.DataFrame:
    """Per series: the absolute errors of its champion's forecasts made since it was
    selected (`champions`: series_id, champion, selected_origin) against the actuals in
    `history` (series_id, period_start, demand). One forecast per origin and period: the
    statistical one (a planner's override of the quantity is not the champion's error)."""
    cols = ["series_id", "n_live_periods", "live_mae"]
    if champions.empty or not memory.has("fct_forecast_history"):
        return pd.DataFrame(columns=cols)
    con = memory.con
    statistical = _statistical(memory)
    con.register("_live_champions", champions[["series_id", "champion", "selected_origin"]])
    con.register("_live_history", history[["series_id", "period_start", "demand"]])
    frame = con.execute(
        f"""
        with made as (
            select h.series_id, h.forecast_origin, h.period_start, any_value({statistical}) as f
            from {memory["fct_forecast_history"]} as h
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


def read_registry_rows(memory: Memory, pairs: pd.DataFrame) -> pd.DataFrame:
    """The fct_model_registry rows of (run_id, series_id) pairs."""
    if pairs.empty or not memory.has("fct_model_registry"):
        return pd.DataFrame(columns=["run_id", "series_id"])
    con = memory.con
    con.register("_registry_pairs", pairs[["run_id", "series_id"]])
    frame = con.execute(
        f"select r.* from {memory['fct_model_registry']} as r "
        "inner join _registry_pairs using (run_id, series_id)"
    ).df()
    con.unregister("_registry_pairs")
    return frame


def _statistical(memory: Memory) -> str:
    """SQL for fct_forecast_history's (alias h) statistical forecast: its
    `statistical_forecast`, the final `forecast` on rows appended before that column."""
    if "statistical_forecast" in memory.columns("fct_forecast_history"):
        return "coalesce(h.statistical_forecast, h.forecast)"
    return "h.forecast"


def read_forecast_rows(memory: Memory, pairs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows of fct_forecast_history for (run_id, series_id) pairs: the forecasts a run
    reuses. `columns`: the prediction columns to return. `forecast` is the statistical
    forecast: the final figure holds a planner's override of the quantity, which is not
    the model's forecast (the run that reuses it applies the overrides it has, or none);
    rows appended before the history kept the two apart give the final figure."""
    if pairs.empty or not memory.has("fct_forecast_history"):
        return pd.DataFrame(columns=columns)
    con = memory.con
    con.register("_forecast_pairs", pairs[["run_id", "series_id"]])
    statistical = _statistical(memory)
    select = ", ".join(
        f"{statistical} as forecast" if c == "forecast" else f"h.{c}" for c in columns
    )
    frame = con.execute(
        f"select {select} from {memory['fct_forecast_history']} as h "
        "inner join _forecast_pairs using (run_id, series_id) order by h.series_id, h.step"
    ).df()
    con.unregister("_forecast_pairs")
    return frame
