"""Learned combination weights: which forecasters suit a demand class, learned across series.

Picking each series' best candidate from a few backtest windows fits noise, and a
fixed combination cannot learn that, say, seasonal naive deserves a fifth of the
weight on one data set and none on another. So the learner pools evidence over
every series of a demand class:

- For each backtested series i, the error cross-products of the class's learner
  pool (catalog `selection.learn`, plus every plug-in that runs on the class)
  over all its backtest points, E_i[j, k] = mean_t e_tj e_tk, normalised so that
  its trace is the pool size: every series counts once, whatever its scale.
- The class weights minimise the mean combination error over the class,
  w' (mean_i E_i) w, over the simplex (w >= 0, sum 1): stacking in squared error,
  which rewards members whose errors cancel (a zero forecast never wins it). A
  member whose errors another member's already explain gets no weight.
- Nested shrinkage, per class: the weights used are lambda times the learned ones plus
  (1 - lambda) spread equally over the members of the class champion among the fixed
  combinations of the class's selection pool (chosen as selection.py chooses it).
  lambda is the value of the catalog's grid (`selection.shrink`) whose weights, learned
  on the backtest points dated before the last window's origin only, score best on the
  last window (lambda 0 scored as the champion's own forecast); the weights then used
  are learned on every window. A lambda above 0 must beat the champion on the last
  window by evidence, not by chance: the mean over the class's series of the log ratio
  of its score to the champion's must lie `MIN_EVIDENCE` standard errors or more below
  zero (a paired test across series); the best lambda that does is chosen. lambda 0 is
  the class champion: ComboLearned's rows are skipped, saying so, and selection keeps
  the champion as if ComboLearned had not run.
- With lambda above 0, the combination, candidate `ComboLearned`, is scored on every
  series like any candidate, with no leakage: series i is scored with the weights
  learned from the *other* series of its class (leave-one-series-out), shrunk by the
  class's lambda, so its own backtest noise never flatters its score; selection makes it
  the class champion (its lambda was chosen on evidence the all-window score lacks).
- Members with less than `MIN_WEIGHT` of the class weight are left out and the
  weights learned again over the rest (each member is a refit of every series).
- A series forecasts with the class weights learned from every series, over the
  members it has (a member that did not run on it is left out and the weights
  are learned again over the rest), shrunk. Its row's `members` holds the choice and
  them: `lambda=0.5:ComboMedian4|AutoETS*0.251|AutoCES*0.349|...`, which the registry
  keeps and the forecast step rebuilds the combination from.

A class with fewer than `MIN_LEARN_SERIES` series with the whole pool learns
its weights with the classes that share its learner pool (erratic with smooth,
lumpy with intermittent); if they have too few too, it gets no learned weights
(its `ComboLearned` rows are skipped, saying why).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from demandcast.metrics import METRIC_COLUMNS, score_arrays
from demandcast.selection import (
    LEVEL_CLASSES,
    STOOD_ASIDE,
    class_champions,
    class_mean,
    class_scale,
)

LEARNED = "ComboLearned"
MIN_WEIGHT = 0.05
"""A member with less of the class weight is left out (the rest re-weighted): each member
is a refit of every series at forecast time, and a few percent of weight buys nothing."""
MIN_LEARN_SERIES = 20
"""Series with every pool member a class needs before its weights are learned."""
MIN_EVIDENCE = 2.0
"""Standard errors by which a lambda above 0 must beat the class champion on the last
window (mean paired log score ratio over the class's series; the paired difference of
scores for intermittent and lumpy series, selection.class_scale) to be chosen. On M3 monthly
the best lambda's gain was 1.0 standard error (0.6 % in geometric mean) and lost on the
held-out future; on M1 4.0 (2.7 %) and won there."""
_ITERATIONS = 500
LAMBDA_NOTE = "lambda="
"""A learned row's members start with 'lambda=0.5:ComboMean|': the shrinkage the last
backtest window chose and the class champion it shrinks towards."""


def weights_on_simplex(
    a: np.ndarray, mask: np.ndarray | None = None, iterations: int = _ITERATIONS
) -> np.ndarray:
    """argmin_w w' A w over the simplex, for each of a stack of PSD matrices A (n, k, k),
    with w_j = 0 where `mask` (n, k) is False: projected gradient descent, step 1 / L."""
    n, k, _ = a.shape
    mask = np.ones((n, k), dtype=bool) if mask is None else mask
    a = a * (mask[:, :, None] & mask[:, None, :])
    w = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
    lipschitz = 2 * np.linalg.eigvalsh(a).max(axis=1) + 1e-12
    for _ in range(iterations):
        grad = 2 * np.einsum("nij,nj->ni", a, w)
        w = project_simplex(np.where(mask, w - grad / lipschitz[:, None], -1e9))
    return w


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Each row's Euclidean projection onto the probability simplex."""
    n, k = v.shape
    u = -np.sort(-v, axis=1)
    css = np.cumsum(u, axis=1) - 1
    rho = (u - css / np.arange(1, k + 1) > 0).sum(axis=1)
    theta = css[np.arange(n), rho - 1] / rho
    return np.maximum(v - theta[:, None], 0.0)


def format_weights(names: list[str], w: np.ndarray, digits: int = 3) -> str:
    """'A*0.251|B*0.749': the members with weight, rounded, largest first."""
    keep = [(names[j], w[j]) for j in np.argsort(-w, kind="stable") if round(w[j], digits) > 0]
    total = sum(x for _, x in keep)
    return "|".join(f"{n}*{x / total:.{digits}f}" for n, x in keep)


def parse_weights(members: list[str]) -> tuple[list[str], np.ndarray]:
    """['A*0.25', 'B*0.75'] -> (['A', 'B'], [0.25, 0.75]); a member without a weight: 1.
    The shrinkage note ('lambda=0.5:ComboMean', written first) is not a member."""
    names, w = [], []
    for m in members:
        if m.startswith(LAMBDA_NOTE):
            continue
        name, _, weight = m.partition("*")
        names.append(name)
        w.append(float(weight) if weight else 1.0)
    return names, np.asarray(w, dtype=float)


@dataclass
class _Group:
    ids: np.ndarray
    classes: np.ndarray
    y: np.ndarray  # (series, T)
    f: np.ndarray  # (series, T, pool) NaN where a member did not run or failed
    pool: dict  # demand class -> member names (the columns of f for that class)
    columns: list[str]
    s_mae: np.ndarray
    s_mse: np.ndarray
    n_win: int
    combos: dict  # the class pools' fixed combinations: name -> backtest forecast (series, T)


@dataclass
class Stacking:
    """Collects the pool members' backtest forecasts group by group (only the pool's
    columns and the class pools' fixed combinations outlive a group), then learns the
    weights per class, shrinks them towards the class champion and scores ComboLearned.

    Nested shrinkage: per class, the champion among the fixed combinations of its selection
    pool (`champions`, chosen as selection.py chooses it) is the target, and the weights
    used are lambda times the learned ones plus (1 - lambda) spread equally over the
    champion's members. lambda is the value of `grid` (catalog `selection.shrink`) whose
    weights, learned on the backtest points dated before the last window's origin, score
    best on the last window; the weights then used are learned on every window. lambda 0
    is the class champion itself: ComboLearned is then skipped and selection keeps the
    champion. Without `champions` (or a grid of 1 alone) the weights are learned alone."""

    pools: dict[str, tuple[str, ...]]
    champions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    grid: tuple[float, ...] = (1.0,)
    step: int | None = None
    metrics: tuple[str, str] = ("mase", "rmsse")
    defaults: dict[str, str] = field(default_factory=dict)
    groups: list[_Group] = field(default_factory=list)
    weights: dict[str, tuple[list[str], np.ndarray, int]] = field(default_factory=dict)
    chosen: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_catalog(cls, catalog, names: list[str], settings=None) -> Stacking:
        """The learner pools among `names` (the single candidates that run), the fixed
        combinations of the selection pools, the shrinkage grid and (from `settings`) the
        backtest's step and selection metrics."""
        fixed = {
            n: c
            for n, c in catalog.candidates.items()
            if c.is_combination and not c.is_top_k and not c.is_learned
        }
        champions = {c: tuple(p for p in pool if p in fixed) for c, pool in catalog.pool.items()}
        members = {n: tuple(fixed[n].members) for p in champions.values() for n in p}
        kw = {}
        if settings is not None:
            kw = {
                "step": settings.step_size,
                "metrics": (settings.selection_metric, settings.intermittent_metric),
            }
        pools = catalog.learner_pools(names)
        return cls(pools, champions, members, catalog.shrink, defaults=dict(catalog.defaults), **kw)

    def add(
        self,
        ids: np.ndarray,
        classes: np.ndarray,
        names: list[str],
        y: np.ndarray,
        f: np.ndarray,
        failed: np.ndarray,
        s_mae: np.ndarray,
        s_mse: np.ndarray,
        n_win: int,
        combos: dict[str, np.ndarray] | None = None,
    ) -> None:
        """One backtest group: y (series, T), f (series, T, names), failed (series, names),
        `combos`: the fixed combinations' backtest forecasts (series, T) by name."""
        columns = sorted({m for c in set(classes) for m in self.pools.get(str(c), ())})
        columns = [m for m in columns if m in names]
        idx = [names.index(m) for m in columns]
        sub = f[:, :, idx].astype(np.float64, copy=True)
        sub[np.broadcast_to(failed[:, None, idx], sub.shape)] = np.nan
        wanted = {p for c in set(classes) for p in self.champions.get(str(c), ())}
        kept = {k: v for k, v in (combos or {}).items() if k in wanted}
        self.groups.append(
            _Group(ids, classes, y, sub, self.pools, columns, s_mae, s_mse, n_win, kept)
        )

    def finish(self, calibration=None) -> pd.DataFrame:
        """Learn the class weights and return ComboLearned's backtest rows (with `members`);
        its scaled residuals go to `calibration` like any candidate's."""
        per_class, out = self._parts(self.pools)
        early = {
            c: [(g, r, p, e[:, self._early(g.n_win, e.shape[1])]) for g, r, p, e in parts]
            for c, parts in per_class.items()
        }
        early = {c: [p for p in parts if p[3].shape[1]] for c, parts in early.items()}
        shared, shared_early = self._shared(per_class), self._shared(early)
        fixed = self._fixed_champions()
        for cls, parts in sorted(per_class.items()):
            key = self.pools[cls]
            out.append(
                self._learn_class(
                    cls,
                    parts,
                    calibration,
                    shared[key],
                    early.get(cls, []),
                    shared_early.get(key, (0.0, 0)),
                    fixed.get(cls),
                )
            )
        self.groups.clear()
        frames = [o for o in out if len(o)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _shared(self, per_class: dict) -> dict[tuple, tuple[np.ndarray, int]]:
        """A class with too few series learns with the classes that share its pool."""
        shared: dict[tuple, tuple[np.ndarray, int]] = {}
        for cls, parts in per_class.items():
            if not parts:
                continue
            norm, _, _, complete, _ = _matrices(list(self.pools[cls]), parts)
            total, n = shared.get(self.pools[cls], (0.0, 0))
            shared[self.pools[cls]] = (total + norm[complete].sum(axis=0), n + int(complete.sum()))
        return shared

    def _early(self, n_win: int, t: int) -> np.ndarray:
        """The backtest columns dated before the last window's origin: the earlier windows'
        steps up to it (windows `step` apart overlap the last one)."""
        h = t // n_win
        step = self.step or h
        return np.array(
            [w * h + s for w in range(n_win - 1) for s in range(min(h, (n_win - 1 - w) * step))],
            dtype=int,
        )

    def _fixed_champions(self) -> dict[str, str]:
        """Per class, the class champion among the fixed combinations of its pool, by the
        rule selection.py applies (lowest mean score over the class's series, on the
        class's scale)."""
        if not self.champions:
            return {}
        frames, ids, classes = [], [], []
        for g in self.groups:
            level = np.isin(g.classes.astype(str), LEVEL_CLASSES)
            ids.append(g.ids.astype(str))
            classes.append(g.classes.astype(str))
            for name, fc in g.combos.items():
                score = np.where(level, *(self._score(g.y, fc, g.s_mae, g.s_mse)))
                # a series without demand in its windows chooses nothing in a smooth or
                # erratic class (selection.no_demand_in_windows)
                heard = (g.y != 0).any(axis=1) | level
                ok = np.isfinite(fc).all(axis=1) & np.isfinite(score) & heard
                frames.append(
                    pd.DataFrame({"series_id": g.ids[ok].astype(str), "model_name": name}).assign(
                        score=score[ok]
                    )
                )
        if not frames:
            return {}
        series_class = pd.Series(np.concatenate(classes), index=np.concatenate(ids))
        champs = class_champions(
            pd.concat(frames, ignore_index=True), series_class, self.champions, self.defaults
        )
        return {c: name for c, (name, _) in champs.items()}

    def _score(self, y, fc, s_mae, s_mse) -> tuple[np.ndarray, np.ndarray]:
        """Per series (level-class metric, other classes' metric) of one forecast (series, t)."""
        res = score_arrays(y, fc[:, :, None], s_mae, s_mse)
        one = lambda m: np.abs(res[m][:, 0]) if m == "bias" else res[m][:, 0]  # noqa: E731
        return one(self.metrics[1]), one(self.metrics[0])

    def _prior(self, pool: list[str], champion: str | None) -> np.ndarray | None:
        """The class champion's members, equally weighted, over `pool`; None when it is not
        a combination of members of the pool."""
        members = self.members.get(champion or "", ())
        if not members or any(m not in pool for m in members):
            return None
        return np.isin(pool, members) / len(members)

    def _choose(
        self,
        cls: str,
        pool: list[str],
        parts: list,
        early: list,
        shared_early: tuple,
        champion: str | None,
        prior: np.ndarray | None,
    ) -> tuple[float, str]:
        """lambda from the grid, and why: the weights learned on the points before the last
        window's origin, shrunk by each lambda, scored on the last window (lambda 0: the
        class champion's own forecast); the lowest mean score (selection.class_scale) among
        lambda 0 and the lambdas that beat it by `MIN_EVIDENCE` wins, ties the smaller lambda.
        A champion whose members are not all in the learner pool (ComboSimple) cannot be
        shrunk towards: the grid is then 0 and 1 (the champion or the learned weights alone)."""
        if champion is None:
            return max(self.grid), "no fixed combination of the pool ran: learned alone"
        grid = self.grid
        if prior is None:  # nothing to shrink towards: the learned weights alone or the champion
            grid = tuple(lam for lam in self.grid if lam in (0, 1))
            if len(grid) < 2:
                return 0.0, f"the members of {champion} are not all in the {cls} learner pool"
        if early:
            norm, _, _, complete, _ = _matrices(pool, early)
            total, n = norm[complete].sum(axis=0), int(complete.sum())
        else:
            total, n = 0.0, 0
        if n < MIN_LEARN_SERIES:
            total, n = shared_early
        if n < MIN_LEARN_SERIES:
            return 0.0, f"{n} series with earlier backtest windows; {MIN_LEARN_SERIES} needed"
        w_early = weights_on_simplex(np.asarray(total)[None] / n)[0]
        level = cls in LEVEL_CLASSES
        everyone = np.ones((1, len(pool)), dtype=bool)
        scores: dict[float, list[np.ndarray]] = {lam: [] for lam in grid}
        for g, rows, names, e in parts:
            if champion not in g.combos:
                continue
            h = e.shape[1] // g.n_win
            last = slice((g.n_win - 1) * h, g.n_win * h)
            y = g.y[rows][:, last]
            f = e[:, last] + y[:, :, None]
            pos = [pool.index(m) for m in names]
            for lam in grid:
                if lam == 0:
                    fc = g.combos[champion][rows][:, last]
                else:
                    fc = _weighted(f, _blend(lam, w_early[None], prior, everyone)[0][pos])
                s = self._score(y, fc, g.s_mae[rows], g.s_mse[rows])[0 if level else 1]
                # a last window without demand: no evidence, but in a level class
                heard = (y != 0).any(axis=1) | level
                scores[lam].append(np.where(np.isfinite(fc).all(axis=1) & heard, s, np.nan))
        if not scores[grid[0]]:
            return 0.0, f"the class champion {champion} has no backtest forecasts"
        table = np.stack([np.concatenate(scores[lam]) for lam in grid])
        table = table[:, np.isfinite(table).all(axis=0)]
        if table.shape[1] < MIN_LEARN_SERIES:
            return 0.0, f"{table.shape[1]} series scored on the last window"
        gm = class_mean(table, cls, axis=1)
        evidence = _evidence(class_scale(table, cls), grid)
        eligible = (np.asarray(grid) == 0) | (evidence >= MIN_EVIDENCE)
        best = int(np.argmin(np.where(eligible, gm, np.inf)))  # the first (smallest) on ties
        text = ", ".join(f"{lam:g}: {s:.4f}" for lam, s in zip(grid, gm, strict=True))
        self.chosen[cls] = {
            "lambda": grid[best],
            "champion": champion,
            "last_window": dict(zip(grid, gm.tolist(), strict=True)),
            "evidence": dict(zip(grid, evidence.tolist(), strict=True)),
            "series": table.shape[1],
            "early_weights": format_weights(pool, w_early),
        }
        top = int(np.argmin(gm))
        if top != best:
            text += (
                f"; lambda {grid[top]:g} beats the champion by {evidence[top]:.1f} standard "
                f"errors, {MIN_EVIDENCE:g} needed"
            )
        return grid[best], (
            f"last-window score by lambda over {table.shape[1]} {cls} series ({text})"
        )

    def _parts(self, pools: dict) -> tuple[dict, list[pd.DataFrame]]:
        per_class: dict[str, list[tuple[_Group, np.ndarray, list[str], np.ndarray]]] = {}
        skipped = []
        for g in self.groups:
            for cls in np.unique(g.classes):
                pool = [m for m in pools.get(str(cls), ()) if m in g.columns]
                rows = np.nonzero(g.classes == cls)[0]
                if len(pool) < 2:
                    why = f"fewer than 2 members of the {cls} learner pool ran on these series"
                    skipped.append(_skipped(g.ids[rows], g.n_win, why))
                    continue
                cols = [g.columns.index(m) for m in pool]
                e = g.f[rows][:, :, cols] - g.y[rows][:, :, None]
                per_class.setdefault(str(cls), []).append((g, rows, pool, e))
        return per_class, skipped

    def _learn_class(
        self,
        cls: str,
        parts: list,
        calibration,
        shared: tuple[np.ndarray, int],
        early: list,
        shared_early: tuple,
        champion: str | None,
    ) -> pd.DataFrame:
        pool = list(self.pools[cls])
        norm, present, usable, complete, refs = _matrices(pool, parts)
        n_complete = int(complete.sum())
        total = norm[complete].sum(axis=0)
        if n_complete < MIN_LEARN_SERIES:  # learn with the classes that share the pool
            total, n_complete = shared
        if n_complete < MIN_LEARN_SERIES:
            why = (
                f"{n_complete} series of the classes with the {cls} learner pool have every "
                f"member of it; {MIN_LEARN_SERIES} are needed to learn weights"
            )
            return _skipped_all(refs, why)
        prior = self._prior(pool, champion)
        lam, why = self._choose(cls, pool, parts, early, shared_early, champion, prior)
        learned = weights_on_simplex(total[None] / n_complete)[0]
        if lam == 0:
            self.weights[cls] = (pool, prior if prior is not None else learned, n_complete)
            why = f"the class champion {champion} forecasts the {cls} class ({why})"
            return _skipped_all(refs, STOOD_ASIDE + why)
        everyone = np.ones((1, len(pool)), dtype=bool)
        self.weights[cls] = (pool, _blend(lam, learned[None], prior, everyone)[0], n_complete)
        token = f"{LAMBDA_NOTE}{lam:g}:{champion}|" if champion is not None else ""
        # per series: leave-one-series-out weights (scored) and the class weights over the
        # members it has (forecast)
        own = np.where(complete[:, None, None], norm, 0.0)
        loo = (total[None] - own) / (n_complete - complete.astype(float))[:, None, None]
        # the members the weights keep (MIN_WEIGHT of the learned ones, or the champion's):
        # a series refits only those
        wanted = learned >= MIN_WEIGHT
        if prior is not None:
            wanted |= prior > 0
        keep = present & wanted[None, :]
        keep = np.where((keep.sum(axis=1) >= 2)[:, None], keep, present)
        w_score = _blend(lam, weights_on_simplex(loo, keep), prior, keep)
        w_use = weights_on_simplex(np.broadcast_to(total / n_complete, loo.shape), keep)
        w_use = _blend(lam, w_use, prior, keep)
        rows_out, at = [], 0
        for g, rows, names, e in refs:
            n = len(rows)
            pos = [pool.index(m) for m in names]
            ws, wu = w_score[at : at + n][:, pos], w_use[at : at + n][:, pos]
            ok = usable[at : at + n]
            at += n
            f = np.nan_to_num(e, nan=0.0) + g.y[rows][:, :, None]  # members' forecasts
            fc = np.einsum("ntj,nj->nt", np.where(np.isfinite(e), f, 0.0), ws)
            fc[~ok] = np.nan
            res = score_arrays(g.y[rows], fc[:, :, None], g.s_mae[rows], g.s_mse[rows])
            frame = pd.DataFrame(
                {"series_id": g.ids[rows], "model_name": LEARNED, "n_windows": g.n_win}
            )
            for col in METRIC_COLUMNS:
                frame[col] = res[col][:, 0]
            good = ok & np.isfinite(res["mae"][:, 0])
            frame["status"] = np.where(good, "ok", "skipped")
            frame["error_message"] = np.where(
                good, None, "fewer than 2 members of the learner pool ran on this series"
            )
            frame["members"] = [
                token + format_weights(names, wu[i]) if good[i] else None for i in range(n)
            ]
            if calibration is not None and good.any():
                calibration.add(
                    g.classes[rows][good],
                    [LEARNED],
                    g.y[rows][good],
                    fc[good][:, :, None],
                    g.s_mae[rows][good],
                    res["mae"][good],
                    g.n_win,
                    ids=g.ids[rows][good],
                )
            rows_out.append(frame)
        return pd.concat(rows_out, ignore_index=True)


def _evidence(scaled: np.ndarray, grid: tuple[float, ...]) -> np.ndarray:
    """Per lambda, by how many standard errors its mean score over the series (on the
    class's scale, selection.class_scale: the log for smooth and erratic series) lies below
    lambda 0's (a paired comparison, series by series); inf without lambda 0 in the grid
    (nothing to beat), 0 for lambda 0 itself."""
    if 0 not in grid:
        return np.full(len(grid), np.inf)
    d = scaled - scaled[grid.index(0)]
    se = d.std(axis=1, ddof=1) / np.sqrt(d.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, -d.mean(axis=1) / se, np.where(d.mean(axis=1) < 0, np.inf, 0.0))
    return t


def _matrices(pool: list[str], parts: list) -> tuple:
    """Every series' error products over the class pool, normalised to trace k (a member
    that did not run on a series is absent there): (norm, present, usable, complete, refs)."""
    k = len(pool)
    mats, present, refs = [], [], []
    for g, rows, names, e in parts:
        ok = np.isfinite(e).all(axis=1)  # (series, members)
        e0 = np.where(np.isfinite(e), e, 0.0)
        prod = np.einsum("ntj,ntk->njk", e0, e0) / e.shape[1]
        full = np.zeros((len(rows), k, k))
        have = np.zeros((len(rows), k), dtype=bool)
        pos = [pool.index(m) for m in names]
        full[np.ix_(np.arange(len(rows)), pos, pos)] = prod
        have[:, pos] = ok
        mats.append(full)
        present.append(have)
        refs.append((g, rows, names, e))
    mats = np.concatenate(mats)
    present = np.concatenate(present)
    mats = np.where(present[:, :, None] & present[:, None, :], mats, 0.0)
    trace = np.einsum("njj->n", mats) / np.maximum(present.sum(axis=1), 1)
    usable = (present.sum(axis=1) >= 2) & (trace > 0)
    scaled = mats / np.where(trace > 0, trace, 1)[:, None, None]
    norm = np.where(usable[:, None, None], scaled, 0.0)
    complete = usable & present.all(axis=1)
    return norm, present, usable, complete, refs


def _weighted(f: np.ndarray, w: np.ndarray) -> np.ndarray:
    """f (series, t, k) combined with weights w (k,) over each series' members that ran
    (NaN where none did)."""
    ok = np.isfinite(f).all(axis=1)
    ww = ok * w[None, :]
    total = ww.sum(axis=1, keepdims=True)
    ww = ww / np.where(total > 0, total, 1)
    fc = np.einsum("ntj,nj->nt", np.where(np.isfinite(f), f, 0.0), ww)
    fc[total[:, 0] <= 0] = np.nan
    return fc


def _blend(lam: float, w: np.ndarray, prior: np.ndarray | None, mask: np.ndarray) -> np.ndarray:
    """lam * w + (1 - lam) * the prior's weights over the members in `mask` (rows: series),
    renormalised; w alone where no prior member is in the mask."""
    if prior is None or lam >= 1:
        return w
    p = prior[None, :] * mask
    n = p.sum(axis=1, keepdims=True)
    out = np.where(n > 0, lam * w + (1 - lam) * p / np.where(n > 0, n, 1), w)
    return out / out.sum(axis=1, keepdims=True)


def _skipped_all(refs: list, why: str) -> pd.DataFrame:
    return pd.concat([_skipped(g.ids[rows], g.n_win, why) for g, rows, _, _ in refs])


def _skipped(ids: np.ndarray, n_win: int, why: str) -> pd.DataFrame:
    frame = pd.DataFrame({"series_id": ids, "model_name": LEARNED, "n_windows": n_win})
    for col in METRIC_COLUMNS:
        frame[col] = np.nan
    frame["status"] = "skipped"
    frame["error_message"] = why
    frame["members"] = None
    return frame
