"""The one command line: `demandcast build | report | evaluate | check | demo`."""

from __future__ import annotations

import subprocess
from importlib import metadata

import duckdb
import pytest
from conftest import BIN, ROOT

from demandcast import cli

COMMANDS = ("build", "report", "evaluate", "check", "demo")


def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [str(BIN / "demandcast"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_help_lists_every_command():
    done = run("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert f"  {command} " in done.stdout
    assert run("-h").stdout == done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command, capsys):
    assert cli.main([command, "--help"]) == 0
    assert f"demandcast {command}" in capsys.readouterr().out


def test_version_from_package_metadata():
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"demandcast {metadata.version('demandcast')}"


def test_unknown_or_missing_command_exits_2():
    done = run("forecast-everything")
    assert done.returncode == 2
    assert "unknown command 'forecast-everything'" in done.stderr
    assert "usage: demandcast" in done.stderr and done.stdout == ""
    assert run().returncode == 2
    assert cli.main(["report", "--no-such-option"]) == 2  # argparse's code, not an exception


def test_find_project(tmp_path):
    assert cli.find_project(ROOT / "models" / "marts") == ROOT
    # outside any project: the source tree of this (editable) install
    assert cli.find_project(tmp_path) == ROOT
    other = tmp_path / "other"
    other.mkdir()
    (other / "dbt_project.yml").write_text("name: 'someone_else'\n")
    assert cli.find_project(other) == ROOT


def test_build_passes_dbt_options_and_exit_code(tmp_path):
    """An option it does not know goes to dbt, and dbt's exit code comes back."""
    done = run("build", "--no-such-dbt-option", cwd=tmp_path)
    assert done.returncode == 2
    assert "No such option" in done.stdout + done.stderr


def test_past_origins_lie_horizon_periods_apart_before_the_current_one(tmp_path):
    """`build --past-origins`: the origins and vars of the earlier builds, without building."""
    env = {"DEMANDCAST_RAW_PATH": str(tmp_path), "DEMANDCAST_DB": str(tmp_path / "none.duckdb")}
    past = cli.past_build_vars(
        ROOT,
        env,
        "{frequency: month, horizon: 6, forecast_origin: '2026-03-15'}",
        "{candidates: fast}",
        2,
    )
    assert [origin for origin, _ in past] == ["2025-03-01", "2025-09-01"]
    assert past[0][1] == {
        "frequency": "month",
        "horizon": 6,
        "forecast_origin": "2025-03-01",
        "max_staleness_periods": None,
        "candidates": "fast",
    }
    # without forecast_origin, the last complete period of the orders (as int_run__context)
    duckdb.sql(
        "copy (select date '2026-02-27' + cast(i as integer) as order_date, 'P1' as product_id,"
        " 'A' as plant_id, 1 as quantity from range(3) as t (i))"
        f" to '{tmp_path / 'orders.parquet'}'"
    )  # to Sunday 1 March: the week of 23 February is complete, March is not: February
    assert [o for o, _ in cli.past_build_vars(ROOT, env, "{frequency: week}", None, 1)] == [
        "2025-11-24"
    ]
    assert [o for o, _ in cli.past_build_vars(ROOT, env, "{frequency: month}", None, 1)] == [
        "2025-01-01"
    ]
    # a plant shipping Monday to Friday, the extract to Friday 27 February: the week is
    # complete on its last working day (the macro last_workday, rendered from the project)
    duckdb.sql(
        "copy (select d as order_date, 'P1' as product_id, 'A' as plant_id, 1 as quantity"
        " from (select cast(date '2026-02-02' + cast(i as integer) as date) as d"
        " from range(26) as t (i)) where isodow(d) <= 5)"
        f" to '{tmp_path / 'orders.parquet'}'"
    )
    assert [o for o, _ in cli.past_build_vars(ROOT, env, "{frequency: week}", None, 1)] == [
        "2025-11-24"
    ]
    # monthly totals dated on the 1st: their last month is complete (int_run__context alike)
    duckdb.sql(
        "copy (select cast(date '2025-01-01' + to_months(cast(i as integer)) as date)"
        " as order_date, 'P1' as product_id, 'A' as plant_id, 1 as quantity"
        f" from range(12) as t (i)) to '{tmp_path / 'orders.parquet'}'"
    )  # January to December 2025: the current origin is December, 13 months before it
    assert [o for o, _ in cli.past_build_vars(ROOT, env, "{frequency: month}", None, 1)] == [
        "2024-11-01"
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no orders file"):
        cli.past_build_vars(ROOT, {"DEMANDCAST_RAW_PATH": str(empty)}, None, None, 1)


def test_two_orders_files_stop_the_build_naming_both_before_dbt(tmp_path):
    """--past-origins reads the orders to find the origins: with orders.parquet and an
    orders/ folder of Parquet files it stops (exit 2) naming both, before any dbt build."""
    (tmp_path / "orders").mkdir()
    for path in (tmp_path / "orders.parquet", tmp_path / "orders" / "part-0.parquet"):
        duckdb.sql(
            "copy (select date '2026-02-27' as order_date, 'P1' as product_id,"
            f" 'A' as plant_id, 1 as quantity) to '{path}'"
        )
    env = {"DEMANDCAST_DB": str(tmp_path / "none.duckdb"), "PATH": "/usr/bin:/bin"}
    done = run("build", "--raw", str(tmp_path), "--past-origins", "1", cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "more than one orders file" in done.stderr
    assert f"{tmp_path}/orders.parquet" in done.stderr
    assert f"{tmp_path}/orders/*.parquet" in done.stderr
    assert "past origin" not in done.stdout and not (tmp_path / "none.duckdb").exists()


# --- every verb finds the warehouse as `build` does, from any folder (issue 23, point 6) ---


def test_locate_finds_the_projects_warehouse_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = cli.locate(env={})
    assert (where.project, where.target) == (ROOT, "dev")
    assert where.warehouse == ROOT / "warehouse" / "dev.duckdb"
    assert where.published == ROOT / "warehouse" / "dev_published.duckdb"
    assert cli.locate("ci", env={}).warehouse == ROOT / "warehouse" / "ci.duckdb"
    assert cli.locate(env={"DEMANDCAST_TARGET": "prod"}).target == "prod"
    # DEMANDCAST_DB and --db: relative to where the command runs, as for build
    moved = cli.locate(env={"DEMANDCAST_DB": "w/x.duckdb"})
    assert (moved.warehouse, moved.published) == (
        tmp_path / "w/x.duckdb",
        tmp_path / "w/x_published.duckdb",
    )
    assert cli.locate(db="y.duckdb", env={"DEMANDCAST_DB": "w/x.duckdb"}).warehouse == (
        tmp_path / "y.duckdb"
    )


def _one_line_error(capsys, command: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"demandcast {command}: "), captured.err
    assert "Traceback" not in captured.out + captured.err
    return lines[0]


@pytest.mark.parametrize("command", ["check", "report", "evaluate"])
def test_a_missing_warehouse_is_one_line_and_exit_2(command, tmp_path, monkeypatch, capsys):
    """From another folder the default is the project's warehouse/<target>.duckdb, not
    warehouse/... under the folder; a target never built is named in one line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEMANDCAST_DB", raising=False)
    extra = ["--actuals", str(tmp_path / "a.csv")] if command == "evaluate" else []
    assert cli.main([command, "--target", "nosuch", *extra]) == 2
    line = _one_line_error(capsys, command)
    name = "nosuch_published.duckdb" if command == "report" else "nosuch.duckdb"
    assert f"{ROOT / 'warehouse' / name} does not exist" in line


def test_evaluate_and_report_from_another_folder_say_what_they_read(
    built_copy, tmp_path, monkeypatch, capsys
):
    """DEMANDCAST_DB moves the warehouse of every verb (relative to the folder it runs in):
    evaluate reads the working warehouse, report the published copy beside it and the gate
    results of the working one; each says which file it read."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("DEMANDCAST_DB", "../wh.duckdb")
    truth = str(built_copy.raw / "truth.parquet")
    assert cli.main(["evaluate", "--actuals", truth, "--no-baselines"]) == 0
    out = capsys.readouterr().out
    assert (
        f"evaluate: reading fct_demand_forecast of the working warehouse {built_copy.db}\n" in out
    )
    html = tmp_path / "r.html"
    assert cli.main(["report", "--out", str(html), "--max-series", "2"]) == 0
    out = capsys.readouterr().out
    assert (
        f"reading the published copy {built_copy.published}; gate results from {built_copy.db}"
        in out
    )
    assert "no warehouse file at" not in html.read_text()
    # --db, relative to the folder, over DEMANDCAST_DB
    monkeypatch.setenv("DEMANDCAST_DB", "nowhere.duckdb")
    assert cli.main(["evaluate", "--db", "../wh.duckdb", "--actuals", truth, "--no-baselines"]) == 0
    capsys.readouterr()


def test_bad_actuals_and_wrong_files_are_one_line_and_exit_2(built_copy, tmp_path, capsys):
    db = ["--db", str(built_copy.db)]
    lacking = tmp_path / "actuals.csv"
    lacking.write_text("period_start,product_id,y\n2026-01-05,P1,3\n")
    assert cli.main(["evaluate", *db, "--actuals", str(lacking)]) == 2
    line = _one_line_error(capsys, "evaluate")
    assert str(lacking) in line and "lack columns ['plant_id']" in line
    assert cli.main(["evaluate", *db, "--actuals", str(tmp_path / "none.parquet")]) == 2
    assert "the actuals file" in _one_line_error(capsys, "evaluate")
    # the published copy holds no run context: evaluate reads the working warehouse
    published = ["--db", str(built_copy.published), "--actuals", str(lacking)]
    assert cli.main(["evaluate", *published]) == 2
    assert "int_run__context" in _one_line_error(capsys, "evaluate")
    # the working warehouse is no published copy: report refuses it
    assert cli.main(["report", *db, "--out", str(tmp_path / "r.html")]) == 2
    assert "not a published demandcast file" in _one_line_error(capsys, "report")


def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(built_copy, tmp_path, capsys):
    """report's --out and check's folders are asked for before any work: a directory in the
    report's place, or a folder under a plain file, is one line naming it, exit 2."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a folder")
    report = ["report", "--db", str(built_copy.published), "--max-series", "1", "--out"]
    assert cli.main([*report, str(tmp_path)]) == 2
    assert f"the report {tmp_path} is a directory, not a file" in _one_line_error(capsys, "report")
    assert cli.main([*report, str(blocker / "r.html")]) == 2
    line = _one_line_error(capsys, "report")
    assert f"cannot make the folder {blocker} for the report" in line, line
    check = ["check", "--db", str(built_copy.db), "--docs", str(blocker / "docs")]
    assert cli.main(check) == 2
    line = _one_line_error(capsys, "check")
    assert f"cannot make the folder {blocker / 'docs'} for the Data Docs" in line, line
    assert blocker.read_text() == "not a folder"


def test_a_warehouse_locked_by_a_build_is_one_line_and_exit_2(tmp_path, capsys):
    """A process writing the warehouse (as a running build does) holds its lock: check and
    evaluate say so in one line, exit 2 (a build never locks the published copy)."""
    db = tmp_path / "wh.duckdb"
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True)"
    holder = subprocess.Popen(
        [str(BIN / "python"), "-c", hold + "; time.sleep(120)", str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        for command, *rest in (["check"], ["evaluate", "--actuals", str(db)]):
            assert cli.main([command, "--db", str(db), *rest]) == 2
            line = _one_line_error(capsys, command)
            assert f"cannot open the warehouse {db}: " in line and "lock" in line, line
    finally:
        holder.kill()
        holder.wait()
