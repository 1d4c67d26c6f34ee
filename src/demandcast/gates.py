"""The data-quality gates: Great Expectations checkpoints run inside `dbt build`.

The Great Expectations project is gx/ (written by scripts/build_gx.py, committed, only read
here): one suite, validation definition and checkpoint per validated table. A stage table is
validated as it is; a rule that needs SQL (gaps in a series, candidates missing from the
backtest, crossed intervals...) is a check model, models/checks/chk_<stage>__<rule>.sql, that
its suite validates. A gate model (python_models/gates/gate_<stage>.py) hands its tables to
`gate_in_build`, which runs each table's checkpoint (the checkpoint's actions store the result
and update the offline Data Docs) and returns one row per expectation; the post-hook
gate_verdict fails the node when a row is blocking, so dbt skips everything downstream.

The same checkpoints run outside dbt on a built warehouse: `demandcast check`
(`check_warehouse`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import os
import shutil
import string
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb
import numpy as np
import pandas as pd

from demandcast.warehouse import table_columns, table_exists

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

STAGES = ("orders", "products", "plants", "run", "series", "backtest", "forecast")
MODES = ("fail", "warn")
SAMPLE_ROWS = 5
KEEP_RUNS = 30  # validation results kept per suite (older ones are pruned)
MIN_ORDER_DATE = dt.date(2000, 1, 1)  # var min_order_date's default: before, a mistyped year
RESULTS_TABLE = "main.gate_results"
RESULT_COLUMNS = [
    "run_id",
    "suite",
    "table_name",
    "expectation",
    "column_name",
    "success",
    "observed_value",
    "unexpected_count",
    "failing_rows_sample",
    "validated_at",
    "mode",
    "input_fingerprint",
    "validated_run_id",
]
_CREATE_RESULTS = f"""
create table if not exists {RESULTS_TABLE} (
    run_id varchar,
    suite varchar,
    table_name varchar,
    expectation varchar,
    column_name varchar,
    success boolean,
    observed_value varchar,
    unexpected_count bigint,
    failing_rows_sample varchar,
    validated_at timestamp,
    mode varchar,
    input_fingerprint varchar,
    validated_run_id varchar
);
alter table {RESULTS_TABLE} add column if not exists input_fingerprint varchar;
alter table {RESULTS_TABLE} add column if not exists validated_run_id varchar;
"""

DOCS_SITE = "local_site"  # the Data Docs site of gx/great_expectations.yml
_LOCK = threading.RLock()  # dbt runs models in threads; GX contexts are not thread-safe
_CONTEXTS: dict[tuple[str, str], Any] = {}


def gx_root() -> Path:
    """The folder holding gx/: $DEMANDCAST_GX_ROOT, the working directory, or the repo."""
    for candidate in (os.environ.get("DEMANDCAST_GX_ROOT"), Path.cwd()):
        if candidate and (Path(candidate) / "gx" / "great_expectations.yml").is_file():
            return Path(candidate)
    return Path(__file__).resolve().parents[2]


def state_dirs(db_path: str | os.PathLike, docs: str | os.PathLike | None = None):
    """Where a warehouse's validation results and Data Docs go: beside the warehouse file
    (warehouse/dev.duckdb -> warehouse/dev_gx_results/, warehouse/dev_data_docs/)."""
    db = Path(db_path).resolve()
    results = db.with_name(f"{db.stem}_gx_results")
    return results, Path(docs).resolve() if docs else db.with_name(f"{db.stem}_data_docs")


def context(results: Path, docs: Path) -> Any:
    """The GX file context of gx/, storing results in `results` and Data Docs in `docs`
    (the environment variables great_expectations.yml names). One per process and folders;
    the variables are set on every call, not only the first: GX reads them when it builds
    the Data Docs, and a process that runs several builds (`demandcast build
    --past-origins`, cli.run_dbt) has its environment restored after each."""
    import great_expectations as gx

    import demandcast.gx_docs  # noqa: F401  registers the offline_data_docs action

    key = (str(results), str(docs))
    with _LOCK:
        os.environ["DEMANDCAST_GX_RESULTS"] = str(results)
        os.environ["DEMANDCAST_DATA_DOCS"] = str(docs)
        if key not in _CONTEXTS:
            _CONTEXTS[key] = gx.get_context(mode="file", project_root_dir=str(gx_root()))
        return _CONTEXTS[key]


def checkpoints_by_table(ctx: Any) -> dict[str, str]:
    """{validated table: checkpoint name}, from the checkpoints' validation definitions."""
    out = {}
    for checkpoint in ctx.checkpoints.all():
        for definition in checkpoint.validation_definitions:
            out[definition.data.data_asset.name] = checkpoint.name
    return out


def suite_parameters(
    con: duckdb.DuckDBPyConnection, started: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The suites' parameters, from the run's vars as int_run__started (`started`, when the
    caller has read it) and int_run__context recorded them (the same in the build and in
    `demandcast check`)."""
    started = _one_row(con, "int_run__started") if started is None else started
    run = _one_row(con, "int_run__context")
    staleness = started.get("max_staleness_periods")
    return {
        "run_date": _date(started.get("run_date") or dt.date.today()),
        "min_order_date": _date(started.get("min_order_date")) or _date(MIN_ORDER_DATE),
        "max_duplicate_share": _number(started.get("max_duplicate_share"), 0.01),
        # null var: not checked
        "max_staleness_periods": _number(staleness, math.inf),
        "min_demand": -math.inf if started.get("allow_negative_demand") is True else 0,
        "min_period_lines": 0 if started.get("allow_empty_periods") is True else 1,
        "max_silent_periods": math.inf if started.get("allow_empty_periods") is True else 1,
        "forecast_origin": _date(run.get("forecast_origin")),
        "horizon": None if _missing(run.get("horizon")) else int(run["horizon"]),
    }


# --- running a checkpoint -------------------------------------------------------------


def write_docs(ctx: Any, results: list[Any]) -> None:
    """The Data Docs pages of stored validation results, and the site's index, rendered once
    for them all and made offline: what each checkpoint's actions do for its one result
    (update_data_docs, offline_data_docs), at one index build per gate instead of one per
    checkpoint (rendering is most of a validation's CPU)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from demandcast.gx_docs import make_offline

    if not results:
        return
    ids = []
    for result in results:
        suite = ExpectationSuiteIdentifier(name=result.suite_name)
        ids += [ValidationResultIdentifier(suite, result.meta["run_id"], result.batch_id), suite]
    with _LOCK:
        for site in ctx.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=ids).values():
            make_offline(Path(unquote(site.removeprefix("file://"))).parent)


def validate(
    ctx: Any,
    checkpoint: str,
    data: Any,
    parameters: Mapping[str, Any],
    run_id: str,
    mode: str = "fail",
) -> tuple[pd.DataFrame, str | None, Any]:
    """Run one checkpoint's validation on a table (a frame or a DuckDB relation, of which
    only the columns the suite and its failing-row samples name are read) and store the
    result in GX's store; returns one row per expectation, the failure report when one
    failed (rule, column, why, observed, sample rows), and GX's result (for `write_docs`)."""
    from great_expectations.core.run_identifier import RunIdentifier

    started = time.perf_counter()
    cp = ctx.checkpoints.get(checkpoint)
    definition = cp.validation_definitions[0]
    table = definition.data.data_asset.name
    key = list((cp.result_format or {}).get("unexpected_index_column_names") or [])
    df = _as_frame(data, read_columns(table))
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index(drop=True)
    needed = _parameter_names(definition.suite)
    missing = sorted(p for p in needed if parameters.get(p) is None)
    if missing:
        raise ValueError(
            f"suite '{definition.suite.name}' needs the parameter(s) {missing} "
            f"(the run's vars in int_run__started / int_run__context)"
        )
    how = {
        "batch_parameters": {"dataframe": df},
        "expectation_parameters": {p: parameters[p] for p in needed},
        "run_id": RunIdentifier(run_name=run_id),
    }
    with _LOCK:
        result = definition.run(checkpoint_id=cp.id, result_format=cp.result_format, **how)
    validated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows, failures = [], []
    for r in result.results:
        error = _error(r.exception_info)
        success = bool(r.success) and error is None
        sample = [] if success else _sample(df, key, r)
        column = _column(r.expectation_config.kwargs)
        rows.append(
            {
                "run_id": run_id,
                "suite": checkpoint,
                "table_name": table,
                "expectation": r.expectation_config.type,
                "column_name": column,
                "success": success,
                "observed_value": _observed(r, error),
                "unexpected_count": (r.result or {}).get("unexpected_count"),
                "failing_rows_sample": json.dumps(sample, default=str) if sample else None,
                "validated_at": validated_at,
                "mode": mode,
                "input_fingerprint": None,
                "validated_run_id": run_id,
            }
        )
        if not success:
            failures.append((rows[-1], r, sample))
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS).astype(
        {"success": "boolean", "unexpected_count": "Int64", "validated_at": "datetime64[us]"}
    )
    if not failures:
        return frame, None, result
    lines = [
        f"Gate '{checkpoint}' failed: {len(failures)} of {len(rows)} expectations on {table} "
        f"({len(df):,} rows; run {run_id}; {time.perf_counter() - started:.1f} s)"
    ]
    for n, (row, r, sample) in enumerate(failures, start=1):
        cfg = r.expectation_config
        lines += ["", f"{n}. {row['column_name'] or '(table)'}: {cfg.type}"]
        words = _words(r)
        if words:
            lines.append(f"   rule: {words}")
        if cfg.notes:
            lines.append(f"   why: {cfg.notes}")
        lines.append(f"   observed: {row['observed_value']}")
        if sample:
            lines.append(f"   offending rows (up to {SAMPLE_ROWS}):")
            shown = pd.DataFrame(sample).map(_fmt)
            lines += ["     " + x for x in shown.to_string(index=False).splitlines()]
    return frame, "\n".join(lines), result


def _parameter_names(suite: Any) -> list[str]:
    names = set()
    for expectation in suite.expectations:
        for value in expectation.configuration.kwargs.values():
            if isinstance(value, dict) and "$PARAMETER" in value:
                names.add(value["$PARAMETER"])
    return sorted(names)


def _column(kwargs: Mapping[str, Any]) -> str:
    if kwargs.get("column"):
        return kwargs["column"]
    if kwargs.get("column_list"):
        return ", ".join(kwargs["column_list"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    return ""


def _error(info: Any) -> str | None:
    info = info or {}
    infos = (
        [info] if "raised_exception" in info else [i for i in info.values() if isinstance(i, dict)]
    )
    for i in infos:
        if i.get("raised_exception"):
            return str(i.get("exception_message") or "").strip().splitlines()[0]
    return None


def _observed(r: Any, error: str | None) -> str:
    if error:
        return f"error: {error}"
    result = r.result or {}
    if "unexpected_count" in result:
        count, total = result["unexpected_count"], result.get("element_count") or 0
        text = f"{_fmt(count)} of {_fmt(total)} rows unexpected"
        if count:
            text += f" ({result.get('unexpected_percent') or 0:.3g}%)"
            examples = result.get("partial_unexpected_list") or []
            if examples:
                text += ", e.g. " + ", ".join(_fmt(e) for e in examples[:SAMPLE_ROWS])
        return text
    if "observed_value" in result:
        return _fmt(result["observed_value"])
    return "no value observed"


def _sample(df: pd.DataFrame, key: list[str], r: Any) -> list[dict]:
    """Up to SAMPLE_ROWS failed rows: the key columns GX returned, and the checked ones."""
    result = r.result or {}
    kwargs = r.expectation_config.kwargs
    checked = [
        c
        for c in [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]
        + list(kwargs.get("column_list") or [])
        if c
    ]
    rows = [i for i in result.get("partial_unexpected_index_list") or [] if isinstance(i, dict)]
    if rows:
        rows = [dict(row) for row in rows[:SAMPLE_ROWS]]
        frame = pd.DataFrame(rows)
        if all(c in df.columns for c in key) and key:  # add the checked values by key
            extra = [c for c in checked if c in df.columns and c not in frame.columns]
            if extra:
                frame = frame.merge(df[key + extra].drop_duplicates(key), on=key, how="left")
        frame = frame[[c for c in key if c in frame] + [c for c in frame if c not in key]]
        return [{k: _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]
    if len(df) <= 1:  # a one-row check table: the row is the sample
        return [{k: _jsonable(v) for k, v in row.items()} for row in df.to_dict("records")]
    return []


def _words(r: Any) -> str:
    """The expectation as a sentence, from GX's prescriptive renderer (a courtesy: '' on
    any failure to render)."""
    try:
        expectation = r.expectation_config.to_domain_obj()
        expectation.render()
        for rendered in expectation.rendered_content or []:
            if rendered.name == "atomic.prescriptive.summary":
                content = rendered.value.to_json_dict()
                params = {k: _fmt(p.get("value")) for k, p in content["params"].items()}
                words = string.Template(content["template"]).safe_substitute(params)
                # GX's fallback for an expectation it has no sentence for is its call
                return "" if words.startswith(r.expectation_config.type) else words
    except Exception:
        pass
    return ""


def _fmt(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return "null"
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None if math.isnan(value) else str(value)
    if isinstance(value, (pd.Timestamp, dt.date)):
        return _fmt(value)
    return value


# --- in the build ---------------------------------------------------------------------


def record_results(con: duckdb.DuckDBPyConnection, results: pd.DataFrame) -> None:
    """Append to main.gate_results (a dbt source) on its own cursor: it commits even when the
    gate then fails its node and dbt rolls the model back. A run's earlier results of the
    same tables are replaced: a build of a selection that leaves int_run__started out
    validates under the run id of the last whole build, which would otherwise hold a
    table's results twice (and a later copy of them, each expectation twice)."""
    for attempt in range(5):
        cursor = con.cursor()
        try:
            cursor.execute(_CREATE_RESULTS)
            cursor.register("_gate_results_new", results[RESULT_COLUMNS])
            cursor.execute(
                f"""delete from {RESULTS_TABLE} where (run_id, table_name) in (
                select distinct run_id, table_name from _gate_results_new)"""
            )
            cursor.execute(f"insert into {RESULTS_TABLE} by name select * from _gate_results_new")
            return
        except duckdb.TransactionException:  # two gates creating the table at once
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
        finally:
            cursor.close()


def gate_in_build(tables: Mapping[str, Any], con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Run the checkpoint of each table ({table: DuckDB relation or frame}) inside `dbt build`.
    Run id, modes and parameters come from the run's tables; results go to gate_results and
    GX's store beside the warehouse, Data Docs beside it too (var data_docs_path). Failures
    come back as `blocking` rows carrying the joined report, which the post-hook gate_verdict
    raises (dbt-duckdb would print a traceback before a Python exception)."""
    started = _one_row(con, "int_run__started")
    run_id = str(started.get("run_id") or "adhoc")
    modes = json.loads(started.get("gate_modes") or "{}")
    db = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()[0][0]
    results_dir, docs_dir = state_dirs(db, started.get("data_docs_path") or None)
    parameters = suite_parameters(con, started)
    docs = started.get("data_docs") is not False  # null (an older warehouse): the default
    frames, reports, todo = [], [], {}
    for table, data in tables.items():
        digest = input_fingerprint(con, table, data, parameters, modes)
        reused = _passed_before(con, table, digest)
        if reused is None:
            todo[table] = (data, digest)
        else:
            frames.append(reused.assign(run_id=run_id))
    if todo:  # Great Expectations is imported only when a table needs validating
        ctx = context(results_dir, docs_dir)
        by_table = checkpoints_by_table(ctx)
        validated = []
        for table, (data, digest) in todo.items():
            checkpoint = by_table[table]
            mode = modes.get(checkpoint.split("__")[0], "fail")
            frame, report, result = validate(ctx, checkpoint, data, parameters, run_id, mode)
            frames.append(frame.assign(input_fingerprint=digest))
            validated.append(result)
            if report and mode == "fail":
                reports.append(report)
        if docs:
            write_docs(ctx, validated)
        prune(results_dir)
    out = pd.concat(frames, ignore_index=True)
    record_results(con, out)
    out["blocking"] = out["success"].eq(False).fillna(False) & out["mode"].eq("fail")
    where = f"Data Docs: {docs_dir / 'index.html'}" if docs else "Data Docs: off (var data_docs)"
    out["report"] = np.where(out["blocking"], "\n\n".join([*reports, where]), None)
    return out


def _gx_digest() -> str:
    """A digest of the Great Expectations project's suites, checkpoints and definitions."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted((gx_root() / "gx").rglob("*.json")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def input_fingerprint(
    con: duckdb.DuckDBPyConnection,
    table: str,
    data: Any,
    parameters: Mapping[str, Any],
    modes: Mapping[str, Any],
) -> str:
    """What a gate's verdict on `table` depends on: the rows of the columns its expectations
    read (count and order-independent sums of their hashes, in DuckDB), those columns and
    their types, the parameters its suite uses, the gate modes and the gx/ project. Equal
    fingerprints get equal verdicts. The failing-row key columns are left out (the run
    gate's key holds `run_id`, new every run): only results without a failing row, whose
    samples name no key, are copied (`_passed_before`)."""
    rel = con.from_df(data) if isinstance(data, pd.DataFrame) else data
    columns = read_columns(table, keys=False)
    if columns is not None:
        rel = rel.project(", ".join(f'"{c}"' for c in rel.columns if c in columns))
    rows = rel.query(
        "_gate_input",
        "select count(*), sum(hash(_gate_input))::hugeint::varchar, bit_xor(hash(_gate_input))"
        " from _gate_input",
    ).fetchall()[0]
    needed = {
        v["$PARAMETER"]
        for e in _gx_files(gx_root())[table]["expectations"]
        for v in e["kwargs"].values()
        if isinstance(v, dict) and "$PARAMETER" in v
    }  # only these: when the orders gate runs, int_run__context may be the last run's
    what = [_gx_digest(), table, rel.columns, [str(t) for t in rel.types], list(rows)]
    what += [sorted((k, str(parameters.get(k))) for k in needed), sorted(modes.items())]
    return hashlib.blake2b(json.dumps(what, default=str).encode(), digest_size=16).hexdigest()


def _passed_before(con: duckdb.DuckDBPyConnection, table: str, digest: str) -> pd.DataFrame | None:
    """The results of the last published run that validated `table` with this input
    fingerprint and met every expectation on it: what validating it again would give (no
    failing-row sample to name another run's keys). None when there is none, and so on a
    warehouse whose gate_results predates the fingerprint."""
    if not table_exists(con, "demandcast_runs") or not table_exists(con, "gate_results"):
        return None
    if "input_fingerprint" not in table_columns(con, "gate_results"):
        return None
    frame = con.execute(
        f"""select * from {RESULTS_TABLE} where table_name = $table and run_id = (
            select g.run_id from {RESULTS_TABLE} as g join main.demandcast_runs as r using (run_id)
            where g.table_name = $table and g.input_fingerprint = $digest
                and r.status = 'published'
            group by g.run_id, r.started_at
            having bool_and(g.success)
            order by r.started_at desc limit 1)""",
        {"table": table, "digest": digest},
    ).df()
    return None if frame.empty else frame[RESULT_COLUMNS]


def prune(results_dir: Path, keep: int = KEEP_RUNS) -> None:
    """Keep the newest `keep` runs of each suite in GX's results store."""
    for suite in results_dir.glob("*"):
        runs = sorted((p for p in suite.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in runs[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


@functools.cache
def _gx_files(root: Path) -> dict[str, dict[str, list]]:
    """{validated table: {"expectations": [...], "key": [...]}} read from gx/'s JSON files
    (validation definitions, suites, checkpoints) without importing Great Expectations."""
    gx_dir = root / "gx"

    def load(folder: str) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((gx_dir / folder).glob("*.json"))]

    suites = {s["name"]: s["expectations"] for s in load("expectations")}
    keys = {
        d["name"]: list((c.get("result_format") or {}).get("unexpected_index_column_names") or [])
        for c in load("checkpoints")
        for d in c["validation_definitions"]
    }
    return {
        d["data"]["asset"]["name"]: {
            "expectations": suites[d["suite"]["name"]],
            "key": keys.get(d["name"], []),
        }
        for d in load("validation_definitions")
    }


def read_columns(table: str, keys: bool = True) -> set[str] | None:
    """The columns the suite of `table` and (`keys`) its failing-row samples (the
    checkpoint's key) name; None (every column) when an expectation is about the table's
    columns themselves."""
    spec = _gx_files(gx_root())[table]
    names = set(spec["key"]) if keys else set()
    for expectation in spec["expectations"]:
        if expectation["type"].startswith("expect_table_column"):
            return None
        kwargs = expectation["kwargs"]
        names.update(kwargs.get(k) for k in ("column", "column_A", "column_B") if kwargs.get(k))
        names.update(kwargs.get("column_list") or ())
    return names


def _as_frame(data: Any, columns: set[str] | None = None) -> pd.DataFrame:
    """A pandas frame of the `columns` (None: all) of a frame or a DuckDB relation (read
    through Arrow: a relation's other columns are never read, which keeps a gate over
    millions of order lines to the memory of the columns it checks)."""
    if isinstance(data, pd.DataFrame):
        return data if columns is None else data[[c for c in data.columns if c in columns]]
    if columns is not None:
        data = data.project(", ".join(f'"{c}"' for c in data.columns if c in columns))
    fetch = getattr(data, "to_arrow_table", None) or data.fetch_arrow_table
    return fetch().to_pandas(date_as_object=False)


def _one_row(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    if not table_exists(con, table):
        return {}
    frame = con.execute(f'select * from main."{table}" limit 1').df()
    return frame.iloc[0].to_dict() if len(frame) else {}


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _number(value: Any, default: float) -> float:
    return default if _missing(value) else float(value)


def _date(value: Any) -> pd.Timestamp | None:
    """A date as GX compares it with a pandas date column: a Timestamp."""
    return None if _missing(value) else pd.Timestamp(value).normalize()


# --- the standalone check (CI) --------------------------------------------------------


def check_warehouse(
    db_path: str | os.PathLike,
    docs_dir: str | os.PathLike | None = None,
    stages: Iterable[str] = STAGES,
) -> int:
    """Run every checkpoint on the tables of a built DuckDB file, print a line per suite and
    the reports of the failed ones, write Data Docs; 0 when all passed, else 1."""
    db = Path(db_path)
    if not db.is_file():
        print(f"check: no warehouse file at {db}; run `dbt build` first")
        return 1
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        print(f"check: cannot open {db} read-only ({str(exc).splitlines()[0]})")
        return 1
    results_dir, docs = state_dirs(db, docs_dir)
    ctx = context(results_dir, docs)
    failed_any, reports, validated = False, [], []
    try:
        run_id = str(_one_row(con, "int_run__started").get("run_id") or "") or (
            f"check-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
        )
        parameters = suite_parameters(con)
        by_table = checkpoints_by_table(ctx)
        chosen = [(t, c) for t, c in by_table.items() if c.split("__")[0] in set(stages)]
        width = max(len(c) for _, c in chosen)
        for table, checkpoint in sorted(chosen, key=lambda tc: STAGES.index(tc[1].split("__")[0])):
            if not table_exists(con, table):
                print(f"{checkpoint:<{width}}  missing: no table main.{table} in {db.name}")
                failed_any = True
                continue
            started = time.perf_counter()
            try:
                relation = con.table(f'main."{table}"')
                frame, report, result = validate(ctx, checkpoint, relation, parameters, run_id)
                validated.append(result)
            except (ValueError, duckdb.Error) as exc:
                print(f"{checkpoint:<{width}}  error: {str(exc).splitlines()[0]}")
                failed_any = True
                continue
            failed = frame[frame["success"].eq(False).fillna(False)]
            if report:
                failed_any = True
                names = ", ".join(
                    f"{e}({c})" for e, c in zip(failed.expectation, failed.column_name, strict=True)
                )
                print(f"{checkpoint:<{width}}  {len(failed)} of {len(frame)} failed: {names}")
                reports.append(report)
            else:
                print(
                    f"{checkpoint:<{width}}  passed ({len(frame)} expectations, "
                    f"{len(relation):,} rows, {time.perf_counter() - started:.1f} s)"
                )
    finally:
        con.close()
    write_docs(ctx, validated)
    prune(results_dir)
    for report in reports:
        print()
        print(report)
    print(f"\nData Docs: {docs / 'index.html'}")
    return 1 if failed_any else 0
