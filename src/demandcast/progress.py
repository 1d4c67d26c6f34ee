"""Progress of the long steps, and what failed in them, in dbt's log.

A dbt Python model on dbt-duckdb runs inside dbt's own process, in the thread
of its node, so a line can go where `{{ log(msg, info=True) }}` sends one: dbt's
event `JinjaLogInfo`, tagged with the node. It reaches the console at dbt's
default log level and logs/dbt.log (and the JSON log with
`--log-format json`). Outside a dbt node (scripts, tests, a notebook) the same
line goes to the Python logger `demandcast.progress`.

`Progress` counts work done of a total and reports every `every` share of it,
and every `interval` seconds while a long call runs (`running`): what is done
of what, the time elapsed and an estimate of the time left. Work can be of several kinds with
different costs (the backtest's groups of series: a fit of AutoETS costs many
of Naive): the estimate is each kind's work left at the seconds per unit
measured on that kind so far, or on all work so far for a kind not yet
started. `report_failures` sums up failures per candidate: how many, and the
first error.
"""

from __future__ import annotations

import contextvars
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def emit(message: str, warning: bool = False) -> None:
    """One line to dbt's log inside a dbt node; to the Python logger elsewhere."""
    if not _fire_dbt_event(message):
        log.log(logging.WARNING if warning else logging.INFO, message)


def _fire_dbt_event(message: str) -> bool:
    if "dbt.events.types" not in sys.modules:  # not in a dbt run; spares a 1 s import
        return False
    from dbt.events.types import JinjaLogInfo
    from dbt_common.events.contextvars import get_node_info
    from dbt_common.events.functions import fire_event

    node_info = get_node_info()
    if not node_info:  # not inside a node of a dbt run
        return False
    fire_event(JinjaLogInfo(msg=message, node_info=node_info))
    return True


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'."""
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Work done of a total, reported to dbt's log every `every` share or `interval` s.

    `counts` are what the lines count besides the work, each with its total
    (e.g. {"series": 317, "groups": 4}); `advance` adds to them.
    """

    def __init__(
        self,
        step: str,
        total_work: float | dict,
        counts: dict[str, int],
        every: float = 0.1,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        work_unit: str = "fits",
    ) -> None:
        self.step = step
        by_kind = total_work if isinstance(total_work, dict) else {None: total_work}
        self._kind_total = {k: float(v) for k, v in by_kind.items()}
        self._kind_work = dict.fromkeys(by_kind, 0.0)
        self._kind_seconds = dict.fromkeys(by_kind, 0.0)
        self.total_work = sum(self._kind_total.values())
        self.totals = dict(counts)
        self.done = dict.fromkeys(counts, 0)
        self.work = 0.0
        self.every = every
        self.interval = interval
        self.work_unit = work_unit
        self._clock = clock
        self._start = clock()
        self._last_time = self._start  # of the last line
        self._last_work = 0.0
        self._last_mark = self._start  # of the last work done

    def start(self, plan: str) -> None:
        """The first line: what the step is about to do."""
        emit(f"{self.step}: {plan}")

    def advance(self, work: float = 0.0, kind: object = None, **counts: int) -> None:
        """Add work (of a kind) and counts; report when `every` of the work or `interval` s
        has passed. The time since the last work done is the cost of this work."""
        now = self._clock()
        if work:
            self.work += work
            self._kind_work[kind] += work
            self._kind_seconds[kind] += now - self._last_mark
            self._last_mark = now
        for key, value in counts.items():
            self.done[key] += value
        share_due = self.work - self._last_work >= self.every * self.total_work
        if (share_due or now - self._last_time >= self.interval) and self.work < self.total_work:
            self._last_time, self._last_work = now, self.work
            emit(self.line(now))

    def line(self, now: float | None = None) -> str:
        """'backtest: 120/317 series, 2/4 groups, 38 % of 7,272 fits; 25 s elapsed, ~41 s left'."""
        now = self._clock() if now is None else now
        elapsed = now - self._start
        share = self.work / self.total_work if self.total_work > 0 else 1.0
        left_s = self._seconds_left() - (now - self._last_mark) if 0 < share < 1 else 0.0
        if 0 < share < 1:
            left = f"~{duration(left_s)} left" if left_s > 0 else "longer than estimated"
        else:
            left = "time left unknown" if share == 0 else "done"
        return (
            f"{self.step}: {self._counted()}, {math.floor(100 * share)} % of "
            f"{self.total_work:,.0f} {self.work_unit}; {duration(elapsed)} elapsed, {left}"
        )

    @contextmanager
    def running(self, what: str) -> Iterator[None]:
        """While the block runs (a long StatsForecast call), a line at least every
        `interval` s, saying what runs. From a thread that carries the caller's context,
        so dbt still files the line under the node."""
        stop = threading.Event()
        context = contextvars.copy_context()

        def beat() -> None:
            while not stop.wait(max(self._last_time + self.interval - self._clock(), 0.05)):
                now = self._clock()
                if now - self._last_time >= self.interval:
                    self._last_time = now
                    context.run(emit, f"{self.line(now)}; running {what}")

        thread = threading.Thread(target=beat, name=f"{self.step}-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _seconds_left(self) -> float:
        overall = (self._last_mark - self._start) / self.work
        left = 0.0
        for kind, total in self._kind_total.items():
            done = self._kind_work[kind]
            rate = self._kind_seconds[kind] / done if done else overall
            left += max(total - done, 0.0) * rate
        return left

    def finish(self, summary: str = "") -> None:
        """The last line: the counts and the time it took."""
        elapsed = self._clock() - self._start
        tail = f"; {summary}" if summary else ""
        emit(f"{self.step}: finished {self._counted()} in {duration(elapsed)}{tail}")

    def _counted(self) -> str:
        return ", ".join(f"{self.done[k]}/{self.totals[k]} {k}" for k in self.totals)


def report_failures(
    step: str, failures: Iterable[tuple[str, str]], recorded: str, limit: int = 20
) -> None:
    """A line on where the failures are recorded, then one per candidate that failed:
    on how many series, and its first error. `failures` yields (candidate, error
    message) pairs in series order."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for name, error in failures:
        counts[name] = counts.get(name, 0) + 1
        first.setdefault(name, str(error))
    if not counts:
        return
    total = sum(counts.values())
    emit(
        f"{step}: {total} series x candidate failure(s) in {len(counts)} candidate(s), "
        f"{recorded}; the run goes on",
        warning=True,
    )
    ranked = sorted(counts, key=lambda n: (-counts[n], n))
    for name in ranked[:limit]:
        emit(f"{step}: {name} failed on {counts[name]} series; first error: {first[name]}", True)
    if len(ranked) > limit:
        emit(f"{step}: and {len(ranked) - limit} more candidate(s) with failures", True)
