"""Prediction intervals: conformal from backtest residuals, and the rules every interval obeys.

Conformal intervals (for combinations and for models without native
intervals): the champion is re-run on the series' backtest windows; the
signed residuals r = actual - forecast over all windows and steps are pooled,
and the interval at level L runs from the (1-L)/2 to the (1+L)/2 rank of r
(split-conformal ranks, see conformal_bounds). Signed residuals keep the skew
of demand (a long upper tail); pooling over steps gives one width for the
whole horizon, which is what 2-3 windows of 13 steps can support.

Every interval then: is clipped at 0 with the forecast, contains the forecast,
and nests (lo_95 <= lo_80 <= forecast <= hi_80 <= hi_95).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm


def conformal_bounds(
    forecast: np.ndarray, residuals: np.ndarray, levels: Sequence[float]
) -> dict[str, np.ndarray]:
    """Bounds from pooled signed residuals, with the split-conformal rank rule.

    forecast: (series, h); residuals: (series, k) actual - forecast, NaN-padded.
    With n residuals, the bounds at level L are the floor((n+1)a)-th smallest
    and the ceil((n+1)(1-a))-th smallest residual, a = (1-L)/2 (clamped to the
    sample), which keeps the finite-sample coverage guarantee that a plain
    quantile loses. Returns {'lo_<L>': (series, h), 'hi_<L>': ...}; NaN where a
    series has no residual.
    """
    r = np.sort(np.where(np.isfinite(residuals), residuals, np.nan), axis=1)  # NaN last
    n = np.isfinite(r).sum(axis=1)
    has = n > 0
    rows = np.arange(r.shape[0])
    out = {}
    for lv in levels:
        a = (1 - lv / 100) / 2
        k_lo = np.clip(np.floor((n + 1) * a + 1e-9), 1, np.maximum(n, 1)).astype(int) - 1
        k_hi = np.clip(np.ceil((n + 1) * (1 - a) - 1e-9), 1, np.maximum(n, 1)).astype(int) - 1
        lo = np.where(has, r[rows, k_lo], np.nan)[:, None]
        hi = np.where(has, r[rows, k_hi], np.nan)[:, None]
        out[f"lo_{lv}"] = forecast + lo
        out[f"hi_{lv}"] = forecast + hi
    return out


def normal_bounds(
    forecast: np.ndarray, sigma: np.ndarray, levels: Sequence[float]
) -> dict[str, np.ndarray]:
    """Gaussian bounds forecast +- z * sigma (sigma per series, or per series x step)."""
    sigma = np.asarray(sigma, dtype=float)
    if sigma.ndim == 1:
        sigma = sigma[:, None]
    out = {}
    for lv in levels:
        z = norm.ppf(0.5 + lv / 200)
        out[f"lo_{lv}"] = forecast - z * sigma
        out[f"hi_{lv}"] = forecast + z * sigma
    return out


def finalize(
    forecast: np.ndarray, bounds: dict[str, np.ndarray], levels: Sequence[float]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Clip at 0 and order: lo_wide <= lo_narrow <= forecast <= hi_narrow <= hi_wide."""
    f = np.maximum(forecast, 0.0)
    lo_prev, hi_prev = f, f
    out = {}
    for lv in sorted(levels):  # narrow to wide
        lo = np.maximum(bounds[f"lo_{lv}"], 0.0)
        hi = np.maximum(bounds[f"hi_{lv}"], 0.0)
        lo = np.minimum(np.where(np.isfinite(lo), lo, lo_prev), lo_prev)
        hi = np.maximum(np.where(np.isfinite(hi), hi, hi_prev), hi_prev)
        out[f"lo_{lv}"], out[f"hi_{lv}"] = lo, hi
        lo_prev, hi_prev = lo, hi
    return f, out
