"""The backtest race: compute on the candidates that can win.

Most of a catalog cannot forecast a given series: selection picks a combination
from the demand class's pool (or ComboLearned, over its learner pool), and a
single candidate replaces it on a series only when it beats it by
`single_margin`. Backtesting every candidate on every series in every window buys
nothing for the others, and some are the costliest (AutoARIMA on weekly data is
half the backtest's CPU). So the backtest races them:

- **Contenders** (catalog.contenders): per demand class, the members of the class's
  selection pool and default, and of its learner pool with the plug-ins. They run
  on every series.
- **Raced**: every other candidate that applies to the class. It runs only on the
  class's **raced series**: a share `race_share` of its series (at least
  `MIN_SCOUT_SERIES`), chosen by a hash of the series id, so a series is raced or
  not whatever the batches, the run order or the other series.
- After the raced series, a raced candidate is **promoted** for the class (it then
  runs on every series of the class too) when the evidence says it can win: it
  beats every fixed combination of the class pool by `single_margin` on at least
  `PROMOTE_WINS` raced series, the only way selection could pick it.

  A raced candidate does not join ComboLearned's learner pool on the raced
  series' evidence: weights over some 40 candidates learned on a few dozen series
  fit their noise (on M3 such promotions cost sMAPE 13.71 against 13.47).
- On the other series a raced candidate that was not promoted gets a `skipped` row
  that says so; selection ignores skipped rows.

A class whose pool has no contender among the candidates that run (a hand-picked
candidate list) is not raced: every candidate runs on every series.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from demandcast.catalog import Candidate, Catalog
from demandcast.config import Settings
from demandcast.metrics import selection_score
from demandcast.progress import emit

MIN_SCOUT_SERIES = 30
"""Raced series a demand class keeps at the least (all of them when it has fewer)."""
PROMOTE_WINS = 2
"""Raced series on which beating the class pool by single_margin promotes a candidate."""


def _rank(series_id: str) -> str:
    return hashlib.blake2b(series_id.encode(), digest_size=8).hexdigest()


@dataclass
class Race:
    """Which series run every candidate, which candidates are raced per class, and (after
    `decide`) which were promoted and why."""

    scouts: frozenset[str]
    classes: dict[str, str]  # series id -> demand class, every eligible series
    raced: dict[str, frozenset[str]]
    promoted: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def plan(
        cls,
        profiles: pd.DataFrame,
        settings: Settings,
        catalog: Catalog,
        candidates: list[Candidate],
    ) -> Race:
        """The race of a run over every series it may backtest (`profiles`)."""
        prof = profiles.drop_duplicates("series_id")
        eligible = prof["is_backtestable"].fillna(False).astype(bool) & (
            prof["lifecycle"] != "discontinued"
        )
        classes = dict(
            zip(
                prof.loc[eligible, "series_id"].astype(str),
                prof.loc[eligible, "demand_class"].astype(str),
                strict=True,
            )
        )
        singles = [c for c in candidates if not c.is_combination]
        raced = {}
        for demand_class in sorted(set(classes.values())):
            contenders = catalog.contenders(demand_class, candidates)
            if not contenders:
                continue
            names = {
                c.name
                for c in singles
                if (demand_class in c.classes or not settings.route_by_class)
                and c.name not in contenders
            }
            if names:
                raced[demand_class] = frozenset(names)
        scouts: set[str] = set()
        share = float(settings.race_share)
        by_class: dict[str, list[str]] = {}
        for sid, demand_class in classes.items():
            by_class.setdefault(demand_class, []).append(sid)
        for demand_class, ids in by_class.items():
            if demand_class not in raced or share >= 1:
                scouts.update(ids)
                continue
            n = 0 if share <= 0 else max(math.ceil(share * len(ids)), MIN_SCOUT_SERIES)
            scouts.update(sorted(ids, key=_rank)[:n])
        return cls(frozenset(scouts), classes, raced)

    @property
    def active(self) -> bool:
        """Whether some series skip some raced candidate."""
        return bool(self.raced) and len(self.scouts) < len(self.classes)

    def runs(self, name: str, demand_class: str, scout: bool) -> tuple[bool, str]:
        """Whether a candidate runs on a series of the class (a raced series or not)."""
        if scout or name not in self.raced.get(demand_class, ()):
            return True, ""
        if name in self.promoted.get(demand_class, {}):
            return True, ""
        n = sum(1 for s in self.scouts if self.classes.get(s) == demand_class)
        return False, (
            f"not a contender for {demand_class} series: raced on {n} of them, "
            "it did not beat the class pool there"
        )

    def decide(self, rows: pd.DataFrame, settings: Settings, catalog: Catalog) -> None:
        """Promote the raced candidates the raced series' backtest (`rows`) says can win."""
        promoted: dict[str, dict[str, str]] = {}
        if len(rows):
            self._outright(rows, settings, catalog, promoted)
        self.promoted = promoted
        if self.active:
            n_rest = len(self.classes) - len(self.scouts)
            said = "; ".join(
                f"{c}: {', '.join(f'{n} ({why})' for n, why in sorted(p.items()))}"
                for c, p in sorted(promoted.items())
            )
            emit(
                f"backtest race: {len(self.scouts):,} raced series ran every candidate; "
                f"on the other {n_rest:,} the raced candidates run only where promoted"
                + (f"; promoted: {said}" if said else "; none promoted")
            )

    def _outright(
        self, rows: pd.DataFrame, settings: Settings, catalog: Catalog, promoted: dict
    ) -> None:
        ok = rows[rows["status"] == "ok"].copy()
        ok["series_id"] = ok["series_id"].astype(str)
        ok["score"] = selection_score(ok, settings.selection_metric)
        ok["demand_class"] = ok["series_id"].map(self.classes)
        wide = ok.pivot_table(
            index="series_id", columns="model_name", values="score", aggfunc="first"
        )
        for demand_class, raced in self.raced.items():
            ids = [s for s in wide.index if self.classes.get(s) == demand_class]
            fixed = [
                p
                for p in catalog.pool.get(demand_class, ())
                if p in wide.columns and not catalog.candidates[p].is_learned
            ]
            if not ids or not fixed:
                continue
            best = wide.loc[ids, fixed].min(axis=1, skipna=True).to_numpy()
            limit = best * (1 - settings.single_margin)
            for name in sorted(raced):
                if name not in wide.columns:
                    continue
                wins = int(np.sum(wide.loc[ids, name].to_numpy() < limit))
                if wins >= PROMOTE_WINS:
                    promoted.setdefault(demand_class, {}).setdefault(
                        name, f"beat the {demand_class} pool by single_margin on {wins} series"
                    )
