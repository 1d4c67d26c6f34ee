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
- The combination, candidate `ComboLearned`, is then scored on every series like
  any candidate, with no leakage: series i is scored with the weights learned
  from the *other* series of its class (leave-one-series-out), so its own
  backtest noise never flatters its score. Selection then compares it with the
  fixed combinations of the class pool by the same geometric-mean score and
  keeps whichever the evidence favours.
- Members with less than `MIN_WEIGHT` of the class weight are left out and the
  weights learned again over the rest (each member is a refit of every series).
- A series forecasts with the class weights learned from every series, over the
  members it has (a member that did not run on it is left out and the weights
  are learned again over the rest). Its row's `members` holds them:
  `AutoETS*0.251|AutoCES*0.349|...`, which the registry keeps and the forecast
  step rebuilds the combination from.

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

LEARNED = "ComboLearned"
MIN_WEIGHT = 0.05
"""A member with less of the class weight is left out (the rest re-weighted): each member
is a refit of every series at forecast time, and a few percent of weight buys nothing."""
MIN_LEARN_SERIES = 20
"""Series with every pool member a class needs before its weights are learned."""
_ITERATIONS = 500


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
    """['A*0.25', 'B*0.75'] -> (['A', 'B'], [0.25, 0.75]); a member without a weight: 1."""
    names, w = [], []
    for m in members:
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


@dataclass
class Stacking:
    """Collects the pool members' backtest forecasts group by group (only the pool's
    columns outlive a group), then learns the weights per class and scores ComboLearned.

    `priors` (class -> members) and `shrink`: the weights used are `shrink` times the
    learned ones plus the rest on the prior's members, equally (catalog `selection.prior`
    and `selection.shrink`; 1 learns alone)."""

    pools: dict[str, tuple[str, ...]]
    priors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shrink: float = 1.0
    groups: list[_Group] = field(default_factory=list)
    weights: dict[str, tuple[list[str], np.ndarray, int]] = field(default_factory=dict)

    @classmethod
    def from_catalog(cls, catalog, names: list[str]) -> Stacking:
        """The learner pools among `names` (the single candidates that run), the catalog's
        priors and shrinkage."""
        return cls(catalog.learner_pools(names), dict(catalog.prior), catalog.shrink)

    def _shrunk(self, cls: str, pool: list[str], w: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """shrink * w + (1 - shrink) * the prior's equal weights over the members in `mask`
        (rows of w and mask: series); w alone where no prior member is in the mask."""
        if self.shrink >= 1:
            return w
        prior = np.isin(pool, self.priors.get(cls, ()))[None, :] & mask
        n = prior.sum(axis=1, keepdims=True)
        out = np.where(n > 0, self.shrink * w + (1 - self.shrink) * prior / np.maximum(n, 1), w)
        return out / out.sum(axis=1, keepdims=True)

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
    ) -> None:
        """One backtest group: y (series, T), f (series, T, names), failed (series, names)."""
        columns = sorted({m for c in set(classes) for m in self.pools.get(str(c), ())})
        columns = [m for m in columns if m in names]
        idx = [names.index(m) for m in columns]
        sub = f[:, :, idx].astype(np.float64, copy=True)
        sub[np.broadcast_to(failed[:, None, idx], sub.shape)] = np.nan
        self.groups.append(_Group(ids, classes, y, sub, self.pools, columns, s_mae, s_mse, n_win))

    def finish(self, calibration=None) -> pd.DataFrame:
        """Learn the class weights and return ComboLearned's backtest rows (with `members`);
        its scaled residuals go to `calibration` like any candidate's."""
        per_class, out = self._parts(self.pools)
        # a class with too few series learns with the classes that share its pool
        shared: dict[tuple, tuple[np.ndarray, int]] = {}
        for cls, parts in per_class.items():
            norm, _, _, complete, _ = _matrices(list(self.pools[cls]), parts)
            total, n = shared.get(self.pools[cls], (0.0, 0))
            shared[self.pools[cls]] = (total + norm[complete].sum(axis=0), n + int(complete.sum()))
        for cls, parts in sorted(per_class.items()):
            out.append(self._learn_class(cls, parts, calibration, shared[self.pools[cls]]))
        self.groups.clear()
        frames = [o for o in out if len(o)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

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
        self, cls: str, parts: list, calibration, shared: tuple[np.ndarray, int]
    ) -> pd.DataFrame:
        pool = list(self.pools[cls])
        norm, present, usable, complete, refs = _matrices(pool, parts)
        n_complete = int(complete.sum())
        total = norm[complete].sum(axis=0)
        if n_complete < MIN_LEARN_SERIES:  # learn with the classes that share the pool
            total, n_complete = shared
        rows_out = []
        if n_complete < MIN_LEARN_SERIES:
            why = (
                f"{n_complete} series of the classes with the {cls} learner pool have every "
                f"member of it; {MIN_LEARN_SERIES} are needed to learn weights"
            )
            for g, rows, _, _ in refs:
                rows_out.append(_skipped(g.ids[rows], g.n_win, why))
            return pd.concat(rows_out, ignore_index=True)
        everyone = np.ones((1, len(pool)), dtype=bool)
        class_w = self._shrunk(cls, pool, weights_on_simplex(total[None] / n_complete), everyone)[0]
        self.weights[cls] = (pool, class_w, n_complete)
        # per series: leave-one-series-out weights (scored) and the class weights over the
        # members it has (forecast)
        own = np.where(complete[:, None, None], norm, 0.0)
        loo = (total[None] - own) / (n_complete - complete.astype(float))[:, None, None]
        # the members the class weights keep (MIN_WEIGHT or more): a series refits only those
        keep = present & (class_w >= MIN_WEIGHT)[None, :]
        keep = np.where((keep.sum(axis=1) >= 2)[:, None], keep, present)
        w_score = self._shrunk(cls, pool, weights_on_simplex(loo, keep), keep)
        w_use = weights_on_simplex(np.broadcast_to(total / n_complete, loo.shape), keep)
        w_use = self._shrunk(cls, pool, w_use, keep)
        at = 0
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
            frame["members"] = [format_weights(names, wu[i]) if good[i] else None for i in range(n)]
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


def _skipped(ids: np.ndarray, n_win: int, why: str) -> pd.DataFrame:
    frame = pd.DataFrame({"series_id": ids, "model_name": LEARNED, "n_windows": n_win})
    for col in METRIC_COLUMNS:
        frame[col] = np.nan
    frame["status"] = "skipped"
    frame["error_message"] = why
    frame["members"] = None
    return frame
