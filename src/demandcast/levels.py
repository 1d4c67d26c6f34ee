"""Forecasts at every level a planner asks for, reconciled so the levels add up.

`reconcile_levels` (the `int_forecast__levels` model) turns the base forecasts (one
champion per plant x product, `int_forecast__predictions`) into one coherent set over
six levels (LEVELS): plant x product (the base), plant x product group, plant, product
across plants, product group across plants and the total.

- Every aggregate node (a plant, a product, ...) is the sum of its base series; nodes
  that are the same sum (one plant: plant and total) are one node, reported under each
  level. An aggregate node's own forecast comes from AGGREGATE_MODEL (Theta) fitted on
  the node's summed history.
- Backtest: on the base backtest's windows (the same n_windows, step_size, horizon,
  ending at the origin the base series were backtested at), the aggregate model runs on
  every aggregate node; the champion's window forecasts of each base series are read
  back from its scaled residuals (int_forecast__backtest's, fresh or carried). A
  base series without them on these windows (too short, cold start, a backtest from an
  earlier origin) enters with the seasonal naive of each window.
- Methods (METHODS): bottom-up, and HierarchicalForecast's MinTrace with shrunk
  residual covariance (mint_shrink) and with structural weights (wls_struct), each
  reconciled window by window, MinT's covariance from the other windows' errors. Each
  is scored per level (MASE of each node, their median). A reconciliation is kept only when
  it does not lose at the base level (its base MASE at most bottom-up's, i.e. the
  champions'); among those the one with the lowest mean MASE ratio to bottom-up over
  the levels wins. Otherwise the coherent set is bottom-up: the champions' forecasts
  summed. One method serves every level: levels reconciled by different methods would
  not add up.
- Reuse: the aggregate model's forecasts (future and backtest windows) are a function
  of the aggregates' histories, the windows and the settings; the output carries their
  key (`own_inputs`) and the window forecasts (`own_backtest`), and a run whose key is
  the one its own last output (`previous`, the model's table) holds takes them from
  there instead of fitting again (a build with no new data fits nothing).
- Intervals: the base series keep their champion's pooled conformal intervals, moved
  by what reconciliation moved the point (and so does an aggregate of one series, a
  product sold in one plant). An aggregate node's interval is the point
  plus and minus the level's quantile of the absolute backtest errors of the chosen
  method, scaled per node (its seasonal-naive MAE), pooled over the level's nodes,
  windows and steps: symmetric, because a level of few nodes (the total is one) has the
  errors of a few windows, whose sign is theirs, not the future's. Interval bounds are
  not coherent (no interval sums of intervals are).
- Plant closures: in a week a recurring closure scaled its plant's series
  (int_forecast__closures), an aggregate's own forecast is scaled by the share of its
  bottom-up forecast the closure left (its series' scaled forecasts over their sum
  unscaled), and its interval's half-width by that share's square root, as the
  series' are (closures.apply): its own model cannot see the closure, and its backtest
  errors are those of usual weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from demandcast.catalog import Catalog, Guarded, load_catalog
from demandcast.config import Settings
from demandcast.intervals import interval_base
from demandcast.metrics import seasonal_scales
from demandcast.progress import emit
from demandcast.selection import parse_champion

BASE = "plant_product"
LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("total", ()),
    ("plant", ("plant_id",)),
    ("product_group", ("product_group",)),
    ("product", ("product_id",)),
    ("plant_product_group", ("plant_id", "product_group")),
    (BASE, ("series_id",)),
)
NAME_COLUMNS = ("plant_id", "product_group", "product_id")
NAMED = {  # the name columns a level's node has one value of (a product has one group)
    "total": (),
    "plant": ("plant_id",),
    "product_group": ("product_group",),
    "product": ("product_id", "product_group"),
    "plant_product_group": ("plant_id", "product_group"),
    BASE: NAME_COLUMNS,
}
AGGREGATE_MODEL = "Theta"
"""The model of the aggregate series: Theta (with the catalog's deseasonalisation of long
seasons), the M3 benchmark. ComboMean, the smooth class's default, cost 78 s against
Theta's 11 s on the demo's 151 aggregates (docs/forecasting.md#levels)."""
METHODS = ("bottom_up", "mint_shrink", "wls_struct")
NO_GROUP = "(no group)"
LEVEL_COLUMNS = (
    "level",
    "level_key",
    "plant_id",
    "product_group",
    "product_id",
    "n_series",
    "period_start",
    "step",
    "forecast",
)
EVIDENCE_COLUMNS = (
    "bottom_up_forecast",
    "own_forecast",
    "reconciliation",
    "backtest_mase",
    "bottom_up_mase",
    "own_mase",
)
REUSE_COLUMNS = ("own_inputs", "own_future", "own_backtest")
"""The aggregate model's inputs key, its future forecast of the row's step (null where
the node had none) and its forecasts of that step in each backtest window, for the next
run to reuse (own_forecasts_reused)."""


def _key(values: list[Any]) -> str:
    """A node's key: its values joined by '|' ('\\' and '|' inside escaped), 'total'."""
    if not values:
        return "total"
    return "|".join(str(v).replace("\\", "\\\\").replace("|", "\\|") for v in values)


@dataclass
class Hierarchy:
    """The nodes of every level (one row each) and the summing matrix of the distinct
    sums: `rows[i]` is the row of S (aggregates first, the base series last) that
    node i is."""

    nodes: pd.DataFrame  # level, level_key, plant_id, product_group, product_id, n_series, row
    S: sparse.csr_matrix  # (distinct sums, base series): 1 where a base series is in a sum
    base_ids: np.ndarray  # the base series, S's columns

    @property
    def n_aggregates(self) -> int:
        return self.S.shape[0] - self.S.shape[1]


def hierarchy(series: pd.DataFrame) -> Hierarchy:
    """The hierarchy of the base series (series_id, plant_id, product_id, product_group)."""
    base = series.drop_duplicates("series_id").sort_values("series_id").reset_index(drop=True)
    base = base.assign(
        series_id=base["series_id"].astype(str),
        plant_id=base["plant_id"].astype(str),
        product_id=base["product_id"].astype(str),
        product_group=base["product_group"]
        .astype("object")
        .where(base["product_group"].notna(), NO_GROUP),
    )
    n = len(base)
    nodes, members = [], []  # members: the sorted positions of a node's base series
    for level, cols in LEVELS:
        groups = base.groupby(list(cols), sort=True).indices if cols else {(): np.arange(n)}
        for values, idx in groups.items():
            values = list(values) if isinstance(values, tuple) else [values]
            first = base.iloc[idx[0]]
            members.append(np.sort(np.asarray(idx, dtype=np.int64)))
            nodes.append(
                {
                    "level": level,
                    "level_key": first["series_id"] if level == BASE else _key(values),
                    **{c: first[c] if c in NAMED[level] else None for c in NAME_COLUMNS},
                    "n_series": len(idx),
                }
            )
    # distinct sums: the base rows last (identity), every aggregate row only once; S is
    # sparse (a dense one is 1.2 GB at 10,000 series, the build's peak memory)
    is_base = np.array([nd["level"] == BASE for nd in nodes], dtype=bool)
    sigs = [m.tobytes() for m in members]
    base_of = {sigs[i] for i in np.nonzero(is_base)[0]}
    distinct: dict[bytes, int] = {}
    agg_members, where = [], np.empty(len(nodes), dtype=int)
    for i in np.nonzero(~is_base)[0]:
        if sigs[i] in base_of:  # an aggregate of one series is that series
            continue
        if sigs[i] not in distinct:
            distinct[sigs[i]] = len(agg_members)
            agg_members.append(members[i])
        where[i] = distinct[sigs[i]]
    n_agg = len(agg_members)
    for i in range(len(nodes)):
        if sigs[i] in base_of:  # a base series, or an aggregate of one
            where[i] = n_agg + int(members[i][0])
    agg = sparse.csr_matrix(
        (
            np.ones(sum(len(m) for m in agg_members)),
            np.concatenate(agg_members) if agg_members else np.zeros(0, dtype=np.int64),
            np.concatenate([[0], np.cumsum([len(m) for m in agg_members])]).astype(np.int64),
        ),
        shape=(n_agg, n),
    )
    S = sparse.vstack([agg, sparse.identity(n, format="csr")], format="csr") if n else agg
    frame = pd.DataFrame(nodes).assign(row=where)
    return Hierarchy(frame, S, base["series_id"].to_numpy())


def _matrix(
    history: pd.DataFrame, ids: np.ndarray
) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray]:
    """Base histories as a (series, periods) matrix on one period grid, 0 before a
    series' first period, and the position of that first period."""
    wide = history.pivot_table(
        index="series_id", columns="period_start", values="demand", aggfunc="sum"
    ).reindex(index=ids)
    starts = wide.notna().to_numpy().argmax(axis=1)
    return wide.fillna(0.0).to_numpy(dtype=float), pd.DatetimeIndex(wide.columns), starts


def _aggregate_model(catalog: Catalog, settings: Settings) -> list[Any]:
    members = catalog.candidates[AGGREGATE_MODEL].members or (AGGREGATE_MODEL,)
    forward = not settings.backtest_refit  # as the base backtest: estimated once per node
    return [
        Guarded(catalog.build(m, settings.season_length), forward and catalog.candidates[m].forward)
        for m in members
    ]


def _long(y: np.ndarray, dates: pd.DatetimeIndex, ids: list[str]) -> pd.DataFrame:
    """unique_id/ds/y of each node from its first non-zero period on."""
    parts = []
    for i, uid in enumerate(ids):
        nz = np.flatnonzero(y[i] != 0)
        start = nz[0] if len(nz) else max(len(dates) - 1, 0)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": dates[start:], "y": y[i, start:]}))
    return pd.concat(parts, ignore_index=True)


def _own_forecasts(
    y: np.ndarray,
    dates: pd.DatetimeIndex,
    origin_pos: int,
    settings: Settings,
    catalog: Catalog,
) -> tuple[np.ndarray, np.ndarray]:
    """The aggregate model on each aggregate node (rows of y): the forecast after the
    history's end (nodes, h) and the window forecasts of the backtest ending at
    `origin_pos` (nodes, n_windows * h; NaN where a node is too short)."""
    from statsforecast import StatsForecast

    h, w, step = settings.horizon, settings.n_windows, settings.step_size
    n = len(y)
    fut = np.full((n, h), np.nan)
    bt = np.full((n, w * h), np.nan)
    if n == 0:
        return fut, bt
    ids = [f"n{i:06d}" for i in range(n)]
    models = _aggregate_model(catalog, settings)
    names = [m.alias for m in models]
    sf = StatsForecast(models=models, freq=settings.freq, n_jobs=settings.n_jobs)
    df = _long(y, dates, ids)
    res = sf.forecast(df=df, h=h).sort_values(["unique_id", "ds"])
    fut[:] = res[names].mean(axis=1, skipna=False).to_numpy().reshape(n, h)
    need = settings.min_train_length + h + (w - 1) * step
    cv_df = _long(y[:, : origin_pos + 1], dates[: origin_pos + 1], ids)
    long_enough = cv_df.groupby("unique_id").size()
    ok = long_enough.index[long_enough >= need]
    if len(ok):
        cv = sf.cross_validation(
            df=cv_df[cv_df["unique_id"].isin(ok)],
            h=h,
            n_windows=w,
            step_size=step,
            refit=settings.backtest_refit,
        ).sort_values(["unique_id", "cutoff", "ds"])
        vals = cv[names].mean(axis=1, skipna=False).to_numpy().reshape(len(ok), w * h)
        bt[[ids.index(u) for u in ok]] = vals
    return fut, bt


def own_inputs_key(
    y_agg: np.ndarray,
    labels: list[str],
    dates: pd.DatetimeIndex,
    origin_pos: int,
    settings: Settings,
    catalog: Catalog,
) -> str:
    """What the aggregate model's forecasts are a function of: each aggregate's history
    and name, the period grid, the backtest origin, the settings the fits read and the
    catalog entries of the model, hashed (sha256)."""
    import hashlib
    import json

    import statsforecast

    members = catalog.candidates[AGGREGATE_MODEL].members or (AGGREGATE_MODEL,)
    spec = {
        "labels": labels,
        "dates": [str(d) for d in (dates[:1].tolist() + dates[-1:].tolist())],
        "n_dates": len(dates),
        "origin_pos": origin_pos,
        "settings": [
            settings.freq,
            settings.horizon,
            settings.season_length,
            settings.n_windows,
            settings.step_size,
            settings.min_train_length,
            settings.backtest_refit,
        ],
        "models": [repr(catalog.candidates[m]) for m in members],
        "statsforecast": statsforecast.__version__,
    }
    digest = hashlib.sha256(json.dumps(spec, default=str).encode())
    digest.update(np.ascontiguousarray(y_agg, dtype=float).tobytes())
    return digest.hexdigest()


def own_forecasts_reused(
    previous: pd.DataFrame | None, key: str, tree: Hierarchy, settings: Settings
) -> tuple[np.ndarray, np.ndarray] | None:
    """The aggregate model's forecasts (as _own_forecasts returns them) from the model's
    last output when it was made from the same inputs (`key`) and covers every aggregate
    of this run's hierarchy, else None."""
    if previous is None or previous.empty or not set(REUSE_COLUMNS) <= set(previous.columns):
        return None
    prev = previous[previous["own_inputs"] == key]
    n_agg, h, w = tree.n_aggregates, settings.horizon, settings.n_windows
    if prev.empty or n_agg == 0:
        return None
    nodes = tree.nodes[tree.nodes["row"] < n_agg][["level", "level_key", "row"]]
    merged = nodes.astype({"level": str, "level_key": str}).merge(
        prev.astype({"level": str, "level_key": str}), on=["level", "level_key"]
    )
    fut, bt = np.full((n_agg, h), np.nan), np.full((n_agg, w * h), np.nan)
    seen = np.zeros((n_agg, h), dtype=bool)
    for a, step, future, windows in merged[
        ["row", "step", "own_future", "own_backtest"]
    ].itertuples(index=False):
        k = int(step) - 1
        if not 0 <= k < h or windows is None or len(windows) != w:
            return None
        fut[a, k] = np.nan if future is None or pd.isna(future) else float(future)
        bt[a, k::h] = [np.nan if v is None else float(v) for v in windows]
        seen[a, k] = True
    return (fut, bt) if seen.all() else None


def _windows(origin_pos: int, settings: Settings) -> np.ndarray:
    """Period positions (n_windows, h) of the backtest windows ending at origin_pos."""
    h, w, step = settings.horizon, settings.n_windows, settings.step_size
    cutoffs = origin_pos + 1 - h - (w - 1 - np.arange(w)) * step
    return cutoffs[:, None] + np.arange(h)[None, :]


def _seasonal_naive(y: np.ndarray, cutoff: int, h: int, m: int) -> np.ndarray:
    """Seasonal naive of each row of y from the periods before `cutoff`, (rows, h)."""
    if m > 1 and cutoff >= m:
        idx = cutoff - m + (np.arange(h) % m)
    else:
        idx = np.full(h, cutoff - 1)
    return y[:, np.clip(idx, 0, None)]


def champion_windows(
    memory: pd.DataFrame,
    champions: pd.DataFrame,
    y: np.ndarray,
    starts: np.ndarray,
    ids: np.ndarray,
    pos: np.ndarray,
    settings: Settings,
) -> tuple[np.ndarray, np.ndarray]:
    """Each base series' champion forecasts on the windows `pos` (n_windows, h), read
    back from its scaled backtest residuals r = (y - f) / sqrt(base * mae) (the
    backtest's Calibration; base intervals.interval_base), and a mask of the series that
    had them; the others get the seasonal naive of each window."""
    h, m = settings.horizon, settings.season_length
    w = len(pos)
    out = np.concatenate([_seasonal_naive(y, p[0], h, m) for p in pos], axis=1)
    have = np.zeros(len(ids), dtype=bool)
    if memory.empty:
        return out, have
    # the champion's backtest row is its candidate's: 'ComboLearned[lambda=...|A*0.3|...]'
    # and 'MeanTopK[A|B]' are the rows of ComboLearned and MeanTopK
    champ = champions.set_index(champions["series_id"].astype(str))["champion"]
    champ = champ.map(lambda c: parse_champion(c)[0] if isinstance(c, str) else c)
    mem = memory.assign(series_id=memory["series_id"].astype(str))
    mem = mem[mem["residuals"].notna() & (mem["n_windows"] == w)]
    mem = mem[mem["model_name"].astype(str) == mem["series_id"].map(champ)]
    row_of = {s: i for i, s in enumerate(ids)}
    first_train = int(pos[0, 0])
    if first_train <= 0:
        return out, have
    # the backtest's base of s = sqrt(base * mae) (intervals.interval_base), by the class
    # each memory row was backtested in
    scales = node_scales(y[:, :first_train], m, starts)
    actual = y[:, pos.ravel()]
    if "demand_class" not in mem.columns:
        mem = mem.assign(demand_class="")
    rows = mem[["series_id", "demand_class", "mae", "residuals"]]
    base = {
        c: interval_base(scales, np.full(len(scales), c)) for c in rows["demand_class"].unique()
    }
    for sid, cls, mae, blob in rows.itertuples(index=False):
        i = row_of.get(sid)
        r = np.frombuffer(blob, dtype="<f4").astype(float)
        if i is None or len(r) != w * h or not (mae > 0 and base[cls][i] > 0):
            continue
        out[i] = actual[i] - r * np.sqrt(base[cls][i] * mae)
        have[i] = True
    return out, have


def _reconcile(
    method: str,
    S: sparse.csr_matrix | np.ndarray,
    y_hat: np.ndarray,
    res_y: np.ndarray | None = None,
    res_f: np.ndarray | None = None,
    nonnegative: bool = False,
) -> np.ndarray:
    """Coherent forecasts (all S's rows, horizon) of y_hat by `method`; bottom-up needs
    nothing but S, so it cannot fail and is every ranking's last resort."""
    n_agg = S.shape[0] - S.shape[1]
    if method == "bottom_up" or n_agg == 0:
        return S @ y_hat[n_agg:]
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation method {method!r}")
    from hierarchicalforecast.methods import MinTrace

    rec = MinTrace(method=method, nonnegative=nonnegative)
    kwargs = {"y_insample": res_y, "y_hat_insample": res_f} if method == "mint_shrink" else {}
    dense = S.toarray() if sparse.issparse(S) else S  # MinTrace takes a dense S
    return rec.fit_predict(S=dense, y_hat=y_hat, **kwargs)["mean"]


def _finite_mean(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The mean of the finite values (along `axis`); NaN where there is none, without
    numpy's "Mean of empty slice" warning."""
    ok = np.isfinite(x)
    n = ok.sum(axis=axis)
    return np.where(n > 0, np.where(ok, x, 0.0).sum(axis=axis) / np.maximum(n, 1), np.nan)


def _mase(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per row: the mean absolute error over the periods scored, over `scale`."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _finite_mean(np.abs(f - y), axis=1) / scale


def reconcile_levels(
    history: pd.DataFrame,
    series: pd.DataFrame,
    predictions: pd.DataFrame,
    champions: pd.DataFrame,
    memory: pd.DataFrame,
    settings: Settings,
    catalog: Catalog | None = None,
    backtest_origin: Any = None,
    previous: pd.DataFrame | None = None,
    closures: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per node of every level and future period (LEVEL_COLUMNS, lo_/hi_ per
    interval level, EVIDENCE_COLUMNS, REUSE_COLUMNS); `previous`: this model's last
    output, whose aggregate forecasts are reused when their inputs are the same;
    `closures`: int_forecast__closures (plant_id, step, closure_factor), the plants'
    weeks a recurring closure scaled the base forecasts of.
    `history`: series_id, period_start, demand up to the origin; `series`: series_id,
    plant_id, product_id, product_group of the base series (those in `predictions`);
    `memory`: the base series' backtest memory rows; `backtest_origin`: the origin their
    windows end at (default: the history's end)."""
    catalog = catalog or load_catalog()
    h, m = settings.horizon, settings.season_length
    levels = list(settings.levels)
    preds = predictions.assign(series_id=predictions["series_id"].astype(str))
    tree = hierarchy(series[series["series_id"].astype(str).isin(preds["series_id"])])
    ids, S, n_agg = tree.base_ids, tree.S, tree.n_aggregates
    y_base, dates, starts = _matrix(history.assign(series_id=history["series_id"].astype(str)), ids)
    y_all = S @ y_base
    origin_pos = len(dates) - 1
    if backtest_origin is not None and pd.Timestamp(backtest_origin) in dates:
        origin_pos = int(dates.get_loc(pd.Timestamp(backtest_origin)))
    pos = _windows(origin_pos, settings)
    base_pred = preds.pivot_table(index="series_id", columns="step", values="forecast")
    base_pred = base_pred.reindex(index=ids, columns=range(1, h + 1)).to_numpy(dtype=float)

    first = tree.nodes.drop_duplicates("row").sort_values("row")
    first = first[first["row"] < n_agg]
    agg_labels = (first["level"].astype(str) + "/" + first["level_key"].astype(str)).tolist()
    key = own_inputs_key(y_all[:n_agg], agg_labels, dates, origin_pos, settings, catalog)
    reused = own_forecasts_reused(previous, key, tree, settings)
    if reused is None:
        own_fut, own_bt = _own_forecasts(y_all[:n_agg], dates, origin_pos, settings, catalog)
    else:
        own_fut, own_bt = reused
    actual_bt = y_all[:, pos.ravel()]
    usable = pos[0, 0] > 0
    base_bt, have = (
        champion_windows(memory, champions, y_base, starts, ids, pos, settings)
        if usable
        else (np.full((len(ids), pos.size), np.nan), np.zeros(len(ids), bool))
    )
    bu_bt = S @ base_bt
    own_bt = np.where(np.isfinite(own_bt), own_bt, bu_bt[:n_agg])  # too short: bottom-up
    hat_bt = np.vstack([own_bt, base_bt])
    w = len(pos)

    # backtest every method window by window; MinT's residuals from the other windows.
    # Only `auto` chooses, so only `auto` pays for MinTrace's solves (a third of an M1
    # build); bottom_up is scored as the evidence columns' yardstick
    scored: dict[str, np.ndarray] = {}
    for method in METHODS if settings.reconciliation == "auto" else ["bottom_up"]:
        rec = np.full_like(hat_bt, np.nan)
        for k in range(w if usable else 0):
            cols = slice(k * h, (k + 1) * h)
            other = np.ones(w * h, dtype=bool)
            if w > 1:
                other[cols] = False
            try:
                rec[:, cols] = _reconcile(
                    method, S, hat_bt[:, cols], actual_bt[:, other], hat_bt[:, other]
                )
            except Exception as exc:  # an ill-conditioned covariance: the method loses
                emit(f"levels: {method} failed on backtest window {k + 1}: {exc}", warning=True)
                rec[:] = np.nan
                break
        scored[method] = rec
    train_end = int(pos[0, 0]) if usable else origin_pos + 1
    node_scale = node_scales(y_all[:, :train_end], m)["scale_mae"].to_numpy()
    mase = {k: _mase(actual_bt, v, node_scale) for k, v in scored.items()}
    own_mase = _mase(actual_bt, hat_bt, node_scale)
    per_level = _per_level(tree, mase | {"own": own_mase})
    # var reconciliation: bottom_up keeps the champions' forecasts as they are (the
    # methods are still scored, as evidence); auto lets the backtest choose
    ranked = _choose(per_level) if settings.reconciliation == "auto" else ["bottom_up"]
    # the future: aggregates' own forecasts and the champions', reconciled by the best
    # method whose forecast is non-negative (HierarchicalForecast's non-negative MinTrace
    # where the plain one is not), bottom-up when none is
    y_hat = np.vstack([own_fut, base_pred])
    y_hat = np.where(np.isfinite(y_hat), y_hat, 0.0)
    bu = S @ y_hat[n_agg:]
    # a plant closure scaled the base forecasts of its weeks: the aggregates' own models
    # (which cannot see it) and their intervals are scaled by the share it left of theirs
    closed = _closure_shares(S, y_hat[n_agg:], series, ids, closures, h)
    y_hat[:n_agg] = np.where(np.isfinite(own_fut), own_fut * closed[:n_agg], bu[:n_agg])
    for chosen in ranked:
        try:
            rec = _reconcile(chosen, S, y_hat, actual_bt, hat_bt)
            if (rec < -1e-9).any():
                rec = _reconcile(chosen, S, y_hat, actual_bt, hat_bt, nonnegative=True)
            break
        except Exception as exc:  # an ill-conditioned covariance: the next one
            emit(f"levels: {chosen} failed on the forecast ({exc}); the next", warning=True)
    emit(
        f"levels: {len(tree.nodes):,} nodes over {len(LEVELS)} levels "
        f"({n_agg} distinct aggregates, their model's forecasts "
        f"{'reused: the same inputs as the last run' if reused is not None else 'fitted'}); "
        f"{int(have.sum())} of {len(ids)} base series "
        f"backtested by their champion on the {w} windows; ranked {ranked}; "
        f"reconciliation: {chosen}"
    )
    rec = np.maximum(rec, 0.0)  # float noise below zero only: the QP keeps the base >= 0
    rec = S @ rec[n_agg:]  # exactly coherent

    return _frame(
        tree,
        rec,
        bu,
        y_hat,
        preds,
        levels,
        settings,
        scored[chosen],
        actual_bt,
        node_scale,
        chosen,
        per_level,
        closed,
    ).assign(**_reuse_columns(tree, own_fut, own_bt, key, settings))


def _closure_shares(
    S: Any,
    base: np.ndarray,
    series: pd.DataFrame,
    ids: np.ndarray,
    closures: pd.DataFrame | None,
    h: int,
) -> np.ndarray:
    """Per node and step, the share of its bottom-up forecast a recurring plant closure
    left: the sum of its series' closure-scaled forecasts over the sum of them unscaled
    (each over its plant's closure_factor of the step); 1 where no closure scaled any of
    them, or where the node forecasts nothing."""
    shares = np.ones((S.shape[0], h))
    if closures is None or closures.empty:
        return shares
    plant = series.assign(series_id=series["series_id"].astype(str)).set_index("series_id")
    plant_of = plant["plant_id"][~plant.index.duplicated()].reindex(ids).astype(object)
    factor = closures.pivot_table(index="plant_id", columns="step", values="closure_factor")
    factor = factor.reindex(index=plant_of.to_numpy(), columns=range(1, h + 1)).to_numpy()
    factor = np.where(np.isfinite(factor) & (factor > 0), factor, 1.0)
    scaled, usual = S @ base, S @ (base / factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(usual > 0, np.minimum(scaled / usual, 1.0), 1.0)


def _reuse_columns(
    tree: Hierarchy, own_fut: np.ndarray, own_bt: np.ndarray, key: str, settings: Settings
) -> dict[str, Any]:
    """REUSE_COLUMNS in _frame's row order (node by node, step by step); null on base
    rows."""
    h, n_agg = settings.horizon, tree.n_aggregates
    r = np.repeat(tree.nodes["row"].to_numpy(), h)
    step = np.tile(np.arange(h), len(tree.nodes))
    agg = r < n_agg
    future = np.full(len(r), np.nan)
    future[agg] = own_fut[r[agg], step[agg]]
    windows = [
        [None if not np.isfinite(v) else float(v) for v in own_bt[a, k::h]] if is_agg else None
        for a, k, is_agg in zip(r, step, agg, strict=True)
    ]
    return {
        "own_inputs": np.where(agg, key, None),
        "own_future": future,
        "own_backtest": windows,
    }


def node_scales(y: np.ndarray, m: int, starts: np.ndarray | None = None) -> pd.DataFrame:
    """metrics.seasonal_scales (scale_mae, scale_mse, with their fallbacks) of each row of
    y from its start (default: its first non-zero period), indexed by row."""
    if starts is None:
        starts = (y != 0).argmax(axis=1) if y.size else np.zeros(len(y), dtype=int)
    rows = np.repeat(np.arange(len(y)), y.shape[1])
    t = np.tile(np.arange(y.shape[1]), len(y))
    keep = t >= starts[rows]
    frame = pd.DataFrame({"unique_id": rows[keep], "ds": t[keep], "y": y.ravel()[keep]})
    return seasonal_scales(frame, m).reindex(np.arange(len(y))).fillna(1.0)


def _finite_median(x: np.ndarray) -> float:
    """The median of the finite values; NaN where there is none."""
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else np.nan


def _per_level(tree: Hierarchy, mase: dict[str, np.ndarray]) -> pd.DataFrame:
    """Median MASE per level and method over the level's nodes (their rows of S); NaN
    where a level has no scored node (e.g. no forecast of its own). A median: the mean was
    decided by the few nodes with a scale near 0 (the demo's base level: a mean of 8.9
    where its series' own backtest MASEs average 0.85)."""
    rows = []
    for level, _ in LEVELS:
        r = tree.nodes.loc[tree.nodes["level"] == level, "row"].to_numpy()
        rows.append({"level": level, **{k: _finite_median(v[r]) for k, v in mase.items()}})
    return pd.DataFrame(rows).set_index("level")


def _choose(per_level: pd.DataFrame) -> list[str]:
    """The reconciliations that may be kept, best first, bottom-up last: those not worse
    than bottom-up at the base, by their mean MASE ratio to bottom-up over the levels,
    when below 1 (bottom-up alone when nothing else could be scored)."""
    bu = per_level["bottom_up"]
    ratios = {}
    for method in METHODS[1:]:
        col = per_level[method]
        if not np.isfinite(col).all() or not np.isfinite(bu).all() or col[BASE] > bu[BASE]:
            continue
        ratio = float((col / bu.where(bu > 0, np.nan)).mean())
        if ratio < 1.0:
            ratios[method] = ratio
    return [*sorted(ratios, key=ratios.get), "bottom_up"]


def _frame(
    tree: Hierarchy,
    rec: np.ndarray,
    bu: np.ndarray,
    y_hat: np.ndarray,
    preds: pd.DataFrame,
    levels: list[int],
    settings: Settings,
    rec_bt: np.ndarray,
    actual_bt: np.ndarray,
    node_scale: np.ndarray,
    chosen: str,
    per_level: pd.DataFrame,
    closed: np.ndarray | None = None,
) -> pd.DataFrame:
    h = settings.horizon
    nodes = tree.nodes
    periods = preds.drop_duplicates("step").set_index("step")["period_start"]
    periods = pd.to_datetime(periods.reindex(range(1, h + 1)))
    rows = nodes.loc[nodes.index.repeat(h)].reset_index(drop=True)
    r = rows["row"].to_numpy()
    step = np.tile(np.arange(1, h + 1), len(nodes))
    out = rows.drop(columns="row").assign(
        period_start=periods.to_numpy()[step - 1],
        step=step,
        forecast=rec[r, step - 1],
    )
    # intervals: the base keeps its champion's, moved with the point; aggregates pool
    # their level's scaled backtest errors of the chosen method
    err = (actual_bt - rec_bt) / node_scale[:, None]
    base_iv = preds.set_index(["series_id", "step"])
    shift = rec[r, step - 1] - y_hat[r, step - 1]
    # a base series, or an aggregate of one (a product sold in one plant): the series'
    # own interval, so a drill-down from product to plant x product keeps it
    n_agg = tree.n_aggregates
    is_base = r >= n_agg
    series_of = tree.base_ids[np.where(is_base, r - n_agg, 0)]
    for lv in levels:
        lo, hi = np.full(len(out), np.nan), np.full(len(out), np.nan)
        keys = pd.MultiIndex.from_arrays([series_of[is_base], step[is_base]])
        lo[is_base] = base_iv[f"lo_{lv}"].reindex(keys).to_numpy(dtype=float) + shift[is_base]
        hi[is_base] = base_iv[f"hi_{lv}"].reindex(keys).to_numpy(dtype=float) + shift[is_base]
        for level, _ in LEVELS:
            if level == BASE:
                continue
            at_level = (out["level"] == level).to_numpy()
            nodes_r = np.unique(r[at_level])
            sel = at_level & ~(is_base & np.isfinite(lo))  # pooled where no own interval
            e = err[nodes_r].ravel()
            e = e[np.isfinite(e)]
            if len(e) == 0:
                continue
            # the size of the errors, either side: a level of few nodes has few windows'
            # errors, and their sign is the windows' (M1's bottom-up total ran low in all
            # three, high in the future: signed quantiles held 2 of its 18 months)
            q = np.quantile(np.abs(e), lv / 100) * node_scale[r[sel]]
            if closed is not None:  # a closure week: as its series' (closures.apply)
                q = q * np.sqrt(closed[r[sel], step[sel] - 1])
            lo[sel] = out["forecast"].to_numpy()[sel] - q
            hi[sel] = out["forecast"].to_numpy()[sel] + q
        point = out["forecast"].to_numpy()
        out[f"lo_{lv}"] = np.minimum(np.maximum(lo, 0.0), point)
        out[f"hi_{lv}"] = np.maximum(hi, point)
    out["bottom_up_forecast"] = bu[r, step - 1]
    out["own_forecast"] = y_hat[r, step - 1]  # a node of one series: its champion's
    out["reconciliation"] = chosen
    lv_of = out["level"]
    out["backtest_mase"] = lv_of.map(per_level[chosen])
    out["bottom_up_mase"] = lv_of.map(per_level["bottom_up"])
    out["own_mase"] = lv_of.map(per_level["own"])
    out = out.assign(
        period_start=pd.to_datetime(out["period_start"]).dt.date,
        n_series=out["n_series"].astype("int64"),
        step=out["step"].astype("int64"),
    )
    for col in ("level", "level_key", "plant_id", "product_group", "product_id", "reconciliation"):
        out[col] = out[col].astype("string")
    return out.reset_index(drop=True)[
        [*LEVEL_COLUMNS, *(f"{s}_{lv}" for lv in levels for s in ("lo", "hi")), *EVIDENCE_COLUMNS]
    ]


def champion_rows(con: Any, backtest: Any, champions: pd.DataFrame) -> pd.DataFrame:
    """The rows of `backtest` (int_forecast__backtest, a DuckDB relation) of each series'
    champion's candidate, the only rows the levels read (champion_windows): joined in
    DuckDB, so the other candidates' rows (about 50 a series) never reach pandas."""
    named = champions[champions["champion"].map(lambda c: isinstance(c, str))]
    pairs = pd.DataFrame(
        {
            "series_id": named["series_id"].astype(str),
            "model_name": named["champion"].map(lambda c: parse_champion(c)[0]),
        }
    )
    wanted = con.from_df(pairs).set_alias("c")
    rows = backtest.set_alias("b")
    return (
        rows.join(
            wanted,
            "b.series_id::varchar = c.series_id and b.model_name::varchar = c.model_name",
        )
        .project(", ".join(f"b.{col}" for col in backtest.columns))
        .df()
    )


def levels_run(
    con: Any,
    run: Any,
    series: Any,
    profiles: pd.DataFrame,
    predictions: pd.DataFrame,
    champions: pd.DataFrame,
    backtest: Any,
    catalog: Catalog | None = None,
    previous: pd.DataFrame | None = None,
    closures: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`int_forecast__levels`: the run's base forecasts and the backtest of their series
    (int_forecast__backtest with its scaled residuals, a DuckDB relation: this run's
    backtest, or the one a series carries from the memory; only the champions'
    rows are read) reconciled over LEVELS. The windows end at the
    backtest origin most of the base series were backtested at."""
    from demandcast import warehouse as wh

    catalog = catalog or load_catalog()
    settings = run.settings
    ids = predictions["series_id"].astype(str).unique()
    rel = con.from_df(series) if isinstance(series, pd.DataFrame) else series
    history = rel.project(wh.SERIES_COLUMNS).df()
    memory = champion_rows(con, backtest, champions)
    memory = memory[memory["series_id"].astype(str).isin(ids)]
    origin = None
    if len(memory):
        origin = pd.to_datetime(memory.drop_duplicates("series_id")["backtest_origin"]).mode()
        origin = origin.iloc[0] if len(origin) else None
    info = profiles[["series_id", "plant_id", "product_id", "product_group"]]
    return reconcile_levels(
        history,
        info,
        predictions,
        champions,
        memory,
        settings,
        catalog,
        origin,
        previous,
        closures,
    )
