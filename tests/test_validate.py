"""The transaction data contract (DESIGN.md section 2; issue 2, "must show" 5).

Every bad-input case ends either as a rejected row with a named reason or as an error naming the column, the
count and an example value; and every run accounts for every row: rows read = rows used + rows rejected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.data import REJECT_REASONS, read_transactions, validate_transactions
from loyalty.errors import DataValidationError


def log(**columns) -> pd.DataFrame:
    """A small raw log; ``timestamp`` defaults to one date for every row."""
    n = len(next(iter(columns.values())))
    columns.setdefault("timestamp", ["2024-01-02"] * n)
    return pd.DataFrame(columns)


def assert_accounts_for_every_row(result, rows_read: int) -> None:
    accounting = result.accounting
    assert accounting.rows_read == rows_read
    assert accounting.rows_read == accounting.rows_used + accounting.rows_rejected
    assert accounting.rows_used == len(result.transactions) + accounting.returns_netted
    assert accounting.rows_rejected == len(result.rejects)
    assert accounting.rejected == result.rejects["reason"].value_counts().to_dict()


def reasons_by_row(result) -> dict[int, str]:
    return dict(zip(result.rejects["row"], result.rejects["reason"]))


# -- rejected rows ------------------------------------------------------------------------------------------


def test_missing_and_blank_customer_ids_are_rejected_with_reason():
    raw = log(customer_id=["a", None, "", "   ", "b"], amount=[1.0, 2.0, 3.0, 4.0, 5.0])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "missing_customer_id", 2: "missing_customer_id", 3: "missing_customer_id"}
    assert result.transactions["customer_id"].tolist() == ["a", "b"]
    assert_accounts_for_every_row(result, 5)


def test_missing_numeric_customer_ids_are_rejected_and_the_rest_kept_as_integers():
    raw = log(customer_id=[1.0, np.nan, 3.0], amount=[1.0, 2.0, 3.0])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "missing_customer_id"}
    assert result.transactions["customer_id"].tolist() == [1, 3]
    assert_accounts_for_every_row(result, 3)


def test_missing_timestamps_are_rejected_with_reason():
    raw = log(customer_id=["a", "b", "c"], timestamp=["2024-01-02", None, ""], amount=[1.0, 2.0, 3.0])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "missing_timestamp", 2: "missing_timestamp"}
    assert_accounts_for_every_row(result, 3)


def test_missing_timestamps_in_a_datetime_column_are_rejected_with_reason():
    raw = log(customer_id=["a", "b"], timestamp=pd.to_datetime(["2024-01-02", None]), amount=[1.0, 2.0])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "missing_timestamp"}
    assert_accounts_for_every_row(result, 2)


def test_unparseable_timestamps_are_rejected_with_reason():
    raw = log(
        customer_id=["a", "b", "c", "d"],
        timestamp=["2024-01-02", "not a date", "2024-13-45", "2024-01-03 10:15"],
        amount=[1.0, 2.0, 3.0, 4.0],
    )
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "unparseable_timestamp", 2: "unparseable_timestamp"}
    assert result.transactions["timestamp"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03 10:15")]
    assert_accounts_for_every_row(result, 4)


def test_compact_dates_are_parsed_and_a_bad_one_among_them_rejected():
    raw = log(customer_id=["a", "a", "a"], timestamp=["19970101", "19970102", "1997x"], amount=[1.0, 2.0, 3.0])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {2: "unparseable_timestamp"}
    assert result.transactions["timestamp"].tolist() == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-01-02")]
    assert_accounts_for_every_row(result, 3)


def test_timestamps_after_the_cutoff_are_rejected_with_reason():
    raw = log(
        customer_id=["a", "a", "b"],
        timestamp=["2024-01-31", "2024-01-31 00:00:01", "2024-02-01"],
        amount=[1.0, 2.0, 3.0],
    )
    result = validate_transactions(raw, cutoff="2024-01-31 00:00:00")
    assert reasons_by_row(result) == {1: "after_cutoff", 2: "after_cutoff"}
    assert_accounts_for_every_row(result, 3)


def test_a_date_only_cutoff_includes_that_whole_day():
    raw = log(
        customer_id=["a", "a", "a", "b"],
        timestamp=["2024-01-31", "2024-01-31 12:00:00", "2024-01-31 23:59:59.999999", "2024-02-01"],
        amount=[1.0, 2.0, 3.0, 4.0],
    )
    result = validate_transactions(raw, cutoff="2024-01-31")
    assert reasons_by_row(result) == {3: "after_cutoff"}
    assert_accounts_for_every_row(result, 4)


def test_non_numeric_and_non_finite_amounts_are_rejected_with_reason():
    raw = log(
        customer_id=["a", "b", "c", "d", "e", "f"],
        amount=[1.0, "ten", np.nan, np.inf, None, "2.5"],
    )
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {r: "invalid_amount" for r in (1, 2, 3, 4)}
    assert result.transactions["amount"].tolist() == [1.0, 2.5]
    assert_accounts_for_every_row(result, 6)


def test_non_numeric_margins_are_rejected_with_reason():
    raw = log(customer_id=["a", "b"], amount=[10.0, 20.0], margin=[3.0, "n/a"])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "invalid_margin"}
    assert_accounts_for_every_row(result, 2)


def test_exact_duplicate_rows_are_rejected_keeping_the_first_copy():
    raw = log(customer_id=["a", "a", "a", "b"], amount=[5.0, 5.0, 6.0, 5.0])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "duplicate_row"}
    assert result.transactions["amount"].tolist() == [5.0, 6.0, 5.0]
    assert_accounts_for_every_row(result, 4)


def test_exact_duplicate_rows_are_kept_when_asked():
    raw = log(customer_id=["a", "a", "b"], amount=[5.0, 5.0, 5.0])
    result = validate_transactions(raw, duplicates="keep")
    assert result.rejects.empty
    assert len(result.transactions) == 3
    assert_accounts_for_every_row(result, 3)


# -- returns --------------------------------------------------------------------------------------------------


def test_a_partial_return_is_netted_into_its_order():
    raw = log(
        customer_id=["a", "a", "b"],
        timestamp=["2024-01-02", "2024-01-09", "2024-01-02"],
        amount=[10.0, -4.0, 5.0],
        order_id=["o1", "o1", "o2"],
    )
    result = validate_transactions(raw)
    assert result.rejects.empty
    assert result.transactions["amount"].tolist() == [6.0, 5.0]
    assert result.transactions["timestamp"].tolist() == [pd.Timestamp("2024-01-02")] * 2
    assert result.accounting.returns_netted == 1
    assert_accounts_for_every_row(result, 3)


def test_a_return_is_spread_over_its_orders_rows_in_proportion_to_their_amounts():
    raw = log(
        customer_id=["a", "a", "a"],
        amount=[30.0, 10.0, -8.0],
        margin=[9.0, 3.0, -2.0],
        order_id=["o1", "o1", "o1"],
    )
    result = validate_transactions(raw)
    assert result.transactions["amount"].tolist() == [24.0, 8.0]
    assert result.transactions["margin"].tolist() == [7.5, 2.5]
    assert_accounts_for_every_row(result, 3)


def test_a_fully_returned_order_is_rejected_with_its_return():
    raw = log(
        customer_id=["a", "a", "a"],
        timestamp=["2024-01-02", "2024-01-02", "2024-01-05"],
        amount=[10.0, 7.0, -10.0],
        order_id=["o1", "o2", "o1"],
    )
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {0: "fully_returned", 2: "fully_returned"}
    assert result.transactions["order_id"].tolist() == ["o2"]
    assert result.accounting.returns_netted == 0
    assert_accounts_for_every_row(result, 3)


def test_without_order_ids_a_return_is_netted_into_the_same_customers_purchases_that_day():
    raw = log(
        customer_id=["a", "a", "b", "a"],
        timestamp=["2024-01-02 09:00", "2024-01-03 09:00", "2024-01-02 10:00", "2024-01-02 18:00"],
        amount=[10.0, 20.0, 5.0, -4.0],
    )
    result = validate_transactions(raw)
    assert result.rejects.empty
    assert result.transactions["amount"].tolist() == [6.0, 20.0, 5.0]
    assert result.accounting.returns_netted == 1
    assert_accounts_for_every_row(result, 4)


def test_a_return_without_order_id_falls_back_to_the_same_customer_and_day():
    raw = log(customer_id=["a", "a"], amount=[10.0, -4.0], order_id=["o1", None])
    result = validate_transactions(raw)
    assert result.transactions["amount"].tolist() == [6.0]
    assert result.accounting.returns_netted == 1
    assert_accounts_for_every_row(result, 2)


def test_returns_with_no_purchase_to_net_into_are_rejected_as_unmatched():
    raw = log(
        customer_id=["a", "a", "b"],
        timestamp=["2024-01-02", "2024-01-03", "2024-01-02"],
        amount=[10.0, -4.0, -3.0],
    )
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "unmatched_return", 2: "unmatched_return"}
    assert result.transactions["amount"].tolist() == [10.0]
    assert_accounts_for_every_row(result, 3)


def test_a_return_netted_by_order_goes_with_its_purchase_when_a_later_same_day_return_cancels_it():
    raw = log(customer_id=["a", "a", "a", "b"], amount=[10.0, -4.0, -6.0, 5.0], order_id=["o1", "o1", None, "o2"])
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {0: "fully_returned", 1: "fully_returned", 2: "fully_returned"}
    assert result.accounting.returns_netted == 0
    assert_accounts_for_every_row(result, 4)


def test_a_customer_with_a_partial_return_is_not_a_zero_spend_customer():
    raw = log(customer_id=["a", "a", "b"], amount=[10.0, -6.0, 5.0], order_id=["o1", "o1", "o2"])
    result = validate_transactions(raw, zero_spend_customers="reject")
    assert result.rejects.empty
    assert result.transactions["amount"].tolist() == [4.0, 5.0]
    assert result.accounting.notes == {}
    assert_accounts_for_every_row(result, 3)


# -- customers whose net spend is <= 0 --------------------------------------------------------------------------


def test_zero_spend_customers_are_kept_and_counted_by_default():
    raw = log(customer_id=["a", "a", "b"], timestamp=["2024-01-02", "2024-01-03", "2024-01-02"], amount=[0.0, 0.0, 5.0])
    result = validate_transactions(raw)
    assert result.rejects.empty
    assert result.transactions["customer_id"].tolist() == ["a", "a", "b"]
    assert result.accounting.notes == {"zero_spend_customers_kept": 1}
    assert_accounts_for_every_row(result, 3)


def test_zero_spend_customers_are_rejected_when_asked():
    raw = log(customer_id=["a", "a", "b"], timestamp=["2024-01-02", "2024-01-03", "2024-01-02"], amount=[0.0, 0.0, 5.0])
    result = validate_transactions(raw, zero_spend_customers="reject")
    assert reasons_by_row(result) == {0: "customer_net_spend_nonpositive", 1: "customer_net_spend_nonpositive"}
    assert result.transactions["customer_id"].tolist() == ["b"]
    assert_accounts_for_every_row(result, 3)


# -- time zones -----------------------------------------------------------------------------------------------


def test_timestamps_with_different_utc_offsets_are_converted_to_one_zone_and_counted():
    raw = log(
        customer_id=["a", "b", "c"],
        timestamp=["2024-01-01T23:30:00+02:00", "2024-01-01T23:30:00-05:00", "2024-01-01T12:00:00Z"],
        amount=[1.0, 2.0, 3.0],
    )
    result = validate_transactions(raw, timezone="UTC")
    assert result.transactions["timestamp"].tolist() == [
        pd.Timestamp("2024-01-01 21:30"),
        pd.Timestamp("2024-01-02 04:30"),
        pd.Timestamp("2024-01-01 12:00"),
    ]
    assert result.accounting.notes == {"timestamps_converted_to_UTC": 3, "distinct_utc_offsets": 3}
    assert_accounts_for_every_row(result, 3)


def test_aware_timestamp_objects_in_different_zones_are_converted_to_the_requested_zone():
    stamps = pd.Series(
        [pd.Timestamp("2024-07-01 12:00", tz="Europe/Berlin"), pd.Timestamp("2024-07-01 12:00", tz="America/New_York")],
        dtype=object,
    )
    raw = log(customer_id=["a", "b"], timestamp=stamps, amount=[1.0, 2.0])
    result = validate_transactions(raw, timezone="Europe/Berlin")
    assert result.transactions["timestamp"].tolist() == [
        pd.Timestamp("2024-07-01 12:00"),
        pd.Timestamp("2024-07-01 18:00"),
    ]
    assert result.accounting.notes["timestamps_converted_to_Europe/Berlin"] == 2
    assert_accounts_for_every_row(result, 2)


def test_a_tz_aware_datetime_column_is_converted_and_stored_naive():
    stamps = pd.Series(pd.to_datetime(["2024-01-01 23:30", "2024-01-02 08:00"])).dt.tz_localize("Europe/Berlin")
    raw = log(customer_id=["a", "b"], timestamp=stamps, amount=[1.0, 2.0])
    result = validate_transactions(raw)
    assert result.transactions["timestamp"].dt.tz is None
    assert result.transactions["timestamp"].tolist() == [
        pd.Timestamp("2024-01-01 22:30"),
        pd.Timestamp("2024-01-02 07:00"),
    ]
    assert result.accounting.notes == {"timestamps_converted_to_UTC": 2}
    assert_accounts_for_every_row(result, 2)


def test_mixing_aware_and_naive_timestamps_is_an_error_naming_counts_and_examples():
    raw = log(
        customer_id=["a", "b", "c"],
        timestamp=["2024-01-01T23:30:00+02:00", "2024-01-01 10:00", "2024-01-02"],
        amount=[1.0, 2.0, 3.0],
    )
    with pytest.raises(DataValidationError) as error:
        validate_transactions(raw)
    message = str(error.value)
    assert "'timestamp'" in message
    assert "1 row, e.g. '2024-01-01T23:30:00+02:00'" in message
    assert "2 rows, e.g. '2024-01-01 10:00', '2024-01-02'" in message


# -- errors ---------------------------------------------------------------------------------------------------


def test_customer_ids_of_mixed_types_are_an_error_naming_types_counts_and_examples():
    raw = log(customer_id=[17, "17", "b"], amount=[1.0, 2.0, 3.0])
    with pytest.raises(DataValidationError) as error:
        validate_transactions(raw)
    message = str(error.value)
    assert "'customer_id'" in message
    assert "str: 2 rows, e.g. '17', 'b'" in message
    assert "int: 1 row, e.g. 17" in message


def test_fractional_numeric_customer_ids_are_an_error_naming_count_and_example():
    raw = log(customer_id=[1.0, 2.5, 3.0], amount=[1.0, 2.0, 3.0])
    with pytest.raises(DataValidationError, match=r"'customer_id' has 1 non-integer numeric ids, e.g. 2.5"):
        validate_transactions(raw)


def test_numeric_timestamps_are_an_error_naming_the_column_and_an_example():
    raw = log(customer_id=["a", "b"], timestamp=[1704153600, 1704240000], amount=[1.0, 2.0])
    with pytest.raises(DataValidationError, match=r"column 'timestamp' is numeric \(int64\), e.g. 1704153600"):
        validate_transactions(raw)


@pytest.mark.parametrize("column", ["customer_id", "timestamp"])  # without amount: purchase events (no spend)
def test_a_missing_required_column_is_an_error_naming_it(column):
    raw = log(customer_id=["a"], amount=[1.0]).drop(columns=column)
    with pytest.raises(DataValidationError, match=rf"Required column '{column}' missing"):
        validate_transactions(raw)


def test_a_log_with_no_usable_row_is_an_error_naming_each_reason_count_and_example():
    raw = log(customer_id=["a", "b", None], timestamp=["x", "y", "2024-01-02"], amount=[1.0, 2.0, 3.0])
    with pytest.raises(DataValidationError) as error:
        validate_transactions(raw)
    message = str(error.value)
    assert "no usable transaction among 3 rows" in message
    assert "unparseable_timestamp: 2 rows, e.g. {'customer_id': 'a', 'timestamp': 'x', 'amount': 1.0}" in message
    assert "missing_customer_id: 1 row" in message


def test_an_empty_log_is_an_error():
    with pytest.raises(DataValidationError, match="empty"):
        validate_transactions(log(customer_id=[], amount=[]))


@pytest.mark.parametrize("setting", [{"duplicates": "merge"}, {"zero_spend_customers": "drop"}])
def test_unknown_settings_are_an_error_naming_the_value(setting):
    name, value = next(iter(setting.items()))
    with pytest.raises(DataValidationError, match=rf"{name} must be .* got '{value}'"):
        validate_transactions(log(customer_id=["a"], amount=[1.0]), **setting)


# -- column mapping and the accounting line ----------------------------------------------------------------


def test_user_column_names_are_mapped_onto_the_contract():
    raw = pd.DataFrame({"member": ["a", "b"], "sold_at": ["2024-01-02", "2024-01-03"], "revenue": [1.0, 2.0]})
    result = validate_transactions(raw, columns={"customer_id": "member", "timestamp": "sold_at", "amount": "revenue"})
    assert list(result.transactions.columns[:3]) == ["customer_id", "timestamp", "amount"]
    assert result.transactions["amount"].tolist() == [1.0, 2.0]
    assert_accounts_for_every_row(result, 2)


def test_a_mapping_to_a_column_the_data_lacks_is_an_error_naming_it():
    raw = log(customer_id=["a"], amount=[1.0])
    with pytest.raises(DataValidationError, match=r"not in the data: \{'amount': 'revenue'\}"):
        validate_transactions(raw, columns={"amount": "revenue"})


def test_the_accounting_line_states_read_used_and_rejected_by_reason():
    raw = log(customer_id=["a", "a", "a", ""], amount=[10.0, -4.0, 10.0, 1.0], order_id=["o1", "o1", "o1", "o2"])
    result = validate_transactions(raw)
    assert str(result.accounting) == (
        "rows read 4 = used 2 (of which 1 returns netted into their purchases) "
        "+ rejected 2 (missing_customer_id 1, duplicate_row 1)"
    )
    assert set(result.accounting.rejected) <= set(REJECT_REASONS)
    assert_accounts_for_every_row(result, 4)


def test_rejects_keep_the_input_row_as_given_with_its_position():
    raw = log(customer_id=["a", "b"], amount=[1.0, "ten"], note=["x", "y"])
    result = validate_transactions(raw)
    assert result.rejects.to_dict("records") == [
        {"row": 1, "customer_id": "b", "timestamp": "2024-01-02", "amount": "ten", "note": "y",
         "reason": "invalid_amount"}
    ]


# -- reading files --------------------------------------------------------------------------------------------

BAD_CSV = """member,sold_at,revenue,order
a,2024-01-02,10.00,o1
a,2024-01-02,-4.00,o1
,2024-01-03,5.00,o2
b,yesterday,5.00,o3
b,2024-01-04,ten,o4
c,2024-01-05,7.50,o5
"""
MAPPING = {"customer_id": "member", "timestamp": "sold_at", "amount": "revenue", "order_id": "order"}


def test_a_csv_is_read_as_text_so_bad_values_are_rejected_not_coerced(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(BAD_CSV)
    raw = read_transactions(path, columns=MAPPING)
    assert raw["amount"].tolist()[4] == "ten"
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {2: "missing_customer_id", 3: "unparseable_timestamp", 4: "invalid_amount"}
    assert result.transactions["amount"].tolist() == [6.0, 7.5]
    assert_accounts_for_every_row(result, 6)


def test_csv_customer_ids_keep_their_leading_zeros(tmp_path):
    path = tmp_path / "log.csv.gz"
    pd.DataFrame({"customer_id": ["007", "7"], "timestamp": ["2024-01-02"] * 2, "amount": [1.0, 2.0]}).to_csv(
        path, index=False
    )
    result = validate_transactions(read_transactions(path))
    assert result.transactions["customer_id"].tolist() == ["007", "7"]
    assert_accounts_for_every_row(result, 2)


def test_a_parquet_file_is_read_with_its_types_and_validated(tmp_path):
    path = tmp_path / "log.parquet"
    frame = pd.DataFrame(
        {
            "member": ["00001", "00001", "00002"],
            "sold_at": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03"]),
            "revenue": [10.0, 10.0, np.nan],
        }
    )
    frame.to_parquet(path)
    raw = read_transactions(path, columns={"customer_id": "member", "timestamp": "sold_at", "amount": "revenue"})
    result = validate_transactions(raw)
    assert reasons_by_row(result) == {1: "duplicate_row", 2: "invalid_amount"}
    assert result.transactions["customer_id"].tolist() == ["00001"]
    assert_accounts_for_every_row(result, 3)


def test_reading_a_file_of_unknown_format_is_an_error_naming_it(tmp_path):
    path = tmp_path / "log.xlsx"
    path.write_bytes(b"")
    with pytest.raises(DataValidationError, match="cannot tell the format of .*log.xlsx"):
        read_transactions(path)


def test_reading_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataValidationError, match="does not exist"):
        read_transactions(tmp_path / "absent.csv")


def test_a_log_without_amounts_reads_slash_dates_with_the_given_format():
    """The event-log path passes ``date_format`` on (it used to be dropped, so slash dates were an error)."""
    events = pd.DataFrame({"customer_id": ["a", "a", "b"], "timestamp": ["03/02/2024", "15/02/2024", "01/03/2024"]})
    result = validate_transactions(events, date_format="%d/%m/%Y")
    assert "amount" not in result.transactions.columns
    assert result.transactions["timestamp"].tolist() == [pd.Timestamp("2024-02-03"), pd.Timestamp("2024-02-15"),
                                                         pd.Timestamp("2024-03-01")]
    assert result.accounting.rows_used == 3
