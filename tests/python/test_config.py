"""The vars: one home for their names and defaults (dbt_project.yml), and one message per
wrong var."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import yaml
from conftest import ROOT

from demandcast import config
from demandcast.config import (
    PROJECT_VARS,
    VAR_NAMES,
    RetrainPolicy,
    Settings,
    check_vars,
    default_step,
)
from demandcast.dbt_plugin import check_vars_json, setting_json, var_names_json


def _project_defaults() -> dict:
    return yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"]


def test_the_vars_have_one_home_dbt_project_yml_and_every_one_a_parser():
    """Names and defaults are dbt_project.yml's: config reads them (PROJECT_VARS), the
    plugin hands the names to the macro project_vars(), which lists none of its own; every
    var has a parser, and no parser is left for a var the project no longer has."""
    assert PROJECT_VARS == _project_defaults()
    assert list(VAR_NAMES) == list(_project_defaults())
    assert json.loads(var_names_json()) == list(_project_defaults())
    parsers = {**config._PARSERS, **config._RETRAIN_PARSERS, **config._OTHER_VARS}
    assert sorted(parsers) == sorted(VAR_NAMES)
    macro = (ROOT / "macros" / "run_control.sql").read_text()
    body = re.search(r"macro project_vars\(\).*?endmacro", macro, re.S).group(0)
    assert "demandcast_var_names()" in body and "'horizon'" not in body


def test_the_shipped_defaults_pass():
    assert check_vars(_project_defaults()) == []


def test_every_wrong_var_gets_its_own_message_naming_value_and_what_is_allowed():
    errors = check_vars(
        {
            "horizon": 0,
            "max_duplicate_share": "abc",
            "gate_modes": {"orderz": "fail"},
            "frequency": "fortnight",
            "levels": [80, 120],
            "outlier_action": "drop",
            "forecast_origin": "2025-13-01",
        }
    )
    assert len(errors) == 7, errors
    for name in ("horizon", "max_duplicate_share", "gate_modes", "frequency", "levels"):
        assert any(e.startswith(f"var '{name}'") for e in errors), (name, errors)
    assert "var 'outlier_action': invalid value 'drop', expected one of fail, cap" in errors
    assert any("'2025-13-01'" in e and "2025-12-01" in e for e in errors)


def test_a_var_name_the_project_does_not_know_is_named_with_the_closest_one():
    errors = check_vars({"horizon": 26}, ["horizn", "Horizon", "outlier_actoin", "colour"])
    assert errors == [
        "unknown var 'horizn': did you mean 'horizon'?",
        "unknown var 'Horizon': did you mean 'horizon'?",
        "unknown var 'outlier_actoin': did you mean 'outlier_action'?",
        "unknown var 'colour': not a var of demandcast (dbt_project.yml lists them under vars:)",
    ]
    assert check_vars(_project_defaults(), list(_project_defaults())) == []
    assert check_vars_json(json.dumps({}), json.dumps(["horizn"])) == (
        "unknown var 'horizn': did you mean 'horizon'?"
    )


def test_discontinued_after_periods_is_off_by_default_and_at_least_two_seasons():
    assert _project_defaults()["discontinued_after_periods"] is None
    assert check_vars({"discontinued_after_periods": None}) == []
    assert check_vars({"discontinued_after_periods": 104}) == []  # 2 x 52 weeks
    assert check_vars({"discontinued_after_periods": 24, "season_length": 12}) == []
    (error,) = check_vars({"discontinued_after_periods": 52})
    assert error.startswith("var 'discontinued_after_periods': invalid value 52"), error
    assert ">= 104" in error and "season_length 52" in error
    (error,) = check_vars({"discontinued_after_periods": "23", "season_length": "12"})
    assert error.startswith("var 'discontinued_after_periods'") and ">= 24" in error, error
    (error,) = check_vars({"discontinued_after_periods": 0})
    assert "expected an integer >= 1" in error, error


def test_null_means_the_default_and_a_set_or_list_of_candidates_is_checked():
    assert check_vars({"horizon": None, "candidates": "fast"}) == []
    (error,) = check_vars({"candidates": ["AutoETS", "NoSuchModel"]})
    assert "NoSuchModel" in error and "unknown candidate" in error


def test_each_engine_setting_takes_its_default_from_dbt_project_yml():
    """The dataclasses' defaults are dbt_project.yml's values; the three derived from other
    vars are null there and computed by Settings."""
    defaults = _project_defaults()
    engine, policy = Settings(), RetrainPolicy()
    for f in fields(Settings):
        if f.name in ("step_size", "min_train_length", "season_length"):
            assert defaults[f.name] is None, f"{f.name}: derived from other vars"
        else:
            assert f.default == (
                tuple(defaults[f.name]) if f.name == "levels" else defaults[f.name]
            ), f.name
    for f in fields(RetrainPolicy):
        assert getattr(policy, f.name) == defaults[f.name], f.name
    assert (engine.n_jobs, engine.min_train_length, engine.step_size) == (-1, 26, 20)


def test_the_build_reads_derived_defaults_from_the_engine():
    monthly = {**_project_defaults(), "horizon": 18, "season_length": 12}
    assert setting_json(json.dumps(monthly), "min_train_length") == "18"
    assert setting_json(json.dumps(_project_defaults()), "min_train_length") == "26"
    assert setting_json(json.dumps({"n_jobs": 2}), "n_jobs") == "2"
    assert setting_json(json.dumps({}), "n_jobs") == "-1"
    # season_length null follows the frequency (the macro season_length alike)
    for frequency, season in (("week", "52"), ("month", "12"), ("day", "7")):
        given = {**_project_defaults(), "frequency": frequency}
        assert setting_json(json.dumps(given), "season_length") == season
    assert (
        setting_json(json.dumps({"frequency": "month", "season_length": 1}), "season_length") == "1"
    )


def test_every_var_is_documented_and_the_readme_counts_them():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", doc, flags=re.MULTILINE))
    assert set(PROJECT_VARS) <= rows, sorted(set(PROJECT_VARS) - rows)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"All {len(PROJECT_VARS)} vars, grouped" in readme


def test_the_default_step_spans_a_season_where_the_horizon_does_not():
    # a third of the horizon where the windows already span a season (monthly, daily)
    assert [default_step(h, m, 3) for h, m in ((18, 12), (24, 12), (14, 7))] == [6, 8, 5]
    # otherwise far enough apart that they do: 13 weeks at 52 over the last 53 weeks
    assert default_step(13, 52, 3) == 20 and default_step(6, 12, 3) == 3
    for h, m, n in ((13, 52, 3), (8, 52, 3), (13, 52, 4), (4, 52, 2), (6, 12, 5)):
        step = default_step(h, m, n)
        assert (n - 1) * step + h >= m and (n - 1) * (step - 1) + h < m, (h, m, n)
    assert default_step(13, 52, 1) == 5  # one window: no span to reach
