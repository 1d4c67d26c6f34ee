"""Where StatsForecast runs: this process (engine 'local') or a Dask or Ray cluster.

`open_engine(settings)` yields the engine of a step (the backtest, the forecast). Both
kinds answer the same two calls, `cross_validation` and `forecast`, with the frames
`StatsForecast` returns, so the backtest and the forecast do not know where they run:

- 'local': `StatsForecast(..., n_jobs=settings.n_jobs)` in this process, its own pool of
  worker processes for a call of several series.
- 'dask' and 'ray': StatsForecast's own distributed backend (`FugueBackend`: Fugue on a
  Dask or Ray execution engine). Each task runs the backend's per-partition function,
  plain StatsForecast with n_jobs 1, on its share of the series, so every number is the
  one the local engine computes. Two changes (`Backend`): the output columns are float64
  (the backend declares float32, which would round every forecast and actual to 7 digits
  and could change a champion on a near tie), and the series are split coarsely, a few
  tasks per worker, where the backend asks for a task per series (about 15 ms of overhead
  a series on Dask). Rows come back in the local engine's order (series, cutoff, period).

The cluster: `settings.engine_address` (var `engine_address`), else the environment
variable DEMANDCAST_ENGINE_ADDRESS, else a local cluster on this machine (Dask: a
`LocalCluster` of n_jobs worker processes, one thread each; Ray: `ray.init()` with n_jobs
CPUs), started by the first step that needs it, shared by the steps of the process (the
backtest and the forecast of a build) and closed when the process exits. A cluster given
by address is left running; only the step's client disconnects.

The workers unpickle the candidate models (`catalog.Guarded` around StatsForecast models
or plug-ins), so they need demandcast, its plug-ins and the same statsforecast installed:
`pip install 'demandcast[dask]'` (or `[ray]`) on every worker.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fugue.api as fa
import pandas as pd
import pyarrow as pa
from fugue import transform
from statsforecast import StatsForecast
from statsforecast.distributed.fugue import FugueBackend
from triad import Schema

from demandcast.config import Settings

ADDRESS_ENV = "DEMANDCAST_ENGINE_ADDRESS"
"""The environment variable naming the cluster when the var engine_address is null."""

EXTRAS: dict[str, tuple[str, ...]] = {
    "local": (),
    "dask": ("dask", "distributed", "fugue_dask"),
    "ray": ("ray", "fugue_ray"),
}
"""The modules each engine imports (fugue_dask and fugue_ray come with fugue)."""

TASKS_PER_WORKER = 4
"""Tasks a distributed call splits its series into, per worker thread: enough to even out
series of unequal cost, few enough that the per-task overhead stays small."""


def missing_extra(engine: str) -> str | None:
    """Why an engine cannot run here (its extra is not installed), or None when it can."""
    missing = [m for m in EXTRAS.get(engine, ()) if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"needs {', '.join(missing)}, not installed here: "
        f"pip install 'demandcast[{engine}]' (the cluster's workers need it too)"
    )


def engine_address(settings: Settings) -> tuple[str | None, str]:
    """The cluster address and where it came from ('var engine_address', the env var, or
    'local' when neither names one)."""
    if settings.engine_address:
        return settings.engine_address, "var engine_address"
    env = os.environ.get(ADDRESS_ENV, "").strip()
    if env:
        return env, ADDRESS_ENV
    return None, "local"


def _workers(n_jobs: int) -> int:
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


class LocalEngine:
    """StatsForecast in this process, with its pool of n_jobs worker processes."""

    name = "local"
    distributed = False

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs

    def describe(self) -> str:
        return f"n_jobs {self.n_jobs}"

    def cross_validation(
        self,
        models: list,
        df: pd.DataFrame,
        *,
        freq: str,
        h: int,
        n_windows: int,
        step_size: int,
        refit: bool,
        in_process: bool = False,
    ) -> pd.DataFrame:
        """StatsForecast.cross_validation (`in_process`: n_jobs 1, no pool start-up)."""
        # a new StatsForecast per call: it lowers its n_jobs to a call's series count
        sf = StatsForecast(models=models, freq=freq, n_jobs=1 if in_process else self.n_jobs)
        return sf.cross_validation(
            df=df, h=h, n_windows=n_windows, step_size=step_size, refit=refit
        )

    def forecast(
        self,
        models: list,
        df: pd.DataFrame,
        *,
        freq: str,
        h: int,
        level: list | None,
        in_process: bool = False,
    ) -> pd.DataFrame:
        """StatsForecast.forecast (`in_process`: n_jobs 1, no pool start-up)."""
        sf = StatsForecast(models=models, freq=freq, n_jobs=1 if in_process else self.n_jobs)
        return sf.forecast(df=df, h=h, level=level)


class Backend(FugueBackend):
    """StatsForecast's Fugue backend with float64 output columns and a coarse split by
    series: at most `partitions` tasks, each running the backend's own per-partition
    function (`_cv`, `_forecast_noX`) on its series as one StatsForecast call."""

    def __init__(self, engine: Any, partitions: int) -> None:
        super().__init__(engine)
        self._partitions = partitions

    def _get_output_schema(self, **kwargs: Any) -> Schema:
        schema = super()._get_output_schema(**kwargs)
        return Schema(
            [
                pa.field(f.name, pa.float64()) if pa.types.is_float32(f.type) else f
                for f in schema.fields
            ]
        )

    def _partition(self, n_series: int) -> dict:
        return {"by": "unique_id", "algo": "coarse", "num": max(1, min(n_series, self._partitions))}

    def run_cv(
        self,
        df: pd.DataFrame,
        models: list,
        freq: str,
        h: int,
        n_windows: int,
        step_size: int,
        refit: bool,
    ) -> Any:
        """The backend's cross_validation (its `_cv` on each partition)."""
        cols = dict(id_col="unique_id", time_col="ds", target_col="y")
        schema = self._get_output_schema(df=df, models=models, level=None, mode="cv", **cols)
        params = dict(
            models=models,
            freq=freq,
            fallback_model=None,
            h=h,
            n_windows=n_windows,
            step_size=step_size,
            test_size=None,
            input_size=None,
            level=None,
            refit=refit,
            fitted=False,
            prediction_intervals=None,
            **cols,
        )
        return transform(
            df,
            self._cv,
            params=params,
            schema=schema,
            partition=self._partition(df["unique_id"].nunique()),
            engine=self._engine,
        )

    def run_forecast(
        self, df: pd.DataFrame, models: list, freq: str, h: int, level: list | None
    ) -> Any:
        """The backend's forecast (its `_forecast_noX` on each partition)."""
        cols = dict(id_col="unique_id", time_col="ds", target_col="y")
        schema = self._get_output_schema(df=df, models=models, level=level, mode="forecast", **cols)
        params = dict(
            models=models,
            freq=freq,
            fallback_model=None,
            h=h,
            level=level,
            prediction_intervals=None,
            **cols,
        )
        return transform(
            df,
            self._forecast_noX,
            params=params,
            schema=schema,
            partition=self._partition(df["unique_id"].nunique()),
            engine=self._engine,
        )


class FugueEngine:
    """StatsForecast's Fugue backend on a Dask or Ray execution engine."""

    distributed = True

    def __init__(self, name: str, fugue_engine: Any, workers: int, where: str) -> None:
        self.name = name
        self.workers = max(int(workers), 1)
        self.where = where
        self._engine = fugue_engine
        self._backend = Backend(fugue_engine, TASKS_PER_WORKER * self.workers)
        self._local = LocalEngine(1)

    def describe(self) -> str:
        return f"engine {self.name} ({self.where}, {self.workers} worker threads)"

    def cross_validation(
        self,
        models: list,
        df: pd.DataFrame,
        *,
        freq: str,
        h: int,
        n_windows: int,
        step_size: int,
        refit: bool,
        in_process: bool = False,
    ) -> pd.DataFrame:
        """The cross_validation of the local engine, run on the cluster (`in_process`: here,
        for a call of one series that measures a group's pace)."""
        if in_process:
            return self._local.cross_validation(
                models, df, freq=freq, h=h, n_windows=n_windows, step_size=step_size, refit=refit
            )
        res = self._backend.run_cv(
            df[["unique_id", "ds", "y"]], models, freq, h, n_windows, step_size, refit
        )
        return _local_frame(res, ["unique_id", "cutoff", "ds"])

    def forecast(
        self,
        models: list,
        df: pd.DataFrame,
        *,
        freq: str,
        h: int,
        level: list | None,
        in_process: bool = False,
    ) -> pd.DataFrame:
        """The forecast of the local engine, run on the cluster (`in_process`: here)."""
        if in_process:
            return self._local.forecast(models, df, freq=freq, h=h, level=level)
        res = self._backend.run_forecast(df[["unique_id", "ds", "y"]], models, freq, h, level)
        return _local_frame(res, ["unique_id", "ds"])


Engine = LocalEngine | FugueEngine
"""What `open_engine` yields."""


def _local_frame(res: Any, order: list[str]) -> pd.DataFrame:
    """A backend's result as the local engine returns it: pandas, in its row order."""
    frame = fa.as_pandas(res)
    frame["unique_id"] = frame["unique_id"].astype(object)
    for col in ("ds", "cutoff"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


@contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The engine `settings.engine` names, for one step (its `describe()` goes into the
    step's first line in the log); disconnects from the cluster when the step ends."""
    if settings.engine == "local":
        yield LocalEngine(settings.n_jobs)
        return
    missing = missing_extra(settings.engine)
    if missing:
        raise RuntimeError(f"engine {settings.engine!r} {missing}")
    address, source = engine_address(settings)
    opener = _dask if settings.engine == "dask" else _ray
    with opener(address, source, _workers(settings.n_jobs)) as engine:
        yield engine


_LOCAL_CLUSTERS: dict[int, Any] = {}
"""Local Dask clusters of this process by size: started on first use, closed at exit."""


def _local_dask_cluster(n_workers: int) -> Any:
    """A local cluster of n_workers processes, one thread each, shared by the steps of this
    process (the backtest and the forecast of a build): starting one costs seconds."""
    from dask.distributed import LocalCluster

    cluster = _LOCAL_CLUSTERS.get(n_workers)
    if cluster is None or cluster.status.name != "running":
        # its scheduler runs in this process and its workers write to this process's stderr:
        # dask's start-up chatter (some 70 INFO lines) would fill dbt's log
        logging.getLogger("distributed").setLevel(logging.WARNING)
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: several builds may run at once
            silence_logs=logging.ERROR,
        )
        _LOCAL_CLUSTERS[n_workers] = cluster
        atexit.register(cluster.close)
    return cluster


@contextmanager
def _dask(address: str | None, source: str, n_workers: int) -> Iterator[FugueEngine]:
    from dask.distributed import Client
    from fugue_dask import DaskExecutionEngine

    if address:
        try:
            client = Client(address, timeout="30s")
        except OSError as exc:
            raise RuntimeError(
                f"engine 'dask': cannot reach the scheduler {address} ({source}): {exc}"
            ) from exc
        where = f"scheduler {address}"
    else:
        client = Client(_local_dask_cluster(n_workers))
        where = f"a local cluster of {n_workers} worker processes"
    try:
        # the client is dask's default while the step runs: Fugue's computations go to it
        workers = sum(client.nthreads().values())
        yield FugueEngine("dask", DaskExecutionEngine(dask_client=client), workers, where)
    finally:
        client.close()


@contextmanager
def _ray(address: str | None, source: str, n_workers: int) -> Iterator[FugueEngine]:
    """Ray: connect to the cluster at `address` for the step, or start a local Ray for this
    process on first use (Ray stops it at exit)."""
    import ray
    import ray.data
    from fugue_ray import RayExecutionEngine

    connected = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = n_workers
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError) as exc:
            raise RuntimeError(
                f"engine 'ray': cannot reach the cluster {address} ({source}): {exc}"
            ) from exc
        connected = bool(address)
    where = f"cluster {address}" if address else f"a local Ray of {n_workers} CPUs"
    try:
        workers = int(ray.cluster_resources().get("CPU", 1))
        # Ray Data's default hash shuffle starts aggregator actors on every groupby: about
        # 10 s a call here, against about 1 s for the pull-based sort shuffle
        context = ray.data.DataContext.get_current()
        context.shuffle_strategy = "sort_shuffle_pull_based"
        context.enable_progress_bars = False
        yield FugueEngine("ray", RayExecutionEngine(), workers, where)
    finally:
        if connected:
            ray.shutdown()
