"""The candidate catalog: which forecasters compete, read from catalog.yml.

Candidates are data (see catalog.yml for the schema). This module loads and
validates them, resolves the `candidates` var (a named set or a list of names)
and builds StatsForecast-compatible model instances with the season length
injected. Plug-ins are referenced by import path `package.module:Class`.

It also holds the two small model classes the engine itself needs:
`Deseasonalized` (MSTL adjustment + a non-seasonal model, used for long
seasons) and `Guarded` (turns a model's exception on one series into NaN so
one bad series never fails a StatsForecast call).
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from statsforecast import models as sf_models
from statsforecast.models import _predict_mstl_seas
from statsforecast.mstl import mstl

from demandcast.pooled import MODELS as POOLED_MODELS
from demandcast.pooled import lags_for

CATALOG_PATH = Path(__file__).with_name("catalog.yml")
NATIVE_SETS = ("default", "learned", "champion", "thief")
"""Sets that leave out the entries marked full_only_below_long_season at native seasons."""
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no_demand")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
_SEASON_MODES = ("none", "optional", "required")
COMBINE_MODES = ("mean", "median", "trimmed", "learned")
_ENTRY_KEYS = {
    "name",
    "model",
    "kwargs",
    "season",
    "min_seasons",
    "long_season",
    "max_season",
    "min_history",
    "intervals",
    "tags",
    "combine",
    "members",
    "description",
    "full_only_below_long_season",
    "forward",
}


def trimmed_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The mean of the finite values along `axis` left after the highest and the lowest are
    dropped (a combination's `combine: trimmed`): one member running away, or collapsing,
    moves it no more than a median would, while the middle members still average. Three
    values give their median; one or two, their mean; none, NaN."""
    ok = np.isfinite(values)
    n = ok.sum(axis=axis)
    total = np.where(ok, values, 0.0).sum(axis=axis)
    with np.errstate(all="ignore"):
        high = np.where(ok, values, -np.inf).max(axis=axis)
        low = np.where(ok, values, np.inf).min(axis=axis)
        trimmed = (total - high - low) / (n - 2)
        plain = total / n
    return np.where(n >= 3, trimmed, np.where(n > 0, plain, np.nan))


@dataclass(frozen=True)
class Candidate:
    """One catalog entry: a model to build, or a combination of other entries."""

    name: str
    model: str | None = None
    kwargs: dict = field(default_factory=dict)
    season: str = "none"
    min_seasons: int = 1
    long_season: dict | None = None
    max_season: int | None = None
    min_history: int = 0
    native_intervals: bool = False
    family: str = ""
    classes: tuple[str, ...] = DEMAND_CLASSES
    combine: str | None = None
    members: tuple[str, ...] | str = ()
    full_only_below_long_season: bool = False
    forward: bool = False
    description: str = ""

    @property
    def is_combination(self) -> bool:
        return self.combine is not None

    @property
    def is_top_k(self) -> bool:
        return self.members == "top_k"

    @property
    def is_pooled(self) -> bool:
        """Learned across every series at once (pooled.py), not by StatsForecast."""
        return self.model in POOLED_MODELS

    @property
    def is_learned(self) -> bool:
        """Weights over the class's learner pool, learned across series (stacking.py)."""
        return self.combine == "learned"

    def needs_seasons(self, season_length: int) -> int:
        """Full seasons of history the candidate needs (0: none)."""
        if self.season == "required" and season_length > 1:
            return self.min_seasons
        return 0

    def required_history(self, season_length: int) -> int:
        """Periods of history the candidate needs to forecast at all."""
        return max(self.min_history, self.needs_seasons(season_length) * season_length)


@dataclass(frozen=True)
class Catalog:
    """All catalog entries, the named sets and the per-class defaults."""

    candidates: dict[str, Candidate]
    sets: dict[str, tuple[str, ...]]
    defaults: dict[str, str]
    long_season: int = 24
    pool: dict[str, tuple[str, ...]] = field(default_factory=dict)
    learn: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shrink: tuple[float, ...] = (1.0,)
    left_out: dict[str, frozenset[str]] = field(default_factory=dict)
    """Per set, the names its `all_but` leaves out: kept out of its learner pools too."""

    def contenders(self, demand_class: str, candidates: Sequence[Candidate]) -> set[str]:
        """The single candidates that can forecast a series of the class among `candidates`
        (those that run): members of the class's selection pool and of its default, and
        of its learner pool (with plug-ins). The others the backtest races (backtest.py)."""
        by_name = {c.name: c for c in candidates}
        learns = any(c.is_learned for c in candidates)
        out = set(self.learner_pools(list(by_name)).get(demand_class, ())) if learns else set()
        for name in [*self.pool.get(demand_class, ()), self.defaults.get(demand_class)]:
            cand = by_name.get(name)
            if cand is None or cand.is_top_k or cand.is_learned:
                continue
            out |= set(cand.members) if cand.is_combination else {cand.name}
        return out & set(by_name)

    def learner_pools(self, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Per demand class, the members ComboLearned weighs among `names` (the candidates
        that run): the catalog's `selection.learn`, plus every plug-in that runs on the class
        (a business unit's forecaster competes for weight like any other)."""
        run = set(names)
        out = {}
        for cls in DEMAND_CLASSES:
            members = [m for m in self.learn.get(cls, ()) if m in run]
            members += [
                c.name
                for c in self.candidates.values()
                if c.family == "plugin"
                and c.name in run
                and cls in c.classes
                and c.name not in members
            ]
            if members:
                out[cls] = tuple(members)
        return out

    def available(self, season_length: int) -> list[Candidate]:
        """Entries usable with this season length (catalog order)."""
        out = []
        for cand in self.candidates.values():
            if cand.season == "required" and season_length < 2:
                continue
            if cand.max_season is not None and season_length > cand.max_season:
                continue
            out.append(cand)
        return out

    def at_season(self, season_length: int) -> Catalog:
        """The catalog as a run with this season length sees it: above `long_season`, a
        combination with `long_season` members has those members instead (ComboPlain: the
        plain models' own seasonal forms, not the Fourier-adjusted ones). Idempotent."""
        if season_length <= self.long_season:
            return self
        swap = {
            n: replace(c, members=tuple(c.long_season["members"]))
            for n, c in self.candidates.items()
            if c.is_combination and c.long_season and c.members != tuple(c.long_season["members"])
        }
        return replace(self, candidates={**self.candidates, **swap}) if swap else self

    def resolve(self, spec: str | Sequence[str], season_length: int) -> list[Candidate]:
        """The candidates a var names (a set or a list), plus combination members.

        Members of a requested combination are added (and scored) too, so every
        number on the leaderboard comes from the same backtest. Entries that do
        not apply to this season length are dropped; combinations have their members
        at this season length (`at_season`).
        """
        if season_length > self.long_season:
            at = self.at_season(season_length)
            if at is not self:
                return at.resolve(spec, season_length)
        native_default = spec in NATIVE_SETS and season_length <= self.long_season
        banned = self.left_out.get(spec, frozenset()) if isinstance(spec, str) else frozenset()
        if isinstance(spec, str):
            if spec in self.sets:
                names = list(self.sets[spec])
                if native_default:
                    names = [n for n in names if not self.candidates[n].full_only_below_long_season]
            elif spec == "all":
                names = list(self.candidates)
            elif spec in self.candidates:
                names = [spec]
            else:
                raise ValueError(
                    f"var 'candidates': {spec!r} is neither a set ({', '.join(self.sets)}) "
                    "nor a candidate name"
                )
        else:
            names = list(spec)
        unknown = [n for n in names if n not in self.candidates]
        if unknown:
            raise ValueError(
                f"var 'candidates': unknown candidate(s) {unknown}; "
                f"see {CATALOG_PATH.name} for the names"
            )
        usable = {c.name for c in self.available(season_length)}
        wanted: set[str] = set()
        learners: set[str] = set()
        for name in names:
            wanted.add(name)
            cand = self.candidates[name]
            if cand.is_learned:
                learners.update(m for members in self.learn.values() for m in members)
            elif cand.is_combination and not cand.is_top_k:
                wanted.update(cand.members)
        # a learner pool member joins as the set would have it (not at native seasons when
        # it is marked full_only_below_long_season: there it repeats another entry)
        wanted |= {
            m
            for m in learners
            if m not in banned
            and not (native_default and self.candidates[m].full_only_below_long_season)
        }
        return [c for c in self.candidates.values() if c.name in wanted and c.name in usable]

    def pooled(self, name: str, season_length: int, horizon: int) -> Any:
        """An unfitted global model for a pooled candidate (pooled.py); above `long_season`
        with its `long_season` entry's kwargs when it has one."""
        cand = self.candidates[name]
        spec = cand.long_season if season_length > self.long_season else None
        kw = pooled_kwargs(cand, (spec or {}).get("kwargs", cand.kwargs))
        lags = lags_for(season_length, kw.pop("seasons"), kw.pop("min_lags"))
        model = POOLED_MODELS[cand.model]
        return model(lags=lags, horizon=horizon, season_length=season_length, **kw)

    def build(self, name: str, season_length: int) -> Any:
        """A fresh model instance for a single (non-combination) candidate."""
        cand = self.candidates[name]
        if cand.is_combination:
            raise ValueError(f"candidate '{name}' is a combination; build its members")
        if cand.is_pooled:
            raise ValueError(f"candidate '{name}' is learned across series; see pooled(name)")
        spec = {"model": cand.model, "kwargs": cand.kwargs}
        season = cand.season
        if cand.long_season is not None and season_length > self.long_season:
            spec = cand.long_season
            season = "required"
        model = _build_spec(spec, name, season_length, inject=season != "none")
        model.alias = name
        return model


# --------------------------------------------------------------------------- loading


def describe(model_name: str | None, path: str | Path | None = None) -> str | None:
    """A forecaster's name in a planner's words (fct_demand_forecast.model_description): its
    catalog entry's `description`, with a top-k ensemble's members ('MeanTopK[A|B]'), the
    cold start's and the fallback's own words, else the name itself; null stays null."""
    if model_name is None:
        return None
    from demandcast.forecast import COLD_START_MODEL, FALLBACK_MODEL
    from demandcast.selection import parse_champion

    own = {
        COLD_START_MODEL: "average of its own last periods (too little history to choose a model)",
        FALLBACK_MODEL: "average of recent periods (the chosen method failed)",
        "LaunchCurve": "launch curve of its product group (no orders yet)",
        "LaunchAnalog": "an analog product's first periods, scaled (no orders yet)",
    }
    candidates = load_catalog(path).candidates
    name, members = parse_champion(model_name)
    entry = candidates.get(name)
    words = own.get(name) or (entry.description if entry is not None else "") or name
    parts = []
    for member in members:  # a top-k's names, or ComboLearned's 'lambda=L:champion', 'name*weight'
        if member.startswith("lambda="):
            lam, _, champion = member.removeprefix("lambda=").partition(":")
            if float(lam) < 1:  # the weights below already hold the champion's share
                parts.append(f"{float(lam):.0%} learned, {1 - float(lam):.0%} as {champion}")
            continue
        base, _, weight = member.partition("*")
        part = describe(base, path) or base
        parts.append(f"{part} ({float(weight):.0%})" if weight else part)
    return f"{words}: {'; '.join(parts)}" if parts else words


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate a catalog file (default: the packaged catalog.yml)."""
    path = Path(path) if path is not None else CATALOG_PATH
    return _load_cached(str(path.resolve()), path.stat().st_mtime)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Catalog:
    with open(path) as fh:
        raw = yaml.safe_load(fh)
    where = Path(path).name
    if not isinstance(raw, dict) or not isinstance(raw.get("candidates"), list):
        raise ValueError(f"{where}: expected a mapping with a 'candidates' list")
    candidates: dict[str, Candidate] = {}
    for i, entry in enumerate(raw["candidates"]):
        cand = _parse_entry(entry, f"{where}: candidates[{i}]")
        if cand.name in candidates:
            raise ValueError(f"{where}: candidate name '{cand.name}' is used twice")
        candidates[cand.name] = cand
    for cand in candidates.values():
        if cand.is_combination and not cand.is_top_k and not cand.is_learned:
            missing = [m for m in cand.members if m not in candidates]
            nested = [m for m in cand.members if m in candidates and candidates[m].is_combination]
            if missing or nested:
                raise ValueError(
                    f"{where}: combination '{cand.name}' has unknown or combined members "
                    f"{missing + nested}"
                )
            long = cand.long_season
            ok = isinstance(long, dict) and set(long) == {"members"}
            names = long["members"] if ok else None
            if long is not None and not (
                isinstance(names, list)
                and len(names) >= 2
                and all(m in candidates and not candidates[m].is_combination for m in names)
            ):
                raise ValueError(
                    f"{where}: combination '{cand.name}': long_season must be "
                    f"{{members: [two or more single candidates]}}, not {long!r}"
                )
    sets: dict[str, tuple[str, ...]] = {}
    left_out: dict[str, frozenset[str]] = {}
    for set_name, members in (raw.get("sets") or {}).items():
        if members == "all":
            members = list(candidates)
        elif isinstance(members, dict) and set(members) == {"all_but"}:
            left_out[set_name] = frozenset(members["all_but"])
            members = [c for c in candidates if c not in left_out[set_name]]
        if not isinstance(members, list) or not members:
            raise ValueError(
                f"{where}: set '{set_name}' must be 'all', {{all_but: [names]}} or a list of names"
            )
        unknown = [m for m in members if m not in candidates]
        if unknown:
            raise ValueError(f"{where}: set '{set_name}' names unknown candidates {unknown}")
        sets[set_name] = tuple(members)
    defaults = dict(raw.get("defaults") or {})
    for cls, name in defaults.items():
        if cls not in DEMAND_CLASSES:
            raise ValueError(f"{where}: defaults: unknown demand class '{cls}'")
        if name not in candidates:
            raise ValueError(f"{where}: defaults: '{cls}' names unknown candidate '{name}'")
    pool = {
        cls: tuple(names) for cls, names in ((raw.get("selection") or {}).get("pool") or {}).items()
    }
    for cls, names in pool.items():
        unknown = [p for p in names if p not in candidates]
        if cls not in DEMAND_CLASSES or unknown:
            raise ValueError(
                f"{where}: selection.pool.{cls}: unknown demand class or candidates {unknown}"
            )
    selection = raw.get("selection") or {}
    learn = {cls: tuple(names) for cls, names in (selection.get("learn") or {}).items()}
    for cls, names in learn.items():
        bad = [p for p in names if p not in candidates or candidates[p].is_combination]
        if cls not in DEMAND_CLASSES or bad:
            raise ValueError(
                f"{where}: selection.learn.{cls}: unknown demand class, or unknown or combined "
                f"candidates {bad}"
            )
    shrink = selection.get("shrink", [1.0])
    grid = shrink if isinstance(shrink, list) else [shrink]
    if not grid or not all(isinstance(x, (int, float)) and 0 <= x <= 1 for x in grid):
        raise ValueError(
            f"{where}: selection.shrink must be a list of numbers from 0 to 1, not {shrink!r}"
        )
    catalog = Catalog(
        candidates,
        sets,
        defaults,
        int(raw.get("long_season", 24)),
        pool,
        learn,
        tuple(sorted(float(x) for x in set(grid))),
        left_out,
    )
    for cand in candidates.values():  # fail at load, not mid-run, on a bad class path
        if cand.is_pooled:
            pooled_kwargs(cand, cand.kwargs)
            if cand.long_season:
                pooled_kwargs(cand, cand.long_season.get("kwargs") or {})
        elif not cand.is_combination:
            _resolve_class(cand.model, cand.name)
            if cand.long_season:
                _resolve_class(cand.long_season.get("model"), cand.name)
    return catalog


def _parse_entry(entry: Any, where: str) -> Candidate:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ValueError(f"{where}: each candidate needs a 'name'")
    name = str(entry["name"])
    where = f"{where} ('{name}')"
    extra = set(entry) - _ENTRY_KEYS
    if extra:
        raise ValueError(f"{where}: unknown keys {sorted(extra)}")
    if not _NAME_RE.match(name):
        raise ValueError(f"{where}: name must match {_NAME_RE.pattern}")
    tags = entry.get("tags") or {}
    classes = tags.get("classes", DEMAND_CLASSES)
    if classes == "all":
        classes = DEMAND_CLASSES
    bad = [c for c in classes if c not in DEMAND_CLASSES]
    if bad:
        raise ValueError(f"{where}: unknown demand classes {bad}")
    season = entry.get("season", "none")
    if season not in _SEASON_MODES:
        raise ValueError(f"{where}: season must be one of {_SEASON_MODES}")
    combine = entry.get("combine")
    members: tuple[str, ...] | str = ()
    if combine is not None:
        if combine not in COMBINE_MODES:
            raise ValueError(f"{where}: combine must be one of {', '.join(COMBINE_MODES)}")
        members = entry.get("members")
        if combine == "learned":
            if members != "learned":
                raise ValueError(f"{where}: combine 'learned' takes members: learned")
        elif members != "top_k":
            if not isinstance(members, list) or len(members) < 2:
                raise ValueError(f"{where}: members must be 'top_k' or a list of >= 2 names")
            members = tuple(members)
        if not isinstance(members, tuple) and entry.get("long_season") is not None:
            raise ValueError(f"{where}: long_season members need a list of members")
    elif not entry.get("model"):
        raise ValueError(f"{where}: needs 'model' (a class) or 'combine' + 'members'")
    return Candidate(
        name=name,
        model=entry.get("model"),
        kwargs=dict(entry.get("kwargs") or {}),
        season=season,
        min_seasons=int(entry.get("min_seasons", 1)),
        long_season=entry.get("long_season"),
        max_season=entry.get("max_season"),
        min_history=int(entry.get("min_history", 0)),
        native_intervals=entry.get("intervals") == "native",
        family=str(tags.get("family", "")),
        classes=tuple(classes),
        combine=combine,
        members=members,
        full_only_below_long_season=bool(entry.get("full_only_below_long_season", False)),
        forward=bool(entry.get("forward", False)),
        description=str(entry.get("description") or ""),
    )


def pooled_kwargs(cand: Candidate, kwargs: dict) -> dict:
    """A pooled entry's kwargs with their defaults: `seasons` of lags (at least `min_lags`
    periods) and the model's own (GlobalAR's `ridge`, GlobalGBM's tree settings)."""
    model = POOLED_MODELS[cand.model]
    own = {f.name for f in fields(model) if f.init} - {"lags", "horizon", "season_length"}
    own -= {"n_series", "n_threads"}  # the panel's and the run's, set when it is fitted
    kw = {"seasons": 2, "min_lags": 8, **kwargs}
    extra = set(kw) - {"seasons", "min_lags"} - own
    if extra:
        raise ValueError(f"candidate '{cand.name}': {cand.model} takes no {sorted(extra)}")
    return kw


def _resolve_class(path: Any, name: str) -> type:
    """The class an entry names: ours, StatsForecast's, or `module:Class`."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"candidate '{name}': 'model' must be a class name or 'module:Class'")
    if ":" in path:
        module_name, _, class_name = path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(
                f"candidate '{name}': cannot import plug-in module '{module_name}' "
                f"({type(error).__name__}: {error})"
            ) from error
        cls = getattr(module, class_name, None)
        if cls is None:
            raise ValueError(
                f"candidate '{name}': module '{module_name}' has no class '{class_name}'"
            )
    elif path in _BUILTIN:
        cls = _BUILTIN[path]
    else:
        cls = getattr(sf_models, path, None)
        if cls is None:
            raise ValueError(
                f"candidate '{name}': '{path}' is not a StatsForecast model; "
                "use 'package.module:Class' for a plug-in"
            )
    missing = [m for m in ("forecast", "new") if not callable(getattr(cls, m, None))]
    if not inspect.isclass(cls) or missing:
        raise ValueError(
            f"candidate '{name}': '{path}' does not meet the model contract "
            f"(needs a class with methods forecast(y, h, ...) and new(); missing {missing}); "
            "see demandcast/plugins/example.py"
        )
    return cls


def _build_spec(spec: Any, name: str, season_length: int, inject: bool) -> Any:
    if not isinstance(spec, dict) or "model" not in spec:
        raise ValueError(f"candidate '{name}': a model spec needs a 'model' key, got {spec!r}")
    cls = _resolve_class(spec["model"], name)
    kwargs = {}
    for key, value in (spec.get("kwargs") or {}).items():
        if isinstance(value, dict) and "model" in value:
            value = _build_spec(value, name, season_length, inject=False)
        kwargs[key] = value
    if inject:
        kwargs.setdefault("season_length", season_length)
    try:
        return cls(**kwargs)
    except Exception as error:
        raise ValueError(
            f"candidate '{name}': {spec['model']}(**{kwargs}) failed: {error}"
        ) from error


# --------------------------------------------------------------------- engine models


class Deseasonalized(sf_models._TS):
    """A non-seasonal model on the seasonally adjusted series, the season added back.

    method 'fourier' (default): the seasonal component is `harmonics` sine and
    cosine pairs of period `period`, fitted by least squares together with a
    linear trend (only the seasonal part is removed). Six coefficients instead
    of 52 free weekly values: what two or three years of weekly history can
    actually pin down, and with period 365.25 / 7 = 52.18 weeks for a 52-week
    season (365.25 days for 365) the cycle stays on the calendar year. Needs
    one season of history plus the coefficients.

    method 'stl': StatsForecast's MSTL decomposition (STL, seasonal window
    11); the seasonal component is forecast seasonal-naively, so sharp
    recurring features (a shutdown week) are kept. Needs two seasons. The
    decomposition of the last few series is cached: several candidates on the
    same backtest window pay for one STL fit.

    Below the history it needs it is the inner model alone, as AutoETS is
    non-seasonal when a season does not fit. Intervals are the inner model's.

    `fit` estimates the inner model on the adjusted series and `forward` applies that
    estimate to a later history, its seasonal part fitted again (least squares or STL,
    cheap): the backtest's estimate-once shortcut (var backtest_refit) for an inner
    model that has `forward`, as for the same model at a native season.
    """

    def __init__(
        self,
        season_length: int,
        model: Any,
        method: str = "fourier",
        harmonics: int = 3,
        period: float | None = None,
        alias: str = "Deseasonalized",
    ):
        if method not in ("fourier", "stl"):
            raise ValueError(f"method must be 'fourier' or 'stl', got {method!r}")
        if hasattr(model, "season_length") and model.season_length not in (1, [1]):
            raise ValueError("the inner model of Deseasonalized must be non-seasonal")
        self.season_length = int(season_length)
        self.model = model
        self.method = method
        self.harmonics = int(harmonics)
        if period is None:
            period = {52: 365.25 / 7, 365: 365.25}.get(self.season_length, self.season_length)
        self.period = float(period)
        self.alias = alias
        self.prediction_intervals = None

    def new(self):
        b = super().new()
        b.model = self.model.new()
        for name in ("y_", "adjusted_", "inner_"):  # a copy starts unfitted
            b.__dict__.pop(name, None)
        return b

    def _min_length(self) -> int:
        if self.method == "stl":
            return 2 * self.season_length
        return self.season_length + 2 * self.harmonics + 2

    def _terms(self, t: np.ndarray) -> np.ndarray:
        angle = 2 * np.pi * np.outer(t, np.arange(1, self.harmonics + 1)) / self.period
        return np.hstack([np.sin(angle), np.cos(angle)])

    def _seasonal(self, y: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        """In-sample and future seasonal components."""
        n = y.size
        if self.method == "stl":
            comp = _decompose(y, [self.season_length], {})
            seas_in = comp["seasonal"].to_numpy()
            return seas_in, _predict_mstl_seas(comp, h=h, season_length=[self.season_length])
        t = np.arange(n)
        terms = self._terms(t)
        design = np.column_stack([np.ones(n), t / n, terms])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        return terms @ coef[2:], self._terms(np.arange(n, n + h)) @ coef[2:]

    def fit(self, y: np.ndarray, X: np.ndarray | None = None):
        self.y_ = np.asarray(y, dtype=float)
        self.adjusted_ = self.y_.size >= self._min_length()
        target = self.y_ - self._seasonal(self.y_, 1)[0] if self.adjusted_ else self.y_
        self.inner_ = self.model.new().fit(y=target)
        return self

    def forward(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list | None = None,
        fitted: bool = False,
    ):
        """The inner model's estimate from `fit` on this history, seasonally adjusted as at
        `fit` (a full forecast where the inner model has no `forward`, or where the history
        crossed the length adjustment needs)."""
        y = np.asarray(y, dtype=float)
        inner, lvl = getattr(self, "inner_", None), _level_kw(level)
        adjusted = y.size >= self._min_length()
        if not callable(getattr(inner, "forward", None)) or adjusted != self.adjusted_:
            return self.forecast(y=y, h=h, level=level, fitted=fitted)
        if not adjusted:
            return inner.forward(y=y, h=h, fitted=fitted, **lvl)
        return self._adjusted(y, h, lambda z: inner.forward(y=z, h=h, fitted=fitted, **lvl))

    def predict(self, h: int, X: np.ndarray | None = None, level: list | None = None):
        res = self.inner_.predict(h=h, **_level_kw(level))
        if not self.adjusted_:
            return res
        seas_h = self._seasonal(self.y_, h)[1]
        return {k: np.asarray(v, dtype=float) + seas_h for k, v in res.items()}

    def forecast(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list | None = None,
        fitted: bool = False,
    ):
        y, lvl = np.asarray(y, dtype=float), _level_kw(level)
        if y.size < self._min_length():
            return self.model.forecast(y=y, h=h, fitted=fitted, **lvl)
        return self._adjusted(y, h, lambda z: self.model.forecast(y=z, h=h, fitted=fitted, **lvl))

    def _adjusted(self, y: np.ndarray, h: int, run: Any) -> dict:
        """`run` (the inner model's forecast or forward) on the seasonally adjusted history,
        the season added back to its forecasts and fitted values."""
        seas_in, seas_h = self._seasonal(y, h)
        return {
            k: np.asarray(v, dtype=float) + (seas_in if "fitted" in k else seas_h)
            for k, v in run(y - seas_in).items()
        }


class TemporalHierarchy(sf_models._TS):
    """THieF (Athanasopoulos, Hyndman, Kourentzes and Petropoulos 2017): the inner model
    forecasts the series and its temporal aggregates, blocks of k periods ending at the
    origin for every k dividing the season (1, 2, 3, 4, 6 and 12 months of a year), each
    at the season left (12 / k; none at k = 12), and the forecasts of one season are
    reconciled by structural scaling (weighted least squares, a node's variance taken as
    proportional to the periods it sums; MinTrace wls_struct), so the periods sum to each
    aggregate's forecast and every level informs the season's shape and level.

    A level with fewer than `min_periods` aggregated periods, or whose fit fails, is left
    out of the hierarchy (the k = 1 level is always needed). Point forecasts only: the
    forecast step calibrates intervals on the backtest's errors. `forward` applies each
    level's estimate from `fit` to a later history, for inner models that have one.
    """

    def __init__(self, season_length: int, model: Any, min_periods: int = 4, alias: str = "THieF"):
        if hasattr(model, "season_length") and model.season_length not in (1, [1]):
            raise ValueError("the inner model of TemporalHierarchy takes its season per level")
        self.season_length = int(season_length)
        self.model = model
        self.min_periods = int(min_periods)
        self.alias = alias
        self.prediction_intervals = None

    def new(self):
        b = super().new()
        b.model = self.model.new()
        b.__dict__.pop("fitted_", None)  # a copy starts unfitted
        return b

    def _ks(self, n: int) -> list[int]:
        m = self.season_length
        return [k for k in range(1, m + 1) if m % k == 0 and n // k >= self.min_periods]

    def _at(self, k: int) -> Any:
        inner = self.model.new()
        inner.season_length = self.season_length // k
        return inner

    @staticmethod
    def _aggregate(y: np.ndarray, k: int) -> np.ndarray:
        n = (y.size // k) * k
        return y[y.size - n :].reshape(-1, k).sum(axis=1)

    def _reconcile(self, forecasts: dict[int, np.ndarray], h: int) -> dict:
        """Bottom-level forecasts of ceil(h / m) seasons, each reconciled over the levels
        that forecast; the first h periods."""
        m = self.season_length
        if 1 not in forecasts:
            raise ValueError("the series itself (k = 1) could not be forecast")
        ks = sorted(forecasts)
        S = np.vstack([np.kron(np.eye(m // k), np.ones((1, k))) for k in ks])
        w = 1.0 / S.sum(axis=1)  # structural scaling: W = diag(S 1)
        P = np.linalg.solve(S.T @ (S * w[:, None]), S.T * w)  # (S' W^-1 S)^-1 S' W^-1
        seasons = -(-h // m)
        out = []
        for j in range(seasons):
            stacked = np.concatenate([forecasts[k][j * (m // k) : (j + 1) * (m // k)] for k in ks])
            out.append(P @ stacked)
        return {"mean": np.concatenate(out)[:h]}

    def _steps(self, k: int, h: int) -> int:
        return -(-h // self.season_length) * (self.season_length // k)

    def fit(self, y: np.ndarray, X: np.ndarray | None = None):
        y = np.asarray(y, dtype=float)
        self.fitted_ = self._each(
            self._ks(y.size), lambda k: self._at(k).fit(y=self._aggregate(y, k))
        )
        return self

    def predict(self, h: int, X: np.ndarray | None = None, level: list | None = None):
        return self._reconcile(
            {
                k: np.asarray(f.predict(h=self._steps(k, h))["mean"])
                for k, f in self.fitted_.items()
            },
            h,
        )

    def forecast(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list | None = None,
        fitted: bool = False,
    ):
        y = np.asarray(y, dtype=float)
        return self._reconcile(self._levels(y, h, {k: None for k in self._ks(y.size)}), h)

    def forward(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list | None = None,
        fitted: bool = False,
    ):
        """Each level's estimate from `fit` on this history (a full forecast where the inner
        model has no `forward`)."""
        y = np.asarray(y, dtype=float)
        ready = getattr(self, "fitted_", {})
        if not ready or not callable(getattr(ready.get(1), "forward", None)):
            return self.forecast(y=y, h=h)
        usable = set(self._ks(y.size))
        return self._reconcile(self._levels(y, h, {k: ready[k] for k in ready if k in usable}), h)

    def _levels(self, y: np.ndarray, h: int, estimates: dict[int, Any]) -> dict[int, np.ndarray]:
        """Each level's forecast: a fresh fit (estimate None) or the estimate carried forward."""

        def one(k: int) -> np.ndarray:
            z, steps, est = self._aggregate(y, k), self._steps(k, h), estimates[k]
            run = self._at(k).forecast if est is None else est.forward
            f = np.asarray(run(y=z, h=steps)["mean"], dtype=float)
            if f.shape != (steps,) or not np.all(np.isfinite(f)):
                raise ValueError(f"the forecast of the {k}-period sums is not finite")
            return f

        return self._each(list(estimates), one)

    @staticmethod
    def _each(ks: list[int], run: Any) -> dict[int, Any]:
        """`run(k)` per level; a level that fails is left out, but the series itself (k = 1)
        must not fail."""
        out = {}
        for k in ks:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out[k] = run(k)
            except Exception:
                if k == 1:
                    raise
        return out


_STL_CACHE: OrderedDict = OrderedDict()


def _decompose(y: np.ndarray, season_length: list[int], stl_kwargs: dict):
    key = (tuple(season_length), repr(sorted(stl_kwargs.items())), y.tobytes())
    hit = _STL_CACHE.get(key)
    if hit is None:
        hit = mstl(x=y, period=season_length, stl_kwargs=stl_kwargs)
        _STL_CACHE[key] = hit
        if len(_STL_CACHE) > 8:
            _STL_CACHE.popitem(last=False)
    return hit


def _level_kw(level: list | None) -> dict:
    return {} if level is None else {"level": level}


_BUILTIN: dict[str, type] = {
    "Deseasonalized": Deseasonalized,
    "TemporalHierarchy": TemporalHierarchy,
}


class Guarded(sf_models._TS):
    """Wraps a model so an exception on one series gives NaN forecasts, not a failed run.

    StatsForecast's `fallback_model` would silently substitute another model's
    numbers under the candidate's name; NaN keeps the failure visible, and the
    caller records it (status 'failed' with the error message).
    """

    def __init__(self, model: Any, forward: bool = False):
        self.model = model
        self.alias = model.alias
        self.use_forward = forward and callable(getattr(model, "forward", None))
        self.prediction_intervals = None
        self._fitted: Any = None

    def new(self):
        return Guarded(self.model.new(), self.use_forward)

    def fit(self, y: np.ndarray, X: np.ndarray | None = None) -> Guarded:
        """Estimate once (backtest with refit=False); `forward` applies it to later windows."""
        self._fitted = None
        if self.use_forward:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._fitted = self.model.new().fit(y=np.asarray(y, dtype=float))
            except Exception:
                self._fitted = _FAILED
        return self

    def forward(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list | None = None,
        fitted: bool = False,
    ) -> dict:
        """The first window's estimate applied to this window's history (expensive models), or
        a full refit (cheap models and those without `forward`)."""
        if self._fitted is None:
            return self.forecast(y=y, h=h, level=level)
        if self._fitted is _FAILED:
            return self._nan(h, level)
        return self._guard(lambda: self._fitted.forward(y=y, h=h, **_level_kw(level)), h, level)

    def forecast(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list | None = None,
        fitted: bool = False,
    ) -> dict:
        return self._guard(lambda: self.model.forecast(y=y, h=h, **_level_kw(level)), h, level)

    def _guard(self, run: Any, h: int, level: list | None) -> dict:
        try:
            with warnings.catch_warnings():  # convergence chatter; failures are recorded
                warnings.simplefilter("ignore")
                res = run()
            mean = np.asarray(res["mean"], dtype=float)
            if mean.shape != (h,):
                raise ValueError(f"forecast returned shape {mean.shape}, expected ({h},)")
            if not np.all(np.isfinite(mean)):
                raise ValueError("forecast contains NaN or infinite values")
            return res
        except Exception:
            return self._nan(h, level)

    @staticmethod
    def _nan(h: int, level: list | None) -> dict:
        out = {"mean": np.full(h, np.nan)}
        for lv in sorted(level or [], reverse=True):
            out[f"lo-{lv}"] = np.full(h, np.nan)
        for lv in sorted(level or []):
            out[f"hi-{lv}"] = np.full(h, np.nan)
        return out


class _Failed:
    """A Guarded's estimate that raised: one instance, also after pickling to a worker."""

    def __reduce__(self) -> str:
        return "_FAILED"


_FAILED = _Failed()


MAX_ERROR_RERUNS = 200
"""Failed series x candidate pairs a step re-runs to capture their message (error_of)."""


def error_of(model: Any, y: np.ndarray, h: int, level: list | None = None) -> str:
    """The error a model raises on one series (re-run in this process to get its message)."""
    try:
        res = model.new().forecast(y=np.asarray(y, dtype=float), h=h, **_level_kw(level))
        mean = np.asarray(res["mean"], dtype=float)
        if mean.shape != (h,) or not np.all(np.isfinite(mean)):
            return "forecast contains NaN or infinite values or has the wrong length"
        return "failed in a worker process; succeeded when re-run"
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:500]
