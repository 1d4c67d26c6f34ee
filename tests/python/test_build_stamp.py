"""The stamp that lets `demandcast build` skip a build with nothing new: what changes the
fingerprint, and when a stamp still holds. (A real build skipped: test_monitoring.py.)"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from demandcast import build_stamp

DAY = dt.date(2026, 11, 23)


def _project(tmp_path: Path) -> tuple[Path, Path]:
    project, raw = tmp_path / "project", tmp_path / "raw"
    (project / "models").mkdir(parents=True)
    (project / "gx" / "uncommitted").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: demandcast\n")
    (project / "models" / "a.sql").write_text("select 1\n")
    raw.mkdir()
    (raw / "orders.csv").write_text("order_date,product_id,plant_id,quantity\n2026-01-05,P,A,3\n")
    return project, raw


def _digest(project: Path, raw: Path, **changes) -> str:
    how = {"vars_text": "{horizon: 13}", "target": "dev", "env": {}, "today": DAY, **changes}
    return build_stamp.fingerprint(project, raw, **how)


def test_the_fingerprint_changes_with_what_a_build_reads_and_only_with_that(tmp_path):
    project, raw = _project(tmp_path)
    first = _digest(project, raw)
    assert _digest(project, raw) == first
    # what a build does not read: GX's results folder, an unrelated environment variable
    (project / "gx" / "uncommitted" / "result.json").write_text("{}")
    assert _digest(project, raw, env={"HOME": "/elsewhere"}) == first
    # what it reads: the raw files' content (same size), a new raw file, a model, the vars,
    # the target, a DEMANDCAST_* variable, the day
    changed = []
    (raw / "orders.csv").write_text("order_date,product_id,plant_id,quantity\n2026-01-05,P,A,4\n")
    changed.append(_digest(project, raw))
    (raw / "plants.csv").write_text("plant_id,plant_name\nA,Alpha\n")
    changed.append(_digest(project, raw))
    (project / "models" / "a.sql").write_text("select 2\n")
    changed.append(_digest(project, raw))
    changed.append(_digest(project, raw, vars_text="{horizon: 26}"))
    changed.append(_digest(project, raw, target="prod"))
    changed.append(_digest(project, raw, env={"DEMANDCAST_DB": "/tmp/other.duckdb"}))
    changed.append(_digest(project, raw, today=DAY + dt.timedelta(days=1)))
    assert len({first, *changed}) == 1 + len(changed)


def test_a_stamp_holds_only_while_the_warehouse_and_its_published_copy_are_untouched(
    tmp_path,
):
    warehouse, published = tmp_path / "dev.duckdb", tmp_path / "dev_published.duckdb"
    assert build_stamp.published_for(tmp_path, warehouse, {}) == published
    assert build_stamp.published_for(tmp_path, warehouse, {"published_path": "bi/x.duckdb"}) == (
        tmp_path / "bi" / "x.duckdb"
    )
    warehouse.write_bytes(b"tables")
    published.write_bytes(b"copy")
    started = dt.datetime(2026, 11, 23, 6, 0)
    assert build_stamp.unchanged(warehouse, published, "abc") is None  # no stamp yet
    build_stamp.write(warehouse, published, "abc", started)
    stamp = build_stamp.unchanged(warehouse, published, "abc")
    assert stamp is not None and stamp["built_at"] == "2026-11-23T06:00:00"
    assert build_stamp.unchanged(warehouse, published, "other") is None  # inputs changed
    # another build (or a tool) wrote the warehouse since: its mtime moved
    st = warehouse.stat()
    os.utime(warehouse, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert build_stamp.unchanged(warehouse, published, "abc") is None
    build_stamp.write(warehouse, published, "abc", started)
    published.unlink()  # the BI copy was removed
    assert build_stamp.unchanged(warehouse, published, "abc") is None
    published.write_bytes(b"copy")
    build_stamp.write(warehouse, published, "abc", started)
    build_stamp.forget(warehouse)  # a build starts: the old stamp goes first
    assert build_stamp.unchanged(warehouse, published, "abc") is None


def test_only_options_that_change_nothing_built_allow_a_skip():
    assert build_stamp.neutral([])
    assert build_stamp.neutral(["--target-path", "t", "--log-path=l", "-q", "--no-use-colors"])
    assert not build_stamp.neutral(["--select", "fct_demand_forecast"])
    assert not build_stamp.neutral(["--full-refresh"])
    assert not build_stamp.neutral(["--target-path", "t", "--exclude", "gate_orders"])
