"""The edge between dbt and the package: the run's settings from the warehouse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from demandcast.config import Settings


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


CALIBRATION_TABLE = "main.int_forecast__calibration"
"""Pooled residual quantiles of the latest backtest, written beside int_forecast__backtest."""


def write_calibration(con: Any, table: pd.DataFrame) -> None:
    """Replace the calibration table with this backtest's quantiles."""
    con.register("_calibration_new", table)
    con.execute(f"create or replace table {CALIBRATION_TABLE} as select * from _calibration_new")
    con.unregister("_calibration_new")


def read_calibration(con: Any) -> pd.DataFrame | None:
    """The calibration table, or None before any backtest wrote one."""
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name = 'int_forecast__calibration'"
    ).fetchone()[0]
    return con.execute(f"select * from {CALIBRATION_TABLE}").df() if found else None
