"""Point-in-time features and churn labels: nothing after the cut-off leaks in; bad input fails clearly."""

import numpy as np
import pandas as pd
import pytest

from loyalty.churn import ChurnDefinition, cancellation_labels, churn_labels
from loyalty.errors import DataValidationError, SpecError
from loyalty.data.features import build_features

CUTOFF = pd.Timestamp("1997-09-30")


def _with_returns(log: pd.DataFrame) -> pd.DataFrame:
    """The log plus a margin column and a few return rows, so every feature is exercised."""
    rng = np.random.default_rng(0)
    log = log.assign(margin=log["amount"] * 0.3)
    returns = log.sample(200, random_state=1).assign(amount=lambda f: -f["amount"] * rng.uniform(0.1, 0.5, 200))
    return pd.concat([log, returns], ignore_index=True)


def test_features_ignore_every_row_after_the_cutoff(cdnow_sample):
    log = _with_returns(cdnow_sample)
    before = build_features(log, CUTOFF)
    after = log["timestamp"] > CUTOFF
    rng = np.random.default_rng(42)
    shuffled = log.copy()
    # shuffle the post-cut-off rows' customers, amounts and margins among themselves, and move them in time
    for column in ("customer_id", "amount", "margin"):
        shuffled.loc[after, column] = rng.permutation(shuffled.loc[after, column].to_numpy())
    shuffled.loc[after, "timestamp"] = CUTOFF + pd.to_timedelta(rng.integers(1, 400, after.sum()), unit="D")
    extra = log.loc[after].head(50).assign(customer_id="99999", amount=1e6)  # a new customer after the cut-off
    shuffled = pd.concat([shuffled, extra]).sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(build_features(shuffled, CUTOFF), before)
    pd.testing.assert_frame_equal(build_features(log.loc[~after], CUTOFF), before)


def test_features_match_hand_computed_values():
    log = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b"],
        "timestamp": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-03-01", "2020-06-01", "2020-05-15"]),
        "amount": [10.0, 5.0, 20.0, -4.0, 7.0],
        "margin": [3.0, 1.0, 6.0, 0.0, 2.0],
    })
    f = build_features(log, "2020-04-30", windows=(30, 90))
    assert list(f.index) == ["a"]  # b's first purchase and a's return are after the date
    a = f.loc["a"]
    assert a["frequency"] == 1 and a["n_transactions"] == 3
    assert a["recency_days"] == 60 and a["tenure_days"] == 120
    assert a["spend_total"] == 35 and a["spend_90d"] == 20 and a["n_purchases_30d"] == 0
    assert a["ipt_mean_days"] == 60 and np.isnan(a["ipt_std_days"])
    assert a["margin_share"] == pytest.approx(10 / 35)
    assert a["returns_share"] == 0.0  # the return is after the date
    assert a["spend_trend_per_year"] == pytest.approx((20 - 15) / 60 * 365.25)


def test_returns_frame_gives_the_returns_share():
    log = pd.DataFrame({"customer_id": [1, 1], "timestamp": pd.to_datetime(["2020-01-01", "2020-02-01"]),
                        "amount": [40.0, 60.0]})
    returns = pd.DataFrame({"customer_id": [1], "timestamp": pd.to_datetime(["2020-02-02"]), "amount": [-25.0]})
    assert np.isnan(build_features(log, "2020-03-01").loc[1, "returns_share"])
    assert build_features(log, "2020-03-01", returns=returns).loc[1, "returns_share"] == 0.25


def test_attributes_are_joined_with_text_as_categories(cdnow_sample):
    ids = pd.unique(cdnow_sample["customer_id"])
    attributes = pd.DataFrame({"customer_id": ids, "region": np.where(np.arange(len(ids)) % 2, "north", "south")})
    f = build_features(cdnow_sample, CUTOFF, attributes=attributes)
    assert isinstance(f["region"].dtype, pd.CategoricalDtype)


def test_cutoff_before_first_transaction_is_a_clear_error(cdnow_sample):
    with pytest.raises(DataValidationError, match="before the first transaction"):
        build_features(cdnow_sample, "1996-12-31")
    with pytest.raises(DataValidationError, match="before the first transaction"):
        churn_labels(cdnow_sample, "1996-12-31", 90)


def test_empty_holdout_is_a_clear_error(cdnow_sample):
    with pytest.raises(DataValidationError, match="holdout is empty"):
        churn_labels(cdnow_sample, "1998-06-30", 90)


def test_window_past_the_end_of_the_log_is_a_clear_error(cdnow_sample):
    with pytest.raises(DataValidationError, match="runs past the end of the log"):
        churn_labels(cdnow_sample, "1998-01-31", 365)


def test_mixed_type_customer_ids_are_a_clear_error(cdnow_sample):
    log = cdnow_sample.head(100).copy().astype({"customer_id": object})
    log.loc[log.index[:10], "customer_id"] = 17
    with pytest.raises(DataValidationError, match="mixes value types"):
        build_features(log, CUTOFF)
    with pytest.raises(DataValidationError, match="mixes value types"):
        churn_labels(log, CUTOFF, 30)


def test_labels_mark_customers_without_purchase_in_the_window():
    log = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "d"],
        "timestamp": pd.to_datetime(["2020-01-01", "2020-01-20", "2020-01-05", "2020-01-06", "2020-01-25"]),
        "amount": [1.0, 1.0, 1.0, 1.0, 1.0],
    })
    labels = churn_labels(log, "2020-01-10", 10, "D")
    assert labels.to_dict() == {"a": 0, "b": 1, "c": 1}  # d arrives after the cut-off: not labelled


def test_definition_horizon_units_are_exact():
    assert ChurnDefinition(39, "W").window("1997-09-30")[1] == pd.Timestamp("1998-06-30")
    assert ChurnDefinition(1, "Y").horizon_days == 365.25
    with pytest.raises(SpecError):
        ChurnDefinition(0, "D")


def test_contract_not_renewed_labels():
    subs = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "started_at": pd.to_datetime(["2019-01-01", "2019-06-01", "2019-01-01", "2020-03-01"]),
        "cancelled_at": pd.to_datetime(["2020-02-15", None, "2019-12-01", None]),
    })
    labels = cancellation_labels(subs, "2020-01-31", 1, "M")
    assert labels.to_dict() == {"a": 1, "b": 0}  # c cancelled before, d started after the cut-off
