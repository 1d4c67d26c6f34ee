"""Champion selection: the candidate each series is forecast with, and why.

Picking each series' lowest backtest error fits the noise of a three-window
backtest (DESIGN.md, Principles). So every demand class has a strong default
in catalog.yml (a robust combination for smooth and erratic series, an
intermittent-demand combination for intermittent and lumpy ones), and a
series leaves its default only when the best candidate's score is lower by
more than `selection_margin` (relative). Combinations, including each
series' own top-k mean and median, compete as ordinary candidates.

Ties are broken by catalog order, then name, so a run is reproducible.
A per-series top-k combination is named with its members,
`MeanTopK[AutoETS|AutoTheta|SESOptimized]`, which is all the forecast step
needs to rebuild it.
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
    "reason",
)
_MEMBERS_RE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_.]*)\[(?P<members>[^\]]+)\]$")


def parse_champion(champion: str) -> tuple[str, list[str]]:
    """'MeanTopK[A|B]' -> ('MeanTopK', ['A', 'B']); a plain name -> (name, [])."""
    match = _MEMBERS_RE.match(champion)
    if match is None:
        return champion, []
    return match["name"], match["members"].split("|")


def select_champions(
    metrics: pd.DataFrame,
    profiles: pd.DataFrame,
    settings: Settings,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """One champion per backtested series (with at least one scored candidate)."""
    catalog = catalog or load_catalog()
    metric = settings.selection_metric
    need = {"series_id", "model_name", "status", "n_windows", metric}
    missing = need - set(metrics.columns)
    if missing:
        raise ValueError(f"metrics frame lacks columns {sorted(missing)}")
    order = {name: i for i, name in enumerate(catalog.candidates)}
    m = metrics[list(need)].copy()
    m["score"] = selection_score(m, metric)
    m = m[(m["status"] == "ok") & np.isfinite(m["score"])]
    if m.empty:
        return pd.DataFrame(columns=list(CHAMPION_COLUMNS))
    m["series_id"] = m["series_id"].astype(str)
    m["_order"] = m["model_name"].map(order).fillna(len(order))
    m = m.sort_values(["series_id", "score", "_order", "model_name"], kind="stable")

    prof = profiles.drop_duplicates("series_id").set_index(profiles["series_id"].astype(str))
    per = m.groupby("series_id", sort=True)
    out = pd.DataFrame(
        {
            "best": per["model_name"].first(),
            "best_score": per["score"].first(),
            "n_candidates": per.size(),
            "n_windows": per["n_windows"].max(),
        }
    )
    out["demand_class"] = prof["demand_class"].reindex(out.index).fillna("smooth")
    out["default"] = out["demand_class"].map(catalog.defaults)
    scores = m.set_index(["series_id", "model_name"])["score"]
    key = pd.MultiIndex.from_arrays([out.index, out["default"].fillna("")])
    out["default_score"] = scores.reindex(key).to_numpy()
    status = metrics.assign(series_id=metrics["series_id"].astype(str)).set_index(
        ["series_id", "model_name"]
    )["status"]
    out["default_status"] = status[~status.index.duplicated()].reindex(key).to_numpy()

    margin = settings.selection_margin
    has_default = np.isfinite(out["default_score"])
    switch = has_default & (out["best_score"] < out["default_score"] * (1 - margin))
    keep = has_default & ~switch
    out["champion"] = np.where(keep, out["default"], out["best"])
    out["champion_score"] = np.where(keep, out["default_score"], out["best_score"])

    ranked = m[["series_id", "model_name", "score"]]
    champ = out["champion"].reindex(ranked["series_id"]).to_numpy()
    others = ranked[ranked["model_name"].to_numpy() != champ].groupby("series_id").first()
    out["runner_up"] = others["model_name"].reindex(out.index)
    out["runner_up_score"] = others["score"].reindex(out.index)
    out["reason"] = [
        _reason(r, metric, margin) for r in out.itertuples()
    ]  # one string per series; no model fitting here
    _name_top_k(out, m, catalog, settings.ensemble_top_k)

    out["selection_metric"] = metric
    out = out.reset_index(names="series_id")
    out["n_candidates"] = out["n_candidates"].astype("int64")
    out["n_windows"] = out["n_windows"].astype("int64")
    for col in ("series_id", "champion", "selection_metric", "runner_up", "reason"):
        out[col] = out[col].astype("string")  # VARCHAR in the warehouse, even when all null
    return out[list(CHAMPION_COLUMNS)]


def _reason(r, metric: str, margin: float) -> str:
    if r.default is None or (isinstance(r.default, float) and np.isnan(r.default)):
        return f"no default for demand class {r.demand_class}: lowest {metric}"
    if not np.isfinite(r.default_score):
        state = r.default_status if isinstance(r.default_status, str) else "not backtested"
        return f"default {r.default} has no score ({state}): lowest {metric}"
    if r.best == r.default:
        return f"default {r.default} ({r.demand_class}) has the lowest {metric}"
    gain = 1 - r.best_score / r.default_score if r.default_score > 0 else 0.0
    if r.champion == r.default:
        return (
            f"kept default {r.default} ({r.demand_class}, {metric} {r.default_score:.3f}): "
            f"best {r.best} ({r.best_score:.3f}) is {gain:.1%} better, "
            f"within the {margin:.0%} margin"
        )
    return (
        f"{r.best} beats default {r.default} ({r.demand_class}) by {gain:.1%} on {metric} "
        f"({r.best_score:.3f} vs {r.default_score:.3f}; margin {margin:.0%})"
    )


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
