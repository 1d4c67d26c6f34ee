"""The candidate catalog (catalog.yml as data) and how the settings name candidates."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from demandcast.catalog import (
    Deseasonalized,
    Guarded,
    TemporalHierarchy,
    describe,
    load_catalog,
    trimmed_mean,
)
from demandcast.config import Settings
from demandcast.plugins.example import DampedSeasonalAverage


def _write(tmp_path, body: str):
    path = tmp_path / "catalog.yml"
    path.write_text(textwrap.dedent(body))
    return path


def test_default_set_has_at_least_50_distinct_candidates_for_weekly_data():
    cat = load_catalog()
    names = [c.name for c in cat.resolve("default", season_length=52)]
    assert len(names) == len(set(names)) >= 50
    families = {cat.candidates[n].family for n in names}
    assert {"benchmark", "exponential_smoothing", "theta", "arima", "ces"} <= families
    assert {"decomposition", "intermittent", "plugin", "ensemble"} <= families


@pytest.mark.filterwarnings("ignore:possible convergence problem")
def test_every_single_candidate_builds_and_forecasts():
    cat = load_catalog()
    rng = np.random.default_rng(1)
    t = np.arange(120)
    y = 50 + 10 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 3, t.size)
    for cand in cat.resolve("default", season_length=52):
        if cand.is_combination or cand.is_pooled:  # a pooled model: test_pooled.py
            continue
        model = cat.build(cand.name, season_length=52)
        assert model.alias == cand.name
        mean = model.forecast(y=y, h=13)["mean"]
        assert mean.shape == (13,) and np.isfinite(mean).all(), cand.name


def test_long_seasons_deseasonalise_and_short_ones_stay_native():
    cat = load_catalog()
    weekly = cat.build("AutoETS", season_length=52)
    monthly = cat.build("AutoETS", season_length=12)
    assert isinstance(weekly, Deseasonalized) and weekly.method == "fourier"
    assert weekly.period == pytest.approx(365.25 / 7)
    assert type(monthly).__name__ == "AutoETS" and monthly.season_length == 12
    assert cat.build("MSTL.SES", season_length=52).method == "stl"
    # multiplicative Holt-Winters only exists for short seasons
    assert "HoltWintersMultiplicative" not in {c.name for c in cat.resolve("all", 52)}
    assert "HoltWintersMultiplicative" in {c.name for c in cat.resolve("all", 12)}


def test_a_long_season_model_is_estimated_once_and_applied_forward():
    """Deseasonalized forward: the inner model's first estimate on a later history, its
    season fitted again; the same history gives the full forecast; a history that crossed
    the adjustment's length refits, and so does CES, whose forward the catalog refuses."""
    cat = load_catalog()
    rng = np.random.default_rng(5)
    t = np.arange(160)
    y = 50 + 10 * np.sin(2 * np.pi * t / 52.18) + 0.05 * t + rng.normal(0, 3, t.size)
    ets = cat.build("AutoETS", season_length=52)
    refit = ets.new().forecast(y=y[:145], h=13)["mean"]
    assert np.array_equal(ets.new().fit(y[:145]).forward(y=y[:145], h=13)["mean"], refit)
    assert np.array_equal(ets.new().fit(y[:145]).predict(h=13)["mean"], refit)
    # the first estimate: the inner ETS's parameters, the later history's level and season
    est = ets.new().fit(y[:130])
    season = est._seasonal(y[:145], 13)
    inner = est.inner_.forward(y=y[:145] - season[0], h=13)["mean"] + season[1]
    forward = est.forward(y=y[:145], h=13)["mean"]
    assert np.array_equal(forward, inner) and not np.allclose(forward, refit)
    # a history too short to adjust at the estimate, long enough later: a full forecast
    short = ets.new().fit(y[:50])
    assert np.array_equal(short.forward(y=y[:145], h=13)["mean"], refit)
    # CES's forward can diverge: the catalog does not let the backtest use it
    ces = Guarded(cat.build("AutoCES", season_length=52), cat.candidates["AutoCES"].forward)
    assert np.array_equal(
        ces.fit(y[:130]).forward(y=y[:145], h=13)["mean"],
        cat.build("AutoCES", season_length=52).forecast(y=y[:145], h=13)["mean"],
    )
    # a copy of a fitted model starts unfitted: no other series' estimate to apply
    assert not hasattr(est.new(), "inner_")


def _monthly(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 0.5 * t + 15 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 4, n)


@pytest.mark.filterwarnings("ignore:possible convergence problem")
def test_a_temporal_hierarchy_reconciles_by_structural_scaling_as_hierarchicalforecast():
    """THieF: the model on the months and on their sums over 2 to 12 months, reconciled by
    MinTrace wls_struct (hierarchicalforecast's, the reference); each level at its own
    season (12 / k); a level too short to fit is left out; monthly only."""
    from hierarchicalforecast.methods import MinTrace
    from statsforecast.models import AutoETS

    cat = load_catalog()
    y, h = _monthly(96), 18
    model = cat.build("AutoETS.THieF", season_length=12)
    assert isinstance(model, TemporalHierarchy) and model.season_length == 12
    got = model.forecast(y=y, h=h)["mean"]
    # the reference: every level's AutoETS forecast of two years, reconciled year by year
    ks = [1, 2, 3, 4, 6, 12]
    base = {
        k: AutoETS(model="ZZZ", season_length=12 // k).forecast(
            y=y.reshape(-1, k).sum(axis=1), h=24 // k
        )["mean"]
        for k in ks
    }
    S = np.vstack([np.kron(np.eye(12 // k), np.ones((1, k))) for k in sorted(ks, reverse=True)])
    years = []
    for j in range(2):
        stacked = np.concatenate(
            [base[k][j * (12 // k) : (j + 1) * (12 // k)] for k in sorted(ks, reverse=True)]
        )
        rec = MinTrace(method="wls_struct").fit_predict(S=S, y_hat=stacked[:, None])["mean"]
        years.append(rec[-12:, 0])  # the months are S's last rows
    np.testing.assert_allclose(got, np.concatenate(years)[:h], rtol=1e-6)
    assert not np.allclose(got, base[1][:h])  # the aggregates moved the monthly forecast
    # a history of 3 years: the 12-month level has 3 sums (< 4) and is left out
    short = model.new().forecast(y=y[-36:], h=h)["mean"]
    assert model._ks(36) == [1, 2, 3, 4, 6] and np.isfinite(short).all()
    # a history too short for any sum: the model alone at its season
    alone = model.new().forecast(y=y[-7:], h=h)["mean"]
    np.testing.assert_allclose(
        alone, AutoETS(model="ZZZ", season_length=12).forecast(y=y[-7:], h=h)["mean"]
    )
    # opt-in: `thief` is the default and the temporal hierarchies, in the learner pool too;
    # the default leaves them out of both; weekly data (52 > long_season) has none
    thief = {c.name for c in cat.resolve("thief", 12)}
    default = {c.name for c in cat.resolve("default", 12)}
    hierarchies = {"AutoETS.THieF", "AutoCES.THieF", "ComboTHieF"}
    assert thief - default == hierarchies and default <= thief
    assert {"AutoETS.THieF", "AutoCES.THieF"} <= set(cat.learner_pools(sorted(thief))["smooth"])
    assert not [c for c in cat.resolve("thief", 52) if "THieF" in c.name]


def test_a_temporal_hierarchy_is_estimated_once_and_applied_forward():
    """fit estimates every level; forward applies those estimates to a later history (on the
    same history: the fitted forecast); CES, without a catalog forward, refits."""
    cat = load_catalog()
    y, h = _monthly(90, seed=4), 18
    ets = cat.build("AutoETS.THieF", season_length=12)
    fitted = ets.new().fit(y[:80])
    np.testing.assert_allclose(
        fitted.forward(y=y[:80], h=h)["mean"], fitted.predict(h=h)["mean"], rtol=1e-6
    )
    later = fitted.forward(y=y, h=h)["mean"]
    assert np.isfinite(later).all() and not np.allclose(later, fitted.predict(h=h)["mean"])
    assert not np.allclose(later, ets.new().forecast(y=y, h=h)["mean"])  # not a refit
    assert "fitted_" not in ets.new().__dict__ and "fitted_" not in fitted.new().__dict__
    ces = Guarded(
        cat.build("AutoCES.THieF", season_length=12), cat.candidates["AutoCES.THieF"].forward
    )
    np.testing.assert_allclose(
        ces.fit(y[:80]).forward(y=y, h=h)["mean"],
        cat.build("AutoCES.THieF", season_length=12).forecast(y=y, h=h)["mean"],
    )


def test_the_backtest_estimates_a_long_season_model_once_per_series():
    """StatsForecast's cross_validation with refit=False on Guarded(Deseasonalized): each
    series' first window estimated on its own history, the later windows its forward."""
    import pandas as pd
    from statsforecast import StatsForecast

    cat = load_catalog()
    rng = np.random.default_rng(6)
    t = np.arange(150)
    frames, ys = [], {}
    for i, (level, n) in enumerate([(50, 150), (500, 140), (5, 150)]):
        y = level * (1 + 0.2 * np.sin(2 * np.pi * t[:n] / 52.18)) + rng.normal(0, level / 20, n)
        ys[f"s{i}"] = y
        ds = pd.date_range("2023-01-02", periods=n, freq="W-MON")
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    model = Guarded(cat.build("AutoETS", season_length=52), forward=True)
    cv = StatsForecast(models=[model], freq="W-MON", n_jobs=1).cross_validation(
        df=pd.concat(frames), h=13, n_windows=3, step_size=5, refit=False
    )
    for sid, y in ys.items():
        got = cv[cv["unique_id"] == sid]["AutoETS"].to_numpy().reshape(3, 13)
        est = cat.build("AutoETS", season_length=52).fit(y[: y.size - 13 - 10])
        for w in range(3):
            end = y.size - 13 - (2 - w) * 5
            assert np.allclose(got[w], est.forward(y=y[:end], h=13)["mean"]), (sid, w)


def test_resolve_a_list_adds_combination_members_and_rejects_unknown_names():
    cat = load_catalog()
    names = [c.name for c in cat.resolve(["Naive", "ComboIntermittent"], 52)]
    assert {"Naive", "ComboIntermittent", "CrostonSBA", "TSB0.1_0.1", "ADIDA", "IMAPA"} == set(
        names
    )
    with pytest.raises(ValueError, match="var 'candidates'.*NoSuchModel"):
        cat.resolve(["Naive", "NoSuchModel"], 52)
    with pytest.raises(ValueError, match="var 'candidates'"):
        cat.resolve("no_such_set", 52)


def test_plugin_by_import_path(tmp_path):
    path = _write(
        tmp_path,
        """
        candidates:
          - name: Mine
            model: demandcast.plugins.example:DampedSeasonalAverage
            kwargs: {window_size: 8, damping: 0.3}
            season: optional
          - name: Naive
            model: Naive
        defaults: {smooth: Naive}
        """,
    )
    cat = load_catalog(path)
    model = cat.build("Mine", season_length=52)
    assert isinstance(model, DampedSeasonalAverage)
    assert (model.alias, model.window_size, model.damping, model.season_length) == (
        "Mine",
        8,
        0.3,
        52,
    )


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("no_such_pkg.mod:Thing", "cannot import plug-in module 'no_such_pkg.mod'"),
        ("demandcast.plugins.example:Nope", "has no class 'Nope'"),
        ("demandcast.config:Settings", "does not meet the model contract"),
        ("NotAStatsForecastModel", "is not a StatsForecast model"),
    ],
)
def test_bad_model_path_fails_at_load_with_a_clear_error(tmp_path, model, message):
    path = _write(
        tmp_path,
        f"""
        candidates:
          - name: Broken
            model: {model}
        """,
    )
    with pytest.raises(ValueError, match="candidate 'Broken'") as err:
        load_catalog(path)
    assert message in str(err.value)


def test_catalog_structure_errors_name_the_problem(tmp_path):
    dup = _write(
        tmp_path,
        """
        candidates:
          - {name: A, model: Naive}
          - {name: A, model: Naive}
        """,
    )
    with pytest.raises(ValueError, match="'A' is used twice"):
        load_catalog(dup)
    combo = _write(
        tmp_path,
        """
        candidates:
          - {name: A, model: Naive}
          - {name: C, combine: mean, members: [A, Missing]}
        """,
    )
    with pytest.raises(ValueError, match="combination 'C'"):
        load_catalog(combo)


def test_a_trimmed_mean_drops_the_highest_and_the_lowest_member(tmp_path):
    nan = np.nan
    x = np.array(
        [
            [1.0, 2.0, 3.0, 100.0, nan],  # 100 and 1 dropped: the mean of 2 and 3
            [5.0, 1.0, 9.0, 3.0, 7.0],  # the mean of 3, 5 and 7 (the median of five is 5 too)
            [0.0, 0.0, 10.0, 30.0, 2.0],  # the mean of 0, 2, 10: not the median (2)
            [4.0, nan, 8.0, nan, 6.0],  # three: their median
            [4.0, nan, 8.0, nan, nan],  # two: their mean
            [nan, nan, 7.0, nan, nan],  # one: itself
            [nan] * 5,
        ]
    )
    got = trimmed_mean(x, axis=1)
    np.testing.assert_allclose(got[:6], [2.5, 5.0, 4.0, 6.0, 6.0, 7.0])
    assert np.isnan(got[6])
    # along another axis, and the catalog's combination that uses it
    np.testing.assert_allclose(trimmed_mean(x[:3].T, axis=0), got[:3])
    combo = load_catalog().candidates["ComboGlobal5Trim"]
    assert combo.combine == "trimmed" and len(combo.members) == 5
    bad = _write(
        tmp_path,
        """
        candidates:
          - {name: A, model: Naive}
          - {name: B, model: Naive}
          - {name: C, combine: trim, members: [A, B]}
        """,
    )
    with pytest.raises(ValueError, match="combine must be one of mean, median, trimmed"):
        load_catalog(bad)


def test_settings_parse_var_strings():
    s = Settings.from_mapping(
        {
            "horizon": "13",
            "levels": "[95, 80]",
            "candidates": "fast",
            "n_jobs": "2",
            "route_by_class": "false",
            "selection_margin": "0.2",
            "step_size": "",
        }
    )
    assert (s.horizon, s.levels, s.candidates, s.n_jobs) == (13, (80, 95), "fast", 2)
    assert s.route_by_class is False and s.selection_margin == 0.2
    # defaults derive from the horizon and the season: windows 20 weeks apart span a year
    assert s.step_size == 20 and s.min_train_length == 26
    listed = Settings.from_mapping({"candidates": '["Naive", "SeasonalNaive"]'})
    assert listed.candidates == ("Naive", "SeasonalNaive")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("horizon", "abc"),
        ("horizon", "0"),
        ("selection_metric", "mape"),
        ("levels", "[80, 120]"),
        ("frequency", "fortnight"),
        ("route_by_class", "maybe"),
        ("engine", "spark"),
    ],
)
def test_settings_name_the_bad_var(var, value):
    with pytest.raises(ValueError, match=f"var '{var}'"):
        Settings.from_mapping({var: value})


def test_combo_learned_is_in_the_default_and_only_brings_its_learner_pool_as_contenders():
    catalog = load_catalog()
    default = catalog.resolve("default", 12)
    champion = catalog.resolve("champion", 12)
    assert [c.name for c in default if c.is_learned] == ["ComboLearned"]
    assert [c.name for c in catalog.resolve("learned", 12)] == [c.name for c in default]
    assert {c.name for c in default} - {c.name for c in champion} == {"ComboLearned"}
    # without ComboLearned the smooth contenders are the members of the pool's combinations
    assert catalog.contenders("smooth", champion) == {
        "AutoETS",
        "AutoCES",
        "DynamicOptimizedTheta",
        "Theta",
        "AutoTheta",
        "GlobalAR",
        "GlobalGBM",
    }
    assert "SeasonalNaive" in catalog.contenders("smooth", default)  # its learner pool


def test_every_entry_is_described_in_a_planners_words():
    """Every entry of the packaged catalog has a description (fct_demand_forecast's
    model_description); a top-k or learned champion adds its members' words and weights;
    the cold start and the fallback have their own; an unknown name stays itself."""
    catalog = load_catalog()
    missing = [name for name, c in catalog.candidates.items() if not c.description]
    assert missing == []
    assert describe("ComboMean") == "exponential smoothing, CES and Theta, averaged"
    assert describe("MeanTopK[Naive|SeasonalNaive]") == (
        "the series' best methods, averaged: last value repeated; same period last season"
    )
    assert describe("ComboLearned[AutoCES*0.25|Naive*0.75]").endswith(
        ": CES (complex exponential smoothing) (25%); last value repeated (75%)"
    )
    assert describe("ComboLearned[lambda=0.5:ComboMean|AutoCES*0.25|Naive*0.75]").endswith(
        ": 50% learned, 50% as ComboMean; CES (complex exponential smoothing) (25%); "
        "last value repeated (75%)"
    )
    # fully learned: the weights alone, no note a planner cannot read
    assert describe("ComboLearned[lambda=1:ComboMean|AutoCES*0.25|Naive*0.75]").endswith(
        "series: CES (complex exponential smoothing) (25%); last value repeated (75%)"
    )
    # a cold start is the mean of its own last periods (forecast.py), not of other series
    assert describe("ColdStartAverage").startswith("average of its own last periods")
    assert describe("WindowAverage").endswith("(the chosen method failed)")
    assert describe("NotInTheCatalog") == "NotInTheCatalog"
    assert describe(None) is None


def test_combo_plain_is_the_plain_models_at_their_own_season():
    """ComboPlain is the plain StatsForecast mean (`evaluate --plain-mean`): AutoETS, AutoCES
    and AutoTheta with the data's season length, as they come. At a native season those are
    the catalog's entries; at a long season the `.Native` forms (no Fourier adjustment) of
    CES and theta, and AutoETS's non-seasonal search: at lag 52 StatsForecast's AutoETS
    tries seasonal forms it cannot forecast, twenty times the CPU for its non-seasonal
    forecast on most series."""
    from demandcast.evaluate import PLAIN_MEAN

    catalog = load_catalog()
    assert "ComboPlain" in catalog.pool["smooth"] and "ComboPlain" in catalog.pool["erratic"]
    for m, members in (
        (12, ("AutoETS", "AutoCES", "AutoTheta")),
        (52, ("AutoETSNonSeasonal", "AutoCES.Native", "AutoTheta.Native")),
    ):
        resolved = {c.name: c for c in catalog.resolve("default", m)}
        assert resolved["ComboPlain"].members == members
        assert catalog.at_season(m).candidates["ComboPlain"].members == members
        assert set(members) <= set(resolved) and set(members) <= catalog.contenders(
            "erratic", list(resolved.values())
        )
        for name, plain in zip(members, PLAIN_MEAN, strict=True):
            model = catalog.build(name, m)
            assert type(model).__name__ == plain, name
            if name == "AutoETSNonSeasonal":
                assert model.model == "ZZN"
                continue
            assert model.season_length == m, name
            plain_model = type(model)(season_length=m)  # as evaluate --plain-mean builds it
            assert {k: v for k, v in vars(model).items() if k != "alias"} == {
                k: v for k, v in vars(plain_model).items() if k != "alias"
            }, name
    assert not any(".Native" in n for n in (c.name for c in catalog.resolve("default", 12)))
    assert catalog.at_season(12) is catalog
    weekly = catalog.at_season(52)
    assert weekly.at_season(52) is weekly and catalog.candidates["ComboPlain"].members == (
        "AutoETS",
        "AutoCES",
        "AutoTheta",
    )


def test_combination_long_season_members_must_be_single_candidates(tmp_path):
    bad = _write(
        tmp_path,
        """
        candidates:
          - {name: A, model: Naive}
          - {name: B, model: Naive}
          - {name: C, combine: mean, members: [A, B], long_season: {members: [A, Missing]}}
        """,
    )
    with pytest.raises(ValueError, match="combination 'C': long_season must be"):
        load_catalog(bad)
    good = _write(
        tmp_path,
        """
        long_season: 24
        candidates:
          - {name: A, model: Naive}
          - {name: B, model: Naive}
          - {name: D, model: HistoricAverage}
          - {name: C, combine: mean, members: [A, B], long_season: {members: [A, D]}}
        """,
    )
    catalog = load_catalog(good)
    assert [c.name for c in catalog.resolve(["C"], 52)] == ["A", "D", "C"]
    assert [c.members for c in catalog.resolve(["C"], 52) if c.is_combination] == [("A", "D")]
    assert [c.name for c in catalog.resolve(["C"], 12)] == ["A", "B", "C"]


def _window(kwargs: dict) -> int:
    """The window_size of an entry's kwargs, or of the model it wraps (0: none)."""
    inner = kwargs.get("model")
    nested = _window(inner.get("kwargs", {})) if isinstance(inner, dict) else 0
    return int(kwargs.get("window_size") or nested)


@pytest.mark.parametrize("season_length", [12, 52])
def test_a_window_model_is_skipped_on_a_history_shorter_than_its_window(season_length):
    # a window average on fewer periods than its window forecasts NaN: the entry must say
    # so (min_history, or seasons), so the backtest skips it instead of recording it failed
    cat = load_catalog()
    seen = 0
    for cand in cat.resolve("full", season_length=season_length):
        w = _window(cand.kwargs)
        if cand.is_combination or not w:
            continue
        seasonal = cand.model == "SeasonalWindowAverage"
        need = w * season_length if seasonal else w
        assert cand.required_history(season_length) >= need, cand.name
        model = cat.build(cand.name, season_length=season_length)
        y = 10 + np.arange(need, dtype=float) % 7
        assert np.isfinite(model.forecast(y=y, h=6)["mean"]).all(), cand.name
        seen += 1
    assert seen >= 6


@pytest.mark.parametrize("season_length", [12, 52])
# the fits at the shortest history it accepts: StatsForecast's variance may divide by zero
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_an_ets_form_is_skipped_on_a_history_its_fit_refuses(season_length):
    # StatsForecast's ETS refuses n <= its parameters + 4 ("tiny datasets": alpha and the
    # level, 2 more for a trend or a season, 1 for damping); the entry must need more
    cat = load_catalog()
    seen = 0
    for cand in cat.resolve("full", season_length=season_length):
        if cand.model != "AutoETS":
            continue
        form = cand.kwargs["model"]
        n_pars = (
            2 + 2 * (form[1] in "AM") + 2 * (form[2] in "AM") + int(cand.kwargs.get("damped", 0))
        )
        need = cand.required_history(season_length)
        assert need >= n_pars + 5, cand.name
        y = 10 + np.arange(need, dtype=float) % 7
        model = cat.build(cand.name, season_length=season_length)
        assert np.isfinite(model.forecast(y=y, h=6)["mean"]).all(), cand.name
        seen += 1
    assert seen >= 3
