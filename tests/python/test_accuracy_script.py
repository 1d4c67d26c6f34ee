"""scripts/accuracy.py's measure of the machine's other load during a build."""

from __future__ import annotations

import os
import time

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
