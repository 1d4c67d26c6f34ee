"""A global model: one autoregression learned across every series (`GlobalAR`).

Every other candidate is fitted on one series at a time. A global model is fitted on
the windows of all of them at once, so a short or noisy series borrows the shape its
peers show (Montero-Manso & Hyndman, "Principles and algorithms for forecasting groups
of time series: locality and globality", IJF 2021: a linear autoregression pooled over
a whole panel competes with the local models on M1, M3 and Tourism). Its errors differ
from the local models' in kind, which is what a combination needs: on the held-out
futures of M1, M3 and Tourism the mean of AutoETS, AutoCES and DynamicOptimizedTheta
improves when it joins (docs/accuracy.md, "A global model").

The model. For every series and every window of `lags + horizon` periods inside the
training history: divide the window by the level of its inputs (the mean of their last
season, at most `lags` periods), take log(1 + x), and regress the `horizon` outputs on
the `lags` inputs and an intercept by ridge least squares (one solve, weights
(lags + 1) x horizon; the penalty `ridge` times the number of windows). A forecast is
the same transform of the series' last `lags` periods, back-transformed and scaled by
their level. A series shorter than `lags` is padded in front with the mean of its first
season; a series whose last season is all zeros is forecast at zero.

No leakage. The backtest's window with its origin `offset` periods before each series'
end is forecast with weights learned on every series' history up to that same offset
from its end, never later (the series of a warehouse end at the same period). So
`fit` learns one set of weights per offset from one pass over the series, summing the
normal equations as it goes (no window is kept: memory is (lags + 1)^2 per offset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

GROWTH_CAP = 20.0
"""A forecast is at most this many times the largest value of its input window (a guard
against a weight set extrapolating a series it fits badly)."""


@dataclass
class GlobalAR:
    """Ridge weights per backtest offset (0: the forecast after the history's end)."""

    lags: int
    horizon: int
    season_length: int
    ridge: float = 1e-4
    weights: dict[int, np.ndarray] = field(default_factory=dict)
    n_windows: dict[int, int] = field(default_factory=dict)

    @property
    def level_span(self) -> int:
        return max(1, min(self.season_length, self.lags))

    # ------------------------------------------------------------------ fitting

    def _windows(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The normalised (inputs + intercept, outputs) of every whole window of y."""
        L, h = self.lags, self.horizon
        n = len(y) - L - h + 1
        if n <= 0:
            return np.zeros((0, L + 1)), np.zeros((0, h))
        w = np.lib.stride_tricks.sliding_window_view(y, L + h)
        level = w[:, L - self.level_span : L].mean(axis=1)
        w = w[level > 0] / level[level > 0, None]
        z = np.log1p(np.maximum(w, 0.0))
        return np.c_[z[:, :L], np.ones(len(z))], z[:, L:]

    def fit(self, histories: Iterable[np.ndarray], offsets: Sequence[int]) -> GlobalAR:
        """Learn the weights of each offset from every history, cut `offset` periods short."""
        k = self.lags + 1
        xtx = {o: np.zeros((k, k)) for o in offsets}
        xty = {o: np.zeros((k, self.horizon)) for o in offsets}
        rows = dict.fromkeys(offsets, 0)
        for y in histories:
            y = np.asarray(y, dtype=float)
            for o in offsets:
                x, t = self._windows(y[: len(y) - o] if o else y)
                if len(x):
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

    # --------------------------------------------------------------- forecasting

    def predict(self, y: np.ndarray, offset: int = 0) -> np.ndarray:
        """The `horizon` forecasts after y (a history already cut at the window's origin);
        NaN when no series had a whole window to learn the offset's weights from."""
        W = self.weights.get(offset)
        if W is None:
            return np.full(self.horizon, np.nan)
        y = np.asarray(y, dtype=float)
        L = self.lags
        if len(y) == 0:
            return np.zeros(self.horizon)
        if len(y) < L:
            y = np.r_[np.full(L - len(y), y[: self.season_length].mean()), y]
        x = y[-L:]
        level = x[-self.level_span :].mean()
        if not level > 0:
            return np.zeros(self.horizon)
        z = np.log1p(np.maximum(x / level, 0.0))
        top = np.log1p(GROWTH_CAP * max(x.max() / level, 1.0))
        return np.maximum(np.expm1(np.minimum(np.r_[z, 1.0] @ W, top)) * level, 0.0)


def lags_for(season_length: int, seasons: int, min_lags: int) -> int:
    """Input periods of the model: `seasons` seasons, at least `min_lags`."""
    return max(seasons * max(season_length, 1), min_lags)


def learners(profiles: pd.DataFrame, classes: Iterable[str]) -> set[str]:
    """The series a pooled model learns from: backtestable, not discontinued, of its classes
    (the same whether the backtest or the forecast fits it)."""
    prof = profiles.drop_duplicates("series_id")
    ok = prof["demand_class"].astype(str).isin(set(classes)) & (
        prof["lifecycle"].astype(str) != "discontinued"
    )
    if "is_backtestable" in prof.columns:
        ok &= prof["is_backtestable"].fillna(False).astype(bool)
    return set(prof.loc[ok, "series_id"].astype(str))


def fit_panel(
    models: dict[str, tuple[GlobalAR, set[str]]],
    batches: Iterable[pd.DataFrame],
    offsets: Sequence[int],
) -> dict[str, GlobalAR]:
    """Fit each model (name -> (unfitted model, the series it learns from)) at `offsets`,
    in one pass over the panel's batches of warehouse series (series_id, period_start,
    demand)."""
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
    return {name: model.fit(histories[name], offsets) for name, (model, _) in models.items()}
