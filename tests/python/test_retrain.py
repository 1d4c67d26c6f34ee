"""Each run remembers the last: the decision rules on their own, then real builds.

The builds (one module fixture, reused by every case): a small plant built once on its
history up to one week before the end (A); then, each on a copy of A's warehouse, the
same extract again (B: every series reuses its forecast, nothing is fitted), the extract
with its last week (C: the champions are refit), and a project copy whose overrides seed
pins one series and bars another's champion, with a forecasting setting changed (E: every
other series is re-selected, the pinned one is not).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, Project, assert_rebuilds_recorded, raw_with_orders

from demandcast import retrain
from demandcast import warehouse as wh
from demandcast.catalog import load_catalog
from demandcast.config import RetrainPolicy, Settings, check_vars

# the builds of the module fixture are made once, on one pytest-xdist worker
pytestmark = pytest.mark.xdist_group("retrain")
# lifecycle_periods 26: the products launched 9 to 26 weeks before the end are new, and
# too short to backtest: cold starts
RETRAIN_VARS = (
    "{candidates: fast, n_windows: 2, n_jobs: 1, lifecycle_periods: 26, data_docs: false}"
)

# ------------------------------------------------------------ the rules, no build


def _state(**changes) -> dict:
    """A series whose champion is a week old, with nothing to say against it."""
    base = {
        "series_id": "P1|A",
        "demand_class": "smooth",
        "eligible": True,
        "has_memory": True,
        "history_fingerprint": "new",
        "history_periods": 120,
        "pin_model": None,
        "pin_reason": None,
        "barred_models": None,
        "bar_reason": None,
        "settings_hash": "s1",
        "catalog_hash": "c1",
        "settings": json.dumps({"horizon": 13}),
        "forecast_origin": pd.Timestamp("2025-06-09"),
        "run_id": "now",
        "prev_run_id": "before",
        "prev_champion": "ComboMean",
        "prev_settings_hash": "s1",
        "prev_catalog_hash": "c1",
        "prev_settings": json.dumps({"horizon": 13}),
        "prev_history_fingerprint": "old",
        "prev_demand_class": "smooth",
        "prev_n_windows": 3,
        "prev_selected_origin": pd.Timestamp("2025-06-02"),
        "prev_override_action": None,
        "prev_override_model": None,
        "prev_has_forecast": True,
        "n_new_periods": 1,
        "age_limit": 20.0,
        "live_mase": np.nan,
        "backtest_mase": 0.8,
        "n_live_periods": np.nan,
        "level_shift_z": np.nan,
        "variance_ratio": np.nan,
    }
    return {**base, **changes}


def _decide(policy=None, **changes) -> tuple[str, str, str]:
    out = retrain.decide(pd.DataFrame([_state(**changes)]), policy or RetrainPolicy())
    row = out.iloc[0]
    return row["decision"], row["reason"], row["detail"]


@pytest.mark.parametrize(
    "changes, decision, reason",
    [
        ({}, "refit", "new_data"),
        ({"history_fingerprint": "old"}, "reuse", "no_new_data"),
        (
            {"history_fingerprint": "old", "prev_has_forecast": False},
            "refit",
            "last_forecast_missing",
        ),
        ({"prev_run_id": None, "prev_champion": None}, "reselect", "new_series"),
        (
            {"settings_hash": "s2", "settings": json.dumps({"horizon": 26})},
            "reselect",
            "settings_changed",
        ),
        ({"settings_hash": "s2", "catalog_hash": "c2"}, "reselect", "catalog_changed"),
        # another bound (the hash leaves it out): the same champion, its forecast made again
        (
            {"history_fingerprint": "old", "settings": json.dumps({"max_forecast_multiple": 5})},
            "refit",
            "forecast_settings_changed",
        ),
        (
            {
                "history_fingerprint": "old",
                "prev_champion": None,
                "settings": json.dumps({"max_forecast_multiple": 5}),
            },
            "refit",
            "forecast_settings_changed",
        ),
        # another reconciliation: the published forecast was reconciled the old way
        (
            {"history_fingerprint": "old", "settings": json.dumps({"reconciliation": "auto"})},
            "refit",
            "forecast_settings_changed",
        ),
        # intervals from zero switched off (or on): the same champions, new intervals
        (
            {"history_fingerprint": "old", "settings": json.dumps({"intervals_from_zero": False})},
            "refit",
            "forecast_settings_changed",
        ),
        ({"settings": json.dumps({"max_forecast_multiple": 5})}, "refit", "new_data"),
        # a reconciled forecast is not the model's: made again, not reconciled once more
        (
            {
                "history_fingerprint": "old",
                "settings": json.dumps({"reconciliation": "auto"}),
                "prev_settings": json.dumps({"reconciliation": "auto"}),
            },
            "refit",
            "reconciled_forecast",
        ),
        ({"prev_selected_origin": pd.Timestamp("2025-07-07")}, "reselect", "origin_moved_back"),
        (
            {"prev_override_action": "pin", "prev_override_model": "Naive"},
            "reselect",
            "override_ended",
        ),
        (
            {"barred_models": "AutoETS", "prev_champion": "MeanTopK[AutoETS|Naive|SES]"},
            "reselect",
            "override_bar",
        ),
        ({"barred_models": "Naive"}, "refit", "new_data"),
        ({"prev_champion": None}, "reselect", "no_champion"),
        ({"prev_champion": None, "history_fingerprint": "old"}, "reuse", "no_new_data"),
        # a cold start: refit by the cold-start method while new and too short to backtest
        ({"prev_champion": None, "eligible": False, "lifecycle": "new"}, "refit", "cold_start"),
        (
            {
                "prev_champion": None,
                "eligible": False,
                "lifecycle": "new",
                "history_fingerprint": "old",
            },
            "reuse",
            "no_new_data",
        ),
        ({"prev_champion": None, "has_memory": False}, "reselect", "backtestable"),
        (
            {"prev_champion": None, "eligible": False, "lifecycle": "active"},
            "reselect",
            "no_champion",
        ),
        ({"prev_n_windows": 0}, "reselect", "backtestable"),
        ({"prev_n_windows": 0, "eligible": False}, "refit", "new_data"),
        ({"demand_class": "erratic"}, "reselect", "demand_class_changed"),
        ({"n_new_periods": 20}, "reselect", "max_age"),
        ({"n_new_periods": 19}, "refit", "new_data"),
        ({"n_new_periods": 20, "history_fingerprint": "old"}, "reuse", "no_new_data"),
        ({"live_mase": 1.3, "n_live_periods": 6}, "reselect", "accuracy_decayed"),
        ({"live_mase": 1.3, "n_live_periods": 5}, "refit", "new_data"),
        ({"live_mase": 1.1, "n_live_periods": 6}, "refit", "new_data"),
        ({"n_new_periods": 6, "level_shift_z": 4.5}, "reselect", "level_shift"),
        ({"n_new_periods": 5, "level_shift_z": 9.0}, "refit", "new_data"),
        ({"n_new_periods": 6, "variance_ratio": 5.0}, "reselect", "variance_shift"),
        ({"pin_model": "Naive", "pin_reason": "why"}, "refit", "override_pin"),
        ({"pin_model": "ComboMean", "history_fingerprint": "old"}, "reuse", "override_pin"),
        ({"pin_model": "Naive", "history_fingerprint": "old"}, "refit", "override_pin"),
        ({"pin_model": "Naive", "settings_hash": "s2"}, "refit", "override_pin"),
    ],
)
def test_each_rule_decides_and_names_its_reason(changes, decision, reason):
    assert _decide(**changes)[:2] == (decision, reason)


def test_the_details_carry_the_numbers_and_the_var():
    assert "selection_margin" not in _decide(settings_hash="s2")[2]
    detail = _decide(settings_hash="s2", settings=json.dumps({"horizon": 26}))[2]
    assert "horizon 13 -> 26" in detail
    detail = _decide(live_mase=1.6, n_live_periods=8)[2]
    assert "1.60" in detail and "2.0 x" in detail and "retrain_decay_ratio 1.5" in detail
    assert "limit is 20 (retrain_max_age 26)" in _decide(n_new_periods=21)[2]


def test_retrain_always_reselects_everything_but_a_pin():
    always = RetrainPolicy(retrain="always")
    assert _decide(always, history_fingerprint="old")[:2] == ("reselect", "retrain_always")
    assert _decide(always, pin_model="Naive")[:2] == ("refit", "override_pin")


def test_only_series_that_can_be_backtested_are_and_a_missing_backtest_is_redone():
    rows = pd.DataFrame(
        [
            _state(series_id="a", prev_run_id=None, prev_champion=None),
            _state(series_id="b", prev_run_id=None, prev_champion=None, eligible=False),
            _state(series_id="c"),
            _state(series_id="d", has_memory=False),
            _state(series_id="e", pin_model="Naive", has_memory=False),
        ]
    )
    out = retrain.decide(rows, RetrainPolicy()).set_index("series_id")
    assert out["is_backtested"].to_dict() == {
        "a": True,
        "b": False,
        "c": False,
        "d": True,
        "e": True,
    }
    assert out.loc["d", "decision"] == "refit" and out.loc["e", "champion"] == "Naive"


def test_a_cold_start_refit_fits_no_champion_and_runs_no_backtest():
    state = _state(prev_champion=None, eligible=False, lifecycle="new", history_periods=5)
    row = retrain.decide(pd.DataFrame([state]), RetrainPolicy()).iloc[0]
    assert (row["decision"], row["reason"], row["champion"]) == ("refit", "cold_start", None)
    assert not row["is_backtested"] and "5 periods" in row["detail"]
    assert "cold_start" in retrain.REASONS


def _memory(path: Path, runs: int) -> None:
    """A warehouse's memory after `runs` published weekly runs r1..rN of three series:
    a reselected in r1 and reused since; b reselected in r1, backtested again in r3 and
    refit every run; c live in r1 only. Every run's forecast of its series is on record."""
    with duckdb.connect(str(path)) as con:
        con.execute("""create table demandcast_runs (run_id varchar, target_name varchar,
            started_at timestamp, finished_at timestamp, status varchar, message varchar)""")
        con.execute("""create table fct_model_registry (run_id varchar, series_id varchar,
            champion varchar, decision varchar, registered_at timestamptz)""")
        con.execute("""create table fct_forecast_history (run_id varchar, series_id varchar,
            step int, frequency varchar, forecast_run_id varchar)""")
        con.execute("create table demandcast_calibration_memory (run_id varchar, step int)")
        con.execute("""create table demandcast_backtest_memory (run_id varchar,
            settings_hash varchar, backtested_at timestamptz, series_id varchar,
            model_name varchar)""")
        for k in range(1, runs + 1):
            run, at = f"r{k}", f"2025-01-{k:02d} 06:00"
            con.execute(
                f"insert into demandcast_runs values ('{run}', 'ci', '{at}', null, "
                "'published', null)"
            )
            con.execute(f"insert into demandcast_calibration_memory values ('{run}', 1)")
            series = (
                {"a": "reuse", "b": "refit"}
                if k > 1
                else {"a": "reselect", "b": "reselect", "c": "reselect"}
            )
            for sid, decision in series.items():
                con.execute(
                    "insert into fct_model_registry values (?, ?, 'Naive', ?, ?)",
                    [run, sid, decision, at],
                )
                made = "r1" if sid == "a" else run
                con.execute(
                    "insert into fct_forecast_history values (?, ?, 1, 'week', ?)",
                    [run, sid, made],
                )
            for sid in ("a", "b", "c") if k == 1 else ("b",) if k == 3 else ():
                con.execute(f"""insert into demandcast_backtest_memory values
                    ('{run}', 's', '{at}', '{sid}', 'Naive'),
                    ('{run}', 's', '{at}', '{sid}', 'SES')""")


@pytest.fixture(scope="module")
def prune_target(tmp_path_factory) -> Path:
    """One dbt target folder for the prune tests: the second reuses the first's parse."""
    return tmp_path_factory.mktemp("prune_target")


def _prune(tmp_path: Path, target: Path) -> dict[str, int]:
    """The memory's post-hooks (macro prune_memory), through `dbt run-operation`, with 'now'
    as the current run and memory_keep_runs 2: the rows deleted per table, as the log
    says."""
    project = Project(raw=target, db=tmp_path / "memory.duckdb", target=target)
    result = project.dbt(
        "run-operation", "prune_memories", "--args", "{run: now}", vars="{memory_keep_runs: 2}"
    )
    assert result.returncode == 0, result.output[-3000:]
    said = re.findall(r"memory pruned .*?: (\d+) rows of (\w+) deleted", result.output)
    return {table: int(n) for n, table in said}


def _rows(path: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return sorted(con.execute(f"select distinct run_id, series_id from {table}").fetchall())


def test_the_memory_keeps_the_last_runs_and_what_each_series_still_needs(tmp_path, prune_target):
    db = tmp_path / "memory.duckdb"
    _memory(db, 5)
    assert len(_rows(db, "fct_model_registry")) == 11
    deleted = _prune(tmp_path, prune_target)  # this run and r5
    assert _rows(db, "fct_model_registry") == [
        ("r1", "a"),  # made the forecast a reuses: kept, whatever its age
        ("r1", "c"),  # c's latest state
        ("r5", "a"),
        ("r5", "b"),
    ]
    # each series' latest backtest, which a refit or reuse carries
    assert _rows(db, "demandcast_backtest_memory") == [("r1", "a"), ("r1", "c"), ("r3", "b")]
    assert deleted == {
        "fct_model_registry": 7,
        "demandcast_backtest_memory": 2,
        "demandcast_calibration_memory": 3,
    }
    with duckdb.connect(str(db), read_only=True) as con:
        # the calibration of every run still in the registry: r1's forecasts can be rebuilt
        runs = con.execute("select run_id from demandcast_calibration_memory order by 1")
        assert runs.fetchall() == [("r1",), ("r5",)]
        # the forecast history is not memory: every run's rows stay
        assert con.execute("select count(*) from fct_forecast_history").fetchall() == [(11,)]
        # the next decision reads the same state as before: a's forecast was made in r1
        state = wh.read_previous_state(wh.Memory.of_warehouse(con)).set_index("series_id")
    assert state["run_id"].to_dict() == {"a": "r5", "b": "r5", "c": "r1"}
    assert state["forecast_run_id"].to_dict() == {"a": "r1", "b": "r5", "c": "r1"}
    assert state["has_forecast"].all()
    assert _prune(tmp_path, prune_target) == {}  # idempotent


def test_the_registry_of_an_older_warehouse_is_pruned_once_its_history_is_backfilled(
    tmp_path, prune_target
):
    """fct_forecast_history without forecast_run_id: this build's post-hook fills it from
    the registry, so the registry keeps every row until the next build."""
    db = tmp_path / "memory.duckdb"
    _memory(db, 3)
    with duckdb.connect(str(db)) as con:
        con.execute("alter table fct_forecast_history drop column forecast_run_id")
    deleted = _prune(tmp_path, prune_target)  # this run and r3
    assert "fct_model_registry" not in deleted
    assert len(_rows(db, "fct_model_registry")) == 7
    assert _rows(db, "demandcast_backtest_memory") == [("r1", "a"), ("r1", "c"), ("r3", "b")]


def test_shift_stats_compare_the_new_periods_with_the_window_before_the_selection():
    periods = pd.date_range("2024-01-01", periods=40, freq="W-MON")
    level = np.r_[np.full(30, 10.0), np.full(10, 30.0)]
    noise = np.tile([-1.0, 1.0], 20)
    series = pd.DataFrame({"series_id": "s", "period_start": periods, "demand": level + noise})
    selected = pd.Series({"s": periods[29]})
    out = retrain.shift_stats(series, selected, window=26).iloc[0]
    assert out["n_new_periods"] == 10
    # mean 30 vs 10, reference variance floored at its mean (10): 20 / sqrt(10 (1/10 + 1/26))
    assert out["level_shift_z"] == pytest.approx(20 / np.sqrt(10 * (1 / 10 + 1 / 26)))
    assert out["variance_ratio"] == pytest.approx(np.var(noise[30:], ddof=1) / 10)
    # a shift a window before the selection is not held against the champion
    shifted = series.assign(demand=np.r_[np.full(5, 10.0), np.full(35, 30.0)] + noise)
    later = retrain.shift_stats(shifted, pd.Series({"s": periods[33]}), window=26).iloc[0]
    assert later["n_new_periods"] == 6 and later["level_shift_z"] < 1
    # demand that resumes after a window without any: a large, finite shift (the reference
    # variance at least 3 / 26, the rule of three), never infinity in the warehouse
    resumed = series.assign(demand=np.r_[np.zeros(30), np.full(10, 5.0)])
    back = retrain.shift_stats(resumed, selected, window=26).iloc[0]
    assert back["level_shift_z"] == pytest.approx(5 / np.sqrt(3 / 26 * (1 / 10 + 1 / 26)))
    assert np.isfinite(back["variance_ratio"]) and back["variance_ratio"] == 0.0


def test_the_fingerprint_is_the_history_and_nothing_else():
    values = np.array([1.0, 0.0, 2.5])
    fp = retrain.fingerprint("2024-01-01", values)
    assert fp == retrain.fingerprint(dt.date(2024, 1, 1), np.array([1.0, -0.0, 2.5 + 1e-9]))
    assert fp != retrain.fingerprint("2024-01-08", values)
    assert fp != retrain.fingerprint("2024-01-01", np.array([1.0, 0.0, 2.5, 0.0]))
    assert fp != retrain.fingerprint("2024-01-01", np.array([1.0, 0.0, 2.6]))


def test_age_limits_spread_between_half_and_all_of_the_max_age():
    limits = retrain.age_limits([f"P|{i}" for i in range(500)], 26)
    assert limits.min() >= 14 and limits.max() == 26 and len(set(limits)) == 13
    assert np.isnan(retrain.age_limits(["a"], None)).all()


def _live(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["series_id", "plant_id", "product_id", "product_group"])


def test_overrides_most_specific_pin_wins_bars_add_up_and_an_ended_row_is_ignored():
    live = _live(("P1|A", "P1", "A", "g"), ("P2|A", "P2", "A", "g"), ("P1|B", "P1", "B", "h"))
    seed = pd.DataFrame(
        [
            {"product_group": "g", "action": "pin", "model_name": "Naive", "reason": "group"},
            {
                "plant_id": "P1",
                "product_id": "A",
                "action": "pin",
                "model_name": "SESOptimized",
                "reason": "one",
            },
            {"action": "bar", "model_name": "AutoETS", "reason": "never", "set_by": "ds"},
            {"product_id": "B", "action": "bar", "model_name": "Theta", "reason": "b"},
            {
                "product_id": "B",
                "action": "pin",
                "model_name": "Naive",
                "reason": "old",
                "valid_until": dt.date(2025, 1, 1),
            },
        ]
    )
    out = retrain.resolve_overrides(seed, live, "2025-06-02", load_catalog(), Settings())
    out = out.set_index("series_id")
    assert out["pin_model"].to_dict() == {"P1|A": "SESOptimized", "P2|A": "Naive", "P1|B": None}
    assert out.loc["P1|B", "barred_models"] == "AutoETS|Theta"
    assert out.loc["P2|A", "bar_reason"] == "AutoETS: never (set by ds)"


@pytest.mark.parametrize(
    "row, words",
    [
        ({"action": "pin", "model_name": "NoSuchModel", "reason": "x"}, "names no candidate"),
        ({"action": "keep", "model_name": "Naive", "reason": "x"}, "not pin or bar"),
        ({"action": "pin", "model_name": "Naive", "reason": ""}, "needs a reason"),
        ({"action": "pin", "model_name": "MeanTopK", "reason": "x"}, "with its members"),
    ],
)
def test_a_bad_override_row_is_named(row, words):
    live = _live(("P1|A", "P1", "A", "g"))
    with pytest.raises(ValueError, match=words) as error:
        retrain.resolve_overrides(
            pd.DataFrame([row]), live, "2025-06-02", load_catalog(), Settings()
        )
    assert "forecast_overrides.csv row 2" in str(error.value)


def test_two_pins_of_a_series_at_one_level_stop_the_run():
    live = _live(("P1|A", "P1", "A", "g"))
    seed = pd.DataFrame(
        [
            {"product_id": "A", "action": "pin", "model_name": "Naive", "reason": "x"},
            {"product_id": "A", "action": "pin", "model_name": "SESOptimized", "reason": "y"},
        ]
    )
    with pytest.raises(ValueError, match="pinned twice"):
        retrain.resolve_overrides(seed, live, "2025-06-02", load_catalog(), Settings())


def test_the_retrain_vars_are_checked_with_the_others():
    assert check_vars({"retrain": "always", "retrain_max_age": None}) == []
    errors = check_vars({"retrain": "sometimes", "retrain_decay_ratio": 0, "retrain_max_age": 0})
    assert len(errors) == 3, errors
    assert "var 'retrain': invalid value 'sometimes', expected one of auto, always" in errors
    assert RetrainPolicy.from_mapping({"retrain_max_age": None}).retrain_max_age is None


def test_settings_that_change_no_number_leave_the_hash_alone():
    catalog = load_catalog()
    base = retrain.settings_identity(Settings(), catalog)
    assert retrain.settings_identity(Settings(n_jobs=1), catalog) == base
    assert retrain.settings_identity(Settings(horizon=26), catalog).settings_hash != (
        base.settings_hash
    )
    fast = retrain.settings_identity(Settings(candidates="fast"), catalog)
    assert fast.catalog_hash != base.catalog_hash
    # a candidate reworded for planners is the same model: nothing to select again
    reworded = dataclasses.replace(
        catalog,
        candidates={
            name: dataclasses.replace(c, description=c.description + " (reworded)")
            for name, c in catalog.candidates.items()
        },
    )
    assert retrain.settings_identity(Settings(), reworded) == base
    kwargs = dict(catalog.candidates["Theta"].kwargs or {}) | {"decomposition_type": "additive"}
    other = dataclasses.replace(
        catalog,
        candidates=catalog.candidates
        | {"Theta": dataclasses.replace(catalog.candidates["Theta"], kwargs=kwargs)},
    )
    assert retrain.settings_identity(Settings(), other).catalog_hash != base.catalog_hash


def test_live_accuracy_is_the_champions_not_a_planners_override():
    # two forecasts of the champion since its selection, both 100 where 100 arrived; a
    # planner overrode the second to 300: the champion's live error is still 0
    con = duckdb.connect()
    con.execute(
        """create table fct_forecast_history as select * from (values
        ('s', 'AutoETS', 'champion', date '2026-01-05', date '2026-01-12', 100.0, 100.0),
        ('s', 'AutoETS', 'champion', date '2026-01-05', date '2026-01-19', 300.0, 100.0))
        as t(series_id, model_name, method, forecast_origin, period_start, forecast,
             statistical_forecast)"""
    )
    memory = wh.Memory(con, {"fct_forecast_history": "main.fct_forecast_history"})
    champions = pd.DataFrame(
        {"series_id": ["s"], "champion": ["AutoETS"], "selected_origin": [dt.date(2026, 1, 5)]}
    )
    history = pd.DataFrame(
        {
            "series_id": ["s", "s"],
            "period_start": [dt.date(2026, 1, 12), dt.date(2026, 1, 19)],
            "demand": [100.0, 100.0],
        }
    )
    live = wh.read_live_errors(memory, history, champions)
    assert live[["n_live_periods", "live_mae"]].values.tolist() == [[2, 0.0]]


def test_a_hash_that_changed_with_no_recorded_setting_says_so():
    # an upgrade that hashes other settings: every value recorded is the same
    decision, reason, detail = _decide(settings_hash="s2")
    assert (decision, reason) == ("reselect", "settings_changed")
    assert "the settings hash, no recorded setting" in detail


def test_settings_that_change_no_selection_are_recorded_but_not_hashed():
    # the bound and the levels' reconciliation change no backtest and no champion: a
    # change of them must not select every series again, and the registry still says them
    catalog = load_catalog()
    base = retrain.settings_identity(Settings(), catalog)
    other = retrain.settings_identity(
        Settings(max_forecast_multiple=4, reconciliation="auto"), catalog
    )
    assert other.settings_hash == base.settings_hash
    assert json.loads(other.settings)["max_forecast_multiple"] == 4.0
    assert json.loads(other.settings)["reconciliation"] == "auto"
    margin = retrain.settings_identity(Settings(selection_margin=0.5), catalog)
    assert margin.settings_hash != base.settings_hash


# ------------------------------------------------------------------ real builds


@dataclass
class Runs:
    first: Project  # A: the history up to a week before the end
    again: Project  # B: the same extract again
    week: Project  # C: the extract with its last week
    override: Project  # E: pin, bar, and a setting changed
    bound: Project  # F: A's extract again, under another max_forecast_multiple
    auto: Project  # G: A's extract again, twice, with reconciliation auto
    outputs: dict[str, str]
    pinned: tuple[str, str]  # series, model
    barred: tuple[str, str]  # series, its champion in A


def _project_with_overrides(work: Path, rows: list[str]) -> Path:
    """A copy of the dbt project whose seeds/forecast_overrides.csv holds `rows`."""
    out = work / "project"
    out.mkdir()
    for name in ("dbt_project.yml", "selectors.yml"):
        shutil.copy(ROOT / name, out / name)
    for folder in ("models", "python_models", "macros", "seeds", "tests/data"):
        shutil.copytree(ROOT / folder, out / folder)
    header = (ROOT / "seeds" / "forecast_overrides.csv").read_text().splitlines()[0]
    (out / "seeds" / "forecast_overrides.csv").write_text("\n".join([header, *rows]) + "\n")
    return out


def _build(project: Project, vars: str = RETRAIN_VARS) -> str:
    result = project.dbt("build", vars=vars)
    assert result.returncode == 0, result.output[-4000:]
    return result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    from demandcast.demo import last_sunday, write_demo

    work = tmp_path_factory.mktemp("retrain")
    full = work / "full"
    write_demo(full, n_plants=2, n_products=12, years=3, seed=3)
    last_monday = last_sunday() - dt.timedelta(days=6)
    early = raw_with_orders(
        full, work / "early", f"select * from orders where order_date < date '{last_monday}'"
    )
    (work / "a").mkdir()
    first = Project(raw=early, db=work / "a" / "wh.duckdb", target=work / "a" / "target")
    outputs = {"first": _build(first)}

    again = first.copy_to(work / "b", raw=early)
    outputs["again"] = _build(again)
    week = first.copy_to(work / "c", raw=full)
    outputs["week"] = _build(week)

    champions = first.query(
        "select series_id, champion from fct_model_registry where n_windows > 0 order by 1"
    )
    pinned_series, champion = champions[0]
    pin = "SeasonalNaive" if champion != "SeasonalNaive" else "Naive"
    barred_series, barred_champion = champions[1]
    plant, product = pinned_series.split("|")
    b_plant, b_product = barred_series.split("|")
    project_dir = _project_with_overrides(
        work,
        [
            f"{plant},{product},,pin,{pin},promotion calendar known to planning,anna,",
            f"{b_plant},{b_product},,bar,{barred_champion},overshoots this product,bob,2099-12-31",
        ],
    )
    override = first.copy_to(work / "e", raw=early)
    override.project_dir = project_dir
    outputs["override"] = _build(override, vars=RETRAIN_VARS[:-1] + ", selection_margin: 0.5}")
    bound = first.copy_to(work / "f", raw=early)
    outputs["bound"] = _build(bound, vars=RETRAIN_VARS[:-1] + ", max_forecast_multiple: 9}")
    auto = first.copy_to(work / "g", raw=early)
    for run in ("auto", "auto_again"):
        outputs[run] = _build(auto, vars=RETRAIN_VARS[:-1] + ", reconciliation: auto}")
    return Runs(
        first,
        again,
        week,
        override,
        bound,
        auto,
        outputs,
        (pinned_series, pin),
        (barred_series, barred_champion),
    )


def _decisions(project: Project) -> pd.DataFrame:
    with duckdb.connect(str(project.published), read_only=True) as con:
        return con.execute(
            "select * from fct_retrain_decisions"
            " where run_id = (select run_id from publication) order by series_id"
        ).df()


def test_the_first_build_selects_every_series(runs):
    first = _decisions(runs.first)
    assert set(first["decision"]) == {"reselect"} and set(first["reason"]) == {"new_series"}
    assert first["n_fits"].sum() > 0
    assert (first.loc[first["is_backtested"], "n_backtest_fits"] > 0).all()


def test_a_build_with_no_new_data_reuses_every_forecast_and_fits_nothing(runs):
    again = _decisions(runs.again)
    assert set(again["decision"]) == {"reuse"} and set(again["reason"]) == {"no_new_data"}
    assert again["n_fits"].sum() == 0 and not again["is_backtested"].any()
    out = runs.outputs["again"]
    assert "backtest: 0 series backtested (0 fits)" in out
    assert "models to refit" not in out  # the forecast's engine was not called
    assert f"forecast: {len(again)} series reuse their last forecast" in out
    columns = "series_id, step, period_start, forecast, lo_80, hi_80, lo_95, hi_95, model_name"
    before = runs.first.query(
        f"select {columns} from fct_demand_forecast order by 1, 2", runs.first.published
    )
    after = runs.again.query(
        f"select {columns} from fct_demand_forecast order by 1, 2", runs.again.published
    )
    assert after == before
    # the carried backtest and the calibration pooled again from the memory are the same
    for table in ("int_forecast__calibration",):
        assert runs.again.checksum(table) == runs.first.checksum(table)
    metrics = "select series_id, model_name, mase, status from fct_backtest_metrics"
    assert runs.again.query(metrics) == runs.first.query(metrics)
    # the registry remembers the fit from the first run
    (trained,) = runs.again.query(
        "select count(*) from fct_model_registry as r join fct_model_registry as f"
        " using (series_id) where r.decision = 'reuse' and f.decision = 'reselect'"
        " and r.trained_at = f.trained_at and r.history_fingerprint = f.history_fingerprint"
    )[0]
    assert trained == len(again)
    # the reused forecast is appended again under B's run, but says it was made by A, when
    # A ran: accuracy scores it once, under A
    (first_run,) = runs.first.query("select run_id from publication", runs.first.published)[0]
    made = runs.again.query(
        "select h.run_id = c.run_id, h.forecast_run_id, h.forecast_created_at, count(*)"
        " from fct_forecast_history as h cross join int_run__context as c group by all"
        " order by 1"
    )
    (created,) = runs.first.query("select distinct forecast_created_at from fct_forecast_history")[
        0
    ]
    assert [m[:3] for m in made] == [(False, first_run, created), (True, first_run, created)]
    assert made[0][3] == made[1][3]
    assert runs.again.query(
        "select distinct forecast_run_id, forecast_created_at from fct_demand_forecast",
        runs.again.published,
    ) == [(first_run, created)]


def test_a_new_week_refits_the_kept_champions_and_backtests_only_what_is_reselected(runs):
    first = _decisions(runs.first).set_index("series_id")
    week = _decisions(runs.week).set_index("series_id")
    assert "reuse" not in set(week["decision"])
    refit = week[(week["decision"] == "refit") & (week["reason"] != "cold_start")]
    assert len(refit) >= len(week) // 2 and set(refit["reason"]) == {"new_data"}
    assert (refit["champion"] == first.loc[refit.index, "champion"]).all()
    assert (refit.loc[refit["method"] == "champion", "n_refits"] > 0).all()
    # A's cold starts, still new and too short to backtest, get the cold-start method
    # again, as a refit: nothing is selected for them, so no re-selection is shown
    cold = week[week["reason"] == "cold_start"]
    assert len(cold) > 0 and set(cold.index) == set(first.index[first["champion"].isna()])
    assert set(cold["decision"]) == {"refit"} and set(cold["method"]) == {"cold_start"}
    assert cold["champion"].isna().all() and not cold["is_backtested"].any()
    assert (refit["n_backtest_fits"] == 0).all()
    assert (week.loc[week["is_backtested"], "decision"] == "reselect").all()
    (origins,) = runs.week.query(
        "select count(distinct forecast_origin) from fct_model_registry", runs.week.published
    )[0]
    assert origins == 2
    # A's forecast is scored on the week that arrived, once per series, under A; C's own
    # forecast (made by C, now) has no actuals yet
    (first_run,) = runs.first.query("select run_id from publication", runs.first.published)[0]
    ((run, n, n_once, n_series, steps),) = runs.week.query(
        "select run_id, count(*), count(distinct (series_id, period_start)),"
        " count(distinct series_id), max(step) from mon_forecast_accuracy group by 1"
    )
    assert (run, n, n_series) == (first_run, n_once, len(first)) and n == steps * n_series
    (mine, rows) = runs.week.query(
        "select count(*) filter (where f.forecast_run_id = p.run_id"
        " and f.forecast_created_at = p.started_at), count(*)"
        " from fct_demand_forecast as f cross join publication as p",
        runs.week.published,
    )[0]
    assert mine == rows > 0


def test_another_forecast_bound_refits_every_forecast_and_selects_nothing_again(runs):
    # the bound changes no backtest and no champion: the champions and the backtests on
    # record are kept; the forecasts are made again, not reused from under the old bound
    bound = _decisions(runs.bound)
    assert set(bound["decision"]) == {"refit"}
    assert set(bound["reason"]) == {"forecast_settings_changed"}
    assert bound["detail"].str.contains("max_forecast_multiple 10.0 -> 9.0").all()
    assert not bound["is_backtested"].any() and bound["n_fits"].sum() > 0
    assert "backtest: 0 series backtested (0 fits)" in runs.outputs["bound"]
    query = "select series_id, champion from fct_model_registry where run_id = ? order by 1"
    (first_run,) = runs.first.query("select run_id from publication", runs.first.published)[0]
    (bound_run,) = runs.bound.query("select run_id from publication", runs.bound.published)[0]
    before = runs.bound.query(query.replace("?", f"'{first_run}'"))
    after = runs.bound.query(query.replace("?", f"'{bound_run}'"))
    assert after == before and len(after) > 0


def test_a_rerun_reconciles_the_models_forecasts_not_the_last_reconciled_ones(runs):
    # with reconciliation auto the published base is moved by reconciliation: a rerun on
    # the same data that reused it as the model's forecast reconciled it once more, and
    # the published forecast drifted run after run
    assert set(_decisions(runs.auto)["reason"]) == {"reconciled_forecast"}
    assert "reconciliation:" in runs.outputs["auto_again"]
    runs_auto = runs.auto.query(
        "select run_id from fct_forecast_runs order by started_at desc limit 2"
    )
    (last,), (before,) = runs_auto
    sums = runs.auto.query(
        "select run_id, sum(statistical_forecast), sum(lo_80) from fct_forecast_history"
        f" where run_id in ('{last}', '{before}') and method = 'champion' group by 1 order by 1"
    )
    assert len(sums) == 2 and sums[0][1:] == pytest.approx(sums[1][1:], rel=1e-9), sums


def test_a_setting_change_reselects_and_a_pin_holds_and_shows(runs):
    dec = _decisions(runs.override).set_index("series_id")
    series, model = runs.pinned
    pinned = dec.loc[series]
    assert (pinned["decision"], pinned["reason"], pinned["champion"]) == (
        "refit",
        "override_pin",
        model,
    )
    assert pinned["override_action"] == "pin"
    assert "promotion calendar known to planning (set by anna)" in pinned["override_reason"]
    others = dec.drop(index=[series])
    assert set(others["decision"]) == {"reselect"} and set(others["reason"]) == {"settings_changed"}
    assert others["detail"].str.contains("selection_margin 0.9 -> 0.5").all()
    (forecast_model,) = runs.override.query(
        f"select distinct model_name from fct_demand_forecast where series_id = '{series}'",
        runs.override.published,
    )[0]
    assert forecast_model == model
    reg = runs.override.query(
        "select champion, decision_reason, override_reason, reason from fct_model_registry"
        f" where series_id = '{series}' and run_id = (select run_id from int_run__context)"
    )[0]
    assert reg[:2] == (model, "override_pin") and "promotion calendar" in reg[2] + reg[3]

    barred_series, barred_model = runs.barred
    barred = dec.loc[barred_series]
    assert barred["champion"] != barred_model and barred["override_action"] == "bar"
    (reason,) = runs.override.query(
        f"select reason from fct_model_registry where series_id = '{barred_series}'"
        " and run_id = (select run_id from int_run__context)"
    )[0]
    assert "override bars" in reason and "overshoots this product" in reason


def test_a_past_forecast_is_rebuilt_from_the_registry_and_the_history(runs):
    with duckdb.connect(str(runs.week.db), read_only=True) as con:
        run_ids = [
            r
            for (r,) in con.execute(
                "select run_id from fct_model_registry group by 1 order by min(registered_at)"
            ).fetchall()
        ]
        assert len(run_ids) == 2  # the first build's, a week back, and the refit's
        for run_id in run_ids:
            assert len(assert_rebuilds_recorded(con, run_id, 5)) == 5 * 13


def test_a_run_from_before_intervals_from_zero_is_rebuilt_with_central_intervals(runs, tmp_path):
    """A run recorded before the var (no intervals_from_zero in its settings, its
    calibration's top_ columns null, as the memory appends new columns) published central
    intervals: rebuilt so, where this run's intervals start at 0 the rebuilt upper bound
    is the (1 + L)/2 quantile, above the L quantile the run published."""
    from demandcast import pipeline

    db = tmp_path / "old.duckdb"
    shutil.copy(runs.week.db, db)
    with duckdb.connect(str(db)) as con:
        (run_id,) = con.execute("select run_id from int_run__context").fetchone()
        recorded = con.execute(
            "select h.series_id, h.step, h.lo_80, h.hi_80 from fct_forecast_history h"
            " join fct_model_registry r using (run_id, series_id) where h.run_id = ?"
            " and r.interval_scale is not null order by 1, 2",
            [run_id],
        ).df()
        from_zero = recorded[recorded["lo_80"] == 0]
        ids = sorted(from_zero["series_id"].unique())
        assert ids, "the demo run has no interval that starts at 0"
        settings = con.execute(
            "select settings from fct_model_registry where run_id = ? limit 1", [run_id]
        ).fetchone()[0]
        old = {k: v for k, v in json.loads(settings).items() if k != "intervals_from_zero"}
        con.execute(
            "update fct_model_registry set settings = ? where run_id = ?",
            [json.dumps(old), run_id],
        )
        con.execute(
            "update demandcast_calibration_memory set top_80 = null, top_95 = null"
            " where run_id = ?",
            [run_id],
        )
        rebuilt = pipeline.rebuild_forecast(con, run_id, ids)
    was = from_zero[from_zero["series_id"].isin(ids)]
    both = was.astype({"series_id": str, "step": int}).merge(
        rebuilt.astype({"series_id": str, "step": int}), on=["series_id", "step"]
    )
    assert len(both) == len(was) > 0
    assert (both["hi_80_y"] >= both["hi_80_x"] - 1e-9).all()
    assert (both["hi_80_y"] > both["hi_80_x"] + 1e-9).any()
    # and no lower bound taken to 0 by the series' own zeros: the pooled residuals' alone
    assert (both["lo_80_y"] > 0).any()


def test_the_registry_records_what_each_model_was_fitted_on(runs):
    rows = runs.week.query(
        "select count(*), count(settings_hash), count(history_fingerprint),"
        " count(statsforecast_version), count(trained_at), count(decision_reason),"
        " count(distinct statsforecast_version) from fct_model_registry",
        runs.week.published,
    )[0]
    assert rows[0] > 0 and rows[1:6] == (rows[0],) * 5 and rows[6] == 1


def _all_rows(project: Project, table: str, db: Path) -> Counter:
    """A table's rows, as a multiset (each row's repr, so NaN equals NaN)."""
    return Counter(map(repr, project.query(f"select * from {table}", db)))


def test_a_full_refresh_keeps_every_row_of_the_history_and_the_memory(runs, tmp_path):
    """`dbt build --full-refresh` on a warehouse of two published runs (C: a week back and
    today): every row of the tables that accumulate runs, in the published copy and the
    warehouse's memory, is still there after, beside the new run's."""
    project = runs.week.copy_to(tmp_path / "refresh")
    tables = {
        "fct_forecast_history": project.published,
        "fct_model_registry": project.published,
        "fct_retrain_decisions": project.published,
        "mon_forecast_accuracy": project.published,
        "demandcast_backtest_memory": project.db,
        "demandcast_calibration_memory": project.db,
    }
    before = {table: _all_rows(project, table, db) for table, db in tables.items()}
    assert all(before.values()), {t: len(rows) for t, rows in before.items()}
    runs_before = project.query("select count(distinct run_id) from fct_forecast_history")
    assert runs_before == [(2,)]
    result = project.dbt("build", "--full-refresh", vars=RETRAIN_VARS)
    assert result.returncode == 0, result.output[-4000:]
    for table, db in tables.items():
        lost = before[table] - _all_rows(project, table, db)
        assert not lost, (table, sum(lost.values()), len(before[table]), next(iter(lost)))
    (new_run,) = project.query("select run_id from publication", project.published)[0]
    for table in ("fct_forecast_history", "fct_model_registry", "fct_retrain_decisions"):
        runs_after = project.query(
            f"select count(distinct run_id), count(*) filter (where run_id = '{new_run}')"
            f" from {table}",
            project.published,
        )
        assert runs_after[0][0] == 3 and runs_after[0][1] > 0, (table, runs_after)
