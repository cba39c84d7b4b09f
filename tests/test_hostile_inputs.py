"""Hostile inputs: column names, settings and broken files never run SQL, crash untyped or lose rows, on any engine."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pandas as pd
import pytest

from loyalty.errors import DataReadError, DataValidationError, SpecError
from loyalty.data import validate_transactions
from loyalty.engines import summarize

CUTOFF = "2024-02-01"
LOCAL_ENGINES = ["pandas", "duckdb"]




def run(engine: str, source, spark=None, **options):
    if engine == "spark":
        options["spark"] = spark
    return summarize(source, CUTOFF, engine=engine, **options)


def write_csv(path, header, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# -- SQL injection through column names and settings ------------------------------------------------------------
def hostile_headers(folder) -> list[str]:
    target = str(folder / "pwned.csv")
    return [
        f"a\" FROM (SELECT 1); COPY (SELECT 42) TO '{target}'; --",
        f"a` FROM (SELECT 1); INSERT OVERWRITE DIRECTORY '{target}' SELECT 42; --",
        f"a' ; COPY (SELECT 42) TO '{target}'; --",
        f"a\"\n; COPY (SELECT 42) TO '{target}';\n--",
        "a\"\"\"; DROP TABLE x; --",
    ]


ROWS = [["c1", "2024-01-01", "10", "x"], ["c1", "2024-01-03 12:00:00", "5", "y"], ["c2", "2024-01-02", "7", "z"],
        ["", "2024-01-02", "7", "w"], ["c2", "2024-01-02", "7", "z"]]


def expected_summary():
    raw = pd.DataFrame(ROWS, columns=["customer_id", "timestamp", "amount", "note"])
    return summarize(raw, CUTOFF, engine="pandas")


def _check_inert(engine, tmp_path, header_index, spark=None):
    header = hostile_headers(tmp_path)[header_index]
    path = tmp_path / "log.csv"
    write_csv(path, [header, "timestamp", "amount", header + "_note"], ROWS)
    expected, expected_accounting = expected_summary()
    rejects = tmp_path / f"rejects-{engine}"
    options = {} if engine == "pandas" else {"rejects_path": rejects}
    summary, accounting = run(engine, path, spark, columns={"customer_id": header}, **options)
    assert not (tmp_path / "pwned.csv").exists()
    pd.testing.assert_frame_equal(summary, expected, check_index_type=False)
    assert accounting == expected_accounting
    if engine != "pandas":  # the other column keeps its name, whatever it holds
        written = pd.read_parquet(rejects)
        assert list(written.columns) == ["customer_id", "timestamp", "amount", header + "_note", "reason"]
        assert sorted(written["reason"]) == ["duplicate_row", "missing_customer_id"]


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
@pytest.mark.parametrize("header_index", range(5))
def test_a_column_name_holding_sql_is_data_not_sql(engine, header_index, tmp_path):
    _check_inert(engine, tmp_path, header_index)


@pytest.mark.spark
@pytest.mark.parametrize("header_index", range(5))
def test_a_column_name_holding_sql_is_data_not_sql_on_spark(spark, header_index, tmp_path):
    _check_inert("spark", tmp_path, header_index, spark)


def test_a_parquet_column_name_holding_sql_is_data_not_sql(tmp_path):
    header = hostile_headers(tmp_path)[0]
    frame = pd.DataFrame(ROWS, columns=[header, "timestamp", "amount", "note"])
    frame.to_parquet(tmp_path / "log.parquet")
    summary, accounting = summarize(tmp_path / "log.parquet", CUTOFF, columns={"customer_id": header})
    assert not (tmp_path / "pwned.csv").exists()
    expected, expected_accounting = expected_summary()
    pd.testing.assert_frame_equal(summary, expected, check_index_type=False)
    assert accounting == expected_accounting


@pytest.mark.parametrize("limit", ["1GB'; COPY (SELECT 42) TO 'pwned.csv'; --", "1GB; SET threads=1", "lots", "-1GB",
                                   "1 GB GB", ""])
def test_a_memory_limit_that_is_not_a_size_is_a_typed_error(limit, tmp_path):
    path = tmp_path / "log.csv"
    write_csv(path, ["customer_id", "timestamp", "amount", "note"], ROWS)
    with pytest.raises(SpecError, match="memory limit"):
        summarize(path, CUTOFF, memory_limit=limit)
    assert not (tmp_path / "pwned.csv").exists()


@pytest.mark.parametrize("threads", [0, -2, "2; SET x=1", 1.5, True])
def test_a_thread_count_that_is_not_a_positive_integer_is_a_typed_error(threads, tmp_path):
    path = tmp_path / "log.csv"
    write_csv(path, ["customer_id", "timestamp", "amount", "note"], ROWS)
    with pytest.raises(SpecError, match="threads"):
        summarize(path, CUTOFF, threads=threads)


def test_memory_limits_in_any_unit_are_accepted(tmp_path):
    from loyalty.engines.duckdb_engine import connection_settings

    assert connection_settings("512mb")["memory_limit"] == "512MB"
    assert connection_settings(" 1.5 GiB ")["memory_limit"] == "1.5GiB"


def test_a_path_with_quotes_is_read_as_a_path(tmp_path):
    folder = tmp_path / "it's \"here\"; --"
    folder.mkdir()
    write_csv(folder / "log.csv", ["customer_id", "timestamp", "amount", "note"], ROWS)
    summary, accounting = summarize(folder / "log.csv", CUTOFF, rejects_path=folder / "rejects'.parquet",
                                    temp_directory=folder / "spill'")
    expected, expected_accounting = expected_summary()
    pd.testing.assert_frame_equal(summary, expected, check_index_type=False)
    assert (folder / "rejects'.parquet").exists()


# -- files that cannot be read -----------------------------------------------------------------------------------
GOOD_CSV = "customer_id,timestamp,amount\n" + "".join(f"c{i % 7},2024-01-{1 + i % 28:02d},{i}.5\n" for i in range(400))


def _gzip_truncated(path):
    data = gzip.compress(GOOD_CSV.encode())
    path.write_bytes(data[: len(data) // 2])


def _parquet_truncated(path):
    pd.DataFrame({"customer_id": ["a"], "timestamp": ["2024-01-01"], "amount": [1.0]}).to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])


BROKEN_FILES = {
    "zero_bytes": ("log.csv", lambda p: p.write_bytes(b""), "empty"),
    "blank_lines_only": ("log.csv", lambda p: p.write_text("\n\n  \n"), "no header and no rows"),
    "header_only": ("log.csv", lambda p: p.write_text("customer_id,timestamp,amount\n"), "header .* but no rows"),
    "not_gzip": ("log.csv.gz", lambda p: p.write_text(GOOD_CSV), "gzip"),
    "truncated_gzip": ("log.csv.gz", _gzip_truncated, "cannot read"),
    "binary_named_csv": ("log.csv", lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)), "binary|UTF-8"),
    "latin1_csv": ("log.csv", lambda p: p.write_bytes("customer_id,timestamp,amount\nJos\xe9,2024-01-01,1\n".encode(
        "latin-1")), "UTF-8"),
    "fake_parquet": ("log.parquet", lambda p: p.write_text(GOOD_CSV), "not a parquet file"),
    "truncated_parquet": ("log.parquet", _parquet_truncated, "not a parquet file"),
    "empty_parquet": ("log.parquet", lambda p: p.write_bytes(b""), "empty"),
    "missing": ("absent.csv", lambda p: None, "does not exist"),
    "folder_without_parquet": ("folder", lambda p: (p.mkdir(), (p / "notes.txt").write_text("x")), "no \\*.parquet"),
    "unknown_extension": ("log.xlsx", lambda p: p.write_text(GOOD_CSV), "cannot tell the format"),
    "too_many_fields": ("log.csv", lambda p: p.write_text(GOOD_CSV + "c1,2024-01-02,3,4,5\n"), "cannot read"),
}


def _check_broken(engine, case, tmp_path, spark=None):
    name, make, message = BROKEN_FILES[case]
    path = tmp_path / name
    make(path)
    with pytest.raises(DataReadError, match=message) as caught:
        run(engine, path, spark)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)  # one line, not a traceback


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_a_file_that_cannot_be_read_is_a_typed_error_naming_it(engine, case, tmp_path):
    _check_broken(engine, case, tmp_path)


@pytest.mark.spark
@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_a_file_that_cannot_be_read_is_a_typed_error_naming_it_on_spark(spark, case, tmp_path):
    _check_broken("spark", case, tmp_path, spark)


def test_a_read_error_is_a_data_validation_error():
    assert issubclass(DataReadError, DataValidationError)


# -- reruns ------------------------------------------------------------------------------------------------------
def _two_duckdb_runs(tmp_path):
    from test_engines import messy_log

    path = tmp_path / "messy.csv"
    messy_log().to_csv(path, index=False)
    runs = [summarize(path, "2023-10-31", holdout_end="2024-01-31", rejects_path=tmp_path / f"rejects-{i}.parquet")
            for i in range(2)]
    return path, runs


def test_reruns_give_the_same_counts_periods_and_rejected_rows_byte_for_byte(tmp_path):
    path, runs = _two_duckdb_runs(tmp_path)
    columns = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
    assert runs[0][0][columns].to_numpy().tobytes() == runs[1][0][columns].to_numpy().tobytes()
    assert list(runs[0][0].index) == list(runs[1][0].index) and runs[0][1] == runs[1][1]
    assert (tmp_path / "rejects-0.parquet").read_bytes() == (tmp_path / "rejects-1.parquet").read_bytes()
    pandas_runs = [summarize(pd.read_csv(path, dtype=str), "2023-10-31", holdout_end="2024-01-31")[0]
                   for _ in range(2)]
    assert pandas_runs[0].to_numpy().tobytes() == pandas_runs[1].to_numpy().tobytes()


def order_sensitive_log(path, rows: int = 200_000, customers: int = 5, seed: int = 7) -> None:
    """A CSV log whose money sums depend on their order in floats: a few customers with many rows each (so that
    every thread's share of the file holds some of each customer's rows and adds them in its own order), amounts
    with cents, a margin column, and returns netted into their day's purchases in proportion to their amounts
    (shares with many decimals), some of them exact copies of earlier rows."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, 90, rows)
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in rng.integers(0, customers, rows)],
        "timestamp": (pd.Timestamp("2024-01-01") + pd.to_timedelta(day, unit="D")
                      + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")).strftime("%Y-%m-%d %H:%M:%S"),
        "amount": np.round(rng.gamma(2.0, 20.0, rows), 2),
    })
    frame.loc[rng.random(rows) < 0.03, "amount"] *= -0.37  # partial returns, netted by customer and day
    frame["amount"] = frame["amount"].round(2)
    frame["margin"] = (frame["amount"] * 0.31).round(3)
    frame = pd.concat([frame, frame.sample(500, random_state=seed)], ignore_index=True)  # exact duplicates
    frame.astype(str).to_csv(path, index=False)


RERUNS = 4


def test_reruns_give_byte_identical_money_on_duckdb(tmp_path):
    # while money was summed in DOUBLE, 4 reruns gave 2 to 4 different last bits of the money columns
    path = tmp_path / "orders.csv"
    order_sensitive_log(path)
    runs = [summarize(path, "2024-02-29", holdout_end="2024-03-31", threads=4,
                      rejects_path=tmp_path / f"rejects-{i}.parquet") for i in range(RERUNS)]
    money = ["monetary_value", "margin_value", "margin_rate", "monetary_holdout"]
    assert runs[0][1].returns_netted > 1000 and len(runs[0][0]) == 5
    for summary, accounting in runs[1:]:
        assert summary[money].to_numpy().tobytes() == runs[0][0][money].to_numpy().tobytes()
        assert summary.to_numpy().tobytes() == runs[0][0].to_numpy().tobytes() and accounting == runs[0][1]
    assert len({(tmp_path / f"rejects-{i}.parquet").read_bytes() for i in range(RERUNS)}) == 1
    # and the same money as pandas' float sums, at the stated precision (rules: money)
    expected, expected_accounting = summarize(pd.read_csv(path, dtype=str), "2024-02-29", holdout_end="2024-03-31")
    assert runs[0][1] == expected_accounting
    np.testing.assert_allclose(runs[0][0][money].to_numpy(), expected[money].to_numpy(), rtol=1e-9, atol=1e-9)
    # the trusted path's SQL sums the same way
    trusted = [summarize(path, "2024-03-31", validate=False, threads=4)[0] for _ in range(3)]
    assert len({run.to_numpy().tobytes() for run in trusted}) == 1


# -- rejects keep every input column ------------------------------------------------------------------------------
NETTING_ROWS = [["a", "2024-01-05 10:00", "10", "o1", "bought, then sent back"],
                ["a", "2024-01-06 09:00", "-10", "o1", "the return"],
                ["b", "2024-01-05 10:00", "4.50", "", "kept"],
                ["b", "2024-01-08 10:00", "-3", "", "nothing bought that day"],
                ["c", "2024-01-02", "7", "o2", "kept too"]]
NETTING_REJECTS = {("a", "2024-01-05 10:00", "10", "o1", "bought, then sent back", "fully_returned"),
                   ("a", "2024-01-06 09:00", "-10", "o1", "the return", "fully_returned"),
                   ("b", "2024-01-08 10:00", "-3", "", "nothing bought that day", "unmatched_return")}


def _check_netting_rejects_keep_every_column(engine, tmp_path, spark=None):
    path = _rules_log(tmp_path, NETTING_ROWS, header=("customer_id", "timestamp", "amount", "order_id", "note"))
    rejects = tmp_path / f"rejects-{engine}"
    _, accounting = run(engine, path, spark, rejects_path=rejects)
    assert accounting.rejected == {"unmatched_return": 1, "fully_returned": 2}
    written = pd.read_parquet(rejects)
    assert list(written.columns) == ["customer_id", "timestamp", "amount", "order_id", "note", "reason"]
    assert set(map(tuple, written.fillna("").to_numpy())) == NETTING_REJECTS
    # as the pandas validator keeps them
    expected = validate_transactions(pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None),
                                     cutoff=CUTOFF).rejects.drop(columns="row")
    assert set(map(tuple, expected.fillna("").to_numpy())) == NETTING_REJECTS


def test_rows_netting_rejects_keep_every_input_column_on_duckdb(tmp_path):
    _check_netting_rejects_keep_every_column("duckdb", tmp_path)


@pytest.mark.spark
def test_rows_netting_rejects_keep_every_input_column_on_spark(spark, tmp_path):
    _check_netting_rejects_keep_every_column("spark", tmp_path, spark)


# -- the rules, at their edges, on every local engine ------------------------------------------------------------
def _rules_log(tmp_path, rows, header=("customer_id", "timestamp", "amount", "order_id")):
    path = tmp_path / "log.csv"
    write_csv(path, list(header), rows)
    return path


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_a_purchase_at_noon_on_a_date_only_cutoff_day_is_used(engine, tmp_path):
    path = _rules_log(tmp_path, [["a", "2024-01-01", "10", "o1"], ["a", "2024-02-01 12:00:00", "5", "o2"],
                                 ["a", "2024-02-02 00:00:00", "5", "o3"]])
    summary, accounting = run(engine, path, holdout_end="2024-02-02")
    assert accounting.rejected == {}
    assert summary.loc["a", "frequency"] == 1 and summary.loc["a", "frequency_holdout"] == 1


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_amounts_and_margins_of_a_quadrillion_or_more_are_invalid(engine, tmp_path):
    rows = [["a", "2024-01-01", "1e15", "1"], ["a", "2024-01-02", "-2e300", "1"], ["a", "2024-01-03", "9.99e14", "1"],
            ["b", "2024-01-01", "5", "1e15"], ["b", "2024-01-02", "5", "-999999999999999"]]
    summary, accounting = run(engine, _rules_log(tmp_path, rows, header=("customer_id", "timestamp", "amount", "margin")))
    assert accounting.rejected == {"invalid_amount": 2, "invalid_margin": 1}
    assert summary.loc["a", "frequency"] == 0 and summary.loc["b", "frequency"] == 0


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_a_same_day_cancellation_that_nets_to_rounding_error_is_fully_returned(engine, tmp_path):
    rows = [["a", "2024-01-05 10:00", "0.1", ""], ["a", "2024-01-05 10:00", "0.2", ""],
            ["a", "2024-01-05 11:00", "-0.3", ""], ["a", "2024-01-03", "5", ""],
            ["b", "2024-01-05 10:00", "0.3", ""], ["b", "2024-01-05 11:00", "-0.1", ""],
            ["b", "2024-01-05 11:00", "-0.2", ""], ["b", "2024-01-03", "5", ""]]
    summary, accounting = run(engine, _rules_log(tmp_path, rows))
    assert accounting.rejected == {"fully_returned": 6}
    assert summary["frequency"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
@pytest.mark.parametrize("ids", [["2.5", "2"], [" a", "a\u00a0"], ["\ta\n", "a"],
                                 # either side of the engines' byte tests for an end that may be whitespace
                                 ["\u0084a\u0084", "\u0085a\u0085"], ["!a!", "\x1fa\x1f"], ["\x7f\u00e9", "\u00e9\u2028"]])
def test_text_ids_follow_one_whitespace_rule(engine, ids, tmp_path):
    rows = [[ids[0], "2024-01-01", "10", "o1"], [ids[1], "2024-01-02", "5", "o2"]]
    summary, _ = run(engine, _rules_log(tmp_path, rows))
    expected = sorted({i.strip() for i in ids})
    assert [str(i) for i in summary.index] == expected


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_a_fractional_numeric_id_is_an_error(engine, tmp_path):
    frame = pd.DataFrame({"customer_id": [2.0, 2.5], "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                          "amount": [1.0, 2.0]})
    frame.to_parquet(tmp_path / "log.parquet")
    source = frame if engine == "pandas" else tmp_path / "log.parquet"
    with pytest.raises(DataValidationError, match="non-integer numeric ids.*2.5"):
        run(engine, source)


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_underscored_and_hex_numbers_are_invalid_amounts(engine, tmp_path):
    rows = [["a", "2024-01-01", "10", "o1"], ["a", "2024-01-02", "1_000", "o2"], ["a", "2024-01-03", "0x10", "o3"],
            ["a", "2024-01-04", " +1e1 ", "o4"]]
    summary, accounting = run(engine, _rules_log(tmp_path, rows))
    assert accounting.rejected == {"invalid_amount": 2}
    assert summary.loc["a", "monetary_value"] == 10.0


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_offsets_are_converted_to_utc_and_counted(engine, tmp_path):
    rows = [["a", "2024-01-01T10:00:00Z", "10", "o1"], ["a", "2024-01-31T23:30:00-05:00", "5", "o2"]]
    summary, accounting = run(engine, _rules_log(tmp_path, rows))
    # 23:30 at -05:00 is 04:30 UTC on 1 February: still on or before the cut-off (2024-02-01, the whole day)
    assert accounting.rejected == {}
    assert accounting.notes["timestamps_converted_to_UTC"] == 2
    assert accounting.notes["distinct_utc_offsets"] == 2
    assert summary.loc["a", "frequency"] == 1.0 and summary.loc["a", "recency"] == 31.0


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
@pytest.mark.parametrize("timestamps, message", [
    (["2024-01-01T10:00:00Z", "2024-01-02 10:00"], "mixes time-zone-aware"),
    (["01/02/2024", "2024-01-02"], "slash dates"),
])
def test_mixed_zones_and_slash_dates_are_errors(engine, timestamps, message, tmp_path):
    rows = [["a", ts, "10", f"o{i}"] for i, ts in enumerate(timestamps)]
    with pytest.raises(DataValidationError, match=message):
        run(engine, _rules_log(tmp_path, rows))


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
@pytest.mark.parametrize("date_format, second, first", [("%d/%m/%Y", "13/01/2024", "2024-01-13"),
                                                         ("%m/%d/%Y %H:%M", "01/13/2024 08:00", "2024-01-02")])
def test_a_date_format_says_which_way_slash_dates_read(engine, date_format, second, first, tmp_path):
    stamp = "01/02/2024" + (" 10:30" if "%H" in date_format else "")  # 1 February, or 2 January
    rows = [["a", stamp, "10", "o1"], ["a", second, "4", "o2"]]
    summary, accounting = run(engine, _rules_log(tmp_path, rows), date_format=date_format)
    assert accounting.rejected == {}
    assert summary.loc["a", "T"] == (pd.Timestamp(CUTOFF) - pd.Timestamp(first)).days


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
def test_placeholder_years_are_counted_rejects_not_crashes(engine, tmp_path):
    rows = [["a", "2024-01-01", "10", "o1"], ["a", "9999-12-31", "5", "o2"], ["a", "1500-01-01", "5", "o3"]]
    summary, accounting = run(engine, _rules_log(tmp_path, rows))
    assert accounting.rejected == {"timestamp_out_of_range": 2}
    assert accounting.rows_read == 3 == accounting.rows_used + accounting.rows_rejected


@pytest.mark.parametrize("engine", LOCAL_ENGINES)
@pytest.mark.parametrize("rate", [float("nan"), -0.5, 1.5, "x"])
def test_margin_rates_outside_zero_one_are_refused(engine, rate, tmp_path):
    path = _rules_log(tmp_path, [["a", "2024-01-01", "10", "o1"]])
    with pytest.raises(DataValidationError, match="margin_rate"):
        run(engine, path, margin_rate=rate)


def test_netting_keeps_the_quantity_bought():
    from loyalty.data import validate_transactions

    raw = pd.DataFrame({"customer_id": ["a", "a", "a"], "timestamp": ["2024-01-01"] * 3,
                        "amount": ["10", "30", "-8"], "quantity": ["1", "3", "-1"], "order_id": ["o1"] * 3})
    result = validate_transactions(raw)
    assert result.transactions["quantity"].tolist() == [1.0, 3.0]
    assert result.transactions["amount"].tolist() == [8.0, 24.0]


def test_a_trusted_log_whose_amount_is_not_money_is_a_typed_error_on_duckdb(tmp_path):
    path = _rules_log(tmp_path, [["a", "2024-01-01", "5"], ["a", "2024-01-02", "inf"]],
                      header=("customer_id", "timestamp", "amount"))
    with pytest.raises(DataValidationError, match="not money .*validate it"):
        summarize(path, CUTOFF, validate=False, engine="duckdb")
