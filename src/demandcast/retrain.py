"""Each run remembers the last: per series, select its champion again, refit it, or reuse
its last forecast.

`decide_run` gives every live series (not discontinued) one decision, with a reason code
and a sentence for planners (`int_forecast__decisions`, `fct_retrain_decisions`):

- `reselect`: backtest the series (when it can be backtested) and select its champion
  again. Reasons, checked in this order: `retrain_always` (the var retrain), `new_series`
  (no model on record), `settings_changed` / `catalog_changed` (the settings hash differs:
  any forecasting setting but n_jobs, engine and batch_series, or the resolved catalog
  entries, pools and defaults), `origin_moved_back` (the champion was selected at a later
  origin than this run's), `override_ended` (a pin ended), `override_bar` (an override bars the
  champion or one of its members), `backtestable` (last time too short to backtest, a
  cold start or a class champion fitted on all the history, now long enough),
  `no_champion` (no champion last time, and one is due now: a cold start that is no
  longer a new product, or a series whose backtest chose none), `demand_class_changed`;
  then, for a series with new history: `max_age` (new periods since the selection
  reached the series' age limit), `accuracy_decayed` (live MASE above
  retrain_decay_ratio x the backtest MASE), `level_shift`, `variance_shift` (the new
  periods against the retrain_shift_window periods before the selection).
- `refit`: the champion is kept and fitted again on the new history (`new_data`), or on
  unchanged history whose last forecast is not on record (`last_forecast_missing`); a new
  product still too short to backtest gets the cold-start method again on its new
  history (`cold_start`: it has no champion to select until it can be backtested).
- `reuse`: the history is the same as at the last run (`no_new_data`, by its
  fingerprint): the last forecast stands, nothing is fitted.

An override pin (`override_pin`) comes before all of these: the pinned model is fitted
(`refit`), or its forecast reused when nothing changed; a pinned series is never
re-selected while the pin holds.

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

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from demandcast import warehouse as wh
from demandcast.backtest import BACKTEST_COLUMNS, BacktestStats, run_backtest
from demandcast.catalog import Catalog, load_catalog
from demandcast.config import RetrainPolicy, Settings
from demandcast.forecast import ForecastStats, forecast_series, prediction_columns
from demandcast.frames import SeriesBatches
from demandcast.intervals import Calibration
from demandcast.metrics import METRIC_COLUMNS
from demandcast.progress import emit
from demandcast.race import Race
from demandcast.selection import CHAMPION_COLUMNS, parse_champion, select_champions
from demandcast.stacking import Stacking

DECISIONS = ("reselect", "refit", "reuse")
REASONS: dict[str, str] = {
    "override_pin": "an override pins the model; never re-selected while the pin holds",
    "retrain_always": "the var retrain is 'always'",
    "new_series": "no model on record for the series",
    "settings_changed": "a forecasting setting changed since the champion's run",
    "catalog_changed": "the catalog's candidates changed since the champion's run",
    "origin_moved_back": "the champion was selected at a later origin than this run's",
    "override_ended": "the pin that held the series ended",
    "override_bar": "an override bars the champion",
    "backtestable": "too short to backtest last time, long enough now",
    "no_champion": "no champion last time, and one is due (no longer new, or none chosen)",
    "demand_class_changed": "the demand class changed",
    "max_age": "the champion reached its age limit",
    "accuracy_decayed": "live accuracy decayed against the backtest",
    "level_shift": "the level of the new periods shifted",
    "variance_shift": "the variance of the new periods grew",
    "new_data": "new history; the champion is kept and fitted again",
    "cold_start": "a new product still too short to backtest: the cold-start method again",
    "last_forecast_missing": "history unchanged but its last forecast is not on record",
    "no_new_data": "history unchanged since the last run; its last forecast stands",
}
DECISION_COLUMNS = (
    "series_id",
    "decision",
    "reason",
    "detail",
    "is_backtested",
    "champion",
    "previous_run_id",
    "previous_champion",
    "previous_demand_class",
    "demand_class",
    "override_action",
    "override_model",
    "override_reason",
    "barred_models",
    "n_new_periods",
    "age_limit",
    "live_mase",
    "backtest_mase",
    "n_live_periods",
    "level_shift_z",
    "variance_ratio",
    "history_start",
    "history_periods",
    "history_fingerprint",
    "settings_hash",
    "catalog_hash",
    "settings",
    "selected_run_id",
    "selected_origin",
    "trained_at",
    "statsforecast_version",
    "demandcast_version",
    "forecast_run_id",
)
UNHASHED_SETTINGS = ("n_jobs", "engine", "engine_address", "batch_series")
"""Settings that change how fast a run goes, not its numbers: not in the settings hash."""
OVERRIDE_ACTIONS = ("pin", "bar")


# ------------------------------------------------------------------ identities


def _digest(text: str | bytes, n: int = 16) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:n]


@dataclasses.dataclass(frozen=True)
class Identity:
    """What a champion was selected under: the settings and the catalog, hashed."""

    settings_hash: str
    catalog_hash: str
    settings: str  # JSON of the hashed settings


def settings_identity(settings: Settings, catalog: Catalog) -> Identity:
    """Hashes of the forecasting settings (all but UNHASHED_SETTINGS) and of the catalog
    entries the run resolves (with the selection pools, defaults and long season)."""
    values = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(Settings)
        if f.name not in UNHASHED_SETTINGS
    }
    text = json.dumps(values, sort_keys=True)
    cands = catalog.resolve(settings.candidates, settings.season_length)
    spec = {
        "candidates": [dataclasses.asdict(c) for c in cands],
        "pool": {k: list(v) for k, v in catalog.pool.items()},
        "learn": {k: list(v) for k, v in catalog.learn.items()},
        "defaults": catalog.defaults,
        "long_season": catalog.long_season,
    }
    catalog_hash = _digest(json.dumps(spec, sort_keys=True, default=str))
    return Identity(_digest(text + catalog_hash), catalog_hash, text)


def fingerprint(first_period: Any, values: np.ndarray) -> str:
    """The fingerprint of a series' history: its first period and its values (rounded to
    6 decimals, so a sum taken in another order is the same history)."""
    v = np.round(np.asarray(values, dtype="<f8"), 6) + 0.0  # -0.0 -> 0.0
    head = pd.Timestamp(first_period).date().isoformat().encode()
    return _digest(head + b"|" + v.astype("<f8").tobytes(), 32)


def history_fingerprints(series: pd.DataFrame) -> pd.DataFrame:
    """Per series: history_start, history_periods and history_fingerprint."""
    df = series[["series_id", "period_start", "demand"]].assign(
        series_id=series["series_id"].astype(str),
        period_start=pd.to_datetime(series["period_start"]),
    )
    df = df.sort_values(["series_id", "period_start"], kind="stable")
    ids = df["series_id"].to_numpy()
    values = df["demand"].to_numpy(dtype=float)
    starts = df["period_start"].to_numpy()
    uniq, first = np.unique(ids, return_index=True)
    bounds = [*first[1:], len(ids)]
    rows = [
        (sid, starts[a], b - a, fingerprint(starts[a], values[a:b]))
        for sid, a, b in zip(uniq, first, bounds, strict=True)
    ]
    return pd.DataFrame(
        rows, columns=["series_id", "history_start", "history_periods", "history_fingerprint"]
    )


def package_versions() -> dict[str, str]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "statsforecast_version": version("statsforecast"),
        "demandcast_version": version("demandcast"),
    }


def age_limits(series_ids: Any, max_age: int | None) -> np.ndarray:
    """Each series' age limit: max_age less (a hash of its id mod half of max_age), so the
    champions selected together age out over several runs. NaN without a limit."""
    ids = [str(s) for s in series_ids]
    if max_age is None:
        return np.full(len(ids), np.nan)
    spread = math.ceil(max_age / 2)
    return np.asarray(
        [max_age - int(_digest(s, 8), 16) % spread for s in ids], dtype=float
    ).reshape(-1)


# ------------------------------------------------------------------ overrides


def resolve_overrides(
    overrides: pd.DataFrame,
    live: pd.DataFrame,
    origin: Any,
    catalog: Catalog,
    settings: Settings,
) -> pd.DataFrame:
    """Per live series (plant_id, product_id, product_group): the override that holds at
    `origin`: pin_model and pin_reason (the most specific pin: series, then product, then
    product group, then plant), barred_models ('|'-joined) and bar_reason (every bar).

    A row holds while valid_until is empty or on or after the forecast origin. Raises a
    ValueError naming the row (2 = the first after the header) for an unknown action or
    model, a missing reason, or two pins of the same series at the same level.
    """
    cols = ["series_id", "pin_model", "pin_reason", "barred_models", "bar_reason"]
    out = pd.DataFrame({"series_id": live["series_id"].astype(str).to_numpy()})
    for col in cols[1:]:
        out[col] = None
    if overrides is None or overrides.empty:
        return out
    origin = pd.Timestamp(origin)
    usable = {c.name for c in catalog.available(settings.season_length)}
    pin_rank = np.full(len(out), -1)
    pin_row = np.full(len(out), -1)
    bars: list[list[tuple[str, str]]] = [[] for _ in range(len(out))]
    for i, row in enumerate(overrides.to_dict("records")):
        where = f"seeds/forecast_overrides.csv row {i + 2}"
        action = str(row.get("action") or "").strip().lower()
        if action not in OVERRIDE_ACTIONS:
            raise ValueError(f"{where}: action {row.get('action')!r} is not pin or bar")
        model = str(row.get("model_name") or "").strip()
        _check_model(model, action, catalog, usable, where)
        reason = str(row.get("reason") or "").strip()
        if not reason or reason.lower() in ("nan", "none"):
            raise ValueError(f"{where}: an override needs a reason")
        until = row.get("valid_until")
        if _given(until) and pd.Timestamp(until) < origin:
            continue
        mask = np.ones(len(out), dtype=bool)
        rank = 0
        for col, weight in (("product_id", 4), ("product_group", 2), ("plant_id", 1)):
            value = row.get(col)
            if _given(value):
                mask &= live[col].astype(str).str.strip().to_numpy() == str(value).strip()
                rank += weight
        text = _override_text(reason, row)
        if action == "bar":
            for j in np.nonzero(mask)[0]:
                bars[j].append((model, text))
            continue
        clash = mask & (pin_rank == rank)
        if clash.any():
            raise ValueError(
                f"{where}: series {out.loc[np.argmax(clash), 'series_id']} is pinned twice "
                f"at the same level (rows {pin_row[np.argmax(clash)] + 2} and {i + 2})"
            )
        take = mask & (rank > pin_rank)
        pin_rank[take] = rank
        pin_row[take] = i
        out.loc[take, "pin_model"] = model
        out.loc[take, "pin_reason"] = text
    for j, found in enumerate(bars):
        if found:
            out.loc[j, "barred_models"] = "|".join(sorted({m for m, _ in found}))
            out.loc[j, "bar_reason"] = "; ".join(f"{m}: {t}" for m, t in found)
    return out


def _given(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    if value is pd.NaT:
        return False
    return not (isinstance(value, str) and not value.strip())


def _check_model(model: str, action: str, catalog: Catalog, usable: set, where: str) -> None:
    name, members = parse_champion(model)
    cand = catalog.candidates.get(name)
    unknown = [m for m in [name, *members] if m not in catalog.candidates]
    if cand is None or unknown:
        raise ValueError(
            f"{where}: model_name {model!r} names no candidate of catalog.yml ({unknown})"
        )
    if name not in usable:
        raise ValueError(f"{where}: {name} does not apply at this season length")
    if action == "pin" and cand.is_top_k and not members:
        raise ValueError(
            f"{where}: pin a top-k combination with its members, e.g. {name}[AutoETS|Naive|SES]"
        )


def _override_text(reason: str, row: Mapping[str, Any]) -> str:
    extra = []
    if _given(row.get("set_by")):
        extra.append(f"set by {str(row['set_by']).strip()}")
    if _given(row.get("valid_until")):
        extra.append(f"until {pd.Timestamp(row['valid_until']).date().isoformat()}")
    return reason + (f" ({', '.join(extra)})" if extra else "")


# ------------------------------------------------------------------ shifts


def shift_stats(series: pd.DataFrame, selected: pd.Series, window: int) -> pd.DataFrame:
    """Per series with a selection origin (`selected`: series_id -> date): the periods
    after it (n_new_periods), and the new periods against the `window` periods up to it:
    level_shift_z = |mean_new - mean_ref| / sqrt(s2 (1/n_new + 1/n_ref)) and
    variance_ratio = var_new / s2, where s2 is the reference variance, at least its mean
    (counts vary at least that much)."""
    cols = ["series_id", "n_new_periods", "level_shift_z", "variance_ratio"]
    if selected.empty:
        return pd.DataFrame(columns=cols)
    sel = pd.to_datetime(selected.dropna())
    df = series[["series_id", "period_start", "demand"]].assign(
        series_id=series["series_id"].astype(str),
        period_start=pd.to_datetime(series["period_start"]),
    )
    df = df[df["series_id"].isin(sel.index)]
    df = df.sort_values(["series_id", "period_start"], kind="stable")
    cut = df["series_id"].map(sel)
    new = df[df["period_start"] > cut]
    ref = df[df["period_start"] <= cut]
    ref = ref[ref.groupby("series_id").cumcount(ascending=False) < window]
    g_new = new.groupby("series_id")["demand"]
    g_ref = ref.groupby("series_id")["demand"]
    out = pd.DataFrame(index=pd.Index(sel.index, name="series_id"))
    out["n_new_periods"] = g_new.size().reindex(out.index).fillna(0).astype(int)
    n_ref = g_ref.size().reindex(out.index).fillna(0)
    mean_new = g_new.mean().reindex(out.index)
    mean_ref = g_ref.mean().reindex(out.index)
    var_new = g_new.var(ddof=1).reindex(out.index)
    s2 = np.maximum(g_ref.var(ddof=1).reindex(out.index).fillna(0), mean_ref.clip(lower=0))
    diff = (mean_new - mean_ref).abs()
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(s2 * (1 / out["n_new_periods"] + 1 / n_ref))
        z = np.where(diff > 0, diff / se, 0.0)
        ratio = np.where(var_new > 0, var_new / s2, 0.0)
    judged = (out["n_new_periods"] >= 2) & (n_ref >= 2)
    out["level_shift_z"] = np.where(judged, z, np.nan)
    out["variance_ratio"] = np.where(judged, ratio, np.nan)
    return out.reset_index()[cols]


# ------------------------------------------------------------------ the decision


def decide(state: pd.DataFrame, policy: RetrainPolicy) -> pd.DataFrame:
    """The decision per series from its state: one row per live series with its current
    profile (demand_class, lifecycle, eligible, history_fingerprint, history_periods,
    has_memory),
    its overrides (pin_model, pin_reason, barred_models, bar_reason), the run's identity
    (settings_hash, catalog_hash, settings, forecast_origin, run_id), and what the
    registry remembers (prev_* columns: run_id, champion, settings_hash, catalog_hash,
    settings, history_fingerprint, demand_class, n_windows, selected_origin,
    override_action, override_model, has_forecast) and what was measured since
    (n_new_periods, age_limit, live_mase, backtest_mase, n_live_periods, level_shift_z,
    variance_ratio). Returns series_id, decision, reason, detail, champion (the model a
    refit or reuse forecasts with), is_backtested, override_action, override_model,
    override_reason."""
    rows = []
    for r in state.to_dict("records"):
        decision, reason, detail, champion = _decide_one(r, policy)
        pinned = _given(r.get("pin_model"))
        barred = _given(r.get("barred_models"))
        eligible = bool(r.get("eligible"))
        backtest = eligible and ((decision == "reselect") or not bool(r.get("has_memory")))
        rows.append(
            {
                "series_id": r["series_id"],
                "decision": decision,
                "reason": reason,
                "detail": detail,
                "champion": champion,
                "is_backtested": backtest,
                "override_action": "pin" if pinned else ("bar" if barred else None),
                "override_model": r.get("pin_model") if pinned else r.get("barred_models"),
                "override_reason": r.get("pin_reason") if pinned else r.get("bar_reason"),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "series_id",
            "decision",
            "reason",
            "detail",
            "champion",
            "is_backtested",
            "override_action",
            "override_model",
            "override_reason",
        ],
    )


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _decide_one(r: dict, policy: RetrainPolicy) -> tuple[str, str, str, str | None]:
    """(decision, reason, detail, champion kept) for one series' state."""
    prev_run = r.get("prev_run_id") if _given(r.get("prev_run_id")) else None
    prev_champ = r.get("prev_champion") if _given(r.get("prev_champion")) else None
    same_history = prev_run is not None and r.get("prev_history_fingerprint") == r.get(
        "history_fingerprint"
    )
    same_settings = prev_run is not None and r.get("prev_settings_hash") == r.get("settings_hash")
    has_forecast = bool(r.get("prev_has_forecast"))
    since = f"run {prev_run}" if prev_run else ""

    if _given(r.get("pin_model")):
        pin = r["pin_model"]
        text = f"pinned to {pin} by an override: {r.get('pin_reason')}"
        if same_history and same_settings and prev_champ == pin and has_forecast:
            return "reuse", "override_pin", f"{text}; history unchanged since {since}", pin
        return "refit", "override_pin", text, pin
    if policy.retrain == "always":
        return "reselect", "retrain_always", "var retrain: always", None
    if prev_run is None:
        return "reselect", "new_series", "no model on record for the series", None
    if not same_settings:
        if r.get("prev_catalog_hash") != r.get("catalog_hash") and _given(
            r.get("prev_catalog_hash")
        ):
            return (
                "reselect",
                "catalog_changed",
                f"the catalog's candidates, pools or defaults changed since {since}",
                None,
            )
        changed = _changed_settings(r.get("prev_settings"), r.get("settings"))
        return "reselect", "settings_changed", f"since {since}: {changed}", None
    origin = pd.Timestamp(r["forecast_origin"])
    selected = r.get("prev_selected_origin")
    if _given(selected) and pd.Timestamp(selected) > origin:
        return (
            "reselect",
            "origin_moved_back",
            f"the champion was selected at origin {pd.Timestamp(selected).date()}, after "
            f"this run's origin {origin.date()}",
            None,
        )
    if r.get("prev_override_action") == "pin":
        return (
            "reselect",
            "override_ended",
            f"the pin of {r.get('prev_override_model')} no longer holds",
            None,
        )
    if prev_champ is not None and _given(r.get("barred_models")):
        barred = set(str(r["barred_models"]).split("|"))
        name, members = parse_champion(prev_champ)
        hit = sorted(barred & {name, *members})
        if hit:
            return (
                "reselect",
                "override_bar",
                f"champion {prev_champ} is barred by an override: {r.get('bar_reason')}",
                None,
            )
    if prev_champ is None:  # a cold start last time (or a backtest that chose nothing)
        if same_history and has_forecast:
            return "reuse", "no_new_data", f"history unchanged since {since}", None
        periods = f"history of {_num(r.get('history_periods')):.0f} periods"
        if bool(r.get("eligible")) and not bool(r.get("has_memory")):
            return (
                "reselect",
                "backtestable",
                f"a cold start last time; {periods} is now long enough to backtest",
                None,
            )
        if not bool(r.get("eligible")) and r.get("lifecycle") == "new":
            return (
                "refit",
                "cold_start",
                f"a new product, {periods}: too short to backtest, forecast by the cold-start "
                "method on the new history",
                None,
            )
        why = (
            "no longer a new product: its class champion, fitted on all its history"
            if not bool(r.get("eligible"))
            else "its backtest on record chose none"
        )
        return "reselect", "no_champion", f"no champion on record and new history; {why}", None
    if _num(r.get("prev_n_windows")) == 0 and bool(r.get("eligible")):
        return (
            "reselect",
            "backtestable",
            f"history of {int(r['history_periods'])} periods is now long enough to backtest",
            None,
        )
    if r.get("prev_demand_class") != r.get("demand_class"):
        return (
            "reselect",
            "demand_class_changed",
            f"demand class {r.get('prev_demand_class')} -> {r.get('demand_class')}",
            None,
        )
    if same_history:
        if has_forecast:
            return "reuse", "no_new_data", f"history unchanged since {since}", prev_champ
        return (
            "refit",
            "last_forecast_missing",
            f"history unchanged since {since}, but its forecast is not in fct_forecast_history",
            prev_champ,
        )
    n_new = _num(r.get("n_new_periods"))
    limit = _num(r.get("age_limit"))
    if np.isfinite(limit) and n_new >= limit:
        return (
            "reselect",
            "max_age",
            f"champion selected {n_new:.0f} periods ago (origin {pd.Timestamp(selected).date()}); "
            f"this series' limit is {limit:.0f} (retrain_max_age {policy.retrain_max_age})",
            None,
        )
    live, base, n_live = (_num(r.get(k)) for k in ("live_mase", "backtest_mase", "n_live_periods"))
    if (
        n_live >= policy.retrain_min_new_periods
        and base > 0
        and np.isfinite(live)
        and live > policy.retrain_decay_ratio * base
    ):
        return (
            "reselect",
            "accuracy_decayed",
            f"live MASE {live:.2f} over {n_live:.0f} periods is {live / base:.1f} x its "
            f"backtest MASE {base:.2f} (retrain_decay_ratio {policy.retrain_decay_ratio:g})",
            None,
        )
    if n_new >= policy.retrain_min_new_periods:
        z, ratio = _num(r.get("level_shift_z")), _num(r.get("variance_ratio"))
        if z > policy.retrain_shift_z:
            return (
                "reselect",
                "level_shift",
                f"the mean of the {n_new:.0f} new periods moved {z:.1f} standard errors from "
                f"the {policy.retrain_shift_window} before the selection "
                f"(retrain_shift_z {policy.retrain_shift_z:g})",
                None,
            )
        if ratio > policy.retrain_variance_ratio:
            return (
                "reselect",
                "variance_shift",
                f"the variance of the {n_new:.0f} new periods is {ratio:.1f} x the "
                f"{policy.retrain_shift_window} before the selection "
                f"(retrain_variance_ratio {policy.retrain_variance_ratio:g})",
                None,
            )
    return (
        "refit",
        "new_data",
        f"{n_new:.0f} new period(s) since the selection; champion {prev_champ} kept",
        prev_champ,
    )


def _changed_settings(before: Any, now: Any) -> str:
    try:
        old, new = json.loads(before), json.loads(now)
    except (TypeError, ValueError):
        return "settings not on record (a registry row from an earlier version)"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys) or "settings hash"


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
) -> pd.DataFrame:
    """The decisions of a run (`int_forecast__decisions`), from the warehouse's memory."""
    catalog = catalog or load_catalog()
    settings = run.settings
    policy = RetrainPolicy.from_mapping(run.values)
    ident = settings_identity(settings, catalog)
    origin = pd.Timestamp(run.get("forecast_origin"))
    live = _live_profiles(profiles)
    ids = live["series_id"]
    deleted = wh.prune_memory(con, run.run_id, policy.memory_keep_runs)
    if any(deleted.values()):
        emit(
            f"retrain: memory pruned (memory_keep_runs {policy.memory_keep_runs}; each "
            "series' latest state kept): "
            + ", ".join(f"{n:,} rows of {t}" for t, n in deleted.items() if n)
            + " deleted"
        )
    state = live[
        ["series_id", "plant_id", "product_id", "product_group", "demand_class", "lifecycle"]
    ]
    state = state.assign(eligible=live["eligible"].to_numpy())
    state = state.merge(
        resolve_overrides(overrides, live, origin, catalog, settings), on="series_id", how="left"
    )
    prev = wh.read_previous_state(con)
    prev = prev.assign(series_id=prev["series_id"].astype(str))
    prev = prev[prev["series_id"].isin(ids)]
    for col in _PREV_COLUMNS:
        if col not in prev.columns:
            prev[col] = None
    prev = prev[["series_id", *_PREV_COLUMNS]].rename(
        columns={c: f"prev_{c}" for c in _PREV_COLUMNS}
    )
    state = state.merge(prev, on="series_id", how="left")
    memory = wh.read_backtest_memory(
        con, ident.settings_hash, live.loc[live["eligible"], "series_id"], residuals=False
    )
    memory = memory.drop_duplicates("series_id").set_index("series_id")["demand_class"]
    state["has_memory"] = state["series_id"].map(memory).astype(object) == state[
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
    for part in _history_measures(con, batches, kept, policy):
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
    con: Any, batches: SeriesBatches, kept: pd.DataFrame, policy: RetrainPolicy
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
        errors.append(wh.read_live_errors(con, batch, kept[here]))
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
) -> pd.DataFrame:
    """`int_forecast__backtest`: the series the decisions mark are backtested; every other
    eligible series carries its latest backtest under the same settings from the memory.
    This run's rows (and scaled residuals) go to the memory; the calibration is pooled
    over the residuals of every eligible series, fresh or carried."""
    catalog = catalog or load_catalog()
    settings = run.settings
    ident = settings_identity(settings, catalog)
    origin = pd.Timestamp(run.get("forecast_origin")).date()
    started = pd.Timestamp(run.get("started_at"))
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

    def remember(part: pd.DataFrame) -> None:
        memory = part.assign(run_id=run.run_id, settings_hash=ident.settings_hash)
        memory = memory.assign(backtested_at=started, backtest_origin=origin)
        wh.append_backtest_memory(con, _with_residuals(memory, classes, calibration))

    def backtest(ids: Any) -> list[pd.DataFrame]:
        batches = wh.series_batches(con, series, settings.batch_series, ids)
        _say_batches("backtest", batches)
        out = []
        for batch in batches:  # the rows, the pooled residuals and the pool's forecasts
            part = run_backtest(
                batch, todo_prof, settings, catalog, stats, calibration, stacking, race
            )
            remember(part)
            out.append(part)
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
            remember(learned)
            parts.append(learned[list(BACKTEST_COLUMNS)])
    fresh = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=BACKTEST_COLUMNS)
    eligible = prof[
        prof["is_backtestable"].fillna(False).astype(bool) & (prof["lifecycle"] != "discontinued")
    ]["series_id"]
    carry = sorted(set(eligible) - todo)
    carried = wh.read_backtest_memory(con, ident.settings_hash, carry)
    missing = sorted(set(carry) - set(carried["series_id"].astype(str)))
    if missing:
        raise RuntimeError(
            f"backtest: {len(missing)} series have no backtest on record to carry "
            f"(e.g. {missing[:3]}); int_forecast__decisions should have marked them"
        )
    h = settings.horizon
    with_res = carried[carried["residuals"].notna()] if len(carried) else carried
    for (cls, name), grp in with_res.groupby(["demand_class", "model_name"], sort=True):
        rows = np.concatenate([np.frombuffer(b, dtype="<f4") for b in grp["residuals"]])
        calibration.add_scaled(cls, name, rows.reshape(-1, h))

    single = {n for n, c in catalog.candidates.items() if not c.is_combination}
    fresh = fresh.assign(
        backtest_run_id=run.run_id,
        backtest_origin=origin,
        n_fits=np.where(
            (fresh["status"] != "skipped") & fresh["model_name"].isin(single),
            fresh["n_windows"],
            0,
        ).astype("int64"),
    )
    table = calibration.quantiles(settings.levels)
    wh.write_calibration(con, _typed_calibration(table), run.run_id)

    carried_rows = carried.rename(columns={"run_id": "backtest_run_id"}).assign(
        n_fits=0, backtest_origin=pd.to_datetime(carried["backtest_origin"]).dt.date
    )
    cols = [*BACKTEST_COLUMNS, "backtest_run_id", "backtest_origin", "n_fits"]
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
) -> pd.DataFrame:
    """`int_forecast__champions`: selection for the series to re-select (bars honoured),
    the registry's champion for the others, the pinned model for pinned series."""
    catalog = catalog or load_catalog()
    settings = run.settings
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
    registry = wh.read_registry_rows(con, pairs)
    kept = registry[registry["champion"].notna()] if len(registry) else registry
    kept = kept.assign(series_id=kept["series_id"].astype(str)) if len(kept) else kept
    for col in ("scale_mae", "interval_scale", "champion_mase"):
        if col not in kept.columns:
            kept[col] = np.nan

    pins = _pinned_rows(metrics, selected, dec.loc[pinned], settings)
    cols = [*CHAMPION_COLUMNS, "champion_mase"]
    parts = [p.reindex(columns=cols) for p in (new, kept, pins) if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
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
        out[col] = pd.to_numeric(out[col]).fillna(0).astype("int64")
    for col in ("champion_score", "runner_up_score", "scale_mae", "interval_scale"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    out["champion_mase"] = pd.to_numeric(out["champion_mase"], errors="coerce").astype("float64")
    for col in (
        "series_id",
        "champion",
        "selection_metric",
        "runner_up",
        "class_champion",
        "reason",
        "decision",
        "selected_run_id",
    ):
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
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """`int_forecast__predictions`: the forecast of every series but those reused, whose
    rows come from their last run's forecast (fct_forecast_history); n_refits per series."""
    settings = run.settings
    calibration = wh.read_calibration(con)
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
    cols = prediction_columns(settings.levels)
    pairs = reuse.rename(columns={"previous_run_id": "run_id"})[["run_id", "series_id"]]
    carried = wh.read_forecast_rows(con, pairs, cols)
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


# ------------------------------------------------------------------ rebuilding a run


def rebuild_forecast(con: Any, run_id: str, series_ids: Any = None) -> pd.DataFrame:
    """A past run's forecast of some series, from the memory alone: each series'
    fct_model_registry row of the run (champion, settings, interval scale, demand class),
    its history from fct_demand_history up to the run's origin (checked against the
    registry's fingerprint: a ValueError when the history was restated since), and the
    run's calibration (demandcast_calibration_memory). For series the run forecast with a
    champion whose interval scale is on record (backtested ones); the result has the
    columns of int_forecast__predictions."""
    registry = con.execute(
        "select * from main.fct_model_registry where run_id = ? and champion is not null",
        [run_id],
    ).df()
    if series_ids is not None:
        registry = registry[registry["series_id"].isin(list(series_ids))]
    if registry.empty:
        raise ValueError(f"run {run_id}: no registry row with a champion for these series")
    values = json.loads(registry["settings"].iloc[0])
    settings = Settings(**{**values, "n_jobs": 1})
    origin = pd.Timestamp(registry["forecast_origin"].iloc[0])
    con.register("_rebuild_ids", registry[["series_id"]])
    history = con.execute(
        "select series_id, period_start, demand from main.fct_demand_history "
        "where series_id in (select series_id from _rebuild_ids) and period_start <= ? "
        "order by series_id, period_start",
        [origin.date()],
    ).df()
    con.unregister("_rebuild_ids")
    prints = history_fingerprints(history).set_index("series_id")["history_fingerprint"]
    restated = registry.loc[
        prints.reindex(registry["series_id"]).to_numpy() != registry["history_fingerprint"],
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
    profiles = registry[["series_id", "demand_class"]].assign(
        lifecycle="active", product_group=None
    )
    champions = registry[["series_id", "champion", "interval_scale", "scale_mae"]]
    return forecast_series(history, profiles, champions, settings, calibration=calibration)
