"""Where the raw files are: the one finder of the project's raw files (orders, products,
plants, launches) under raw_path, which the macro raw_reader asks through the dbt-duckdb
plugin (demandcast_raw_file) and the CLI calls directly."""

from __future__ import annotations

import glob
from pathlib import Path

RAW_LAYOUTS = (
    ("{name}.parquet", "parquet"),
    ("{name}/*.parquet", "parquet"),
    ("{name}.csv", "csv"),
)
"""Where a raw file may be under raw_path: a Parquet file, a folder of Parquet files, a CSV."""


def find_raw_file(raw_path: str | Path, name: str) -> tuple[str, str] | None:
    """The raw file `name` under raw_path, as (glob pattern, 'parquet' | 'csv'), or None
    when there is none; a ValueError naming them when more than one layout is there (which
    is the extract is not guessed)."""
    present = [
        (f"{raw_path}/{layout.format(name=name)}", fmt)
        for layout, fmt in RAW_LAYOUTS
        if glob.glob(f"{raw_path}/{layout.format(name=name)}")
    ]
    if len(present) > 1:
        names = "' and '".join(pattern for pattern, _ in present)
        raise ValueError(
            f"more than one {name} file in raw_path '{raw_path}': '{names}'. Which is the "
            f"extract is not guessed: keep one of {name}.parquet, a folder {name}/ of "
            f"Parquet files, or {name}.csv."
        )
    return present[0] if present else None
