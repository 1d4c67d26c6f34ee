"""Benchmark the forecasting engine: backtest, selection and forecast on N weekly series.

Times each stage of demandcast (wall time, CPU time of this process and its
worker processes, peak RSS, number of model fits and StatsForecast calls),
then runs the same candidates through one plain StatsForecast
`cross_validation` call and one `forecast` call over every series (no
routing, no grouping) as the reference. Prints a table; writes JSON.

    .venv/bin/python scripts/bench_automl.py --series 2000 --years 3 --n-jobs 2

Data: the demo generator (realistic mix of demand classes and lifecycles) at
about --series series; --source synthetic uses frames.synthetic_series
(a quarter each of smooth, erratic, intermittent, lumpy; all full length).
The machine is shared: the script records the load average before each stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
from statsforecast import StatsForecast

from demandcast.backtest import BacktestStats, run_backtest
from demandcast.catalog import Guarded, load_catalog
from demandcast.config import Settings
from demandcast.demo import write_demo
from demandcast.forecast import ForecastStats, forecast_series
from demandcast.frames import series_from_orders, synthetic_series, to_sf
from demandcast.intervals import Calibration
from demandcast.selection import select_champions

ROOT = Path(__file__).resolve().parents[1]


class MemorySampler(threading.Thread):
    """Peak proportional set size (PSS) of this process and its workers, sampled.

    ru_maxrss counts pages a forked worker shares with its parent once per
    process, so summing it overstates the footprint; PSS splits shared pages
    between the processes that map them. Linux only (reads /proc); elsewhere
    the peak stays 0 and the ru_maxrss figures remain.
    """

    def __init__(self, interval: float = 0.25):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_mib = 0.0
        self._stop_event = threading.Event()

    @staticmethod
    def _pss_kib(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        kids = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                kids += [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
        return kids

    def run(self) -> None:
        me = os.getpid()
        while not self._stop_event.wait(self.interval):
            total = self._pss_kib(me) + sum(self._pss_kib(k) for k in self._children(me))
            self.peak_mib = max(self.peak_mib, total / 1024)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak_mib


class Stage:
    """Wall time, CPU time (self + finished children) and peak RSS of a block."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.load = os.getloadavg()[0]
        self.wall0 = time.perf_counter()
        self.cpu0 = _cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = _cpu() - self.cpu0
        self.rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.rss_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return False

    def row(self, **extra) -> dict:
        return {
            "stage": self.name,
            "wall_s": round(self.wall, 2),
            "cpu_s": round(self.cpu, 2),
            "load_before": round(self.load, 2),
            **extra,
        }


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def make_data(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    if args.source == "synthetic":
        return synthetic_series(args.series, 52 * args.years, seed=args.seed)
    out = Path(tempfile.mkdtemp(prefix="demandcast-bench-"))
    n_plants = max(1, args.series // 500)
    write_demo(
        out, n_plants=n_plants, n_products=args.series // n_plants, years=args.years, seed=args.seed
    )
    orders = pd.read_parquet(out / "orders.parquet")
    products = pd.read_parquet(out / "products.parquet")
    return series_from_orders(orders, products)


def reference(series: pd.DataFrame, ids, settings: Settings, catalog, label: str) -> dict:
    """The same single candidates through one plain cross_validation and one forecast call."""
    cands = [c for c in catalog.resolve(settings.candidates, settings.season_length)]
    singles = [c for c in cands if not c.is_combination]
    models = [Guarded(catalog.build(c.name, settings.season_length)) for c in singles]
    df = to_sf(series, ids=ids)
    sf = StatsForecast(models=models, freq=settings.freq, n_jobs=settings.n_jobs)
    with Stage(f"{label} cross_validation") as cv_stage:
        cv = sf.cross_validation(
            df=df, h=settings.horizon, n_windows=settings.n_windows, step_size=settings.step_size
        )
        del cv
    with Stage(f"{label} forecast") as fc_stage:
        fc = sf.forecast(df=df, h=settings.horizon)
        del fc
    n = len(ids)
    return {
        "cv": cv_stage.row(
            series=n, fits=n * settings.n_windows * len(models), calls=1, models=len(models)
        ),
        "forecast": fc_stage.row(series=n, fits=n * len(models), calls=1, models=len(models)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--candidates", default="default")
    ap.add_argument("--source", choices=("demo", "synthetic"), default="demo")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--no-reference", action="store_true", help="skip the plain StatsForecast run")
    ap.add_argument(
        "--reference",
        choices=("catalog", "native"),
        default="catalog",
        help="catalog: our candidates as built for this season length; native: StatsForecast's "
        "own seasonal classes with season_length 52 (no Fourier/MSTL adjustment)",
    )
    ap.add_argument(
        "--reference-series",
        type=int,
        default=0,
        help="run the reference on a random subset of this many series (0: all) and "
        "extrapolate linearly",
    )
    ap.add_argument("--json", default=str(ROOT / "reports" / "bench_automl.json"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    series, profiles = make_data(args)
    prep_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    settings = Settings(n_jobs=args.n_jobs, candidates=args.candidates)
    catalog = load_catalog()
    classes = profiles["demand_class"].value_counts().to_dict()
    lifecycles = profiles["lifecycle"].value_counts().to_dict()
    print(
        f"{len(profiles)} series x up to {series.groupby('series_id').size().max()} weeks; "
        f"classes {classes}; lifecycles {lifecycles}; "
        f"{len(catalog.resolve(settings.candidates, settings.season_length))} candidates; "
        f"n_jobs {settings.n_jobs}; {os.cpu_count()} cores",
        file=sys.stderr,
    )

    rows = []
    bstats, fstats = BacktestStats(), ForecastStats()
    sampler = MemorySampler()
    sampler.start()
    with Stage("backtest") as st:
        calibration = Calibration()
        metrics = run_backtest(series, profiles, settings, catalog, bstats, calibration)
        quantiles = calibration.quantiles(settings.levels)
    rows.append(st.row(series=bstats.n_series, fits=bstats.n_fits, calls=bstats.n_calls))
    with Stage("select") as st:
        champions = select_champions(metrics, profiles, settings, catalog)
    rows.append(st.row(series=len(champions), fits=0, calls=0))
    with Stage("forecast") as st:
        fc = forecast_series(
            series, profiles, champions, settings, catalog, fstats, calibration=quantiles
        )
    rows.append(
        st.row(series=int(fc["series_id"].nunique()), fits=fstats.n_fits, calls=fstats.n_calls)
    )
    total = {
        "stage": "total (ours)",
        "wall_s": round(sum(r["wall_s"] for r in rows), 2),
        "cpu_s": round(sum(r["cpu_s"] for r in rows), 2),
        "fits": sum(r["fits"] for r in rows),
        "calls": sum(r["calls"] for r in rows),
    }
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peak_pss = sampler.stop()
    rows.append(total)

    if not args.no_reference:
        # plain cross_validation cannot mix history lengths: the series with every window
        ok = metrics[(metrics["status"] == "ok") & (metrics["n_windows"] == settings.n_windows)]
        ids = pd.Series(ok["series_id"].unique())
        n_all = len(ids)
        if 0 < args.reference_series < n_all:
            ids = ids.sample(args.reference_series, random_state=0)
        ref_catalog = catalog
        label = "plain SF"
        if args.reference == "native":
            ref_catalog = dataclasses.replace(catalog, long_season=10**9)
            label = "plain SF, native season"
        ref = reference(series, ids.to_numpy(), settings, ref_catalog, label)
        scale = n_all / len(ids)
        rows += [ref["cv"], ref["forecast"]]
        rows.append(
            {
                "stage": f"total ({label}, {len(ids)} series)",
                "wall_s": round(ref["cv"]["wall_s"] + ref["forecast"]["wall_s"], 2),
                "cpu_s": round(ref["cv"]["cpu_s"] + ref["forecast"]["cpu_s"], 2),
                "fits": ref["cv"]["fits"] + ref["forecast"]["fits"],
                "calls": 2,
            }
        )
        if scale > 1:
            rows.append(
                {
                    "stage": f"total ({label}) x {scale:.2f} -> {n_all} series",
                    "wall_s": round(scale * rows[-1]["wall_s"], 1),
                    "cpu_s": round(scale * rows[-1]["cpu_s"], 1),
                    "fits": round(scale * rows[-1]["fits"]),
                    "calls": 2,
                }
            )

    table = pd.DataFrame(rows).fillna("")
    print(table.to_string(index=False))
    print(
        f"peak RSS of our stages (data prep included): main process {peak_self:.0f} MiB, "
        f"largest worker {peak_child:.0f} MiB (upper bound of the total: "
        f"{peak_self + settings.n_jobs * peak_child:.0f} MiB); data prep alone {prep_rss:.0f} MiB"
    )
    print(f"peak PSS of our stages, main process + workers (sampled): {peak_pss:.0f} MiB")
    print(
        f"methods: {fc['method'].value_counts().to_dict()}; "
        f"backtest rows {len(metrics)}, status {metrics['status'].value_counts().to_dict()}"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "args": vars(args),
                "series": int(len(profiles)),
                "classes": {k: int(v) for k, v in classes.items()},
                "stages": rows,
                "peak_rss_mib": {
                    "data_prep": round(prep_rss),
                    "peak_pss_ours_sampled": round(peak_pss),
                    "main": round(peak_self),
                    "largest_worker": round(peak_child),
                    "upper_bound_total": round(peak_self + settings.n_jobs * peak_child),
                },
                "cpu_count": os.cpu_count(),
            },
            indent=2,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
