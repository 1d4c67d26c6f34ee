"""`demandcast evaluate`: score the forecast a `dbt build` wrote against actuals, in DuckDB SQL.

What is scored is what the warehouse holds: `fct_demand_forecast` joined to the
actuals by one SQL query (`_score_sql`) that scores the baselines too (seasonal
naive and a forecast of zero, in SQL: zero is what MASE rewards on intermittent
demand, so a forecast should beat it on RMSSE and spl there; Theta and each
demand class's default, refit in Python on
`fct_demand_history` up to the origin), so every row of the report comes from
the same function. Groups: overall, demand_class, method and step, where the
class and method are the pipeline's for the series, so within a group every
source is scored on the same series.

sMAPE = mean 200|y-f|/(|y|+|f|) (0 where both are 0); WAPE = sum|e|/sum|y|;
bias = sum(f-y)/sum(y); coverage_L = share of lo_L <= y <= hi_L, upper_L = share of
y <= hi_L (the upper bound alone: nominally (1+L)/2 where lo_L is above 0, L where it is 0
under the var intervals_from_zero, the interval from zero; with central intervals on
sparse demand, whose lo_L is 0 on most points, coverage_L runs over L); floor_L = per
series the larger of L and the share of all its actuals that are 0 (in a step's row too),
averaged over points: the coverage of intervals that contain 0 and hold L wherever they
can (an interval holding 0 holds every 0, so a series with more zeros than L holds more;
on the car parts, 71 % zeros, floor_80 is 0.858); MASE and MSIS
(M4) are per series, divided by the in-sample mean |y_t - y_(t-m)| of the
history up to the origin (lag 1 when the history is not longer than m; a zero
scale falls back to lag 1, then mean |y|, then 1, as in metrics.py), then
averaged over series. RMSSE = sqrt(mean e^2 / the in-sample mean (y_t - y_(t-m))^2),
per series, the squared scale taken from the same lag or fallback as MASE's
(metrics.seasonal_scales' scale_mse), averaged over series. spl (scaled pinball
loss, M5 style) = per series, the mean over the run's quantiles of the mean
pinball loss max(q(y-p), (q-1)(y-p)), divided by the MASE scale, averaged over
series; the quantiles are the median (the point forecast) and, per level L,
(1-L)/2 and (1+L)/2 (lo_L, hi_L, on every point: an interval from zero's hi_L is
scored as the central quantile it stands in for); spl_L is the same over L's two quantiles
alone (so spl = (mase/2 + 2 * sum of spl_L) / (1 + 2 * levels)). A source
without intervals (the seasonal naive, zero) has none; with no levels there is no
spl column. RMSSE and spl are metrics.score_frame's, in SQL (tests hold them
equal); unlike MASE, neither rewards forecasting zero for intermittent demand.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

PLAIN_SPARSE = {
    "croston": ("CrostonClassic", {}),
    "sba": ("CrostonSBA", {}),
    "croston_optimized": ("CrostonOptimized", {}),
    "tsb": ("TSB", {"alpha_d": 0.1, "alpha_p": 0.1}),
    "adida": ("ADIDA", {}),
    "imapa": ("IMAPA", {}),
}
"""The `--plain-sparse` baselines: each plain StatsForecast intermittent-demand method alone
on every series (TSB at the textbook smoothing 0.1 for both size and chance of an order),
the simplest methods a forecast of sparse demand must beat."""
SOURCES = (
    "forecast",
    "seasonal_naive",
    "zero",
    "theta",
    "class_default",
    "plain_mean",
    *PLAIN_SPARSE,
)
PLAIN_MEAN = ("AutoETS", "AutoCES", "AutoTheta")
"""The plain StatsForecast combination of the `plain_mean` baseline (--plain-mean): these
models with the run's season length, as StatsForecast runs them, averaged."""
GROUPS = ("overall", "demand_class", "method", "step")
TRUTH_COLUMNS = {"demand_date", "is_future", "actual_demand"}
_LEVEL = re.compile(r"^lo_(\d+(?:\.\d+)?)$")


def _demo_actuals_sql(frequency: str, horizon: int) -> str:
    """SQL ($path, $origin) for the demo truth as actuals: complete future periods only."""
    step = f"interval (1) {frequency}"
    return f"""
    with t as (
        select plant_id::varchar as plant_id, product_id::varchar as product_id,
            demand_date::date as d, actual_demand
        from read_parquet($path) where is_future
    ),
    span as (select min(d) as first_day, max(d) as last_day from t)
    select plant_id, product_id, date_trunc('{frequency}', d)::date as period_start,
        sum(actual_demand)::double as y, null::bigint as step
    from t group by all
    having period_start >= (select first_day from span)
        and period_start + {step} <= (select last_day from span) + 1
        and period_start > $origin::date
        and period_start <= $origin::date + interval ({int(horizon)}) {frequency}"""


def demo_actuals(truth_path: str | Path, frequency: str, origin: Any, horizon: int) -> pd.DataFrame:
    """The demo plant's daily truth.parquet as actuals of the periods 1..horizon after origin."""
    params = {"path": str(truth_path), "origin": str(origin)}
    return duckdb.connect().execute(_demo_actuals_sql(frequency, horizon), params).df()


def forecast_with_intervals(con: duckdb.DuckDBPyConnection, schema: str = "") -> str:
    """Create the temp view `forecast_intervals`: fct_demand_forecast (of `schema`, e.g.
    'wh.') with one lo_L, hi_L pair per level it was built with, from
    fct_demand_forecast_intervals (its contracted columns hold 80 and 95 only, null when the
    var levels leaves them out); a warehouse built before that table existed, as it is.
    Returns the view's name."""
    long = f"{schema}fct_demand_forecast_intervals"
    try:
        con.execute(f"select 1 from {long} limit 0")
    except duckdb.CatalogException:
        con.execute(
            "create or replace temp view forecast_intervals as"
            f" select * from {schema}fct_demand_forecast"
        )
        return "forecast_intervals"
    fixed = [f"{s}_{lv}" for lv in ("80", "95") for s in ("lo", "hi")]
    rows = con.execute(f"select distinct interval_level from {long} order by 1").fetchall()
    pairs = [
        f'max({s}) filter (where interval_level = {lv!r}::double) as "{s}_{lv:g}"'
        for (lv,) in rows
        for s in ("lo", "hi")
    ]
    pivot = (
        f""" left join (select series_id, period_start, {", ".join(pairs)}
            from {long} group by all) as i
            using (series_id, period_start)"""
        if pairs
        else ""
    )
    con.execute(
        f"""create or replace temp view forecast_intervals as select f.* exclude
        ({", ".join(fixed)}){", i.* exclude (series_id, period_start)" if pairs else ""}
        from {schema}fct_demand_forecast as f{pivot}"""
    )
    return "forecast_intervals"


def interval_levels(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Levels L with both lo_L and hi_L columns in `table`, as in their column names."""
    cols = [r[0] for r in con.execute(f"describe {table}").fetchall()]
    return [m[1] for c in cols if (m := _LEVEL.match(c)) and f"hi_{m[1]}" in cols]


def _load_actuals(con: duckdb.DuckDBPyConnection, path: str | Path, ctx: dict) -> None:
    """Create the temp table `actuals` (plant_id, product_id, period_start, y, step)."""
    csv = str(path).lower().endswith((".csv", ".csv.gz"))  # ids stay text: no '007' -> 7
    reader = "read_csv($path, all_varchar = true)" if csv else "read_parquet($path)"
    params = {"path": str(path)}
    cols = {r[0] for r in con.execute(f"describe select * from {reader}", params).fetchall()}
    if TRUTH_COLUMNS <= cols:
        sql = _demo_actuals_sql(ctx["frequency"], ctx["horizon"])
        params["origin"] = ctx["forecast_origin"]
    else:
        missing = {"period_start", "product_id", "plant_id", "y"} - cols
        if missing:
            raise ValueError(f"{path}: actuals lack columns {sorted(missing)}")
        step = "step::bigint" if "step" in cols else "null::bigint"
        sql = f"""select plant_id::varchar as plant_id, product_id::varchar as product_id,
            period_start::date as period_start, y::double as y, {step} as step
            from {reader} where y is not null"""
    con.execute(f"create temp table actuals as {sql}", params)
    dup = con.execute(
        "select plant_id, product_id, period_start from actuals group by all having count(*) > 1"
    ).fetchone()
    if dup:
        raise ValueError(f"{path}: more than one actual for {dup}")


def _prepare(con: duckdb.DuckDBPyConnection, ctx: dict, levels: list[str]) -> None:
    """Temp tables keys, act, scale (at the lag ctx['scale_lag']) and fc (the pipeline's
    forecast, the seasonal naive at the run's season, and zero)."""
    m, origin = int(ctx["scale_lag"]), {"origin": str(ctx["forecast_origin"])}
    season = int(ctx["season_length"])
    bounds = ", ".join(f'"lo_{lv}", "hi_{lv}"' for lv in levels)
    con.execute(f"""
        create temp table keys as select series_id, plant_id, product_id, period_start, step,
            demand_class, method from wh.fct_demand_forecast;
        create temp table act as select k.series_id, a.* from actuals as a
            join (select distinct series_id, plant_id, product_id from keys) as k
            using (plant_id, product_id);
        create temp table fc as select 'forecast' as source, series_id, period_start, step,
            forecast{", " + bounds if bounds else ""} from forecast_intervals;""")
    con.execute(
        """create temp table hist as select series_id, period_start, demand,
            row_number() over (partition by series_id order by period_start desc) as rn,
            count(*) over (partition by series_id) as n
        from wh.fct_demand_history
        where period_start <= $origin::date and series_id in (select series_id from keys)""",
        origin,
    )
    con.execute(f"""
        create temp table scale as
        with d as (
            select series_id, n, demand,
                demand - lag(demand, {m}) over w as d_m, demand - lag(demand, 1) over w as d_1
            from hist window w as (partition by series_id order by period_start)
        ),
        s as (
            select series_id, any_value(n) as n, avg(abs(d_m)) as s_m, avg(abs(d_1)) as s_1,
                avg(abs(demand)) as s_0, avg(d_m * d_m) as q_m, avg(d_1 * d_1) as q_1,
                avg(demand * demand) as q_0
            from d group by series_id
        ),
        chosen as (  -- the mean squared difference of the lag (or fallback) MASE's uses
            select series_id,
                case when n > {m} and s_m > 0 then s_m when s_1 > 0 then s_1
                    when s_0 > 0 then s_0 end as s_abs,
                case when n > {m} and s_m > 0 then q_m when s_1 > 0 then q_1
                    when s_0 > 0 then q_0 end as s_sq
            from s
        )
        select series_id,
            case when s_abs > 0 and s_sq > 0 then s_abs else 1.0 end as scale,
            case when s_abs > 0 and s_sq > 0 then s_sq else 1.0 end as scale_mse
        from chosen;
        insert into fc by name
        select 'seasonal_naive' as source, k.series_id, k.period_start, k.step,
            coalesce(hs.demand, h1.demand) as forecast
        from keys as k
        left join hist as hs on hs.series_id = k.series_id and hs.n >= {season}
            and hs.rn = {season} - ((k.step - 1) % {season})
        left join hist as h1 on h1.series_id = k.series_id and h1.rn = 1;
        insert into fc by name
        select 'zero' as source, series_id, period_start, step, 0.0 as forecast from keys;""")


def _score_sql(levels: list[str]) -> str:
    """The one scoring query over temp tables fc, act, keys and scale."""
    per_point, pooled, per_series, cov, msis, spl = [], [], [], [], [], []
    pinball = ["0.5 * ae"]  # the median's: the point forecast
    for lv in levels:  # M4 MSIS: width + (2/a) * distance outside the interval, a = 1 - L/100
        lo, hi, k, w = (
            f'fc."lo_{lv}"',
            f'fc."hi_{lv}"',
            lv.replace(".", "_"),
            2 / (1 - float(lv) / 100),
        )
        per_point.append(
            f"({hi} - {lo}) + {w!r} * (greatest({lo} - a.y, 0) + greatest(a.y - {hi}, 0)) "
            f"as is_{k}, (a.y between {lo} and {hi})::double as cov_{k}, "
            f"(a.y <= {hi})::double as up_{k}"
        )
        # pinball loss max(q (y - p), (q - 1) (y - p)) at q = (1 - L)/2 (lo) and (1 + L)/2 (hi)
        q_lo, q_hi = (100 - float(lv)) / 200, (100 + float(lv)) / 200
        per_point.append(
            " + ".join(
                f"greatest({q!r} * (a.y - {b}), ({q!r} - 1) * (a.y - {b}))"
                for q, b in ((q_lo, lo), (q_hi, hi))
            )
            + f" as pb_{k}"
        )
        pinball.append(f"pb_{k}")
        pooled.append(f"avg(cov_{k}) as coverage_{k}, avg(up_{k}) as upper_{k}")
        cov.append(f"p.coverage_{k}, p.upper_{k}")
        # an interval that contains 0 holds every 0: a series whose actuals are 0 more often
        # than L holds at least that share, whatever its upper bound (the share over all
        # its points: a step's row holds one per series)
        pooled.append(
            f"avg(case when cov_{k} is not null then greatest(zero_share, "
            f"{float(lv) / 100!r}) end) as floor_{k}"
        )
        cov.append(f"p.floor_{k}")
        per_series.append(f"avg(is_{k}) / any_value(scale) as msis_{k}")
        per_series.append(f"avg(pb_{k}) / 2 / any_value(scale) as spl_{k}")
        msis.append(f"avg(s.msis_{k}) as msis_{k}")
        spl.append(f"avg(s.spl_{k}) as spl_{k}")
    if levels:  # the mean over the 1 + 2 * len(levels) quantiles, per point, then per series
        per_series.append(
            f"avg({' + '.join(pinball)}) / {1 + 2 * len(levels)} / any_value(scale) as spl"
        )
        spl.insert(0, "avg(s.spl) as spl")
    sep = lambda xs: "".join(", " + x for x in xs)  # noqa: E731
    order = " ".join(f"when '{s}' then {i}" for i, s in enumerate(SOURCES))
    return f"""
    with j as (
        select fc.source, fc.series_id, fc.step, k.demand_class, k.method, a.y,
            fc.forecast as f, abs(fc.forecast - a.y) as ae,
            (fc.forecast - a.y) * (fc.forecast - a.y) as se, sc.scale, sc.scale_mse,
            avg((a.y = 0)::double) over (partition by fc.source, fc.series_id)
                as zero_share{sep(per_point)}
        from fc
        join act as a on a.series_id = fc.series_id and a.period_start = fc.period_start
        join keys as k on k.series_id = fc.series_id and k.period_start = fc.period_start
        left join scale as sc on sc.series_id = fc.series_id
        where fc.forecast is not null
    ),
    g as (
        select j.*, t.grp, case t.grp when 'overall' then 'all'
            when 'demand_class' then demand_class when 'method' then method
            else step::varchar end as grp_value
        from j cross join (values {", ".join(f"('{g}')" for g in GROUPS)}) as t (grp)
    ),
    per_series as (
        select source, grp, grp_value, series_id,
            avg(ae) / any_value(scale) as mase, sqrt(avg(se) / any_value(scale_mse)) as rmsse
            {sep(per_series)}
        from g group by all
    ),
    pooled as (
        select source, grp, grp_value, count(distinct series_id) as n_series,
            count(*) as n_points,
            avg(case when abs(y) + abs(f) = 0 then 0 else 200 * ae / (abs(y) + abs(f)) end)
                as smape,
            sum(ae) / nullif(sum(abs(y)), 0) as wape,
            sum(f - y) / nullif(sum(y), 0) as bias{sep(pooled)}
        from g group by all
    ),
    scored as (
        select p.source, p.grp as "group", p.grp_value as value, p.n_series, p.n_points,
            p.smape, avg(s.mase) as mase, avg(s.rmsse) as rmsse, p.wape, p.bias
            {sep(cov + msis + spl)}
        from pooled as p join per_series as s using (source, grp, grp_value)
        group by all
    )
    select * from scored
    order by case source {order} end, list_position({list(GROUPS)}, "group"),
        try_cast(value as integer), value"""


def _counts(con: duckdb.DuckDBPyConnection) -> dict:
    """What could not be scored: actuals without a forecast and forecasts without actuals."""
    row = con.execute("""select
        (select count(*) from actuals) as n_actual_rows,
        (select count(*) from (select distinct plant_id, product_id from actuals))
            as n_actual_series,
        (select count(*) from (select distinct plant_id, product_id from actuals
            except select plant_id, product_id from keys)) as n_series_missing_forecast,
        (select count(*) from actuals anti join keys using (plant_id, product_id, period_start))
            as n_actual_rows_without_forecast,
        (select count(*) from keys anti join act using (series_id, period_start))
            as n_forecast_rows_without_actuals,
        (select count(*) from (select distinct series_id from keys
            except select series_id from act)) as n_forecast_series_without_actuals,
        (select count(*) from act join keys using (series_id, period_start)
            where act.step <> keys.step) as n_step_mismatch""")
    out = dict(zip([d[0] for d in row.description], row.fetchone(), strict=True))
    out["series_missing_forecast"] = [
        f"{p}|{q}"
        for p, q in con.execute("""select distinct plant_id, product_id from actuals
            except select plant_id, product_id from keys order by all limit 20""").fetchall()
    ]
    return out


def _python_baselines(
    con: duckdb.DuckDBPyConnection,
    run: Any,
    m: int,
    plain_mean: bool = False,
    plain_sparse: bool = False,
) -> None:
    """Theta and the class default (and with `plain_mean` the plain mean of AutoETS, AutoCES
    and AutoTheta, with `plain_sparse` each of PLAIN_SPARSE), refit on the history up to the
    origin, inserted into fc."""
    from statsforecast import StatsForecast
    from statsforecast.models import Theta

    from demandcast.catalog import Guarded, load_catalog
    from demandcast.forecast import forecast_series
    from demandcast.frames import to_sf

    settings = run.settings.with_(season_length=m)
    history = con.execute("select series_id, period_start, demand from hist").df()
    if history.empty:
        return
    levels = list(settings.levels)
    sf = StatsForecast(models=[Guarded(Theta(season_length=m))], freq=settings.freq, n_jobs=1)
    res = sf.forecast(df=to_sf(history), h=settings.horizon, level=levels)
    res = res.sort_values(["unique_id", "ds"]).rename(columns={"unique_id": "series_id"})
    theta = res.assign(
        step=res.groupby("series_id").cumcount() + 1,
        forecast=res["Theta"],
        **{f"{s}_{lv}": res[f"Theta-{s}-{lv}"] for lv in levels for s in ("lo", "hi")},
    )
    profiles = con.execute(
        "select * from wh.int_series__profiled where series_id in (select series_id from keys)"
    ).df()
    # as the pipeline: series too short to backtest get the cold start, the others the default
    backtestable = profiles["is_backtestable"].fillna(False).astype(bool)
    default_of = profiles["demand_class"].map(load_catalog().defaults).where(backtestable)
    champions = profiles[["series_id"]].assign(champion=default_of, n_windows=1)
    default = forecast_series(history, profiles, champions, settings)
    bounds = [f"{s}_{lv}" for lv in interval_levels(con, "fc") for s in ("lo", "hi")]
    frames = [("theta", theta), ("class_default", default)]
    if plain_mean:
        frames.append(("plain_mean", _plain_mean(history, settings, m)))
    if plain_sparse:
        frames.extend(_plain_sparse(history, settings))
    for name, frame in frames:
        cols = ["series_id", "step", "forecast", *(c for c in bounds if c in frame.columns)]
        con.register("baseline", frame[cols])
        con.execute(f"""insert into fc by name select '{name}' as source, k.period_start,
            b.* from baseline as b join keys as k using (series_id, step)
            where isfinite(b.forecast)""")
        con.unregister("baseline")


def _plain_mean(history: pd.DataFrame, settings: Any, m: int) -> pd.DataFrame:
    """The mean of plain StatsForecast AutoETS, AutoCES and AutoTheta (season length m, no
    adjustment of long seasons): the combination a team without demandcast would run. A
    member that fails on a series (AutoETS on a few periods of history) is left out of that
    series' mean, so the yardstick covers the series the forecast does; a series no member
    forecasts has none."""
    from statsforecast import StatsForecast
    from statsforecast import models as sf_models

    from demandcast.catalog import Guarded
    from demandcast.frames import to_sf

    models = [Guarded(getattr(sf_models, n)(season_length=m, alias=n)) for n in PLAIN_MEAN]
    sf = StatsForecast(models=models, freq=settings.freq, n_jobs=settings.n_jobs)
    res = sf.forecast(df=to_sf(history), h=settings.horizon)
    res = res.sort_values(["unique_id", "ds"]).rename(columns={"unique_id": "series_id"})
    return res.assign(
        step=res.groupby("series_id").cumcount() + 1,
        forecast=res[list(PLAIN_MEAN)].mean(axis=1, skipna=True),
    )


def _plain_sparse(history: pd.DataFrame, settings: Any) -> list[tuple[str, pd.DataFrame]]:
    """Each PLAIN_SPARSE method, as plain StatsForecast runs it, on every series."""
    from statsforecast import StatsForecast
    from statsforecast import models as sf_models

    from demandcast.frames import to_sf

    models = [getattr(sf_models, m)(alias=s, **kw) for s, (m, kw) in PLAIN_SPARSE.items()]
    sf = StatsForecast(models=models, freq=settings.freq, n_jobs=settings.n_jobs)
    res = sf.forecast(df=to_sf(history), h=settings.horizon)
    res = res.sort_values(["unique_id", "ds"]).rename(columns={"unique_id": "series_id"})
    res["step"] = res.groupby("series_id").cumcount() + 1
    return [(s, res.assign(forecast=res[s])) for s in PLAIN_SPARSE]


def evaluate(
    db: str | Path,
    actuals: str | Path,
    season_length: int | None = None,
    baselines: bool = True,
    plain_mean: bool = False,
    plain_sparse: bool = False,
) -> dict:
    """Score the warehouse's forecast (and baselines) against the actuals; a JSON-able dict."""
    from demandcast.warehouse import read_run

    with duckdb.connect() as con:
        con.execute("attach ? as wh (read_only)", [str(db)])
        run = read_run(con.sql("select * from wh.int_run__context"))
        ctx = {k: run.get(k) for k in ("run_id", "frequency", "horizon")}
        ctx["forecast_origin"] = str(pd.Timestamp(run.get("forecast_origin")).date())
        # the baselines are the run's season's models whatever lag scales the errors
        ctx["season_length"] = int(run.get("season_length"))
        ctx["scale_lag"] = int(season_length or ctx["season_length"])
        ctx["levels"] = levels = interval_levels(con, forecast_with_intervals(con, "wh."))
        warnings = []
        for run_id, origin in con.execute(
            "select distinct run_id, forecast_origin::varchar from wh.fct_demand_forecast"
        ).fetchall():  # a build stopped by a gate leaves the last good forecast in place
            if (run_id, origin) != (ctx["run_id"], ctx["forecast_origin"]):
                warnings.append(
                    f"fct_demand_forecast holds run {run_id} (origin {origin}), not the run of "
                    "int_run__context: scored from that origin, with the context's other settings"
                )
                ctx["run_id"], ctx["forecast_origin"] = run_id, origin
        _load_actuals(con, actuals, ctx)
        _prepare(con, ctx, levels)
        if baselines:
            _python_baselines(con, run, ctx["season_length"], plain_mean, plain_sparse)
        cur = con.execute(_score_sql(levels))
        names = [d[0] for d in cur.description]
        rows = [{k: _finite(v) for k, v in zip(names, r, strict=True)} for r in cur.fetchall()]
        counts = _counts(con)
        found = con.execute(
            "select count(*) from duckdb_tables() where database_name = 'wh' "
            "and table_name = 'fct_demand_forecast_levels'"
        ).fetchone()[0]
        by_level = score_levels(con, ctx["scale_lag"]) if found else []
    if counts["n_step_mismatch"]:
        warnings.append(
            f"{counts['n_step_mismatch']} actuals give another step than the forecast for their "
            f"period: were they cut at another origin than {ctx['forecast_origin']}?"
        )
    return {
        "context": ctx,
        "counts": counts,
        "warnings": warnings,
        "rows": rows,
        "levels": by_level,
    }


LEVEL_SOURCES = {
    "reconciled": "forecast",
    "bottom_up": "bottom_up_forecast",
    "own": "own_forecast",
}
"""The per-level sources of `score_levels`: fct_demand_forecast_levels' coherent forecast,
the base forecasts summed bottom-up, and the model fitted on the aggregate series itself."""


def score_levels(con: duckdb.DuckDBPyConnection, m: int) -> list[dict]:
    """Per level of wh.fct_demand_forecast_levels and source (LEVEL_SOURCES): sMAPE, MASE
    and RMSSE of each node against the actuals of its base series summed the same way
    (the same summing matrix, levels.hierarchy), averaged over the level's nodes; a node
    is scored on the periods every one of its series has an actual for (a planned launch,
    lifecycle 'launch' in dim_series, has none before its first order: 0 there). Scales:
    the node's summed history up to the origin (levels.node_scales); a node of launches
    alone has no history to scale by and is not scored (its demand counts in the nodes
    above it)."""
    from demandcast.levels import LEVELS, hierarchy, node_scales
    from demandcast.metrics import score_frame

    described = con.execute("describe wh.fct_demand_forecast_levels").fetchall()
    columns = {row[0] for row in described}
    levels = sorted(c[3:] for c in columns if c.startswith("lo_") and f"hi_{c[3:]}" in columns)
    picked = [f"{c} as {s}" for s, c in LEVEL_SOURCES.items()]
    picked += [f"{side}_{lv}" for lv in levels for side in ("lo", "hi")]
    fc = con.execute(
        f"select level, level_key, period_start, {', '.join(picked)}"
        " from wh.fct_demand_forecast_levels"
    ).df()
    has = {c for (c,) in con.execute("select column_name from (describe wh.dim_series)").fetchall()}
    lifecycle = "lifecycle" if "lifecycle" in has else "null::varchar as lifecycle"
    series = con.execute(
        f"select series_id, plant_id, product_id, product_group, {lifecycle} "
        "from wh.dim_series where series_id in (select series_id from keys)"
    ).df()
    tree = hierarchy(series)
    ids = pd.Index(tree.base_ids)

    def wide(sql: str, value: str) -> pd.DataFrame:
        frame = con.execute(sql).df().assign(series_id=lambda d: d["series_id"].astype(str))
        return frame.pivot_table(index="series_id", columns="period_start", values=value)

    act = wide("select series_id, period_start, y from act", "y").reindex(ids)
    is_launch = ids.isin(series.loc[series["lifecycle"].eq("launch"), "series_id"].astype(str))
    act.loc[is_launch] = act.loc[is_launch].fillna(0.0)
    launches_only = (tree.S @ (~is_launch).astype(float)) == 0
    missing = tree.S @ act.isna().to_numpy(dtype=float)
    y = np.where(missing > 0, np.nan, tree.S @ act.fillna(0.0).to_numpy())
    hist = wide("select series_id, period_start, demand from hist", "demand").reindex(ids)
    scales = node_scales(tree.S @ hist.fillna(0.0).to_numpy(), m)
    nodes = tree.nodes[["level", "level_key", "row"]]
    nodes = nodes[~launches_only[nodes["row"].to_numpy()]]
    truth = pd.DataFrame(y, columns=pd.to_datetime(act.columns)).stack().rename("y")
    truth = truth.rename_axis(["row", "period_start"]).reset_index()
    df = fc.assign(period_start=pd.to_datetime(fc["period_start"])).merge(
        nodes, on=["level", "level_key"]
    )
    df = df.merge(truth, on=["row", "period_start"])
    df["node"] = df["level"] + "/" + df["level_key"]
    scales = scales.reindex(nodes["row"].to_numpy()).set_axis(
        (nodes["level"] + "/" + nodes["level_key"]).to_numpy()
    )
    out = []
    for level, _ in LEVELS:
        part = df[df["level"] == level]
        for source in LEVEL_SOURCES:
            scored = part[part[source].notna()]
            if scored.empty:
                continue
            per = score_frame(scored, scales, id_col="node", forecast_col=source)
            y = scored["y"].to_numpy(dtype=float)
            held = {  # the share of points inside the level's interval: reconciled only
                f"coverage_{lv}": float(
                    np.mean((scored[f"lo_{lv}"].to_numpy(float) <= y) & (y <= scored[f"hi_{lv}"]))
                )
                if source == "reconciled"
                else None
                for lv in levels
            }
            out.append(
                {
                    "level": level,
                    "source": source,
                    "n_nodes": len(per),
                    "n_points": len(scored),
                    "smape": 100 * float(per["smape"].mean()),  # percent, as _score_sql's
                    **{k: float(per[k].mean()) for k in ("mase", "rmsse")},
                    **held,
                }
            )
    return out


def _finite(value: Any) -> Any:
    """None for NaN and infinities (JSON has neither), the value otherwise."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def format_report(result: dict) -> str:
    """The results as readable text: one table per group."""
    ctx, counts = result["context"], result["counts"]
    out = [
        f"run {ctx['run_id']}  origin {ctx['forecast_origin']}  {ctx['frequency']}  "
        f"horizon {ctx['horizon']}  season_length {ctx['season_length']}  "
        f"scale lag {ctx['scale_lag']}",
        *(f"warning: {w}" for w in result["warnings"]),
        "  ".join(f"{k} {v}" for k, v in counts.items() if k != "series_missing_forecast"),
    ]
    rows = result["rows"]
    cols = [c for c in (rows[0] if rows else {}) if c != "group"]
    for group in GROUPS:
        table = [[_fmt(r[c]) for c in cols] for r in rows if r["group"] == group]
        out += ["", f"by {group}", *_aligned([cols, *table])] if table else []
    levels = result.get("levels") or []
    if levels:  # score_levels
        out += ["", "by level (fct_demand_forecast_levels against the actuals summed the same way)"]
        out += _aligned([list(levels[0]), *([_fmt(v) for v in r.values()] for r in levels)])
    return "\n".join(out)


def _aligned(table: list[list[str]]) -> list[str]:
    """Rows of cells as lines: the first two columns to the left, the others to the right."""
    widths = [max(len(t[i]) for t in table) for i in range(len(table[0]))]
    return [
        "  ".join(
            v.rjust(w) if i > 1 else v.ljust(w)
            for i, (v, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    ]


def _fmt(value: Any) -> str:
    """A cell: floats to 3 decimals, None as '-'."""
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    """Command line for `demandcast evaluate`."""
    parser = argparse.ArgumentParser(
        prog="demandcast evaluate",
        description="Score fct_demand_forecast (and baselines) against actuals, in DuckDB SQL.",
    )
    from demandcast.cli import UserError, add_location_options, existing_file, locate, readable_db

    add = parser.add_argument
    add_location_options(
        parser,
        "the working warehouse dbt built (not the published copy), read-only "
        "(default: the target's, found as `demandcast build` finds it)",
    )
    add(
        "--actuals",
        required=True,
        help="Parquet/CSV: period_start, product_id, plant_id, y [, step]; or demo truth.parquet",
    )
    add("--json", help="also write the results to this JSON file")
    add(
        "--season-length",
        type=int,
        help="MASE/RMSSE/MSIS/spl scale lag (default: the run's season); the baselines keep "
        "the run's season (1: M4's weekly MASE)",
    )
    add("--no-baselines", action="store_true", help="skip the Theta and class-default refits")
    add(
        "--plain-mean",
        action="store_true",
        help="also score the plain StatsForecast mean of AutoETS, AutoCES and AutoTheta "
        "(slow at a season of 52: AutoETS searches seasonal forms)",
    )
    add(
        "--plain-sparse",
        action="store_true",
        help="also score each plain StatsForecast intermittent-demand method alone: Croston, "
        "SBA, optimized Croston, TSB, ADIDA, IMAPA",
    )
    args = parser.parse_args(argv)
    db = readable_db(locate(args.target, args.db).warehouse, "the warehouse")
    actuals = existing_file(Path(args.actuals).resolve(), "the actuals file", "")
    print(f"evaluate: reading fct_demand_forecast of the working warehouse {db}", flush=True)
    try:
        result = evaluate(
            db,
            actuals,
            args.season_length,
            not args.no_baselines,
            args.plain_mean,
            args.plain_sparse,
        )
    except duckdb.CatalogException as exc:
        raise UserError(
            f"{db}: {str(exc).splitlines()[0]} Evaluate reads the working warehouse a build "
            "wrote (warehouse/<target>.duckdb), not its published copy."
        ) from None
    except (ValueError, duckdb.IOException) as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    print(format_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    if not result["rows"]:
        print(
            "no actual matched a forecast period: nothing scored (are the actuals at the "
            "build's frequency, dated after its forecast origin, and is --db the target "
            "that forecast them?)"
        )
        return 1
    return 0
