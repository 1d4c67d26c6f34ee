"""The gates inside `dbt build`: a stage table corrupted in place fails its gate, with a
message naming the problem; nothing downstream runs; the BI tables keep their rows.
Bad raw input, from the first gate on, is test_reliability.py's."""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import ROOT, raw_with_orders

BI_TABLES = ["fct_demand_forecast", "fct_model_registry", "fct_forecast_history", "dim_series"]


def _statuses(project) -> dict[str, str]:
    results = json.loads((project.target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["status"] for r in results}


def _assert_gate_stopped_build(project, before, result, gate, words):
    assert result.returncode != 0
    statuses = _statuses(project)
    assert statuses[gate] == "error", statuses.get(gate)
    for table in ("fct_demand_forecast", "fct_model_registry"):
        assert statuses.get(table) == "skipped", (table, statuses.get(table))
    for word in words:
        assert word in result.output, (word, result.output[-3000:])
    assert "Traceback" not in result.output
    assert {t: project.checksum(t) for t in BI_TABLES} == before
    stage = gate.removeprefix("gate_")
    failed = project.query(
        f"select count(*) from gate_results where split_part(suite, '__', 1) = '{stage}'"
        " and not success"
    )[0][0]
    assert failed > 0, "the failed run's gate results are kept"


# A stage table corrupted in place (as a bug in its SQL or model would), then the
# build from that gate on: the gate must catch it.
STAGE_CASES = {
    "series with a gap": (
        "gate_series",
        "delete from int_series__filled where series_id = (select min(series_id)"
        " from int_series__filled) and period_index = 5",
        ["series"],
    ),
    "negative demand": (
        "gate_series",
        "update int_series__filled set demand = -50 where period_index = 3"
        " and series_id = (select min(series_id) from int_series__filled)",
        ["series", "demand"],
    ),
    "inverted intervals": (
        "gate_forecast",
        "update int_forecast__predictions set lo_95 = hi_95 + 10 where step = 2",
        ["forecast", "lo_95"],
    ),
    "missing series": (
        "gate_forecast",
        "delete from int_forecast__predictions where series_id ="
        " (select min(series_id) from int_forecast__predictions)",
        ["forecast", "series_id"],
    ),
}


@pytest.mark.parametrize("case", list(STAGE_CASES))
def test_corrupt_stage_fails_its_gate_and_keeps_the_bi_tables(case, built_copy):
    gate, sql, words = STAGE_CASES[case]
    before = {t: built_copy.checksum(t) for t in BI_TABLES}
    with duckdb.connect(str(built_copy.db)) as con:
        con.execute(sql)
    result = built_copy.dbt("build", "--select", f"{gate}+", write_json=True)
    _assert_gate_stopped_build(built_copy, before, result, gate, words)


def test_clean_build_passes_every_gate(built):
    rows = built.query(
        "select suite, count(*), count(*) filter (not success) from gate_results"
        " where run_id = (select run_id from int_run__context) group by 1 order by 1"
    )
    suites = {
        path.stem: len(json.loads(path.read_text())["expectations"])
        for path in (ROOT / "gx" / "expectations").glob("*.json")
    }
    assert len(suites) == 20
    assert {s: n for s, n, _ in rows} == suites
    assert all(failed == 0 for _, _, failed in rows), rows
    # each validation stored its result in GX's store; var data_docs false: no Data Docs
    results = built.db.with_name("wh_gx_results")
    assert {p.name for p in results.iterdir() if p.is_dir()} == set(suites)
    assert not built.db.with_name("wh_data_docs").exists()


def test_warn_mode_records_the_failure_and_builds_on(built_copy, tmp_path):
    """Duplicates above the threshold with the orders gate in warn mode: the gate records its
    failure and the build goes on through the next stage and its gate (`+gate_series`: the
    orders and series stages, not the forecasting a complete build would add)."""
    duplicates = (
        "select * from orders union all"
        " (select * from orders order by order_id limit (select count(*) // 20 from orders))"
    )
    raw = raw_with_orders(built_copy.raw, tmp_path / "raw", duplicates)
    result = built_copy.dbt(
        "build",
        "--select",
        "+gate_series",
        raw=raw,
        vars="{candidates: fast, n_windows: 2, gate_modes: {orders: warn}, data_docs: false}",
        write_json=True,
    )
    assert result.returncode == 0, result.output[-3000:]
    statuses = _statuses(built_copy)
    assert (statuses["gate_orders"], statuses["gate_series"]) == ("success", "success")
    (failed,) = built_copy.query(
        "select count(*) from gate_results where suite = 'orders__lines' and not success"
        " and mode = 'warn' and run_id = (select run_id from int_run__context)"
    )[0]
    assert failed == 1  # duplicate_share, a check of the orders stage, follows its mode
