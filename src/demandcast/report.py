"""`demandcast report`: one self-contained HTML page of a published run, for planners.

Reads the published copy (`warehouse/<target>_published.duckdb`) read-only, and, when
given, the working warehouse for the run's gate results. The page holds everything
it shows: inline CSS, a few lines of inline JavaScript for the search box, and one
inline SVG per series drawn here (recent history, the forecast and its intervals).
A Content-Security-Policy forbids the page any request, so it opens the same on a
machine without a network as in a browser with one.

Size: the history shown is capped (two seasons, at least two horizons), and each plot
is drawn in a coordinate system of whole numbers (x = period index, y = 0..1000 of the
series' scale) with relative path commands, about 1.5 kB per series.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import re
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from demandcast.evaluate import forecast_with_intervals, interval_levels

# plot geometry, in SVG pixels (the plot scales to the card's width)
WIDTH, HEIGHT = 600, 220
X0, X1, Y0, Y1 = 52, 590, 8, 190
Y_UNITS = 1000  # the y axis in whole units: a path point is a few characters
PERIOD_WORD = {"day": "days", "week": "weeks", "month": "months"}
METRIC_NAMES = {
    "mase": "MASE",
    "rmsse": "RMSSE",
    "mae": "MAE",
    "rmse": "RMSE",
    "smape": "sMAPE",
    "wape": "WAPE",
    "bias": "bias",
}


class ReportError(Exception):
    """The input cannot make a report (missing file, not a published copy)."""


@dataclass
class Run:
    """The publication row: the run the published copy holds."""

    row: dict[str, Any]

    @property
    def horizon(self) -> int:
        return int(self.row["horizon"])

    @property
    def season_length(self) -> int:
        return int(self.row.get("season_length") or 1)

    @property
    def frequency(self) -> str:
        return str(self.row.get("frequency") or "")


# --- formatting -----------------------------------------------------------------------


def _e(value: Any) -> str:
    """HTML-escaped text; '' for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 0) -> str:
    """A number as a planner reads it: thousands separated, '–' when missing."""
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    if digits == 0 and abs(value) < 100 and value != round(value):
        digits = 1
    return f"{value:,.{digits}f}"


def _pct(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * float(value):.1f} %"


def _date(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None and stamp == stamp.normalize():
        return str(stamp.date())
    return stamp.strftime("%Y-%m-%d %H:%M %Z").strip()


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at least `value` (an axis top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """An HTML table; columns from `numeric_from` on are right-aligned numbers (already text)."""
    head = "".join(
        f"<th{' class=n' if i >= numeric_from else ''}>{h}</th>" for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i >= numeric_from else ''}>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- plots ----------------------------------------------------------------------------


def _steps(dx: int, units: np.ndarray) -> str:
    """Relative line segments `dx` periods apart through `units` ('' for one point)."""
    if len(units) < 2:
        return ""
    return "l" + " ".join(f"{dx} {d}" for d in np.diff(units)).replace(" -", "-")


def _path(start: int, units: np.ndarray) -> str:
    """A polyline through (start + i, units[i]); one point is a dot (round line cap)."""
    return f"M{start} {units[0]}" + (_steps(1, units) or "h0")


def _band(start: int, lo: np.ndarray, hi: np.ndarray) -> str:
    """A closed area between `lo` and `hi`, from x = start, one period apart (one period:
    a bar half a period wide, left of the last period)."""
    if len(lo) == 1:
        return f"M{start - 0.5} {hi[0]}h0.5V{lo[0]}h-0.5Z"
    end = start + len(lo) - 1
    return f"M{start} {hi[0]}{_steps(1, hi)}L{end} {lo[-1]}{_steps(-1, lo[::-1])}Z"


def _plot(
    history: np.ndarray,
    forecast: np.ndarray | None,
    bands: list[tuple[np.ndarray, np.ndarray]],
    labels: tuple[str, str, str],
    horizon: int,
) -> str:
    """One series' inline SVG: history (NaN before the series starts), then the forecast
    from the last period of history, with its bands (widest first). Every plot spans the
    same periods (history + horizon), so plots line up."""
    n_hist = len(history)
    n_total = n_hist + horizon
    known = history[~np.isnan(history)]
    values = [known] + (
        [forecast] + [b for pair in bands for b in pair] if forecast is not None else []
    )
    stacked = np.concatenate([v[np.isfinite(v)] for v in values])
    low = -_nice_ceiling(-float(stacked.min())) if stacked.size and stacked.min() < 0 else 0.0
    top = _nice_ceiling(float(stacked.max())) if stacked.size else 1.0

    def units(v: np.ndarray) -> np.ndarray:
        return np.rint((v - low) / (top - low) * Y_UNITS).astype(int)

    sx = (X1 - X0) / max(n_total - 1, 1)
    sy = (Y1 - Y0) / Y_UNITS
    parts = []
    for i, (lo, hi) in enumerate(bands):
        parts.append(f'<path class="b{i}" d="{_band(n_hist, units(lo), units(hi))}"/>')
    first = int(np.argmax(~np.isnan(history))) if known.size else n_hist
    if known.size:
        parts.append(f'<path class="h" d="{_path(first, units(history[first:]))}"/>')
    if forecast is not None and len(forecast):
        last = history[-1] if not np.isnan(history[-1]) else forecast[0]
        line = units(np.concatenate([[last], forecast]))
        parts.append(f'<path class="f" d="{_path(n_hist - 1, line)}"/>')
    x_origin = X0 + (n_hist - 1) * sx
    mid = (low + top) / 2
    first_label, origin_label, last_label = labels
    axis = (
        f'<path class="g" d="M{X0} {Y0}H{X1}M{X0} {(Y0 + Y1) / 2:g}H{X1}M{X0} {Y1}H{X1}"/>'
        f'<path class="o" d="M{x_origin:.1f} {Y0}V{Y1}"/>'
        f'<text x="{X0 - 4}" y="{Y0 + 4}" class="e">{_num(top)}</text>'
        f'<text x="{X0 - 4}" y="{(Y0 + Y1) / 2 + 4:g}" class="e">{_num(mid)}</text>'
        f'<text x="{X0 - 4}" y="{Y1 + 4}" class="e">{_num(low)}</text>'
        f'<text x="{X0}" y="{HEIGHT - 12}">{first_label}</text>'
        f'<text x="{x_origin - 4:.1f}" y="{HEIGHT - 12}" class="e">{origin_label}</text>'
        f'<text x="{X1}" y="{HEIGHT - 12}" class="e">{last_label}</text>'
    )
    return (
        f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">{axis}'
        f'<g transform="matrix({sx:.5g} 0 0 {-sy:.5g} {X0} {Y1})">{"".join(parts)}</g></svg>'
    )


# --- reading the published copy ---------------------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {t for (t,) in con.execute("show tables").fetchall()}


def _read_run(con: duckdb.DuckDBPyConnection, db: Path) -> Run:
    if "publication" not in _tables(con):
        raise ReportError(
            f"{db} has no table `publication`: not a published demandcast file. Pass the "
            "copy a good `dbt build` writes, warehouse/<target>_published.duckdb."
        )
    frame = con.execute("select * from publication").df()
    if len(frame) != 1:
        raise ReportError(f"{db}: `publication` has {len(frame)} rows, not one")
    row = {k: (None if pd.isna(v) else v) for k, v in frame.iloc[0].items()}
    return Run(row)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    if table not in _tables(con):
        return set()
    return {r[0] for r in con.execute(f"describe {table}").fetchall()}


def _series_frame(con: duckdb.DuckDBPyConnection, max_series: int | None) -> pd.DataFrame:
    """Per series, largest first: the names, the model (in planner words), and what says how
    far to trust it: backtest MASE, the latest live MASE (mon_accuracy__by_series), the
    runner-up's score against the champion's, drift, exceptions, overrides."""
    limit = f"limit {int(max_series)}" if max_series else ""
    forecast, tables = _columns(con, "fct_demand_forecast"), _tables(con)

    def col(name: str, default: str = "null") -> str:
        return name if name in forecast else default

    def part(table: str, sql: str, columns: str) -> str:
        return f"({sql})" if table in tables else f"(select null as series_id, {columns})"

    live = part(
        "mon_accuracy__by_series",
        """select series_id, arg_max(mase, forecast_origin) as live_mase
        from mon_accuracy__by_series group by series_id""",
        "null as live_mase",
    )
    drift = part(
        "mon_demand_drift",
        "select series_id, bool_or(is_drifted) as is_drifted from mon_demand_drift group by 1",
        "null as is_drifted",
    )
    exceptions = part(
        "fct_forecast_exceptions",
        """select series_id,
            string_agg(distinct exception_type, ', ') filter (exception_type != 'runner_up')
                as exceptions,
            bool_or(exception_type = 'runner_up') as runner_up_flagged
        from fct_forecast_exceptions group by 1""",
        "null as exceptions, null as runner_up_flagged",
    )
    decided = (  # a copy from before the retraining decisions has none
        "r.decision" if "decision" in _columns(con, "fct_model_registry") else "null"
    )
    registry = part(
        "fct_model_registry",
        f"""select r.series_id, r.runner_up,
            r.runner_up_score / nullif(r.champion_score, 0) as runner_up_ratio,
            {decided} as decision
        from fct_model_registry as r join publication as p on r.run_id = p.run_id""",
        "null as runner_up, null as runner_up_ratio, null as decision",
    )
    return con.execute(f"""
        select s.series_id, s.plant_id, s.plant_name, s.product_id, s.product_name,
            s.product_group, s.demand_class, s.lifecycle, s.total_demand,
            f.model_name, f.method, f.model_description, f.backtest_mase, f.n_overrides,
            f.forecast_change, f.closures, l.live_mase, d.is_drifted, e.exceptions,
            e.runner_up_flagged,
            r.runner_up, r.runner_up_ratio, r.decision
        from dim_series as s
        left join (
            select series_id, any_value(model_name) as model_name, any_value(method) as method,
                any_value({col("model_description", "model_name")}) as model_description,
                any_value({col("backtest_mase")}) as backtest_mase,
                count({col("override_quantity")}) as n_overrides,
                sum({col("forecast_change")}) as forecast_change,
                string_agg(
                    strftime(period_start, '%-d %b') || ' ×'
                    || printf('%.2f', {col("closure_factor")}), ', ' order by period_start
                ) filter ({col("closure_factor")} is not null) as closures
            from fct_demand_forecast group by series_id
        ) as f using (series_id)
        left join {live} as l using (series_id)
        left join {drift} as d using (series_id)
        left join {exceptions} as e using (series_id)
        left join {registry} as r using (series_id)
        where s.lifecycle is distinct from 'launch'  -- the launches have their own section
        order by s.total_demand desc nulls last, s.series_id
        {limit}""").df()


DRIFT_RESELECTED = "demand drifted (its model chosen again this run)"
"""A drift flag the run already answered: the series was re-selected on the changed history
(fct_model_registry's decision reselect). On its card; it lists a series in Needs a look only
beside another flag."""


def _as_many(total: float, n: int, periods: int) -> float:
    """A total over `n` periods as over `periods` (at the same rate) where there were fewer:
    a series with one week of history is compared with a 13-week forecast at 13 times that
    week, not at the week alone."""
    return total * periods / n if 0 < n < periods else total


def _flags(
    row: Any, next_total: float | None, last_total: float, earlier_total: float | None = None
) -> list[str]:
    """What should make a planner look at a series, in words (empty: nothing). A forecast
    under half or over twice the last periods' demand is flagged unless the same periods a
    season earlier (`earlier_total`, where the history reaches them) were within that
    range of it too: a season's usual dip or peak is no surprise."""

    def known(value: Any) -> bool:
        return value is not None and not pd.isna(value)

    def within(reference: float | None) -> bool:
        return known(reference) and reference > 0 and 0.5 <= next_total / reference <= 2

    flags = []
    if known(row.exceptions):
        flags.append(f"exception: {row.exceptions}")
    if next_total is not None and last_total > 0 and not within(earlier_total):
        also = " and a season earlier" if known(earlier_total) else ""
        if next_total < 0.5 * last_total:
            flags.append(f"forecast under half the last periods{also}")
        elif next_total > 2 * last_total:
            flags.append(f"forecast over twice the last periods{also}")
    if known(row.runner_up_flagged) and bool(row.runner_up_flagged):  # the warehouse's rule
        better = f" {1 - row.runner_up_ratio:.0%}" if known(row.runner_up_ratio) else ""
        flags.append(f"runner-up {row.runner_up} scored{better} better")
    live, backtest = row.live_mase, row.backtest_mase
    if known(live) and known(backtest) and live > 1.5 * backtest:
        flags.append("live accuracy far below the backtest's")
    if known(row.is_drifted) and bool(row.is_drifted):
        flags.append(DRIFT_RESELECTED if row.decision == "reselect" else "demand drifted")
    if known(row.n_overrides) and row.n_overrides > 0:
        flags.append(f"{int(row.n_overrides)} period(s) overridden")
    return flags


def _history_matrix(
    con: duckdb.DuckDBPyConnection, ids: list[str], n_periods: int
) -> tuple[list[Any], pd.DataFrame]:
    """The last `n_periods` periods of history, and demand per series × period (NaN before
    a series starts)."""
    periods = [
        p
        for (p,) in con.execute(
            "select distinct period_start from fct_demand_history order by 1 desc limit ?",
            [int(n_periods)],
        ).fetchall()
    ][::-1]
    if not periods:
        return [], pd.DataFrame(index=ids)
    con.register("report_ids", pd.DataFrame({"series_id": ids}))
    frame = con.execute(
        """select series_id, period_start, demand from fct_demand_history
        where period_start >= ? and series_id in (select series_id from report_ids)""",
        [periods[0]],
    ).df()
    con.unregister("report_ids")
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    matrix = frame.pivot(index="series_id", columns="period_start", values="demand")
    return periods, matrix.reindex(index=ids, columns=pd.to_datetime(periods))


def _intervals_from_zero(con: duckdb.DuckDBPyConnection, run: Run) -> bool:
    """Whether the published run made its intervals from zero (var intervals_from_zero),
    from its settings in fct_model_registry; False for a run from before the var."""
    if "fct_model_registry" not in _tables(con):
        return False
    row = con.execute(
        "select settings from fct_model_registry where run_id = ? and settings is not null limit 1",
        [run.row.get("run_id")],
    ).fetchone()
    return bool(row and json.loads(row[0]).get("intervals_from_zero", False))


def _forecast_matrices(
    con: duckdb.DuckDBPyConnection, horizon: int, levels: list[str]
) -> tuple[list[Any], dict[str, pd.DataFrame]]:
    """Forecast periods (by step) and one series × step matrix per column."""
    columns = ["forecast"] + [f"{s}_{lv}" for lv in levels for s in ("lo", "hi")]
    frame = con.execute(
        f"select series_id, step, period_start, {', '.join(columns)} from forecast_intervals"
    ).df()
    steps = list(range(1, horizon + 1))
    periods = frame.groupby("step")["period_start"].min().reindex(steps).tolist()
    return periods, {
        c: frame.pivot(index="series_id", columns="step", values=c).reindex(columns=steps)
        for c in columns
    }


# --- sections --------------------------------------------------------------------------


def _attention_section(rows: list[list[str]], word: str, horizon: int) -> str:
    """The series flagged on their cards, first on the page, largest first."""
    title = '<h2 id="attention">Needs a look</h2>'
    if not rows:
        return f"{title}<p>No series is flagged.</p>"
    return (
        f"{title}<p>{len(rows):,} series, largest first (total demand to date): exceptions "
        "(<code>fct_forecast_exceptions</code>), a forecast under half or over twice the last "
        f"{horizon} {word} and the same {word} a season earlier (where the history has "
        "them: a season's usual dip or peak is not flagged), a runner-up the backtest "
        "scored far better than the champion (<code>runner_up</code> in the exceptions, "
        "var <code>runner_up_flag_ratio</code>), live accuracy (MASE) over 1.5 times the "
        "backtest's, drifted demand (unless this run chose its model again on it), or a "
        "planner's override. Discontinued products without "
        f"demand in the last {horizon} {word} are not listed (nothing to plan; their cards "
        "keep their flags), nor planned launches, which have a section of their own "
        '(<a href="#launches">Launches</a>). Each links to its card.</p>'
        + _table(
            [
                "product",
                "plant",
                "why",
                "backtest MASE",
                "live MASE",
                f"next {horizon} {word}",
                f"last {horizon} {word}",
            ],
            rows,
            numeric_from=3,
        )
    )


# the last `?` periods' demand per series (the span a horizon's forecast is set against)
_RECENT = """recent as (
            select series_id, sum(demand) as last_total from fct_demand_history
            where period_start in (select distinct period_start from fct_demand_history
                order by 1 desc limit ?)
            group by 1)"""


# the same periods as the forecast's, `back` periods (whole seasons) earlier: of the last
# `back` periods of history, the first `horizon`
_EARLIER = """earlier as (
            select series_id, sum(demand) as earlier_total from fct_demand_history
            where period_start in (select period_start from (select distinct period_start
                from fct_demand_history order by 1 desc limit ?) order by 1 limit ?)
            group by 1)"""


def _seasons_back(con: duckdb.DuckDBPyConnection, run: Run) -> int:
    """Periods between a forecast period and the same period of the season the totals compare
    it with: the fewest whole seasons that reach before the origin over the whole horizon (52
    weeks for 13 weeks ahead, 24 months for 18); 0 where the history is shorter or the run
    has no season."""
    m = int(run.season_length or 0)
    if m <= 1:
        return 0
    back = m * math.ceil(run.horizon / m)
    (n,) = con.execute("select count(distinct period_start) from fct_demand_history").fetchone()
    return back if n >= back else 0


def _compared(back: int, word: str, horizon: int) -> tuple[list[str], str]:
    """The totals' headers of the span a season earlier, and the words that explain them."""
    if not back:
        return [], ""
    return [f"{back} {word} earlier", f"change on {back} {word} earlier"], (
        f", and the demand of the forecast's {horizon} {word} as they were {back} {word} "
        "earlier (seasonal demand set against its own season)"
    )


def _products_section(con: duckdb.DuckDBPyConnection, run: Run) -> str:
    """Totals per product across its plants: the last horizon's demand, the same periods a
    season earlier, and the forecast."""
    word = PERIOD_WORD.get(run.frequency, "periods")
    back = _seasons_back(con, run)
    frame = con.execute(
        f"""with {_RECENT}, {_EARLIER}
        select s.product_id, any_value(s.product_name) as product_name,
            any_value(s.product_group) as product_group, count(*) as plants,
            sum(r.last_total) as last_total, sum(e.earlier_total) as earlier_total,
            sum(f.next_total) as next_total
        from dim_series as s
        left join recent as r using (series_id)
        left join earlier as e using (series_id)
        left join (select series_id, sum(forecast) as next_total from fct_demand_forecast
            group by 1) as f using (series_id)
        group by s.product_id
        order by next_total desc nulls last, s.product_id""",
        [run.horizon, back, run.horizon],
    ).df()
    headers, words = _compared(back, word, run.horizon)
    rows = [
        [
            _e(r.product_name or r.product_id),
            _e(r.product_id),
            _e(r.product_group),
            _num(r.plants),
            _num(r.last_total),
            _num(r.next_total),
            _pct(r.next_total / r.last_total - 1) if r.last_total else "–",
            *_earlier_cells(back, r.earlier_total, r.next_total),
        ]
        for r in frame.itertuples(index=False)
    ]
    return (
        f'<h2 id="products">Products across plants</h2><p>Each product\'s demand summed over '
        f"its plants: the last {run.horizon} {word} of history and the forecast of the next "
        f"{run.horizon}{words}; largest forecast first.</p>"
        + _table(
            [
                "product",
                "id",
                "group",
                "plants",
                f"last {run.horizon} {word}",
                f"next {run.horizon} {word}",
                "change",
                *headers,
            ],
            rows,
            numeric_from=3,
        )
    )


def _earlier_cells(back: int, earlier: Any, next_total: Any) -> list[str]:
    """The cells of the span a season earlier: its demand and the forecast's change on it."""
    if not back:
        return []
    known = earlier is not None and not pd.isna(earlier) and earlier
    return [_num(earlier), _pct(next_total / earlier - 1) if known else "–"]


def _closures_said(con: duckdb.DuckDBPyConnection) -> str:
    """The weeks a recurring plant closure scaled (closures.py), one line per plant and
    week with what the history showed; '' where none."""
    rows = con.execute(
        """select f.plant_id, f.period_start, any_value(f.fallback_reason)
        from fct_demand_forecast as f
        where f.closure_factor is not null and f.fallback_reason like '%plant closure: %'
        group by all order by 1, 2"""
    ).fetchall()
    if not rows:
        return ""
    items = "".join(
        f"<li>{_e(plant)}, week of {week}: "
        f"{_e(reason[reason.index('plant closure: ') + len('plant closure: ') :])}</li>"
        for plant, week, reason in rows
    )
    return (
        "<p>Recurring plant closures (days that dipped on the same dates in two of the "
        "last three years) scale these weeks' forecast for every series of the plant:</p>"
        f"<ul>{items}</ul>"
    )


def _levels_section(con: duckdb.DuckDBPyConnection, run: Run) -> str:
    """The forecast summed at the total, per plant and per product group
    (fct_demand_forecast_levels, one coherent set), beside the last horizon's demand."""
    if "fct_demand_forecast_levels" not in _tables(con):
        return ""
    word = PERIOD_WORD.get(run.frequency, "periods")
    back = _seasons_back(con, run)
    frame = con.execute(
        f"""with {_RECENT}, {_EARLIER},
        base as (select series_id, r.last_total, e.earlier_total
            from recent as r full join earlier as e using (series_id)
            where series_id in (select level_key
            from fct_demand_forecast_levels where level = 'plant_product')),
        last_by as (
            select 'total' as level, 'total' as level_key, sum(r.last_total) as last_total,
                sum(r.earlier_total) as earlier_total
            from base as r
            union all
            select 'plant', s.plant_id, sum(r.last_total), sum(r.earlier_total) from base as r
            join dim_series as s using (series_id) group by 2
            union all
            select 'product_group', coalesce(s.product_group, '(no group)'), sum(r.last_total),
                sum(r.earlier_total)
            from base as r join dim_series as s using (series_id) group by 2),
        names as (select plant_id as level_key, any_value(plant_name) as name
            from dim_series group by 1)
        select l.level, l.level_key, coalesce(n.name, l.level_key) as name,
            any_value(l.n_series) as n_series, sum(l.forecast) as next_total,
            any_value(l.reconciliation) as reconciliation,
            any_value(l.backtest_mase) as backtest_mase, any_value(l.own_mase) as own_mase,
            any_value(b.last_total) as last_total,
            any_value(b.earlier_total) as earlier_total
        from fct_demand_forecast_levels as l
        left join last_by as b using (level, level_key)
        left join names as n on l.level = 'plant' and l.level_key = n.level_key
        where l.level in ('total', 'plant', 'product_group')
        group by l.level, l.level_key, n.name
        order by case l.level when 'total' then 0 when 'plant' then 1 else 2 end,
            next_total desc, l.level_key""",
        [run.horizon, back, run.horizon],
    ).df()
    if frame.empty:
        return ""
    headers, words = _compared(back, word, run.horizon)
    label = {"total": "total", "plant": "plant", "product_group": "product group"}
    rows = [
        [
            _e(label[r.level]),
            _e(r.name),
            _num(r.n_series),
            _num(r.last_total),
            _num(r.next_total),
            _pct(r.next_total / r.last_total - 1) if r.last_total else "–",
            *_earlier_cells(back, r.earlier_total, r.next_total),
            # one figure a level: on its first row only, not read as each node's own
            _num(r.backtest_mase, 2) if first else "",
        ]
        for r, first in zip(
            frame.itertuples(index=False), ~frame["level"].duplicated(), strict=True
        )
    ]
    how = frame["reconciliation"].iloc[0]
    total = frame[frame["level"] == "total"]
    own = ""
    if (
        len(total)
        and pd.notna(total["own_mase"].iloc[0])
        and pd.notna(total["backtest_mase"].iloc[0])
    ):
        own = (
            f" At the total, a model fitted on the summed demand itself scored "
            f"{_num(total['own_mase'].iloc[0], 2)} in the same backtest, against "
            f"{_num(total['backtest_mase'].iloc[0], 2)} for the sum of the series' forecasts "
            "published here (column <code>own_forecast</code>; var "
            "<code>reconciliation: auto</code> lets the backtest choose a reconciliation)."
        )
    return (
        f'<h2 id="levels">Totals</h2><p>The forecast at the total, per plant and per product '
        f"group (table <code>fct_demand_forecast_levels</code>, one coherent set: every level "
        f"adds up to the total; reconciliation <code>{_e(how)}</code>), beside the last "
        f"{run.horizon} {word} of demand{words}. Backtest MASE: one figure a level, the median "
        "over its nodes, of the published forecast against the seasonal naive of each node's "
        f"own summed demand (above 1: less accurate than it in the backtest).{own}</p>"
        + _closures_said(con)
        + _table(
            [
                "level",
                "node",
                "series",
                f"last {run.horizon} {word}",
                f"next {run.horizon} {word}",
                "change",
                *headers,
                "level's backtest MASE",
            ],
            rows,
            numeric_from=2,
        )
    )


def _launches_section(con: duckdb.DuckDBPyConnection, run: Run) -> str:
    """Planned launches without orders yet (method launch in fct_demand_forecast)."""
    word = PERIOD_WORD.get(run.frequency, "periods")
    # the launch date: dim_series lists the launches (since the twenty-seventh session);
    # in an older published file, the first period forecast above 0
    frame = con.execute(
        """select f.product_id, any_value(f.product_name) as product_name,
            any_value(f.plant_name) as plant_name, any_value(f.plant_id) as plant_id,
            any_value(f.product_group) as product_group, any_value(f.model_name) as model_name,
            any_value(f.model_description) as model_description,
            coalesce(any_value(s.launch_date), min(f.period_start) filter (where f.forecast > 0))
                as launch,
            sum(f.forecast) as next_total, any_value(f.fallback_reason) as detail
        from fct_demand_forecast as f
        left join dim_series as s using (series_id)
        where f.method = 'launch'
        group by f.series_id, f.product_id order by next_total desc, f.series_id"""
    ).df()
    if frame.empty:
        return ""
    rows = [
        [
            _e(r.product_name or r.product_id),
            _e(r.plant_name or r.plant_id),
            _e(r.product_group),
            _e(r.model_description or r.model_name),
            _e(_date(r.launch)),
            _e(r.detail or ""),
            _num(r.next_total),
        ]
        for r in frame.itertuples(index=False)
    ]
    return (
        f'<h2 id="launches">Launches</h2><p>{len(frame)} planned launch(es) without orders '
        f"yet, forecast from the launch (method <code>launch</code> in "
        f"<code>fct_demand_forecast</code>; from its first orders a product is forecast as a "
        f"new series). Forecast: the next {run.horizon} {word} summed.</p>"
        + _table(
            ["product", "plant", "group", "model", "launch", "how", "forecast"],
            rows,
            numeric_from=6,
        )
    )


def _series_section(
    con: duckdb.DuckDBPyConnection, run: Run, max_series: int | None, history_periods: int | None
) -> tuple[str, str, int, int]:
    """The series cards, largest first; returns (html, the section of flagged series, cards
    shown, series in the run)."""
    n_all = con.execute(
        "select count(*) from dim_series where lifecycle is distinct from 'launch'"
    ).fetchone()[0]
    series = _series_frame(con, max_series)
    ids = series["series_id"].tolist()
    levels = sorted(interval_levels(con, forecast_with_intervals(con)), key=float)
    back = _seasons_back(con, run)
    n_hist = history_periods or max(2 * run.season_length, 2 * run.horizon)
    hist_periods, history = _history_matrix(con, ids, n_hist)
    back = back if back <= len(hist_periods) else 0  # a window too short to reach it
    fc_periods, fc = _forecast_matrices(con, run.horizon, levels)
    word = PERIOD_WORD.get(run.frequency, "periods")
    labels = (
        _date(hist_periods[0]) if hist_periods else "",
        _date(hist_periods[-1]) if hist_periods else "",
        _date(fc_periods[-1]) if fc_periods and not pd.isna(fc_periods[-1]) else "",
    )
    cards, attention = [], []
    for i, row in enumerate(series.itertuples(index=False)):
        hist = history.loc[row.series_id].to_numpy(dtype=float) if len(history.columns) else None
        has_fc = row.series_id in fc["forecast"].index
        if hist is None:
            hist = np.full(1, np.nan)
        forecast = bands = None
        if has_fc:
            forecast = fc["forecast"].loc[row.series_id].to_numpy(dtype=float)
            keep = ~np.isnan(forecast)
            forecast = forecast[keep] if keep.any() else None
            bands = (
                []
                if forecast is None
                else [
                    (
                        fc[f"lo_{lv}"].loc[row.series_id].to_numpy(dtype=float)[keep],
                        fc[f"hi_{lv}"].loc[row.series_id].to_numpy(dtype=float)[keep],
                    )
                    for lv in reversed(levels)
                ]
            )
        svg = _plot(hist, forecast, bands or [], labels, run.horizon)
        recent = hist[-run.horizon :]
        last_total = float(np.nansum(recent))
        n_recent = int(np.isfinite(recent).sum())  # a new series has fewer than the horizon
        # the forecast's periods a season earlier (_seasons_back), where the window has them
        span = hist[len(hist) - back : len(hist) - back + run.horizon] if back else hist[:0]
        earlier = float(span.sum()) if len(span) and not np.isnan(span).any() else None
        if forecast is not None:
            outlook = (
                f"next {len(forecast)} {word} <b>{_num(forecast.sum())}</b> · last "
                f"{n_recent} {word} {_num(last_total)}"
            )
            if earlier is not None:
                outlook += f" · those {word} {back} {word} earlier {_num(earlier)}"
            if row.forecast_change is not None and not pd.isna(row.forecast_change):
                outlook += f" · since the last run {row.forecast_change:+,.0f}"
            if isinstance(row.closures, str):  # the weeks a plant closure scaled, and by
                outlook += f" · plant closure {_e(row.closures)}"
            model = f"{_e(row.model_description)} ({_e(row.model_name)}, {_e(row.method)})"
        else:
            outlook = f"last {n_recent} {word} {_num(last_total)}"
            model = "no forecast" + (": discontinued" if row.lifecycle == "discontinued" else "")
        ahead = None if forecast is None else float(forecast.sum())
        n_ahead = 0 if forecast is None else len(forecast)
        flags = _flags(row, ahead, _as_many(last_total, n_recent, n_ahead), earlier)
        trust = f"backtest MASE {_num(row.backtest_mase, 2)} · live MASE {_num(row.live_mase, 2)}"
        title = _e(row.product_name or row.product_id)
        plant = _e(row.plant_name or row.plant_id)
        meta = (
            f"{_e(row.series_id)} · {_e(row.product_group)} · {_e(row.demand_class)} · "
            f"{_e(row.lifecycle)} · {model}"
        )
        lines = (
            f'<p class="m">{meta}</p><p class="m">{trust}</p>'
            f'<p class="m">{outlook} · total to date {_num(row.total_demand)}</p>'
        )
        if flags:
            lines += '<p class="m">' + "".join(f'<span class="flag">{_e(f)}</span>' for f in flags)
            lines += "</p>"
        # the search matches every word on the card, its id first
        key = " ".join([row.series_id, title, plant, lines]).lower()
        key = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", key)))
        cards.append(
            f'<article id="s{i}" data-k="{_e(key)}"><h3>{title} <span>· {plant}</span></h3>'
            f"{lines}{svg}</article>"
        )
        # a discontinued product without a forecast or recent demand: nothing left to plan
        # (its card keeps its flags); one whose demand goes on is listed
        ended = row.lifecycle == "discontinued" and forecast is None and last_total == 0
        if any(f != DRIFT_RESELECTED for f in flags) and not ended:
            named = row.product_name and row.product_name != row.product_id
            attention.append(
                [
                    # the id beside a name: two products may share one (M1's two
                    # "FRANCE PRIVATE COMPANY DATA" series)
                    f'<a href="#s{i}">{title}</a>'
                    + (f" <small>{_e(row.product_id)}</small>" if named else ""),
                    plant,
                    _e("; ".join(flags)),
                    _num(row.backtest_mase, 2),
                    _num(row.live_mase, 2),
                    _num(None if forecast is None else forecast.sum()),
                    _num(last_total),
                ]
            )
    legend_bands = "".join(
        f'<span class="k b{i}"></span>{_e(lv)} %' for i, lv in enumerate(reversed(levels))
    )
    capped = (
        f" The {len(cards):,} largest of the run's {n_all:,} series are shown "
        f"(<code>--max-series</code>); fct_demand_forecast holds them all."
        if len(cards) < n_all
        else ""
    )
    from_zero = ""
    if levels and _intervals_from_zero(con, run) and (fc[f"lo_{levels[0]}"] == 0).any().any():
        lv = levels[0]
        from_zero = (
            " Where demand is often zero a band starts at 0 and its top is the level's "
            f"percentile ({_e(lv)} % of periods at or below the top of the {_e(lv)} % band); "
            "elsewhere the band is central."
        )
    head = (
        f'<h2 id="series">Series</h2><p>Largest first (total demand to date). The last '
        f"{len(hist_periods)} {word} of history, the forecast from the origin, and its "
        f"prediction intervals.{from_zero}{capped}</p>"
        f'<div class="tools"><input id="q" type="search" autocomplete="off" '
        f'placeholder="Filter by any word on a card" aria-label="Filter series">'
        f'<span id="n">{len(cards):,} of {len(cards):,} series</span>'
        f'<span class="legend"><span class="k h"></span>history <span class="k f"></span>'
        f"forecast {legend_bands}</span></div>"
        f'<p id="none" hidden>No series matches the filter.</p>'
    )
    return (
        head + '<div id="cards">' + "".join(cards) + "</div>",
        _attention_section(attention, word, run.horizon),
        len(cards),
        n_all,
    )


def _leaderboard_section(con: duckdb.DuckDBPyConnection) -> str:
    if "fct_model_leaderboard" not in _tables(con):
        return '<h2 id="leaderboard">Model leaderboard</h2><p>No leaderboard in this file.</p>'
    board = con.execute("""
        select * from fct_model_leaderboard
        order by demand_class = 'all' desc, demand_class, win_rank, score_rank, model_name""").df()
    overall = board[board["demand_class"] == "all"]
    metrics = overall["selection_metric"].dropna()
    metric = METRIC_NAMES.get(metrics.iloc[0], metrics.iloc[0]) if len(metrics) else "score"
    rows = [
        [
            _e(r.model_name),
            _num(r.n_wins),
            _pct(r.win_share),
            _num(r.n_series),
            _num(r.n_compared),
            _num(r.median_score, 3),
            _num(r.mean_mase, 3),
            _pct(r.mean_wape),
            _num(r.score_rank),
        ]
        for r in overall.itertuples(index=False)
    ]
    winners = board[(board["demand_class"] != "all") & (board["win_rank"] == 1)]
    by_class = [
        [
            _e(r.demand_class),
            _e(r.model_name),
            _num(r.n_wins),
            _pct(r.win_share),
            _num(r.n_series),
            _e(METRIC_NAMES.get(r.selection_metric, r.selection_metric or "")),
            _num(r.median_score, 3),
        ]
        for r in winners.itertuples(index=False)
    ]
    sparse = winners[winners["demand_class"].isin(("intermittent", "lumpy"))]
    other = {METRIC_NAMES.get(m, m) for m in sparse["selection_metric"].dropna()} - {metric}
    picked = _e(metric) + (
        f" ({_e(', '.join(sorted(other)))} for intermittent and lumpy series)" if other else ""
    )
    header = [
        "model",
        "series chosen for",
        "share chosen",
        "series scored",
        "series compared",
        f"median {_e(metric)}",
        "mean MASE",
        "mean WAPE",
        "score rank",
    ]
    return (
        '<h2 id="leaderboard">Model leaderboard</h2>'
        f"<p>Every candidate's backtest, the one chosen for most series first. Chosen "
        f"is not scored best: a series keeps its class's champion unless another "
        f"candidate scores far better (vars selection_margin, single_margin: under 10 % "
        f"of its score by default), as a few backtest windows cannot tell skill from "
        f"luck. Scores are over the series compared (those every ranked "
        f"candidate of the class scored), so candidates are compared on the same "
        f"series; the champion of each series was picked on {picked}.</p>"
        + _table(
            [
                "demand class",
                "most chosen",
                "series chosen for",
                "share chosen",
                "series scored",
                "selected on",
                "median score",
            ],
            by_class,
            numeric_from=2,
        )
        + f"<details><summary>All {len(rows)} candidates, over every class</summary>"
        "<p>A candidate run on some classes only (a class's combination) is scored in its "
        "class above, not here: here the candidates run on nearly every series are "
        "compared on the same series. Series too short to backtest take their class's "
        "champion and count in no candidate's wins.</p>"
        f"{_table(header, rows)}</details>"
    )


def _within_levels(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Levels L with a within_L column in `table`."""
    cols = [r[0] for r in con.execute(f"describe {table}").fetchall()]
    return [c.removeprefix("within_") for c in cols if c.startswith("within_")]


def _accuracy_section(con: duckdb.DuckDBPyConnection) -> str:
    title = '<h2 id="accuracy">Forecast accuracy</h2>'
    n = (
        con.execute("select count(*) from mon_forecast_accuracy").fetchone()[0]
        if ("mon_forecast_accuracy" in _tables(con))
        else 0
    )
    if not n:
        return (
            f"{title}<p>None yet: <code>mon_forecast_accuracy</code> has no rows. It scores past "
            "runs' forecasts once the actuals of their periods have arrived, so it fills from "
            "the first run after a published forecast's first period.</p>"
        )
    levels = sorted(_within_levels(con, "mon_forecast_accuracy"), key=float)
    cover = "".join(f', avg("within_{lv}"::int) as "cov_{lv}"' for lv in levels)
    columns = {r[0] for r in con.execute("describe mon_forecast_accuracy").fetchall()}
    # MASE and the value added over the seasonal naive (a published copy from before
    # these columns leaves them out)
    scaled = (
        """, avg(abs_error / mase_scale) as mase,
        avg(seasonal_naive_abs_error / mase_scale) - avg(abs_error / mase_scale) as fva"""
        if {"mase_scale", "seasonal_naive_abs_error"} <= columns
        else ", null as mase, null as fva"
    )

    # the floor of each level: per run and series the larger of L and its share of actuals
    # at 0 over all its periods (an interval that contains 0 holds every 0), averaged over
    # the group's periods
    floors = "".join(
        f', avg(case when "within_{lv}" is not null then greatest(zero_share, '
        f'{float(lv) / 100!r}) end) as "floor_{lv}"'
        for lv in levels
    )

    def grouped(by: str) -> pd.DataFrame:
        return con.execute(f"""
            with periods as (
                select *, avg((demand = 0)::double) over (partition by run_id, series_id)
                    as zero_share
                from mon_forecast_accuracy)
            select {by} as g, count(*) as n, count(distinct series_id) as series,
                sum(abs_error) / nullif(sum(abs(demand)), 0) as wape,
                sum(error) / nullif(sum(abs(demand)), 0) as bias,
                avg(abs_error) as mae {scaled} {cover} {floors}
            from periods group by all order by 1""").df()

    span = con.execute("""select count(distinct run_id), min(period_start), max(period_start)
        from mon_forecast_accuracy""").fetchone()
    header_tail = ["forecasts", "series", "WAPE", "bias", "MAE", "MASE", "FVA"] + [
        h for lv in levels for h in (f"within {lv} %", f"floor {lv} %")
    ]

    def rows(frame: pd.DataFrame) -> list[list[str]]:
        return [
            [
                # a step comes back as a float from iterrows (the row's numbers share a type)
                _e(int(r["g"]) if isinstance(r["g"], float) and r["g"].is_integer() else r["g"]),
                _num(r["n"]),
                _num(r["series"]),
                _pct(r["wape"]),
                _pct(r["bias"]),
                _num(r["mae"], 2),
                _num(r["mase"], 3),
                _num(r["fva"], 3),
            ]
            + [_pct(r[f"{k}_{lv}"]) for lv in levels for k in ("cov", "floor")]
            for _, r in frame.iterrows()
        ]

    return (
        f"{title}<p>{span[0]} past run(s) against the actuals of {_date(span[1])} to "
        f"{_date(span[2])}. WAPE = sum |error| / sum |actual|; bias = sum error / sum |actual|; "
        "MASE = mean |error| / the series' in-sample seasonal naive error up to the origin; "
        "FVA = the seasonal naive forecast's MASE from the same origin minus the forecast's "
        "(above 0: the forecast did better). Floor L %: the least an interval that contains "
        "0 can hold here, per run and series the larger of L and its share of actuals at 0 "
        "(every 0 is inside): where demand is often 0, within L % runs over L by that much "
        "when the intervals are right. Per series and run: "
        "<code>mon_accuracy__by_series</code>.</p>"
        "<h3>By demand class</h3>"
        + _table(
            ["demand class", *header_tail],
            # a planned launch has no demand class yet
            rows(grouped("coalesce(demand_class, 'launch (no class yet)')")),
        )
        + "<h3>By horizon step</h3>"
        + _table(["step", *header_tail], rows(grouped("step")))
    )


def _gates_section(warehouse: str | Path | None, run_id: str) -> str:
    title = '<h2 id="gates">Gate results</h2>'
    if warehouse is None:
        return (
            f"{title}<p>Not shown: the gate results live in the working warehouse, not the "
            "published copy. Pass <code>--warehouse warehouse/&lt;target&gt;.duckdb</code>.</p>"
        )
    path = Path(warehouse)
    if not path.is_file():
        return f"{title}<p>Not shown: no warehouse file at <code>{_e(path)}</code>.</p>"
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        return (
            f"{title}<p>Not shown: cannot open <code>{_e(path)}</code> read-only (a build "
            f"running?): {_e(first)}</p>"
        )
    with con:
        tables = _tables(con)
        if "gate_results" not in tables:
            return f"{title}<p>Not shown: <code>{_e(path)}</code> has no gate_results table.</p>"
        results = con.execute(
            "select * from gate_results where run_id = ? order by suite, expectation", [run_id]
        ).df()
        later = (
            con.execute(
                """select run_id, started_at, status, message from demandcast_runs
                where started_at > (select started_at from demandcast_runs where run_id = ?)
                order by started_at desc limit 1""",
                [run_id],
            ).fetchone()
            if "demandcast_runs" in tables
            else None
        )
    note = ""
    if later:
        later_id, started, status, message = later
        state = "running, or died" if status == "started" else status
        why = f": {_e(message)}" if message else ""
        note = (
            f'<p class="warn">A later run, {_e(later_id)} (started {_date(started)}), is '
            f"<b>{_e(state)}</b>{why}. This report shows the last published run.</p>"
        )
    if results.empty:
        return (
            f"{title}{note}<p>No gate results for run {_e(run_id)} in <code>{_e(path)}</code>.</p>"
        )
    summary = (
        results.assign(ok=results["success"].fillna(True).astype(bool))
        .groupby(["suite", "mode"], sort=False)
        .agg(n=("ok", "size"), passed=("ok", "sum"))
        .reset_index()
    )
    said = {"fail": "blocks the run", "warn": "warns only"}  # the var gate_modes' words
    rows = [
        [_e(r.suite), _e(said.get(r.mode, r.mode)), _num(r.n), _num(r.passed), _num(r.n - r.passed)]
        for r in summary.itertuples(index=False)
    ]
    failed = results[results["success"].eq(False)]
    failing = ""
    if not failed.empty:
        failing = (
            "<h3>Expectations that did not hold (mode warn: recorded, not blocking)</h3>"
            + _table(
                ["suite", "expectation", "column", "observed", "rows"],
                [
                    [
                        _e(r.suite),
                        _e(r.expectation),
                        _e(r.column_name),
                        _e(r.observed_value),
                        _num(r.unexpected_count),
                    ]
                    for r in failed.itertuples(index=False)
                ],
                numeric_from=4,
            )
        )
    total, passed = len(results), int(summary["passed"].sum())
    return (
        f"{title}{note}<p>{passed} of {total} expectations held in run {_e(run_id)} "
        f"(from <code>{_e(path)}</code>).</p>"
        + _table(
            ["suite", "when one fails", "expectations", "held", "failed"], rows, numeric_from=2
        )
        + failing
    )


# --- the page -----------------------------------------------------------------------------

CSS = """
:root{--ink:#1d2733;--mute:#5d6b7a;--line:#d9dee4;--h:#2f4b6e;--f:#d9480f;--bg:#f6f7f9}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
header,main,footer{max-width:1280px;margin:0 auto;padding:0 20px}
header{padding-top:18px}h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px;
padding-top:8px;border-top:1px solid var(--line)}h3{font-size:14px;margin:14px 0 6px}
dl.run{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:6px 18px;
margin:8px 0}dl.run div{background:#fff;border:1px solid var(--line);border-radius:6px;
padding:6px 10px}dt{font-size:12px;color:var(--mute)}dd{margin:0;font-weight:600;
overflow-wrap:anywhere}nav a{margin-right:14px;color:var(--h)}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left}th{background:#eef1f4}
.n{text-align:right;font-variant-numeric:tabular-nums}details{margin:6px 0}
summary{cursor:pointer;color:var(--h)}.warn{color:#a61e1e}code{font-size:12px}
.tools{position:sticky;top:0;z-index:2;background:var(--bg);padding:8px 0;display:flex;
gap:14px;align-items:center;flex-wrap:wrap;border-bottom:1px solid var(--line)}
#q{font:inherit;padding:6px 10px;width:340px;max-width:100%;border:1px solid #aab4bf;
border-radius:6px}#n{color:var(--mute)}.legend{color:var(--mute);font-size:12px}
.k{display:inline-block;width:18px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
.k.h{height:2px;background:var(--h)}.k.f{height:2px;background:var(--f)}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:12px;
margin:12px 0 24px}article{background:#fff;border:1px solid var(--line);border-radius:8px;
padding:8px 12px 2px;content-visibility:auto;contain-intrinsic-size:auto 340px}
article h3{margin:0;font-size:14px}article h3 span{font-weight:400;color:var(--mute)}
.m{margin:1px 0;font-size:12px;color:var(--mute)}.m b{color:var(--ink)}
.flag{display:inline-block;margin:2px 6px 0 0;padding:0 6px;border-radius:4px;
background:#fde2e1;color:#8a1c1c}
[hidden]{display:none!important}
svg.plot{display:block;width:100%;height:auto}svg.plot text{font-size:12px;fill:var(--mute)}
svg.plot text.e{text-anchor:end}.plot path{fill:none}.plot .g{stroke:#edf0f3}
.plot .o{stroke:#9aa5b1;stroke-dasharray:3 3}.plot .h,.plot .f{stroke-width:1.6;
vector-effect:non-scaling-stroke;stroke-linejoin:round;stroke-linecap:round}
.plot .h{stroke:var(--h)}
.plot .f{stroke:var(--f)}.plot .b0{fill:#fbd6c3}.plot .b1{fill:#f5a987}.plot .b2{fill:#ef8a5c}
.k.b0{background:#fbd6c3}.k.b1{background:#f5a987}.k.b2{background:#ef8a5c}
footer{color:var(--mute);font-size:12px;padding-bottom:30px}
"""

SCRIPT = """
(function () {
  var q = document.getElementById('q'), n = document.getElementById('n');
  var none = document.getElementById('none');
  var cards = Array.prototype.slice.call(document.querySelectorAll('#cards > article'));
  function apply() {
    var terms = q.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
    cards.forEach(function (c) {
      var key = c.getAttribute('data-k'), hit = terms.every(function (t) {
        return key.indexOf(t) >= 0;
      });
      c.hidden = !hit;
      if (hit) shown++;
    });
    n.textContent = shown.toLocaleString('en') + ' of ' + cards.length.toLocaleString('en') +
      ' series';
    none.hidden = shown > 0;
  }
  q.addEventListener('input', apply);
  var m = location.hash.match(/^#q=(.*)$/);
  if (m) { q.value = decodeURIComponent(m[1]); apply(); }
})();
"""

# No request may leave the page: every resource is inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _header(run: Run, db: Path) -> str:
    r = run.row
    fields = [
        ("run", r.get("run_id")),
        ("target", r.get("target_name")),
        ("forecast origin", _date(r.get("forecast_origin"))),
        ("horizon", f"{run.horizon} {PERIOD_WORD.get(run.frequency, 'periods')}"),
        ("frequency", run.frequency),
        ("history", f"{_date(r.get('data_start_date'))} to {_date(r.get('data_end_date'))}"),
        ("published at", _date(r.get("published_at"))),
        ("file", db.name),
    ]
    items = "".join(f"<div><dt>{k}</dt><dd>{_e(v)}</dd></div>" for k, v in fields)
    return (
        f"<header><h1>Demand forecast</h1><dl class=run>{items}</dl>"
        '<nav><a href="#attention">Needs a look</a><a href="#gates">Gate results</a>'
        '<a href="#accuracy">Accuracy</a><a href="#products">Products</a>'
        '<a href="#leaderboard">Model leaderboard</a><a href="#series">Series</a></nav></header>'
    )


def write_report(
    db: str | Path,
    out: str | Path,
    warehouse: str | Path | None = None,
    max_series: int | None = None,
    history_periods: int | None = None,
) -> dict[str, Any]:
    """Write the HTML report of the published copy `db` to `out`; returns what it wrote
    (path, bytes, series shown and in the run, seconds)."""
    started = time.perf_counter()
    db = Path(db)
    if not db.is_file():
        raise ReportError(f"no published file at {db}; run `demandcast build` first")
    if max_series is not None and max_series < 1:
        raise ReportError("--max-series must be at least 1")
    with duckdb.connect(str(db), read_only=True) as con:
        run = _read_run(con, db)
        series_html, attention, shown, n_all = _series_section(
            con, run, max_series, history_periods
        )
        body = (
            _header(run, db)
            + "<main>"
            + attention
            + _gates_section(warehouse, str(run.row["run_id"]))
            + _accuracy_section(con)
            + _levels_section(con, run)
            + _products_section(con, run)
            + _launches_section(con, run)
            + _leaderboard_section(con)
            + series_html
            + "</main>"
        )
    version = metadata.version("demandcast")
    written = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Demand forecast · origin {_date(run.row.get('forecast_origin'))} · run "
        f"{_e(str(run.row['run_id'])[:8])}</title><style>{CSS}</style></head><body>{body}"
        f"<footer>Written by demandcast {version} report at {written} from "
        f"{_e(db.name)}. Self-contained: the page makes no request.</footer>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        "series_shown": shown,
        "series": n_all,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line for `demandcast report`."""
    parser = argparse.ArgumentParser(
        prog="demandcast report",
        description="Write one self-contained HTML report of the published run: history, "
        "forecast and intervals per series, the model leaderboard, accuracy, gate results.",
    )
    from demandcast.cli import UserError, add_location_options, locate, readable_db, writable

    add_location_options(
        parser,
        "the published copy, read-only (default: the target's, warehouse/<target>"
        "_published.duckdb in the project, or beside $DEMANDCAST_DB)",
    )
    parser.add_argument("--out", default="reports/forecast.html", help="HTML file to write")
    parser.add_argument(
        "--warehouse",
        help="the working warehouse, read-only, for the gate results (default: the one "
        "whose published copy --db is)",
    )
    parser.add_argument(
        "--max-series", type=int, help="show only the N largest series (default: all)"
    )
    parser.add_argument(
        "--history",
        type=int,
        help="periods of history per plot (default: two seasons, at least two horizons)",
    )
    args = parser.parse_args(argv)
    where = locate(args.target)
    db = Path(args.db).resolve() if args.db else where.published
    readable_db(db, "the published copy")
    out = writable(args.out, "the report")
    warehouse = Path(args.warehouse).resolve() if args.warehouse else None
    warehouse = warehouse or (where.warehouse if db == where.published else None)
    gates_from = f"; gate results from {warehouse}" if warehouse else ""
    print(f"report: reading the published copy {db}{gates_from}", flush=True)
    try:
        info = write_report(db, out, warehouse, args.max_series, args.history)
    except ReportError as exc:
        raise UserError(str(exc)) from None
    print(
        f"report: {info['path']} ({info['bytes'] / 1e6:.2f} MB, {info['series_shown']:,} of "
        f"{info['series']:,} series) in {info['seconds']:.1f} s"
    )
    return 0
