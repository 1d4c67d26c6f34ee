"""Forecasts: refit each series' champion on its full history, forecast `horizon` periods.

`forecast_series(series, profiles, champions, settings)` returns one row per
forecast series x step (the `int_forecast__predictions` contract):

- method 'champion': the champion refit on all history. Work is grouped by
  model: one StatsForecast `forecast` call per model over every series that
  needs it (a combination needs each of its members), never one per series,
  on the engine (var `engine`, distributed.py): this process and its pool, or
  a Dask or Ray cluster.
  A global member (GlobalAR, GlobalGBM: pooled.py) is learned once on every
  series of the panel, before the first batch, and forecasts each series that
  needs it in one batch, in this process.
  Combinations average (or take the median of) the members that refit
  without error; a learned combination takes the weighted mean of its
  members with the weights its name carries (stacking.py), over those that
  refit.
- Intervals at every level in `settings.levels`: pooled conformal, from the
  backtest's calibration table (per demand class, champion and horizon step;
  see intervals.py), scaled per series. Where the table has no row for the
  champion: the model's own intervals where it has them, else Gaussian on the
  recent spread. Never missing, clipped at 0 and nested.
- A series too short to backtest gets its class champion fitted on all it has
  (n_windows 0); its interval scale is its MASE scale times the square root of
  the median backtest MASE of its class's champions. Its model carries it only
  as many steps as it has periods of history: past them, forecast and bounds
  are held flat at that step's values (fallback_reason says so), so a model
  never extrapolates unchecked far beyond the history it was fitted on.
- method 'fallback': the champion (every member) raised at refit; the series
  gets the window average below, and fallback_reason says what failed.
- method 'cold_start': active series without a champion (too short to
  backtest, new products, or nothing succeeded in the backtest). The level is
  the mean of the series' own last min(n, horizon) periods; sigma is the
  standard deviation of those periods (when n < 2, the level times the median
  coefficient of variation of established series of the same product group),
  at least sqrt(level) (Poisson), widened by sqrt(1 + 1/n). Flat over the
  horizon.
- Discontinued series get no rows.

Progress (models refit of the total, time elapsed and left) and the members
that failed at refit (how many series each, and the first error) go to dbt's
log (progress.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from demandcast.backtest import fit_pooled
from demandcast.catalog import (
    MAX_ERROR_RERUNS,
    Catalog,
    Guarded,
    error_of,
    load_catalog,
    trimmed_mean,
)
from demandcast.config import Settings
from demandcast.distributed import Engine, open_engine
from demandcast.frames import SeriesBatches, future_periods, to_sf
from demandcast.intervals import (
    SPREAD_CLASSES,
    finalize,
    normal_bounds,
    pooled_bounds,
    rebased,
    zero_floor,
)
from demandcast.metrics import plausible_max, seasonal_scales
from demandcast.pooled import GlobalModel
from demandcast.progress import Progress, emit, report_failures
from demandcast.selection import parse_champion
from demandcast.stacking import parse_weights

COLD_START_MODEL = "ColdStartAverage"
FALLBACK_MODEL = "WindowAverage"
DISCONTINUED_NOTE = "discontinued: the product master ends it on "
"""fallback_reason of a period after its product's discontinued_date (`until_discontinued`)."""
SMALL_CALL = 200  # series; below this a StatsForecast call runs in-process (no pool start-up)


@dataclass
class ForecastStats:
    """Counters of one run, for benchmarks and logs; `fits_by_series`: refits per series."""

    n_calls: int = 0
    n_fits: int = 0
    fits_by_series: dict[str, int] = field(default_factory=dict)


def prediction_columns(levels) -> list[str]:
    cols = ["series_id", "period_start", "step", "forecast"]
    for lv in levels:
        cols += [f"lo_{lv}", f"hi_{lv}"]
    return [*cols, "model_name", "method", "fallback_reason"]


def until_discontinued(forecast: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    """Every period that starts after its product's discontinued_date (the product master's,
    a column of `profiles`: int_series__profiled) forecast 0, its bounds too, and
    fallback_reason saying so: a product the master ends inside the horizon. (One
    discontinued on or before the origin gets no forecast at all.)"""
    if forecast.empty or "discontinued_date" not in profiles:
        return forecast
    ends = profiles.set_index(profiles["series_id"].astype(str))["discontinued_date"].dropna()
    end = pd.to_datetime(forecast["series_id"].astype(str).map(ends))
    note = DISCONTINUED_NOTE + end.dt.strftime("%Y-%m-%d")
    reason = forecast["fallback_reason"].astype("string")
    noted = reason.str.contains(DISCONTINUED_NOTE, regex=False).fillna(False)
    after = ((pd.to_datetime(forecast["period_start"]) > end) & ~noted).to_numpy()
    if not after.any():  # none, or a reused forecast that says so already
        return forecast
    out = forecast.copy()
    values = [c for c in out.columns if c == "forecast" or c.startswith(("lo_", "hi_"))]
    out.loc[after, values] = 0.0
    out.loc[after, "fallback_reason"] = (reason[after] + "; " + note[after]).fillna(note[after])
    return out


def forecast_series(
    series: pd.DataFrame | SeriesBatches,
    profiles: pd.DataFrame,
    champions: pd.DataFrame,
    settings: Settings,
    catalog: Catalog | None = None,
    stats: ForecastStats | None = None,
    calibration: pd.DataFrame | None = None,
    fit_ids: Collection[str] | None = None,
) -> pd.DataFrame:
    """Forecast every active series: its champion, a fallback, or the cold-start method.

    `calibration`: the backtest's pooled residual quantiles (Calibration.quantiles).
    `fit_ids`: forecast only these series (default: every active one). The others still
    count where series are pooled (the interval scale of series too short to backtest,
    the product-group level of a cold start), so a series' numbers do not depend on
    which other series are forecast in the same run.
    `series`: a frame, or `SeriesBatches` read and forecast one batch of whole series at a
    time; what is pooled over series is pooled over every batch, so the rows are the same.
    """
    catalog = (catalog or load_catalog()).at_season(settings.season_length)
    stats = stats if stats is not None else ForecastStats()
    batches = SeriesBatches.of(series)
    prof = profiles.drop_duplicates("series_id").set_index(profiles["series_id"].astype(str))
    ids = pd.Index(batches.ids)
    lifecycle = prof["lifecycle"].reindex(ids).fillna("active")
    active = ids[lifecycle.to_numpy() != "discontinued"]
    champ = (
        champions.assign(series_id=champions["series_id"].astype(str))
        .drop_duplicates("series_id")
        .set_index("series_id")
    )
    champ = champ.reindex(active)
    ratios = _class_ratios(prof, champ)
    todo = active if fit_ids is None else active[active.isin(list(fit_ids))]
    fit = champ["champion"].reindex(todo).dropna()
    fit = fit[fit.astype(str).str.len() > 0].astype(str)

    # a global member (pooled.py) learns from every series of the panel before any forecast
    wanted = pooled_members(fit, catalog)
    pooled = fit_pooled(
        catalog, [catalog.candidates[m] for m in wanted], settings, profiles, batches, [0]
    )

    parts, failed, recent = [], [], []
    for batch in batches:  # only the forecast rows and a summary per series outlive a batch
        df = to_sf(batch)
        recent.append(_recent(df, settings.horizon))
        here = fit[fit.index.isin(recent[-1].index)]
        if len(here):
            scale = _interval_scales(df, prof, champ.loc[here.index], ratios, settings)
            fc, fails = _champion_forecasts(
                df, here, scale, calibration, settings, catalog, stats, pooled
            )
            parts.append(fc)
            failed.append(fails)
    if not recent:
        return pd.DataFrame(columns=prediction_columns(settings.levels))
    recent = pd.concat(recent)
    baseline = _window_average(recent, prof, active, settings)
    cold_ids = todo.difference(fit.index)
    if len(cold_ids):
        rows = _baseline_rows(baseline, cold_ids, settings, COLD_START_MODEL, "cold_start")
        rows["fallback_reason"] = (
            _cold_start_reasons(recent, prof, settings).reindex(rows["unique_id"]).to_numpy()
        )
        parts.append(rows)
    cold_from_failure = pd.concat(failed) if failed else pd.Series(dtype=object)
    if len(cold_from_failure):
        rows = _baseline_rows(
            baseline, cold_from_failure.index, settings, FALLBACK_MODEL, "fallback"
        )
        rows["fallback_reason"] = cold_from_failure.reindex(rows["unique_id"]).to_numpy()
        parts.append(rows)
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=prediction_columns(settings.levels))
    out = pd.concat(parts, ignore_index=True)
    periods = future_periods(
        recent["last"].loc[out["unique_id"].unique()], settings.horizon, settings.frequency
    )
    out = out.merge(periods, on=["unique_id", "step"], how="left")
    out = out.rename(columns={"unique_id": "series_id", "ds": "period_start"})
    out["period_start"] = pd.to_datetime(out["period_start"]).dt.date
    out["step"] = out["step"].astype("int64")
    out = out.sort_values(["series_id", "step"], kind="stable").reset_index(drop=True)
    for col in ("series_id", "model_name", "method", "fallback_reason"):
        out[col] = out[col].astype("string")  # VARCHAR in the warehouse, even when all null
    return out[prediction_columns(settings.levels)]


def pooled_members(champions: Iterable[str], catalog: Catalog) -> list[str]:
    """The global members (pooled.py) the champions forecast with."""
    specs, _ = _expand(pd.unique(pd.Series(list(champions), dtype=object)), catalog)
    return sorted({m for m in specs["member"] if catalog.candidates[m].is_pooled})


# ---------------------------------------------------------------- champion forecasts


def _class_ratios(prof: pd.DataFrame, champ: pd.DataFrame) -> tuple[pd.Series, float]:
    """The squared ratio interval_scale / scale_mae (the backtest MASE) of the champions
    with an interval scale: its median per demand class, and over all of them (1 if none).
    Pooled over every series forecast, whichever batch it is in."""
    scales = champ.reindex(columns=["interval_scale", "scale_mae"]).astype(float)
    known = scales[scales["interval_scale"].notna()]
    with np.errstate(invalid="ignore", divide="ignore"):
        mase = (known["interval_scale"] / known["scale_mae"]) ** 2
    classes = prof["demand_class"].reindex(known.index).astype(str)
    return mase.groupby(classes).median(), mase.median() if len(mase) else 1.0


def _interval_scales(
    df: pd.DataFrame,
    prof: pd.DataFrame,
    champ: pd.DataFrame,
    ratios: tuple[pd.Series, float],
    settings: Settings,
) -> pd.DataFrame:
    """Per series: demand class and the scale of its pooled conformal interval; a series
    without one (too short to backtest) gets its MASE scale times the square root of its
    class's `ratios`. An intermittent or lumpy series' scale sqrt(base * mae) takes its base
    from the whole history to the origin (intervals.interval_base: the standard deviation),
    where its backtest's residuals were scaled by the history before the first backtest
    origin: the latest periods say most of the size of the orders to come."""
    out = pd.DataFrame(index=champ.index)
    out["demand_class"] = prof["demand_class"].reindex(champ.index).astype(str).to_numpy()
    given = champ.reindex(columns=["interval_scale"])["interval_scale"].astype(float)
    sparse = given.notna() & out["demand_class"].isin(SPREAD_CLASSES)
    if sparse.any():
        ids = given.index[sparse]
        sd = seasonal_scales(df[df["unique_id"].isin(ids)], settings.season_length)["scale_sd"]
        scale_mae = champ["scale_mae"].reindex(ids).astype(float)
        given[ids] = rebased(given[ids], scale_mae, sd.reindex(ids))
    missing = given.isna() & champ["champion"].notna()
    if missing.any():
        per_class, overall = ratios
        ids = given.index[missing]
        hist = seasonal_scales(df[df["unique_id"].isin(ids)], settings.season_length)
        ratio = out.loc[ids, "demand_class"].map(per_class).fillna(overall)
        given[ids] = hist["scale_mae"].reindex(ids).to_numpy() * np.sqrt(ratio.to_numpy())
    out["scale"] = given
    # how far its own model may carry a series that was not backtested: as many steps as
    # it has periods of history (past them the forecast is held flat, _hold_flat)
    length = df.groupby("unique_id").size().reindex(champ.index).fillna(0).to_numpy()
    tested = pd.to_numeric(champ.reindex(columns=["n_windows"])["n_windows"]).fillna(0) > 0
    out["reach"] = np.where(tested, settings.horizon, np.clip(length, 1, settings.horizon))
    out["tested"] = tested.to_numpy()
    out["length"] = length
    return out


def _champion_forecasts(
    df: pd.DataFrame,
    champ: pd.Series,
    scale: pd.DataFrame,
    calibration: pd.DataFrame | None,
    settings: Settings,
    catalog: Catalog,
    stats: ForecastStats,
    pooled: dict[str, GlobalModel] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Rows for series whose champion (or some member) refits; reasons for those that fail."""
    levels = list(settings.levels)
    specs, unknown = _expand(champ.unique(), catalog)
    pairs = (
        pd.DataFrame({"unique_id": champ.index, "champion": champ.to_numpy()})
        .merge(specs, on="champion", how="inner")
        .sort_values(["unique_id", "member"], kind="stable")
    )
    known_ids = pairs["unique_id"].unique()
    # a member needing more history than the series has sits out (as in the backtest)
    length = df.groupby("unique_id").size().reindex(pairs["unique_id"]).to_numpy()
    m = settings.season_length
    need = pairs["member"].map(lambda c: catalog.candidates[c].required_history(m)).to_numpy()
    short = pairs[length < need].groupby("unique_id")["member"].agg(", ".join)
    pairs = pairs[length >= need]

    has_calibration = calibration is not None and not calibration.empty
    member_ids = pairs.groupby("member", sort=True)["unique_id"].unique()
    fcst = []
    # the engine opens only when there is something to refit (a cluster costs seconds)
    with open_engine(settings) if len(member_ids) else nullcontext() as engine:
        progress = Progress(
            "forecast", sum(map(len, member_ids)), {"models": len(member_ids)}, work_unit="refits"
        )
        where = engine.describe() if engine is not None else f"n_jobs {settings.n_jobs}"
        progress.start(
            f"{len(champ)} series, {champ.nunique()} distinct champions: {len(member_ids)} "
            f"models to refit, {progress.total_work:,.0f} refits, {where}"
        )
        for member, ids in member_ids.items():
            # native intervals only as the fallback without a calibration table (ETS's
            # simulated intervals would double the cost of the refit)
            native = catalog.candidates[member].native_intervals and not has_calibration
            with progress.running(f"{member} on {len(ids)} series"):
                if catalog.candidates[member].is_pooled:
                    fcst.append(_pooled_member(df, ids, member, pooled[member], settings))
                else:
                    fcst.append(
                        _forecast_member(df, ids, member, native, settings, catalog, engine)
                    )
            progress.advance(len(ids), models=1)
            if catalog.candidates[member].is_pooled:
                continue  # no fit per series: the panel's weights, learned once
            stats.n_calls += 1
            stats.n_fits += len(ids)
            for uid in ids:
                stats.fits_by_series[uid] = stats.fits_by_series.get(uid, 0) + 1
    fcst = pd.concat(fcst, ignore_index=True) if fcst else _empty_member_frame(levels)

    # members that refit without error, and stay within the plausible maximum
    per = fcst.groupby(["unique_id", "member"])["mean"]
    ok = per.apply(lambda s: bool(np.isfinite(s).all())).rename("ok").reset_index()
    pairs = pairs.merge(ok, on=["unique_id", "member"], how="left")
    pairs["ok"] = pairs["ok"].fillna(False).astype(bool)
    raised = _refit_errors(df, pairs[~pairs["ok"]], settings, catalog)
    progress.finish(f"{len(raised):,} of {len(pairs):,} refits failed")
    report_failures(
        "forecast",
        zip(raised["member"], raised["error"], strict=True),
        "recorded in fallback_reason; a series none of whose members refit gets the "
        "fallback method (fct_forecast_exceptions)",
    )
    runaway = _runaway(df, pairs[pairs["ok"]], per.max(), settings)
    failures = raised
    if len(runaway):
        pairs.loc[runaway.index, "ok"] = False
        failures = pd.concat([raised, runaway], ignore_index=True)
        counts = runaway.groupby("member").size().sort_values(ascending=False)
        emit(
            f"forecast: {len(runaway)} member forecast(s) above the plausible maximum (var "
            f"max_forecast_multiple {settings.max_forecast_multiple:g} x the larger of the "
            "series' 90th percentile of positive demand and its last horizon's median, + 1) "
            "left out of their combinations, recorded in "
            "fallback_reason: " + ", ".join(f"{m} on {n} series" for m, n in counts.items()),
            warning=True,
        )
    good = pairs[pairs["ok"]]
    fail_txt = failures.groupby("unique_id")["text"].agg("; ".join)

    out = _champion_rows(df, champ, pairs, good, fcst, scale, calibration, fail_txt, settings)
    ids = out["unique_id"].unique()

    # series none of whose members refit, and champions the catalog does not know
    failed_ids = np.setdiff1d(known_ids, ids)
    raised_on = set(raised["unique_id"])

    def why(i: str) -> str:
        if i not in fail_txt.index:
            return f"champion {champ[i]} needs more history than the series has ({short.get(i)})"
        how = "failed at refit" if i in raised_on else "left out"
        return f"champion {champ[i]} {how}: {fail_txt[i]}"

    failed = pd.Series([why(i) for i in failed_ids], index=failed_ids, dtype=object)
    if len(unknown):
        lost = champ[champ.isin(unknown)]
        extra = pd.Series(
            [f"champion {c} is not in the catalog" for c in lost], index=lost.index, dtype=object
        )
        failed = pd.concat([failed, extra])
    return out, failed


def _champion_rows(
    df: pd.DataFrame,
    champ: pd.Series,
    pairs: pd.DataFrame,
    good: pd.DataFrame,
    fcst: pd.DataFrame,
    scale: pd.DataFrame,
    calibration: pd.DataFrame | None,
    fail_txt: pd.Series,
    settings: Settings,
) -> pd.DataFrame:
    """Forecast and interval rows of the series with at least one member that refit;
    `fail_txt` says per series what left its other members out."""
    h, levels = settings.horizon, list(settings.levels)
    if good.empty:
        return pd.DataFrame(columns=["unique_id", "step", "forecast"])
    # point forecasts: single, mean and median combinations of the good members
    f = fcst.merge(good[["unique_id", "member", "combine", "weight"]], on=["unique_id", "member"])
    point = _aggregate(f, ["unique_id", "step"], "mean")
    n_good = good.groupby("unique_id").size()
    n_all = pairs.groupby("unique_id").size()

    # bounds: pooled conformal; the model's own for single native champions without
    # calibration rows
    ids = point["unique_id"].unique()
    p = point.pivot(index="unique_id", columns="step", values="mean").reindex(ids)
    mean = p.to_numpy()
    base = np.asarray([parse_champion(c)[0] for c in champ.reindex(ids)], dtype=object)
    sc = scale.reindex(ids)
    bounds = pooled_bounds(
        mean, sc["scale"].to_numpy(float), sc["demand_class"].to_numpy(), base, calibration, levels
    )
    native_ids = pairs.loc[~pairs["conformal"], "unique_id"].unique()
    is_native = np.isin(ids, native_ids) & ~np.isfinite(bounds[f"lo_{levels[0]}"]).all(axis=1)
    if is_native.any():
        nat = fcst[fcst["unique_id"].isin(ids[is_native])]
        for key in bounds:  # the model's own lo_ and hi_; no top_ (a central interval)
            if key not in nat.columns:
                bounds[key][is_native] = np.nan
                continue
            piv = nat.pivot(index="unique_id", columns="step", values=key).reindex(ids[is_native])
            bounds[key][is_native] = piv.to_numpy()
    # last resort (no residuals, or non-finite native bounds): Gaussian on recent spread
    central = [k for k in bounds if not k.startswith("top_")]
    missing = ~np.isfinite(np.stack([bounds[k] for k in central])).all(axis=(0, 2))
    if missing.any():
        sigma = _recent_sigma(df, ids[missing], h)
        rough = normal_bounds(mean[missing], sigma, levels)
        for key in bounds:
            bounds[key][missing] = rough[key]
    if settings.intervals_from_zero:  # demand's own zeros: its lower quantiles at 0
        window = max(settings.season_length, h)
        bounds = zero_floor(bounds, _zero_share(df, ids, window), levels)
    mean, bounds = finalize(mean, bounds, levels, settings.intervals_from_zero)
    reach = sc["reach"].to_numpy(dtype=int)
    mean, bounds = _hold_flat(mean, reach), {k: _hold_flat(v, reach) for k, v in bounds.items()}

    out = _frame(ids, mean, bounds, levels)
    out["model_name"] = champ.reindex(ids).to_numpy().repeat(h)
    out["method"] = "champion"
    partial = (n_good.reindex(ids) < n_all.reindex(ids)).to_numpy()
    reason = np.full(len(ids), None, dtype=object)
    if partial.any():
        reason[partial] = [
            f"member(s) left out, combined the rest: {fail_txt.get(i, '')}" for i in ids[partial]
        ]
    untested = ~sc["tested"].fillna(True).to_numpy(dtype=bool) & pd.isna(reason)
    if untested.any():  # say why backtest_mase is empty: too short to backtest
        need = settings.min_train_length + h
        reason[untested] = [
            f"not backtested: {n:.0f} period(s) of history, {need} needed to backtest; its "
            "class's champion, fitted on all it has"
            for n in sc["length"].to_numpy()[untested]
        ]
    out["fallback_reason"] = reason.repeat(h)
    held = out["step"].to_numpy() > reach.repeat(h)
    out.loc[held, "fallback_reason"] = [
        f"held flat after step {r}: not backtested, its model carries it only as many "
        f"steps as it has periods of history ({r})"
        for r in reach.repeat(h)[held]
    ]
    return out


def _hold_flat(values: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Each row's values after step `reach` (1-based) replaced by its value at that step."""
    steps = np.minimum(np.arange(values.shape[1])[None, :], reach[:, None] - 1)
    return values[np.arange(len(values))[:, None], steps]


def _empty_member_frame(levels) -> pd.DataFrame:
    cols = ["unique_id", "member", "step", "mean"]
    cols += [f"{side}_{lv}" for lv in levels for side in ("lo", "hi")]
    return pd.DataFrame(columns=cols).astype({"mean": float})


def _expand(champions: np.ndarray, catalog: Catalog) -> tuple[pd.DataFrame, list[str]]:
    """champion -> its members, how they combine (and each member's weight), and whether
    intervals are conformal."""
    rows, unknown = [], []
    for champion in champions:
        name, members = parse_champion(champion)
        members, weights = parse_weights(members)
        cand = catalog.candidates.get(name)
        if (
            cand is None
            or any(m not in catalog.candidates for m in members)
            or (cand.is_learned and not members)
        ):
            unknown.append(champion)
            continue
        if cand.is_combination:
            if not members:
                members, weights = list(cand.members), np.ones(len(cand.members))
            rows += [
                (champion, m, cand.combine, True, w) for m, w in zip(members, weights, strict=True)
            ]
        else:
            rows.append((champion, name, "single", not cand.native_intervals, 1.0))
    specs = pd.DataFrame(rows, columns=["champion", "member", "combine", "conformal", "weight"])
    return specs, unknown


def _forecast_member(
    df: pd.DataFrame,
    ids: np.ndarray,
    member: str,
    native: bool,
    settings: Settings,
    catalog: Catalog,
    engine: Engine,
) -> pd.DataFrame:
    """One StatsForecast forecast call on the engine: a member on every series that needs it
    (a small call to the local engine runs in this process: no pool start-up)."""
    h, levels = settings.horizon, list(settings.levels)
    model = Guarded(catalog.build(member, settings.season_length))
    res = engine.forecast(
        [model],
        df[df["unique_id"].isin(ids)],
        freq=settings.freq,
        h=h,
        level=levels if native else None,
        in_process=not engine.distributed and len(ids) < SMALL_CALL,
    )
    res = res.sort_values(["unique_id", "ds"], kind="stable")
    out = pd.DataFrame(
        {
            "unique_id": res["unique_id"].astype(str).to_numpy(),
            "member": member,
            "step": np.tile(np.arange(1, h + 1), len(res) // h),
            "mean": res[member].to_numpy(dtype=float),
        }
    )
    for lv in levels:
        for side in ("lo", "hi"):
            col = f"{member}-{side}-{lv}"
            out[f"{side}_{lv}"] = res[col].to_numpy(dtype=float) if col in res else np.nan
    return out


def _pooled_member(
    df: pd.DataFrame, ids: np.ndarray, member: str, model: GlobalModel, settings: Settings
) -> pd.DataFrame:
    """A global member's forecast of each series (no intervals of its own)."""
    h = settings.horizon
    values = df[df["unique_id"].isin(ids)].groupby("unique_id", sort=True)["y"]
    uids = list(values.groups)
    mean = model.predict_batch([v.to_numpy() for _, v in values]) if uids else np.zeros((0, h))
    out = pd.DataFrame(
        {
            "unique_id": np.repeat(np.asarray(uids, dtype=str), h),
            "member": member,
            "step": np.tile(np.arange(1, h + 1), len(uids)),
            "mean": mean.ravel(),
        }
    )
    for lv in settings.levels:
        out[f"lo_{lv}"] = np.nan
        out[f"hi_{lv}"] = np.nan
    return out


def _aggregate(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Per key: the value of a single member, the mean / median / trimmed mean
    (catalog.trimmed_mean) over members, or their weighted mean (a learned combination: the
    weights of the members that refit)."""
    parts = []
    for how, grp in frame.groupby("combine", sort=True):
        if how == "learned":
            w = grp["weight"].to_numpy(dtype=float)
            g = grp.assign(_wx=grp[value].to_numpy(dtype=float) * w, _w=w)
            sums = g.groupby(keys, sort=False)[["_wx", "_w"]].sum()
            out = (sums["_wx"] / sums["_w"]).rename(value).reset_index()
            parts.append(out)
            continue
        if how == "trimmed":  # one row per key, one column per member
            wide = grp.pivot_table(
                index=keys, columns="member", values=value, aggfunc="first", dropna=False
            )
            v = trimmed_mean(wide.to_numpy(dtype=float), axis=1)
            parts.append(pd.Series(v, index=wide.index, name=value).reset_index())
            continue
        agg = "median" if how == "median" else "mean"
        parts.append(grp.groupby(keys, sort=False)[value].agg(agg).reset_index())
    return pd.concat(parts, ignore_index=True)


def _runaway(
    df: pd.DataFrame, pairs: pd.DataFrame, top: pd.Series, settings: Settings
) -> pd.DataFrame:
    """The (series, member) pairs of `pairs` whose largest forecast `top` exceeds the series'
    plausible maximum: index of `pairs`, with the failure columns of _refit_errors."""
    if pairs.empty:
        return pd.DataFrame(columns=["unique_id", "member", "error", "text"])
    cap = plausible_max(
        df[df["unique_id"].isin(pairs["unique_id"])],
        settings.max_forecast_multiple,
        settings.horizon,
    )
    key = pd.MultiIndex.from_frame(pairs[["unique_id", "member"]])
    high = top.reindex(key).to_numpy(dtype=float)
    limit = cap.reindex(pairs["unique_id"]).to_numpy(dtype=float)
    hit = high > limit
    out = pairs.loc[hit, ["unique_id", "member"]].copy()
    out["error"] = [
        f"forecast up to {h:,.1f}, above the plausible maximum {c:,.1f}: left out"
        for h, c in zip(high[hit], limit[hit], strict=True)
    ]
    out["text"] = out["member"] + ": " + out["error"]
    return out


def _refit_errors(
    df: pd.DataFrame, failed: pd.DataFrame, settings: Settings, catalog: Catalog
) -> pd.DataFrame:
    """The error text of each member that failed at refit (re-run here for its message)."""
    if failed.empty:
        return pd.DataFrame(columns=["unique_id", "member", "error", "text"])
    values = df[df["unique_id"].isin(failed["unique_id"])].groupby("unique_id")["y"]
    errors = []
    for count, (uid, member) in enumerate(zip(failed["unique_id"], failed["member"], strict=True)):
        if catalog.candidates[member].is_pooled:
            errors.append("no series had the lags and horizon of history to learn it from")
        elif count < MAX_ERROR_RERUNS:
            model = catalog.build(member, settings.season_length)
            errors.append(error_of(model, values.get_group(uid).to_numpy(), settings.horizon))
        else:
            errors.append("raised at refit (message not captured: too many failures)")
    members = failed["member"].to_numpy()
    return pd.DataFrame(
        {
            "unique_id": failed["unique_id"].to_numpy(),
            "member": members,
            "error": errors,
            "text": [f"{m}: {e}" for m, e in zip(members, errors, strict=True)],
        }
    )


def _frame(ids: np.ndarray, mean: np.ndarray, bounds: dict, levels) -> pd.DataFrame:
    h = mean.shape[1]
    out = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, h),
            "step": np.tile(np.arange(1, h + 1), len(ids)),
            "forecast": mean.ravel(),
        }
    )
    for lv in levels:
        out[f"lo_{lv}"] = bounds[f"lo_{lv}"].ravel()
        out[f"hi_{lv}"] = bounds[f"hi_{lv}"].ravel()
    return out


def _zero_share(df: pd.DataFrame, ids: np.ndarray, window: int) -> np.ndarray:
    """Per series of `ids`, the share of its last `window` periods without demand (0 for a
    series without history)."""
    own = df[df["unique_id"].isin(ids)].groupby("unique_id", sort=True).tail(window)
    zero = (own["y"].to_numpy() == 0).astype(float)
    share = pd.Series(zero, index=own["unique_id"].to_numpy()).groupby(level=0).mean()
    return share.reindex(ids).fillna(0.0).to_numpy()


def _recent_sigma(df: pd.DataFrame, ids: np.ndarray, h: int) -> np.ndarray:
    """The Gaussian last resort's spread: the last h periods' standard deviation, the whole
    history's where those did not vary (a series that paused is still forecast, and its
    interval must not collapse on the forecast), at least sqrt(level) (Poisson)."""
    own = df[df["unique_id"].isin(ids)]
    whole = own.groupby("unique_id", sort=True)["y"]
    g = own.groupby("unique_id", sort=True).tail(h).groupby("unique_id", sort=True)["y"]
    sd = g.std(ddof=1).reindex(ids).fillna(0).to_numpy()
    level = g.mean().reindex(ids).fillna(0).to_numpy()
    still = ~(sd > 0)
    sd[still] = whole.std(ddof=1).reindex(ids[still]).fillna(0).to_numpy()
    level[still] = np.maximum(level[still], whole.mean().reindex(ids[still]).fillna(0).to_numpy())
    return np.maximum(sd, np.sqrt(np.maximum(level, 0)))


# ------------------------------------------------------------ cold start, fallback


def _recent(df: pd.DataFrame, h: int) -> pd.DataFrame:
    """Per series of a frame: mean (own), standard deviation (sd) and number (n) of its
    last h periods, its periods (n_hist) and its last period (last)."""
    whole = df.groupby("unique_id", sort=True)
    g = whole.tail(h).groupby("unique_id", sort=True)["y"]
    return pd.DataFrame(
        {
            "own": g.mean(),
            "sd": g.std(ddof=0),
            "n": g.size(),
            "n_hist": whole.size(),
            "last": whole["ds"].max(),
        }
    )


def _window_average(
    recent: pd.DataFrame, prof: pd.DataFrame, ids: pd.Index, settings: Settings
) -> pd.DataFrame:
    """Level and sigma per series for the cold-start / fallback method (see module doc),
    from `_recent` of every series (the product group's spread pools over all of them).

    The level is the series' own: products of one group differ in size by orders of
    magnitude, so a group's level says nothing of a new product's (shrunk towards it, a
    new product selling 28 a week in a group of big sellers was forecast 700 a week).
    Only the spread relative to the level (coefficient of variation) is borrowed from the
    group's established series, where the series has fewer than two periods of its own."""
    h = settings.horizon
    stats = recent.loc[recent.index.isin(ids), ["own", "sd", "n", "n_hist"]].copy()
    stats.loc[stats["n_hist"] < 2, "sd"] = np.nan
    stats["g_cv"] = np.nan
    if "product_group" in prof.columns:
        groups = prof["product_group"].reindex(stats.index)
        est = stats[(stats["n_hist"] >= h) & groups.notna() & (stats["own"] > 0)]
        cv = (est["sd"] / est["own"]).groupby(groups[est.index]).median()
        stats["g_cv"] = groups.map(cv).to_numpy(dtype=float)
    stats["level"] = stats["own"]
    sd = stats["sd"].fillna(stats["g_cv"] * stats["level"]).fillna(0.0)
    floor = np.sqrt(stats["level"].clip(lower=0))
    stats["sigma"] = np.maximum(sd, floor) * np.sqrt(1 + 1 / stats["n_hist"])
    return stats[["level", "sigma"]]


def _cold_start_reasons(recent: pd.DataFrame, prof: pd.DataFrame, settings: Settings) -> pd.Series:
    """Why a series has no champion, and what its cold start is: per series of `recent`."""
    n = recent["n_hist"].astype(int)
    k = n.clip(upper=settings.horizon)
    new = prof["lifecycle"].reindex(n.index).eq("new") if "lifecycle" in prof else n < 0
    said = np.where(
        new,
        "a new product: " + n.astype(str) + " period(s) of history, too few to backtest",
        "no candidate succeeded in its backtest",
    )
    return pd.Series(said, index=n.index) + "; the mean of its last " + k.astype(str) + " period(s)"


def _baseline_rows(
    baseline: pd.DataFrame, ids, settings: Settings, model_name: str, method: str
) -> pd.DataFrame:
    ids = np.asarray(sorted(ids), dtype=object)
    b = baseline.reindex(ids)
    h, levels = settings.horizon, list(settings.levels)
    mean = np.repeat(b["level"].to_numpy()[:, None], h, axis=1)
    bounds = normal_bounds(mean, b["sigma"].to_numpy(), levels)
    mean, bounds = finalize(mean, bounds, levels, settings.intervals_from_zero)
    out = _frame(ids, mean, bounds, levels)
    out["model_name"] = model_name
    out["method"] = method
    out["fallback_reason"] = None
    return out
