"""Great Expectations gates: validate a stage with its suite in gx/, record the outcome, fail.

A suite file (gx/<suite>.yml) lists standard GX 1.x expectations on the stage table
and on a few small derived check frames (built here, vectorised in DuckDB or pandas,
for rules GX cannot state on the table itself: gaps per series, returns per series,
nested intervals, ...). The files say which rules exist and their thresholds; this
module only derives frames, runs GX and reports.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SUITE_NAMES = ("orders", "products", "plants", "run", "series", "backtest", "forecast")
MODES = ("fail", "warn")
SAMPLE_ROWS = 5
RESULTS_TABLE = "main.gate_results"
RESULT_COLUMNS = [
    "run_id",
    "suite",
    "expectation",
    "column_name",
    "success",
    "observed_value",
    "unexpected_count",
    "failing_rows_sample",
    "validated_at",
    "mode",
]
_CREATE_RESULTS = f"""
create table if not exists {RESULTS_TABLE} (
    run_id varchar,
    suite varchar,
    expectation varchar,
    column_name varchar,
    success boolean,
    observed_value varchar,
    unexpected_count bigint,
    failing_rows_sample varchar,
    validated_at timestamp,
    mode varchar
)
"""
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
_CHECK_KEYS = {"notes", "where", "when", "unless"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class GateFailed(Exception):
    """A gate in mode 'fail' found failed expectations; str() is a readable report."""

    def __init__(self, message: str, results: pd.DataFrame):
        super().__init__(message)
        self.results = results


# --- suites as files ---------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One expectation of a suite file, with its optional conditions."""

    type: str
    kwargs: dict[str, Any]
    notes: str | None = None
    where: dict[str, Any] | None = None
    when: str | None = None
    unless: str | None = None

    @property
    def columns(self) -> list[str]:
        kw = self.kwargs
        cols = [kw.get("column"), kw.get("column_A"), kw.get("column_B")]
        cols += list(kw.get("column_list") or [])
        return [c for c in cols if c]

    @property
    def column_name(self) -> str:
        return ", ".join(self.columns)


@dataclass(frozen=True)
class Frame:
    """The stage table (name 'table') or a derived check frame, with its expectations."""

    name: str
    description: str
    key: list[str]
    checks: list[Check]

    @property
    def derived(self) -> bool:
        return self.name != "table"


@dataclass(frozen=True)
class Suite:
    """A gate's suite as read from gx/<name>.yml."""

    name: str
    table: str
    description: str
    parameters: dict[str, Any]
    inputs: dict[str, str]
    frames: list[Frame]
    path: Path = field(compare=False)

    @property
    def n_checks(self) -> int:
        return sum(len(f.checks) for f in self.frames)


def suites_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder of suite files: the argument, $DEMANDCAST_GX_DIR, ./gx, or the repo's gx/."""
    candidates = [path, os.environ.get("DEMANDCAST_GX_DIR"), Path.cwd() / "gx"]
    candidates.append(Path(__file__).resolve().parents[2] / "gx")
    for candidate in candidates:
        if candidate and (Path(candidate) / "orders.yml").is_file():
            return Path(candidate)
    tried = ", ".join(str(c) for c in candidates if c)
    raise FileNotFoundError(f"no Great Expectations suites (orders.yml, ...) found in: {tried}")


def load_suite(name: str, directory: str | os.PathLike | None = None) -> Suite:
    """Read and check gx/<name>.yml."""
    path = suites_dir(directory) / f"{name}.yml"
    if not path.is_file():
        raise FileNotFoundError(f"no suite file {path}; suites are {', '.join(SUITE_NAMES)}")
    raw = yaml.safe_load(path.read_text()) or {}
    where = f"suite file {path}"
    for required in ("suite", "table", "expectations"):
        if required not in raw:
            raise ValueError(f"{where}: missing top-level key '{required}'")
    table_checks = _parse_checks(raw["expectations"], f"{where}, expectations")
    frames = [Frame("table", raw.get("description", ""), list(raw.get("key") or []), table_checks)]
    for frame_name, spec in (raw.get("derived") or {}).items():
        if (raw["suite"], frame_name) not in _DERIVATIONS:
            raise ValueError(
                f"{where}: derived frame '{frame_name}' has no derivation in gates.py "
                f"(known: {sorted(f for s, f in _DERIVATIONS if s == raw['suite'])})"
            )
        checks = _parse_checks(spec.get("expectations") or [], f"{where}, derived.{frame_name}")
        frames.append(
            Frame(frame_name, spec.get("description", ""), list(spec.get("key") or []), checks)
        )
    suite = Suite(
        name=raw["suite"],
        table=raw["table"],
        description=raw.get("description", ""),
        parameters=dict(raw.get("parameters") or {}),
        inputs=dict(raw.get("inputs") or {}),
        frames=frames,
        path=path,
    )
    names = set(suite.parameters) | set(suite.inputs)
    for frame in frames:
        for check in frame.checks:
            for ref in [check.when, check.unless, *_parameter_refs(check.kwargs)]:
                if ref and ref not in names:
                    raise ValueError(
                        f"{where}: {check.type} on {check.column_name} refers to "
                        f"'{ref}', which is neither a parameter nor an input"
                    )
    return suite


def _parse_checks(items: Iterable[Any], where: str) -> list[Check]:
    checks = []
    for i, item in enumerate(items):
        types = [k for k in (item or {}) if str(k).startswith("expect_")]
        extra = set(item or {}) - set(types) - _CHECK_KEYS
        if len(types) != 1 or extra:
            raise ValueError(
                f"{where}[{i}]: expected one 'expect_...: {{kwargs}}' and optionally "
                f"{sorted(_CHECK_KEYS)}; got keys {sorted(item or {})}"
            )
        checks.append(
            Check(
                type=types[0],
                kwargs=dict(item[types[0]] or {}),
                notes=item.get("notes"),
                where=item.get("where"),
                when=item.get("when"),
                unless=item.get("unless"),
            )
        )
    return checks


def _parameter_refs(kwargs: Mapping[str, Any]) -> list[str]:
    return [v["$PARAMETER"] for v in kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v]


# --- context: parameters and inputs ------------------------------------------------


def resolve_context(suite: Suite, context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Suite parameters overridden by `context`, typed; inputs passed through; unknown keys fail."""
    context = dict(context or {})
    unknown = sorted(set(context) - set(suite.parameters) - set(suite.inputs))
    if unknown:
        raise ValueError(
            f"gate '{suite.name}': unknown context key(s) {unknown}; it takes parameters "
            f"{sorted(suite.parameters)} and inputs {sorted(suite.inputs)} ({suite.path})"
        )
    values: dict[str, Any] = {name: context.get(name) for name in suite.inputs}
    for name, default in suite.parameters.items():
        given = context.get(name)  # None means "not set": the suite's default applies
        values[name] = _typed(name, default, default if given is None else given)
    return values


def _typed(name: str, default: Any, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return None
    if default == "today" and value == "today":
        value = dt.date.today()
    if isinstance(default, bool) or isinstance(value, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes", "on")
        return bool(value)
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        value = dt.date.fromisoformat(value.strip())
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())  # compares with datetime64 columns
    if isinstance(value, dt.datetime):
        return value
    if isinstance(default, (int, float)) or (default is None and isinstance(value, str)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"context['{name}'] must be a number, got {value!r}") from None
        return int(number) if number.is_integer() and not isinstance(default, float) else number
    return value


def _is_given(value: Any) -> bool:
    return value is not None and value is not False


# --- derived check frames ----------------------------------------------------------


def _sql(query: str, **frames: pd.DataFrame) -> pd.DataFrame:
    """Run DuckDB SQL over pandas frames on a private in-memory connection."""
    con = duckdb.connect()
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.execute(query).df()
    finally:
        con.close()


def _ids(values: Any, column: str) -> pd.DataFrame:
    """A one-column frame of distinct ids from a list, set, Series or frame."""
    if isinstance(values, pd.DataFrame):
        values = values[column]
    return pd.DataFrame({column: pd.unique(pd.Series(list(values), dtype="object").dropna())})


def _orders_lines(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    n_lines, n_duplicates = len(df), int(df["is_duplicate"].fillna(False).astype(bool).sum())
    return pd.DataFrame(
        {
            "n_lines": [n_lines],
            "n_duplicates": [n_duplicates],
            "duplicate_share": [n_duplicates / n_lines if n_lines else 0.0],
        }
    )


def _orders_dates(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    return _sql(
        """
        select
            order_date,
            count(*) as n_lines,
            min(order_line_id) as first_order_line_id
        from orders
        where order_date is not null
        group by all
        order by all
        """,
        orders=df[["order_date", "order_line_id"]],
    )


def _orders_series(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    return _sql(
        """
        select
            plant_id,
            product_id,
            count(*) as n_lines,
            coalesce(sum(quantity) filter (where quantity > 0 and isfinite(quantity)), 0)
                as sales_quantity,
            coalesce(-sum(quantity) filter (where quantity < 0 and isfinite(quantity)), 0)
                as return_quantity
        from orders
        where not coalesce(is_duplicate, false)
        group by all
        order by all
        """,
        orders=df[["plant_id", "product_id", "quantity", "is_duplicate"]],
    )


_STEP_SQL = {
    "day": "to_days(cast(period_index as integer))",
    "week": "to_days(cast(7 * period_index as integer))",
    "month": "to_months(cast(period_index as integer))",
}


def _infer_frequency(df: pd.DataFrame) -> str:
    days = _sql(
        """
        select min(date_diff('day', previous, period_start)) as days
        from (
            select
                cast(period_start as date) as period_start,
                lag(cast(period_start as date)) over (
                    partition by series_id order by period_start
                ) as previous
            from series
        )
        where previous is not null and previous <> period_start
        """,
        series=df[["series_id", "period_start"]],
    )["days"].iloc[0]
    if pd.isna(days) or days == 1:
        return "day"  # no series has two periods: any frequency places them alike
    if days == 7:
        return "week"
    if 28 <= days <= 31:
        return "month"
    raise ValueError(
        f"cannot infer the frequency from a smallest step of {days} days between "
        "periods; pass context['frequency'] ('day', 'week' or 'month')"
    )


def _series_series(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    frequency = v.get("frequency") or _infer_frequency(df)
    if frequency not in _STEP_SQL:
        raise ValueError(f"context['frequency'] must be day, week or month, not {frequency!r}")
    return _sql(
        f"""
        with placed as (
            select
                series_id,
                period_index,
                cast(period_start as date) as period_start,
                min(cast(period_start as date)) over (partition by series_id) as first_period
            from series
        )
        select
            series_id,
            count(*) as n_periods,
            min(period_index) as first_index,
            max(period_index) + 1 - count(distinct period_index) as missing_periods,
            count(*) filter (
                where period_start <> cast(first_period + {_STEP_SQL[frequency]} as date)
            ) as misplaced_periods,
            min(period_start) as first_period,
            max(period_start) as last_period
        from placed
        group by all
        order by all
        """,
        series=df[["series_id", "period_index", "period_start"]],
    )


def _series_products(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    active = _ids(v.get("active_product_ids") or [], "product_id")
    return _sql(
        """
        select
            active.product_id,
            count(distinct series.series_id) as n_series
        from active
        left join series on series.product_id = active.product_id
        group by all
        order by all
        """,
        active=active,
        series=df[["series_id", "product_id"]],
    )


def _backtest_series(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    expected = v.get("expected_series_ids")
    candidates = v.get("candidates")
    return _sql(
        """
        with grid as (
            select expected.series_id, candidates.model_name
            from expected cross join candidates
        ),
        missing as (
            select grid.* from grid anti join metrics using (series_id, model_name)
        )
        select
            expected.series_id,
            count(missing.model_name) as n_missing_candidates,
            string_agg(missing.model_name, ', ' order by missing.model_name)
                as missing_candidates
        from expected
        left join missing using (series_id)
        group by all
        order by all
        """,
        metrics=df[["series_id", "model_name"]],
        expected=_ids(df["series_id"] if expected is None else expected, "series_id"),
        candidates=_ids(df["model_name"] if candidates is None else candidates, "model_name"),
    )


def _history_frame(history: Any) -> pd.DataFrame:
    if history is None:
        return pd.DataFrame({"series_id": pd.Series(dtype="object"), "history_p90": []})
    if isinstance(history, pd.DataFrame):
        return history[["series_id", "history_p90"]]
    series = pd.Series(history, dtype="float64") if isinstance(history, Mapping) else history
    return pd.DataFrame({"series_id": series.index.astype("object"), "history_p90": series.values})


def _forecast_series(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    expected = v.get("expected_series_ids")
    ids = df["series_id"] if expected is None else list(expected) + list(df["series_id"])
    return _sql(
        f"""
        select
            expected.series_id,
            count(steps.series_id) as n_steps,
            max(steps.forecast) as forecast_max,
            any_value(history.history_p90) as history_p90,
            -- a cold start borrows its level from the product group by design:
            -- the bound on its own (short) history does not apply
            case when not bool_and(coalesce(steps.method, '') = 'cold_start') then
                {float(v["max_history_multiple"])} * any_value(history.history_p90)
                + {float(v["history_allowance"])}
            end as plausible_max
        from expected
        left join steps using (series_id)
        left join history using (series_id)
        group by all
        order by all
        """,
        steps=df[["series_id", "forecast"]].assign(
            method=df["method"] if "method" in df.columns else None
        ),
        expected=_ids(ids, "series_id"),
        history=_history_frame(v.get("history_p90")),
    )


_BOUND = re.compile(r"(lo|hi)_(\d+(?:\.\d+)?)")


def _forecast_intervals(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    bounds = [(m[1], float(m[2]), c) for c in df.columns if (m := _BOUND.fullmatch(str(c)))]
    lows = [c for side, level, c in sorted(bounds, key=lambda b: -b[1]) if side == "lo"]
    highs = [c for side, level, c in sorted(bounds, key=lambda b: b[1]) if side == "hi"]
    chain = [*lows, "forecast", *highs]
    pieces = [
        pd.DataFrame(
            {
                "series_id": df["series_id"].to_numpy(),
                "step": df["step"].to_numpy(),
                "bounds": f"{lower} <= {upper}",
                "lower": df[lower].to_numpy(dtype="float64"),
                "upper": df[upper].to_numpy(dtype="float64"),
            }
        )
        for lower, upper in zip(chain, chain[1:], strict=False)
    ]
    if not pieces:
        return pd.DataFrame(columns=["series_id", "step", "bounds", "lower", "upper"])
    return pd.concat(pieces, ignore_index=True)


def _forecast_run(df: pd.DataFrame, v: Mapping[str, Any]) -> pd.DataFrame:
    per_step = df.groupby("step")["period_start"].nunique()
    run_ids = df["run_id"].nunique() if "run_id" in df.columns else 1
    return pd.DataFrame(
        {
            "n_rows": [len(df)],
            "period_starts_per_step": [int(per_step.max()) if len(per_step) else 0],
            "run_ids": [int(run_ids)],
        }
    )


_DERIVATIONS: dict[tuple[str, str], Callable[[pd.DataFrame, Mapping[str, Any]], pd.DataFrame]] = {
    ("orders", "lines"): _orders_lines,
    ("orders", "dates"): _orders_dates,
    ("orders", "series"): _orders_series,
    ("series", "series"): _series_series,
    ("series", "products"): _series_products,
    ("backtest", "series"): _backtest_series,
    ("forecast", "series"): _forecast_series,
    ("forecast", "intervals"): _forecast_intervals,
    ("forecast", "run"): _forecast_run,
}


# --- Great Expectations ------------------------------------------------------------

_LOCK = threading.RLock()
_CONTEXT: Any = None


def _new_context(docs_dir: Path | None = None) -> Any:
    import great_expectations as gx
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # GX fingerprints every pandas batch below 1 GB with an md5 of the whole frame, a
    # batch marker we never read: about 1 s per validation on 10M rows. Turn it off.
    pandas_engine.HASH_THRESHOLD = 0

    # in memory, without the temporary docs site GX would otherwise announce on every start
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.data_sources.add_pandas("demandcast")
    if docs_dir is not None:
        context.add_data_docs_site(
            "demandcast",
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def gx_context() -> Any:
    """The process's one ephemeral GX context (importing GX costs ~2 s; creating it, ms)."""
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            _CONTEXT = _new_context()
        return _CONTEXT


def _batch_definition(context: Any, asset_name: str) -> Any:
    source = context.data_sources.get("demandcast")
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition("whole")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole")


def _camel(expectation_type: str) -> str:
    return "".join(part.capitalize() for part in expectation_type.split("_"))


def _gx_expectation(check: Check, index: int) -> Any:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    cls = getattr(gxe, _camel(check.type), None)
    if cls is None:
        raise ValueError(f"unknown expectation type {check.type!r} (not in GX core)")
    kwargs = dict(check.kwargs)
    if check.where:
        conditions = [Column(col) == value for col, value in check.where.items()]
        condition = conditions[0]
        for more in conditions[1:]:
            condition = condition & more
        kwargs["row_condition"] = condition
    if check.notes:
        kwargs["notes"] = check.notes
    return cls(**kwargs, meta={"check": index})


def _validate_frame(
    context: Any,
    suite: Suite,
    frame: Frame,
    checks: list[tuple[int, Check]],
    df: pd.DataFrame,
    values: Mapping[str, Any],
    run_id: str,
    store: bool,
) -> dict[int, Any]:
    """Validate one frame with GX; returns the GX result of each check by its index."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    name = suite.name if not frame.derived else f"{suite.name}.{frame.name}"
    asset = suite.table if not frame.derived else f"{suite.table}.{frame.name}"
    gx_suite = gx.ExpectationSuite(
        name=name,
        expectations=[_gx_expectation(check, i) for i, check in checks],
        notes=frame.description or None,
    )
    params = {ref: values[ref] for _, check in checks for ref in _parameter_refs(check.kwargs)}
    batch_definition = _batch_definition(context, asset)
    if store:  # keep the result in the context's store, for Data Docs
        gx_suite = context.suites.add_or_update(gx_suite)
        try:
            context.validation_definitions.delete(name)
        except gx.exceptions.DataContextError:  # absent on first use
            pass
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=gx_suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=params,
            result_format=_RESULT_FORMAT,
            run_id=RunIdentifier(run_name=run_id),
        )
    else:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(
            gx_suite, expectation_parameters=params, result_format=_RESULT_FORMAT
        )
    return {int(r.expectation_config.meta["check"]): r for r in result.results}


# --- results -----------------------------------------------------------------------


def _exception_message(gx_result: Any) -> str | None:
    info = gx_result.exception_info or {}
    if "raised_exception" in info:
        infos = [info]
    else:
        infos = [i for i in info.values() if isinstance(i, dict)]
    for i in infos:
        if i.get("raised_exception") and i.get("exception_message"):
            return str(i["exception_message"]).strip().splitlines()[0]
    return None


def _fmt(value: Any) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return "null"
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return "NaN"
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.3g}"
    if isinstance(value, (np.integer,)):
        return f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _observed(gx_result: Any, error: str | None) -> str:
    if error:
        return f"error: {error}"
    result = gx_result.result or {}
    if "observed_value" in result:
        return _fmt(result["observed_value"])
    if "unexpected_count" in result:
        count, total = result["unexpected_count"], result.get("element_count") or 0
        text = f"{_fmt(count)} of {_fmt(total)} rows unexpected"
        if count:
            text += f" ({result.get('unexpected_percent', 0):.3g}%)"
            examples = result.get("partial_unexpected_list") or []
            if examples:
                text += ", e.g. " + ", ".join(_fmt(e) for e in examples[:SAMPLE_ROWS])
        return text
    return "no value observed"


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


def _sample(df: pd.DataFrame, frame: Frame, check: Check, gx_result: Any) -> pd.DataFrame:
    """Up to SAMPLE_ROWS offending rows: key, checked and condition columns."""
    result = gx_result.result or {}
    labels = result.get("partial_unexpected_index_list") or []
    labels = [label for label in labels if not isinstance(label, dict)][:SAMPLE_ROWS]
    if frame.derived or not frame.key:
        columns = list(df.columns)
    else:
        columns = list(dict.fromkeys([*frame.key, *check.columns, *(check.where or {})]))
    columns = [c for c in columns if c in df.columns]
    if labels:
        return df.loc[labels, columns]
    if len(df) == 1 and not gx_result.success:  # a one-row summary frame
        return df[columns]
    return df.iloc[0:0][columns]


def _words(gx_result: Any, check: Check) -> str:
    """The expectation as a sentence, from GX's own prescriptive renderer."""
    try:
        expectation = gx_result.expectation_config.to_domain_obj()
        expectation.render()
        for rendered in expectation.rendered_content or []:
            if rendered.name == "atomic.prescriptive.summary":
                content = rendered.value.to_json_dict()
                params = {k: _fmt(p.get("value")) for k, p in content["params"].items()}
                return string.Template(content["template"]).safe_substitute(params)
    except Exception:  # the wording is a courtesy: fall back to the kwargs
        pass
    kwargs = ", ".join(f"{k}={_fmt(v)}" for k, v in check.kwargs.items())
    return f"{check.type}({kwargs})"


@dataclass
class _Outcome:
    frame: Frame
    check: Check
    success: bool | None
    observed: str
    unexpected_count: int | None
    sample: pd.DataFrame
    words: str

    @property
    def column_label(self) -> str:
        """The checked column(s), prefixed by the derived frame's name: 'series.n_steps'."""
        return (f"{self.frame.name}." if self.frame.derived else "") + self.check.column_name


def _evaluate(
    suite: Suite,
    df: pd.DataFrame,
    values: Mapping[str, Any],
    run_id: str,
    context: Any,
    store: bool,
) -> list[_Outcome]:
    outcomes: list[_Outcome] = []
    for frame in suite.frames:
        runnable: list[tuple[int, Check]] = []
        for i, check in enumerate(frame.checks):
            skip = None
            if check.when and not _is_given(values.get(check.when)):
                skip = f"skipped: no {check.when} given"
            elif check.unless and _is_given(values.get(check.unless)):
                skip = f"skipped: {check.unless} is true"
            if skip:
                outcomes.append(_Outcome(frame, check, None, skip, None, df.iloc[0:0], ""))
            else:
                for ref in _parameter_refs(check.kwargs):
                    if values.get(ref) is None:
                        raise ValueError(
                            f"gate '{suite.name}' needs context['{ref}'] "
                            f"(used by {check.type} on {check.column_name}; {suite.path})"
                        )
                runnable.append((i, check))
        if not runnable:
            continue
        try:
            data = _DERIVATIONS[(suite.name, frame.name)](df, values) if frame.derived else df
            if not isinstance(data.index, pd.RangeIndex):  # samples are looked up by label
                data = data.reset_index(drop=True)
        except Exception as exc:  # a frame that cannot be built fails its checks
            error = f"could not build the check frame '{frame.name}': {exc}".splitlines()[0]
            for _, check in runnable:
                outcomes.append(
                    _Outcome(
                        frame, check, False, f"error: {error}", None, pd.DataFrame(), check.type
                    )
                )
            continue
        with _LOCK:
            results = _validate_frame(context, suite, frame, runnable, data, values, run_id, store)
        for i, check in runnable:
            gx_result = results[i]
            error = _exception_message(gx_result)
            success = bool(gx_result.success) and error is None
            count = (gx_result.result or {}).get("unexpected_count")
            outcomes.append(
                _Outcome(
                    frame,
                    check,
                    success,
                    _observed(gx_result, error),
                    None if count is None else int(count),
                    pd.DataFrame() if success else _sample(data, frame, check, gx_result),
                    "" if success else _words(gx_result, check),
                )
            )
    return outcomes


def _results_frame(
    suite: Suite, outcomes: list[_Outcome], run_id: str, mode: str, validated_at: dt.datetime
) -> pd.DataFrame:
    rows = []
    for o in outcomes:
        sample = [{k: _jsonable(v) for k, v in row.items()} for row in o.sample.to_dict("records")]
        rows.append(
            {
                "run_id": run_id,
                "suite": suite.name,
                "expectation": o.check.type,
                "column_name": o.column_label,
                "success": o.success,
                "observed_value": o.observed,
                "unexpected_count": o.unexpected_count,
                "failing_rows_sample": json.dumps(sample, default=str) if sample else None,
                "validated_at": validated_at,
                "mode": mode,
            }
        )
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return frame.astype(
        {
            "success": "boolean",
            "unexpected_count": "Int64",
            "validated_at": "datetime64[us]",
        }
    )


def _table_text(sample: pd.DataFrame) -> str:
    if sample.empty:
        return ""
    shown = sample.copy()
    for column in shown.columns:
        shown[column] = [_fmt(v) for v in shown[column]]
    return shown.to_string(index=False, max_colwidth=40)


def failure_report(suite: Suite, outcomes: list[_Outcome], run_id: str) -> str:
    """One screen: the suite, each failed expectation in words, observed values, offending rows."""
    failed = [o for o in outcomes if o.success is False]
    ran = sum(o.success is not None for o in outcomes)
    lines = [
        f"Gate '{suite.name}' failed: {len(failed)} of {ran} expectations on "
        f"{suite.table} (run {run_id}; suite {suite.path.name})"
    ]
    for n, o in enumerate(failed, start=1):
        where = f" in derived frame '{o.frame.name}'" if o.frame.derived else ""
        lines.append("")
        lines.append(f"{n}. {o.check.column_name or '(table)'}: {o.check.type}{where}")
        if o.words and o.words != o.check.type:
            lines.append(f"   rule: {o.words}")
        if o.frame.derived and o.frame.description:
            lines.append(f"   frame: {o.frame.description}")
        if o.check.notes:
            lines.append(f"   why: {o.check.notes}")
        lines.append(f"   observed: {o.observed}")
        table = _table_text(o.sample)
        if table:
            lines.append(f"   offending rows (up to {SAMPLE_ROWS}):")
            lines.extend("     " + line for line in table.splitlines())
    return "\n".join(lines)


def record_results(con: duckdb.DuckDBPyConnection, results: pd.DataFrame) -> None:
    """Append to main.gate_results on its own cursor: it commits even if the caller rolls back."""
    for attempt in range(5):
        cursor = con.cursor()
        try:
            cursor.execute(_CREATE_RESULTS)
            cursor.register("_gate_results_new", results)
            cursor.execute(f"insert into {RESULTS_TABLE} by name select * from _gate_results_new")
            return
        except duckdb.TransactionException:  # two gates creating the table at once
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
        finally:
            cursor.close()


def _as_frame(data: Any) -> pd.DataFrame:
    """A pandas frame from a frame or a DuckDB relation (via Arrow, strings as categoricals:
    10x faster than relation.df() on 10M order lines)."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, duckdb.DuckDBPyRelation):
        fetch = getattr(data, "to_arrow_table", None) or data.fetch_arrow_table
        return fetch().to_pandas(strings_to_categorical=True, date_as_object=False)
    raise TypeError(f"expected a pandas DataFrame or a DuckDB relation, got {type(data).__name__}")


def validate(
    suite: str,
    df: pd.DataFrame,
    context: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    mode: str = "fail",
    suites_path: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """Validate a frame with a suite; returns the results frame and the failure report (or None)."""
    loaded = load_suite(suite, suites_path)
    run_id = run_id or f"adhoc-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    outcomes = _evaluate(
        loaded, _as_frame(df), resolve_context(loaded, context), run_id, gx_context(), False
    )
    results = _results_frame(loaded, outcomes, run_id, mode, _now())
    failed = any(o.success is False for o in outcomes)
    report = failure_report(loaded, outcomes, run_id) if failed else None
    # for the gate model's own table (and the gate_verdict post-hook): which failures block
    # the build, and the report to show for them; gate_results keeps RESULT_COLUMNS only
    results["blocking"] = results["success"].eq(False).fillna(False) & (mode == "fail")
    results["report"] = results["success"].eq(False).fillna(False).map({True: report, False: None})
    return results, report


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def run_gate(
    suite: str,
    df: pd.DataFrame,
    con: duckdb.DuckDBPyConnection | None = None,
    run_id: str | None = None,
    mode: str = "fail",
    context: Mapping[str, Any] | None = None,
    suites_path: str | os.PathLike | None = None,
    raise_on_failure: bool = True,
) -> pd.DataFrame:
    """Validate a stage frame with gx/<suite>.yml, append the outcome to main.gate_results
    (on its own cursor of `con`), raise GateFailed in mode 'fail' when an expectation fails
    (unless raise_on_failure is False: then the returned rows say `blocking`), and return
    the results frame."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    results, report = validate(suite, df, context, run_id, mode, suites_path)
    if con is not None:
        record_results(con, results[RESULT_COLUMNS])
    if report and mode == "fail" and raise_on_failure:
        raise GateFailed(report, results)
    return results


def gate_in_build(
    suites: str | Mapping[str, Any], df: Any = None, con: duckdb.DuckDBPyConnection = None
) -> pd.DataFrame:
    """Run a gate inside `dbt build`: one suite on `df`, or several ({suite: frame}), as one
    checkpoint. Run id, modes and context come from the warehouse; failures are recorded and
    returned as `blocking` rows carrying the joined report, and the post-hook gate_verdict
    fails the node with it (dbt-duckdb would print a traceback before it)."""
    frames = {suites: df} if isinstance(suites, str) else dict(suites)
    started = _one_row(con, "int_run__started")
    modes = json.loads(started.get("gate_modes") or "{}")
    results = [
        run_gate(
            suite,
            frame,
            con=con,
            run_id=started.get("run_id"),
            mode=modes.get(suite, "fail"),
            context=warehouse_context(con, suite),
            raise_on_failure=False,
        )
        for suite, frame in frames.items()
    ]
    out = pd.concat(results, ignore_index=True)
    blocking = out["blocking"].astype(bool)
    reports = [r for r in out.loc[blocking, "report"].dropna().unique()]
    out["report"] = out["report"].astype(object)
    out.loc[blocking, "report"] = "\n\n".join(reports)
    return out


# --- the standalone check (CI) ------------------------------------------------------


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'main' and table_name = ?",
            [table],
        ).fetchall()[0][0]
    )


def _one_row(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    if not _table_exists(con, table):
        return {}
    frame = con.execute(f'select * from main."{table}" limit 1').df()
    return frame.iloc[0].to_dict() if len(frame) else {}


def warehouse_context(
    con: duckdb.DuckDBPyConnection, suite: str, run_date: Any = None
) -> dict[str, Any]:
    """The context a suite gets, read from the warehouse, the same in the build and in the
    standalone check: the run's vars from int_run__started and int_run__context, the eligible
    series from int_series__profiled, the active products from stg_erp__products."""
    started = _one_row(con, "int_run__started")
    # the orders gate runs before int_run__context is built (it would be last run's)
    run = {} if suite == "orders" else _one_row(con, "int_run__context")
    origin = run.get("forecast_origin")
    context: dict[str, Any] = {}
    if suite == "orders":
        context["run_date"] = run_date or started.get("run_date")
        context["max_duplicate_share"] = started.get("max_duplicate_share")
    elif suite == "run":
        context["max_staleness_periods"] = started.get("max_staleness_periods")
    elif suite == "series":
        context["allow_negative_demand"] = started.get("allow_negative_demand")
        context["forecast_origin"] = origin
        context["frequency"] = run.get("frequency")
        if _table_exists(con, "stg_erp__products") and origin is not None:
            context["active_product_ids"] = [
                r[0]
                for r in con.execute(
                    # launched, not discontinued, and ordered at least once: a
                    # product never ordered has no series to lose
                    "select product_id from main.stg_erp__products"
                    " where (discontinued_date is null or discontinued_date > ?)"
                    " and (launch_date is null or launch_date <= ?)"
                    " and product_id in (select product_id from main.int_orders__screened"
                    " where not is_duplicate and order_date <= ?)",
                    [origin, origin, origin],
                ).fetchall()
            ]
    elif suite in ("backtest", "forecast") and _table_exists(con, "int_series__profiled"):
        condition = "lifecycle <> 'discontinued'"
        if suite == "backtest":
            condition += " and is_backtestable"
        context["expected_series_ids"] = [
            r[0]
            for r in con.execute(
                f"select series_id from main.int_series__profiled where {condition}"
            ).fetchall()
        ]
    if suite == "forecast":
        context["horizon"] = run.get("horizon")
        context["max_history_multiple"] = started.get("max_forecast_multiple")
        if _table_exists(con, "int_series__filled"):
            # robust: one absurd period cannot raise the bound the way it raises the maximum
            context["history_p90"] = con.execute(
                "select series_id, coalesce(quantile_cont(demand, 0.9)"
                " filter (where demand > 0), 0) as history_p90"
                " from main.int_series__filled group by all"
            ).df()
    return {k: v for k, v in context.items() if v is not None and not _is_missing(v)}


def _is_missing(value: Any) -> bool:
    return not isinstance(value, (list, dict, pd.DataFrame)) and bool(pd.isna(value))


def check_warehouse(
    db_path: str | os.PathLike,
    docs_dir: str | os.PathLike,
    run_date: Any = None,
    params: Mapping[str, Any] | None = None,
    suites: Iterable[str] = SUITE_NAMES,
    suites_path: str | os.PathLike | None = None,
) -> int:
    """Run every suite on the stage tables of a DuckDB file, print a summary, write Data Docs;
    0 when all passed, else 1."""
    known = {p for name in suites for p in load_suite(name, suites_path).parameters}
    unknown = sorted(set(params or {}) - known)
    if unknown:
        raise ValueError(f"unknown suite parameter(s) {unknown}; the suites take {sorted(known)}")
    db = Path(db_path)
    if not db.is_file():
        print(f"check: no warehouse file at {db}; run `dbt build` first")
        return 1
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        print(f"check: cannot open {db} read-only ({str(exc).splitlines()[0]})")
        return 1
    context = _new_context(Path(docs_dir))
    width = max(len(s) for s in suites)
    failed_any = False
    reports = []
    try:
        run_id = str(_one_row(con, "int_run__started").get("run_id") or "") or (
            f"check-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
        )
        for name in suites:
            started = time.perf_counter()
            suite = load_suite(name, suites_path)
            if not _table_exists(con, suite.table):
                print(f"{name:<{width}}  missing: no table main.{suite.table} in {db.name}")
                failed_any = True
                continue
            try:
                df = _as_frame(con.table(f'main."{suite.table}"'))
                values = warehouse_context(con, name, run_date)
                values.update({k: v for k, v in (params or {}).items() if k in suite.parameters})
                outcomes = _evaluate(
                    suite, df, resolve_context(suite, values), run_id, context, True
                )
            except (ValueError, duckdb.Error) as exc:
                print(f"{name:<{width}}  error: {str(exc).splitlines()[0]}")
                failed_any = True
                continue
            failed = [o for o in outcomes if o.success is False]
            ran = sum(o.success is not None for o in outcomes)
            seconds = time.perf_counter() - started
            if failed:
                failed_any = True
                names = ", ".join(f"{o.check.type}({o.column_label})" for o in failed)
                print(f"{name:<{width}}  {len(failed)} of {ran} failed: {names}")
                reports.append(failure_report(suite, outcomes, run_id))
            else:
                print(
                    f"{name:<{width}}  passed ({ran} expectations, {len(df):,} rows, "
                    f"{seconds:.1f} s)"
                )
    finally:
        con.close()
    with _LOCK:
        context.build_data_docs()
    for report in reports:
        print()
        print(report)
    print(f"\nData Docs: {Path(docs_dir).resolve() / 'index.html'}")
    return 1 if failed_any else 0
