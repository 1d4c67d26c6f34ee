"""Forecast accuracy metrics, vectorised over series x model.

Definitions (e = forecast - actual, over all scored periods of a series and
model, i.e. every step of every backtest window):

- mae   = mean |e|
- rmse  = sqrt(mean e^2)
- bias  = mean e (signed: > 0 over-forecasts); selection minimises |bias|
- smape = mean 2|e| / (|actual| + |forecast|), 0 where both are 0; in [0, 2]
- wape  = sum |e| / sum |actual|; NaN when the actuals are all 0 and e is not
- mase  = mae / scale_mae, rmsse = sqrt(mean e^2 / scale_mse), where the
  scales are the in-sample mean absolute / squared error of the seasonal
  naive forecast on the history before the (earliest) forecast origin; naive-1
  when that history is not longer than a season. Zero-scale guard: a flat
  history falls back to naive-1, then to the mean |y| (mean y^2), then to 1.

Probabilistic (interval) accuracy, for a forecast with intervals at levels L
(`score_frame`; `demandcast evaluate` and the monitoring tables compute the
same in SQL, and tests hold them equal):

- pinball loss of a quantile forecast p of quantile q: max(q (y - p), (q - 1) (y - p))
- the quantiles of a forecast (`interval_quantiles`): the median, read as the
  point forecast, and per level L the quantiles (1 - L)/2 and (1 + L)/2, read
  as lo_L and hi_L
- spl (scaled pinball loss, M5 style) = the mean over those quantiles of the
  series' mean pinball loss, divided by scale_mae (the MASE scale, fallbacks
  and all); spl_L the same over L's two quantiles alone. The median's part is
  mase / 2, so a forecast without intervals has no spl.

Everything is computed from per-group sums (np.bincount over group codes):
no Python loop per series.

utilsforecast.losses (installed with StatsForecast) has the same point
metrics: mae, rmse and bias are its `mae`, `rmse` and `bias`; smape is twice
its `smape` (which runs 0-1); wape is its `wape` except that all-zero actuals
forecast exactly score 0 here and NaN there. mase and rmsse are its `mae` and
`mse` over the scales above, not its `mase` / `rmsse`: those scale by the
seasonal naive alone (per cutoff when the frame has one), with no fallback,
so a history not longer than a season, or a flat one, gives NaN or inf there.
Likewise spl is its `mqloss` over scale_mae (its `scaled_mqloss` where the
scale needs no fallback), spl_L its `mqloss` over L's two quantiles; its
`scaled_crps` divides by sum |y| instead, another measure.
tests/python/test_metrics.py checks each shared definition against it.

The backtest still does not call it, for two measured reasons (317 series x
39 points x 45 models, the shape of one backtest group): utilsforecast scores
long frames through narwhals, 4 to 8 times slower per call than these array
sums, and the backtest scores several times per group (members, each
leave-one-window-out criterion, each combination); and its sums are not
these: on a pandas frame the grouped means are Kahan-compensated, which moves
about half of the scores by one unit in the last place; on a pyarrow table
rmse squares with pow() (0.05 % of the scores move), and the grouped sums run
on Arrow's thread pool, whose order we do not control. Selection compares
these numbers, so the stored ones stay bit for bit what they were.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_COLUMNS = ("mae", "rmse", "bias", "smape", "wape", "mase", "rmsse")


def seasonal_scales(history: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Per-series MASE / RMSSE denominators from a unique_id/ds/y history frame.

    Returns a frame indexed by unique_id with scale_mae, scale_mse, scale_lag, and
    scale_sd: the history's standard deviation (scale_mae where that is 0), the interval
    scale's base of intermittent and lumpy series (intervals.interval_base).
    """
    df = history.sort_values(["unique_id", "ds"], kind="stable")
    codes, ids = pd.factorize(df["unique_id"], sort=True)
    y = df["y"].to_numpy(dtype=float)
    n = np.bincount(codes, minlength=len(ids))
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    pos = np.arange(len(y)) - starts[codes]

    def lag_sums(lag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ok = pos >= lag
        d = np.zeros_like(y)
        d[ok] = y[ok] - y[np.nonzero(ok)[0] - lag]
        cnt = np.bincount(codes, weights=ok.astype(float), minlength=len(ids))
        s_abs = np.bincount(codes, weights=np.abs(d) * ok, minlength=len(ids))
        s_sq = np.bincount(codes, weights=d * d * ok, minlength=len(ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            return s_abs / cnt, s_sq / cnt, cnt

    use_seasonal = n > season_length if season_length > 1 else np.zeros(len(ids), bool)
    s_mae, s_mse, _ = lag_sums(season_length) if season_length > 1 else (None, None, None)
    n_mae, n_mse, _ = lag_sums(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lvl_mae = np.bincount(codes, weights=np.abs(y), minlength=len(ids)) / n
        lvl_mse = np.bincount(codes, weights=y * y, minlength=len(ids)) / n
    lag = np.where(use_seasonal, season_length, 1)
    scale_mae = n_mae.copy()
    scale_mse = n_mse.copy()
    if s_mae is not None:
        scale_mae = np.where(use_seasonal, s_mae, scale_mae)
        scale_mse = np.where(use_seasonal, s_mse, scale_mse)
    for fallback_mae, fallback_mse in ((n_mae, n_mse), (lvl_mae, lvl_mse)):
        bad = ~(scale_mae > 0)
        scale_mae = np.where(bad, fallback_mae, scale_mae)
        scale_mse = np.where(bad, fallback_mse, scale_mse)
        lag = np.where(bad, 1, lag)
    bad = ~(scale_mae > 0) | ~(scale_mse > 0)
    scale_mae = np.where(bad, 1.0, scale_mae)
    scale_mse = np.where(bad, 1.0, scale_mse)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(codes, weights=y, minlength=len(ids)) / n
        sd = np.sqrt(np.maximum(lvl_mse - mean * mean, 0.0))
    scale_sd = np.where(sd > 0, sd, scale_mae)
    return pd.DataFrame(
        {"scale_mae": scale_mae, "scale_mse": scale_mse, "scale_lag": lag, "scale_sd": scale_sd},
        index=pd.Index(ids, name="unique_id"),
    )


def plausible_max(df: pd.DataFrame, multiple: float, horizon: int) -> pd.Series:
    """Per series of `df` (unique_id, ds, y): `multiple` x the larger of the 90th percentile
    of its positive demand and the median of its last `horizon` periods, + 1: the forecast
    gate's rule (chk_forecast__series). One spike raises neither; a level that has lasted
    half a horizon raises the median. 1 without demand."""
    ids = df["unique_id"].unique()
    p90 = df[df["y"] > 0].groupby("unique_id")["y"].quantile(0.9).reindex(ids).fillna(0.0)
    last = df.sort_values("ds", kind="stable").groupby("unique_id").tail(horizon)
    recent = last.groupby("unique_id")["y"].median().reindex(ids).fillna(0.0)
    return multiple * np.maximum(p90, recent) + 1


def score_arrays(
    y: np.ndarray, f: np.ndarray, scale_mae: np.ndarray, scale_mse: np.ndarray
) -> dict[str, np.ndarray]:
    """Metrics from arrays: y (series, T), f (series, T, models) -> each (series, models)."""
    n, t, m = f.shape
    codes = np.repeat(np.arange(n * m).reshape(n, 1, m), t, axis=1).ravel()
    yy = np.broadcast_to(y[:, :, None], f.shape).ravel()
    sums = _sums(codes, n * m, yy, f.ravel())
    res = _finish(sums, np.repeat(scale_mae, m), np.repeat(scale_mse, m))
    return {k: v.reshape(n, m) for k, v in res.items()}


def _sums(codes: np.ndarray, g: int, y: np.ndarray, f: np.ndarray) -> dict[str, np.ndarray]:
    finite = np.isfinite(f)
    e = np.where(finite, f - y, 0.0)
    ae = np.abs(e)
    denom = np.abs(y) + np.abs(np.where(finite, f, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        sm = np.where(denom > 0, 2 * ae / denom, 0.0)

    def bc(w):
        return np.bincount(codes, weights=w, minlength=g)

    return {
        "n": bc(finite.astype(float)),
        "n_failed": bc((~finite).astype(float)),
        "abs": bc(ae),
        "sq": bc(e * e),
        "err": bc(e),
        "smape": bc(sm),
        "abs_y": bc(np.abs(y) * finite),
    }


def _finish(sums: dict, scale_mae: np.ndarray, scale_mse: np.ndarray) -> dict[str, np.ndarray]:
    n = sums["n"]
    ok = (n > 0) & (sums["n_failed"] == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = sums["abs"] / n
        mse = sums["sq"] / n
        wape = np.where(
            sums["abs_y"] > 0, sums["abs"] / sums["abs_y"], np.where(sums["abs"] == 0, 0.0, np.nan)
        )
        res = {
            "mae": mae,
            "rmse": np.sqrt(mse),
            "bias": sums["err"] / n,
            "smape": sums["smape"] / n,
            "wape": wape,
            "mase": mae / scale_mae,
            "rmsse": np.sqrt(mse / scale_mse),
        }
    return {k: np.where(ok, v, np.nan) for k, v in res.items()}


def selection_score(metrics: pd.DataFrame, metric: str) -> pd.Series:
    """The score selection minimises: the metric itself, |bias| for bias."""
    values = metrics[metric].astype(float)
    return values.abs() if metric == "bias" else values


def interval_quantiles(levels) -> list[tuple[float, str]]:
    """The quantiles a forecast with intervals at `levels` (percent) gives, with their
    columns: (0.5, 'forecast'), then per level L ((100 - L) / 200, 'lo_L') and
    ((100 + L) / 200, 'hi_L'). L as the column names spell it ('80', 80 or 97.5)."""
    out = [(0.5, "forecast")]
    for lv in levels:
        out += [((100 - float(lv)) / 200, f"lo_{lv}"), ((100 + float(lv)) / 200, f"hi_{lv}")]
    return out


def pinball_loss(y: np.ndarray, pred: np.ndarray, q: float) -> np.ndarray:
    """Elementwise pinball (quantile) loss of the quantile-q forecast `pred` of `y`:
    max(q (y - pred), (q - 1) (y - pred)), utilsforecast's `quantile_loss` before its mean."""
    d = np.asarray(y, dtype=float) - np.asarray(pred, dtype=float)
    return np.maximum(q * d, (q - 1) * d)


def score_frame(
    df: pd.DataFrame,
    scales: pd.DataFrame,
    levels=(),
    *,
    id_col: str = "unique_id",
    target_col: str = "y",
    forecast_col: str = "forecast",
) -> pd.DataFrame:
    """Per-series metrics of a long frame, one row per series and scored period: the
    METRIC_COLUMNS (as score_arrays, with the scales of `seasonal_scales`, indexed by
    series) and, when `levels` are given, spl and one spl_<L> per level (L's '.' as
    '_'), from the lo_<L> / hi_<L> columns. Indexed by series; a series with a missing
    forecast or bound gets NaN for what it feeds, as a failed forecast does."""
    codes, ids = pd.factorize(df[id_col], sort=True)
    g = len(ids)
    sc = scales.reindex(pd.Index(ids))
    y = df[target_col].to_numpy(dtype=float)
    f = df[forecast_col].to_numpy(dtype=float)
    res = _finish(
        _sums(codes, g, y, f),
        sc["scale_mae"].to_numpy(dtype=float),
        sc["scale_mse"].to_numpy(dtype=float),
    )
    out = pd.DataFrame(res, index=pd.Index(ids, name=id_col))[list(METRIC_COLUMNS)]
    if len(levels) == 0:
        return out
    n = np.bincount(codes, minlength=g)
    scale = sc["scale_mae"].to_numpy(dtype=float)

    def mean_loss(col: str, q: float) -> np.ndarray:
        loss = pinball_loss(y, f if col == "forecast" else df[col].to_numpy(dtype=float), q)
        bad = np.bincount(codes, weights=(~np.isfinite(loss)).astype(float), minlength=g)
        s = np.bincount(codes, weights=np.where(np.isfinite(loss), loss, 0.0), minlength=g)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(bad > 0, np.nan, s / n)

    quantiles = interval_quantiles(levels)
    losses = {col: mean_loss(col, q) for q, col in quantiles}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["spl"] = np.mean(np.stack(list(losses.values())), axis=0) / scale
        for lv in levels:
            pair = (losses[f"lo_{lv}"] + losses[f"hi_{lv}"]) / 2
            out[f"spl_{str(lv).replace('.', '_')}"] = pair / scale
    return out
