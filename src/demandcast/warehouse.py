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
