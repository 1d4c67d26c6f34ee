"""scripts/replay.py: the weekly extracts and actuals it cuts, then a tiny real replay.

The replay test runs the script as a user would: 2 weekly origins on a 2 x 10 demo with
the fast candidates, in both modes, then the build with no new data, skipped (dbt not
started): three real builds, one copied, one skipped. The rerun with --force (dbt runs
and fits nothing) is left out (`--reruns skipped`): a build with no new data that runs
dbt is test_retrain's, `demandcast build --force` test_monitoring's.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import duckdb
import pytest
from conftest import ROOT, load_script

replay = load_script("replay")


def _orders(raw, rows):
    raw.mkdir()
    con = duckdb.connect()
    con.execute(
        "create table o (order_date date, product_id varchar, plant_id varchar, quantity double)"
    )
    con.executemany("insert into o values (?, ?, ?, ?)", rows)
    con.execute(f"copy o to '{raw / 'orders.parquet'}' (format parquet)")
    return raw


def test_origins_are_successive_mondays_ending_a_horizon_before_the_last_complete_week(
    tmp_path,
):
    # the data ends on a Wednesday: its week is not complete, the one before is
    raw = _orders(tmp_path / "raw", [("2026-01-05", "P1", "A", 1.0), ("2026-03-04", "P1", "A", 1)])
    last = replay.last_complete_week(raw)
    assert last == dt.date(2026, 2, 23)
    assert replay.weekly_origins(last - dt.timedelta(weeks=4), 3) == [
        dt.date(2026, 1, 12),
        dt.date(2026, 1, 19),
        dt.date(2026, 1, 26),
    ]
    sunday = _orders(tmp_path / "sun", [("2026-03-08", "P1", "A", 1.0)])
    assert replay.last_complete_week(sunday) == dt.date(2026, 3, 2)


def test_the_extract_stops_at_the_origin_week_and_the_actuals_follow_it(tmp_path):
    origin = dt.date(2026, 1, 12)  # a Monday; its week ends on Sunday the 18th
    raw = _orders(
        tmp_path / "raw",
        [
            ("2026-01-12", "P1", "A", 5.0),
            ("2026-01-18", "P1", "A", 2.0),  # the origin week's Sunday: in the extract
            ("2026-01-19", "P1", "A", 4.0),  # week 1 after the origin
            ("2026-01-19", "P1", "A", 4.0),  # an exact duplicate: counted once
            ("2026-01-21", "P1", "A", -1.0),  # a return: net
            ("2026-02-02", "P1", "A", 7.0),  # week 3
            ("2026-01-20", "P2", "A", 9.0),  # a series without history at the origin
        ],
    )
    extract = replay.cut_extract(raw, origin, tmp_path / "cut")
    dates = (
        duckdb.connect()
        .execute(f"select max(order_date) from '{extract / 'orders.parquet'}'")
        .fetchone()
    )
    assert dates == (dt.date(2026, 1, 18),)
    actuals = replay.actuals_after(raw, origin, 3, tmp_path / "actuals.parquet")
    rows = (
        duckdb.connect()
        .execute(f"select product_id, period_start, step, y from '{actuals}' order by all")
        .fetchall()
    )
    assert rows == [
        ("P1", dt.date(2026, 1, 19), 1, 3.0),
        ("P1", dt.date(2026, 1, 26), 2, 0.0),
        ("P1", dt.date(2026, 2, 2), 3, 7.0),
    ]


@pytest.mark.xdist_group("replay")
def test_two_weeks_selective_fits_less_than_full_and_no_new_data_fits_nothing(tmp_path):
    out = tmp_path / "replay.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "replay.py"), "--demo", "--plants", "2"]
    cmd += ["--products", "10", "--origins", "2", "--work", str(tmp_path / "work")]
    cmd += [
        "--vars",
        "{candidates: fast, n_windows: 2, n_jobs: 1, data_docs: false}",
        *("--reruns", "skipped"),
        "--json",
        str(out),
    ]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads(out.read_text())
    first, second = report["origins"]
    runs = {(r["origin"], r["mode"], r["rerun"]): r for r in report["runs"]}
    assert len(runs) == 5
    for key, run in runs.items():
        assert run["status"] == ("skipped" if key[2] == "skipped" else "published")
        assert run["cpu_s"] > 0
        assert run["mase"] is not None and run["n_series"] > 0
    # the first week finds no memory: both modes select every series, in one build (full's
    # warehouse is selective's, copied)
    for mode in replay.MODES:
        run = runs[(first, mode, None)]
        assert run["fits"] > 0 and run["decisions"]["reselect"] == run["series"]
    shared = runs[(first, "full", None)]
    assert shared["shared_with"] == "selective"
    assert shared["run_id"] == runs[(first, "selective", None)]["run_id"]
    assert "| full (the selective build) |" in done.stdout
    assert not (tmp_path / "work" / "full" / f"build_{first}.log").exists()
    selective, full = runs[(second, "selective", None)], runs[(second, "full", None)]
    assert full["decisions"]["reselect"] == full["series"]
    assert selective["decisions"]["refit"] > 0
    assert 0 < selective["fits"] < full["fits"]
    # no new data: `demandcast build` does not start dbt, and the last forecast stands
    skipped = runs[(second, "selective", "skipped")]
    assert skipped["skipped"] and skipped["fits"] == 0
    assert skipped["mase"] == pytest.approx(selective["mase"])
    assert skipped["wall_s"] < min(r["wall_s"] for k, r in runs.items() if k[2] != "skipped") / 3
    assert "| origin | mode | wall s | CPU s |" in done.stdout
    assert {k: n["fits"] for k, n in report["summary"]["no_new_data"].items()} == {"skipped": 0}
    # --resume after the end: every run is recorded, nothing is built again
    logs = {p: p.stat().st_mtime_ns for p in (tmp_path / "work").glob("*/build_*.log")}
    assert len(logs) == 4
    resumed = subprocess.run([*cmd, "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-4000:]
    again = json.loads(out.read_text())
    assert again["runs"] == report["runs"] and len(again["resumed"]) == 1
    assert {p: p.stat().st_mtime_ns for p in logs} == logs  # no build ran
    # another plan is not resumed
    other = [*cmd[: cmd.index("--origins") + 1], "3", *cmd[cmd.index("--origins") + 2 :]]
    wrong = subprocess.run([*other, "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert wrong.returncode != 0 and "another origins" in wrong.stderr


def test_reruns_names_what_it_accepts(capsys):
    with pytest.raises(SystemExit) as stopped:
        replay.main(["--demo", "--reruns", "skipped,again"])
    assert stopped.value.code == 2
    assert "--reruns: 'skipped,again', expected some of skipped,forced or none" in (
        capsys.readouterr().err
    )


def test_a_failed_run_is_spent_cpu_but_not_a_steady_week_nor_a_score():
    def run(origin, mode, cpu, mase, code=0):
        return {
            "origin": origin,
            "mode": mode,
            "rerun": None,
            "returncode": code,
            "cpu_s": cpu,
            "wall_s": cpu / 2,
            "fits": 10,
            "mase": mase,
        }

    runs = [
        run("w1", "selective", 300, 1.0),
        run("w1", "full", 300, 1.0),
        run("w2", "selective", 100, 1.02),
        run("w2", "full", 400, 1.0),
        run("w3", "selective", 120, 0.9),
        run("w3", "full", 350, None, code=1),
    ]
    s = replay.summarise(runs, 3)
    assert s["full"]["failed"] == 1 and s["full"]["total_cpu_s"] == 1050
    assert s["full"]["steady_runs"] == 1 and s["full"]["steady_cpu_s"] == 400
    assert s["selective"]["steady_cpu_s"] == 110
    assert s["cpu_share"] == round(110 / 400, 3)
    assert s["full"]["mean_mase"] is None  # not every origin scored
    assert s["paired_origins"] == 2  # w1 and w2: w3's full run published nothing
    assert s["paired_mase"] == {"selective": 1.01, "full": 1.0}
    assert s["mase_excess"] == 0.01
