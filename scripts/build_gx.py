"""Write the Great Expectations project in gx/: suites, validation definitions, checkpoints.

The suites are defined here with Great Expectations' own classes; this script writes them
through a file context into gx/ (committed; the gates only read it). Re-run after changing a
suite; it is idempotent (objects keep their ids, so an edit changes only what it edits):

    .venv/bin/python scripts/build_gx.py

One suite, validation definition and checkpoint per validated table (a pandas dataframe asset:
a checkpoint hands its one dataframe to every validation definition it holds). The suite of a
table is named after the stage it gates and, for a check model (models/checks/chk_<stage>__<rule>),
the rule: orders, orders__lines, ... The checkpoint's result_format names the table's key
columns, so failed rows come back with them. Thresholds are suite parameters
({"$PARAMETER": name}) that the gate passes at run time from the dbt vars
(demandcast.gates.suite_parameters).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.checkpoint import UpdateDataDocsAction  # noqa: E402
from great_expectations.expectations.row_conditions import Column  # noqa: E402

from demandcast.gx_docs import OfflineDataDocsAction  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ROWS = 5
INF = [float("inf"), float("-inf")]
BIG = 1.0e300  # "finite": GX's between has no isfinite


def P(name: str) -> dict:
    """A suite parameter, given at validation time."""
    return {"$PARAMETER": name}


OK = Column("status") == "ok"


def _not_null(*columns: str, **kw) -> list:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, **kw) for c in columns]


def _forecast_rows(methods: list[str], note: str) -> list:
    """A forecast table's rows: one per series and step, complete, of these methods."""
    return [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["series_id", "step"]),
        *_not_null("series_id", "period_start", "model_name", "step", "forecast"),
        gxe.ExpectColumnValuesToBeInSet(column="method", value_set=methods),
        gxe.ExpectColumnValuesToBeBetween(column="step", min_value=1, max_value=P("horizon")),
        gxe.ExpectColumnValuesToBeBetween(
            column="forecast", min_value=0, max_value=BIG, notes=note
        ),
    ]


def _score(column: str, note: str | None = None, nullable: bool = False) -> list:
    """A successful candidate's score: present (unless nullable), finite, not negative."""
    rules = [] if nullable else _not_null(column, row_condition=OK)
    rules.append(
        gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=0, max_value=BIG, row_condition=OK, notes=note
        )
    )
    return rules


# table -> (suite, key columns shown with failed rows, description, expectations)
SUITES: dict[str, tuple[str, list[str], str, list]] = {
    "int_orders__screened": (
        "orders",
        ["source_file", "source_row", "plant_id", "product_id", "order_date"],
        "One row per raw order line; nothing dropped, duplicates and returns flagged, each "
        "judged against its series' history.",
        [
            gxe.ExpectTableRowCountToBeBetween(
                min_value=1,
                notes="An empty orders extract (a failed export, the wrong folder) has nothing "
                "to forecast.",
            ),
            *_not_null("order_line_id"),
            gxe.ExpectColumnValuesToBeUnique(
                column="order_line_id",
                notes="order_line_id is the line's position in the raw input; a repeat means "
                "lines were multiplied.",
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="product_id", notes="A line without a product cannot belong to a series."
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="plant_id", notes="A line without a plant cannot belong to a series."
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="order_date", notes="The date did not parse, or was empty."
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="quantity", notes="The quantity did not parse as a number."
            ),
            gxe.ExpectColumnValuesToNotBeInSet(
                column="quantity",
                value_set=INF,
                notes="An infinite quantity poisons every sum it enters.",
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="plausible_max",
                column_B="quantity",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                notes="plausible_max = var outlier_ratio x the median of the series' positive "
                "lines (series with 5 or more). Far above it is a typing or unit error; fix the "
                "line, raise outlier_ratio, or set outlier_action: cap to cut it to the "
                "threshold (mon_orders__capped keeps the original).",
            ),
        ],
    ),
    "chk_orders__lines": (
        "orders__lines",
        ["n_lines", "duplicate_file", "duplicate_file_duplicates", "duplicate_file_lines"],
        "One row for the whole extract: lines, exact duplicates and their share, and the file "
        "holding the most duplicates.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="duplicate_share",
                max_value=P("max_duplicate_share"),
                notes="Above the threshold (var max_duplicate_share) the extract is suspect (a "
                "file loaded twice, a bad join upstream). duplicate_file holds the most: when all "
                "its lines repeat earlier ones, it is a copy; remove it.",
            ),
        ],
    ),
    "chk_orders__dates": (
        "orders__dates",
        ["order_date", "first_order_line_id", "first_source_file", "first_source_row"],
        "One row per distinct order date, with its number of lines and where the first is.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="order_date",
                min_value=P("min_order_date"),
                max_value=P("run_date"),
                notes="An order dated after the run (or before var min_order_date: a mistyped "
                "year, an epoch default) is a typing or extract error.",
            ),
        ],
    ),
    "chk_orders__periods": (
        "orders__periods",
        ["period_start", "n_lines", "median_lines"],
        "One row per period from the first order to the last; its lines against the median "
        "period's.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="lines_unexplained",
                min_value=P("min_period_lines"),
                notes="Not one order line in a period inside the extract, and no dip around the "
                "same time a year before or after (a shutdown): a failed or partial export. "
                "Every series would take a zero there. Re-export those periods, or set var "
                "allow_empty_periods to accept them (a one-off closure).",
            ),
        ],
    ),
    "chk_orders__plants": (
        "orders__plants",
        ["plant_id", "last_period", "extract_last_period"],
        "One row per plant; its last period with an order line against the extract's.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="silent_unexplained",
                max_value=P("max_silent_periods"),
                notes="A plant that shipped in nine periods of ten over the year has no order "
                "line in its last periods while the other plants do, and it shipped in those "
                "periods a year before: its part of the export failed or stopped early. Every "
                "series of the plant would take zeros there. Re-export the plant's orders, or "
                "set var allow_empty_periods to accept the silence (a plant that closed).",
            ),
        ],
    ),
    "chk_orders__series": (
        "orders__series",
        ["plant_id", "product_id"],
        "One row per plant and product; sales and returns over non-duplicate lines.",
        [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="sales_quantity",
                column_B="return_quantity",
                or_equal=True,
                notes="More returned than was ever sold means returns are booked to the wrong "
                "product or plant.",
            ),
        ],
    ),
    "stg_erp__products": (
        "products",
        ["source_file", "source_row", "product_id"],
        "One row per product of the optional products file (empty without one).",
        [
            gxe.ExpectColumnValuesToNotBeNull(
                column="product_id", notes="A master row without a product id names nothing."
            ),
            gxe.ExpectColumnValuesToBeUnique(
                column="product_id",
                notes="A product listed twice makes its name, group and dates ambiguous; keep "
                "one row per product_id.",
            ),
        ],
    ),
    "stg_erp__plants": (
        "plants",
        ["source_file", "source_row", "plant_id"],
        "One row per plant of the optional plants file (empty without one).",
        [
            gxe.ExpectColumnValuesToNotBeNull(
                column="plant_id", notes="A master row without a plant id names nothing."
            ),
            gxe.ExpectColumnValuesToBeUnique(
                column="plant_id",
                notes="A plant listed twice makes its name ambiguous; keep one row per plant_id.",
            ),
        ],
    ),
    "int_run__context": (
        "run",
        [
            "run_id",
            "forecast_origin",
            "data_start_period",
            "data_end_period",
            "run_period",
            "n_order_dates",
        ],
        "The run's one row: its forecast origin against the data and the run date, its "
        "frequency against the data's.",
        [
            gxe.ExpectColumnPairValuesToBeInSet(
                column_A="frequency",
                column_B="data_cadence",
                value_pairs_set=[
                    ("day", "day"),
                    ("week", "day"),
                    ("week", "week"),
                    ("month", "day"),
                    ("month", "week"),
                    ("month", "month"),
                ],
                ignore_row_if="either_value_is_missing",
                notes="The orders are dated once a month (data_cadence month: the first or last "
                "day of each month) or once a week, but var frequency asks for finer periods: "
                "most periods would be invented zeros and every series would look "
                "intermittent. Set var frequency to the data's cadence, with its season_length "
                "and horizon (monthly: frequency month, season_length 12).",
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="forecast_origin",
                notes="No forecast origin means no usable order line dated up to the run date.",
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="forecast_origin",
                column_B="data_start_period",
                or_equal=True,
                notes="The forecast origin (var forecast_origin) lies before the first order in "
                "the data; there is no history to forecast from.",
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="data_end_period",
                column_B="forecast_origin",
                or_equal=True,
                notes="The forecast origin lies after the last order in the data (an origin in "
                "the future, or an extract that ends too early); the history would end in "
                "invented zeros.",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="stale_periods",
                max_value=P("max_staleness_periods"),
                notes="The forecast origin lies this many periods before the run date (a stale "
                "extract, or an origin set long ago); the forecast would be for periods already "
                "past. Refresh the extract, or set var max_staleness_periods (null: not "
                "checked, for a deliberate backtest at a past origin).",
            ),
        ],
    ),
    "int_series__filled": (
        "series",
        ["series_id", "period_start"],
        "One row per series x period, zeros filled, from first demand to the forecast origin.",
        [
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["series_id", "period_start"],
                notes="One row per series and period; a repeat double-counts demand.",
            ),
            *_not_null("series_id", "plant_id", "product_id", "period_start", "period_index"),
            gxe.ExpectColumnValuesToNotBeNull(
                column="demand", notes="Gap filling writes a zero, never a null."
            ),
            gxe.ExpectColumnValuesToNotBeInSet(column="demand", value_set=INF),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="plausible_max",
                column_B="demand",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                notes="plausible_max = var outlier_ratio x the median of the series' positive "
                "periods (series with 5 or more). A period far above it sums implausible "
                "lines; fix them or raise outlier_ratio.",
            ),
        ],
    ),
    "chk_series__demand": (
        "series__demand",
        [
            "series_id",
            "period_start",
            "largest_return",
            "return_source_file",
            "return_source_row",
        ],
        "One row per series and period with net demand below zero; its largest return line.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="demand",
                min_value=P("min_demand"),
                notes="Net demand below zero means a period's returns exceeded its sales (a "
                "return booked to the wrong product, plant or period; the largest return line "
                "is named by file and row); fix it, or set var allow_negative_demand to accept "
                "it.",
            ),
        ],
    ),
    "chk_series__series": (
        "series__series",
        ["series_id"],
        "One row per series; its periods counted and placed against period_index and the calendar.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="first_index",
                min_value=0,
                max_value=0,
                notes="period_index counts from 0 at the series' first period.",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="missing_periods",
                max_value=0,
                notes="max(period_index) + 1 - number of periods; above 0 the series has a gap.",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="misplaced_periods",
                max_value=0,
                notes="Periods whose period_start is not first_period + period_index periods; "
                "a gap hidden by renumbering.",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="last_period",
                min_value=P("forecast_origin"),
                max_value=P("forecast_origin"),
                notes="Every series is filled to the forecast origin, so every forecast starts "
                "from the same period.",
            ),
        ],
    ),
    "chk_series__products": (
        "series__products",
        ["product_id"],
        "One row per product active at the origin and ordered by then; its series.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="n_series",
                min_value=1,
                notes="An active product with no series would get no forecast at all.",
            ),
        ],
    ),
    "int_forecast__backtest": (
        "backtest",
        ["series_id", "model_name"],
        "One row per backtested series x candidate, metrics averaged over the windows.",
        [
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["series_id", "model_name"]),
            *_not_null("series_id", "model_name", "status"),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["ok", "failed", "skipped"]),
            gxe.ExpectColumnValuesToBeBetween(
                column="n_windows",
                min_value=1,
                row_condition=OK,
                notes="A candidate scored on no window has no score.",
            ),
            *_score("mae"),
            *_score("rmse"),
            *_score("smape"),
            *_score(
                "wape",
                "WAPE may be null: it is undefined when the backtest windows hold no demand.",
                nullable=True,
            ),
            *_score(
                "mase",
                "Infinite when the in-sample naive error is zero (a constant history); the "
                "backtest must not report it as ok.",
            ),
            *_score("rmsse"),
            *_not_null("bias", row_condition=OK),
            gxe.ExpectColumnValuesToNotBeInSet(
                column="bias",
                value_set=INF,
                row_condition=OK,
                notes="Bias may be negative (over-forecasting) but must be finite.",
            ),
        ],
    ),
    "chk_backtest__series": (
        "backtest__series",
        ["series_id", "missing_candidates"],
        "One row per series the backtest must score; the candidates with no row for it.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="n_missing_candidates",
                max_value=0,
                notes="Every candidate is judged on every eligible series, or selection is not "
                "a fair comparison.",
            ),
        ],
    ),
    "int_forecast__predictions": (
        "forecast",
        ["series_id", "step"],
        "One row per forecast series x step, with its prediction intervals.",
        _forecast_rows(
            ["champion", "cold_start", "fallback"],
            "Demand is not negative and not infinite; nor is its forecast.",
        ),
    ),
    "int_forecast__launches": (
        "forecast__launches",
        ["series_id", "step"],
        "One row per planned launch without orders x step: its launch forecast.",
        _forecast_rows(["launch"], "A launch forecast is not negative and not infinite."),
    ),
    "chk_forecast__series": (
        "forecast__series",
        ["series_id"],
        "One row per series to forecast; its steps counted, its largest forecast against its "
        "robust history.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="n_steps",
                min_value=P("horizon"),
                max_value=P("horizon"),
                notes="Every series to forecast has exactly `horizon` periods; 0 means it was "
                "not forecast.",
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="plausible_max",
                column_B="forecast_max",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                notes="plausible_max = var max_forecast_multiple x the larger of the series' "
                "90th percentile of positive demand and the median of its last var horizon "
                "periods, + 1; null (not judged) for a cold start, which takes its level from "
                "the product group by design.",
            ),
        ],
    ),
    "chk_forecast__intervals": (
        "forecast__intervals",
        ["series_id", "step", "bounds"],
        "One row per forecast row x adjacent pair of bounds (lo_95 <= lo_80 <= forecast <= "
        "hi_80 <= hi_95).",
        [
            *_not_null("lower", "upper"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="upper",
                column_B="lower",
                or_equal=True,
                notes="Intervals are nested around the forecast; a crossed pair means a sign or "
                "level mix-up.",
            ),
        ],
    ),
    "chk_forecast__run": (
        "forecast__run",
        [],
        "One row for the whole forecast; how many periods each step falls in.",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="period_starts_per_step",
                min_value=1,
                max_value=1,
                notes="All series are forecast from the same origin, so each step falls in the "
                "same period for all.",
            ),
        ],
    ),
}

SITE = "local_site"
SITE_CONFIG = {
    "class_name": "SiteBuilder",
    "show_how_to_buttons": False,
    # where: the gate sets this environment variable (beside the warehouse by default)
    "store_backend": {
        "class_name": "TupleFilesystemStoreBackend",
        "base_directory": "${DEMANDCAST_DATA_DOCS}",
    },
    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
}


def _get_or(get, add):
    try:
        return get()
    except (LookupError, KeyError, ValueError, gx.exceptions.DataContextError):
        return add()


def _keep_ids(context, suite_name: str, expectations: list) -> None:
    """suites.add_or_update means to keep the id of an unchanged expectation, but GX 1.24's
    equality includes the id, so a new object never matches: copy the ids over by content."""

    def key(e) -> str:
        d = e.configuration.to_json_dict()
        fields = ("type", "kwargs", "meta", "notes", "severity")
        return json.dumps({k: d.get(k) or None for k in fields}, sort_keys=True, default=str)

    try:
        old = {key(e): e.id for e in context.suites.get(suite_name).expectations}
    except gx.exceptions.DataContextError:
        return
    for e in expectations:
        e.id = old.get(key(e), e.id)


def build(root: Path = ROOT) -> Path:
    """Write (or bring up to date) root/gx; returns its path."""
    gx_dir = root / "gx"
    os.environ.setdefault("DEMANDCAST_DATA_DOCS", str(root / "reports" / "data_docs"))
    os.environ.setdefault("DEMANDCAST_GX_RESULTS", str(gx_dir / "uncommitted" / "validations"))
    fresh = not (gx_dir / "great_expectations.yml").exists()
    context = gx.get_context(mode="file", project_root_dir=str(root))
    if fresh:
        for site in list(context.get_site_names()):
            context.delete_data_docs_site(site)
        context.add_data_docs_site(site_name=SITE, site_config=SITE_CONFIG)
        yml = gx_dir / "great_expectations.yml"
        text = yml.read_text()
        # results go where the gate says (beside the warehouse), not into the repository
        text = text.replace(
            "base_directory: uncommitted/validations/",
            "base_directory: ${DEMANDCAST_GX_RESULTS}",
        )
        yml.write_text(text + "progress_bars:\n  globally: false\n")
        context = gx.get_context(mode="file", project_root_dir=str(root))
    frames = _get_or(
        lambda: context.data_sources.get("frames"),
        lambda: context.data_sources.add_pandas("frames"),
    )
    actions = [
        UpdateDataDocsAction(name="update_data_docs", site_names=[SITE]),
        OfflineDataDocsAction(name="offline_data_docs", site_names=[SITE]),
    ]
    for table, (name, key, description, expectations) in SUITES.items():
        suite = gx.ExpectationSuite(name=name, expectations=expectations, notes=description)
        _keep_ids(context, name, suite.expectations)
        suite = context.suites.add_or_update(suite)
        asset = _get_or(
            lambda t=table: frames.get_asset(t),
            lambda t=table: frames.add_dataframe_asset(name=t),
        )
        batch = _get_or(
            lambda a=asset: a.get_batch_definition("whole"),
            lambda a=asset: a.add_batch_definition_whole_dataframe("whole"),
        )
        definition = _get_or(
            lambda n=name: context.validation_definitions.get(n),
            lambda n=name, b=batch, s=suite: context.validation_definitions.add(
                gx.ValidationDefinition(name=n, data=b, suite=s)
            ),
        )
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}
        if key:
            result_format["unexpected_index_column_names"] = key
        context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=actions,
                result_format=result_format,
            )
        )
    return gx_dir


if __name__ == "__main__":
    out = build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    print(f"wrote {out}: {len(SUITES)} suites, validation definitions and checkpoints")
