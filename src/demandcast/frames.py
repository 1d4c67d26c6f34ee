"""Frames at the package's edge: warehouse names <-> StatsForecast names, profiles, test data.

The warehouse speaks `series_id`, `period_start`, `demand`; inside the package
frames use StatsForecast's `unique_id`, `ds`, `y`. `to_sf` translates on the
way in; each step builds its result in warehouse names. `profile_series` is a
pandas twin of the SQL model `int_series__profiled` (for scripts and tests that
run the engine without dbt) and `synthetic_series` makes a small panel with
known structure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demandcast.config import FREQUENCIES, PROJECT_FILE

TO_SF = {"series_id": "unique_id", "period_start": "ds", "demand": "y"}


def _class_cutoffs() -> tuple[float, float]:
    """The Syntetos-Boylan-Croston cut-offs (ADI, CV2) from their one home, the seed
    demand_classes that int_series__profiled joins: where intermittent demand starts on
    ADI and erratic demand on CV2."""
    seed = pd.read_csv(PROJECT_FILE.parent / "seeds" / "demand_classes.csv")
    bounds = seed.set_index("demand_class")
    return float(bounds.loc["intermittent", "adi_from"]), float(bounds.loc["erratic", "cv2_from"])


ADI_CUTOFF, CV2_CUTOFF = _class_cutoffs()


def to_sf(series: pd.DataFrame, ids: pd.Index | None = None) -> pd.DataFrame:
    """Warehouse series (series_id, period_start, demand) as a sorted unique_id/ds/y frame."""
    missing = [c for c in TO_SF if c not in series.columns]
    if missing:
        raise ValueError(f"series frame lacks columns {missing}")
    df = series[list(TO_SF)].rename(columns=TO_SF)
    if ids is not None:
        df = df[df["unique_id"].isin(ids)]
    df = df.assign(
        unique_id=df["unique_id"].astype(str),
        ds=pd.to_datetime(df["ds"]),
        y=pd.to_numeric(df["y"], errors="coerce").astype(float),
    )
    if df["y"].isna().any():
        bad = df.loc[df["y"].isna(), "unique_id"].unique()[:5].tolist()
        raise ValueError(f"series frame: demand is null or not numeric for series {bad}")
    return df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class SeriesBatches:
    """A panel of series (series_id, period_start, demand) as batches of whole series, so
    no frame need hold every series: `ids` every series_id (sorted), `read(chunk)` the
    rows of a chunk of them, `size` series a batch. Iterate it as often as needed: each
    batch is read when it is reached (warehouse.series_batches reads it from DuckDB)."""

    ids: list[str]
    read: Callable[[list[str]], pd.DataFrame]
    size: int

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for lo in range(0, len(self.ids), self.size):
            yield self.read(self.ids[lo : lo + self.size])

    @classmethod
    def of(cls, series: pd.DataFrame | SeriesBatches, size: int | None = None) -> SeriesBatches:
        """Batches of a frame (one batch unless `size`); batches are returned as they are."""
        if isinstance(series, SeriesBatches):
            return series
        ids = sorted(series["series_id"].astype(str).unique())
        if size is None or size >= len(ids):
            return cls(ids, lambda chunk: series, max(len(ids), 1))
        key = series["series_id"].astype(str)
        return cls(ids, lambda chunk: series[key.isin(chunk)], size)


def future_periods(last: pd.Series, horizon: int, frequency: str) -> pd.DataFrame:
    """unique_id x step -> period_start of the `horizon` periods after each series' last one.

    `last` is indexed by unique_id. Periods step by the pandas offset of the
    frequency: 'D', 'W-MON' (weeks starting Monday) or 'MS' (month start).
    """
    offset = pd.tseries.frequencies.to_offset(FREQUENCIES[frequency])
    ids = last.index.to_numpy()
    starts = pd.DatetimeIndex(pd.to_datetime(last.to_numpy()))
    frames = [
        pd.DataFrame({"unique_id": ids, "step": k, "ds": starts + k * offset})
        for k in range(1, horizon + 1)
    ]
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["unique_id", "step"], kind="stable").reset_index(drop=True)


def profile_series(series: pd.DataFrame, min_length: int = 39) -> pd.DataFrame:
    """One profile row per series, as int_series__profiled computes it (pandas twin).

    ADI = periods / non-zero periods; CV2 = squared coefficient of variation of
    the non-zero demands; classes by the Syntetos-Boylan cut-offs of the seed
    demand_classes (ADI_CUTOFF, CV2_CUTOFF: 1.32 / 0.49).
    """
    df = series.sort_values(["series_id", "period_start"])
    g = df.groupby("series_id", sort=True)
    nz = df[df["demand"] > 0].groupby("series_id")["demand"]
    prof = pd.DataFrame(
        {
            "n_periods": g.size(),
            "n_nonzero": nz.size(),
            "mean_demand": g["demand"].mean(),
            "total_demand": g["demand"].sum(),
            "first_period": g["period_start"].min(),
            "last_period": g["period_start"].max(),
            "nz_mean": nz.mean(),
            "nz_std": nz.std(ddof=0),
        }
    )
    prof["n_nonzero"] = prof["n_nonzero"].fillna(0).astype(int)
    prof["zero_share"] = 1 - prof["n_nonzero"] / prof["n_periods"]
    prof["adi"] = prof["n_periods"] / prof["n_nonzero"].replace(0, np.nan)
    prof["cv2"] = (prof["nz_std"] / prof["nz_mean"]) ** 2
    high_adi = prof["adi"] >= ADI_CUTOFF
    high_cv2 = prof["cv2"].fillna(0) >= CV2_CUTOFF
    prof["demand_class"] = np.select(
        [prof["n_nonzero"] == 0, ~high_adi & ~high_cv2, ~high_adi & high_cv2, high_adi & ~high_cv2],
        ["no_demand", "smooth", "erratic", "intermittent"],
        "lumpy",
    )
    prof["lifecycle"] = np.where(prof["n_periods"] < min_length, "new", "active")
    prof["is_backtestable"] = prof["n_periods"] >= min_length
    prof = prof.drop(columns=["nz_mean", "nz_std"]).reset_index()
    return prof


def synthetic_series(
    n_series: int = 40,
    n_periods: int = 156,
    seed: int = 0,
    frequency: str = "week",
    season_length: int = 52,
    start: str = "2022-01-03",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A panel of smooth-seasonal, erratic, intermittent and lumpy series (in turn).

    Returns (series, profiles) in warehouse names. For tests and benchmarks
    that must not depend on the demo generator.
    """
    rng = np.random.default_rng(seed)
    periods = pd.date_range(start, periods=n_periods, freq=FREQUENCIES[frequency])
    t = np.arange(n_periods)
    values = np.empty((n_series, n_periods))
    for i in range(n_series):
        kind = i % 4
        if kind == 0:  # smooth, seasonal, slight trend
            level = rng.uniform(20, 200)
            season = 0.3 * np.sin(2 * np.pi * t / season_length + rng.uniform(0, 2 * np.pi))
            y = level * (1 + season + 0.002 * t) + rng.normal(0, 0.08 * level, n_periods)
        elif kind == 1:  # erratic: gamma noise around a seasonal level
            level = rng.uniform(5, 50)
            season = 1 + 0.4 * np.sin(2 * np.pi * t / season_length + rng.uniform(0, 2 * np.pi))
            y = rng.gamma(1.2, level * season / 1.2)
        elif kind == 2:  # intermittent: Bernoulli occurrence, Poisson sizes
            p = rng.uniform(0.15, 0.45)
            y = (rng.random(n_periods) < p) * np.maximum(
                rng.poisson(rng.uniform(1, 6), n_periods), 1
            )
        else:  # lumpy: rare, skewed sizes
            p = rng.uniform(0.08, 0.3)
            y = (rng.random(n_periods) < p) * np.ceil(rng.gamma(0.6, 25, n_periods))
        values[i] = np.maximum(np.round(y), 0)
    ids = [f"P{i:05d}|S01" for i in range(n_series)]
    series = pd.DataFrame(
        {
            "series_id": np.repeat(ids, n_periods),
            "period_start": np.tile(periods.date, n_series),
            "demand": values.ravel(),
        }
    )
    return series, profile_series(series)


def series_from_orders(
    orders: pd.DataFrame,
    products: pd.DataFrame | None = None,
    frequency: str = "week",
    lifecycle_periods: int = 13,
    min_length: int = 39,
    discontinued_after_periods: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Order lines -> (series, profiles) as the SQL models build them (pandas twin).

    Net demand per (plant, product) x period from the first period with an
    order to the forecast origin (the last complete period), zeros filled;
    lifecycle, is_inactive and backtestability as in int_series__profiled: only the
    products' discontinued_date discontinues, unless discontinued_after_periods is given.
    """
    o = orders.dropna(subset=["order_date", "product_id", "plant_id"]).drop_duplicates()
    o = o.assign(order_date=pd.to_datetime(o["order_date"]))
    offset = FREQUENCIES[frequency]
    period = {"day": "D", "week": "W-SUN", "month": "M"}[frequency]  # periods starting Monday
    start = o["order_date"].dt.to_period(period).dt.start_time
    end = o["order_date"].max()
    last_start = end.to_period(period).start_time
    next_start = (end + pd.Timedelta(days=1)).to_period(period).start_time
    step = pd.tseries.frequencies.to_offset(offset)
    origin = last_start if next_start > last_start else last_start - step
    o = o.assign(
        series_id=o["plant_id"].astype(str) + "|" + o["product_id"].astype(str),
        period_start=start,
    )
    o = o[o["period_start"] <= origin]
    agg = o.groupby(["series_id", "period_start"], as_index=False)["quantity"].sum()
    first = agg.groupby("series_id")["period_start"].min()
    grid = pd.date_range(first.min(), origin, freq=offset)
    frame = pd.MultiIndex.from_product([first.index, grid], names=["series_id", "period_start"])
    full = pd.DataFrame(index=frame).reset_index()
    full = full[full["period_start"] >= first.reindex(full["series_id"]).to_numpy()]
    full = full.merge(agg, on=["series_id", "period_start"], how="left")
    series = pd.DataFrame(
        {
            "series_id": full["series_id"],
            "period_start": full["period_start"].dt.date,
            "demand": full["quantity"].fillna(0.0),
        }
    )
    prof = profile_series(series, min_length=min_length)
    ids = prof["series_id"].str.split("|", n=1, expand=True)
    prof["plant_id"], prof["product_id"] = ids[0], ids[1]
    last_demand = series[series["demand"] > 0].groupby("series_id")["period_start"].max()
    trailing = (
        pd.Timestamp(origin) - pd.to_datetime(last_demand.reindex(prof["series_id"]))
    ).dt.days.to_numpy() / {"day": 1, "week": 7, "month": 30.44}[frequency]
    trailing = np.where(np.isnan(trailing), prof["n_periods"], np.round(trailing))
    silent = (prof["n_nonzero"] == 0).to_numpy()
    paused = silent | (trailing >= lifecycle_periods)
    discontinued = np.zeros(len(prof), dtype=bool)
    if discontinued_after_periods is not None:
        discontinued |= silent | (
            trailing
            >= np.maximum(discontinued_after_periods, np.ceil(3 * prof["adi"].fillna(0).to_numpy()))
        )
    new = prof["n_periods"] <= lifecycle_periods
    if products is not None:
        p = products.set_index("product_id").reindex(prof["product_id"])
        prof["product_group"] = p["product_group"].to_numpy()
        disc = pd.to_datetime(p["discontinued_date"]).to_numpy()
        discontinued |= disc <= np.datetime64(origin)
        launch = pd.to_datetime(p["launch_date"]).to_numpy()
        cut = np.datetime64(origin - lifecycle_periods * step)
        new |= launch > cut
    prof["lifecycle"] = np.where(discontinued, "discontinued", np.where(new, "new", "active"))
    prof["is_inactive"] = paused & ~discontinued
    prof["is_backtestable"] = prof["n_periods"] >= min_length
    return series, prof
