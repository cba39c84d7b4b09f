"""Point-in-time features on DuckDB (SQL aggregates over a file) equal the pandas features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.errors import DataValidationError
from loyalty.data.features import build_features


def simulated_log(seed: int = 5, n_customers: int = 400) -> pd.DataFrame:
    """Purchases at any time of day (several on some days), margins, discounts and partial returns."""
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 12, n_customers)
    customer = np.repeat([f"K{c:04d}" for c in range(n_customers)], n)
    start = pd.Timestamp("2022-01-01")
    ts = start + pd.to_timedelta(rng.integers(0, 700 * 86400, len(customer)), unit="s")
    amount = np.round(rng.gamma(2.0, 25.0, len(customer)), 2)
    amount[rng.random(len(customer)) < 0.03] = 0.0  # zero-price purchases
    log = pd.DataFrame({"customer_id": customer, "timestamp": ts, "amount": amount,
                        "margin": np.round(amount * rng.uniform(0.1, 0.4, len(customer)), 2),
                        "discount": np.round(amount * rng.uniform(0, 0.2, len(customer)), 2)})
    same_day = log.sample(150, random_state=seed).assign(amount=lambda f: np.round(f["amount"] / 3, 2))
    returns = log.sample(80, random_state=seed + 1).assign(amount=lambda f: -np.round(f["amount"] / 2, 2))
    return pd.concat([log, same_day, returns], ignore_index=True).sample(frac=1.0, random_state=seed)


def assert_same_features(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    """Counts and durations bit for bit; sums, means and slopes to 1e-9 (sums in another order)."""
    assert list(actual.columns) == list(expected.columns)
    assert list(actual.index) == list(expected.index)
    assert (actual.dtypes == float).all()  # noqa: E721 (a pandas Series comparison, not a type check)
    exact = [c for c in expected.columns
             if c.startswith(("n_purchases", "recency", "tenure", "frequency", "n_transactions", "ipt_last"))]
    for column in expected.columns:
        if column in exact:
            np.testing.assert_array_equal(actual[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
        else:
            np.testing.assert_allclose(actual[column].to_numpy(), expected[column].to_numpy(), rtol=1e-9,
                                       atol=1e-9, err_msg=column)
    assert actual.attrs == expected.attrs


@pytest.fixture(scope="module")
def log_file(tmp_path_factory):
    log = simulated_log()
    path = tmp_path_factory.mktemp("features") / "log.parquet"
    log.to_parquet(path)
    return log, path


@pytest.mark.parametrize("as_of", ["2022-06-30", "2023-01-15 13:30", "2024-12-31"])
def test_duckdb_features_of_a_file_equal_the_pandas_features(log_file, as_of):
    log, path = log_file
    assert_same_features(build_features(log, as_of), build_features(path, as_of))


def test_duckdb_features_with_other_windows_and_a_separate_returns_log(log_file, tmp_path):
    log, path = log_file
    returns = log[log["amount"] < 0].assign(amount=lambda f: -f["amount"])
    purchases = log[log["amount"] >= 0]
    purchases.to_parquet(tmp_path / "purchases.parquet")
    expected = build_features(purchases, "2023-03-31", windows=(7, 45), returns=returns)
    actual = build_features(tmp_path / "purchases.parquet", "2023-03-31", windows=(7, 45), returns=returns)
    assert_same_features(expected, actual)
    assert actual["returns_share"].notna().any()


def test_duckdb_features_without_returns_leave_the_returns_share_unknown(log_file, tmp_path):
    log, _ = log_file
    purchases = log[log["amount"] >= 0].drop(columns=["margin", "discount"])
    purchases.to_parquet(tmp_path / "purchases.parquet")
    actual = build_features(tmp_path / "purchases.parquet", "2023-03-31", engine="duckdb")
    assert_same_features(build_features(purchases, "2023-03-31"), actual)
    assert actual["returns_share"].isna().all() and "margin_share" not in actual.columns


def test_duckdb_features_join_the_attributes_like_pandas(log_file):
    log, path = log_file
    ids = log["customer_id"].drop_duplicates().sort_values()
    attributes = pd.DataFrame({"customer_id": ids, "region": np.where(ids.str[-1] < "5", "north", "south")})
    expected = build_features(log, "2023-06-30", attributes=attributes)
    actual = build_features(path, "2023-06-30", attributes=attributes)
    pd.testing.assert_series_equal(actual["region"], expected["region"])


def test_duckdb_features_refuse_an_as_of_before_the_first_purchase_and_unvalidated_logs(log_file, tmp_path):
    log, path = log_file
    with pytest.raises(DataValidationError, match="before the first transaction"):
        build_features(path, "2021-01-01")
    log.assign(timestamp=log["timestamp"].astype(str)).to_parquet(tmp_path / "text.parquet")
    with pytest.raises(DataValidationError, match="validate_transactions"):
        build_features(tmp_path / "text.parquet", "2023-01-01")
    with pytest.raises(DataValidationError, match="engine must be"):
        build_features(log, "2023-01-01", engine="spark")
