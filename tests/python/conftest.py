"""Shared fixtures: a small demo plant and a real `dbt build` on it."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import io
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pytest

from demandcast.cli import dbt_env, run_dbt

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# dbt's unit tests (`unit_tests:` in the models' yml: hand-made rows, the same in every
# build) run in the shared build (`built`, `--selector everything`) and the ci-target
# build of test_dbt_build; a plain build on dev or prod leaves them out (the default
# selector `build`), and so do the suite's other builds (`--exclude-resource-type`,
# whatever their target or selection).
UNIT_TESTS_OFF = {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"}
os.environ.update(UNIT_TESTS_OFF)
# No dbt.log: the suite's builds (in this process and the scripts' and CLI's subprocesses,
# which inherit it) never read dbt's debug log file, and writing it is about a sixth of a
# small build's CPU. What dbt prints is captured as before.
os.environ["DBT_LOG_LEVEL_FILE"] = "none"

# Small enough for CI, large enough for every demand class and lifecycle.
# Without a launches file: the optional input left out, as most extracts do (test_launch
# builds the same plant with one).
SMALL_DEMO = {"n_plants": 2, "n_products": 40, "years": 3, "seed": 7, "launches": False}
# Data Docs off: the gates still run and store every result (test_gates and the Chromium
# test check the docs; `make test` builds the ci target with them on)
FAST_VARS = "{candidates: fast, n_windows: 2, n_jobs: 2, data_docs: false}"


class RaisesOnBigValues:
    """A plug-in forecaster that raises on a series whose values exceed `limit` (the failure
    tests: a candidate that fails is recorded, in this process or on a worker) and otherwise
    forecasts the mean of its last `window` values (all when None)."""

    def __init__(self, alias: str = "Fragile", limit: float = 100.0, window: int | None = None):
        self.alias, self.limit, self.window = alias, limit, window

    def new(self):
        return RaisesOnBigValues(self.alias, self.limit, self.window)

    def forecast(self, y, h, X=None, X_future=None, level=None, fitted=False):
        if np.max(y) > self.limit:
            raise ValueError("too big for me")
        recent = y if self.window is None else y[-self.window :]
        return {"mean": np.full(h, float(np.mean(recent)))}


@dataclass
class DbtResult:
    returncode: int
    output: str


@dataclass
class Project:
    """A warehouse file and raw folder of a test's own, built by the real dbt."""

    raw: Path
    db: Path
    target: Path
    output: str = ""  # what the build that made it printed (the `built` fixture's)
    project_dir: Path = ROOT  # a copy of the project, for a test that edits a seed

    def command(
        self,
        *args: str,
        vars: str | None = FAST_VARS,
        raw: Path | None = None,
        unit_tests: bool = False,
        write_json: bool = False,
    ) -> tuple[list[str], dict[str, str]]:
        """The `dbt` command line and environment a user would run, from the warehouse's
        folder (so the profile, and dbt's saved parse, are the same for every copy); dbt's
        unit tests only with `unit_tests`; dbt's manifest.json and run_results.json only
        with `write_json` (writing them is about a tenth of a small build's CPU, and most
        tests read the warehouse, not them)."""
        env = dbt_env(db=self.db.name, raw=raw or self.raw, profiles=ROOT / "profiles")
        if not write_json:
            env["DBT_WRITE_JSON"] = "false"
        if unit_tests:  # dev's default selector (selectors.yml `build`) leaves them out too
            env.pop("DBT_EXCLUDE_RESOURCE_TYPES")
            args = (*args, "--selector", "everything")
        cmd = [str(BIN / "dbt"), *args, "--project-dir", str(self.project_dir)]
        cmd += ["--target-path", str(self.target), "--log-path", str(self.target / "logs")]
        if vars:
            cmd += ["--vars", vars]
        return cmd, env

    def dbt(
        self,
        *args: str,
        vars: str | None = FAST_VARS,
        raw: Path | None = None,
        unit_tests: bool = False,
        write_json: bool = False,
    ) -> DbtResult:
        """The command through dbt's programmatic entry point in this process, as
        `demandcast build` runs it (cli.run_dbt), with the same environment, folder and exit
        code as the `dbt` executable: dbt, StatsForecast and Great Expectations are imported
        once per test process, not once per build (about 10 s of CPU each). Tests of the
        `dbt` and `demandcast` executables themselves run them as subprocesses (`command`)."""
        cmd, env = self.command(
            *args, vars=vars, raw=raw, unit_tests=unit_tests, write_json=write_json
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = run_dbt(cmd[1:], env, self.db.parent)
        return DbtResult(code, out.getvalue())

    def copy_to(self, folder: Path, raw: Path | None = None) -> Project:
        """This warehouse and its published copy, copied into `folder` (made when missing)
        under the same file name, with a target folder of their own on this project's saved
        parse; reading `raw` when given, else this project's raw folder."""
        folder.mkdir(parents=True, exist_ok=True)
        copy = Project(raw=raw or self.raw, db=folder / self.db.name, target=folder / "target")
        shutil.copy(self.db, copy.db)
        shutil.copy(self.published, copy.published)
        return copy.reuse_parse(self)

    def reuse_parse(self, other: Project) -> Project:
        """dbt's saved parse (`partial_parse.msgpack`) of `other` in this project's target
        folder: a build here with the same vars, the same warehouse file name (the profile)
        and the same project parses only what changed (the raw folder's sources), not the
        whole project (a full parse is about 5 s of CPU)."""
        self.target.mkdir(parents=True, exist_ok=True)
        shutil.copy(other.target / "partial_parse.msgpack", self.target)
        return self

    @property
    def published(self) -> Path:
        """The copy BI tools read, beside the warehouse file."""
        return self.db.with_name(self.db.stem + "_published.duckdb")

    def query(self, sql: str, db: Path | None = None) -> list[tuple]:
        with duckdb.connect(str(db or self.db), read_only=True) as con:
            return con.execute(sql).fetchall()

    def checksum(self, table: str, db: Path | None = None) -> tuple:
        """A checksum of a table's rows, independent of their order: the row count and
        the MD5 of every row's text, sorted."""
        rows = f"select t::varchar as r from {table} as t"
        return self.query(
            f"select count(*), md5(string_agg(r, chr(10) order by r)) from ({rows})", db
        )[0]

    def published_digest(self) -> str:
        """The SHA-256 of the published copy's file: a build that publishes nothing leaves
        it untouched, byte for byte (stricter than its tables' rows, and a fraction of the
        cost of reading them)."""
        with self.published.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()


def demandcast(*argv: str, env: dict[str, str], cwd: Path) -> DbtResult:
    """`demandcast <argv>` in this process (cli.main, what the executable calls) with `env`
    as the whole environment, from `cwd`: its exit code and everything it printed. The
    executable's own start (importing dbt, StatsForecast and Great Expectations, about 10 s
    of CPU) is test_dbt_build's ci-target test's, which runs it as a user does."""
    from demandcast import cli

    out = io.StringIO()
    with cli.environment(env, cwd):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main(list(argv))
    return DbtResult(code, out.getvalue())


def assert_rebuilds_recorded(con, run_id: str, n: int):
    """pipeline.rebuild_forecast of n series of the run with an interval scale on record
    (those forecast with a global member first) is the run's fct_forecast_history, to the
    last digit; the rebuilt rows."""
    from demandcast import pipeline

    cols = ["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    ids = [
        s
        for (s,) in con.execute(
            "select series_id from fct_model_registry where run_id = ? and interval_scale"
            " is not null order by champion like '%Global%' desc, series_id limit ?",
            [run_id, n],
        ).fetchall()
    ]
    rebuilt = pipeline.rebuild_forecast(con, run_id, ids)
    recorded = con.execute(
        f"select series_id, step, model_name, {', '.join(cols)} from fct_forecast_history"
        " where run_id = ? and series_id in (select unnest(?)) order by 1, 2",
        [run_id, ids],
    ).df()
    assert len(rebuilt) == len(recorded) > 0
    assert list(rebuilt["model_name"]) == list(recorded["model_name"])
    np.testing.assert_array_equal(rebuilt[cols].to_numpy(float), recorded[cols].to_numpy(float))
    return rebuilt


def catalog_from(tmp_path: Path, body: str):
    """A catalog of its own for a test: `body` (YAML, indented as it likes) written to
    tmp_path/catalog.yml and loaded."""
    from demandcast.catalog import load_catalog

    path = tmp_path / "catalog.yml"
    path.write_text(textwrap.dedent(body))
    return load_catalog(path)


def raw_with_orders(src: Path, dst: Path, orders_sql: str, fmt: str = "parquet") -> Path:
    """A raw folder beside `src` whose orders are `orders_sql` over the good orders
    (a view named `orders`), written as Parquet or CSV; products and plants copied."""
    dst.mkdir()
    for name in ("products.parquet", "plants.parquet"):
        shutil.copy(src / name, dst / name)
    con = duckdb.connect()
    con.execute(f"create view orders as select * from '{src}/orders.parquet'")
    target = dst / f"orders.{fmt}"
    con.execute(f"copy ({orders_sql}) to '{target}'" + (" (header)" if fmt == "csv" else ""))
    return dst


@contextlib.contextmanager
def _once(tmp_path_factory, name: str):
    """A folder made once for the whole test run, shared by pytest-xdist's workers (the
    first to take the lock makes it; the others wait, then use it): yields the folder and
    whether this process must fill it (then it must leave a `done` file in it)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            folder.mkdir(exist_ok=True)
            yield folder, not (folder / "done").exists()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# The longest tests, longest first (each a minute or more of real builds on one worker):
# handed out first, they run beside the many short ones instead of after them, and no
# worker is left alone at the end. pytest-xdist keeps this order (--no-loadscope-reorder).
LONGEST_FIRST = (
    "test_replay.py::test_two_weeks",
    "test_monitoring.py::",
    "test_retrain.py::",
    "test_dbt_build.py::test_the_gated_default_catalog_build_on_the_ci_target",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a module-scoped fixture (a build, a demo, a browser, a served app)
    joins its module's `xdist_group`: `--dist loadgroup` then runs the module's tests on one
    worker, and the fixture is made once, not once per worker. Then the order: a test of the
    shared build first (one worker makes it while the other starts the longest test, rather
    than both waiting for it later), the longest tests next, the rest as collected."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info else ()
        if not any(item.iter_markers("xdist_group")) and any(
            d.scope == "module" for group in defs for d in group
        ):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    first = next((i for i, item in enumerate(items) if "built" in item.fixturenames), None)

    def rank(pair: tuple[int, pytest.Item]) -> int:
        index, item = pair
        if index == first:
            return -1
        return next(
            (k for k, name in enumerate(LONGEST_FIRST) if name in item.nodeid), len(LONGEST_FIRST)
        )

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]


def pytest_collection_finish(session: pytest.Session) -> None:
    """On a pytest-xdist worker with `--dist loadgroup`, every test of an `xdist_group`
    carries the group in its node id (pytest-xdist's suffix, which its scheduler reads):
    without it each test is scheduled alone, and a module's builds run on both workers.
    pytest 9.2 ignores the suffix pytest-xdist 3.8 writes (pyproject pins pytest below)."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [
        item.nodeid
        for item in session.items
        if any(item.iter_markers("xdist_group")) and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist lost the group of {len(lost)} test(s), e.g. {lost[0]}: "
            "check the pytest and pytest-xdist versions"
        )


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    from demandcast.demo import write_demo

    with _once(tmp_path_factory, "demo") as (out, make):
        if make:
            write_demo(out, **SMALL_DEMO)
            (out / "done").touch()
    return out


@pytest.fixture(scope="session")
def built(small_demo, tmp_path_factory) -> Project:
    """The small demo, built once by `dbt build` with the fast candidate set (one build
    for every worker: tests read it, or copy it with `built_copy`)."""
    with _once(tmp_path_factory, "built") as (work, make):
        project = Project(raw=small_demo, db=work / "wh.duckdb", target=work / "target")
        if make:
            result = project.dbt("build", unit_tests=True, write_json=True)
            assert result.returncode == 0, result.output[-4000:]
            (work / "output.txt").write_text(result.output)
            (work / "done").touch()
    project.output = (work / "output.txt").read_text()
    return project


@pytest.fixture
def built_copy(built, tmp_path) -> Project:
    """A private copy of the built warehouse, for tests that break things."""
    return built.copy_to(tmp_path)
