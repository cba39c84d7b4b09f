"""``summarize`` is the BTYD summary of ``lifetimes`` (issue 2, "must show" 3).

Reference: ``lifetimes.utils.summary_data_from_transaction_data`` and ``calibration_and_holdout_data``
(lifetimes 0.11.3), and Fader & Hardie's published CDNOW calibration summary. Our ``period="D", unit="W"`` is
lifetimes' ``freq="D", freq_multiplier=7``; our ``period="W"`` is its ``freq="W"`` (weeks ending Sunday).

One deliberate deviation: lifetimes' ``monetary_value_holdout`` is the mean of the raw holdout rows, ours
(``monetary_holdout``) the mean of the holdout *period* totals, as for ``monetary_value`` in calibration. The two
agree when a customer has at most one row per period, which is where we compare them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.data import summarize, validate_transactions
from loyalty.errors import DataValidationError

CUTOFF = "1997-09-30"
HOLDOUT_END = "1998-06-30"
LIFETIMES_FREQ = {"D": {"freq": "D", "freq_multiplier": 7}, "W": {"freq": "W"}}
MONEY_TOLERANCE = 1e-9


def lifetimes_summary(lifetimes_utils, transactions, cutoff, period):
    """lifetimes' summary of the log as of ``cutoff`` (in weeks).

    ``summary_data_from_transaction_data`` keeps every row of the period that contains its
    ``observation_period_end`` (the whole cut-off week for ``freq="W"``), while ``summarize`` counts
    ``timestamp <= cutoff`` as ``calibration_and_holdout_data`` does; so lifetimes gets the log as of the cut-off.
    """
    as_of = transactions.loc[transactions["timestamp"] <= pd.Timestamp(cutoff)]
    theirs = lifetimes_utils.summary_data_from_transaction_data(
        as_of, "customer_id", "timestamp", "amount", observation_period_end=cutoff, **LIFETIMES_FREQ[period]
    )
    return theirs.sort_index()


def lifetimes_calibration_holdout(lifetimes_utils, transactions, cutoff, holdout_end, period):
    theirs = lifetimes_utils.calibration_and_holdout_data(
        transactions, "customer_id", "timestamp", cutoff, holdout_end, monetary_value_col="amount",
        **LIFETIMES_FREQ[period],
    )
    return theirs.sort_index()


def assert_same_summary(ours, theirs, pairs):
    """Same customers; counts and durations identical; money to MONEY_TOLERANCE."""
    assert ours.index.tolist() == theirs.index.tolist()
    for our_column, their_column in pairs:
        expected = theirs[their_column].to_numpy()
        actual = ours[our_column].to_numpy()
        if "monetary" in our_column:
            np.testing.assert_allclose(actual, expected, rtol=0, atol=MONEY_TOLERANCE, err_msg=our_column)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=our_column)


SUMMARY_COLUMNS = [("frequency",) * 2, ("recency",) * 2, ("T",) * 2, ("monetary_value",) * 2]
CALIBRATION_COLUMNS = [
    ("frequency", "frequency_cal"),
    ("recency", "recency_cal"),
    ("T", "T_cal"),
    ("monetary_value", "monetary_value_cal"),
    ("frequency_holdout", "frequency_holdout"),
    ("duration_holdout", "duration_holdout"),
]


def one_row_per_customer_period(transactions, period):
    """The log with each customer's rows in one period merged into one (first timestamp, summed amount)."""
    key = transactions["timestamp"].dt.to_period(period)
    merged = transactions.groupby([transactions["customer_id"], key], sort=False).agg(
        timestamp=("timestamp", "min"), amount=("amount", "sum")
    )
    return merged.reset_index(level="customer_id").reset_index(drop=True)


# -- CDNOW ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["D", "W"])
def test_cdnow_sample_summary_equals_lifetimes(lifetimes_utils, cdnow_sample, period):
    ours = summarize(cdnow_sample, cutoff=CUTOFF, period=period, unit="W")
    theirs = lifetimes_summary(lifetimes_utils, cdnow_sample, CUTOFF, period)
    assert_same_summary(ours, theirs, SUMMARY_COLUMNS)


@pytest.mark.parametrize("period", ["D", "W"])
def test_cdnow_full_summary_equals_lifetimes(lifetimes_utils, cdnow_full, period):
    ours = summarize(cdnow_full, cutoff=CUTOFF, period=period, unit="W")
    theirs = lifetimes_summary(lifetimes_utils, cdnow_full, CUTOFF, period)
    assert len(ours) == 23_570
    assert_same_summary(ours, theirs, SUMMARY_COLUMNS)


@pytest.mark.parametrize("period", ["D", "W"])
@pytest.mark.parametrize("which", ["sample", "full"])
def test_cdnow_calibration_and_holdout_equal_lifetimes(lifetimes_utils, cdnow_sample, cdnow_full, which, period):
    transactions = cdnow_sample if which == "sample" else cdnow_full
    ours = summarize(transactions, cutoff=CUTOFF, period=period, unit="W", holdout_end=HOLDOUT_END)
    theirs = lifetimes_calibration_holdout(lifetimes_utils, transactions, CUTOFF, HOLDOUT_END, period)
    assert_same_summary(ours, theirs, CALIBRATION_COLUMNS)


@pytest.mark.parametrize("period", ["D", "W"])
def test_cdnow_holdout_spend_equals_lifetimes_with_one_row_per_customer_period(lifetimes_utils, cdnow_full, period):
    transactions = one_row_per_customer_period(cdnow_full, period)
    cutoff = "1997-09-28"  # a Sunday, so no week is split between calibration and holdout
    ours = summarize(transactions, cutoff=cutoff, period=period, unit="W", holdout_end=HOLDOUT_END)
    theirs = lifetimes_calibration_holdout(lifetimes_utils, transactions, cutoff, HOLDOUT_END, period)
    assert (ours["frequency_holdout"] > 0).sum() > 1000
    assert_same_summary(ours, theirs, CALIBRATION_COLUMNS + [("monetary_holdout", "monetary_value_holdout")])


def test_cdnow_sample_summary_reproduces_the_published_file(cdnow_sample, cdnow_published_summary):
    ours = summarize(cdnow_sample, cutoff=CUTOFF, period="D", unit="W")
    # the published ID numbers customers in order of their first row in the sample file
    sample_id = pd.Series(np.arange(1, ours.shape[0] + 1), index=cdnow_sample["customer_id"].drop_duplicates())
    ours = ours.set_index(sample_id.reindex(ours.index).to_numpy()).sort_index()
    published = cdnow_published_summary.sort_index()
    assert ours.index.tolist() == published.index.tolist()
    np.testing.assert_array_equal(ours["frequency"].to_numpy(), published["frequency"].to_numpy())
    # the file rounds weeks and dollars to 2 decimals
    for column in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[column], published[column], rtol=0, atol=0.005 + 1e-12, err_msg=column)


# -- a synthetic log with returns and duplicates ----------------------------------------------------------------


def synthetic_log(seed: int = 7, n_customers: int = 60) -> pd.DataFrame:
    """Intraday purchases in orders of 1-3 rows, some partly or fully returned, some rows recorded twice."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    order = 0
    for customer in range(n_customers):
        first = rng.integers(0, 60)
        for _ in range(rng.integers(1, 8)):
            order += 1
            when = start + pd.Timedelta(days=int(first + rng.integers(0, 150)), minutes=int(rng.integers(0, 1440)))
            lines = rng.uniform(1, 80, size=rng.integers(1, 4)).round(2)
            rows += [(f"c{customer:03d}", when, amount, f"o{order}") for amount in lines]
            if rng.random() < 0.2:  # a return a few days later, of part or all of the order
                share = 1.0 if rng.random() < 0.3 else rng.uniform(0.1, 0.9)
                later = when + pd.Timedelta(days=int(rng.integers(0, 10)))
                rows.append((f"c{customer:03d}", later, -round(share * lines.sum(), 2), f"o{order}"))
    log = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "order_id"])
    log = pd.concat([log, log.sample(frac=0.05, random_state=seed)]).sort_values("timestamp", kind="stable")
    return log.reset_index(drop=True)


@pytest.fixture(scope="module")
def synthetic_clean():
    result = validate_transactions(synthetic_log())
    # the log exercises what it is meant to: duplicates, returns netted and orders cancelled by returns
    assert result.accounting.rejected["duplicate_row"] > 0
    assert result.accounting.rejected["fully_returned"] > 0
    assert result.accounting.returns_netted > 0
    return result.transactions


SYNTHETIC_CUTOFF = "2024-04-14 12:00"
SYNTHETIC_HOLDOUT_END = "2024-07-31"


@pytest.mark.parametrize("period", ["D", "W"])
def test_synthetic_summary_after_netting_equals_lifetimes_on_the_same_clean_log(
    lifetimes_utils, synthetic_clean, period
):
    ours = summarize(synthetic_clean, cutoff=SYNTHETIC_CUTOFF, period=period, unit="W")
    theirs = lifetimes_summary(lifetimes_utils, synthetic_clean, SYNTHETIC_CUTOFF, period)
    assert (ours["frequency"] > 0).sum() > 20
    assert_same_summary(ours, theirs, SUMMARY_COLUMNS)


@pytest.mark.parametrize("period", ["D", "W"])
def test_synthetic_calibration_and_holdout_equal_lifetimes_on_the_same_clean_log(
    lifetimes_utils, synthetic_clean, period
):
    ours = summarize(
        synthetic_clean, cutoff=SYNTHETIC_CUTOFF, period=period, unit="W", holdout_end=SYNTHETIC_HOLDOUT_END
    )
    theirs = lifetimes_calibration_holdout(
        lifetimes_utils, synthetic_clean, SYNTHETIC_CUTOFF, SYNTHETIC_HOLDOUT_END, period
    )
    assert_same_summary(ours, theirs, CALIBRATION_COLUMNS)


# -- definitions on hand-made logs ------------------------------------------------------------------------------


def hand_log(rows):
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).assign(
        timestamp=lambda f: pd.to_datetime(f["timestamp"], format="ISO8601")
    )


def test_purchases_on_one_day_count_as_one_transaction_with_their_total():
    log = hand_log([
        ("a", "2024-01-01 09:00", 10.0),
        ("a", "2024-01-03 09:00", 5.0),
        ("a", "2024-01-03 17:00", 7.0),
        ("a", "2024-01-08 12:00", 30.0),
    ])
    summary = summarize(log, cutoff="2024-01-15", period="D")
    assert summary.loc["a"].to_dict() == {"frequency": 2.0, "recency": 7.0, "T": 14.0, "monetary_value": 21.0}


def test_holdout_spend_is_the_mean_of_holdout_period_totals():
    log = hand_log([
        ("a", "2024-01-01", 10.0),
        ("a", "2024-01-20 09:00", 10.0),
        ("a", "2024-01-20 18:00", 20.0),
        ("a", "2024-01-25", 30.0),
        ("b", "2024-01-02", 5.0),
    ])
    summary = summarize(log, cutoff="2024-01-15", period="D", holdout_end="2024-01-31")
    assert summary.loc["a", "frequency_holdout"] == 2.0
    assert summary.loc["a", "monetary_holdout"] == 30.0  # (10 + 20 on the 20th, 30 on the 25th) / 2 days
    assert summary.loc["b", ["frequency_holdout", "monetary_holdout"]].tolist() == [0.0, 0.0]
    assert summary["duration_holdout"].tolist() == [16.0, 16.0]


def test_customers_first_seen_in_the_holdout_are_not_in_the_summary():
    log = hand_log([("a", "2024-01-01", 10.0), ("b", "2024-01-20", 5.0)])
    summary = summarize(log, cutoff="2024-01-15", period="D", holdout_end="2024-01-31")
    assert summary.index.tolist() == ["a"]


def test_transactions_later_in_the_cutoffs_week_are_not_counted():
    log = hand_log([("a", "2024-01-01", 10.0), ("a", "2024-01-03", 5.0), ("a", "2024-01-12", 7.0)])
    summary = summarize(log, cutoff="2024-01-10", period="W")  # a Wednesday; the 12th is a Friday of that week
    assert summary.loc["a"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 1.0, "monetary_value": 0.0}


def test_margin_columns_follow_the_amount_definitions():
    log = hand_log([("a", "2024-01-01", 10.0), ("a", "2024-01-02", 20.0), ("a", "2024-01-03", 40.0)])
    log["margin"] = [5.0, 4.0, 10.0]
    summary = summarize(log, cutoff="2024-01-10", period="D")
    assert summary.loc["a", "margin_value"] == 7.0
    assert summary.loc["a", "margin_rate"] == pytest.approx(19.0 / 70.0, rel=1e-15)


def test_summary_records_its_settings():
    log = hand_log([("a", "2024-01-01", 10.0)])
    summary = summarize(log, cutoff="2024-01-10", period="D", unit="W")
    assert summary.attrs == {"period": "D", "unit": "W", "cutoff": "2024-01-10 00:00:00", "holdout_end": None}


# -- errors ---------------------------------------------------------------------------------------------------


def test_a_holdout_ending_before_the_cutoff_is_an_error():
    log = hand_log([("a", "2024-01-01", 10.0)])
    with pytest.raises(DataValidationError, match="holdout_end 2024-01-10 must be after cutoff 2024-01-10"):
        summarize(log, cutoff="2024-01-10", holdout_end="2024-01-10")


def test_a_cutoff_before_every_transaction_is_an_error_naming_the_first_date():
    log = hand_log([("a", "2024-01-05", 10.0)])
    with pytest.raises(DataValidationError, match="no transaction on or before the cutoff 2024-01-01.*2024-01-05"):
        summarize(log, cutoff="2024-01-01")


def test_text_timestamps_are_an_error_pointing_to_validation():
    log = pd.DataFrame({"customer_id": ["a"], "timestamp": ["2024-01-01"], "amount": [1.0]})
    with pytest.raises(DataValidationError, match="column 'timestamp' must be datetime64.*validate_transactions"):
        summarize(log, cutoff="2024-01-10")


@pytest.mark.parametrize("column", ["customer_id", "timestamp"])  # without amount: purchase events (no spend)
def test_a_missing_column_is_an_error_naming_it(column):
    log = hand_log([("a", "2024-01-01", 10.0)]).drop(columns=column)
    with pytest.raises(DataValidationError, match=f"Required column '{column}' missing"):
        summarize(log, cutoff="2024-01-10")


def test_an_unknown_period_is_an_error_listing_the_choices():
    log = hand_log([("a", "2024-01-01", 10.0)])
    with pytest.raises(DataValidationError, match=r"period must be one of \['D', 'W', 'h'\], got 'M'"):
        summarize(log, cutoff="2024-01-10", period="M")


def test_a_missing_customer_id_is_an_error_counting_them():
    log = hand_log([("a", "2024-01-01", 10.0), ("b", "2024-01-02", 5.0), ("c", "2024-01-03", 5.0)])
    log.loc[1, "customer_id"] = None
    with pytest.raises(DataValidationError, match="column 'customer_id' has 1 missing values of 3 rows"):
        summarize(log, cutoff="2024-01-10")


@pytest.mark.parametrize("resolution", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("period", ["h", "D", "W"])
def test_the_timestamp_resolution_does_not_change_the_summary(resolution, period):
    log = hand_log([
        ("a", "2024-01-01 09:30", 10.0),
        ("a", "2024-01-03 23:59:59", 5.0),
        ("a", "2024-01-04 00:00:00", 7.0),
        ("b", "2023-12-31 23:00", 3.0),
        ("b", "2024-01-08 12:00", 30.0),
    ])
    reference = summarize(log, cutoff="2024-01-15", period=period)
    log["timestamp"] = log["timestamp"].astype(f"datetime64[{resolution}]")
    pd.testing.assert_frame_equal(summarize(log, cutoff="2024-01-15", period=period), reference, check_exact=True)


def test_the_summary_does_not_keep_the_logs_id_column_in_memory():
    """The customer index holds the customers' ids in memory of its own, not views into the log's Arrow id column
    (which would keep the whole column alive as long as the summary: a log's worth of ids per chunk when an
    engine summarises a large log chunk by chunk)."""
    import pyarrow as pa

    ids = pa.array([f"customer-{i // 50:06d}" for i in range(50_000)])  # 1,000 customers, 50 rows each
    log = pa.table({"customer_id": ids, "timestamp": pa.array(np.full(50_000, np.datetime64("2024-01-02", "us"))),
                    "amount": pa.array(np.ones(50_000))}).to_pandas()
    summary = summarize(log, "2024-03-31")
    assert len(summary) == 1_000
    index = summary.index.array._pa_array
    index_bytes = sum(buffer.size for chunk in index.chunks for buffer in chunk.buffers() if buffer is not None)
    assert index_bytes < ids.nbytes / 10  # the 1,000 ids, not the 50,000 rows'
