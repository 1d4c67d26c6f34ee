"""The retraining rules: per series, select its champion again, refit it, or reuse its
last forecast, from what the last runs remember of it.

`decide_run` gives every live series (not discontinued) one decision, with a reason code
and a sentence for planners (`int_forecast__decisions`, `fct_retrain_decisions`):

- `reselect`: backtest the series (when it can be backtested) and select its champion
  again. Reasons, checked in this order: `retrain_always` (the var retrain), `new_series`
  (no model on record), `settings_changed` / `catalog_changed` (the settings hash differs:
  any forecasting setting but n_jobs, engine, batch_series and the FORECAST_SETTINGS
  max_forecast_multiple, reconciliation and intervals_from_zero, or the resolved catalog
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
  unchanged history whose last forecast is not on record (`last_forecast_missing`) or was
  published under another max_forecast_multiple, reconciliation or intervals_from_zero
  (`forecast_settings_changed`) or reconciled (`reconciled_forecast`: with reconciliation
  auto the published forecast is not the model's, so it is made again); a new
  product still too short to backtest gets the cold-start method again on its new
  history (`cold_start`: it has no champion to select until it can be backtested).
- `reuse`: the history is the same as at the last run (`no_new_data`, by its
  fingerprint): the last forecast stands, nothing is fitted.

An override pin (`override_pin`) comes before all of these: the pinned model is fitted
(`refit`), or its forecast reused when nothing changed; a pinned series is never
re-selected while the pin holds.

The rules only: what a series' state calls for. The dbt models' steps that gather the
state and act on the decisions are in demandcast.pipeline.
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

from demandcast.catalog import Catalog
from demandcast.config import RetrainPolicy, Settings
from demandcast.selection import parse_champion

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
FORECAST_SETTINGS = ("max_forecast_multiple", "reconciliation", "intervals_from_zero")
"""Settings that change what a run publishes, not how its candidates forecast: recorded
with the others (`settings`), not in the settings hash. A change of them selects no series
again and keeps the backtests on record (the bound also leaves a runaway member out of a
backtest window's combinations: the scores on record keep the bound they were measured
under until the series is next selected); a series whose history is unchanged is forecast
again (held to the new bound, reconciled the new way) instead of reusing its last
published forecast."""
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
    """Hashes of the settings the selection depends on (all but UNHASHED_SETTINGS and
    FORECAST_SETTINGS) and of the catalog entries the run resolves (with the selection
    pools, defaults and long season); `settings` records all but UNHASHED_SETTINGS."""
    values = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(Settings)
        if f.name not in UNHASHED_SETTINGS
    }
    text = json.dumps(values, sort_keys=True)
    selection = {k: v for k, v in values.items() if k not in FORECAST_SETTINGS}
    cands = catalog.resolve(settings.candidates, settings.season_length)
    spec = {
        # a description is planner words, not the model: rewording one reselects nothing
        "candidates": [
            {k: v for k, v in dataclasses.asdict(c).items() if k != "description"} for c in cands
        ],
        "pool": {k: list(v) for k, v in catalog.pool.items()},
        "learn": {k: list(v) for k, v in catalog.learn.items()},
        "defaults": catalog.defaults,
        "long_season": catalog.long_season,
    }
    catalog_hash = _digest(json.dumps(spec, sort_keys=True, default=str))
    return Identity(
        _digest(json.dumps(selection, sort_keys=True) + catalog_hash), catalog_hash, text
    )


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
    (counts vary at least that much) and at least 3 / n_ref (the rule of three: a rate
    that showed no demand in n_ref periods is below that, 95 % sure), so a series whose
    demand resumes after a reference without any gets a finite z, not infinity."""
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
    with np.errstate(divide="ignore"):
        s2 = np.maximum(s2, 3 / n_ref)
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
    # settings the hash leaves out that change what is published (FORECAST_SETTINGS)
    published = prev_run is not None and _changed_settings(
        r.get("prev_settings"), r.get("settings"), FORECAST_SETTINGS
    )
    reconciled = _reconciled(r.get("settings"))
    has_forecast = bool(r.get("prev_has_forecast"))
    since = f"run {prev_run}" if prev_run else ""

    if _given(r.get("pin_model")):
        pin = r["pin_model"]
        text = f"pinned to {pin} by an override: {r.get('pin_reason')}"
        reusable = same_settings and not published and not reconciled
        if same_history and reusable and prev_champ == pin and has_forecast:
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
        changed = _changed_settings(r.get("prev_settings"), r.get("settings")) or (
            "the settings hash, no recorded setting (a version of demandcast that hashes "
            "other settings)"
        )
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
    if same_history and has_forecast and published:  # the same history, published another way
        return (
            "refit",
            "forecast_settings_changed",
            f"history unchanged since {since}, its forecast made again: {published}",
            prev_champ,
        )
    if same_history and has_forecast and reconciled:
        return (
            "refit",
            "reconciled_forecast",
            f"history unchanged since {since}, but its published forecast was reconciled "
            f"(reconciliation {reconciled}): the model's own forecast is made again, not the "
            "reconciled one reconciled once more",
            prev_champ,
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


def _reconciled(settings: Any) -> str:
    """The run's reconciliation when it may move the base forecasts (not bottom_up): then
    the forecast a run published is not its model's, and cannot be reused as one."""
    try:
        method = json.loads(settings).get("reconciliation", "bottom_up")
    except (TypeError, ValueError, AttributeError):
        return ""
    return "" if method in (None, "bottom_up") else str(method)


def _changed_settings(before: Any, now: Any, only: tuple[str, ...] | None = None) -> str:
    """'name old -> new, ...' for the settings (of `only`, when given) whose recorded values
    differ; '' when none does."""
    try:
        old, new = json.loads(before), json.loads(now)
    except (TypeError, ValueError):
        return "settings not on record (a registry row from an earlier version)"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    keys = [k for k in keys if only is None or k in only]
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys)
