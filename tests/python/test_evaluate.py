"""`demandcast evaluate`: known answers on a hand-made warehouse, and the demo build scored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from demandcast import cli
from demandcast import evaluate as evaluate_module
from demandcast.evaluate import demo_actuals, evaluate, format_report
from demandcast.metrics import score_frame, seasonal_scales

# Monthly, origin 2024-08-01, horizon 2, season 4. A has 8 periods (seasonal scale:
# every |y_t - y_(t-4)| is 2), B has 3 (not longer than a season: lag 1, |2|, |3| -> 2.5),
# D has a forecast but no actuals; C has actuals but no forecast.
HISTORY = {
    "A": ("2024-01-01", [10, 20, 30, 40, 12, 22, 32, 42]),
    "B": ("2024-06-01", [5, 7, 4]),
    "D": ("2024-07-01", [1, 1]),
}
# series, period, step, forecast, lo_80, hi_80, lo_95, hi_95, method, demand_class
FORECAST = [
    ("A", "2024-09-01", 1, 14, 12, 16, 10, 18, "champion", "smooth"),
    ("A", "2024-10-01", 2, 20, 18, 21, 16, 23, "champion", "smooth"),
    ("B", "2024-09-01", 1, 5, 4, 6, 3, 7, "cold_start", "intermittent"),
    ("B", "2024-10-01", 2, 0, 0, 1, 0, 2, "cold_start", "intermittent"),
    ("D", "2024-09-01", 1, 1, 0, 2, 0, 3, "champion", "smooth"),
    ("D", "2024-10-01", 2, 1, 0, 2, 0, 3, "champion", "smooth"),
]
# product, period, y, step (A's November is beyond the horizon; B's October has a wrong step)
ACTUALS = [
    ("A", "2024-09-01", 13, 1),
    ("A", "2024-10-01", 25, 2),
    ("A", "2024-11-01", 30, 3),
    ("B", "2024-09-01", 0, 1),
    ("B", "2024-10-01", 0, 5),
    ("C", "2024-09-01", 3, 1),
    ("C", "2024-10-01", 4, 2),
]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """A hand-made warehouse (the tables evaluate reads) and an actuals CSV."""
    return _warehouse(tmp_path, HISTORY, FORECAST, ACTUALS)


def _warehouse(
    folder: Path,
    history: dict,
    forecast: list,
    actuals: list,
    horizon: int = 2,
    name: str = "tiny",
) -> tuple[Path, Path]:
    """A warehouse of the tables evaluate reads (monthly, origin 2024-08-01, season 4),
    plant PL1, and its actuals CSV, from rows shaped as HISTORY, FORECAST and ACTUALS."""
    db, csv = folder / f"{name}.duckdb", folder / f"{name}.csv"
    with duckdb.connect(str(db)) as con:
        con.execute(f"""create table int_run__context as select 'run-1' as run_id,
            'month' as frequency, date '2024-08-01' as forecast_origin, {horizon} as horizon,
            4 as season_length""")
        con.execute("""create table fct_demand_history (series_id varchar, plant_id varchar,
            product_id varchar, period_start date, demand double)""")
        for product, (start, values) in history.items():
            for i, v in enumerate(values):
                con.execute(
                    "insert into fct_demand_history values "
                    "(?, 'PL1', ?, ?::date + to_months(?), ?)",
                    [f"PL1|{product}", product, start, i, v],
                )
        con.execute("""create table fct_demand_forecast (plant_id varchar, product_id varchar,
            series_id varchar, period_start date, step bigint, forecast double, lo_80 double,
            hi_80 double, lo_95 double, hi_95 double, model_name varchar, method varchar,
            demand_class varchar, run_id varchar, forecast_origin date)""")
        for p, d, step, *values, method, cls in forecast:
            con.execute(
                "insert into fct_demand_forecast values "
                "('PL1', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'M', ?, ?, 'run-1', '2024-08-01')",
                [p, f"PL1|{p}", d, step, *values, method, cls],
            )
    csv.write_text(
        "period_start,product_id,plant_id,y,step\n"
        + "".join(f"{d},{p},PL1,{y},{s}\n" for p, d, y, s in actuals)
    )
    return db, csv


def _row(result: dict, source: str, group: str, value: str) -> dict:
    hits = [
        r for r in result["rows"] if (r["source"], r["group"], r["value"]) == (source, group, value)
    ]
    assert len(hits) == 1, (source, group, value)
    return hits[0]


def test_known_answers(tiny: tuple[Path, Path]) -> None:
    result = evaluate(*tiny, baselines=False)
    overall = _row(result, "forecast", "overall", "all")
    # A: |e| 1, 5 over y 13, 25; B: |e| 5, 0 over y 0, 0 (both 0: sMAPE 0)
    assert overall["n_series"] == 2 and overall["n_points"] == 4
    assert overall["smape"] == pytest.approx((200 / 27 + 1000 / 45 + 200 + 0) / 4)
    assert overall["mase"] == pytest.approx((3 / 2 + 2.5 / 2.5) / 2)
    assert overall["wape"] == pytest.approx(11 / 38)
    assert overall["bias"] == pytest.approx(1 / 38)
    assert overall["coverage_80"] == pytest.approx(0.5)
    assert overall["coverage_95"] == pytest.approx(0.5)
    # at or below hi alone: B's September (0 under lo 4 and 3) counts, A's October (25) not
    assert overall["upper_80"] == pytest.approx(0.75)
    assert overall["upper_95"] == pytest.approx(0.75)
    # A's actuals are never 0 (L), B's always (1): an interval that holds 0 holds both of B's
    assert overall["floor_80"] == pytest.approx((2 * 0.8 + 2 * 1.0) / 4)
    assert overall["floor_95"] == pytest.approx((2 * 0.95 + 2 * 1.0) / 4)
    by_class = _row(result, "forecast", "demand_class", "smooth")
    assert by_class["floor_80"] == pytest.approx(0.8)
    # MSIS 80 (2/a = 10): A (4 + 3 + 10*4) / 2 / 2; B (2 + 10*4 + 1) / 2 / 2.5
    assert overall["msis_80"] == pytest.approx((47 / 4 + 43 / 5) / 2)
    # MSIS 95 (2/a = 40): A (8 + 7 + 40*2) / 2 / 2; B (4 + 40*3 + 2) / 2 / 2.5
    assert overall["msis_95"] == pytest.approx((95 / 4 + 126 / 5) / 2)
    # RMSSE: A's lag-4 differences are all 2 (scale_mse 4), e 1, -5; B's lag-1 differences
    # 2, -3 (scale_mse 6.5), e 5, 0
    assert overall["rmsse"] == pytest.approx((math.sqrt(13 / 4) + math.sqrt(12.5 / 6.5)) / 2)
    # scaled pinball loss: per quantile q (the median = the forecast, 0.1 / 0.9 = lo_80 /
    # hi_80, 0.025 / 0.975 = lo_95 / hi_95) the mean of max(q (y - p), (q - 1) (y - p)):
    # A, y 13 then 25:  median 14, 20: 0.5 x 1, 0.5 x 5      -> 1.5
    #   q 0.1 12, 18:   0.1 x 1, 0.1 x 7                     -> 0.4
    #   q 0.9 16, 21:   0.1 x 3, 0.9 x 4                     -> 1.95
    #   q 0.025 10, 16: 0.025 x 3, 0.025 x 9                 -> 0.15
    #   q 0.975 18, 23: 0.025 x 5, 0.975 x 2                 -> 1.0375
    # B, y 0 and 0, every quantile over by p: (1 - q) p
    #   median 5, 0 -> 1.25; q 0.1 4, 0 -> 1.8; q 0.9 6, 1 -> 0.35;
    #   q 0.025 3, 0 -> 1.4625; q 0.975 7, 2 -> 0.1125
    a_q = {"median": 1.5, 0.1: 0.4, 0.9: 1.95, 0.025: 0.15, 0.975: 1.0375}
    b_q = {"median": 1.25, 0.1: 1.8, 0.9: 0.35, 0.025: 1.4625, 0.975: 0.1125}
    assert overall["spl"] == pytest.approx(
        (sum(a_q.values()) / 5 / 2 + sum(b_q.values()) / 5 / 2.5) / 2
    )
    assert overall["spl_80"] == pytest.approx(((0.4 + 1.95) / 2 / 2 + (1.8 + 0.35) / 2 / 2.5) / 2)
    assert overall["spl_95"] == pytest.approx(
        ((0.15 + 1.0375) / 2 / 2 + (1.4625 + 0.1125) / 2 / 2.5) / 2
    )
    # the median's part is half the MASE: spl = (mase / 2 + 2 spl_80 + 2 spl_95) / 5
    assert overall["spl"] == pytest.approx(
        (overall["mase"] / 2 + 2 * overall["spl_80"] + 2 * overall["spl_95"]) / 5
    )
    assert _row(result, "forecast", "demand_class", "smooth")["mase"] == pytest.approx(1.5)
    assert _row(result, "forecast", "demand_class", "smooth")["rmsse"] == pytest.approx(
        math.sqrt(13 / 4)
    )
    assert _row(result, "forecast", "method", "cold_start")["msis_80"] == pytest.approx(8.6)
    step1 = _row(result, "forecast", "step", "1")
    assert step1["mase"] == pytest.approx((1 / 2 + 5 / 2.5) / 2)
    assert step1["smape"] == pytest.approx((200 / 27 + 200) / 2)
    # seasonal naive: A 12, 22 (a season back); B shorter than a season: last value 4, 4
    snaive = _row(result, "seasonal_naive", "overall", "all")
    assert snaive["mase"] == pytest.approx((2 / 2 + 4 / 2.5) / 2)
    assert snaive["smape"] == pytest.approx((200 / 25 + 600 / 47 + 200 + 200) / 4)
    assert snaive["rmsse"] == pytest.approx((math.sqrt(10 / 2 / 4) + math.sqrt(32 / 2 / 6.5)) / 2)
    assert snaive["coverage_80"] is None and snaive["msis_95"] is None and snaive["spl"] is None
    assert {r["source"] for r in result["rows"]} == {"forecast", "seasonal_naive", "zero"}


# An intermittent series (season 4): history 0 0 4 0 0 0 0 4, so the lag-4 differences are
# 0, 0, -4, 4 (MASE scale 2, RMSSE scale 8) and the mean 1; actuals 0 4 0 0 over a horizon of
# 4. One warehouse forecasts zero (every quantile 0), the other the mean (1, 80 % interval
# 0..3, 95 % 0..4).
INTERMITTENT = {"I": ("2024-01-01", [0, 0, 4, 0, 0, 0, 0, 4])}
INTERMITTENT_ACTUALS = [
    ("I", f"2024-{m:02d}-01", y, s)
    for s, (m, y) in enumerate(zip(range(9, 13), [0, 4, 0, 0], strict=True), 1)
]


def _flat_forecast(forecast: float, lo_80: float, hi_80: float, lo_95: float, hi_95: float):
    return [
        ("I", d, s, forecast, lo_80, hi_80, lo_95, hi_95, "champion", "intermittent")
        for _, d, _, s in INTERMITTENT_ACTUALS
    ]


def test_on_intermittent_demand_zero_wins_mase_but_loses_rmsse_and_spl(tmp_path: Path) -> None:
    scored = {}
    for name, fc in (
        ("zero", _flat_forecast(0, 0, 0, 0, 0)),
        ("mean", _flat_forecast(1, 0, 3, 0, 4)),
    ):
        db, csv = _warehouse(tmp_path, INTERMITTENT, fc, INTERMITTENT_ACTUALS, 4, name)
        result = evaluate(db, csv, baselines=False)
        scored[name] = _row(result, "forecast", "overall", "all")
        scored["seasonal naive"] = _row(result, "seasonal_naive", "overall", "all")
        scored["zero baseline"] = _row(result, "zero", "overall", "all")
    zero, mean, snaive = scored["zero"], scored["mean"], scored["seasonal naive"]
    # the zero baseline scores as the warehouse that forecast zero, whatever the forecast
    for k in ("mase", "rmsse", "smape", "wape", "bias"):
        assert scored["zero baseline"][k] == pytest.approx(zero[k]), k
    assert scored["zero baseline"]["coverage_80"] is None
    # zero: e 0 -4 0 0 (MAE 1, MSE 4); mean: e 1 -3 1 1 (MAE 1.5, MSE 3)
    assert (zero["mase"], mean["mase"]) == (pytest.approx(1 / 2), pytest.approx(1.5 / 2))
    assert zero["rmsse"] == pytest.approx(math.sqrt(4 / 8))
    assert mean["rmsse"] == pytest.approx(math.sqrt(3 / 8))
    # zero misses the 4 by 4 q at every quantile q: a mean loss of q, over the quantiles
    # (0.5 + 0.1 + 0.9 + 0.025 + 0.975) / 5 = 0.5, over the scale 2
    assert zero["spl"] == pytest.approx(0.25)
    assert zero["spl_80"] == pytest.approx(0.25) and zero["spl_95"] == pytest.approx(0.25)
    # mean, per quantile over the four periods: median 1 (0.5 x 1 thrice, 0.5 x 3) -> 0.75;
    # q 0.1 at 0 (0.1 x 4) -> 0.1; q 0.9 at 3 (0.1 x 3 thrice, 0.9 x 1) -> 0.45;
    # q 0.025 at 0 (0.025 x 4) -> 0.025; q 0.975 at 4 (0.025 x 4 thrice) -> 0.075
    assert mean["spl"] == pytest.approx((0.75 + 0.1 + 0.45 + 0.025 + 0.075) / 5 / 2)
    assert mean["spl_80"] == pytest.approx((0.1 + 0.45) / 2 / 2)
    assert mean["spl_95"] == pytest.approx((0.025 + 0.075) / 2 / 2)
    assert zero["mase"] < mean["mase"]
    assert zero["rmsse"] > mean["rmsse"] and zero["spl"] > mean["spl"]
    # the seasonal naive forecasts 0 0 0 4: e 0 -4 0 4, MASE 2 / 2, RMSSE sqrt(8 / 8)
    assert (snaive["mase"], snaive["rmsse"]) == (pytest.approx(1.0), pytest.approx(1.0))
    assert snaive["spl"] is None


def test_the_coverage_floor_takes_each_series_share_of_zeros_over_all_its_periods(
    tmp_path: Path,
) -> None:
    """I's actuals 0 4 0 0: three in four at 0, under 80 % and over 95 %. Its floor is 0.8
    and 0.75 -> 0.95 on every row, a step's too (whose one actual says nothing of a share)."""
    db, csv = _warehouse(
        tmp_path, INTERMITTENT, _flat_forecast(1, 0, 3, 0, 4), INTERMITTENT_ACTUALS, 4
    )
    result = evaluate(db, csv, baselines=False)
    for group, value in (("overall", "all"), ("step", "1"), ("step", "2")):
        row = _row(result, "forecast", group, value)
        assert row["floor_80"] == pytest.approx(0.8), (group, value)
        assert row["floor_95"] == pytest.approx(0.95), (group, value)
    assert _row(result, "forecast", "step", "1")["coverage_80"] == 1.0


def test_evaluate_is_metrics_py_on_the_same_data(tmp_path: Path) -> None:
    """One definition: evaluate's SQL gives, per series, the MASE, RMSSE, sMAPE, spl and
    spl_L of metrics.score_frame over metrics.seasonal_scales of the same history, through
    every fallback of the scale (shorter than a season, flat, all zero)."""
    rng = np.random.default_rng(5)
    lengths = {"P0": 20, "P1": 13, "P2": 9, "P3": 4, "P4": 2, "P5": 12, "P6": 10, "P7": 16}
    history = {}
    for p, n in lengths.items():
        values = rng.poisson(3, n) * rng.binomial(1, 0.5, n)  # intermittent-ish
        if p == "P5":
            values[:] = 7  # flat: mean |y|
        if p == "P6":
            values[:] = 0  # no demand: 1
        start = pd.Timestamp("2024-08-01") - pd.DateOffset(months=n - 1)
        history[p] = (str(start.date()), [int(v) for v in values])
    forecast, actuals = [], []
    for p in lengths:
        for step in (1, 2, 3):
            d = str((pd.Timestamp("2024-08-01") + pd.DateOffset(months=step)).date())
            f = float(rng.gamma(2, 1.5))
            w80, w95 = float(rng.uniform(0, 2)), float(rng.uniform(2, 4))
            forecast.append(
                (p, d, step, f, max(f - w80, 0), f + w80, max(f - w95, 0), f + w95, "m", "c")
            )
            actuals.append((p, d, int(rng.poisson(3) * rng.binomial(1, 0.6)), step))
    db, csv = _warehouse(tmp_path, history, forecast, actuals, horizon=3)
    result = evaluate(db, csv, baselines=False)

    hist = pd.DataFrame(
        [
            (f"PL1|{p}", pd.Timestamp(start) + pd.DateOffset(months=i), float(v))
            for p, (start, values) in history.items()
            for i, v in enumerate(values)
        ],
        columns=["unique_id", "ds", "y"],
    )
    scales = seasonal_scales(hist, season_length=4)
    assert set(scales["scale_lag"]) == {1, 4} and (scales["scale_mae"] == 1.0).any()
    cols = ["p", "d", "step", "forecast", "lo_80", "hi_80", "lo_95", "hi_95", "m", "c"]
    frame = pd.DataFrame(forecast, columns=cols).assign(
        unique_id=lambda x: "PL1|" + x["p"], y=[float(a[2]) for a in actuals]
    )
    ours = score_frame(frame, scales, levels=["80", "95"])
    overall = _row(result, "forecast", "overall", "all")
    assert overall["n_series"] == len(lengths)
    for col in ("mase", "rmsse", "spl", "spl_80", "spl_95"):
        assert overall[col] == pytest.approx(ours[col].mean(), rel=1e-12), col
    assert overall["smape"] == pytest.approx(100 * np.average(ours["smape"]), rel=1e-12)
    for step in (1, 2, 3):  # per series again, on one period each
        one = score_frame(frame[frame.step == step], scales, levels=["80", "95"])
        row = _row(result, "forecast", "step", str(step))
        for col in ("mase", "rmsse", "spl"):
            assert row[col] == pytest.approx(one[col].mean(), rel=1e-12), (step, col)


def test_the_text_and_json_reports_carry_the_new_columns(tiny, tmp_path, capsys) -> None:
    out = tmp_path / "eval.json"
    assert (
        cli.main(
            [
                "evaluate",
                "--db",
                str(tiny[0]),
                "--actuals",
                str(tiny[1]),
                "--no-baselines",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("source"))
    assert header.split() == [
        "source",
        "value",
        "n_series",
        "n_points",
        "smape",
        "mase",
        "rmsse",
        "wape",
        "bias",
        "coverage_80",
        "upper_80",
        "floor_80",
        "coverage_95",
        "upper_95",
        "floor_95",
        "msis_80",
        "msis_95",
        "spl",
        "spl_80",
        "spl_95",
    ]
    rows = json.loads(out.read_text())["rows"]
    assert all({"rmsse", "spl", "spl_80", "spl_95"} <= set(r) for r in rows)


def test_a_reader_that_stops_early_ends_the_output_quietly(tiny: tuple[Path, Path]) -> None:
    """`demandcast evaluate | head`: the reader closes the pipe before evaluate writes;
    the command ends without a BrokenPipeError traceback, with the shell's SIGPIPE
    status."""
    import subprocess
    import sys

    db, csv = tiny
    exe = Path(sys.executable).parent / "demandcast"
    proc = subprocess.Popen(
        [str(exe), "evaluate", "--db", str(db), "--actuals", str(csv), "--no-baselines"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # before the command has imported anything, let alone printed
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_missing_forecasts_are_counted(tiny: tuple[Path, Path]) -> None:
    result = evaluate(*tiny, baselines=False)
    counts = result["counts"]
    assert counts["n_actual_rows"] == 7 and counts["n_actual_series"] == 3
    assert counts["n_series_missing_forecast"] == 1
    assert counts["series_missing_forecast"] == ["PL1|C"]
    assert counts["n_actual_rows_without_forecast"] == 3  # C twice, A beyond the horizon
    assert counts["n_forecast_rows_without_actuals"] == 2  # D
    assert counts["n_forecast_series_without_actuals"] == 1
    assert counts["n_step_mismatch"] == 1
    assert any("another step" in w for w in result["warnings"])


def test_a_forecast_of_an_earlier_run_is_flagged(tiny: tuple[Path, Path]) -> None:
    with duckdb.connect(str(tiny[0])) as con:  # a later build stopped at a gate
        con.execute("update int_run__context set run_id = 'run-2'")
    result = evaluate(*tiny, baselines=False)
    assert result["context"]["run_id"] == "run-1"
    assert any("holds run run-1" in w for w in result["warnings"])


def test_season_length_override_changes_the_scale_not_the_baselines(
    tiny: tuple[Path, Path],
) -> None:
    # lag 1 on A: |diffs| 10, 10, 10, 28, 10, 10, 10 -> 88 / 7
    result = evaluate(*tiny, season_length=1, baselines=False)
    assert _row(result, "forecast", "demand_class", "smooth")["mase"] == pytest.approx(3 * 7 / 88)
    # the seasonal naive stays the run's season's (4; the refit baselines get it the same
    # way): the same forecasts, so the same scale-free WAPE, whatever lag scales the errors
    lag1, own = (
        _row(r, "seasonal_naive", "overall", "all")
        for r in (result, evaluate(*tiny, baselines=False))
    )
    assert lag1["wape"] == pytest.approx(own["wape"])
    assert lag1["mase"] != pytest.approx(own["mase"])
    assert (result["context"]["season_length"], result["context"]["scale_lag"]) == (4, 1)
    assert "season_length 4  scale lag 1" in format_report(result)


def test_actuals_without_a_column_are_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("period_start,product_id,y\n2024-09-01,A,1\n")
    with pytest.raises(ValueError, match="plant_id"):
        evaluate(tiny[0], bad, baselines=False)


def test_demo_actuals_keep_complete_future_periods(tmp_path: Path) -> None:
    path = tmp_path / "truth.parquet"
    duckdb.sql(f"""copy (
        select 'PL1' as plant_id, 'P1' as product_id, d::date as demand_date,
            d >= date '2024-01-03' as is_future, 1.0 as expected_demand,
            case when d >= date '2024-01-03' then 1.0 end as actual_demand
        from range(date '2023-12-01', date '2024-01-29', interval 1 day) as t (d)
    ) to '{path}'""")
    # future: Wed 3 Jan .. Sun 28 Jan; the week of 1 Jan is incomplete, so is January
    weeks = demo_actuals(path, "week", "2024-01-01", horizon=2)
    assert [str(d.date()) for d in weeks["period_start"]] == ["2024-01-08", "2024-01-15"]
    assert weeks["y"].tolist() == [7.0, 7.0]
    assert demo_actuals(path, "month", "2023-12-01", horizon=3).empty
    assert len(demo_actuals(path, "day", "2024-01-26", horizon=5)) == 2


def test_evaluate_the_demo_build(built, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--db", str(built.db), "--actuals", str(built.raw / "truth.parquet")]
    assert cli.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert {r["source"] for r in rows} == {
        "forecast",
        "seasonal_naive",
        "zero",
        "theta",
        "class_default",
    }
    assert {r["group"] for r in rows} == {"overall", "demand_class", "method", "step"}
    overall = next(r for r in rows if r["source"] == "forecast" and r["group"] == "overall")
    assert overall["n_series"] > 0 and overall["n_points"] > 0
    assert math.isfinite(overall["mase"]) and overall["mase"] > 0
    levels = result["context"]["levels"]
    for r in rows:
        if r["source"] == "forecast":
            for level in levels:
                assert 0 <= r[f"coverage_{level}"] <= 1
        if r["source"] in ("seasonal_naive", "zero"):  # no intervals, no pinball loss
            assert r["spl"] is None and r["rmsse"] > 0
        else:  # the forecast and the baselines with intervals: spl, its median part mase / 2
            assert r["rmsse"] > 0 and r["spl"] > 0
            tails = sum(2 * r[f"spl_{lv}"] for lv in levels)
            assert r["spl"] == pytest.approx((r["mase"] / 2 + tails) / (1 + 2 * len(levels)))
    # discontinued series have truth but no forecast: counted, not dropped
    assert result["counts"]["n_series_missing_forecast"] >= 0
    assert result["counts"]["n_actual_series"] >= overall["n_series"]


def test_the_plain_mean_baseline_is_the_mean_of_plain_ets_ces_and_autotheta() -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoCES, AutoETS, AutoTheta

    from demandcast.config import Settings
    from demandcast.evaluate import _plain_mean

    rng = np.random.default_rng(4)
    periods = pd.date_range("2020-01-01", periods=36, freq="MS")
    history = pd.concat(
        pd.DataFrame(
            {
                "series_id": s,
                "period_start": periods.date,
                "demand": 50 + 10 * np.sin(np.arange(36) * np.pi / 6) + rng.normal(0, 2, 36),
            }
        )
        for s in ("a", "b")
    )
    settings = Settings(frequency="month", horizon=4, season_length=12, n_jobs=1)
    got = _plain_mean(history, settings, 12).set_index(["series_id", "step"])["forecast"]
    df = history.rename(columns={"series_id": "unique_id", "period_start": "ds", "demand": "y"})
    df["ds"] = pd.to_datetime(df["ds"])
    models = [AutoETS(season_length=12), AutoCES(season_length=12), AutoTheta(season_length=12)]
    plain = StatsForecast(models=models, freq="MS").forecast(df=df, h=4)
    want = plain[["AutoETS", "CES", "AutoTheta"]].mean(axis=1).to_numpy()
    assert got.to_numpy() == pytest.approx(want)
    # a new product of 6 months: AutoETS cannot fit it; the other two members are its mean
    short = pd.DataFrame(
        {"series_id": "c", "period_start": periods[-6:].date, "demand": [3.0, 0, 5, 4, 6, 2]}
    )
    got = _plain_mean(short, settings, 12).set_index("step")["forecast"]
    sdf = short.rename(columns={"series_id": "unique_id", "period_start": "ds", "demand": "y"})
    sdf["ds"] = pd.to_datetime(sdf["ds"])
    with pytest.raises(Exception):  # noqa: B017 - the precondition: StatsForecast's own error
        StatsForecast(models=[AutoETS(season_length=12)], freq="MS").forecast(df=sdf, h=4)
    others = StatsForecast(models=models[1:], freq="MS").forecast(df=sdf, h=4)
    assert len(got) == 4 and got.notna().all()
    assert got.to_numpy() == pytest.approx(others[["CES", "AutoTheta"]].mean(axis=1).to_numpy())


def test_the_plain_sparse_baselines_are_each_intermittent_method_alone() -> None:
    """`evaluate --plain-sparse`: every PLAIN_SPARSE method as plain StatsForecast runs it."""
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, IMAPA, TSB, CrostonClassic, CrostonSBA

    from demandcast.config import Settings
    from demandcast.evaluate import PLAIN_SPARSE, SOURCES, _plain_sparse

    rng = np.random.default_rng(7)
    periods = pd.date_range("2021-01-01", periods=40, freq="MS")
    demand = rng.poisson(0.4, (2, 40)) * rng.integers(1, 6, (2, 40))
    history = pd.concat(
        pd.DataFrame({"series_id": s, "period_start": periods.date, "demand": d.astype(float)})
        for s, d in zip(("a", "b"), demand, strict=True)
    )
    settings = Settings(frequency="month", horizon=6, season_length=12, n_jobs=1)
    got = dict(_plain_sparse(history, settings))
    assert set(got) == set(PLAIN_SPARSE) and set(PLAIN_SPARSE) <= set(SOURCES)
    df = history.rename(columns={"series_id": "unique_id", "period_start": "ds", "demand": "y"})
    df["ds"] = pd.to_datetime(df["ds"])
    models = [CrostonClassic(), CrostonSBA(), TSB(alpha_d=0.1, alpha_p=0.1), ADIDA(), IMAPA()]
    plain = StatsForecast(models=models, freq="MS").forecast(df=df, h=6)
    for source, column in (
        ("croston", "CrostonClassic"),
        ("sba", "CrostonSBA"),
        ("tsb", "TSB"),
        ("adida", "ADIDA"),
        ("imapa", "IMAPA"),
    ):
        frame = got[source].sort_values(["series_id", "step"])
        assert frame["step"].tolist() == [1, 2, 3, 4, 5, 6] * 2
        assert frame["forecast"].to_numpy() == pytest.approx(plain[column].to_numpy())
    # the methods differ: a baseline is not the same forecast six times
    assert got["croston"]["forecast"].to_numpy() != pytest.approx(got["sba"]["forecast"].to_numpy())


def test_each_level_is_scored_against_the_actuals_summed_the_same_way(tmp_path: Path) -> None:
    """The total of A and B against A's and B's actuals summed, scaled by their summed
    history: by hand, lag-4 differences of 10 20 30 40 12 27 39 46 average 6; the total's
    forecast 16, 22 against 13, 25 is off by 3 each, MASE 0.5."""
    history = {k: HISTORY[k] for k in ("A", "B")}
    forecast = [r for r in FORECAST if r[0] in ("A", "B")]
    actuals = [("A", "2024-09-01", 13, 1), ("A", "2024-10-01", 25, 2)]
    actuals += [("B", "2024-09-01", 0, 1), ("B", "2024-10-01", 0, 2)]
    db, csv = _warehouse(tmp_path, history, forecast, actuals)
    with duckdb.connect(str(db)) as con:
        con.execute("""create table dim_series as select * from (values
            ('PL1|A', 'PL1', 'A', 'G'), ('PL1|B', 'PL1', 'B', 'G'))
            as t (series_id, plant_id, product_id, product_group)""")
        con.execute("""create table fct_demand_forecast_levels as select * from (values
            ('total', 'total', date '2024-09-01', 16.0, 19.0, 15.0, 14.0, 18.0, 12.0, 20.0),
            ('total', 'total', date '2024-10-01', 22.0, 20.0, 22.0, 20.0, 26.0, 18.0, 28.0))
            as t (level, level_key, period_start, forecast, bottom_up_forecast, own_forecast,
                lo_80, hi_80, lo_95, hi_95)""")
    result = evaluate(db, csv, baselines=False)
    rows = {(r["level"], r["source"]): r for r in result["levels"]}
    assert set(rows) == {("total", s) for s in evaluate_module.LEVEL_SOURCES}
    total = rows[("total", "reconciled")]
    assert total["n_nodes"] == 1 and total["n_points"] == 2
    assert total["mase"] == pytest.approx(0.5)
    assert total["smape"] == pytest.approx((600 / 29 + 600 / 47) / 2)
    assert rows[("total", "bottom_up")]["mase"] == pytest.approx((6 + 5) / 2 / 6)
    # 13 lies under the 80 % interval (14 to 18), inside the 95 % one; 25 inside both
    assert (total["coverage_80"], total["coverage_95"]) == (0.5, 1.0)
    assert rows[("total", "own")]["coverage_80"] is None  # the sums have no interval
    report = evaluate_module.format_report(result)
    assert "by level" in report and "coverage_80" in report


def test_a_planned_launch_counts_as_zero_before_its_first_order_in_the_levels(tmp_path: Path):
    """A planned launch L (dim_series lifecycle 'launch': no history, no actual yet) is in
    the total's forecast: the total is still scored, L's missing actuals counting 0, and
    L's own node, with no history to scale by, is not."""
    history = {k: HISTORY[k] for k in ("A", "B")}
    forecast = [r for r in FORECAST if r[0] in ("A", "B")]
    forecast += [("L", "2024-09-01", 1, 2, 1, 3, 0, 4, "launch", None)]
    forecast += [("L", "2024-10-01", 2, 2, 1, 3, 0, 4, "launch", None)]
    actuals = [("A", "2024-09-01", 13, 1), ("A", "2024-10-01", 25, 2)]
    actuals += [("B", "2024-09-01", 0, 1), ("B", "2024-10-01", 0, 2)]
    db, csv = _warehouse(tmp_path, history, forecast, actuals)
    with duckdb.connect(str(db)) as con:
        con.execute("""create table dim_series as select * from (values
            ('PL1|A', 'PL1', 'A', 'G', 'active'), ('PL1|B', 'PL1', 'B', 'G', 'new'),
            ('PL1|L', 'PL1', 'L', 'G', 'launch'))
            as t (series_id, plant_id, product_id, product_group, lifecycle)""")
        con.execute("""create table fct_demand_forecast_levels as select * from (values
            ('total', 'total', date '2024-09-01', 18.0, 21.0, 17.0),
            ('total', 'total', date '2024-10-01', 24.0, 22.0, 24.0),
            ('plant_product', 'PL1|A', date '2024-09-01', 14.0, 14.0, 14.0),
            ('plant_product', 'PL1|A', date '2024-10-01', 20.0, 20.0, 20.0),
            ('plant_product', 'PL1|L', date '2024-09-01', 2.0, 2.0, 2.0),
            ('plant_product', 'PL1|L', date '2024-10-01', 2.0, 2.0, 2.0))
            as t (level, level_key, period_start, forecast, bottom_up_forecast, own_forecast)""")
    result = evaluate(db, csv, baselines=False)
    rows = {(r["level"], r["source"]): r for r in result["levels"]}
    total = rows[("total", "reconciled")]
    assert total["n_nodes"] == 1 and total["n_points"] == 2
    assert total["mase"] == pytest.approx(0.5)  # 18, 24 against 13 + 0 + 0, 25 + 0 + 0
    assert rows[("plant_product", "reconciled")]["n_nodes"] == 1  # A; L has no scale
