"""Rolling-origin backtest of every candidate on every eligible series.

`run_backtest(series, profiles, settings)` returns one row per series x
candidate (the `int_forecast__backtest` contract): the accuracy of the
candidate over the series' backtest windows, or why it has none.

How the work is organised:

- Eligible series are backtestable and not discontinued. A series is scored on
  `n_windows` origins `step_size` apart, or on as many as its history allows
  with `min_train_length` periods before the earliest origin (at least one;
  otherwise its rows say 'skipped' and it gets the cold-start forecast).
- Series are grouped by (windows that fit, candidates that apply): the
  candidates that apply depend on the demand class (route_by_class: the
  catalog's `classes` tags) and on the seasons of history (season-requiring
  candidates). A group runs in one StatsForecast `cross_validation` call over
  its series and candidates, never one per series (a call costs a start-up of
  the workers); while it runs, progress reaches dbt's log every 30 s.
  StatsForecast fits every series on its own, so the grouping, the batches
  (`batch_series`) and the order of the groups (most candidates first) change
  no number.
- The calls run on the engine (var `engine`, distributed.py): this process and its
  pool of n_jobs workers, or a Dask or Ray cluster through StatsForecast's Fugue
  backend, with the same numbers.
- Every model is wrapped in `Guarded`: a candidate that raises on a series
  gives NaN there, the row says 'failed' with the error message, the run goes
  on.
- Combinations (fixed members, and the per-series top-k by the selection
  metric) are built from the members' backtest forecasts and scored on the
  same windows. A member whose forecast of a window rises above the series'
  plausible maximum as it stood at the window's origin (`max_forecast_multiple`,
  the forecast step's runaway rule) is left out of the combinations for that
  window, which combine the rest, as the forecast does; the member's own row
  keeps its score.
- Global models (GlobalAR, GlobalGBM: pooled.py) are no StatsForecast model:
  they are learned once on the whole panel at each window's offset from the
  series' end (`fit_pooled`, before the batches) and forecast every series of a
  group in one batch a window, beside its cross_validation call.
- Expensive models marked `forward` in the catalog (ETS, theta, ARIMA) are
  estimated once per series at the first backtest origin and applied to the
  later windows through StatsForecast's `forward` (`backtest_refit` false,
  the default); the others are refit on every window.
- Only aggregated metrics leave; the per-step frame is dropped group by group.
  Its residuals, scaled per series, feed a `Calibration`: per demand class,
  candidate and horizon step, the quantiles the forecast's intervals use
  (intervals.py).
- Progress (series and groups done, time elapsed and left) and, at the end,
  the failed candidates (how many series each, and the first error) go to
  dbt's log (progress.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demandcast.catalog import (
    MAX_ERROR_RERUNS,
    Candidate,
    Catalog,
    Guarded,
    error_of,
    load_catalog,
    trimmed_mean,
)
from demandcast.config import Settings
from demandcast.distributed import Engine, open_engine
from demandcast.frames import SeriesBatches, to_sf
from demandcast.intervals import Calibration, interval_base
from demandcast.metrics import METRIC_COLUMNS, plausible_max, score_arrays, seasonal_scales
from demandcast.pooled import GlobalModel, fit_panel, learners
from demandcast.progress import Progress, emit, report_failures
from demandcast.race import Race
from demandcast.stacking import Stacking

BACKTEST_COLUMNS = (
    "series_id",
    "model_name",
    "n_windows",
    *METRIC_COLUMNS,
    "status",
    "error_message",
    "members",
)
PROBE_SERIES = 2
"""Series of a step's first call run alone first, in this process, to time the rest."""


@dataclass
class BacktestStats:
    """Counters of one run (summed over the calls it is passed to), for benchmarks and logs."""

    n_series: int = 0
    n_calls: int = 0
    n_fits: int = 0
    n_runaway: int = 0
    """Member forecasts of a window above the plausible maximum, left out of combinations."""


def run_backtest(
    series: pd.DataFrame,
    profiles: pd.DataFrame,
    settings: Settings,
    catalog: Catalog | None = None,
    stats: BacktestStats | None = None,
    calibration: Calibration | None = None,
    stacking: Stacking | None = None,
    race: Race | None = None,
    pooled: dict[str, GlobalModel] | None = None,
) -> pd.DataFrame:
    """Backtest every applicable candidate on every eligible series; one row per pair.

    Pass a `Calibration` to collect the scaled residuals for pooled conformal intervals.
    Every series is scored on its own, so a panel may be backtested in batches of whole
    series (one `Calibration` and `BacktestStats` passed to every call) with the same rows.
    ComboLearned's weights are learned across series: pass one `Stacking` to every batch
    and its rows come from `stacking.finish()` after the last; without one, this call
    learns them over its own series and returns their rows too. Likewise the race
    (race.py): pass one `Race` (its raced series first, then `Race.decide`, then the
    others), or this call races its own series. A global model (pooled.py) learns from
    every series: pass the models `fit_pooled` fitted on the whole panel to every batch, or
    this call fits them on its own series.
    """
    catalog = (catalog or load_catalog()).at_season(settings.season_length)
    stats = stats if stats is not None else BacktestStats()
    calibration = calibration if calibration is not None else Calibration()
    cands = catalog.resolve(settings.candidates, settings.season_length)
    learned = any(c.is_combination and c.is_learned for c in cands)
    own_stacking = stacking is None and learned
    if own_stacking:
        singles = [c.name for c in cands if not c.is_combination]
        stacking = Stacking.from_catalog(catalog, singles, settings)
    if not learned:
        stacking = None
    if pooled is None:
        pooled = fit_pooled(catalog, cands, settings, profiles, SeriesBatches.of(series))
    args = (profiles, settings, catalog, cands, stats, calibration, stacking, pooled)
    if race is None:
        race = Race.plan(profiles, settings, catalog, cands)
        if race.active:
            raced = series["series_id"].astype(str).isin(race.scouts)
            first = _run(series[raced.to_numpy()], *args, race)
            race.decide(first, settings, catalog)
            parts = [first, _run(series[~raced.to_numpy()], *args, race)]
        else:
            race.decide(pd.DataFrame(), settings, catalog)
            parts = [_run(series, *args, race)]
    else:
        parts = [_run(series, *args, race)]
    if own_stacking:
        parts.append(stacking.finish(calibration))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(BACKTEST_COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    order = {c.name: i for i, c in enumerate(cands)}
    out["_o"] = out["model_name"].map(order)
    out = out.sort_values(["series_id", "_o"], kind="stable").drop(columns="_o")
    out["n_windows"] = out["n_windows"].astype("int64")
    if "members" not in out.columns:
        out["members"] = None
    for col in ("series_id", "model_name", "status", "error_message", "members"):
        out[col] = out[col].astype("string")  # VARCHAR in the warehouse, even when all null
    return out[list(BACKTEST_COLUMNS)].reset_index(drop=True)


def _run(
    series: pd.DataFrame,
    profiles: pd.DataFrame,
    settings: Settings,
    catalog: Catalog,
    cands: list[Candidate],
    stats: BacktestStats,
    calibration: Calibration,
    stacking: Stacking | None,
    pooled: dict[str, GlobalModel],
    race: Race,
) -> pd.DataFrame:
    """The backtest of the series given (each raced or not, as `race` says), in groups."""
    singles = [c for c in cands if not c.is_combination]
    combos = [c for c in cands if c.is_combination]
    plan = _plan(series, profiles, settings, singles, race)
    stats.n_series += len(plan)
    runaways_before = stats.n_runaway
    if plan.empty:
        return pd.DataFrame(columns=list(BACKTEST_COLUMNS))
    df = to_sf(series, ids=plan.index)
    parts = [_skipped_rows(plan, singles, combos, settings, race)]
    groups = []
    for (n_win, key), members in plan[plan["n_windows"] > 0].groupby(
        ["n_windows", "run_key"], sort=True
    ):
        run = [c for c in singles if c.name in set(key.split("|"))] if key else []
        groups.append((int(n_win), run, members))
    # most candidates first: the slowest pace comes first, so the first estimates of the
    # time left err long rather than short (the rows are sorted below; no number changes)
    groups.sort(key=lambda g: -len(g[1]))
    with open_engine(settings) as engine:
        progress = _start_progress(plan, groups, singles, combos, settings, engine)
        for group, (n_win, run, members) in enumerate(groups):
            group_df = df[df["unique_id"].isin(members.index)]
            parts.append(
                _backtest_group(
                    group_df,
                    members,
                    run,
                    combos,
                    n_win,
                    settings,
                    catalog,
                    stats,
                    calibration,
                    progress,
                    group,
                    engine,
                    stacking,
                    pooled,
                )
            )
            progress.advance(groups=1)
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    failed = out[out["status"] == "failed"]
    status = out["status"].value_counts()
    progress.finish(
        "series x candidate rows: "
        + ", ".join(f"{status.get(k, 0):,} {k}" for k in ("ok", "skipped", "failed"))
    )
    if n_runaway := stats.n_runaway - runaways_before:
        emit(
            f"backtest: {n_runaway:,} window forecast(s) of a member above the series' "
            f"plausible maximum (var max_forecast_multiple {settings.max_forecast_multiple:g}) "
            "left out of the combinations that hold the member, as the forecast leaves "
            "them out"
        )
    report_failures(
        "backtest",
        zip(failed["model_name"], failed["error_message"], strict=True),
        "recorded with status 'failed' (fct_forecast_exceptions: candidate_failed)",
    )
    return out


def _start_progress(
    plan: pd.DataFrame,
    groups: list[tuple[int, list[Candidate], pd.DataFrame]],
    singles: list[Candidate],
    combos: list[Candidate],
    settings: Settings,
    engine: Engine,
) -> Progress:
    """The run's progress counter, its first line in dbt's log."""
    work = {
        i: n_win * sum(not c.is_pooled for c in run) * len(members)
        for i, (n_win, run, members) in enumerate(groups)
    }
    fits = sum(work.values())
    n_series = sum(len(members) for _, _, members in groups)
    progress = Progress("backtest", work, {"series": n_series, "groups": len(groups)})
    progress.start(
        f"{n_series} series ({len(plan) - n_series} too short to backtest), "
        f"{len(singles)} single candidates and {len(combos)} combinations, up to "
        f"{settings.n_windows} windows: {fits:,} model fits in {len(groups)} "
        f"group{'s' * (len(groups) != 1)}, "
        f"{engine.describe()}"
    )
    return progress


# ------------------------------------------------------------------------------ plan


def _plan(
    series: pd.DataFrame,
    profiles: pd.DataFrame,
    settings: Settings,
    singles: list[Candidate],
    race: Race,
) -> pd.DataFrame:
    """Per eligible series: demand class, windows that fit, seasons, raced or not, and the
    candidates to run."""
    need = {"series_id", "demand_class", "lifecycle", "is_backtestable"}
    missing = need - set(profiles.columns)
    if missing:
        raise ValueError(f"profiles frame lacks columns {sorted(missing)}")
    prof = profiles.drop_duplicates("series_id").set_index("series_id")
    prof.index = prof.index.astype(str)
    eligible = prof["is_backtestable"].fillna(False).astype(bool) & (
        prof["lifecycle"] != "discontinued"
    )
    lengths = series.groupby(series["series_id"].astype(str)).size()
    prof = prof[eligible & prof.index.isin(lengths.index)]
    h, step = settings.horizon, settings.step_size
    n = lengths.reindex(prof.index).to_numpy()
    fit = (n - h - settings.min_train_length) // step + 1
    n_win = np.clip(fit, 0, settings.n_windows)
    first_train = n - h - (np.maximum(n_win, 1) - 1) * step
    plan = pd.DataFrame(
        {
            "demand_class": prof["demand_class"].astype(str).to_numpy(),
            "n_periods": n,
            "n_windows": n_win,
            "first_train": first_train,
            "scout": prof.index.isin(list(race.scouts)),
        },
        index=prof.index,
    )
    keys = {}
    cols = ["demand_class", "first_train", "scout"]
    for cls, train, scout in plan[cols].drop_duplicates().itertuples(index=False):
        run = [c.name for c in singles if _applies(c, cls, train, settings, race, scout)[0]]
        keys[(cls, train, scout)] = "|".join(run)
    plan["run_key"] = [keys[k] for k in plan[cols].itertuples(index=False, name=None)]
    return plan


def _applies(
    c: Candidate,
    demand_class: str,
    train: int,
    settings: Settings,
    race: Race,
    scout: bool,
) -> tuple[bool, str]:
    """Whether a single candidate runs on a series (`train` periods before the first origin;
    `scout`: one of its class's raced series)."""
    if settings.route_by_class and demand_class not in c.classes:
        return False, f"not run on {demand_class} series (route_by_class; catalog classes tag)"
    m = settings.season_length
    need = c.needs_seasons(m)
    if need and train < need * m:
        return False, f"needs {need} season(s) of {m} periods before the earliest backtest origin"
    if train < c.min_history:
        return False, f"needs {c.min_history} periods of history before the earliest origin"
    return race.runs(c.name, demand_class, scout)


def _skipped_rows(
    plan: pd.DataFrame,
    singles: list[Candidate],
    combos: list[Candidate],
    settings: Settings,
    race: Race,
) -> pd.DataFrame:
    """Rows for candidates that do not run on a series, with the reason."""
    short = plan[plan["n_windows"] == 0]
    names = [c.name for c in [*singles, *combos]]
    need = settings.min_train_length + settings.horizon
    frame = pd.DataFrame(
        {
            "series_id": np.repeat(short.index.to_numpy(), len(names)),
            "model_name": np.tile(np.asarray(names, dtype=object), len(short)),
            "n_windows": 0,
            "error_message": np.repeat(
                [
                    f"history of {n} periods is shorter than min_train_length + horizon = {need}"
                    for n in short["n_periods"]
                ],
                len(names),
            ),
        }
    )
    long = plan[plan["n_windows"] > 0]
    extra = []
    for (cls, train, scout), grp in long.groupby(["demand_class", "first_train", "scout"]):
        reasons = [(c.name, _applies(c, cls, train, settings, race, scout)) for c in singles]
        for name, (ok, why) in reasons:
            if not ok:
                extra.append(
                    pd.DataFrame(
                        {
                            "series_id": grp.index,
                            "model_name": name,
                            "n_windows": grp["n_windows"].to_numpy(),
                            "error_message": why,
                        }
                    )
                )
    frame = pd.concat([f for f in [frame, *extra] if len(f)] or [frame], ignore_index=True)
    for col in METRIC_COLUMNS:
        frame[col] = np.nan
    frame["status"] = "skipped"
    return frame


# ------------------------------------------------------------------- one CV group


def _backtest_group(
    df: pd.DataFrame,
    members: pd.DataFrame,
    run: list[Candidate],
    combos: list[Candidate],
    n_win: int,
    settings: Settings,
    catalog: Catalog,
    stats: BacktestStats,
    calibration: Calibration,
    progress: Progress,
    group: int,
    engine: Engine,
    stacking: Stacking | None = None,
    pooled: dict[str, GlobalModel] | None = None,
) -> pd.DataFrame:
    """One group's rows (`group`: its index, the kind of its work in `progress`); the
    learner pool's forecasts go to `stacking` (ComboLearned is scored after the last group).
    The global models (`pooled`, fitted on the whole panel) forecast here, not in the CV."""
    h = settings.horizon
    ids = np.sort(members.index.to_numpy().astype(str))
    n = len(ids)
    t = n_win * h
    local = [c for c in run if not c.is_pooled]
    run = local + [c for c in run if c.is_pooled]
    names = [c.name for c in run]
    if local:
        forward = not settings.backtest_refit
        models = [
            Guarded(catalog.build(c.name, settings.season_length), forward and c.forward)
            for c in local
        ]
        cv = _cross_validation(models, df, ids, n_win, settings, stats, progress, group, engine)
        stats.n_fits += n * n_win * len(local)
        cv_ids = cv["unique_id"].to_numpy()[::t].astype(str)
        if not np.array_equal(cv_ids, ids):
            raise RuntimeError("cross_validation returned series in an unexpected order")
        y = cv["y"].to_numpy(dtype=float).reshape(n, t)
        f = cv[names[: len(local)]].to_numpy(dtype=float).reshape(n, t, len(local))
        del cv
    else:
        y = np.zeros((n, t))
        f = np.zeros((n, t, 0))
        progress.advance(series=n)
    if len(run) > len(local):
        values = df.groupby("unique_id", sort=True)["y"].apply(np.asarray).reindex(ids)
        actuals, windows = _pooled_windows(
            values, n_win, settings, [pooled[c.name] for c in run[len(local) :]]
        )
        y = y if local else actuals  # the same windows as the CV's
        f = np.concatenate([f, windows], axis=2)
    scales = _scales(df, members, settings).reindex(ids)
    s_mae, s_mse = scales["scale_mae"].to_numpy(), scales["scale_mse"].to_numpy()
    base = score_arrays(y, f, s_mae, s_mse)
    failed = ~np.isfinite(f).all(axis=1)  # (series, model)
    errors = _error_messages(df, ids, failed, run, n_win, settings, catalog)

    blocks = [_rows(ids, names, n_win, base, failed, errors)]
    for c in run[len(local) :]:  # a global model with no weights at a window: too little panel
        model = pooled[c.name]
        offsets = [h + k * settings.step_size for k in range(n_win)]
        if all(model.fitted(o) for o in offsets):
            continue
        rows = (blocks[0]["model_name"] == c.name) & (blocks[0]["status"] == "failed")
        blocks[0].loc[rows, "status"] = "skipped"
        blocks[0].loc[rows, "error_message"] = (
            f"nothing to learn from: no series of its classes had {model.lags} periods of "
            f"lags and {h} of horizon before every backtest origin"
        )
    classes = members["demand_class"].reindex(ids).to_numpy()
    s_int = interval_base(scales, classes)
    calibration.add(classes, names, y, f, s_int, base["mae"], n_win, ids=ids)
    crit = _criterion(base, settings.selection_metric, failed)
    window_crit = _window_criteria(y, f, s_mae, s_mse, n_win, h, settings, failed, crit)
    kept, n_high = _without_runaways(f, df, ids, n_win, settings)
    stats.n_runaway += n_high
    combined = {}
    for combo in combos:
        if combo.is_learned:
            continue
        fc, why = _combine(combo, kept, names, crit, window_crit, settings.ensemble_top_k)
        if kept is not f:  # a window whose members all ran away: as they forecast it
            whole, _ = _combine(combo, f, names, crit, window_crit, settings.ensemble_top_k)
            fc = np.where(np.isnan(fc), whole, fc)
        res = score_arrays(y, fc[:, :, None], s_mae, s_mse)
        bad = ~np.isfinite(fc).all(axis=1)[:, None]
        msgs = {(i, 0): why[i] for i in np.nonzero(bad[:, 0])[0]}
        block = _rows(ids, [combo.name], n_win, res, bad, msgs)
        block.loc[bad[:, 0], "status"] = "skipped"
        blocks.append(block)
        calibration.add(classes, [combo.name], y, fc[:, :, None], s_int, res["mae"], n_win, ids=ids)
        combined[combo.name] = fc
    if stacking is not None:
        stacking.add(ids, classes, names, y, f, failed, s_mae, s_mse, n_win, combined)
    return pd.concat(blocks, ignore_index=True)


def fit_pooled(
    catalog: Catalog,
    cands: list[Candidate],
    settings: Settings,
    profiles: pd.DataFrame,
    batches: SeriesBatches,
    offsets: list[int] | None = None,
) -> dict[str, GlobalModel]:
    """The pooled candidates among `cands`, each fitted on its classes' series of the
    panel: at every backtest window's offset from the series' end (default), or `[0]` for
    the forecast."""
    h = settings.horizon
    if offsets is None:
        offsets = [h + k * settings.step_size for k in range(settings.n_windows)]
    models = {
        c.name: (catalog.pooled(c.name, settings.season_length, h), learners(profiles, c.classes))
        for c in cands
        if c.is_pooled
    }
    if not models:
        return {}
    start = time.perf_counter()
    fitted = fit_panel(models, batches, offsets, settings.n_jobs)
    emit(
        f"global models: {', '.join(fitted)} learned across "
        f"{max(len(m) for _, m in models.values()):,} series at {len(offsets)} "
        f"origin{'s' * (len(offsets) != 1)} in {time.perf_counter() - start:.1f} s"
    )
    return fitted


def pooled_needed(cands: list[Candidate], classes: set[str], settings: Settings) -> list[Candidate]:
    """The global candidates among `cands` that some series to backtest, of `classes`, runs:
    with route_by_class only those tagged with one of them, otherwise all (none without a
    series to backtest). Learning one costs seconds on the whole panel, whatever the
    number of series it then forecasts."""
    if not classes:
        return []
    return [
        c
        for c in cands
        if c.is_pooled and (not settings.route_by_class or classes & set(c.classes))
    ]


def pooled_learners(cands: list[Candidate], profiles: pd.DataFrame) -> set[str]:
    """Every series some pooled candidate among `cands` learns from."""
    return set().union(*(learners(profiles, c.classes) for c in cands if c.is_pooled))


def _pooled_windows(
    values: pd.Series, n_win: int, settings: Settings, models: list[GlobalModel]
) -> tuple[np.ndarray, np.ndarray]:
    """The actuals (series, n_win * h) of each series' backtest windows (oldest first, as
    cross_validation orders them) and the global models' forecasts of them
    (series, n_win * h, models), each from the weights learned up to that window."""
    h, step = settings.horizon, settings.step_size
    y = np.full((len(values), n_win * h), np.nan)
    f = np.full((len(values), n_win * h, len(models)), np.nan)
    for w in range(n_win):
        offset = h + (n_win - 1 - w) * step
        cuts = [len(series) - offset for series in values]
        for i, (series, cut) in enumerate(zip(values, cuts, strict=True)):
            y[i, w * h : (w + 1) * h] = series[cut : cut + h]
        before = [series[:cut] for series, cut in zip(values, cuts, strict=True)]
        for j, model in enumerate(models):  # one batch a window: a tree model predicts fast
            f[:, w * h : (w + 1) * h, j] = model.predict_batch(before, offset)
    return y, f


def _cross_validation(
    models: list,
    df: pd.DataFrame,
    ids: np.ndarray,
    n_win: int,
    settings: Settings,
    stats: BacktestStats,
    progress: Progress,
    group: int,
    engine: Engine,
) -> pd.DataFrame:
    """One StatsForecast cross_validation of a group's series (sorted `ids`) on the engine:
    a call costs a start-up of the engine's workers, so a group is one call (a group of up
    to PROBE_SERIES series in this process, no pool), but for the step's first group, whose
    first PROBE_SERIES series run alone first to give the log a pace. Progress reaches the
    log while it runs and after it."""
    calls = [ids]
    if progress.work == 0 and len(ids) > 4 * PROBE_SERIES:
        # the step's first call: a few series first, here (no pool start-up), so the log
        # has a pace and a time left from the start of the long call; no number changes
        calls = [ids[:PROBE_SERIES], ids[PROBE_SERIES:]]
    parts = []
    for part in calls:
        with progress.running(f"{len(part)} series x {len(models)} candidates"):
            parts.append(
                engine.cross_validation(
                    models,
                    df[df["unique_id"].isin(part)],
                    freq=settings.freq,
                    h=settings.horizon,
                    n_windows=n_win,
                    step_size=settings.step_size,
                    refit=settings.backtest_refit,
                    in_process=len(part) <= PROBE_SERIES,
                )
            )
        stats.n_calls += 1
        progress.advance(len(part) * n_win * len(models), kind=group, series=len(part))
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _scales(df: pd.DataFrame, members: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """MASE/RMSSE scales from the history before each series' earliest origin."""
    pos = df.groupby("unique_id", sort=False).cumcount().to_numpy()
    first = members["first_train"].reindex(df["unique_id"]).to_numpy()
    return seasonal_scales(df[pos < first], settings.season_length)


def _criterion(metrics: dict, metric: str, failed: np.ndarray) -> np.ndarray:
    """Selection scores (series, model), failed/NaN as +inf."""
    crit = metrics[metric]
    crit = np.abs(crit) if metric == "bias" else crit
    return np.where(failed | ~np.isfinite(crit), np.inf, crit)


def top_k_order(crit: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k best columns: lowest score first, then catalog order."""
    return np.argsort(crit, axis=1, kind="stable")[:, :k]


def _window_criteria(
    y: np.ndarray,
    f: np.ndarray,
    s_mae: np.ndarray,
    s_mse: np.ndarray,
    n_win: int,
    h: int,
    settings: Settings,
    failed: np.ndarray,
    crit: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per window: its columns, and the selection scores on the *other* windows.

    A per-series top-k combination is scored honestly: on each window its
    members are the k best on the remaining windows (leave one window out),
    so its backtest score is not flattered by having picked the members on
    the very errors it is judged by. With one window there is nothing to
    leave out and the members are picked in-sample.
    """
    cols = [np.arange(w * h, (w + 1) * h) for w in range(n_win)]
    if n_win == 1 or f.shape[2] == 0:
        return [(c, crit) for c in cols]
    out = []
    for w, c in enumerate(cols):
        rest = np.concatenate([cols[v] for v in range(n_win) if v != w])
        res = score_arrays(y[:, rest], f[:, rest, :], s_mae, s_mse)
        out.append((c, _criterion(res, settings.selection_metric, failed)))
    return out


def _without_runaways(
    f: np.ndarray, df: pd.DataFrame, ids: np.ndarray, n_win: int, settings: Settings
) -> tuple[np.ndarray, int]:
    """f (series, windows*h, models) with NaN for a model's window whose forecast rises
    above the series' plausible maximum over the history before that window's origin
    (metrics.plausible_max, the forecast step's rule), f itself when none does; and how
    many (series, window, model) it left out."""
    n, t, m = f.shape
    h = t // n_win
    if not n or not m:
        return f, 0
    frame = df[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"], kind="stable")
    from_end = frame.groupby("unique_id", sort=False).cumcount(ascending=False).to_numpy()
    caps = np.empty((n, n_win))
    for w in range(n_win):  # window w (oldest first) starts `offset` periods from the end
        offset = h + (n_win - 1 - w) * settings.step_size
        before = frame[from_end >= offset]
        cap = plausible_max(before, settings.max_forecast_multiple, settings.horizon)
        caps[:, w] = cap.reindex(ids).to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        top = np.nanmax(np.where(np.isfinite(f), f, -np.inf).reshape(n, n_win, h, m), axis=2)
    high = top > caps[:, :, None]  # (series, window, model); NaN caps never
    if not high.any():
        return f, 0
    return np.where(np.repeat(high, h, axis=1), np.nan, f), int(high.sum())


def _combine(
    combo: Candidate,
    f: np.ndarray,
    names: list[str],
    crit: np.ndarray,
    window_criteria: list[tuple[np.ndarray, np.ndarray]],
    k: int,
) -> tuple[np.ndarray, list[str]]:
    """A combination's backtest forecasts (series, T) and why a series has none."""
    n, t = f.shape[:2]
    agg = {"mean": np.nanmean, "trimmed": trimmed_mean}.get(combo.combine, np.nanmedian)
    ok = np.isfinite(crit)
    if combo.is_top_k:
        if not names:
            return np.full((n, t), np.nan), ["no single candidate ran"] * n
        pick = np.full((n, t, min(k, len(names))), np.nan)
        for cols, crit_w in window_criteria:  # members chosen without the scored window
            order = top_k_order(crit_w, k)
            chosen = np.take_along_axis(ok, order, axis=1)
            sel = np.take_along_axis(f[:, cols, :], order[:, None, :], axis=2)
            pick[:, cols, :] = np.where(chosen[:, None, :], sel, np.nan)
        n_ok = np.minimum(ok.sum(axis=1), k)
        enough = n_ok >= min(2, k)
        why = [f"only {c} single candidate(s) succeeded" for c in n_ok]
    else:
        idx = [names.index(m) for m in combo.members if m in names]
        if not idx:
            return np.full((n, t), np.nan), [
                f"none of its members {list(combo.members)} ran on this series"
            ] * n
        sub_ok = ok[:, idx]
        pick = np.where(sub_ok[:, None, :], f[:, :, idx], np.nan)
        n_ok = sub_ok.sum(axis=1)
        enough = (n_ok >= 2) & (2 * n_ok >= len(combo.members))
        why = [f"only {c} of its {len(combo.members)} members ran and succeeded" for c in n_ok]
    with np.errstate(all="ignore"), _quiet():
        out = agg(pick, axis=2)
    out[~enough] = np.nan
    return out, why


def _rows(
    ids: np.ndarray,
    names: list[str],
    n_win: int,
    metrics: dict,
    failed: np.ndarray,
    errors: dict,
) -> pd.DataFrame:
    n, m = len(ids), len(names)
    frame = pd.DataFrame(
        {
            "series_id": np.repeat(ids, m),
            "model_name": np.tile(np.asarray(names, dtype=object), n),
            "n_windows": n_win,
        }
    )
    for col in METRIC_COLUMNS:
        frame[col] = metrics[col].reshape(-1)
    flat_failed = failed.reshape(-1)
    frame["status"] = np.where(flat_failed, "failed", "ok")
    msg = np.full(n * m, None, dtype=object)
    for (i, j), text in errors.items():
        msg[i * m + j] = text
    frame["error_message"] = msg
    return frame


def _error_messages(
    df: pd.DataFrame,
    ids: np.ndarray,
    failed: np.ndarray,
    run: list[Candidate],
    n_win: int,
    settings: Settings,
    catalog: Catalog,
) -> dict[tuple[int, int], str]:
    """Error text per failed (series, model): the model re-run here on the first window."""
    pairs = np.argwhere(failed)
    if len(pairs) == 0:
        return {}
    h, step = settings.horizon, settings.step_size
    values = df.groupby("unique_id", sort=True)["y"].apply(np.asarray)
    out = {}
    for count, (i, j) in enumerate(pairs):
        if count >= MAX_ERROR_RERUNS:
            out[(i, j)] = "raised during the backtest (message not captured: too many failures)"
            continue
        if run[j].is_pooled:  # the message is the caller's (_backtest_group)
            out[(i, j)] = "no weights learned for a window"
            continue
        y = values[ids[i]]
        model = catalog.build(run[j].name, settings.season_length)
        for w in range(n_win):  # the first window it fails on
            cutoff = len(y) - h - (n_win - 1 - w) * step
            out[(i, j)] = error_of(model, y[:cutoff], h)
            if not out[(i, j)].startswith("failed in a worker"):
                break
    return out


class _quiet:
    """Silence numpy's 'mean of empty slice' warnings for all-NaN combinations."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
