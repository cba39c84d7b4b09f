"""The simulated world: determinism, persistence, and the loyalty.data transaction contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loyalty.cli import main
from loyalty.simulate import FORMAT_VERSION, SimulationConfig, World, simulate

FILES = ("customers.parquet", "transactions.parquet", "assignments.parquet", "truth.parquet", "manifest.json")
SMALL = SimulationConfig(n_customers=3000, chunk_size=1000)


@pytest.fixture(scope="module")
def world():
    return simulate(SMALL, seed=11)


def _bytes(directory):
    return {name: (directory / name).read_bytes() for name in FILES}


def test_same_seed_and_config_give_byte_identical_files(tmp_path, world):
    world.save(tmp_path / "a")
    simulate(SMALL, seed=11).save(tmp_path / "b")
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")


def test_different_seeds_give_different_worlds(tmp_path, world):
    world.save(tmp_path / "a")
    simulate(SMALL, seed=12).save(tmp_path / "b")
    first, second = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert all(first[name] != second[name] for name in FILES)


def test_cli_runs_are_byte_identical(tmp_path):
    for name in ("a", "b"):
        assert main(["simulate", "--customers", "2500", "--seed", "5", "--out", str(tmp_path / name),
                     "--chunk-size", "1000", "--no-progress"]) == 0
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")


def test_cli_output_has_the_content_of_the_in_memory_world(tmp_path):
    config = SimulationConfig(n_customers=2500, chunk_size=1000)
    main(["simulate", "--customers", "2500", "--seed", "5", "--out", str(tmp_path / "w"), "--chunk-size", "1000",
          "--no-progress"])
    loaded, direct = World.load(tmp_path / "w"), simulate(config, seed=5)
    for name in ("customers", "transactions", "assignments", "truth"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(direct, name))


def test_save_load_round_trip(tmp_path, world):
    world.save(tmp_path / "w")
    loaded = World.load(tmp_path / "w")
    for name in ("customers", "transactions", "assignments", "truth"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(world, name))
    assert loaded.config == world.config and loaded.seed == world.seed and loaded.counts == world.counts


def test_manifest_records_config_seed_and_version(tmp_path, world):
    world.save(tmp_path / "w")
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["seed"] == 11
    assert manifest["format_version"] == FORMAT_VERSION
    assert SimulationConfig.from_dict(manifest["config"]) == SMALL
    assert manifest["counts"]["transactions"] == len(world.transactions)


def test_save_replaces_an_existing_world_and_leaves_no_temporary_files(tmp_path, world):
    simulate(SimulationConfig(n_customers=100), seed=1).save(tmp_path / "w")
    world.save(tmp_path / "w")
    assert len(World.load(tmp_path / "w").customers) == len(world.customers)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_transactions_follow_the_data_contract(world):
    tx = world.transactions
    assert list(tx.columns) == ["customer_id", "timestamp", "amount", "margin", "order_id", "discount"]
    assert tx["timestamp"].dtype == "datetime64[ns]"
    assert pd.api.types.is_string_dtype(tx["customer_id"]) and pd.api.types.is_string_dtype(tx["order_id"])
    assert tx["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert set(tx["customer_id"]) <= set(world.customers["customer_id"])
    assert tx["timestamp"].max() < world.horizon_end


def test_clean_log_has_at_most_one_purchase_per_customer_and_day(world):
    clean = world.transactions.drop_duplicates()
    purchases = clean[clean["amount"] > 0]
    days = purchases["timestamp"].dt.floor("D")
    assert not pd.DataFrame({"c": purchases["customer_id"], "d": days}).duplicated().any()


def test_returns_net_into_their_order_and_duplicates_are_exact_copies():
    config = SimulationConfig(n_customers=3000)
    noisy = simulate(config, seed=4).transactions
    clean = simulate(config.replace(noise=config.noise.__class__(returns=False, duplicates=False)), seed=4).transactions
    returns = noisy[noisy["amount"] < 0]
    assert len(returns) > 0 and (returns["margin"] < 0).all()
    assert returns["order_id"].isin(clean["order_id"]).all()
    assert noisy.duplicated().sum() > 0
    netted = noisy.drop_duplicates().groupby("order_id")[["amount", "margin", "discount"]].sum()
    expected = clean.set_index("order_id")[["amount", "margin", "discount"]].sort_index()
    pd.testing.assert_frame_equal(netted.sort_index(), expected, rtol=1e-9, atol=1e-9)


def test_campaign_settings_do_not_change_the_history():
    config = SimulationConfig(n_customers=2000)
    other = config.replace(campaign=config.campaign.__class__(propensity=0.2, discount_rate=0.3))
    first, second = simulate(config, seed=3), simulate(other, seed=3)
    pd.testing.assert_frame_equal(first.history(), second.history())
    assert not first.assignments["treatment"].equals(second.assignments["treatment"])


def test_customers_carry_covariates_but_no_latent_traits(world):
    assert list(world.customers.columns) == ["customer_id", "acquired_at", "channel", "region", "category_mix",
                                             "tenure_band", "email_engagement"]
    assert len(world.customers) == len(world.assignments) == len(world.truth) == SMALL.n_customers


def test_covariates_are_correlated_with_latent_traits():
    world = simulate(SimulationConfig(n_customers=20_000), seed=2)
    log_rate = np.log(world.truth["lambda"])
    app_users = world.customers["channel"] == "app"
    assert log_rate[app_users].mean() > log_rate[~app_users].mean() + 0.3
    assert np.corrcoef(world.customers["email_engagement"], log_rate)[0, 1] > 0.2


def test_validation_recovers_the_clean_history():
    data = pytest.importorskip("loyalty.data")
    config = SimulationConfig(n_customers=5000)
    noisy = simulate(config, seed=4)
    clean = simulate(config.replace(noise=config.noise.__class__(returns=False, duplicates=False)), seed=4)
    cutoff = noisy.t0 - pd.Timedelta(1, "ns")
    validated = data.validate_transactions(noisy.transactions).transactions
    pd.testing.assert_frame_equal(data.summarize(validated, cutoff), data.summarize(clean.transactions, cutoff),
                                  check_index_type=False, rtol=1e-9)


def test_acquisition_is_the_first_purchase(world):
    first = world.transactions.groupby("customer_id")["timestamp"].min()
    acquired = world.customers.set_index("customer_id")["acquired_at"]
    assert (first.to_numpy() == acquired.loc[first.index].to_numpy()).all()
    assert (acquired < world.t0 - pd.Timedelta(days=365)).all()
