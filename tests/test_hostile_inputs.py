"""Hostile inputs: column names, settings and broken files never run SQL, crash untyped or lose rows, on any engine."""

from __future__ import annotations

import csv
import gzip
import os
import sys

import numpy as np
import pandas as pd
import pytest

from loyalty.errors import DataReadError, DataValidationError, SpecError
from loyalty.engines import summarize

CUTOFF = "2024-02-01"
LOCAL_ENGINES = ["pandas", "duckdb"]


@pytest.fixture(scope="module")
def spark():
    pyspark_sql = pytest.importorskip("pyspark.sql")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("loyalty-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session


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
