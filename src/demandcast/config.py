"""Run settings for the forecasting engine, read from dbt vars.

Every knob of backtest, selection and forecast lives in one frozen dataclass so
the three steps cannot disagree. `Settings.from_mapping(values)` reads the same
names from the run row int_run__context (dbt vars, often as strings or JSON
text), parses them and raises a ValueError naming the var when one is bad.

The vars' names and defaults have one home, `vars:` in the project's
dbt_project.yml (with what each does): `PROJECT_VARS` is read from it, and the
dataclasses' defaults, the var check's list of names and the macro
`project_vars()` (through the dbt plugin) all come from there. Only the defaults
that depend on other vars (step_size, min_train_length) are computed here.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml
from numpy import bool_ as np_bool

PROJECT_FILE = Path(__file__).resolve().parents[2] / "dbt_project.yml"
"""The dbt project this package is the engine of (installed from its source tree)."""


def _project_vars() -> dict[str, Any]:
    try:
        return dict(yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))["vars"])
    except (OSError, KeyError, TypeError) as exc:
        raise RuntimeError(
            f"demandcast: cannot read the vars of its dbt project from {PROJECT_FILE} ({exc}); "
            "install the package from the project's folder (pip install -e .)"
        ) from exc


PROJECT_VARS: dict[str, Any] = _project_vars()
"""Every var of the project and its default, as dbt_project.yml has them."""

FREQUENCIES: dict[str, str] = {"day": "D", "week": "W-MON", "month": "MS"}
"""Our frequency names and the pandas offsets of their period starts."""
SEASONS: dict[str, int] = {"day": 7, "week": 52, "month": 12}
"""season_length when the var is null: the year in weeks and months, the week in days (the
macro season_length says the same for int_run__context)."""

METRICS: tuple[str, ...] = ("mae", "rmse", "bias", "smape", "wape", "mase", "rmsse")
RECONCILIATIONS: tuple[str, ...] = ("bottom_up", "auto")
ENGINES: tuple[str, ...] = ("local", "dask", "ray")
"""Where StatsForecast runs: this process and its worker pool ('local'), or a Dask or Ray
cluster through StatsForecast's Fugue backend (demandcast.distributed; optional extras
`demandcast[dask]`, `demandcast[ray]`)."""


def default_step(horizon: int, season_length: int, n_windows: int) -> int:
    """Periods between two backtest origins when step_size is null: a third of the horizon
    (rounded up), or more where the windows would not span a season, so that they together
    cover at least season_length periods: 20 weeks for a 13-week horizon at 52 (windows of
    13 weeks over the last 53), 3 months for a 6-month horizon at 12. The errors of the last
    23 weeks understate the next quarter's: on M4's 359 weekly series the 80 % interval held
    74.1 % of the future with windows 5 weeks apart and 81.2 % with 20, and sMAPE fell from
    7.20 to 6.79 (the windows then judge the candidates over the year; docs/accuracy.md)."""
    step = -(-horizon // 3)
    if n_windows > 1 and season_length > horizon:
        step = max(step, -(-(season_length - horizon) // (n_windows - 1)))
    return step


@dataclass(frozen=True)
class Settings:
    """Knobs of one forecasting run; defaults suit weekly demand.

    - frequency: 'day' | 'week' | 'month'; periods start on the day, on Monday
      ('W-MON') or on the first of the month ('MS').
    - horizon: periods forecast ahead, and the length of each backtest window.
    - season_length: periods per seasonal cycle (52 weeks, 12 months, 7 days).
    - n_windows: backtest origins per series (rolling origin); a series with a
      shorter history is backtested on as many windows as fit (at least one).
    - step_size: periods between two backtest origins. Default: a third of the
      horizon (rounded up), so the windows stay close to the forecast origin
      and every series with a little more than one window of history gets
      several of them; where the horizon is shorter than a season, at least
      enough for the windows to span a season (`default_step`).
    - selection_metric: the score selection minimises. Default 'mase': scale
      free and robust to one bad window. MASE rewards forecasting zero on
      intermittent series; selection there chooses among level combinations
      (the class pools), which never forecast zero.
    - candidates: a named set of catalog.yml ('default', 'fast',
      'intermittent', ...) or a list of candidate names.
    - levels: prediction interval levels in percent.
    - n_jobs: processes StatsForecast uses. Default -1: all cores.
    - min_train_length: fewest periods of history before the earliest backtest
      origin; a series with less than min_train_length + horizon periods is not
      backtested (an active one gets its class champion fitted on all it has, a
      new product the cold-start forecast). Default: the larger of horizon and
      half a season (season_length // 2).

    - batch_series: series the backtest, the forecast and the retraining decisions read
      from the warehouse and process at a time (whole series, as Arrow), so a run's
      memory is bounded by a batch, not by the whole panel. Changes no number.

    The defaults are dbt_project.yml's (PROJECT_VARS); it leaves step_size and
    min_train_length null, derived here from horizon and season_length, and the build asks
    this class for their values (the macro `setting()`, through the dbt-duckdb plugin).
    - ensemble_top_k: members of the per-series top-k combinations.
    - selection_margin: relative improvement another member of the selection
      pool (robust combinations) needs over the class champion before a series
      switches to it. Default 0.9 (a tenth of the class champion's error:
      only where the class champion is broken on the series): on M1 and the
      demo no smaller margin beat keeping the class champion on both
      (scripts/accuracy.py ablations; the README has the rows).
    - intermittent_metric: the metric that picks the champion of intermittent and
      lumpy series (selection_metric picks the others). Default rmsse: on sparse
      demand a forecast of zero has the lowest MAE, so MASE would reward it.
    - race_share: the share of each demand class's series (at least MIN_SCOUT_SERIES)
      that backtests every candidate; the others backtest the contenders and what the
      race promotes (backtest.py). 1: every candidate everywhere. Default 0.1.
    - reconciliation: how the levels are made coherent (levels.py): bottom_up keeps the
      champions' forecasts and sums them (default); auto lets the backtest choose among
      bottom-up and MinTrace (kept only where it does not lose at the base).
    - max_forecast_multiple: the plausible maximum of a series' forecast is this times
      the 90th percentile of its positive demand, plus 1 (the forecast gate's rule). A
      member of a champion whose refit forecast exceeds it is left out of the combination
      (a champion none of whose members stays within it gets the fallback method), and
      fallback_reason says so: one model's runaway forecast on one series neither reaches
      the planners nor stops the publication of every other series.
    - intervals_from_zero: true (default) makes an interval whose lower bound is 0 the
      interval from zero that holds its level L, [0, L quantile], not [0, (1 + L)/2
      quantile], which holds the chance of zero demand too; the lower bound is 0 where
      the pooled residuals put it there or at least (1 - L)/2 of the series' last
      max(season_length, horizon) periods had no demand (intervals.py); false keeps
      the central quantiles everywhere.
    - single_margin: the same for any candidate outside the pool (single
      models, per-series top-k, plug-ins). Default 0.9: on real monthly data a
      single model that wins a few backtest windows by less is mostly noise.
    - backtest_refit: false (default) estimates the expensive models (those
      with StatsForecast's `forward`) once, at the first backtest origin, and
      applies the estimate to the later windows; cheap models are refit on
      every window. true refits everything on every window.
    - route_by_class: run the expensive candidates only on the demand classes
      their catalog tags name (intermittent series skip AutoARIMA & co.).
    - engine: 'local' runs StatsForecast in this process and its pool of
      n_jobs worker processes; 'dask' or 'ray' runs the backtest's
      cross_validation and the forecast's refits on a Dask or Ray cluster
      through StatsForecast's Fugue backend (demandcast.distributed), with the
      same numbers. n_jobs does not apply there: the cluster's workers are the
      parallelism.
    - engine_address: the cluster to use with engine 'dask' (a scheduler
      address, 'tcp://host:8786') or 'ray' (`ray.init` address: 'host:6379',
      'ray://host:10001' or 'auto'). Null: the environment variable
      DEMANDCAST_ENGINE_ADDRESS, and without it a local cluster on this
      machine, started for the step and closed after it.
    """

    frequency: str = PROJECT_VARS["frequency"]
    horizon: int = PROJECT_VARS["horizon"]
    season_length: int | None = PROJECT_VARS["season_length"]  # null: SEASONS[frequency]
    n_windows: int = PROJECT_VARS["n_windows"]
    step_size: int | None = PROJECT_VARS["step_size"]  # null: default_step
    selection_metric: str = PROJECT_VARS["selection_metric"]
    candidates: str | tuple[str, ...] = PROJECT_VARS["candidates"]
    levels: tuple[int, ...] = tuple(PROJECT_VARS["levels"])
    n_jobs: int = PROJECT_VARS["n_jobs"]
    min_train_length: int | None = PROJECT_VARS["min_train_length"]  # null: see above
    ensemble_top_k: int = PROJECT_VARS["ensemble_top_k"]
    selection_margin: float = PROJECT_VARS["selection_margin"]
    single_margin: float = PROJECT_VARS["single_margin"]
    route_by_class: bool = PROJECT_VARS["route_by_class"]
    backtest_refit: bool = PROJECT_VARS["backtest_refit"]
    engine: str = PROJECT_VARS["engine"]
    engine_address: str | None = PROJECT_VARS["engine_address"]
    batch_series: int = PROJECT_VARS["batch_series"]
    race_share: float = PROJECT_VARS["race_share"]
    intermittent_metric: str = PROJECT_VARS["intermittent_metric"]
    reconciliation: str = PROJECT_VARS["reconciliation"]
    max_forecast_multiple: float = PROJECT_VARS["max_forecast_multiple"]
    intervals_from_zero: bool = PROJECT_VARS["intervals_from_zero"]

    def __post_init__(self) -> None:
        _check(self.frequency in FREQUENCIES, "frequency", self.frequency, list(FREQUENCIES))
        if self.season_length is None:
            object.__setattr__(self, "season_length", SEASONS[self.frequency])
        for name in ("horizon", "season_length", "n_windows", "ensemble_top_k", "batch_series"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 1, name, value, "an integer >= 1")
        if self.step_size is None:
            step = default_step(self.horizon, self.season_length, self.n_windows)
            object.__setattr__(self, "step_size", step)
        _check(
            isinstance(self.step_size, int) and self.step_size >= 1,
            "step_size",
            self.step_size,
            "an integer >= 1",
        )
        if self.min_train_length is None:
            object.__setattr__(self, "min_train_length", max(self.horizon, self.season_length // 2))
        _check(
            isinstance(self.min_train_length, int) and self.min_train_length >= 1,
            "min_train_length",
            self.min_train_length,
            "an integer >= 1",
        )
        _check(self.selection_metric in METRICS, "selection_metric", self.selection_metric, METRICS)
        _check(
            self.intermittent_metric in METRICS,
            "intermittent_metric",
            self.intermittent_metric,
            METRICS,
        )
        if isinstance(self.candidates, list):
            object.__setattr__(self, "candidates", tuple(self.candidates))
        _check(
            isinstance(self.candidates, str)
            or (
                isinstance(self.candidates, tuple)
                and len(self.candidates) > 0
                and all(isinstance(c, str) and c for c in self.candidates)
            ),
            "candidates",
            self.candidates,
            "a set name or a non-empty list of candidate names",
        )
        levels = self.levels
        if isinstance(levels, numbers.Real):
            levels = (levels,)
        _check(
            isinstance(levels, list | tuple)
            and len(levels) > 0
            and all(
                isinstance(lv, numbers.Real) and not isinstance(lv, bool) and 0 < lv < 100
                for lv in levels
            ),
            "levels",
            self.levels,
            "a non-empty list of numbers between 0 and 100",
        )
        levels = tuple(sorted({int(lv) if float(lv).is_integer() else lv for lv in levels}))
        object.__setattr__(self, "levels", levels)
        _check(
            isinstance(self.n_jobs, int) and (self.n_jobs >= 1 or self.n_jobs == -1),
            "n_jobs",
            self.n_jobs,
            "an integer >= 1, or -1 for all cores",
        )
        for name in ("selection_margin", "single_margin"):
            value = getattr(self, name)
            _check(
                isinstance(value, numbers.Real) and 0 <= value < 1,
                name,
                value,
                "a number in [0, 1)",
            )
        _check(
            self.reconciliation in RECONCILIATIONS,
            "reconciliation",
            self.reconciliation,
            list(RECONCILIATIONS),
        )
        _check(
            isinstance(self.race_share, (int, float)) and 0 <= self.race_share <= 1,
            "race_share",
            self.race_share,
            "a number in [0, 1]",
        )
        for name in ("route_by_class", "backtest_refit", "intervals_from_zero"):
            _check(
                isinstance(getattr(self, name), bool), name, getattr(self, name), "true or false"
            )
        _check(
            isinstance(self.max_forecast_multiple, numbers.Real)
            and not isinstance(self.max_forecast_multiple, bool)
            and self.max_forecast_multiple >= 1,
            "max_forecast_multiple",
            self.max_forecast_multiple,
            "a number >= 1.0",
        )
        object.__setattr__(self, "max_forecast_multiple", float(self.max_forecast_multiple))
        _check(self.engine in ENGINES, "engine", self.engine, ENGINES)
        _check(
            self.engine_address is None
            or (isinstance(self.engine_address, str) and self.engine_address.strip() != ""),
            "engine_address",
            self.engine_address,
            "a cluster address such as tcp://scheduler:8786, or null",
        )

    @property
    def freq(self) -> str:
        """The pandas offset alias of a period start."""
        return FREQUENCIES[self.frequency]

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build settings from a mapping of var values (strings, JSON text or Python values).

        Keys that are not settings are ignored; None, NaN and '' mean "use the default".
        """
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f.name)
            if _missing(raw):
                continue
            kwargs[f.name] = _PARSERS[f.name](f.name, raw)
        return cls(**kwargs)


def _missing(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    return isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")


def _check(ok: bool, name: str, value: Any, expected: Any) -> None:
    if not ok:
        if isinstance(expected, list | tuple):
            expected = "one of " + ", ".join(map(str, expected))
        raise ValueError(f"var '{name}': invalid value {value!r}, expected {expected}")


def _literal(name: str, raw: Any) -> Any:
    """A Python/JSON literal from a dbt var string ('13', '[80, 95]', 'true')."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError):
            continue
    return text


def _int(name: str, raw: Any) -> int:
    value = _literal(name, raw)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if float(value).is_integer():
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"var '{name}': invalid value {raw!r}, expected an integer")
    return value


def _float(name: str, raw: Any) -> float:
    value = _literal(name, raw)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"var '{name}': invalid value {raw!r}, expected a number")
    return float(value)


def _str(name: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"var '{name}': invalid value {raw!r}, expected a string")
    return raw.strip().strip("'\"").lower()


def _address(name: str, raw: Any) -> str:
    """A cluster address, kept as written (only surrounding blanks and quotes dropped)."""
    if not isinstance(raw, str):
        raise ValueError(f"var '{name}': invalid value {raw!r}, expected an address string")
    return raw.strip().strip("'\"")


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool | np_bool):
        return bool(raw)
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"var '{name}': invalid value {raw!r}, expected true or false")


def _levels(name: str, raw: Any) -> tuple:
    if hasattr(raw, "tolist"):  # a numpy array from the warehouse
        raw = raw.tolist()
    value = _literal(name, raw)
    if isinstance(value, str):  # "80, 95" or "80"
        try:
            value = [float(part) for part in value.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            raise ValueError(
                f"var '{name}': invalid value {raw!r}, expected a list of numbers like [80, 95]"
            ) from None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError(f"var '{name}': invalid value {raw!r}, expected a list like [80, 95]")
    return tuple(value)


def _candidates(name: str, raw: Any) -> str | tuple[str, ...]:
    if hasattr(raw, "tolist"):
        raw = raw.tolist()
    value = _literal(name, raw)
    if isinstance(value, str):
        text = value.strip()
        if "," in text:  # "Naive, SeasonalNaive"
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return text
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    raise ValueError(
        f"var '{name}': invalid value {raw!r}, expected a set name or a list of candidate names"
    )


_PARSERS = {
    "frequency": _str,
    "horizon": _int,
    "season_length": _int,
    "n_windows": _int,
    "step_size": _int,
    "selection_metric": _str,
    "candidates": _candidates,
    "levels": _levels,
    "n_jobs": _int,
    "min_train_length": _int,
    "ensemble_top_k": _int,
    "selection_margin": _float,
    "single_margin": _float,
    "route_by_class": _bool,
    "backtest_refit": _bool,
    "engine": _str,
    "engine_address": _address,
    "batch_series": _int,
    "race_share": _float,
    "intermittent_metric": _str,
    "reconciliation": _str,
    "max_forecast_multiple": _float,
    "intervals_from_zero": _bool,
}


# --- retraining: when a series' champion is selected again ----------------------------

RETRAIN_MODES: tuple[str, ...] = ("auto", "always")


@dataclass(frozen=True)
class RetrainPolicy:
    """When a run selects a series' champion again, fits it again, or keeps its forecast
    (retrain.py decides; the README's Vars table has the same text).

    - retrain: 'auto' (default) decides per series: `reselect` (backtest and selection)
      when the series is new, has no champion, the forecasting settings or the catalog
      changed, its demand class changed, its champion is too old, its live accuracy
      decayed, or its recent demand shifted; `refit` (the champion kept, fitted again)
      when it has new data and none of these holds; `reuse` (the last forecast stands)
      when its history is the same as at the last run. 'always' re-selects every series
      (as every run did before), overrides aside.
    - retrain_max_age: periods of new history after which a champion is selected again.
      Each series' limit lies between about half of it and all of it, fixed per series
      by a hash of its id, so the champions selected in one run do not all age out in
      the same later run. Default 26 (half a year of weeks); null: no age limit.
    - retrain_decay_ratio: re-select when the champion's live MASE (its forecasts since
      it was selected against the actuals that arrived, scaled as its backtest was) is
      above this multiple of its backtest MASE. Default 1.5.
    - retrain_min_new_periods: periods of new history a champion needs before its live
      accuracy or a shift is judged (fewer is noise). Default 6.
    - retrain_shift_window: periods before the champion's selection that the new
      periods are compared with for a shift. Default 26.
    - retrain_shift_z: re-select when the mean of the new periods differs from the
      reference window's by more than this many standard errors (the reference's
      standard deviation, at least the square root of its mean, as for counts).
      Default 4.
    - retrain_variance_ratio: re-select when the variance of the new periods is above
      this multiple of the reference window's (same floor). Default 4.
    - memory_keep_runs: the published runs whose rows the memory (fct_model_registry,
      demandcast_backtest_memory, demandcast_calibration_memory) keeps whole, this run
      included; older rows are deleted except each series' latest state (its latest
      registry row, the row of the run that made its standing forecast, its latest
      backtest, and the calibration of every run still in the registry). Default 13 (a
      quarter of weekly runs: the default horizon); null: keep every run.
    """

    retrain: str = PROJECT_VARS["retrain"]
    retrain_max_age: int | None = PROJECT_VARS["retrain_max_age"]
    retrain_decay_ratio: float = PROJECT_VARS["retrain_decay_ratio"]
    retrain_min_new_periods: int = PROJECT_VARS["retrain_min_new_periods"]
    retrain_shift_window: int = PROJECT_VARS["retrain_shift_window"]
    retrain_shift_z: float = PROJECT_VARS["retrain_shift_z"]
    retrain_variance_ratio: float = PROJECT_VARS["retrain_variance_ratio"]
    memory_keep_runs: int | None = PROJECT_VARS["memory_keep_runs"]

    def __post_init__(self) -> None:
        _check(self.retrain in RETRAIN_MODES, "retrain", self.retrain, RETRAIN_MODES)
        _check(
            self.retrain_max_age is None
            or (isinstance(self.retrain_max_age, int) and self.retrain_max_age >= 1),
            "retrain_max_age",
            self.retrain_max_age,
            "an integer >= 1, or null for no age limit",
        )
        _check(
            self.memory_keep_runs is None
            or (isinstance(self.memory_keep_runs, int) and self.memory_keep_runs >= 1),
            "memory_keep_runs",
            self.memory_keep_runs,
            "an integer >= 1, or null to keep every run",
        )
        for name in ("retrain_min_new_periods", "retrain_shift_window"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 2, name, value, "an integer >= 2")
        for name in ("retrain_decay_ratio", "retrain_shift_z", "retrain_variance_ratio"):
            value = getattr(self, name)
            _check(
                isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0,
                name,
                value,
                "a number > 0",
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RetrainPolicy:
        """The policy from var values (strings or Python values); null means the default,
        except retrain_max_age (no age limit) and memory_keep_runs (keep every run)."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            raw = values[f.name]
            if _missing(raw):
                if f.name in ("retrain_max_age", "memory_keep_runs"):
                    kwargs[f.name] = None
                continue
            kwargs[f.name] = _RETRAIN_PARSERS[f.name](f.name, raw)
        return cls(**kwargs)


_RETRAIN_PARSERS = {
    "retrain": _str,
    "retrain_max_age": _int,
    "retrain_decay_ratio": _float,
    "retrain_min_new_periods": _int,
    "retrain_shift_window": _int,
    "retrain_shift_z": _float,
    "retrain_variance_ratio": _float,
    "memory_keep_runs": _int,
}


# --- every dbt var, checked once before the build touches a table -------------------

GATE_SUITES: tuple[str, ...] = (
    "orders",
    "products",
    "plants",
    "run",
    "series",
    "backtest",
    "forecast",
)
GATE_MODES: tuple[str, ...] = ("fail", "warn")
OUTLIER_ACTIONS: tuple[str, ...] = ("fail", "cap")


def _date(name: str, raw: Any) -> Any:
    import datetime as dt

    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueError(
            f"var '{name}': invalid value {raw!r}, expected a date like 2025-12-01"
        ) from None


def _between(low: float, high: float | None, closed_high: bool = True):
    def parse(name: str, raw: Any) -> float:
        value = _float(name, raw)
        ok = value >= low and (high is None or (value <= high if closed_high else value < high))
        if not ok or math.isnan(value):
            upper = "" if high is None else (f" and <= {high}" if closed_high else f" and < {high}")
            raise ValueError(
                f"var '{name}': invalid value {raw!r}, expected a number >= {low}{upper}"
            )
        return value

    return parse


def _count(minimum: int):
    def parse(name: str, raw: Any) -> int:
        value = _int(name, raw)
        if value < minimum:
            raise ValueError(
                f"var '{name}': invalid value {raw!r}, expected an integer >= {minimum}"
            )
        return value

    return parse


def _one_of(choices: tuple[str, ...]):
    def parse(name: str, raw: Any) -> str:
        value = _str(name, raw)
        if value not in choices:
            raise ValueError(
                f"var '{name}': invalid value {raw!r}, expected one of {', '.join(choices)}"
            )
        return value

    return parse


def _text(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"var '{name}': invalid value {raw!r}, expected a non-empty path")
    return raw


def _table_name(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", raw):
        raise ValueError(
            f"var '{name}': invalid value {raw!r}, expected the name of a table in the warehouse"
        )
    return raw


def _gate_modes(name: str, raw: Any) -> dict[str, str]:
    value = _literal(name, raw)
    if not isinstance(value, Mapping):
        raise ValueError(
            f"var '{name}': invalid value {raw!r}, expected a mapping like {{orders: fail}}"
        )
    bad = {k: v for k, v in value.items() if k not in GATE_SUITES or v not in GATE_MODES}
    if bad:
        raise ValueError(
            f"var '{name}': invalid entries {bad}, expected suites "
            f"{', '.join(GATE_SUITES)} each mapped to {' or '.join(GATE_MODES)}"
        )
    return dict(value)


_OTHER_VARS = {
    "raw_path": _text,
    "forecast_origin": _date,
    "lifecycle_periods": _count(1),
    "discontinued_after_periods": _count(1),
    "max_duplicate_share": _between(0.0, 1.0),
    "min_order_date": _date,
    "allow_negative_demand": _bool,
    "allow_empty_periods": _bool,
    "gate_modes": _gate_modes,
    "outlier_ratio": _between(1.0, None),
    "outlier_action": _one_of(OUTLIER_ACTIONS),
    "max_staleness_periods": _count(0),
    "data_docs": _bool,
    "data_docs_path": _text,
    "published_path": _text,
    "quantity_overrides_table": _table_name,
    "drift_window": _count(2),
    "drift_level_threshold": _between(0.0, None),
    "drift_sd_ratio": _between(1.0, None),
    "drift_zero_share_change": _between(0.0, 1.0),
    "runner_up_flag_ratio": _between(0.0, 1.0),
}

VAR_NAMES: tuple[str, ...] = tuple(PROJECT_VARS)
"""Every dbt var of the project, in dbt_project.yml's order (each has its parser above)."""


def unknown_vars(names: Iterable[str]) -> list[str]:
    """One message per name that is not a var of the project, with the closest var when
    one is close enough (difflib's ratio of at least 0.6): a misspelt var is not silently
    ignored while its default applies."""
    errors = []
    for name in names:
        if name in VAR_NAMES:
            continue
        close = difflib.get_close_matches(str(name).lower(), VAR_NAMES, n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else "not a var of demandcast (dbt_project.yml lists them under vars:)"
        )
        errors.append(f"unknown var '{name}': {hint}")
    return errors


def _check_discontinued_after(values: Mapping[str, Any]) -> list[str]:
    """discontinued_after_periods, when set, spans at least two seasons: a product that
    paused for less (a spare part ordered once a year) is inactive, not discontinued."""
    raw = values.get("discontinued_after_periods")
    if _missing(raw):
        return []
    try:
        season = Settings.from_mapping(values).season_length
        value = _OTHER_VARS["discontinued_after_periods"]("discontinued_after_periods", raw)
    except ValueError as exc:
        return [str(exc)]
    minimum = 2 * season
    if value >= minimum:
        return []
    return [
        f"var 'discontinued_after_periods': invalid value {raw!r}, expected null (off: only "
        f"the product master's discontinued_date ends a series) or an integer >= {minimum} "
        f"(two seasons, 2 x season_length {season}): a shorter pause is not discontinuation"
    ]


def check_vars(values: Mapping[str, Any], given: Iterable[str] = ()) -> list[str]:
    """One message per wrong var (naming it, its value and what is allowed); [] when all hold.

    `given`: the names of the vars as the command line gave them (dbt passes them merged
    with the project's), each of which must be a var of the project. Null means the default
    for every var. discontinued_after_periods is checked against season_length (at least
    two seasons). The candidate names are checked against the catalog, so a typo stops the
    run before a table is touched, not at the backtest; so is the extra a distributed
    engine needs (dask or ray installed).
    """
    errors: list[str] = unknown_vars(given)
    for name, raw in values.items():
        if name not in VAR_NAMES or _missing(raw):
            continue
        parse = _PARSERS.get(name) or _RETRAIN_PARSERS.get(name) or _OTHER_VARS[name]
        try:
            parsed = parse(name, raw)
            if name in _PARSERS:
                Settings(**{name: parsed})
            elif name in _RETRAIN_PARSERS:
                RetrainPolicy(**{name: parsed})
        except ValueError as exc:
            errors.append(str(exc))
    if not errors:
        errors += _check_discontinued_after(values)
    if not errors:
        from demandcast.catalog import load_catalog

        try:
            settings = Settings.from_mapping(values)
            load_catalog().resolve(settings.candidates, settings.season_length)
        except ValueError as exc:
            errors.append(str(exc))
        else:
            from demandcast.distributed import missing_extra

            missing = missing_extra(settings.engine)
            if missing:
                errors.append(f"var 'engine': {settings.engine!r} {missing}")
    return errors
