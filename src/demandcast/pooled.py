"""Global models: learned across every series at once (`GlobalAR`, `GlobalGBM`).

Every other candidate is fitted on one series at a time. A global model is fitted on
the windows of all of them at once, so a short or noisy series borrows the shape its
peers show (Montero-Manso & Hyndman, "Principles and algorithms for forecasting groups
of time series: locality and globality", IJF 2021: models pooled over a whole panel
compete with the local models on M1, M3 and Tourism). Their errors differ from the
local models' in kind, which is what a combination needs: on the held-out futures of
M1, M3 and Tourism the mean of AutoETS, AutoCES and DynamicOptimizedTheta improves when
they join (docs/accuracy.md, "Global models").

The data. For every series and every window of `lags + horizon` periods inside the
training history: the window divided by the level of its inputs (the mean of their last
season, at most `lags` periods), on a log scale, log(1 + x). A forecast is the same
transform of the series' last `lags` periods, predicted, back-transformed and scaled by
their level. A series shorter than `lags` is padded in front with the mean of its first
season; a series whose last season is all zeros is forecast at zero; a forecast is at
most `GROWTH_CAP` times the largest input.

- `GlobalAR`: the `horizon` outputs regressed on the `lags` inputs and an intercept by
  ridge least squares (one solve, weights (lags + 1) x horizon; the penalty `ridge`
  times the number of windows), from the normal equations summed in one pass (no window
  kept: memory (lags + 1)^2 per offset).
- `GlobalGBM`: one gradient-boosted tree ensemble per horizon step (scikit-learn's
  HistGradientBoostingRegressor, small and fast: `max_iter` trees of `max_leaf_nodes`
  leaves on `max_bins` bins a feature), on at most `max_rows` windows, taken evenly
  from each series' history (`max_rows` / the number of series each). Nonlinear: it
  learns how a window's shape carries on across the panel, which no linear model can.
  `loss` is the trees' (scikit-learn's names); the catalog's is `absolute_error`, a
  median of the log ratio, which the MAE-type scores (MASE, sMAPE) reward.

No leakage. The backtest's window with its origin `offset` periods before each series'
end is forecast by a model learned on every series' history up to that same offset from
its end, never later (the series of a warehouse end at the same period). So `fit` learns
one model per offset from one pass over the series.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GROWTH_CAP = 20.0
"""A forecast is at most this many times the largest value of its input window (a guard
against a model extrapolating a series it fits badly)."""


@dataclass
class GlobalModel:
    """What every global model shares: the windows, the transform, batch forecasts."""

    lags: int
    horizon: int
    season_length: int
    n_windows: dict[int, int] = field(default_factory=dict, init=False)

    @property
    def level_span(self) -> int:
        return max(1, min(self.season_length, self.lags))

    def _windows(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The transformed (inputs, outputs) of every whole window of y."""
        L, h = self.lags, self.horizon
        if len(y) - L - h + 1 <= 0:
            return np.zeros((0, L)), np.zeros((0, h))
        w = np.lib.stride_tricks.sliding_window_view(y, L + h)
        level = w[:, L - self.level_span : L].mean(axis=1)
        w = w[level > 0] / level[level > 0, None]
        z = np.log1p(np.maximum(w, 0.0))
        return z[:, :L], z[:, L:]

    def _cut_windows(
        self, histories: Iterable[np.ndarray], offsets: Sequence[int]
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(offset, inputs, outputs) of every history cut `offset` periods short."""
        for y in histories:
            y = np.asarray(y, dtype=float)
            for o in offsets:
                yield (o, *self._windows(y[: len(y) - o] if o else y))

    def fitted(self, offset: int) -> bool:
        raise NotImplementedError

    def _predict_z(self, z: np.ndarray, offset: int) -> np.ndarray:
        """Transformed forecasts (series, horizon) from transformed inputs (series, lags)."""
        raise NotImplementedError

    def predict_batch(self, histories: Sequence[np.ndarray], offset: int = 0) -> np.ndarray:
        """The `horizon` forecasts after each history (already cut at the window's origin),
        (series, horizon); NaN when no series had a whole window to learn the offset from."""
        out = np.full((len(histories), self.horizon), np.nan)
        if not self.fitted(offset) or not len(histories):
            return out
        L = self.lags
        x = np.empty((len(histories), L))
        for i, y in enumerate(histories):
            y = np.asarray(y, dtype=float)
            if len(y) == 0:
                y = np.zeros(1)
            if len(y) < L:
                y = np.r_[np.full(L - len(y), y[: self.season_length].mean()), y]
            x[i] = y[-L:]
        level = x[:, -self.level_span :].mean(axis=1)
        ok = level > 0
        out[~ok] = 0.0
        if ok.any():
            ratio = x[ok] / level[ok, None]
            z = np.log1p(np.maximum(ratio, 0.0))
            top = np.log1p(GROWTH_CAP * np.maximum(ratio.max(axis=1), 1.0))
            pred = np.minimum(self._predict_z(z, offset), top[:, None])
            out[ok] = np.maximum(np.expm1(pred) * level[ok, None], 0.0)
        return out

    def predict(self, y: np.ndarray, offset: int = 0) -> np.ndarray:
        """The `horizon` forecasts after one history (predict_batch of one)."""
        return self.predict_batch([y], offset)[0]


@dataclass
class GlobalAR(GlobalModel):
    """Ridge weights per backtest offset (0: the forecast after the history's end)."""

    ridge: float = 1e-4
    weights: dict[int, np.ndarray] = field(default_factory=dict, init=False)

    def fit(self, histories: Iterable[np.ndarray], offsets: Sequence[int]) -> GlobalAR:
        """Learn the weights of each offset from every history, cut `offset` periods short."""
        k = self.lags + 1
        xtx = {o: np.zeros((k, k)) for o in offsets}
        xty = {o: np.zeros((k, self.horizon)) for o in offsets}
        rows = dict.fromkeys(offsets, 0)
        for o, x, t in self._cut_windows(histories, offsets):
            if len(x):
                x = np.c_[x, np.ones(len(x))]
                xtx[o] += x.T @ x
                xty[o] += x.T @ t
                rows[o] += len(x)
        for o in offsets:
            if rows[o] == 0:
                continue  # no series long enough: predict() says so
            penalty = np.full(k, self.ridge * rows[o])
            penalty[-1] = 0.0  # the intercept is not shrunk
            self.weights[o] = np.linalg.solve(xtx[o] + np.diag(penalty), xty[o])
            self.n_windows[o] = rows[o]
        return self

    def fitted(self, offset: int) -> bool:
        return offset in self.weights

    def _predict_z(self, z: np.ndarray, offset: int) -> np.ndarray:
        return np.c_[z, np.ones(len(z))] @ self.weights[offset]


LOSSES = ("squared_error", "absolute_error")
"""GlobalGBM's losses: the mean or the median of the log ratio."""


@dataclass
class GlobalGBM(GlobalModel):
    """Gradient-boosted trees per horizon step and backtest offset."""

    max_rows: int = 30_000
    max_iter: int = 60
    learning_rate: float = 0.15
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 50
    max_bins: int = 255
    loss: str = "squared_error"
    n_series: int = 0
    """The series the fit will see (to share `max_rows` among them); 0: unknown, keep all."""
    n_threads: int | None = None
    """OpenMP threads of the trees (the run's n_jobs); None: every core. Fewer where other
    work holds cores when the trees start (`tree_threads`)."""
    models: dict[int, list[Any]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"GlobalGBM: loss '{self.loss}' is not one of {', '.join(LOSSES)}")

    def fit(self, histories: Iterable[np.ndarray], offsets: Sequence[int]) -> GlobalGBM:
        """Learn each offset's trees from every history, cut `offset` periods short."""
        each = math.ceil(self.max_rows / self.n_series) if self.n_series else None
        parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {o: [] for o in offsets}
        for o, x, t in self._cut_windows(histories, offsets):
            if each is not None and len(x) > each:  # evenly over the series' history
                keep = np.unique(np.linspace(0, len(x) - 1, each).round().astype(int))
                x, t = x[keep], t[keep]
            if len(x):
                parts[o].append((x, t))
        for o in offsets:
            if parts[o]:
                x = np.concatenate([p[0] for p in parts[o]])
                t = np.concatenate([p[1] for p in parts[o]])
                parts[o] = []
                with self._threads():
                    self.models[o] = self._trees(x, t)
                self.n_windows[o] = len(x)
        return self

    def _threads(self) -> Any:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(tree_threads(self.n_threads), user_api="openmp")

    def _trees(self, x: np.ndarray, t: np.ndarray) -> list[Any]:
        from sklearn.ensemble import HistGradientBoostingRegressor

        return [
            HistGradientBoostingRegressor(
                loss=self.loss,
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                max_bins=self.max_bins,
                early_stopping=False,
            ).fit(x, t[:, k])
            for k in range(self.horizon)
        ]

    def fitted(self, offset: int) -> bool:
        return offset in self.models

    def _predict_z(self, z: np.ndarray, offset: int) -> np.ndarray:
        with self._threads():
            return np.stack([m.predict(z) for m in self.models[offset]], axis=1)


MODELS: dict[str, type[GlobalModel]] = {"GlobalAR": GlobalAR, "GlobalGBM": GlobalGBM}
"""The catalog's `model` names of the global models."""


def busy_cores(
    loadavg: str = "/proc/loadavg", looks: int = 3, tasks: str = "/proc/self/task"
) -> int:
    """Tasks of other processes running on the machine now: the most over `looks` reads of
    Linux's run-queue count (/proc/loadavg's fourth field, 'running/total'), 10 ms apart,
    less this process's own running threads (`tasks`: the reader, and OpenMP threads still
    spinning after the last parallel loop). The most, not the least: a busy machine's
    count dips between its tasks' time slices, and one thread too few costs a fifth of the
    trees' time where one too many cost ten times it (docs/benchmarks.md, "The trees'
    threads"). Work of this process's other threads (a model dbt runs beside this one)
    is not seen: it is short beside the backtest's. 0 where it cannot be read."""
    seen = []
    for k in range(looks):
        try:
            running = Path(loadavg).read_text().split()[3].split("/")[0]
            seen.append(int(running) - max(1, _running_threads(tasks)))
        except (OSError, IndexError, ValueError):
            return 0
        if k + 1 < looks:
            time.sleep(0.01)
    return max(0, max(seen))


def _running_threads(tasks: str) -> int:
    """Threads of this process in state R (running or runnable), from /proc/<pid>/task."""
    n = 0
    for stat in Path(tasks).glob("*/stat"):
        try:
            text = stat.read_text()
            n += text[text.rindex(")") + 2] == "R"
        except (OSError, ValueError, IndexError):
            continue
    return n


def tree_threads(wanted: int | None, cores: int | None = None, busy: int | None = None) -> int:
    """The trees' OpenMP threads: `wanted` (None: every core), but no more than the cores
    other work leaves free. The trees run many short parallel loops whose threads wait for
    each other spinning: with one core of two taken by another process, two threads took
    2.1 times the wall time and 2.6 times the CPU of one (docs/benchmarks.md, "The trees'
    threads"), while on an idle machine two save a third of the wall time."""
    cores = cores or os.cpu_count() or 1
    busy = busy_cores() if busy is None else busy
    return max(1, min(wanted or cores, cores - busy))


def lags_for(season_length: int, seasons: int, min_lags: int) -> int:
    """Input periods of the model: `seasons` seasons, at least `min_lags`."""
    return max(seasons * max(season_length, 1), min_lags)


def learners(profiles: pd.DataFrame, classes: Iterable[str]) -> set[str]:
    """The series a global model learns from: backtestable, not discontinued, of its
    classes (the same whether the backtest or the forecast fits it)."""
    prof = profiles.drop_duplicates("series_id")
    ok = prof["demand_class"].astype(str).isin(set(classes)) & (
        prof["lifecycle"].astype(str) != "discontinued"
    )
    if "is_backtestable" in prof.columns:
        ok &= prof["is_backtestable"].fillna(False).astype(bool)
    return set(prof.loc[ok, "series_id"].astype(str))


def fit_panel(
    models: dict[str, tuple[GlobalModel, set[str]]],
    batches: Iterable[pd.DataFrame],
    offsets: Sequence[int],
    n_jobs: int = -1,
) -> dict[str, GlobalModel]:
    """Fit each model (name -> (unfitted model, the series it learns from)) at `offsets`,
    in one pass over the panel's batches of warehouse series (series_id, period_start,
    demand); the trees share their windows among those series and run on `n_jobs`
    threads (-1: every core)."""
    if not models:
        return {}
    histories: dict[str, list[np.ndarray]] = {name: [] for name in models}
    for batch in batches:
        if batch.empty:
            continue
        df = batch.sort_values(["series_id", "period_start"], kind="stable")
        ids = df["series_id"].astype(str).to_numpy()
        values = pd.to_numeric(df["demand"], errors="coerce").to_numpy(dtype=float)
        cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        for uid, y in zip(ids[np.r_[0, cuts]], np.split(values, cuts), strict=True):
            for name, (_, members) in models.items():
                if uid in members:
                    histories[name].append(y)
    out = {}
    for name, (model, _) in models.items():
        if isinstance(model, GlobalGBM):
            model.n_series = len(histories[name])
            model.n_threads = n_jobs if n_jobs > 0 else None
        out[name] = model.fit(histories[name], offsets)
    return out
