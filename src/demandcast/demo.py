"""Demo data: a manufacturer's order lines, master data, and the demand truth behind them.

Every series (plant_id, product_id) gets a generator archetype; its expected daily
demand is written to ``truth.parquet`` for the history and the future, with the
realised future demand, so a forecast can be judged against both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

PATTERNS = ("smooth_seasonal", "promo", "erratic", "intermittent", "lumpy")
PATTERN_SHARES = (0.25, 0.08, 0.17, 0.25, 0.25)
SMOOTH, PROMO, ERRATIC, INTERMITTENT, LUMPY = range(5)

# Shares of active, launched, new and discontinued products; "launched" products
# came out during the history and are no longer new.
LIFECYCLE_SHARES = (0.72, 0.08, 0.08, 0.12)
ACTIVE, LAUNCHED, NEW, DISCONTINUED = range(4)
ARCHETYPES = (*PATTERNS, "new", "discontinued")

GROUPS = ("Bearings", "Valves", "Seals", "Fasteners", "Pumps", "Drives")
# P(group | pattern): fasteners sell smoothly, pumps and drives in lumps.
GROUP_WEIGHTS = np.array(
    [
        [0.25, 0.10, 0.20, 0.35, 0.05, 0.05],
        [0.30, 0.10, 0.20, 0.30, 0.05, 0.05],
        [0.20, 0.25, 0.20, 0.10, 0.10, 0.15],
        [0.20, 0.25, 0.25, 0.05, 0.10, 0.15],
        [0.10, 0.20, 0.05, 0.05, 0.30, 0.30],
    ]
)
GROUP_UNITS = np.array([12.0, 4.0, 30.0, 150.0, 1.5, 1.5])  # typical units per order line
GROUP_LOTS = ((1, 1, 2, 5), (1,), (1, 5, 10), (10, 25, 50, 100), (1,), (1,))
GROUP_NAMES = (
    ("Ball bearing", "Tapered roller bearing", "Needle bearing"),
    ("Ball valve", "Gate valve", "Check valve"),
    ("O-ring", "Shaft seal", "Gasket"),
    ("Hex bolt", "Lock nut", "Washer"),
    ("Centrifugal pump", "Gear pump", "Dosing pump"),
    ("Gear motor", "Frequency drive", "Servo motor"),
)
GROUP_CODES = ("BR", "VL", "SL", "FS", "PU", "DR")
SITES = ("Lyon", "Rotterdam", "Katowice", "Monterrey", "Pune", "Ohio", "Porto", "Brno", "Izmir")

SHARED_SHARE = 0.8  # share of a plant's products that every plant sells
DAY_OF_WEEK = np.array([1.15, 1.2, 1.15, 1.1, 1.0, 0.12, 0.03])  # Monday first
SHUTDOWN_FACTOR = 0.15  # 24 Dec to 1 Jan
PROMOS_PER_YEAR = 3.0
LEVEL_SHIFT_SHARE = 0.12
RETURN_SERIES_SHARE = 0.5
DUPLICATE_SHARE = 0.0005
EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class _Calendar:
    start: np.datetime64
    end: np.datetime64
    n_hist: int
    n_days: int  # history + future
    epoch_day: np.ndarray  # days since 1970-01-01, one per day


@dataclass
class _Series:
    plant: np.ndarray  # plant index
    product: np.ndarray  # product index
    pattern: np.ndarray
    lifecycle: np.ndarray
    archetype: np.ndarray  # index into ARCHETYPES
    weekly_orders: np.ndarray  # expected order lines per week at the end of the history
    lot: np.ndarray  # units per lot: line quantities are multiples of it
    mean_size: np.ndarray  # expected units per order line
    size_shape: np.ndarray  # negative binomial shape of the lots per line
    launch_day: np.ndarray  # day index, -1 if launched before the data
    stop_day: np.ndarray  # day index demand stops, n_days if it does not


def _quota(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    """Labels 0..k-1 in exact proportions (largest remainder), shuffled: stable shares."""
    raw = np.asarray(shares) / sum(shares) * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def _log_uniform(rng: np.random.Generator, low: float, high: float, size: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _calendar(end_date: str | dt.date, years: int, future_days: int) -> _Calendar:
    try:
        end_day = dt.date.fromisoformat(str(end_date)[:10])
    except ValueError:
        raise ValueError(f"write_demo: end_date must be YYYY-MM-DD, got {end_date!r}") from None
    end = np.datetime64(end_day, "D")
    try:
        start_day = end_day.replace(year=end_day.year - years)
    except ValueError:  # 29 February
        start_day = end_day.replace(year=end_day.year - years, day=28)
    start = np.datetime64(start_day, "D") + 1
    n_hist = int((end - start).astype(int)) + 1
    n_days = n_hist + future_days
    epoch_day = (start - EPOCH).astype(int) + np.arange(n_days)
    return _Calendar(start, end, n_hist, n_days, epoch_day)


def _catalog(rng: np.random.Generator, n_plants: int, n_products: int, cal: _Calendar) -> dict:
    """Global products with pattern, lifecycle, group, lot size and dates; plant assortments."""
    n_shared = n_products if n_plants == 1 else round(SHARED_SHARE * n_products)
    n_own = n_products - n_shared
    n = n_shared + n_plants * n_own
    pattern = _quota(rng, n, PATTERN_SHARES)
    lifecycle = _quota(rng, n, LIFECYCLE_SHARES)
    above = rng.random(n)[:, None] > GROUP_WEIGHTS[pattern].cumsum(axis=1)
    group = np.minimum(above.sum(axis=1), len(GROUPS) - 1)
    lot_table = np.array([[*lots, *[lots[-1]] * (4 - len(lots))] for lots in GROUP_LOTS])
    n_lots = np.array([len(lots) for lots in GROUP_LOTS])
    lot = lot_table[group, (rng.random(n) * n_lots[group]).astype(int)]
    units = GROUP_UNITS[group] * rng.lognormal(0, 0.5, n)

    launch_day = np.full(n, -1)
    is_new, is_launched = lifecycle == NEW, lifecycle == LAUNCHED
    launch_day[is_new] = cal.n_hist - rng.integers(60, 181, is_new.sum())
    launch_day[is_launched] = rng.integers(30, max(31, cal.n_hist - 300), is_launched.sum())
    stop_day = np.full(n, cal.n_days)
    is_disc = lifecycle == DISCONTINUED
    # Demand stops 3 to 12 months before the end, never in the first 3 months of data.
    stop_day[is_disc] = cal.n_hist - rng.integers(90, min(366, cal.n_hist - 89), is_disc.sum())
    # The master dates every discontinued product (only its discontinued_date ends a series;
    # a pause does not): half up to a month after demand stops, half on the day it stops.
    # (The draws are those of the earlier generator, which dated only the first half, so
    # the order lines are unchanged.)
    late = np.flatnonzero(is_disc)[_quota(rng, int(is_disc.sum()), (0.5, 0.5)) == 1]
    disc_day = np.full(n, -1)
    disc_day[is_disc] = stop_day[is_disc]
    disc_day[late] = np.minimum(stop_day[late] + rng.integers(0, 31, late.size), cal.n_hist - 1)

    # Every plant sells the shared products plus its own: each product is sold somewhere.
    order = rng.permutation(n)
    shared, own = order[:n_shared], order[n_shared:].reshape(n_plants, n_own)
    return {
        "n": n,
        "pattern": pattern,
        "lifecycle": lifecycle,
        "group": group,
        "lot": lot,
        "units": units,
        "launch_day": launch_day,
        "ramp_days": rng.uniform(7, 35, n),
        "stop_day": stop_day,
        "runout_days": rng.uniform(28, 120, n),
        "disc_day": disc_day,
        "series_plant": np.repeat(np.arange(n_plants), n_products),
        "series_product": np.concatenate(
            [np.sort(np.concatenate([shared, own[p]])) for p in range(n_plants)]
        ),
    }


def _series(rng: np.random.Generator, cat: dict, n_plants: int) -> _Series:
    """Per-series generator parameters: order frequency, order sizes, lifecycle."""
    plant, product = cat["series_plant"], cat["series_product"]
    n = plant.size
    pattern, lifecycle = cat["pattern"][product], cat["lifecycle"][product]
    archetype = pattern.copy()
    archetype[lifecycle == NEW] = ARCHETYPES.index("new")
    archetype[lifecycle == DISCONTINUED] = ARCHETYPES.index("discontinued")

    # Order lines per week: many for smooth products, rare for intermittent and lumpy ones.
    weekly = np.empty(n)
    for kind, low, high in ((SMOOTH, 6, 50), (PROMO, 6, 50), (ERRATIC, 5, 12)):
        rows = np.flatnonzero(pattern == kind)
        weekly[rows] = _log_uniform(rng, low, high, rows.size) * rng.lognormal(0, 0.2, rows.size)
    for kind, low, high in ((INTERMITTENT, 0.15, 0.6), (LUMPY, 0.1, 0.5)):
        rows = np.flatnonzero(pattern == kind)
        p_week = rng.uniform(low, high, rows.size) * rng.lognormal(0, 0.15, rows.size)
        weekly[rows] = -np.log1p(-np.clip(p_week, 0.05, 0.7))  # P(an order in a week) = p_week

    # Units per line, in whole lots: steady for intermittent series, wild for lumpy ones.
    plant_scale = np.concatenate([[1.0, 0.6], rng.uniform(0.3, 1.2, max(0, n_plants - 2))])
    size_factor = np.array([1.0, 1.0, 1.5, 1.0, 4.0])[pattern]
    mean_size = cat["units"][product] * size_factor * plant_scale[plant] * rng.lognormal(0, 0.2, n)
    lot = cat["lot"][product]
    lot = np.where(lot * 4 > mean_size, 1, lot).astype(float)
    mean_size = np.maximum(mean_size, lot)
    shape_range = np.array([[1.5, 5.0], [1.5, 5.0], [0.4, 1.0], [10.0, 40.0], [0.25, 0.7]])
    size_shape = rng.uniform(*shape_range[pattern].T)

    return _Series(
        plant=plant,
        product=product,
        pattern=pattern,
        lifecycle=lifecycle,
        archetype=archetype,
        weekly_orders=weekly,
        lot=lot,
        mean_size=mean_size,
        size_shape=size_shape,
        launch_day=cat["launch_day"][product],
        stop_day=cat["stop_day"][product],
    )


def _log_steps(rng: np.random.Generator, s: _Series, cal: _Calendar) -> np.ndarray:
    """Log multipliers of promotions (with a post-promotion dip) and permanent level shifts."""
    n = s.plant.size
    promo = np.flatnonzero(s.pattern == PROMO)
    rows = np.repeat(promo, rng.poisson(PROMOS_PER_YEAR * cal.n_days / 365.25, promo.size))
    start = rng.integers(0, cal.n_days, rows.size)
    end = start + rng.integers(5, 22, rows.size)
    uplift = rng.uniform(np.log(1.8), np.log(4.0), rows.size)
    dip_end = end + rng.integers(7, 15, rows.size)
    shifted = np.flatnonzero((s.pattern <= ERRATIC) & (rng.random(n) < LEVEL_SHIFT_SHARE))
    shift_day = rng.integers(90, max(91, cal.n_hist - 60), shifted.size)
    shift = rng.uniform(np.log(0.55), np.log(1.7), shifted.size)

    row = np.concatenate([rows, rows, shifted])
    first = np.concatenate([start, end, shift_day])
    last = np.concatenate([end, dip_end, np.full(shifted.size, cal.n_days)])
    value = np.concatenate([uplift, np.full(rows.size, np.log(0.7)), shift])
    diff = np.zeros((n, cal.n_days + 1))
    np.add.at(diff, (row, np.minimum(first, cal.n_days)), value)
    np.add.at(diff, (row, np.minimum(last, cal.n_days)), -value)
    return diff[:, :-1].cumsum(axis=1)


def _lifecycle(s: _Series, cat: dict, cal: _Calendar) -> np.ndarray:
    """Multiplier 0..1: ramp-up after launch, run-out before the stop, zero outside."""
    life = np.ones((s.plant.size, cal.n_days))
    day = np.arange(cal.n_days)[None, :]
    up = np.flatnonzero(s.launch_day >= 0)
    since = day - s.launch_day[up, None]
    ramp = cat["ramp_days"][s.product[up], None]
    life[up] = np.where(since < 0, 0.0, -np.expm1(-(since + 1) / ramp))
    down = np.flatnonzero(s.stop_day < cal.n_days)
    left = s.stop_day[down, None] - day
    runout = cat["runout_days"][s.product[down], None]
    life[down] *= np.where(left <= 0, 0.0, 0.3 + 0.7 * np.clip(left / runout, 0, 1))
    return life


def _order_rate(rng: np.random.Generator, s: _Series, cat: dict, cal: _Calendar) -> np.ndarray:
    """Expected order lines per series and day: trend, seasonality, weekdays, events, life."""
    n, pattern = s.plant.size, s.pattern
    years_to_end = (np.arange(cal.n_days) - cal.n_hist) / 365.25
    trend_mean = np.array([0.04, 0.04, 0.0, 0.0, 0.0])[pattern]
    trend_sd = np.array([0.12, 0.12, 0.10, 0.06, 0.06])[pattern]
    trend = np.clip(rng.normal(trend_mean, trend_sd), -0.3, 0.4)
    log_rate = np.log(s.weekly_orders / 7)[:, None] + trend[:, None] * years_to_end[None, :]
    log_rate += _log_steps(rng, s, cal)

    # Yearly seasonality shared within a product group, sharper for smooth products.
    amplitude = rng.uniform(
        np.array([0.1, 0.1, 0, 0, 0])[pattern], np.array([0.45, 0.45, 0.3, 0.15, 0.15])[pattern]
    )
    amplitude2 = rng.uniform(0, 0.15, n) * (pattern <= PROMO)
    phase = rng.uniform(0, 2 * np.pi, len(GROUPS))[cat["group"][s.product]] + rng.normal(0, 0.5, n)
    phase2 = rng.uniform(0, 2 * np.pi, n)
    angle = 2 * np.pi * cal.epoch_day / 365.25
    rate = np.exp(log_rate)
    rate *= 1 + amplitude[:, None] * np.sin(angle + phase[:, None])
    rate += rate * amplitude2[:, None] * np.sin(2 * angle + phase2[:, None])

    weekday = DAY_OF_WEEK * rng.lognormal(0, 0.15, (n, 7))
    weekday *= 7 / weekday.sum(axis=1, keepdims=True)
    rate *= weekday[:, (cal.epoch_day + 3) % 7]  # 1970-01-01 was a Thursday
    dates = EPOCH + cal.epoch_day
    month = dates.astype("datetime64[M]").astype(int) % 12 + 1
    day_of_month = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    shutdown = ((month == 12) & (day_of_month >= 24)) | ((month == 1) & (day_of_month == 1))
    rate *= np.where(shutdown, SHUTDOWN_FACTOR, 1.0)[None, :]
    rate *= _lifecycle(s, cat, cal)
    return rate


def _draw_lines(
    rng: np.random.Generator, s: _Series, rate: np.ndarray, cal: _Calendar
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order lines (series, day, quantity) in (series, day) order, history and future."""
    n, n_days = rate.shape
    drawn = rate
    erratic = np.flatnonzero(s.pattern == ERRATIC)
    if erratic.size:  # busy and quiet weeks: over-dispersed counts, same expectation
        week = (cal.epoch_day + 3) // 7
        week -= week[0]
        shape = rng.uniform(0.8, 2.0, erratic.size)[:, None]
        drawn = rate.copy()
        drawn[erratic] *= rng.gamma(shape, 1 / shape, (erratic.size, week[-1] + 1))[:, week]
    counts = rng.poisson(drawn)
    # Every series has at least one line in the history, on its busiest expected day.
    empty = np.flatnonzero(counts[:, : cal.n_hist].sum(axis=1) == 0)
    counts[empty, rate[empty, : cal.n_hist].argmax(axis=1)] = 1

    cell = np.repeat(np.arange(counts.size, dtype=np.int64), counts.ravel())
    series, day = np.divmod(cell, n_days)
    # Lots per line: 1 + negative binomial, so the expected quantity is exactly mean_size.
    extra = s.mean_size / s.lot - 1
    p = s.size_shape / (s.size_shape + extra)
    lots = 1 + rng.negative_binomial(s.size_shape[series], p[series])
    return series, day, lots * s.lot[series]


def _returns(
    rng: np.random.Generator, s: _Series, series: np.ndarray, day: np.ndarray, qty: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return lines, booked against a later sales line of the same series, never above either.

    So a series' returns never exceed its sales, and net demand is never negative on any
    day (hence in no week or month either).
    """
    n = s.plant.size
    share = np.where(rng.random(n) < RETURN_SERIES_SHARE, _log_uniform(rng, 0.003, 0.04, n), 0.0)
    source = np.flatnonzero(rng.random(series.size) < share[series])
    target = source + rng.geometric(0.3, source.size)
    keep = target < series.size
    source, target = source[keep], target[keep]
    keep = series[target] == series[source]
    source, target = source[keep], target[keep]
    target, first = np.unique(target, return_index=True)
    source = source[first]
    lot = s.lot[series[target]]
    most = np.minimum(qty[source], qty[target]) / lot
    returned = lot * np.ceil(most * rng.uniform(0.05, 1.0, target.size))
    return series[target], day[target], -returned


def _date_array(day: np.ndarray, cal: _Calendar, null: np.ndarray | None = None) -> pa.Array:
    epoch_day = (cal.start - EPOCH).astype(int) + day
    return pa.array(epoch_day.astype(np.int32), mask=null).cast(pa.date32())


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _orders_table(
    rng: np.random.Generator,
    s: _Series,
    lines: tuple[np.ndarray, np.ndarray, np.ndarray],
    cal: _Calendar,
    ids: dict,
) -> tuple[pa.Table, int]:
    """Order lines as an ERP extract: by date, a day's lines shuffled, a few exact duplicates."""
    series, day, qty = lines
    shuffle = rng.integers(0, 2**32, day.size, dtype=np.int64)
    order = np.argsort((day.astype(np.int64) << 32) | shuffle)
    n_dup = max(1, int(rng.binomial(order.size, DUPLICATE_SHARE)))
    copies = rng.choice(order.size, n_dup, replace=False)
    line = np.sort(np.concatenate([np.arange(order.size), copies]))  # copy next to its original
    row = order[line]
    table = pa.table(
        {
            "order_id": _ids("OL", line + 1, 9),
            "order_date": _date_array(day[row], cal),
            "product_id": ids["product"].take(pa.array(s.product[series[row]])),
            "plant_id": ids["plant"].take(pa.array(s.plant[series[row]])),
            "quantity": pa.array(qty[row], type=pa.float64()),
        }
    )
    return table, n_dup


def _products_table(cat: dict, cal: _Calendar, ids: dict) -> pa.Table:
    """Product master: names unique within a group, launch and discontinued dates or null."""
    rank = np.empty(cat["n"], dtype=int)
    for g in range(len(GROUPS)):
        members = np.flatnonzero(cat["group"] == g)
        rank[members] = np.arange(members.size)
    names = [
        f"{GROUP_NAMES[g][k % 3]} {GROUP_CODES[g]}-{1001 + k}"
        for g, k in zip(cat["group"], rank, strict=True)
    ]
    return pa.table(
        {
            "product_id": ids["product"],
            "product_name": pa.array(names),
            "product_group": pa.array([GROUPS[g] for g in cat["group"]]),
            "launch_date": _date_array(cat["launch_day"], cal, cat["launch_day"] < 0),
            "discontinued_date": _date_array(cat["disc_day"], cal, cat["disc_day"] < 0),
        }
    )


def _launches_table(cat: dict, cal: _Calendar, ids: dict) -> pa.Table:
    """Planned launches (no draws: the other files are unchanged). Every plant x product
    launched in the last two years of history, at its launch date (ordered since, so
    forecast as a series at the end, as a launch at an origin before its first order); and,
    with two plants or more, two products of the first plant rolled out to the last one
    after the history ends: one following its own first periods at the first plant
    (analog_product_id; one launched inside the history where there is one), one its
    group's launch curve."""
    plant, product = cat["series_plant"], cat["series_product"]
    recent = cat["launch_day"][product] >= cal.n_hist - 730
    day = list(cat["launch_day"][product][recent])
    plants, products = list(plant[recent]), list(product[recent])
    analogs: list[int] = [-1] * len(products)
    last = plant.max()
    only = np.setdiff1d(product[plant == 0], product[plant == last])
    when = cat["launch_day"][only]
    # the analog's own first periods must be a launch: one launched inside the history, a
    # horizon or more before its end (a series that starts with the data is no launch)
    inside = only[(when > 0) & (when < cal.n_hist - 91)][:1]
    before = only[when < 0][: 2 - len(inside)]
    own = np.concatenate([inside, before]) if last > 0 else only[:0]
    for k, p in enumerate(own):
        plants.append(last)
        products.append(p)
        day.append(cal.n_hist + 14 + 28 * k)
        analogs.append(p if k == 0 else -1)
    analog = np.asarray(analogs, dtype=int)
    return pa.table(
        {
            "plant_id": ids["plant"].take(pa.array(plants, type=pa.int64())),
            "product_id": ids["product"].take(pa.array(products, type=pa.int64())),
            "launch_date": _date_array(np.asarray(day, dtype=int), cal),
            "analog_product_id": pa.array(
                [ids["product"][a].as_py() if a >= 0 else None for a in analog],
                type=pa.string(),
            ),
        }
    )


def _plants_table(ids: dict) -> pa.Table:
    names = [
        f"Plant {SITES[i % len(SITES)]}" + (f" {i // len(SITES) + 1}" if i >= len(SITES) else "")
        for i in range(len(ids["plant"]))
    ]
    return pa.table({"plant_id": ids["plant"], "plant_name": pa.array(names)})


def _truth_table(
    s: _Series, cal: _Calendar, expected: np.ndarray, actual: np.ndarray, ids: dict
) -> pa.Table:
    """One row per series and day, history and future; keys dictionary-encoded to stay small."""
    n_series = s.plant.size
    per_series = np.repeat(np.arange(n_series), cal.n_days)
    is_future = np.tile(np.arange(cal.n_days) >= cal.n_hist, n_series)
    realised = np.zeros((n_series, cal.n_days), dtype=np.float32)
    realised[:, cal.n_hist :] = actual

    def category(index: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), values)

    return pa.table(
        {
            "plant_id": category(s.plant[per_series], ids["plant"]),
            "product_id": category(s.product[per_series], ids["product"]),
            "demand_date": _date_array(np.tile(np.arange(cal.n_days), n_series), cal),
            "archetype": category(s.archetype[per_series], pa.array(ARCHETYPES)),
            "is_future": pa.array(is_future),
            "expected_demand": pa.array(expected.astype(np.float32).ravel()),
            "actual_demand": pa.array(realised.ravel(), mask=~is_future),
        }
    )


def last_sunday(today: dt.date | None = None) -> dt.date:
    """The last day of the last complete ISO week before `today`."""
    today = today or dt.date.today()
    return today - dt.timedelta(days=today.weekday() + 1)


def write_demo(
    out_dir: str | Path,
    n_plants: int = 2,
    n_products: int = 200,
    years: int = 3,
    seed: int = 42,
    end_date: str | dt.date | None = None,
    future_days: int = 182,
    launches: bool = True,
) -> dict:
    """Write orders, products, plants, launches (unless `launches` is False) and truth
    Parquet files of a synthetic manufacturer.

    ``n_products`` is per plant; the plants share about 80% of their products. The history
    ends on ``end_date``, by default the last Sunday before today, so the demo is never a
    stale extract. Returns the file paths and counts.
    """
    if end_date is None:
        end_date = last_sunday()
    started = time.perf_counter()
    if n_plants < 1 or n_products < 1 or years < 1 or future_days < 0:
        raise ValueError(
            "write_demo: need n_plants >= 1, n_products >= 1, years >= 1, future_days >= 0; "
            f"got {n_plants=}, {n_products=}, {years=}, {future_days=}"
        )
    rng = np.random.default_rng(seed)
    cal = _calendar(end_date, years, future_days)
    cat = _catalog(rng, n_plants, n_products, cal)
    s = _series(rng, cat, n_plants)
    rate = _order_rate(rng, s, cat, cal)
    series, day, qty = _draw_lines(rng, s, rate, cal)

    n_series = s.plant.size
    future = day >= cal.n_hist
    actual = np.bincount(
        series[future] * future_days + (day[future] - cal.n_hist),
        weights=qty[future],
        minlength=n_series * future_days,
    ).reshape(n_series, future_days)
    series, day, qty = series[~future], day[~future], qty[~future]
    returns = _returns(rng, s, series, day, qty)
    lines = tuple(np.concatenate(pair) for pair in zip((series, day, qty), returns, strict=True))

    ids = {
        "plant": _ids("PL", np.arange(1, n_plants + 1), 2),
        "product": _ids("P", np.arange(1, cat["n"] + 1), 5),
    }
    orders, n_dup = _orders_table(rng, s, lines, cal, ids)
    tables = {
        "orders": orders,
        "products": _products_table(cat, cal, ids),
        "plants": _plants_table(ids),
        "truth": _truth_table(s, cal, rate * s.mean_size[:, None], actual, ids),
    }
    if launches:
        tables["launches"] = _launches_table(cat, cal, ids)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.parquet" for name in tables}
    for name, table in tables.items():
        pq.write_table(table, paths[name], compression="zstd")
    return {
        **{name: str(path) for name, path in paths.items()},
        "n_order_lines": orders.num_rows,
        "n_returns": int(returns[0].size),
        "n_duplicates": n_dup,
        "n_series": n_series,
        "n_products": cat["n"],
        "n_plants": n_plants,
        "n_truth_rows": tables["truth"].num_rows,
        "start_date": str(cal.start),
        "end_date": str(cal.end),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line for `demandcast demo`: write the demo files and print one summary line."""
    parser = argparse.ArgumentParser(
        prog="demandcast demo",
        description="Write demo order lines, products, plants and the demand truth as Parquet.",
    )
    parser.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    parser.add_argument("--plants", type=int, default=2, help="number of plants (default: 2)")
    parser.add_argument(
        "--products", type=int, default=200, help="products per plant (default: 200)"
    )
    parser.add_argument("--years", type=int, default=3, help="years of order history (default: 3)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    parser.add_argument(
        "--end-date",
        default=None,
        help="last day of the history, YYYY-MM-DD (default: the last Sunday before today)",
    )
    parser.add_argument(
        "--future-days",
        type=int,
        default=182,
        help="days of truth after the end date (default: 182)",
    )
    args = parser.parse_args(argv)
    info = write_demo(
        args.out,
        n_plants=args.plants,
        n_products=args.products,
        years=args.years,
        seed=args.seed,
        end_date=args.end_date,
        future_days=args.future_days,
    )
    print(
        f"demo: {info['n_order_lines']:,} order lines, {info['n_series']:,} series "
        f"({info['n_plants']} plants, {info['n_products']} products), "
        f"{info['start_date']} to {info['end_date']}, in {args.out} ({info['seconds']:.1f} s)"
    )
    return 0
