"""scripts/bench_automl.py: its plain StatsForecast reference does the work demandcast does."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import load_script

GLOBAL = ",".join(
    ["Naive", "SeasonalNaive", "WindowAverage13", "CrostonSBA", "GlobalAR", "AutoETS", "AutoCES"]
    + ["DynamicOptimizedTheta", "GlobalGBM", "ComboGlobal", "ComboGBM"]
)


@pytest.mark.parametrize(("candidates", "windows"), [("fast", 2), (GLOBAL, None)])
def test_the_plain_reference_fits_what_demandcast_fits_and_picks_the_same_champions(
    tmp_path, candidates, windows
):
    """A benchmark's reference must do the same work: on a small panel of every demand class
    the same number of fits in the backtest and the forecast, and the same champion on every
    series (the level classes chosen by RMSSE, as demandcast chooses them); with the global
    models (GlobalAR, GlobalGBM: learned across series) and their combinations too; with
    `--n-windows` both run that many windows, the step following them as the product's does."""
    bench = load_script("bench_automl")
    out = tmp_path / "bench.json"
    argv = ["--series", "48", "--years", "3", "--source", "synthetic", "--candidates", candidates]
    argv += ["--n-windows", str(windows)] if windows else []
    try:
        assert bench.main([*argv, "--n-jobs", "1", "--json", str(out)]) == 0
    finally:
        sys.modules.pop("bench_build", None)
    report = json.loads(out.read_text())
    assert report["classes"] == {"smooth": 12, "erratic": 12, "intermittent": 12, "lumpy": 12}
    fits = {r["stage"]: r.get("fits") for r in report["stages"]}
    plain = "plain StatsForecast, same work"
    assert fits["demandcast: backtest"] == fits[f"{plain}: backtest"] > 0
    assert fits["demandcast: forecast"] == fits[f"{plain}: forecast"] > 0
    assert report["same_champion_share"] == [1.0]
    # the project's 3 windows 20 weeks apart at h 13, season 52; 2 windows: 39 apart
    assert report["windows"] == {"n_windows": windows or 3, "step_size": 39 if windows else 20}
