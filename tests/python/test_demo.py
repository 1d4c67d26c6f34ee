"""The demo generator: contract, reproducibility, demand classes, lifecycles, dirty lines."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from demandcast import demo

SMALL = {"n_plants": 2, "n_products": 40, "years": 2, "seed": 3}
FILES = ("orders", "products", "plants", "launches", "truth")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    return demo.write_demo(out, **SMALL)


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    """The default demo (2 plants x 200 products x 3 years): class shares need its size."""
    out = tmp_path_factory.mktemp("default")
    return demo.write_demo(out)


def _read(info: dict, name: str) -> pd.DataFrame:
    return pd.read_parquet(info[name])


def _weekly_classes(info: dict) -> pd.DataFrame:
    """Syntetos-Boylan class per series on weekly net demand, as the series models build it.

    Exact duplicates dropped; zeros filled from the first week with demand to the last week.
    """
    sql = f"""
        with orders as (select distinct * from read_parquet('{info["orders"]}')),
        weekly as (
            select plant_id, product_id, date_trunc('week', order_date) as week,
                sum(quantity) as demand
            from orders group by all
        ),
        spans as (
            select plant_id, product_id, min(week) filter (where demand > 0) as first_week
            from weekly group by all
        ),
        spine as (
            select plant_id, product_id,
                unnest(generate_series(first_week, (select max(week) from weekly),
                    interval 7 day))::date as week
            from spans
        ),
        filled as (
            select spine.*, coalesce(weekly.demand, 0) as demand
            from spine left join weekly using (plant_id, product_id, week)
        ),
        stats as (
            select plant_id, product_id,
                count(*) / count(*) filter (where demand > 0) as adi,
                power(stddev_pop(demand) filter (where demand > 0)
                    / avg(demand) filter (where demand > 0), 2) as cv2
            from filled group by all
        ),
        archetypes as (
            select distinct plant_id::varchar as plant_id, product_id::varchar as product_id,
                archetype::varchar as archetype
            from read_parquet('{info["truth"]}')
        )
        select stats.*, archetypes.archetype,
            case
                when adi < 1.32 and cv2 < 0.49 then 'smooth'
                when adi < 1.32 then 'erratic'
                when cv2 < 0.49 then 'intermittent'
                else 'lumpy'
            end as demand_class
        from stats join archetypes using (plant_id, product_id)
    """
    return duckdb.sql(sql).df()


def test_same_seed_writes_identical_data_and_another_seed_does_not(tmp_path):
    first = demo.write_demo(tmp_path / "a", **SMALL)
    again = demo.write_demo(tmp_path / "b", **SMALL)
    other = demo.write_demo(tmp_path / "c", **{**SMALL, "seed": SMALL["seed"] + 1})
    for name in FILES:
        pd.testing.assert_frame_equal(_read(first, name), _read(again, name))
    assert not _read(first, "orders").equals(_read(other, "orders"))
    assert not _read(first, "truth").equals(_read(other, "truth"))


def test_files_follow_the_input_contract(small):
    con = duckdb.connect()

    def types(name: str) -> dict:
        rows = con.sql(f"describe select * from read_parquet('{small[name]}')").fetchall()
        return {row[0]: row[1] for row in rows}

    assert types("orders") == {
        "order_id": "VARCHAR",
        "order_date": "DATE",
        "product_id": "VARCHAR",
        "plant_id": "VARCHAR",
        "quantity": "DOUBLE",
    }
    assert types("products") == {
        "product_id": "VARCHAR",
        "product_name": "VARCHAR",
        "product_group": "VARCHAR",
        "launch_date": "DATE",
        "discontinued_date": "DATE",
    }
    assert types("plants") == {"plant_id": "VARCHAR", "plant_name": "VARCHAR"}
    assert types("launches") == {
        "plant_id": "VARCHAR",
        "product_id": "VARCHAR",
        "launch_date": "DATE",
        "analog_product_id": "VARCHAR",
    }

    orders, products, plants = (_read(small, name) for name in ("orders", "products", "plants"))
    assert orders.notna().all().all()
    assert orders["order_date"].is_monotonic_increasing
    assert orders["product_id"].str.fullmatch(r"P\d{5}").all()
    assert orders["plant_id"].str.fullmatch(r"PL\d{2}").all()
    assert (orders["quantity"] != 0).all()
    assert set(orders["product_id"]) <= set(products["product_id"])
    assert set(orders["plant_id"]) == set(plants["plant_id"]) == {"PL01", "PL02"}
    assert products["product_id"].is_unique and plants["plant_id"].is_unique
    assert 4 <= products["product_group"].nunique() <= 8
    assert products["product_name"].notna().all()


def test_launches_list_the_recent_launches_and_two_roll_outs_not_yet_ordered(small):
    launches, orders, products = (_read(small, n) for n in ("launches", "orders", "products"))
    ordered = set(zip(orders["plant_id"], orders["product_id"], strict=True))
    listed = list(zip(launches["plant_id"], launches["product_id"], strict=True))
    assert len(set(listed)) == len(listed) and set(launches["product_id"]) <= set(
        products["product_id"]
    )
    # the roll-outs to the last plant start after the history, one with an analog
    later = launches[launches["launch_date"] > orders["order_date"].max()]
    assert len(later) == 2 and later["analog_product_id"].notna().sum() == 1
    assert not ordered & set(zip(later["plant_id"], later["product_id"], strict=True))
    # every other row is a product launched in the last two years, at its master date
    recent = launches.drop(later.index).merge(products, on="product_id", suffixes=("", "_m"))
    assert (recent["launch_date"] == recent["launch_date_m"]).all() and len(recent) > 0


def test_each_plant_sells_its_share_of_a_global_catalog(small):
    orders = _read(small, "orders")
    sold = orders.groupby("plant_id")["product_id"].unique().map(set)
    assert sold.map(len).tolist() == [SMALL["n_products"]] * SMALL["n_plants"]
    overlap = len(sold["PL01"] & sold["PL02"]) / SMALL["n_products"]
    assert 0.7 <= overlap <= 0.9
    assert small["n_series"] == SMALL["n_plants"] * SMALL["n_products"]


def test_all_four_demand_classes_occur_in_a_meaningful_share(default):
    classes = _weekly_classes(default)
    assert len(classes) == default["n_series"] == 400
    shares = classes["demand_class"].value_counts(normalize=True)
    for demand_class in ("smooth", "erratic", "intermittent", "lumpy"):
        assert shares.get(demand_class, 0.0) >= 0.08, shares.to_dict()


def test_each_demand_archetype_mostly_lands_in_its_class(default):
    classes = _weekly_classes(default)
    expected = {
        "smooth_seasonal": "smooth",
        "erratic": "erratic",
        "intermittent": "intermittent",
        "lumpy": "lumpy",
    }
    for archetype, demand_class in expected.items():
        series = classes[classes["archetype"] == archetype]
        assert len(series) >= 20, archetype
        assert (series["demand_class"] == demand_class).mean() >= 0.85, archetype
    assert set(classes["archetype"]) == set(demo.ARCHETYPES)


def test_new_discontinued_and_active_lifecycles_occur(small):
    orders, products, truth = (_read(small, name) for name in ("orders", "products", "truth"))
    end = pd.Timestamp(small["end_date"])
    span = orders.groupby(["plant_id", "product_id"])["order_date"].agg(["min", "max"])
    span = span.reset_index().merge(products, on="product_id")
    archetype = truth.groupby(["plant_id", "product_id"], observed=True)["archetype"].first()
    span["archetype"] = (
        archetype.astype(str)
        .loc[list(zip(span["plant_id"], span["product_id"], strict=True))]
        .to_numpy()
    )

    new = span[span["archetype"] == "new"]
    assert len(new) > 0
    launched = pd.to_datetime(new["launch_date"])
    assert launched.between(end - pd.Timedelta(days=183), end - pd.Timedelta(days=59)).all()
    assert (pd.to_datetime(new["min"]) >= launched).all()

    gone = span[span["archetype"] == "discontinued"]
    assert len(gone) > 0
    assert (pd.to_datetime(gone["max"]) <= end - pd.Timedelta(days=60)).all()
    # the master dates every discontinued product (a pause alone discontinues nothing),
    # after its last order line in any plant
    dated = gone.groupby("product_id").agg(last=("max", "max"), disc=("discontinued_date", "first"))
    assert dated["disc"].notna().all()
    assert (pd.to_datetime(dated["last"]) < pd.to_datetime(dated["disc"])).all()

    active = span[~span["archetype"].isin(["new", "discontinued"])]
    recent = pd.to_datetime(active["max"]) >= end - pd.Timedelta(days=120)
    assert recent.mean() >= 0.9
    assert (
        products.loc[products["discontinued_date"].notna(), "product_id"]
        .isin(gone["product_id"])
        .all()
    )


def test_returns_exist_and_never_exceed_sales_of_the_series_or_the_day(small):
    orders = _read(small, "orders").drop_duplicates()
    returns = orders[orders["quantity"] < 0]
    assert 0 < len(returns) < 0.05 * len(orders)
    per_series = orders.groupby(["plant_id", "product_id"])["quantity"]
    sales = per_series.apply(lambda q: q[q > 0].sum())
    returned = per_series.apply(lambda q: -q[q < 0].sum())
    assert (returned <= sales).all()
    # Net demand is never negative, even per day, so no period of any frequency is.
    daily = orders.groupby(["plant_id", "product_id", "order_date"])["quantity"].sum()
    assert (daily >= 0).all()


def test_duplicates_exist_and_are_exact_copies(small):
    orders = _read(small, "orders")
    repeated = orders[orders.duplicated("order_id", keep=False)]
    assert len(repeated) >= 2
    assert len(repeated.drop_duplicates()) == repeated["order_id"].nunique()
    share = orders.duplicated().sum() / len(orders)
    assert share <= 0.005
    assert orders.duplicated().sum() == small["n_duplicates"]


def test_truth_covers_history_and_future_of_every_series(small):
    truth = _read(small, "truth")
    orders = _read(small, "orders")
    start, end = pd.Timestamp(small["start_date"]), pd.Timestamp(small["end_date"])
    days = (end - start).days + 1 + 182
    assert len(truth) == small["n_series"] * days
    assert truth.groupby(["plant_id", "product_id"], observed=True).size().eq(days).all()
    dates = pd.to_datetime(truth["demand_date"])
    assert dates.min() == start and dates.max() == end + pd.Timedelta(days=182)
    future = dates > end
    assert (truth["is_future"] == future).all()
    assert truth.loc[future, "actual_demand"].notna().all()
    assert truth.loc[~future, "actual_demand"].isna().all()
    assert (truth["expected_demand"] >= 0).all()
    assert truth.loc[future, "expected_demand"].sum() > 0
    keys = set(zip(orders["plant_id"], orders["product_id"], strict=True))
    truth_keys = set(
        zip(truth["plant_id"].astype(str), truth["product_id"].astype(str), strict=True)
    )
    assert keys == truth_keys


def test_realised_demand_matches_the_truth_on_average(small):
    truth = _read(small, "truth")
    orders = _read(small, "orders").drop_duplicates()
    history = truth.loc[~truth["is_future"], "expected_demand"].astype(float).sum()
    sales = orders.loc[orders["quantity"] > 0, "quantity"].sum()
    assert sales == pytest.approx(history, rel=0.1)
    future = truth[truth["is_future"]]
    assert future["actual_demand"].astype(float).sum() == pytest.approx(
        future["expected_demand"].astype(float).sum(), rel=0.1
    )


def test_cli_writes_the_files_and_prints_one_summary_line(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["--out", str(out), "--plants", "1", "--products", "15", "--years", "1"]
    assert demo.main([*args, "--end-date", "2025-06-29", "--seed", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "order lines" in lines[0] and "15 series" in lines[0]
    for name in FILES:
        assert (out / f"{name}.parquet").exists()
    orders = pd.read_parquet(out / "orders.parquet")
    assert orders["order_date"].max() <= dt.date(2025, 6, 29)


def test_bad_sizes_are_rejected_with_the_argument_named(tmp_path):
    with pytest.raises(ValueError, match="n_products"):
        demo.write_demo(tmp_path, n_products=0)
