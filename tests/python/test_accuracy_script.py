"""scripts/accuracy.py: its measure of the machine's other load during a build, its work
folder, its refusal of data it cannot score."""

from __future__ import annotations

import os
import tempfile
import time

import pytest
from conftest import load_script


def test_machine_busy_counts_this_process_cpu():
    """The machine's busy CPU grows by at least what this process spends spinning, so
    busy minus the build's own CPU is what other processes took meanwhile."""
    busy = load_script("accuracy").machine_busy_s
    before_busy, before_self, before_wall = busy(), time.process_time(), time.monotonic()
    while time.process_time() - before_self < 0.5:
        pass
    spent = time.process_time() - before_self
    grown = busy() - before_busy
    wall = time.monotonic() - before_wall
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert grown >= spent - 2 * tick
    # no more than every core busy for the whole time (the wall time, not this process's
    # CPU: on a loaded machine the spin takes longer than the 0.5 s it spends)
    assert grown <= (wall + 2 * tick) * (os.cpu_count() or 1)


def test_the_work_folder_goes_whatever_happens_unless_kept(tmp_path, monkeypatch, capsys):
    """Builds leave warehouses, published copies and validation results in the work
    folder: without --keep none of it outlives the run, a failed one included."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    workspace = load_script("accuracy").workspace
    with pytest.raises(RuntimeError), workspace(keep=False) as work:
        (work / "default_0_published.duckdb").write_text("x")
        raise RuntimeError("a build failed")
    assert not work.exists()
    with workspace(keep=True) as kept:
        (kept / "default_0.duckdb").write_text("x")
    assert (kept / "default_0.duckdb").is_file()
    assert f"kept {kept}" in capsys.readouterr().out


def test_data_without_its_future_is_refused_before_any_build(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        load_script("accuracy").main(["--data", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"--data {tmp_path}: no actuals.parquet" in capsys.readouterr().err
