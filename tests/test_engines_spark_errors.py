"""Spark's typed errors: a trusted log's bad money or timestamp is the project's error, never a silent NULL; a file
that fails part way through is a read error naming it; and only such a failure is called a read error."""

from __future__ import annotations

import csv
import gzip
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from loyalty.data.io import inspect_log
from loyalty.engines import summarize
from loyalty.errors import DataReadError, DataValidationError

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CUTOFF = "2024-02-01"


def write_csv(path, header, rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def spark_summary(path, spark, **options):
    return summarize(path, CUTOFF, engine="spark", spark=spark, **options)


@contextmanager
def ansi_mode(spark, enabled: bool):
    """Spark SQL's ANSI mode set for the block (on by default from Spark 4; off, a failed cast gives NULL)."""
    before = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", str(enabled).lower())
    try:
        yield
    finally:
        spark.conf.set("spark.sql.ansi.enabled", before)


# -- a trusted log (validate=False) whose money or time is not ----------------------------------------------------
@pytest.mark.parametrize(("value", "ansi"), [("inf", True), ("nan", False), ("1e15", True), ("-2e16", True),
                                             ("-2e16", False), ("twelve", True)])
def test_a_trusted_log_whose_amount_is_not_money_is_a_typed_error_naming_it_on_spark(spark, value, ansi, tmp_path):
    # without the check Spark's cast gave NULL for infinities and NaN (and for text, ANSI off): money silently lost
    path = write_csv(tmp_path / "log.csv", ["customer_id", "timestamp", "amount"],
                     [["a", "2024-01-01", "5"], ["a", "2024-01-02", value]])
    with ansi_mode(spark, ansi), pytest.raises(DataValidationError, match="not money .*validate it") as caught:
        spark_summary(path, spark, validate=False)
    assert f"column 'amount' holds {value!r}" in str(caught.value)


def test_a_trusted_log_whose_margin_is_not_money_names_the_files_column_on_spark(spark, tmp_path):
    path = write_csv(tmp_path / "log.csv", ["customer_id", "timestamp", "amount", "gross margin"],
                     [["a", "2024-01-01", "5", "1"], ["a", "2024-01-02", "5", "NaN"]])
    with pytest.raises(DataValidationError, match="column 'gross margin' holds 'NaN'"):
        spark_summary(path, spark, validate=False, columns={"margin": "gross margin"})


def test_a_trusted_log_keeps_money_just_below_the_bound_and_its_times_as_the_validator_does_on_spark(spark, tmp_path):
    rows = [["a", "2024-01-01", "5"], ["a", "2024-01-02", "999999999999999.9"], ["b", "2024-01-03", "0.25"],
            ["b", "2024-01-09 12:30:00", "12.5"], ["b", "2024-01-10T08:00:00", "999999999999999.9"]]
    path = write_csv(tmp_path / "log.csv", ["customer_id", "timestamp", "amount"], rows)
    validated, accounting = summarize(path, CUTOFF, engine="pandas")
    assert accounting.rows_rejected == 0
    trusted, _ = spark_summary(path, spark, validate=False)
    pd.testing.assert_frame_equal(trusted, validated, check_index_type=False)


# -- a file that fails part way through is a read error naming it -----------------------------------------------
def _log_text(rows: int) -> str:
    return "customer_id,timestamp,amount\n" + "".join(
        f"c{i % 97},2024-01-{1 + i % 28:02d},{i % 50}.25\n" for i in range(rows))


def _corrupt_parquet(path: Path) -> None:
    """A parquet file whose magic bytes and footer are intact (so the schema reads) and whose data pages are not."""
    rows = _log_text(3000).splitlines()[1:]
    frame = pd.DataFrame([r.split(",") for r in rows], columns=["customer_id", "timestamp", "amount"])
    frame.to_parquet(path, compression=None)
    data = bytearray(path.read_bytes())
    data[100: len(data) // 2] = b"\xff" * (len(data) // 2 - 100)
    path.write_bytes(bytes(data))


def _check_read_error(path: Path, spark, named: Path | None = None) -> DataReadError:
    inspect_log(path)  # the checks before reading pass: Spark meets the damage part way through
    with pytest.raises(DataReadError, match="^cannot read ") as caught:
        spark_summary(path, spark)
    message = str(caught.value)
    assert repr(str(path)) in message and "\n" not in message
    if named is not None:
        assert repr(str(named)) in message
    return caught.value


def test_a_truncated_gzip_csv_is_a_read_error_naming_it_on_spark(spark, tmp_path):
    folder = tmp_path / "it's \"a b\" %20"  # Spark names the file by its URL: %-escapes, quotes, spaces
    folder.mkdir()
    path = folder / "log.csv.gz"
    data = gzip.compress(_log_text(8000).encode())
    path.write_bytes(data[: int(len(data) * 0.7)])
    assert "end of input stream" in str(_check_read_error(path, spark))


def test_a_parquet_file_with_corrupt_pages_is_a_read_error_naming_it_on_spark(spark, tmp_path):
    path = tmp_path / "log.parquet"
    _corrupt_parquet(path)
    _check_read_error(path, spark)


def test_a_corrupt_file_in_a_parquet_folder_is_a_read_error_naming_the_folder_and_the_file_on_spark(spark, tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    rows = [r.split(",") for r in _log_text(200).splitlines()[1:]]
    pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"]).to_parquet(folder / "part-0.parquet")
    _corrupt_parquet(folder / "part-1.parquet")
    _check_read_error(folder, spark, named=folder / "part-1.parquet")


# -- a failure that is not reading the input is not called a read error ------------------------------------------
@pytest.mark.parametrize("ansi", [True, False])
def test_a_trusted_log_whose_timestamp_is_not_one_is_a_typed_error_not_a_read_error_on_spark(spark, ansi, tmp_path):
    # Spark's error quoted the value, and its text once sufficed to call the log unreadable; with ANSI mode off
    # the row vanished
    value = "java.io.IOException: EOFException, Malformed"
    path = write_csv(tmp_path / "log.csv", ["customer_id", "timestamp", "amount"],
                     [["a", "2024-01-01", "5"], ["a", value, "5"]])
    with ansi_mode(spark, ansi), pytest.raises(DataValidationError, match="timestamp that is not a date") as caught:
        spark_summary(path, spark, validate=False)
    assert not isinstance(caught.value, DataReadError)
    assert f"column 'timestamp' holds {value!r}" in str(caught.value)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a /proc file system, where no folder can be made")
def test_an_output_that_cannot_be_written_is_not_a_read_error_on_spark(spark, tmp_path):
    path = write_csv(tmp_path / "log.csv", ["customer_id", "timestamp", "amount"], [["a", "2024-01-01", "5"]])
    with pytest.raises(Exception) as caught:
        spark_summary(path, spark, validate=False, summary_path="/proc/loyalty-summary")
    assert "IOException" in str(caught.value)  # Hadoop's "java.io.IOException: Mkdirs failed to create ..."
    assert not isinstance(caught.value, DataReadError)
