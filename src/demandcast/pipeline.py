"""The pipeline's stages: the entry points of the four dbt Python models of forecasting
(`decide_run`: int_forecast__decisions, `backtest_run`: int_forecast__backtest,
`champions_run`: int_forecast__champions, `forecast_run`: int_forecast__predictions), and
`rebuild_forecast`, a past run's forecast from the memory. The rules they apply (the
decision policy, fingerprints, overrides, shift statistics) are in demandcast.retrain.

The memory is the warehouse's append-only tables of published runs: fct_model_registry
(the champion, its scales, the settings hash, the history fingerprint, package versions,
when it was trained and why), fct_forecast_history (the forecasts a reuse carries and the
live accuracy is measured on), and demandcast_backtest_memory (each backtested series'
scores and scaled residuals, so a run that backtests a few series still ranks and pools
intervals over all of them). `backtest_run`, `champions_run` and `forecast_run` are the
dbt models' steps on top of it.

The steps that read the history (`decide_run`, `backtest_run`, `forecast_run`) take it as
a DuckDB relation (the dbt ref of int_series__filled) or a frame, and read it
`batch_series` whole series at a time, as Arrow (warehouse.series_batches); only each
batch's reduced results are kept (fingerprints and shifts, metrics rows and the pooled
residuals, forecast rows), so memory is bounded by a batch, and the numbers are those of
one batch.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from demandcast import closures
from demandcast import warehouse as wh
from demandcast.backtest import (
    BACKTEST_COLUMNS,
    BacktestStats,
    fit_pooled,
    pooled_learners,
    pooled_needed,
    run_backtest,
)
from demandcast.catalog import Catalog, load_catalog
from demandcast.config import RetrainPolicy, Settings
from demandcast.forecast import (
    ForecastStats,
    forecast_series,
    pooled_members,
    prediction_columns,
    until_discontinued,
)
from demandcast.frames import SeriesBatches
from demandcast.intervals import Calibration
from demandcast.metrics import METRIC_COLUMNS
from demandcast.progress import emit
from demandcast.race import Race
from demandcast.retrain import (
    DECISION_COLUMNS,
    DECISIONS,
    age_limits,
    decide,
    history_fingerprints,
    package_versions,
    resolve_overrides,
    settings_identity,
    shift_stats,
)
from demandcast.selection import CHAMPION_COLUMNS, CHAMPION_TYPES, parse_champion, select_champions
from demandcast.stacking import Stacking

MEMORY_COLUMNS = ("demand_class", "residuals")
"""What int_forecast__backtest adds to each row for the memory and the calibration: the
series' demand class and its scaled residuals (float32 bytes, a window's steps after the
other), null when the candidate gave none."""

# ------------------------------------------------------------------ the run's steps


_PREV_COLUMNS = (
    "run_id",
    "champion",
    "settings_hash",
    "catalog_hash",
    "settings",
    "history_fingerprint",
    "demand_class",
    "n_windows",
    "selected_run_id",
    "selected_origin",
    "override_action",
    "override_model",
    "has_forecast",
    "scale_mae",
    "champion_mase",
    "trained_at",
    "statsforecast_version",
    "demandcast_version",
    "forecast_run_id",
)


def _live_profiles(profiles: pd.DataFrame) -> pd.DataFrame:
    prof = profiles.drop_duplicates("series_id").copy()
    prof["series_id"] = prof["series_id"].astype(str)
    prof = prof[prof["lifecycle"] != "discontinued"]
    prof["eligible"] = prof["is_backtestable"].fillna(False).astype(bool)
    return prof.reset_index(drop=True)


def decide_run(
    con: Any,
    run: Any,
    series: Any,
    profiles: pd.DataFrame,
    overrides: pd.DataFrame | None,
    catalog: Catalog | None = None,
    memory: wh.Memory | None = None,
) -> pd.DataFrame:
    """The decisions of a run (`int_forecast__decisions`), from the warehouse's memory."""
    memory = memory or wh.Memory.of_warehouse(con)
    settings = run.settings
    catalog = (catalog or load_catalog()).at_season(settings.season_length)
    policy = RetrainPolicy.from_mapping(run.values)
    ident = settings_identity(settings, catalog)
    origin = pd.Timestamp(run.get("forecast_origin"))
    live = _live_profiles(profiles)
    ids = live["series_id"]
    state = live[
        ["series_id", "plant_id", "product_id", "product_group", "demand_class", "lifecycle"]
    ]
    state = state.assign(eligible=live["eligible"].to_numpy())
    state = state.merge(
        resolve_overrides(overrides, live, origin, catalog, settings), on="series_id", how="left"
    )
    prev = wh.read_previous_state(memory)
    prev = prev.assign(series_id=prev["series_id"].astype(str))
    prev = prev[prev["series_id"].isin(ids)]
    for col in _PREV_COLUMNS:
        if col not in prev.columns:
            prev[col] = None
    prev = prev[["series_id", *_PREV_COLUMNS]].rename(
        columns={c: f"prev_{c}" for c in _PREV_COLUMNS}
    )
    state = state.merge(prev, on="series_id", how="left")
    remembered = wh.read_backtest_memory(
        memory, ident.settings_hash, live.loc[live["eligible"], "series_id"], residuals=False
    )
    remembered = remembered.drop_duplicates("series_id").set_index("series_id")["demand_class"]
    state["has_memory"] = state["series_id"].map(remembered).astype(object) == state[
        "demand_class"
    ].astype(object)
    state["settings_hash"] = ident.settings_hash
    state["catalog_hash"] = ident.catalog_hash
    state["settings"] = ident.settings
    state["forecast_origin"] = origin
    state["run_id"] = run.run_id

    kept = state[state["prev_champion"].notna() & state["prev_selected_origin"].notna()]
    kept = kept.rename(
        columns={"prev_champion": "champion", "prev_selected_origin": "selected_origin"}
    )
    batches = wh.series_batches(con, series, settings.batch_series, ids)
    for part in _history_measures(memory, batches, kept, policy):
        state = state.merge(part, on="series_id", how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        state["live_mase"] = pd.to_numeric(state["live_mae"], errors="coerce") / pd.to_numeric(
            state["prev_scale_mae"], errors="coerce"
        ).where(lambda s: s > 0)
    state["backtest_mase"] = pd.to_numeric(state["prev_champion_mase"], errors="coerce")
    state["age_limit"] = age_limits(state["series_id"], policy.retrain_max_age)

    out = decide(state, policy)
    out = out.merge(
        state.drop(columns=["override_action", "override_model"], errors="ignore").drop(
            columns=["champion"], errors="ignore"
        ),
        on="series_id",
        how="left",
    )
    return _finish_decisions(out, run, origin)


def _history_measures(
    memory: wh.Memory, batches: SeriesBatches, kept: pd.DataFrame, policy: RetrainPolicy
) -> list[pd.DataFrame]:
    """What the decisions need of the live series' history, read a batch at a time: the
    fingerprints, and for the kept champions the shifts since their selection and their
    live errors (frames by series_id)."""
    selected = kept.set_index("series_id")["selected_origin"]
    prints, shifts, errors = [], [], []
    empty = pd.DataFrame(columns=["series_id", "period_start", "demand"])
    for batch in batches if batches.ids else [empty]:
        here = kept["series_id"].isin(batch["series_id"].astype(str))
        prints.append(history_fingerprints(batch))
        shifts.append(shift_stats(batch, selected[here.to_numpy()], policy.retrain_shift_window))
        errors.append(wh.read_live_errors(memory, batch, kept[here]))
    return [_concat(parts) for parts in (prints, shifts, errors)]


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames' rows in one; the first (empty) frame when none has a row."""
    full = [p for p in parts if len(p)]
    return pd.concat(full, ignore_index=True) if full else parts[0]


def _finish_decisions(out: pd.DataFrame, run: Any, origin: pd.Timestamp) -> pd.DataFrame:
    """The columns of int_forecast__decisions, typed; a summary line in dbt's log."""
    reuse = out["decision"] == "reuse"
    keep_selection = out["decision"].isin(["refit", "reuse"]) & out["prev_selected_run_id"].notna()
    pinned_anew = (out["override_action"] == "pin") & (
        out["prev_override_action"].ne("pin") | out["prev_champion"].ne(out["champion"])
    )
    keep_selection &= ~pinned_anew
    versions = package_versions()
    started = pd.Timestamp(run.get("started_at"))
    out["previous_run_id"] = out["prev_run_id"]
    out["previous_champion"] = out["prev_champion"]
    out["previous_demand_class"] = out["prev_demand_class"]
    out["selected_run_id"] = np.where(keep_selection, out["prev_selected_run_id"], run.run_id)
    out["selected_origin"] = np.where(
        keep_selection, pd.to_datetime(out["prev_selected_origin"]), origin
    )
    out["selected_origin"] = pd.to_datetime(out["selected_origin"]).dt.date
    out["trained_at"] = pd.to_datetime(
        np.where(reuse, pd.to_datetime(out["prev_trained_at"]), started)
    )
    # the run whose forecast the series gets: this one, or for a reuse the run that made
    # the forecast it carries (its previous run, or the one that run carried it from)
    made = out["prev_forecast_run_id"]
    out["forecast_run_id"] = np.where(
        reuse, made.where(made.notna(), out["prev_run_id"]), run.run_id
    )
    for key, value in versions.items():
        out[key] = np.where(reuse & out[f"prev_{key}"].notna(), out[f"prev_{key}"], value)
    out["history_start"] = pd.to_datetime(out["history_start"]).dt.date
    for col in ("n_new_periods", "n_live_periods", "history_periods"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    for col in ("age_limit", "live_mase", "backtest_mase", "level_shift_z", "variance_ratio"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    out["is_backtested"] = out["is_backtested"].astype(bool)
    text = [
        c
        for c in DECISION_COLUMNS
        if out[c].dtype == object and c not in ("selected_origin", "history_start", "trained_at")
    ]
    for col in text:
        out[col] = out[col].astype("string")
    out = out[list(DECISION_COLUMNS)].sort_values("series_id", kind="stable")
    counts = out.groupby(["decision", "reason"]).size()
    parts = []
    for decision in DECISIONS:
        if decision in counts.index.get_level_values(0):
            sub = counts[decision]
            why = ", ".join(f"{k} {v}" for k, v in sub.sort_values(ascending=False).items())
            parts.append(f"{int(sub.sum())} {decision} ({why})")
    emit(
        f"retrain: {len(out)} series: {'; '.join(parts) or 'none'}; "
        f"{int(out['is_backtested'].sum())} to backtest"
    )
    return out.reset_index(drop=True)


def backtest_run(
    con: Any,
    run: Any,
    series: Any,
    profiles: pd.DataFrame,
    decisions: pd.DataFrame,
    catalog: Catalog | None = None,
    memory: wh.Memory | None = None,
) -> pd.DataFrame:
    """`int_forecast__backtest`: the series the decisions mark are backtested; every other
    eligible series carries its latest backtest under the same settings from the memory.
    Each row has the series' demand class and its scaled residuals (float32 bytes): the
    model demandcast_backtest_memory keeps this run's rows, int_forecast__calibration
    pools the residuals of every row, fresh or carried (`calibration_run`)."""
    memory = memory or wh.Memory.of_warehouse(con)
    settings = run.settings
    catalog = (catalog or load_catalog()).at_season(settings.season_length)
    ident = settings_identity(settings, catalog)
    origin = pd.Timestamp(run.get("forecast_origin")).date()
    prof = profiles.drop_duplicates("series_id").copy()
    prof["series_id"] = prof["series_id"].astype(str)
    todo = set(decisions.loc[decisions["is_backtested"].astype(bool), "series_id"].astype(str))
    classes = prof.set_index("series_id")["demand_class"].astype(str)
    calibration = Calibration(keep_series=True)
    stats = BacktestStats()
    todo_prof = prof[prof["series_id"].isin(todo)]
    cands = catalog.resolve(settings.candidates, settings.season_length)
    singles = [c.name for c in cands if not c.is_combination]
    stacking = Stacking.from_catalog(catalog, singles, settings)
    race = Race.plan(todo_prof, settings, catalog, cands)
    cols = [*BACKTEST_COLUMNS, *MEMORY_COLUMNS]
    # a global model learns from every eligible series, backtested now or carried; with
    # nothing to backtest that it runs on (a rebuild with no new data; a week that
    # re-selects only intermittent series) it is not learned at all
    pooled = {}
    needed = pooled_needed(cands, set(classes.reindex(sorted(todo)).dropna()), settings)
    if needed:
        pooled = fit_pooled(
            catalog,
            needed,
            settings,
            prof,
            wh.series_batches(con, series, settings.batch_series, pooled_learners(needed, prof)),
        )

    def remember(part: pd.DataFrame) -> pd.DataFrame:
        return _with_residuals(part, classes, calibration)

    def backtest(ids: Any) -> list[pd.DataFrame]:
        batches = wh.series_batches(con, series, settings.batch_series, ids)
        _say_batches("backtest", batches)
        out = []
        for batch in batches:  # the rows, the pooled residuals and the pool's forecasts
            part = run_backtest(
                batch, todo_prof, settings, catalog, stats, calibration, stacking, race, pooled
            )
            out.append(remember(part))
        return out

    # the race's raced series first (every candidate), then the others (race.py)
    raced = todo_prof["series_id"].isin(list(race.scouts)).to_numpy()
    parts = backtest(todo_prof["series_id"][raced]) if race.active else []
    race.decide(pd.concat(parts) if parts else pd.DataFrame(), settings, catalog)
    parts += backtest(todo_prof["series_id"][~raced] if race.active else todo_prof["series_id"])
    if any(c.is_learned for c in cands):  # learned across every batch's series
        learned = stacking.finish(calibration)
        if len(learned):
            text = ("series_id", "model_name", "status", "error_message", "members")
            learned = learned.astype(dict.fromkeys(text, "string"))
            parts.append(remember(learned)[cols])
    fresh = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    eligible = prof[
        prof["is_backtestable"].fillna(False).astype(bool) & (prof["lifecycle"] != "discontinued")
    ]["series_id"]
    carry = sorted(set(eligible) - todo)
    carried = wh.read_backtest_memory(memory, ident.settings_hash, carry)
    missing = sorted(set(carry) - set(carried["series_id"].astype(str)))
    if missing:
        raise RuntimeError(
            f"backtest: {len(missing)} series have no backtest on record to carry "
            f"(e.g. {missing[:3]}); int_forecast__decisions should have marked them"
        )

    # StatsForecast fits per series (a global model is fitted once for the panel)
    single = {n for n, c in catalog.candidates.items() if not (c.is_combination or c.is_pooled)}
    fresh = fresh.assign(
        backtest_run_id=run.run_id,
        backtest_origin=origin,
        n_fits=np.where(
            (fresh["status"] != "skipped") & fresh["model_name"].isin(single),
            fresh["n_windows"],
            0,
        ).astype("int64"),
    )

    carried_rows = carried.rename(columns={"run_id": "backtest_run_id"}).assign(
        n_fits=0, backtest_origin=pd.to_datetime(carried["backtest_origin"]).dt.date
    )
    cols = [*BACKTEST_COLUMNS, "backtest_run_id", "backtest_origin", "n_fits", *MEMORY_COLUMNS]
    parts = [p[cols] for p in (fresh, carried_rows) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    order = {name: i for i, name in enumerate(catalog.candidates)}
    out = (
        out.assign(_o=out["model_name"].map(order))
        .sort_values(["series_id", "_o"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    for col in ("n_windows", "n_fits"):
        out[col] = out[col].astype("int64")
    for col in METRIC_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in ("series_id", "model_name", "status", "error_message", "backtest_run_id"):
        out[col] = out[col].astype("string")
    out["demand_class"] = out["demand_class"].astype("string")
    out["residuals"] = pd.Series(list(out["residuals"]), dtype=pd.ArrowDtype(pa.binary()))
    runs = carried["run_id"].nunique() if len(carried) else 0
    emit(
        f"backtest: {out.loc[out['n_fits'] > 0, 'series_id'].nunique()} series backtested "
        f"({stats.n_fits:,} fits); {len(carry)} carry their last backtest "
        f"(from {runs} earlier run{'s' * (runs != 1)})"
    )
    return out


def _say_batches(step: str, batches: SeriesBatches) -> None:
    n = -(-len(batches.ids) // batches.size)
    if n > 1:
        emit(f"{step}: {len(batches.ids):,} series in {n} batches of up to {batches.size:,}")


def _with_residuals(
    rows: pd.DataFrame, classes: pd.Series, calibration: Calibration
) -> pd.DataFrame:
    """Memory rows of a batch: its demand classes and each row's scaled residuals (float32
    bytes, as the calibration pools them), which the calibration then lets go."""
    kept = calibration.series_residuals
    ids = rows["series_id"].astype(str)
    blobs = [
        None if (v := kept.pop((s, m), None)) is None else v.astype("<f4").tobytes()
        for s, m in zip(ids, rows["model_name"], strict=True)
    ]
    kept.clear()
    return rows.assign(demand_class=ids.map(classes).to_numpy(), residuals=blobs)


def calibration_run(run: Any, backtest: pd.DataFrame, series: Any = None) -> pd.DataFrame:
    """`int_forecast__calibration`: the pooled residual quantiles per demand class,
    candidate and horizon step (intervals.Calibration) over the scaled residuals of every
    row of int_forecast__backtest (demand_class, model_name, residuals; with series_id and
    backtest_origin, the residuals dated in a recurring plant closure are left out: see
    _without_closures), fresh or carried. `series`: int_series__filled (a relation or a
    frame, with plant_id), the plants' weekly totals the closures are found on."""
    settings = run.settings
    calibration = Calibration()
    rows = backtest[backtest["residuals"].notna()]
    closed = _past_closures(series, settings) if series is not None else {}
    for (cls, name), grp in rows.groupby(["demand_class", "model_name"], sort=True):
        blobs = [np.frombuffer(b, dtype="<f4") for b in grp["residuals"]]
        if closed and "backtest_origin" in grp.columns:
            blobs = _without_closures(blobs, grp, closed, settings)
        calibration.add_series(cls, name, blobs, settings.horizon)
    return _typed_calibration(calibration.quantiles(settings.levels))


def _past_closures(series: Any, settings: Settings) -> dict[str, dict[str, set]]:
    """At a weekly frequency, per plant the Mondays a recurring closure dipped
    (closures.past_closures) and the series of the plant: {'plants': {series_id: plant},
    'weeks': {plant: {Monday, ...}}}; {} where there are none (or no plants)."""
    if settings.frequency != "week" or "plant_id" not in series.columns:
        return {}
    totals, plant_of = _plant_totals(series), _plant_of(series)
    weeks: dict[str, set] = {}
    for plant, monday in closures.past_closures(totals):
        weeks.setdefault(plant, set()).add(pd.Timestamp(monday))
    return {"plants": plant_of.to_dict(), "weeks": weeks} if weeks else {}


def without_past_closures(history: pd.DataFrame, series: Any, settings: Settings) -> pd.DataFrame:
    """`history` (series_id, period_start, demand) with the demand of each past week a
    recurring closure of the series' plant dipped (closures.past_closures) set to NaN:
    the launch curves leave those weeks out (a launch whose first weeks fell in last
    year's shutdown otherwise carried the dip into every launch of its group, and the
    forecast step scaled the future's closure week again). `series`: int_series__filled
    (a relation or a frame, with plant_id). Unchanged at another frequency."""
    closed = _past_closures(series, settings)
    if not closed or history.empty:
        return history
    plant = history["series_id"].astype(str).map(closed["plants"])
    pairs = {(p, w) for p, weeks in closed["weeks"].items() for w in weeks}
    hit = [
        (p, pd.Timestamp(w)) in pairs
        for p, w in zip(plant, pd.to_datetime(history["period_start"]), strict=True)
    ]
    return history.assign(demand=history["demand"].astype(float).mask(np.asarray(hit)))


def _plant_totals(series: Any) -> pd.DataFrame:
    """The plants' totals per period (plant_id, period_start, demand) of the series (a
    relation or a frame, with plant_id)."""
    if isinstance(series, pd.DataFrame):
        totals = series.groupby(["plant_id", "period_start"], as_index=False)["demand"].sum()
    else:
        totals = series.aggregate(
            "plant_id, period_start, sum(demand) as demand", "plant_id, period_start"
        ).df()
    return totals


def _without_closures(
    blobs: list[np.ndarray], rows: pd.DataFrame, closed: dict, settings: Settings
) -> list[np.ndarray]:
    """Each row's residuals with those dated in a past closure week of its plant set to
    NaN. The backtest forecast those weeks unscaled, as no forecast of them is (the
    forecast step scales them), and their residuals (a year-end shutdown: demand at a
    fifth of the forecast) widened every later step's interval of every series. A row's
    windows (len / h of them) end at its backtest_origin, step_size apart."""
    h, step = settings.horizon, settings.step_size
    out = []
    for blob, sid, origin in zip(
        blobs, rows["series_id"].astype(str), rows["backtest_origin"], strict=True
    ):
        weeks = closed["weeks"].get(closed["plants"].get(sid))
        n = len(blob) // h
        if not weeks or n == 0 or pd.isna(origin):
            out.append(blob)
            continue
        offsets = np.concatenate([1 - h - (n - 1 - w) * step + np.arange(h) for w in range(n)])
        dates = pd.Timestamp(origin) + pd.to_timedelta(7 * offsets, unit="D")
        hit = np.asarray(dates.isin(list(weeks)))
        if hit.any():
            blob = np.where(hit, np.nan, blob).astype("<f4")
        out.append(blob)
    return out


def _typed_calibration(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in out.columns:
        if col in ("demand_class", "model_name"):
            out[col] = out[col].astype("string")
        elif col in ("step", "n_residuals"):
            out[col] = out[col].astype("int64")
        else:
            out[col] = out[col].astype("float64")
    return out


def champions_run(
    con: Any,
    run: Any,
    metrics: pd.DataFrame,
    profiles: pd.DataFrame,
    decisions: pd.DataFrame,
    catalog: Catalog | None = None,
    memory: wh.Memory | None = None,
) -> pd.DataFrame:
    """`int_forecast__champions`: selection for the series to re-select (bars honoured),
    the registry's champion for the others, the pinned model for pinned series."""
    memory = memory or wh.Memory.of_warehouse(con)
    settings = run.settings
    catalog = (catalog or load_catalog()).at_season(settings.season_length)
    dec = decisions.assign(series_id=decisions["series_id"].astype(str)).set_index("series_id")
    barred = dec["barred_models"].dropna().astype(str).str.split("|").explode()
    barred = pd.DataFrame({"series_id": barred.index, "model_name": barred.to_numpy()})
    selected = select_champions(metrics, profiles, settings, catalog=catalog, barred=barred)
    selected["series_id"] = selected["series_id"].astype(str)
    pinned = dec.index[_is(dec["override_action"], "pin")]
    again = dec.index[_is(dec["decision"], "reselect") & ~dec.index.isin(pinned)]
    kept_ids = dec.index[
        (_is(dec["decision"], "refit") | _is(dec["decision"], "reuse")) & ~dec.index.isin(pinned)
    ]

    new = selected[selected["series_id"].isin(again)].copy()
    bar_note = dec["override_reason"].astype(object).where(_is(dec["override_action"], "bar"))
    note = new["series_id"].map(bar_note)
    new["reason"] = np.where(
        note.notna(),
        new["reason"].astype(str) + "; override bars " + note.fillna(""),
        new["reason"],
    )

    pairs = dec.loc[kept_ids, ["previous_run_id"]].reset_index()
    pairs = pairs.rename(columns={"previous_run_id": "run_id"}).dropna()
    registry = wh.read_registry_rows(memory, pairs)
    kept = registry[registry["champion"].notna()] if len(registry) else registry
    kept = kept.assign(series_id=kept["series_id"].astype(str)) if len(kept) else kept
    for col in ("scale_mae", "interval_scale", "champion_mase"):
        if col not in kept.columns:
            kept[col] = np.nan

    pins = _pinned_rows(metrics, selected, dec.loc[pinned], settings)
    cols = [*CHAMPION_COLUMNS, "champion_mase"]
    # every part in one set of types first (counts as floats until the nulls are filled), so
    # a column all null in one part never decides the concatenation's type
    types = {c: "string" if t == "string" else "float64" for c, t in CHAMPION_TYPES.items()}
    types["champion_mase"] = "float64"
    parts = [p.reindex(columns=cols).astype(types) for p in (new, kept, pins) if len(p)]
    out = pd.concat(parts or [pd.DataFrame(columns=cols).astype(types)], ignore_index=True)
    mase = _metric_of(metrics, "mase")
    fresh = ~out["series_id"].isin(kept["series_id"] if len(kept) else [])
    out.loc[fresh, "champion_mase"] = [
        mase.get((s, parse_champion(str(c))[0]), np.nan)
        for s, c in zip(out.loc[fresh, "series_id"], out.loc[fresh, "champion"], strict=True)
    ]
    out["decision"] = out["series_id"].map(dec["decision"])
    out["selected_run_id"] = out["series_id"].map(dec["selected_run_id"])
    out["selected_origin"] = pd.to_datetime(out["series_id"].map(dec["selected_origin"])).dt.date
    for col in ("n_candidates", "n_windows"):
        out[col] = out[col].fillna(0).astype("int64")
    out["champion_mase"] = pd.to_numeric(out["champion_mase"], errors="coerce").astype("float64")
    for col in ("decision", "selected_run_id"):  # the champions' own columns are typed above
        out[col] = out[col].astype("string")
    return out.sort_values("series_id", kind="stable").reset_index(drop=True)


def _is(values: pd.Series, value: str) -> pd.Series:
    """values == value, False where null (whatever the dtype)."""
    return values.astype(object).eq(value)


def _metric_of(metrics: pd.DataFrame, metric: str) -> dict[tuple[str, str], float]:
    ok = metrics[metrics["status"] == "ok"]
    return dict(
        zip(
            zip(ok["series_id"].astype(str), ok["model_name"].astype(str), strict=True),
            pd.to_numeric(ok[metric], errors="coerce"),
            strict=True,
        )
    )


def _pinned_rows(
    metrics: pd.DataFrame, selected: pd.DataFrame, dec: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Champion rows of pinned series: the pinned model, with its backtest score and
    interval scale where it was backtested on the series."""
    if dec.empty:
        return pd.DataFrame(columns=list(CHAMPION_COLUMNS))
    metric = settings.selection_metric
    ok = metrics[metrics["status"] == "ok"].assign(series_id=metrics["series_id"].astype(str))
    ok = ok.set_index(["series_id", "model_name"])
    ok = ok[~ok.index.duplicated()]
    by_series = selected.set_index("series_id")
    rows = []
    for sid, r in dec.iterrows():
        model = str(r["override_model"])
        key = (sid, model)
        scored = key in ok.index
        row = ok.loc[key] if scored else None
        scale = np.nan
        if scored and row["mase"] > 0:
            scale = row["mae"] / row["mase"]
        n_cand = int((ok.index.get_level_values(0) == sid).sum())
        rows.append(
            {
                "series_id": sid,
                "champion": model,
                "selection_metric": metric,
                "champion_score": abs(row["bias"])
                if scored and metric == "bias"
                else (row[metric] if scored else np.nan),
                "runner_up": None,
                "runner_up_score": np.nan,
                "n_candidates": n_cand,
                "n_windows": int(row["n_windows"]) if scored else 0,
                "class_champion": by_series["class_champion"].get(sid),
                "scale_mae": scale,
                "interval_scale": np.sqrt(scale * row["mae"]) if scored else np.nan,
                "reason": r["detail"],
            }
        )
    return pd.DataFrame(rows)


def forecast_run(
    con: Any,
    run: Any,
    series: Any,
    profiles: pd.DataFrame,
    champions: pd.DataFrame,
    decisions: pd.DataFrame,
    calibration: pd.DataFrame | None = None,
    catalog: Catalog | None = None,
    memory: wh.Memory | None = None,
    closure_weeks: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`int_forecast__predictions`: the forecast of every series but those reused, whose
    rows come from their last run's forecast (fct_forecast_history); n_refits per series.
    `calibration`: int_forecast__calibration (calibration_run); `closure_weeks`:
    int_forecast__closures (closures_run), the factors of the plants' recurring
    closures; without it they are found here, on the series' weekly totals."""
    memory = memory or wh.Memory.of_warehouse(con)
    settings = run.settings
    dec = decisions.assign(series_id=decisions["series_id"].astype(str))
    reuse = dec[_is(dec["decision"], "reuse")]
    live = _live_profiles(profiles)["series_id"]
    stats = ForecastStats()
    batches = wh.series_batches(con, series, settings.batch_series)
    _say_batches("forecast", batches)
    fresh = forecast_series(
        batches,
        profiles,
        champions,
        settings,
        catalog=catalog,
        stats=stats,
        calibration=calibration,
        fit_ids=set(live) - set(reuse["series_id"]),
    )
    if settings.frequency == "week" and len(fresh):
        fresh = with_closures(series, fresh, settings, factors=closure_weeks)
    cols = prediction_columns(settings.levels)
    pairs = reuse.rename(columns={"previous_run_id": "run_id"})[["run_id", "series_id"]]
    carried = wh.read_forecast_rows(memory, pairs, cols)
    lost = sorted(set(reuse["series_id"]) - set(carried["series_id"].astype(str)))
    if lost:
        raise RuntimeError(
            f"forecast: the last forecast of {len(lost)} reused series is not on record "
            f"(e.g. {lost[:3]})"
        )
    if len(carried):
        carried["period_start"] = pd.to_datetime(carried["period_start"]).dt.date
    parts = [p for p in (fresh, carried) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    out = until_discontinued(out, profiles)
    out = out.sort_values(["series_id", "step"], kind="stable").reset_index(drop=True)
    out["step"] = out["step"].astype("int64")
    for col in ("series_id", "model_name", "method", "fallback_reason"):
        out[col] = out[col].astype("string")
    out["n_refits"] = out["series_id"].map(stats.fits_by_series).fillna(0).astype("int64")
    if len(reuse):
        emit(
            f"forecast: {len(reuse)} series reuse their last forecast "
            f"({reuse['previous_run_id'].nunique()} earlier run(s)), nothing fitted for them"
        )
    return out


CLOSURE_COLUMNS = {
    "plant_id": "string",
    "period_start": "object",
    "step": "int64",
    "closure_factor": "float64",
    "closure_reason": "string",
}


def closures_run(run: Any, series: Any, days: Any = None) -> pd.DataFrame:
    """`int_forecast__closures`: each plant's weeks of the horizon that a recurring closure
    dips (closures.closure_factors): plant_id, period_start, step, closure_factor (what
    the plant's forecast of the week is scaled by) and closure_reason (the years it
    dipped, in words). Weekly frequency only; no rows otherwise, nor for data without
    plants. `series`: int_series__filled (a relation or a frame, with plant_id); `days`:
    int_orders__plant_days (a relation or a frame)."""
    settings = run.settings
    origin = run.get("forecast_origin")
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in CLOSURE_COLUMNS.items()})
    if settings.frequency != "week" or origin is None or "plant_id" not in series.columns:
        return empty
    if days is not None and not isinstance(days, pd.DataFrame):
        days = days.project("plant_id, order_date, demand").df()
    totals = _plant_totals(series)
    steps = np.arange(1, settings.horizon + 1)
    weeks = pd.Timestamp(origin) + pd.to_timedelta(7 * steps, unit="D")
    plants = totals["plant_id"].drop_duplicates()
    future = pd.DataFrame(
        {
            "plant_id": np.repeat(plants.to_numpy(), len(steps)),
            "period_start": np.tile(weeks, len(plants)),
        }
    )
    factors = closures.closure_factors(totals, future, days)
    if factors.empty:
        return empty
    start = pd.to_datetime(factors["period_start"])
    out = pd.DataFrame(
        {
            "plant_id": factors["plant_id"].astype(str),
            "period_start": start.dt.date,
            "step": ((start - pd.Timestamp(origin)).dt.days // 7).astype("int64"),
            "closure_factor": factors["factor"].astype(float),
            "closure_reason": factors["detail"],
        }
    )
    out = out.sort_values(["plant_id", "step"], kind="stable").reset_index(drop=True)
    return out.astype(CLOSURE_COLUMNS)


def with_closures(
    series: Any,
    fresh: pd.DataFrame,
    settings: Settings,
    days: Any = None,
    plants: pd.Series | None = None,
    factors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The fresh forecast with each plant's recurring closures applied (closures.py):
    `factors` where given (int_forecast__closures: plant_id, period_start,
    closure_factor, closure_reason), else found on the plants' weekly totals, read from
    the series (a relation or a frame, with plant_id; without one, as some callers'
    frames are, there is no plant to look at), and their days from `days` (plant_id,
    order_date, demand; a relation or a frame) where given. `plants` (series_id ->
    plant_id): the plant of each forecast series, where they are not the series' own
    (the launches, which have no history yet)."""
    if "plant_id" not in series.columns:
        return fresh
    plant_of = plants if plants is not None else _plant_of(series)
    plant_of = plant_of.set_axis(plant_of.index.astype(str))
    if factors is not None:
        factors = factors.rename(columns={"closure_factor": "factor", "closure_reason": "detail"})
    else:
        if days is not None and not isinstance(days, pd.DataFrame):
            days = days.project("plant_id, order_date, demand").df()
        factors = _factors_of(fresh, plant_of, _plant_totals(series), days)
    return _closed(fresh, plant_of, factors, settings.levels)


def _factors_of(
    forecast: pd.DataFrame, plant_of: pd.Series, totals: pd.DataFrame, days: Any
) -> pd.DataFrame:
    """closures.closure_factors for the plants' weeks the forecast rows fall in."""
    weeks = forecast.assign(
        plant_id=forecast["series_id"].astype(str).map(plant_of),
        period_start=pd.to_datetime(forecast["period_start"]),
    )
    return closures.closure_factors(totals, weeks, days)


def _plant_of(series: Any) -> pd.Series:
    """Each series' plant (series_id -> plant_id) of the series (a relation or a frame)."""
    if isinstance(series, pd.DataFrame):
        pairs = series[["series_id", "plant_id"]].drop_duplicates("series_id")
    else:
        pairs = series.project("series_id, plant_id").distinct().df()
    return pairs.set_index(pairs["series_id"].astype(str))["plant_id"]


def _closed(
    fresh: pd.DataFrame, plant_of: pd.Series, factors: pd.DataFrame, levels: tuple
) -> pd.DataFrame:
    """closures.apply, with the weeks it scaled named in dbt's log."""
    if factors.empty or fresh.empty:
        return fresh
    out = closures.apply(fresh, plant_of, factors, levels)
    plants = set(out["series_id"].astype(str).map(plant_of).dropna())
    weeks = sorted(
        f"{p} {w:%Y-%m-%d}"
        for p, w in zip(factors["plant_id"], pd.to_datetime(factors["period_start"]), strict=True)
        if p in plants
    )
    if weeks:
        emit(f"forecast: recurring plant closures scale the forecast of {', '.join(weeks)}")
    return out


# ------------------------------------------------------------------ rebuilding a run


def rebuild_forecast(con: Any, run_id: str, series_ids: Any = None) -> pd.DataFrame:
    """A past run's forecast of some series, from the memory alone: each series'
    fct_model_registry row of the run (champion, settings, interval scale, demand class),
    its history from fct_demand_history up to the run's origin (checked against the
    registry's fingerprint: a ValueError when the history was restated since), and the
    run's calibration (demandcast_calibration_memory). For series the run forecast with a
    champion whose interval scale is on record (backtested ones); the result has the
    columns of int_forecast__predictions."""
    run_rows = con.execute("select * from main.fct_model_registry where run_id = ?", [run_id]).df()
    registry = run_rows[run_rows["champion"].notna()]
    if series_ids is not None:
        registry = registry[registry["series_id"].isin(list(series_ids))]
    if registry.empty:
        raise ValueError(f"run {run_id}: no registry row with a champion for these series")
    values = json.loads(registry["settings"].iloc[0])
    values.setdefault("intervals_from_zero", False)  # a run from before the var: central
    settings = Settings(**{**values, "n_jobs": 1})
    origin = pd.Timestamp(registry["forecast_origin"].iloc[0])
    # a global member (pooled.py) learned from every backtested series of its classes
    catalog = load_catalog().at_season(settings.season_length)
    classes = {
        cls
        for m in pooled_members(registry["champion"], catalog)
        for cls in catalog.candidates[m].classes
    }
    learners = run_rows[(run_rows["n_windows"] > 0) & run_rows["demand_class"].isin(classes)]
    wanted = pd.concat([registry, learners]).drop_duplicates("series_id")
    con.register("_rebuild_ids", wanted[["series_id"]])
    history = con.execute(
        "select series_id, period_start, demand from main.fct_demand_history "
        "where series_id in (select series_id from _rebuild_ids) and period_start <= ? "
        "order by series_id, period_start",
        [origin.date()],
    ).df()
    con.unregister("_rebuild_ids")
    prints = history_fingerprints(history).set_index("series_id")["history_fingerprint"]
    restated = wanted.loc[
        prints.reindex(wanted["series_id"]).to_numpy() != wanted["history_fingerprint"],
        "series_id",
    ]
    if len(restated):
        raise ValueError(
            f"run {run_id}: the history of {len(restated)} series differs from the one the "
            f"model was fitted on (e.g. {restated.iloc[0]})"
        )
    calibration = con.execute(
        "select * exclude (run_id) from main.demandcast_calibration_memory where run_id = ?",
        [run_id],
    ).df()
    profiles = wanted[["series_id", "demand_class"]].assign(
        lifecycle="active", product_group=None, is_backtestable=wanted["n_windows"] > 0
    )
    champions = registry[["series_id", "champion", "interval_scale", "scale_mae"]]
    out = forecast_series(
        history,
        profiles,
        champions,
        settings,
        calibration=calibration,
        fit_ids=set(registry["series_id"].astype(str)),
    )
    columns = set(con.execute("select * from main.fct_demand_history limit 0").df().columns)
    if settings.frequency == "week" and len(out) and "plant_id" in columns:
        # the plants' closures, as the run did (a memory without plants: none)
        totals = con.execute(
            "select plant_id, period_start, sum(demand) as demand from main.fct_demand_history"
            " where period_start <= ? group by all",
            [origin.date()],
        ).df()
        pairs = con.execute("select distinct series_id, plant_id from main.fct_demand_history").df()
        plant_of = pairs.set_index(pairs["series_id"].astype(str))["plant_id"]
        factors = _factors_of(out, plant_of, totals, _days_before(con, origin))
        out = _closed(out, plant_of, factors, settings.levels)
    return out


def _days_before(con: Any, origin: pd.Timestamp) -> pd.DataFrame | None:
    """The plants' daily totals of the weeks up to `origin` (int_orders__plant_days, as the
    run read them; None on a warehouse without it)."""
    import duckdb

    try:
        return con.execute(
            "select plant_id, order_date, demand from main.int_orders__plant_days"
            " where order_date < ?",
            [(origin + pd.Timedelta(days=7)).date()],
        ).df()
    except duckdb.Error:
        return None
