"""The published copy opens in an older DuckDB than the project's: BI tools' drivers
(Evidence's, DBeaver's, Metabase's) ship one, and cannot read the project's own storage
format. `make setup` puts DuckDB 1.0.0 in .venv/duckdb-1.0.0, off the package's path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
from conftest import ROOT

OLD_DUCKDB = ROOT / ".venv" / "duckdb-1.0.0"

# Every table's row count, and the forecast's rows, read in the client on the path
_READ_EVERY_TABLE = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
tables = [t for (t,) in con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
out = {"version": duckdb.__version__, "tables": {}}
for t in tables:
    out["tables"][t] = con.execute(f"select count(*) from {t}").fetchone()[0]
out["forecast"] = con.execute(
    "select series_id, period_start::varchar, forecast, lo_80, hi_80, lo_95, hi_95, model_name"
    " from fct_demand_forecast order by series_id, period_start").fetchall()
out["run"] = con.execute("select run_id, forecast_origin::varchar from publication").fetchall()
print(json.dumps(out))
"""


def _read(published, pythonpath: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [sys.executable, "-c", _READ_EVERY_TABLE, str(published)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_published_copy_opens_in_duckdb_1_0(built):
    assert (OLD_DUCKDB / "duckdb").is_dir(), f"{OLD_DUCKDB} is missing: run `make setup`"
    old = _read(built.published, str(OLD_DUCKDB))
    new = _read(built.published, None)
    assert old["version"] == "1.0.0"
    assert new["version"] == duckdb.__version__ and new["version"] != "1.0.0"
    # every table and its rows, and the forecast's values, read alike by both
    assert {"fct_demand_forecast", "dim_series", "publication", "publication_gates"} <= set(
        old["tables"]
    )
    assert old == {**new, "version": "1.0.0"}
    assert old["tables"]["fct_demand_forecast"] > 0 and old["forecast"]


def _app():
    """bi/app.py as a module (importing it draws nothing outside `streamlit run`)."""
    sys.path.insert(0, str(ROOT / "bi"))
    try:
        import app
    finally:
        sys.path.remove(str(ROOT / "bi"))
    return app


def _open_as_the_app(published):
    """The published copy as bi/app.py opens it (its views of schema `demandcast`)."""
    return _app().open_published(str(published))


def test_bi_lists_the_runner_ups_the_report_flags(built, tmp_path):
    """One rule for a runner-up far better than the champion: the BI app's exceptions page
    lists exactly the series fct_forecast_exceptions lists as runner_up (the report flags
    the same rows, test_report), not the lifecycle list; a runner-up as good in the
    registry but not listed there is not shown."""
    import shutil

    published = tmp_path / "p.duckdb"
    shutil.copy(built.published, published)
    with duckdb.connect(str(published)) as con:
        listed, unlisted = [
            s
            for (s,) in con.execute(
                """select r.series_id from fct_model_registry as r
                join publication as p using (run_id) where r.champion_score > 0
                order by 1 limit 2"""
            ).fetchall()
        ]
        con.execute("delete from fct_forecast_exceptions where exception_type = 'runner_up'")
        con.execute(
            "update fct_model_registry set runner_up = 'Naive',"
            " runner_up_score = champion_score * 0.2 where series_id in (?, ?)",
            [listed, unlisted],
        )
        con.execute(
            """insert into fct_forecast_exceptions (series_id, exception_type, model_name, detail)
            values (?, 'runner_up', 'Naive', 'scored 80 % better')""",
            [listed],
        )
    con = _open_as_the_app(published)
    runner_up = con.execute((ROOT / "bi" / "queries" / "runner_up.sql").read_text()).df()
    assert runner_up["runner_up"].tolist() == ["Naive"]
    assert runner_up["runner_up_better"].round(6).tolist() == [0.8]
    ids = con.execute(
        "select series_id from demandcast.series where plant_id = ? and product_id = ?",
        [runner_up["plant_id"][0], runner_up["product_id"][0]],
    ).fetchall()
    assert ids == [(listed,)]
    lifecycle = con.execute((ROOT / "bi" / "queries" / "lifecycle.sql").read_text()).df()
    assert "runner_up" not in set(lifecycle["kind"])


def test_bi_drift_list_carries_the_runs_decision(built, tmp_path, monkeypatch):
    """The drift list says whether this run selected each series' model again (reselect,
    listed last: the report keeps those out of Needs a look) or carried it."""
    import shutil

    published = tmp_path / "p.duckdb"
    shutil.copy(built.published, published)
    with duckdb.connect(str(published)) as con:
        drifted = [
            s
            for (s,) in con.execute(
                "select series_id from mon_demand_drift where is_drifted order by 1"
            ).fetchall()
        ]
        assert len(drifted) >= 2
        con.execute(
            """update fct_model_registry set decision = case when series_id = ? then 'reuse'
            else 'reselect' end where run_id = (select run_id from publication)""",
            [drifted[-1]],
        )
    con = _open_as_the_app(published)
    rows = con.execute((ROOT / "bi" / "queries" / "drifted.sql").read_text()).df()
    assert len(rows) == len(drifted)
    (n_reselected,) = con.execute(
        "select count(*) from demandcast.registry where decision = 'reselect' and series_id"
        " in (select series_id from demandcast.drift where is_drifted)"
    ).fetchone()
    assert n_reselected >= 1
    # carried first, then re-selected, then the series without a model (discontinued)
    assert rows["decision"].tolist() == ["reuse"] + ["reselect"] * n_reselected + [None] * (
        len(drifted) - 1 - n_reselected
    )
    first = con.execute(
        "select plant_id, product_id from demandcast.series where series_id = ?", [drifted[-1]]
    ).fetchone()
    assert tuple(rows.loc[0, ["plant_id", "product_id"]]) == first
    # the overview counts the drift the run did not answer: all but the re-selected
    monkeypatch.setenv("DEMANDCAST_PUBLISHED", str(published))
    counts = dict(_app().attention_counts().itertuples(index=False))
    assert counts["Drift flags (model not selected again this run)"] == len(drifted) - n_reselected
    assert "Drift flags" not in counts
