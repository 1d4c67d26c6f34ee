"""Champion selection: the candidate each series is forecast with, and why.

Picking each series' lowest backtest error fits the noise of a few backtest
windows: on real monthly data it loses to one robust combination applied to
every series. So selection is pooled first, per series second:

1. Per demand class, the **class champion** is the member of the catalog's
   `selection.pool` for the class (robust combinations) with the lowest
   mean score over the class's series (`class_scale`: geometric for smooth and
   erratic series, arithmetic for intermittent and lumpy ones), every member
   judged on the same series. A class with fewer
   than `MIN_POOL_SERIES` backtested series keeps the catalog's `defaults:`.
2. A series leaves its class champion for another pool member only when that
   member's score is lower by more than `selection_margin`, and for any other
   candidate (a single model, a per-series top-k, a plug-in) only when it is
   lower by more than `single_margin`: one model's win on a handful of windows
   is mostly noise, a combination's is less so.
3. A series too short to backtest but not new (lifecycle 'active') is fitted
   with its class champion on all the history it has (n_windows 0), the
   catalog's default for its class when no series of the class could be
   backtested (e.g. a frequency or horizon that leaves every series too short);
   new products get the cold-start method in the forecast step.

Ties are broken by catalog order, then name, so a run is reproducible. A
per-series top-k combination is named with its members,
`MeanTopK[AutoETS|AutoTheta|SESOptimized]`, and the learned combination with
its weights, `ComboLearned[AutoCES*0.350|AutoETS*0.250|...]` (stacking.py),
which is all the forecast step needs to rebuild them. Each champion carries
`scale_mae` (the MASE scale of its backtest) and `interval_scale`, the
per-series scale of the pooled conformal intervals (see intervals.py).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from demandcast.catalog import Catalog, load_catalog
from demandcast.config import Settings
from demandcast.metrics import selection_score

CHAMPION_COLUMNS = (
    "series_id",
    "champion",
    "selection_metric",
    "champion_score",
    "runner_up",
    "runner_up_score",
    "n_candidates",
    "n_windows",
    "class_champion",
    "scale_mae",
    "interval_scale",
    "reason",
)
CHAMPION_TYPES = {
    **dict.fromkeys(
        ("series_id", "champion", "selection_metric", "runner_up", "class_champion", "reason"),
        "string",
    ),
    **dict.fromkeys(
        ("champion_score", "runner_up_score", "scale_mae", "interval_scale"), "float64"
    ),
    **dict.fromkeys(("n_candidates", "n_windows"), "int64"),
}
"""The champions' columns' types (the string ones VARCHAR in the warehouse, even all null)."""
LEVEL_CLASSES = ("intermittent", "lumpy")
"""Demand classes selected by the var intermittent_metric (RMSSE by default): on sparse
demand a forecast of zero has the lowest MAE, so MASE would pick it."""
STOOD_ASIDE = "lambda 0: "
"""How the learned combination's skipped rows start where it stood aside for the class
champion (stacking.py writes them; the champion's reason quotes them)."""
MIN_POOL_SERIES = 10
"""Backtested series a demand class needs before its champion is chosen from its own data."""


def class_scale(scores, demand_class: str):
    """A demand class's backtest scores on the scale its mean is taken on: their log (a
    geometric mean) for smooth and erratic series, where one series' blown-up score (a
    runaway member) must not decide and no score comes near 0; as they are (an arithmetic
    mean) for intermittent and lumpy series, whose scores reach 0 where a window had no
    demand and the forecast was 0: in a geometric mean each such series would outweigh
    hundreds of others and hand the class to whatever forecasts least."""
    if demand_class in LEVEL_CLASSES:
        return scores
    return np.log(np.maximum(scores, 1e-9))


def class_mean(scores, demand_class: str, axis: int = 0):
    """The mean of a class's scores on its scale (`class_scale`), back on the scores' own."""
    mean = class_scale(scores, demand_class).mean(axis=axis)
    return mean if demand_class in LEVEL_CLASSES else np.exp(mean)


_MEMBERS_RE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_.]*)\[(?P<members>[^\]]+)\]$")


def parse_champion(champion: str) -> tuple[str, list[str]]:
    """'MeanTopK[A|B]' -> ('MeanTopK', ['A', 'B']); a plain name -> (name, [])."""
    match = _MEMBERS_RE.match(champion)
    if match is None:
        return champion, []
    return match["name"], match["members"].split("|")


# windows holding under this share of a series' mean demand are as good as empty
QUIET_SHARE = 0.1


def no_demand_in_windows(metrics: pd.DataFrame, mean_demand: pd.Series | None = None) -> pd.Index:
    """Series whose backtest windows held no demand: there a candidate's wape is NaN (sum
    |error| over a sum of actuals of 0, metrics.py) unless it forecast 0 throughout; or,
    given each series' `mean_demand` over its history, windows that held under QUIET_SHARE
    of it a period (mae / wape is the windows' mean actual): a lumpy pump selling 1.4 a week,
    whose windows held 2 units in 39 weeks, chose a forecast of 6e-08 there. On such
    a series every forecast of 0 scores perfectly: its scores say which candidate forecasts
    least, not which forecasts demand, so it never moves off its class champion (a paused
    series keeps a forecast of its class's method). Nor does it choose a smooth or erratic
    class's champion, whose geometric mean a score of 0 would decide alone; in an
    intermittent or lumpy class, whose scores are averaged as they are, it votes like any
    other: months without demand are what such series mostly have, and a champion chosen
    only on the windows that held some forecasts too high for the others (on Hyndman's car
    parts, 2,503 series: 42 % of them ordered nothing in the 6 months held out)."""
    if "wape" not in metrics.columns:
        return pd.Index([], dtype=object)
    mae = metrics["mae"] if "mae" in metrics.columns else pd.Series(1.0, index=metrics.index)
    hit = metrics["wape"].isna() & (mae > 0)
    quiet = set(metrics.loc[hit, "series_id"].astype(str))
    if mean_demand is not None and "mae" in metrics.columns:
        rows = metrics[(metrics["wape"] > 0) & (mae > 0)]
        held = (rows["mae"] / rows["wape"]).groupby(rows["series_id"].astype(str)).median()
        usual = mean_demand.reindex(held.index)
        quiet |= set(held.index[(held < QUIET_SHARE * usual).to_numpy()])
    return pd.Index(sorted(quiet), dtype=object)


def class_champions(
    scores: pd.DataFrame,
    classes: pd.Series,
    pool: dict[str, tuple[str, ...]],
    defaults: dict[str, str],
    learned: frozenset[str] = frozenset(),
) -> dict[str, tuple[str, str]]:
    """Per demand class: (champion, why). The pool member with the lowest mean score over the
    class's series on which every compared member scored; the catalog default otherwise.
    A `learned` pool member (ComboLearned) that scored on MIN_POOL_SERIES of the class's
    series is its champion: it runs only where the last backtest window chose a shrinkage
    lambda above 0 towards the champion of the others (stacking.py)."""
    out: dict[str, tuple[str, str]] = {}
    wide = scores.pivot(index="series_id", columns="model_name", values="score")
    for cls in sorted(classes.dropna().unique()):
        ids = classes.index[classes.to_numpy() == cls]
        members = [p for p in pool.get(cls, ()) if p in wide.columns]
        ran = {p: int(wide[p].reindex(ids).notna().sum()) for p in members if p in learned}
        ran = {p: n for p, n in ran.items() if n >= MIN_POOL_SERIES}
        if ran:
            name, n = next(iter(ran.items()))
            why = f"learned weights over {n} {cls} series, shrunk by the last backtest window"
            out[cls] = (name, why)
            continue
        sub = wide.reindex(index=ids, columns=[p for p in members if p not in learned])
        sub = sub.loc[:, sub.notna().mean() >= 0.9]  # members that ran on (almost) all
        common = sub.dropna()
        if len(common) >= MIN_POOL_SERIES and common.shape[1] > 0:
            best = class_mean(common, cls).idxmin()  # first in catalog order on ties
            how = "mean" if cls in LEVEL_CLASSES else "geometric mean"
            out[cls] = (best, f"lowest {how} score over {len(common)} {cls} series")
        elif defaults.get(cls):
            out[cls] = (defaults[cls], f"catalog default for {cls} ({len(common)} series to pool)")
    return out


def _learned_stood_aside(
    per_class: dict[str, tuple[str, str]],
    metrics: pd.DataFrame,
    demand_class: pd.Series,
    learned: frozenset[str],
) -> dict[str, tuple[str, str]]:
    """A class whose learned weights stood aside (stacking's 'lambda 0: ...' rows): its
    champion's why says so, with the last backtest window's evidence."""
    if not learned or "error_message" not in metrics.columns:
        return per_class
    rows = metrics[metrics["model_name"].isin(learned) & (metrics["status"] == "skipped")]
    rows = rows[rows["error_message"].astype(str).str.startswith(STOOD_ASIDE)]
    if rows.empty:
        return per_class
    classes = demand_class.reindex(rows["series_id"].astype(str)).to_numpy()
    out = dict(per_class)
    for cls, msg in rows.groupby(classes)["error_message"].first().items():
        if cls in out:
            name, why = out[cls]
            out[cls] = (name, f"{why}; the learned weights stood aside ({msg})")
    return out


def select_champions(
    metrics: pd.DataFrame,
    profiles: pd.DataFrame,
    settings: Settings,
    catalog: Catalog | None = None,
    barred: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One champion per backtested series, and the class champion for active short series.

    `barred` (series_id, model_name): candidates an override bars on a series. They still
    count towards the class champion (a bar on some series does not move it for the
    others), but are never chosen for those series, nor named as top-k members there;
    where the class champion itself is barred, the series' best other pool member stands
    in for it (and the margins apply against that one).
    """
    catalog = catalog or load_catalog()
    metric = settings.selection_metric
    level_metric = settings.intermittent_metric
    need = {"series_id", "model_name", "status", "n_windows", metric, level_metric}
    missing = need - set(metrics.columns)
    if missing:
        raise ValueError(f"metrics frame lacks columns {sorted(missing)}")
    order = {name: i for i, name in enumerate(catalog.candidates)}
    cols = list(need | ({"mae", "mase", "wape", "members"} & set(metrics.columns)))
    m = metrics[cols].copy()
    m["series_id"] = m["series_id"].astype(str)
    prof = profiles.drop_duplicates("series_id").set_index(profiles["series_id"].astype(str))
    demand_class = prof["demand_class"].astype(str)
    # intermittent and lumpy series: a score a forecast of zero does not win
    by_level = demand_class.reindex(m["series_id"]).isin(LEVEL_CLASSES).to_numpy()
    m["by_level"] = by_level
    m["metric"] = np.where(by_level, level_metric, metric)
    m["score"] = np.where(by_level, selection_score(m, level_metric), selection_score(m, metric))
    m = m[(m["status"] == "ok") & np.isfinite(m["score"])]
    m["_order"] = m["model_name"].map(order).fillna(len(order))
    m = m.sort_values(["series_id", "score", "_order", "model_name"], kind="stable")

    mean_demand = prof["mean_demand"].astype(float) if "mean_demand" in prof.columns else None
    quiet = no_demand_in_windows(m, mean_demand)
    heard = m[~m["series_id"].isin(quiet) | m["by_level"]]
    series_class = demand_class.reindex(heard["series_id"].unique())
    learned = frozenset(c.name for c in catalog.candidates.values() if c.is_learned)
    per_class = class_champions(heard, series_class, catalog.pool, catalog.defaults, learned)
    per_class = _learned_stood_aside(per_class, metrics, demand_class, learned)
    # a class none of whose series could be backtested: the catalog's default for it
    fitted = {
        c: (d, f"catalog default for {c}: none backtested") for c, d in catalog.defaults.items()
    }
    short = _short_series(prof, m["series_id"].unique(), fitted | per_class, metric, level_metric)
    _name_learned_short(short, m, demand_class, catalog)
    barred_keys: set[tuple[str, str]] = set()
    if barred is not None and len(barred):
        barred_keys = set(
            zip(barred["series_id"].astype(str), barred["model_name"].astype(str), strict=True)
        )
        keys = zip(m["series_id"], m["model_name"], strict=True)
        m = m[[k not in barred_keys for k in keys]]
    if m.empty:  # nothing backtested: the short series alone, in series order
        return short.sort_values("series_id", kind="stable").reset_index(drop=True)

    per = m.groupby("series_id", sort=True)
    out = pd.DataFrame(
        {
            "best": per["model_name"].first(),
            "best_score": per["score"].first(),
            "n_candidates": per.size(),
            "n_windows": per["n_windows"].max(),
        }
    )
    out["demand_class"] = demand_class.reindex(out.index).fillna("smooth")
    out["default"] = out["demand_class"].map(lambda c: per_class.get(c, (None, ""))[0])
    out["default_why"] = out["demand_class"].map(lambda c: per_class.get(c, (None, ""))[1])
    out["default_barred"] = None
    scores = m.set_index(["series_id", "model_name"])["score"]
    key = pd.MultiIndex.from_arrays([out.index, out["default"].fillna("")])
    out["default_score"] = scores.reindex(key).to_numpy()
    status = metrics.assign(series_id=metrics["series_id"].astype(str)).set_index(
        ["series_id", "model_name"]
    )["status"]
    out["default_status"] = status[~status.index.duplicated()].reindex(key).to_numpy()

    pairs = {(c, p) for c, names in catalog.pool.items() for p in names}
    row_class = demand_class.reindex(m["series_id"]).to_numpy()
    in_pool = pd.Series(
        [(c, p) in pairs for c, p in zip(row_class, m["model_name"], strict=True)], index=m.index
    )
    best_pool = m[in_pool].groupby("series_id").first()
    best_single = m[~in_pool].groupby("series_id").first()
    if barred_keys:  # a barred class champion: the series' best other pool member stands in
        hit = [(i, d) in barred_keys for i, d in zip(out.index, out["default"], strict=True)]
        hit = np.asarray(hit, dtype=bool)
        out.loc[hit, "default_barred"] = out.loc[hit, "default"]
        out.loc[hit, "default"] = best_pool["model_name"].reindex(out.index[hit]).to_numpy()
        key = pd.MultiIndex.from_arrays([out.index, out["default"].fillna("")])
        out["default_score"] = scores.reindex(key).to_numpy()
    out["pool_best"] = best_pool["model_name"].reindex(out.index)
    out["pool_score"] = best_pool["score"].reindex(out.index)
    out["single_best"] = best_single["model_name"].reindex(out.index)
    out["single_score"] = best_single["score"].reindex(out.index)
    out["quiet"] = out.index.isin(quiet)
    has_default = np.isfinite(out["default_score"])
    movable = has_default & ~out["quiet"]  # no demand, no evidence to leave the champion
    d = out["default_score"]
    # without a class champion's score a series takes its best scorer; a quiet one, whose
    # best scorer is whatever forecast least, its class's catalog default, else its best
    # pool member
    out["prior"] = out["demand_class"].map(catalog.defaults)
    prior_key = pd.MultiIndex.from_arrays([out.index, out["prior"].fillna("")])
    prior_score = scores.reindex(prior_key).to_numpy()
    scored = np.isfinite(prior_score)
    stand_in = np.where(scored, out["prior"], out["pool_best"])
    stand_in_score = np.where(scored, prior_score, out["pool_score"])
    orphan = ~has_default & out["quiet"] & pd.notna(stand_in)
    champion = np.where(has_default, out["default"], np.where(orphan, stand_in, out["best"]))
    score = np.where(has_default, d, np.where(orphan, stand_in_score, out["best_score"]))
    by_pool = movable & (out["pool_score"] < d * (1 - settings.selection_margin))
    champion = np.where(by_pool, out["pool_best"], champion)
    score = np.where(by_pool, out["pool_score"], score)
    by_single = (
        movable
        & (out["single_score"] < d * (1 - settings.single_margin))
        & (out["single_score"] < score)
    )
    out["champion"] = np.where(by_single, out["single_best"], champion)
    out["champion_score"] = np.where(by_single, out["single_score"], score)
    out["class_champion"] = np.where(
        out["default_barred"].notna(), out["default_barred"], out["default"]
    )

    ranked = m[["series_id", "model_name", "score"]]
    champ = out["champion"].reindex(ranked["series_id"]).to_numpy()
    others = ranked[ranked["model_name"].to_numpy() != champ].groupby("series_id").first()
    out["runner_up"] = others["model_name"].reindex(out.index)
    out["runner_up_score"] = others["score"].reindex(out.index)
    out["metric"] = np.where(out["demand_class"].isin(LEVEL_CLASSES), level_metric, metric)
    out["reason"] = [_reason(r, r.metric, settings) for r in out.itertuples()]
    _interval_scales(out, m)
    _name_top_k(out, m, catalog, settings.ensemble_top_k)
    _name_learned(out, m, catalog)

    out["selection_metric"] = out["metric"]
    out = out.reset_index(names="series_id")
    # each part in the warehouse's types first (VARCHAR even when all null), so a column
    # all null in one part never decides the concatenation's type
    cols = list(CHAMPION_COLUMNS)
    parts = [p[cols].astype(CHAMPION_TYPES) for p in (out, short) if len(p)]
    out = pd.concat(parts or [out[cols].astype(CHAMPION_TYPES)], ignore_index=True)
    return out.sort_values("series_id", kind="stable").reset_index(drop=True)


def _short_series(
    prof: pd.DataFrame, backtested: np.ndarray, per_class: dict, metric: str, level_metric: str
) -> pd.DataFrame:
    """Active series too short to backtest: their class champion, fitted on all they have."""
    if "lifecycle" not in prof.columns:
        return pd.DataFrame(columns=list(CHAMPION_COLUMNS))
    fit = prof[(prof["lifecycle"] == "active") & ~prof.index.isin(backtested)]
    fit = fit[fit["demand_class"].isin(list(per_class))]
    n = fit["n_periods"] if "n_periods" in fit.columns else pd.Series(np.nan, index=fit.index)
    champion = fit["demand_class"].map(lambda c: per_class[c][0])
    return pd.DataFrame(
        {
            "series_id": fit.index.astype(str),
            "champion": champion.to_numpy(),
            "selection_metric": np.where(
                fit["demand_class"].isin(LEVEL_CLASSES), level_metric, metric
            ),
            "champion_score": np.nan,
            "runner_up": None,
            "runner_up_score": np.nan,
            "n_candidates": 0,
            "n_windows": 0,
            "class_champion": champion.to_numpy(),
            "scale_mae": np.nan,
            "interval_scale": np.nan,
            "reason": [
                f"history of {k:.0f} periods is too short to backtest: the {c} class champion "
                f"{per_class[c][0]} ({per_class[c][1]}), fitted on all of it; re-selected "
                "once the series can be backtested"
                for k, c in zip(n, fit["demand_class"], strict=True)
            ],
        }
    )


def _interval_scales(out: pd.DataFrame, m: pd.DataFrame) -> None:
    """scale_mae (the MASE denominator) and the conformal scale sqrt(scale_mae * champion mae)."""
    if not {"mae", "mase"} <= set(m.columns):
        out["scale_mae"] = np.nan
        out["interval_scale"] = np.nan
        return
    row = m.set_index(["series_id", "model_name"])
    key = pd.MultiIndex.from_arrays([out.index, out["champion"]])
    mae = row["mae"][~row.index.duplicated()].reindex(key).to_numpy()
    mase = row["mase"][~row.index.duplicated()].reindex(key).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(mase > 0, mae / mase, np.nan)
    out["scale_mae"] = scale
    out["interval_scale"] = np.sqrt(scale * mae)


def _reason(r, metric: str, settings: Settings) -> str:
    if isinstance(r.default_barred, str):
        if not isinstance(r.default, str):
            return (
                f"class champion {r.default_barred} is barred by an override and no other "
                f"pool member scored: lowest {metric}"
            )
        head = f"{r.default}, standing in for class champion {r.default_barred} (barred)"
    elif r.quiet and not np.isfinite(r.default_score) and r.champion != r.best:
        if isinstance(r.default, str):
            state = r.default_status if isinstance(r.default_status, str) else "not backtested"
            head = f"class champion {r.default} has no score ({state})"
        else:
            head = f"no class champion for demand class {r.demand_class}"
        what = "its class's catalog default" if r.champion == r.prior else "its best pool member"
        return (
            f"{head} and the series (almost) no demand in its backtest windows, where the lowest "
            f"forecast scores best ({r.best}): {what}, {r.champion}"
        )
    elif r.default is None or (isinstance(r.default, float) and np.isnan(r.default)):
        return f"no class champion for demand class {r.demand_class}: lowest {metric}"
    elif not np.isfinite(r.default_score):
        state = r.default_status if isinstance(r.default_status, str) else "not backtested"
        return f"class champion {r.default} has no score ({state}): lowest {metric}"
    else:
        head = f"class champion {r.default} ({r.demand_class}: {r.default_why})"
    if r.champion == r.default:
        if r.best == r.default:
            return f"{head} has the lowest {metric}"
        if r.quiet:  # scores near 0: significant digits, not "0.000 against 0.000"
            return (
                f"kept {head}: (almost) no demand in its backtest windows, where the lowest "
                f"forecast scores best ({r.best}, {metric} {r.best_score:.3g} against "
                f"{r.default_score:.3g}) and tells nothing of the level when demand returns"
            )
        gain = 1 - r.best_score / r.default_score if r.default_score > 0 else 0.0
        return (
            f"kept {head}, {metric} {r.default_score:.3f}: best {r.best} "
            f"({r.best_score:.3f}) is {gain:.1%} better, within the margin "
            f"({settings.selection_margin:.0%} for the pool, {settings.single_margin:.0%} else)"
        )
    gain = 1 - r.champion_score / r.default_score if r.default_score > 0 else 0.0
    by_pool = isinstance(r.pool_best, str) and r.champion == r.pool_best
    margin = settings.selection_margin if by_pool else settings.single_margin
    return (
        f"{r.champion} beats {head} by {gain:.1%} on {metric} "
        f"({r.champion_score:.3f} vs {r.default_score:.3f}; margin {margin:.0%})"
    )


def _name_learned_short(
    short: pd.DataFrame, m: pd.DataFrame, classes: pd.Series, catalog: Catalog
) -> None:
    """A short series whose class champion is learned gets the class's weights: those of
    the class's series that had every member of the pool (the most members, then the most
    series)."""
    names = {c.name for c in catalog.candidates.values() if c.is_learned}
    hit = short["champion"].isin(names) if len(short) else pd.Series(dtype=bool)
    if not hit.any() or "members" not in m.columns:
        return
    rows = m[m["model_name"].isin(names) & m["members"].notna()]
    rows = rows.assign(demand_class=classes.reindex(rows["series_id"]).to_numpy())
    rows = rows.assign(size=rows["members"].astype(str).str.count(r"\|"))
    counts = rows.groupby(["demand_class", "members"]).agg(n=("size", "size"), k=("size", "max"))
    best = counts.reset_index().sort_values(["k", "n"], ascending=False)
    best = best.drop_duplicates("demand_class").set_index("demand_class")["members"]
    weights = classes.reindex(short.loc[hit, "series_id"]).map(best).to_numpy()
    idx = short.index[hit][pd.notna(weights)]
    named = short.loc[idx, "champion"] + "[" + weights[pd.notna(weights)].astype(str) + "]"
    short.loc[idx, "champion"] = named
    short.loc[idx, "class_champion"] = named


def _name_learned(out: pd.DataFrame, m: pd.DataFrame, catalog: Catalog) -> None:
    """Append the learned weights to ComboLearned champions / runners-up:
    'ComboLearned[AutoETS*0.25|AutoCES*0.35|...]', as the backtest row holds them."""
    names = {c.name for c in catalog.candidates.values() if c.is_learned}
    if not names or "members" not in m.columns:
        return
    row = m.set_index(["series_id", "model_name"])["members"]
    row = row[~row.index.duplicated()]
    for col in ("champion", "runner_up"):
        hit = out[col].isin(names)
        if not hit.any():
            continue
        key = pd.MultiIndex.from_arrays([out.index[hit], out.loc[hit, col]])
        members = row.reindex(key).to_numpy()
        ok = pd.notna(members)
        idx = out.index[hit][ok]
        out.loc[idx, col] = out.loc[idx, col] + "[" + members[ok].astype(str) + "]"
        if col == "champion":
            out.loc[idx, "reason"] = out.loc[idx, "reason"] + "; weights " + members[ok].astype(str)


def _name_top_k(out: pd.DataFrame, ranked: pd.DataFrame, catalog: Catalog, k: int) -> None:
    """Append the members to per-series top-k champions / runners-up: 'MeanTopK[A|B|C]'.

    Members are the series' k best single candidates by the selection score,
    catalog order breaking ties, exactly as the backtest combined them.
    """
    top_k_names = {c.name for c in catalog.candidates.values() if c.is_top_k}
    if not top_k_names:
        return
    singles = ranked[
        ranked["model_name"].map(
            lambda n: n not in catalog.candidates or not catalog.candidates[n].is_combination
        )
    ]
    members = singles.groupby("series_id")["model_name"].agg(lambda s: "|".join(s.iloc[:k]))
    members = members.reindex(out.index)
    for col in ("champion", "runner_up"):
        is_top = out[col].isin(top_k_names)
        out.loc[is_top, col] = out.loc[is_top, col] + "[" + members[is_top] + "]"
        if col == "champion":
            out.loc[is_top, "reason"] = (
                out.loc[is_top, "reason"] + "; members " + members[is_top].str.replace("|", ", ")
            )
