"""Where StatsForecast runs: this process (engine 'local') or a Dask or Ray cluster.

`open_engine(settings)` yields the engine of a step (the backtest, the forecast) and
closes what it opened when the step ends. Both kinds answer the same two calls,
`cross_validation` and `forecast`, with the frames `StatsForecast` returns, so the
backtest and the forecast do not know where they run:

- 'local': `StatsForecast(..., n_jobs=settings.n_jobs)` in this process, its own pool of
  worker processes for a call of several series.
- 'dask' and 'ray': StatsForecast's own distributed backend (`FugueBackend`, Fugue on a
  Dask or Ray execution engine). The series are partitioned by `unique_id`; each worker
  runs plain StatsForecast (n_jobs 1) on its series, so every number is the one the local
  engine computes. The backend declares its output columns float32, which would round
  every forecast and actual to 7 digits (and could change a champion on a near tie):
  `_Float64Backend` declares them float64, nothing else changes. Rows come back in the
  local engine's order (series, cutoff, period).

The cluster: `settings.engine_address` (var `engine_address`), else the environment
variable DEMANDCAST_ENGINE_ADDRESS, else a local cluster on this machine (Dask: a
`LocalCluster` of n_jobs worker processes, one thread each; Ray: `ray.init()` with n_jobs
CPUs), started for the step and closed after it. A cluster given by address is left
running; only this step's client disconnects. The workers unpickle the candidate models
(`catalog.Guarded` around StatsForecast models or plug-ins), so they need demandcast, its
plug-ins and the same statsforecast installed: `pip install 'demandcast[dask]'`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from statsforecast import StatsForecast

from demandcast.config import Settings

ADDRESS_ENV = "DEMANDCAST_ENGINE_ADDRESS"
"""The environment variable naming the cluster when the var engine_address is null."""

EXTRAS: dict[str, tuple[str, ...]] = {
    "local": (),
    "dask": ("dask", "distributed", "fugue_dask"),
    "ray": ("ray", "fugue_ray"),
}
"""The modules each engine imports (fugue_dask and fugue_ray come with fugue)."""


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
        self.workers = _workers(n_jobs)

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


def _float64_backend() -> type:
    from statsforecast.distributed.fugue import FugueBackend

    class _Float64Backend(FugueBackend):
        """StatsForecast's Fugue backend with float64 output columns (it declares float32)."""

        def _get_output_schema(self, **kwargs: Any) -> Any:
            import pyarrow as pa
            from triad import Schema

            schema = super()._get_output_schema(**kwargs)
            return Schema(
                [
                    pa.field(f.name, pa.float64()) if pa.types.is_float32(f.type) else f
                    for f in schema.fields
                ]
            )

    return _Float64Backend


class FugueEngine:
    """StatsForecast's Fugue backend on a Dask or Ray execution engine."""

    distributed = True

    def __init__(self, name: str, fugue_engine: Any, workers: int, where: str) -> None:
        self.name = name
        self.workers = max(int(workers), 1)
        self.where = where
        self._engine = fugue_engine
        self._backend = _float64_backend()(fugue_engine)
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
        with _quiet():
            res = self._backend.cross_validation(
                df=df[["unique_id", "ds", "y"]],
                freq=freq,
                models=models,
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
                id_col="unique_id",
                time_col="ds",
                target_col="y",
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
        with _quiet():
            res = self._backend.forecast(
                df=df[["unique_id", "ds", "y"]],
                freq=freq,
                models=models,
                fallback_model=None,
                X_df=None,
                h=h,
                level=level,
                fitted=False,
                prediction_intervals=None,
                id_col="unique_id",
                time_col="ds",
                target_col="y",
            )
            return _local_frame(res, ["unique_id", "ds"])


Engine = LocalEngine | FugueEngine
"""What `open_engine` yields."""


def _local_frame(res: Any, order: list[str]) -> pd.DataFrame:
    """A backend's result as the local engine returns it: pandas, in its row order."""
    import fugue.api as fa

    frame = fa.as_pandas(res)
    frame["unique_id"] = frame["unique_id"].astype(object)
    for col in ("ds", "cutoff"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


_GROUPBY_APPLY = ".*DataFrameGroupBy.apply operated on the grouping columns"


def _quiet_groupby_apply() -> None:
    """In a Dask worker: silence the FutureWarning pandas raises on each group Fugue maps."""
    warnings.filterwarnings("ignore", message=_GROUPBY_APPLY, category=FutureWarning)


class _quiet:
    """Silence, here, the pandas FutureWarning Dask's groupby-apply raises on every call."""

    def __enter__(self) -> None:
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.filterwarnings("ignore", message=_GROUPBY_APPLY, category=FutureWarning)

    def __exit__(self, *exc: Any) -> Any:
        return self._ctx.__exit__(*exc)


@contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The engine `settings.engine` names, for one step; closes what it opened (its
    `describe()` goes into the step's first line in the log)."""
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


@contextmanager
def _dask(address: str | None, source: str, n_workers: int) -> Iterator[FugueEngine]:
    from dask.distributed import Client, LocalCluster
    from fugue_dask import DaskExecutionEngine

    cluster = None
    try:
        if address:
            try:
                client = Client(address, timeout="30s")
            except OSError as exc:
                raise RuntimeError(
                    f"engine 'dask': cannot reach the scheduler {address} ({source}): {exc}"
                ) from exc
            where = f"scheduler {address}"
        else:
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
            where = f"a local cluster of {n_workers} worker processes"
        try:
            # the client is dask's default while the step runs: Fugue's computations go to it
            client.run(_quiet_groupby_apply)
            workers = sum(client.nthreads().values())
            yield FugueEngine("dask", DaskExecutionEngine(dask_client=client), workers, where)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


@contextmanager
def _ray(address: str | None, source: str, n_workers: int) -> Iterator[FugueEngine]:
    import ray
    from fugue_ray import RayExecutionEngine

    started = not ray.is_initialized()
    if started:
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
    where = f"cluster {address}" if address else f"a local Ray of {n_workers} CPUs"
    try:
        workers = int(ray.cluster_resources().get("CPU", 1))
        yield FugueEngine("ray", RayExecutionEngine(), workers, where)
    finally:
        if started:
            ray.shutdown()
