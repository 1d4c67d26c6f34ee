"""Progress lines and failure summaries (demandcast.progress), outside dbt: the Python log."""

from __future__ import annotations

import logging
import time

import pytest

from demandcast.progress import Progress, duration, report_failures


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(caplog):
    """caplog, listening to the progress logger; `log.messages` are the lines so far."""
    caplog.set_level(logging.INFO, logger="demandcast.progress")
    return caplog


def test_durations_read_naturally():
    assert [duration(s) for s in (0.4, 42, 89.4, 185, 3725)] == [
        "0 s",
        "42 s",
        "89 s",
        "3 min 05 s",
        "1 h 02 min",
    ]


def test_progress_reports_every_tenth_of_the_work_with_an_estimate_of_the_time_left(log):
    clock = Clock()
    progress = Progress("backtest", 1000, {"series": 100, "groups": 2}, clock=clock)
    progress.start("100 series, 1,000 model fits in 2 groups")
    for _ in range(20):  # 20 steps of 5 % each, 1 s apart
        clock.now += 1
        progress.advance(50, series=5)
    progress.advance(groups=2)
    progress.finish("series x candidate rows: 900 ok")
    assert log.messages[0] == "backtest: 100 series, 1,000 model fits in 2 groups"
    reports = log.messages[1:-1]
    assert len(reports) == 9  # at 10 %, 20 %, ..., 90 %: the end has its own line
    assert (
        reports[0]
        == "backtest: 10/100 series, 0/2 groups, 10 % of 1,000 fits; 2 s elapsed, ~18 s left"
    )
    assert reports[-1].startswith("backtest: 90/100 series, 0/2 groups, 90 % of 1,000 fits; 18 s")
    assert (
        log.messages[-1]
        == "backtest: finished 100/100 series, 2/2 groups in 20 s; series x candidate rows: 900 ok"
    )


def test_a_slow_step_is_reported_after_the_interval_even_below_a_tenth(log):
    clock = Clock()
    progress = Progress("forecast", 1000, {"models": 40}, clock=clock, work_unit="refits")
    clock.now = 31
    progress.advance(10, models=1)
    clock.now = 40
    progress.advance(10, models=1)  # neither 10 % nor 30 s since the last line
    assert log.messages == [
        "forecast: 1/40 models, 1 % of 1,000 refits; 31 s elapsed, ~51 min 09 s left"
    ]


def test_failures_are_summed_up_per_candidate_with_the_first_error(log):
    report_failures(
        "backtest",
        [("AutoCES", "ValueError: a"), ("TSB", "ZeroDivisionError: b"), ("AutoCES", "later")],
        "recorded with status 'failed'",
    )
    assert log.messages == [
        "backtest: 3 series x candidate failure(s) in 2 candidate(s), recorded with status "
        "'failed'; the run goes on",
        "backtest: AutoCES failed on 2 series; first error: ValueError: a",
        "backtest: TSB failed on 1 series; first error: ZeroDivisionError: b",
    ]
    report_failures("forecast", [], "anywhere")
    assert len(log.messages) == 3  # nothing failed: nothing said


def test_the_time_left_counts_each_kind_of_work_at_its_own_pace(log):
    clock = Clock()
    progress = Progress("backtest", {0: 100, 1: 100}, {"groups": 2}, every=0.0, clock=clock)
    clock.now = 1
    progress.advance(100, kind=0, groups=1)  # cheap: 100 fits in 1 s
    clock.now = 11
    progress.advance(10, kind=1)  # expensive: 10 fits in 10 s, 90 to go at that pace
    assert log.messages[-1].endswith("55 % of 200 fits; 11 s elapsed, ~1 min 30 s left")
    # a kind not started yet is estimated at the pace of all the work so far
    fresh = Progress("forecast", {0: 10, 1: 10}, {}, every=0.0, clock=clock)
    clock.now += 2
    fresh.advance(10, kind=0)
    assert fresh.line().endswith("~2 s left")


def test_a_long_call_is_reported_every_interval_while_it_runs(log):
    progress = Progress("backtest", 100, {"series": 10}, interval=0.05)
    progress.advance(10, series=1)
    with progress.running("9 series x 3 candidates"):
        time.sleep(0.3)
    beats = [m for m in log.messages if m.endswith("; running 9 series x 3 candidates")]
    assert len(beats) >= 2, log.messages
    assert beats[0].startswith("backtest: 1/10 series, 10 % of 100 fits; 0 s elapsed, ")
