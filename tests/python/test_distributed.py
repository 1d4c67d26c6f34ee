"""Engine dask: the backtest and the forecast on a Dask cluster give the local engine's numbers.

A LocalCluster of two worker processes (one thread each) stands in for a real cluster: the
models are pickled to other processes, as they would be to other machines.
"""

from __future__ import annotations

import logging
import pickle
import textwrap

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from conftest import RaisesOnBigValues

from demandcast.backtest import BacktestStats, run_backtest
from demandcast.catalog import CATALOG_PATH, Guarded, load_catalog
from demandcast.config import Settings, check_vars
from demandcast.distributed import ADDRESS_ENV, engine_address, missing_extra, open_engine
from demandcast.forecast import forecast_series
from demandcast.frames import synthetic_series
from demandcast.intervals import Calibration
from demandcast.selection import select_champions

CANDIDATES = (
    "Naive",
    "SeasonalNaive",
    "SES0.1",
    "AutoETS",
    "Theta",
    "CrostonSBA",
    "Fragile",
    "ComboLevel",
    "MeanTopK",
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """The packaged catalog plus a plug-in that fails on some series."""
    path = tmp_path_factory.mktemp("catalog") / "catalog.yml"
    packaged = CATALOG_PATH.read_text()
    plugin = textwrap.indent(
        textwrap.dedent(
            """
            - name: Fragile
              model: conftest:RaisesOnBigValues
              kwargs: {limit: 150, window: 8}
              tags: {family: plugin}
            """
        ),
        "  ",
    )
    path.write_text(packaged.replace("\ncandidates:\n", "\ncandidates:\n" + plugin, 1))
    return load_catalog(path)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as local:
        yield local


def _pipeline(series, profiles, settings, catalog):
    stats, calibration = BacktestStats(), Calibration()
    metrics = run_backtest(series, profiles, settings, catalog, stats, calibration)
    champions = select_champions(metrics, profiles, settings, catalog)
    quantiles = calibration.quantiles(settings.levels)
    fc = forecast_series(series, profiles, champions, settings, catalog, calibration=quantiles)
    return metrics, champions, fc, quantiles, stats


def _executed(cluster) -> int:
    """Tasks the cluster's workers have run so far."""
    from distributed import Client

    with Client(cluster) as client:
        return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def test_dask_gives_the_local_engines_champions_and_forecasts(cluster, catalog, monkeypatch):
    series, profiles = synthetic_series(16, 156, seed=11)
    profiles.loc[profiles.index[-1], "lifecycle"] = "discontinued"
    local = Settings(candidates=CANDIDATES, n_jobs=1)
    expected = _pipeline(series, profiles, local, catalog)

    # the address from the environment variable, as on a machine that points at a cluster
    monkeypatch.setenv(ADDRESS_ENV, cluster.scheduler_address)
    before = _executed(cluster)
    got = _pipeline(series, profiles, local.with_(engine="dask"), catalog)
    assert _executed(cluster) > before  # the work went to the workers

    metrics, champions, fc, quantiles, stats = got
    pd.testing.assert_frame_equal(metrics, expected[0], rtol=1e-6)
    pd.testing.assert_frame_equal(quantiles, expected[3], rtol=1e-6)
    # the same champions, and the same forecasts and intervals to rounding
    pd.testing.assert_frame_equal(champions, expected[1], rtol=1e-6)
    pd.testing.assert_frame_equal(fc, expected[2], rtol=1e-6)
    assert stats.n_fits == expected[4].n_fits

    # the plug-in's failures on the workers became 'failed' rows with the error, not a crash
    fragile = metrics[metrics["model_name"] == "Fragile"].set_index("series_id")
    assert (fragile["status"] == "failed").any() and (fragile["status"] == "ok").any()
    failed = fragile[fragile["status"] == "failed"]
    assert failed["error_message"].str.contains("too big for me").all()
    assert failed["mase"].isna().all()
    assert fc["forecast"].notna().all() and len(fc) == 15 * local.horizon


def test_guarded_models_survive_pickling_with_their_state():
    model = Guarded(load_catalog().build("AutoETS", 52), forward=True)
    y = np.abs(np.random.default_rng(0).normal(50, 5, 120))
    model.fit(y[:100])
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        copy = loads(dumps(model))
        np.testing.assert_array_equal(
            copy.forward(y=y, h=13)["mean"], model.forward(y=y, h=13)["mean"]
        )
    broken = Guarded(RaisesOnBigValues(limit=150, window=8), forward=True)
    broken.use_forward = True  # as if it had `forward`: its failed estimate is pickled
    broken.fit(y + 1000)
    copy = cloudpickle.loads(cloudpickle.dumps(broken))
    assert np.isnan(copy.forward(y=y, h=5)["mean"]).all()


def test_the_address_comes_from_the_var_then_the_environment(monkeypatch):
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    assert engine_address(Settings(engine="dask")) == (None, "local")
    monkeypatch.setenv(ADDRESS_ENV, "tcp://from-env:8786")
    assert engine_address(Settings(engine="dask")) == ("tcp://from-env:8786", ADDRESS_ENV)
    var = Settings.from_mapping({"engine": "dask", "engine_address": " tcp://Sched:8786 "})
    assert engine_address(var) == ("tcp://Sched:8786", "var engine_address")


def test_the_var_check_accepts_dask_and_names_what_a_missing_extra_needs():
    assert missing_extra("dask") is None and missing_extra("local") is None
    assert check_vars({"engine": "dask", "engine_address": "tcp://10.0.0.1:8786"}) == []
    (error,) = check_vars({"engine": "spark"})
    assert error.startswith("var 'engine': invalid value 'spark'")
    if missing_extra("ray"):  # ray is an extra of its own, not in .[dev]
        (error,) = check_vars({"engine": "ray"})
        assert "pip install 'demandcast[ray]'" in error


def test_without_an_address_the_steps_share_a_local_cluster(monkeypatch):
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    settings = Settings(engine="dask", n_jobs=1)
    with open_engine(settings) as engine:
        assert engine.distributed and engine.workers == 1
        assert "a local cluster of 1 worker processes" in engine.describe()
        client = engine._engine.dask_client
        scheduler = client.scheduler.address
    assert client.status == "closed"  # the step's client; the cluster waits for the next step
    with open_engine(settings) as engine:
        assert engine._engine.dask_client.scheduler.address == scheduler


def test_dbt_build_on_engine_dask_publishes_the_local_builds_forecasts(built, built_copy, cluster):
    """`dbt build --vars '{engine: dask, engine_address: ...}'` on a running cluster (the
    module's; without an address the steps start a local one, tested above) publishes the
    champions and forecasts of the local build it rebuilds (retrain always: the same data
    would otherwise be reused, and nothing would reach the cluster)."""
    before = _executed(cluster)
    result = built_copy.dbt(
        "build",
        vars="{candidates: fast, n_windows: 2, n_jobs: 2, engine: dask, retrain: always, "
        f"engine_address: '{cluster.scheduler_address}', data_docs: false}}",
    )
    assert result.returncode == 0, result.output[-4000:]
    assert f"engine dask (scheduler {cluster.scheduler_address}, 2 worker threads)" in (
        result.output
    )
    assert _executed(cluster) > before  # the work went to the workers
    assert built_copy.query("select engine from int_run__context") == [("dask",)]
    champions = "select series_id, champion from int_forecast__champions order by 1"
    assert built_copy.query(champions) == built.query(champions)
    columns = "series_id, period_start, model_name, method, forecast, lo_80, hi_80, lo_95, hi_95"
    sql = f"select {columns} from fct_demand_forecast order by series_id, period_start"
    local = pd.DataFrame(built.query(sql, built.published), columns=columns.split(", "))
    dask = pd.DataFrame(built_copy.query(sql, built_copy.published), columns=columns.split(", "))
    assert len(local) > 0
    pd.testing.assert_frame_equal(dask, local, rtol=1e-6)


def test_ray_gives_the_local_engines_champions_and_forecasts(monkeypatch):
    """engine ray on a local Ray (the [ray] extra; skipped where it is not installed). Ray's
    workers do not see the tests' folder, so no test plug-in here: the packaged catalog."""
    pytest.importorskip("ray")
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    series, profiles = synthetic_series(8, 156, seed=5)
    local = Settings(candidates=("Naive", "SES0.1", "Theta", "ComboLevel"), n_jobs=1)
    catalog = load_catalog()
    expected = _pipeline(series, profiles, local, catalog)
    got = _pipeline(series, profiles, local.with_(engine="ray", n_jobs=2), catalog)
    for frame, want in zip(got[:4], expected[:4], strict=True):
        pd.testing.assert_frame_equal(frame, want, rtol=1e-6)
