"""A parquet log sorted by customer is validated chunk by chunk (loyalty.engines.sorted_chunks) with the pandas
validator's result: the same summary, the same row accounting, or the same typed error.

The logs are typed parquet (as an export writes them): text or integer ids (missing and blank ones too), naive
timestamps (missing ones, years outside 1678-2261), amounts with returns, cancellations to rounding error, NaN, inf
and the money range's edge, order ids with gaps, margins, an extra column of text or of floats (with NaN, 0.0 and
-0.0: copies are decided by pandas' own equality), exact copies; sorted by customer, by time within a customer or
not, in small row groups over several files, and streamed in small chunks. Ids with whitespace at an end cannot be
cut into chunks (stripped, they merge with another id), and fall back to SQL: the answer is the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loyalty.engines import duckdb_engine, summarize  # noqa: E402
from loyalty.errors import DataValidationError, LoyaltyError  # noqa: E402

TEXT_IDS = ["a", "b", "c", "C1", "C10", "C2", "", "é"]
SPACED_IDS = ["a ", " b"]
INT_IDS = [1, 2, 3, 7, 10]
TIMES = [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 2, 23, 59, 59, 999999),
         dt.datetime(2024, 1, 7, 12), dt.datetime(2024, 2, 29), dt.datetime(2024, 3, 31, 18),
         dt.datetime(2024, 5, 1), dt.datetime(9999, 12, 31), dt.datetime(1500, 6, 1), None]
AMOUNTS = [10.0, 5.25, 0.1, 0.2, 0.0, -0.3, -5.25, -2.5, -100.0, float("nan"), float("inf"), 1e15, -9.5e14, None]
EXTRA = {"text": ["x", "y", None], "float": [0.0, -0.0, float("nan"), 1.5, None]}


@contextlib.contextmanager
def streamed(chunk_rows: int):
    """Stream in chunks of ``chunk_rows`` rows; yields the list of what the streamed path returned."""
    results = []
    original, rows = duckdb_engine._summary_streamed, duckdb_engine.CHUNK_ROWS

    def recording(*args, **kwargs):
        results.append(original(*args, **kwargs))
        return results[-1]

    duckdb_engine._summary_streamed, duckdb_engine.CHUNK_ROWS = recording, chunk_rows
    try:
        yield results
    finally:
        duckdb_engine._summary_streamed, duckdb_engine.CHUNK_ROWS = original, rows


@contextlib.contextmanager
def steps_in_sql():
    """Summarise every log with the SQL steps, as a log in no particular order is."""
    original = duckdb_engine.customer_order
    duckdb_engine.customer_order = lambda *args, **kwargs: None
    try:
        yield
    finally:
        duckdb_engine.customer_order = original


@st.composite
def sorted_logs(draw) -> dict:
    """A typed log sorted by customer, and how to write and summarise it."""
    kind = draw(st.sampled_from(["text", "text", "int", "spaced"]))
    ids = {"text": TEXT_IDS, "int": INT_IDS, "spaced": TEXT_IDS + SPACED_IDS}[kind]
    id_values = st.sampled_from(ids) if draw(st.integers(0, 3)) else st.sampled_from(ids + [None])
    columns = {"customer_id": [], "timestamp": [], "amount": []}
    order = draw(st.sampled_from([None, "int", "text"]))
    margin = draw(st.booleans())
    extra = draw(st.sampled_from([None, "text", "float"]))
    if order:
        columns["order_id"] = []
    if margin:
        columns["margin"] = []
    if extra:
        columns["note"] = []
    for _ in range(draw(st.integers(1, 30))):
        columns["customer_id"].append(draw(id_values))
        columns["timestamp"].append(draw(st.sampled_from(TIMES)))
        columns["amount"].append(draw(st.sampled_from(AMOUNTS)))
        if order:
            value = draw(st.sampled_from([1, 2, 3, None]))
            columns["order_id"].append(value if order == "int" or value is None else f"o{value}")
        if margin:
            columns["margin"].append(draw(st.sampled_from([1.0, 0.5, -0.1, float("nan")])))
        if extra:
            columns["note"].append(draw(st.sampled_from(EXTRA[extra])))
    if draw(st.booleans()):  # a purchase cancelled to rounding error (0.1 + 0.2 - 0.3), as on UCI Online Retail
        who = draw(st.sampled_from([i for i in ids if i != ""]))
        for amount, hour in ((0.1, 10), (0.2, 10), (-0.3, 11)):
            row = {"customer_id": who, "timestamp": dt.datetime(2024, 1, 2, hour), "amount": amount,
                   "order_id": 9 if order == "int" else "o9", "margin": None, "note": None}
            for name in columns:
                columns[name].append(row[name])
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    rows += [rows[i] for i in draw(st.lists(st.integers(0, len(rows) - 1), max_size=4))]  # exact copies
    rows = draw(st.permutations(rows))
    frame = {name: [row[name] for row in rows] for name in columns}
    by_time = draw(st.booleans())
    return {"frame": frame, "kind": kind, "by_time": by_time, "order": order,
            "group_rows": draw(st.integers(1, 4)), "files": draw(st.integers(1, 3)),
            "chunk_rows": draw(st.integers(1, 8)),
            "cutoff": draw(st.sampled_from(["2024-01-02", "2024-01-07 12:00:00", "2024-03-31"])),
            "options": {"period": draw(st.sampled_from(["D", "W"])),
                        "duplicates": draw(st.sampled_from(["drop", "keep"])),
                        **({"holdout_end": "2024-06-30"} if draw(st.booleans()) else {}),
                        **({"margin_rate": 0.25} if not margin and draw(st.booleans()) else {})}}


def write_sorted(log: dict, folder: Path) -> Path:
    """The log sorted by customer (missing ids last; by time within a customer, or in any order) in parquet files
    of small row groups, in files whose names follow the ids."""
    columns = log["frame"]
    types = {"customer_id": pa.int64() if log["kind"] == "int" else pa.string(), "timestamp": pa.timestamp("us"),
             "amount": pa.float64(), "margin": pa.float64(),
             "order_id": pa.int64() if log["order"] == "int" else pa.string(),
             "note": pa.string() if any(isinstance(v, str) for v in columns.get("note", [])) else pa.float64()}
    table = pa.table({name: pa.array(values, types[name]) for name, values in columns.items()})
    ids, times = columns["customer_id"], columns["timestamp"]

    def key(i):  # bytes order for text (as parquet statistics and DuckDB compare), missing ids last
        return (ids[i] is None, ids[i] if ids[i] is not None else "",
                (times[i] is None, times[i] or dt.datetime.min) if log["by_time"] else 0)

    table = table.take(pa.array(sorted(range(len(ids)), key=key), pa.int64()))
    folder.mkdir(exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(table)), log["files"])):
        if len(rows):
            pq.write_table(table.take(pa.array(rows)), folder / f"part-{i}.parquet", row_group_size=log["group_rows"])
    return folder


def outcome(path: Path, log: dict, engine: str, **options):
    try:
        summary, accounting = summarize(path, log["cutoff"], engine=engine, **log["options"], **options)
    except LoyaltyError as error:
        return ("error", type(error).__name__)
    return ("summary", summary, accounting)


def assert_same(expected, actual) -> None:
    assert expected[0] == actual[0], f"duckdb: {actual} where pandas gave {expected}"
    if expected[0] == "error":
        assert actual[1] == expected[1]
        return
    _, want, want_accounting = expected
    _, got, got_accounting = actual
    assert got_accounting == want_accounting
    assert [str(i) for i in got.index] == [str(i) for i in want.index]
    assert list(got.columns) == list(want.columns)
    for column in want.columns:  # the streamed path sums as pandas does: the same floats
        np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy(), err_msg=column)


EXAMPLES = int(os.environ.get("LOYALTY_DIFFERENTIAL_EXAMPLES", "0"))
LOG = os.environ.get("LOYALTY_DIFFERENTIAL_LOG")


@settings(max_examples=EXAMPLES or 60, deadline=None, suppress_health_check=list(HealthCheck))
@given(sorted_logs())
def test_a_sorted_parquet_log_validated_in_chunks_equals_the_pandas_validator(log):
    with tempfile.TemporaryDirectory() as folder:
        path = write_sorted(log, Path(folder) / "log")
        expected = outcome(path, log, "pandas")
        with streamed(log["chunk_rows"]) as results:
            actual = outcome(path, log, "duckdb", rejects_path=Path(folder) / "streamed.parquet")
        with steps_in_sql():  # the same log through the SQL steps: the same rejected rows, written alike
            outcome(path, log, "duckdb", rejects_path=Path(folder) / "sql.parquet")
        written = [(Path(folder) / f"{name}.parquet").exists() for name in ("streamed", "sql")]
        assert written[0] == written[1]
        if written[0]:
            pd.testing.assert_frame_equal(pd.read_parquet(Path(folder) / "streamed.parquet"),
                                          pd.read_parquet(Path(folder) / "sql.parquet"))
    path_taken = "streamed" if results and results[0][0] is not None else "sql"
    hypothesis.event(f"{path_taken}, pandas gave {expected[0]}")
    if LOG:
        with open(LOG, "a") as handle:
            handle.write(json.dumps({"path": path_taken, "pandas": expected[0] if expected[0] == "summary" else
                                     f"error:{expected[1]}", "rows": len(log["frame"]["customer_id"])}) + "\n")
    if expected[0] == "summary" and path_taken == "streamed":
        assert_same(expected, actual)  # streamed: bit for bit
    else:  # SQL (money as decimals) or an error
        from test_engines_differential import assert_same as assert_same_sql

        assert_same_sql(expected, actual, "duckdb")
    if any(isinstance(i, str) and i.strip() != i for i in log["frame"]["customer_id"]):
        assert all(result == (None, None) for result in results)  # whitespace ids: fell back to SQL


def _bench_like(rows_per_customer: int = 6, customers: int = 400, seed: int = 0) -> pd.DataFrame:
    """A log like the benchmark's: order lines sharing a timestamp, returns two days later, copies."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in range(customers):
        n = rng.integers(1, rows_per_customer * 2)
        start = pd.Timestamp("2023-06-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
        frame = pd.DataFrame({"customer_id": f"C{c:05d}", "timestamp": start.sort_values(),
                              "amount": np.round(rng.gamma(2.0, 20.0, n), 2), "order_id": c * 100 + np.arange(n)})
        lines = frame.loc[rng.random(n) < 0.5].assign(amount=lambda f: np.round(f["amount"] / 3, 2))
        returns = frame.loc[rng.random(n) < 0.1].assign(amount=lambda f: -np.round(f["amount"] / 2, 2),
                                                       timestamp=lambda f: f["timestamp"] + pd.Timedelta("2D"))
        cancels = frame.loc[rng.random(n) < 0.03].assign(amount=lambda f: -f["amount"])
        parts.append(pd.concat([frame, lines, returns, cancels, frame.iloc[:1] if rng.random() < 0.05 else None]))
    log = pd.concat(parts, ignore_index=True)
    return log.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


def test_a_sorted_log_with_returns_and_copies_is_streamed_with_the_pandas_result(tmp_path):
    log = _bench_like()
    log.to_parquet(tmp_path / "log.parquet", row_group_size=500)
    for options in ({"unit": "W"}, {"period": "W", "holdout_end": "2024-06-30", "margin_rate": 0.3},
                    {"duplicates": "keep"}):
        expected = outcome(tmp_path / "log.parquet", {"cutoff": "2024-03-31", "options": options}, "pandas")
        with streamed(700) as results:
            actual = outcome(tmp_path / "log.parquet", {"cutoff": "2024-03-31", "options": options}, "duckdb")
        assert results[0][0] is not None, "the streamed path gave up"
        accounting = expected[2]
        assert accounting.returns_netted > 0 and accounting.rejected.get("fully_returned", 0) > 0
        if options.get("duplicates", "drop") == "drop":
            assert accounting.rejected["duplicate_row"] > 0
        assert_same(expected, actual)


def test_rows_without_an_id_in_a_sorted_log_are_rejected_from_the_statistics_not_read(tmp_path):
    log = _bench_like(customers=50)
    log["customer_id"] = log["customer_id"].astype(object)
    log.loc[len(log) - 3:, "customer_id"] = None  # missing ids, last as an export sorts them
    log.to_parquet(tmp_path / "log.parquet", row_group_size=100)
    expected = outcome(tmp_path / "log.parquet", {"cutoff": "2024-03-31", "options": {}}, "pandas")
    with streamed(200) as results:
        actual = outcome(tmp_path / "log.parquet", {"cutoff": "2024-03-31", "options": {}}, "duckdb")
    assert results[0][0] is not None
    assert expected[2].rejected["missing_customer_id"] == 3
    assert_same(expected, actual)


@pytest.mark.parametrize("missing_ids", [0, 3])
def test_a_streamed_log_writes_the_rejected_rows_the_sql_steps_write(tmp_path, missing_ids):
    """Every rejected row with its reason, every column as text, in the same order: the streamed path's rejects
    file equals the SQL steps' (a log in another order takes them), byte for byte in its values."""
    log = _bench_like(customers=60)
    log["note"] = np.where(np.arange(len(log)) % 7 == 0, None, "n")  # a column outside the contract
    if missing_ids:
        log["customer_id"] = log["customer_id"].astype(object)
        log.loc[len(log) - missing_ids:, "customer_id"] = None
    log.to_parquet(tmp_path / "sorted.parquet", row_group_size=100)
    log.sample(frac=1.0, random_state=1).reset_index(drop=True).to_parquet(tmp_path / "shuffled.parquet",
                                                                          row_group_size=100)
    for name in ("sorted", "shuffled"):
        with streamed(200) as results:
            summarize(tmp_path / f"{name}.parquet", "2024-01-31", engine="duckdb",
                      rejects_path=tmp_path / f"{name}_rejects.parquet")
        assert (results[0][0] is not None) if name == "sorted" else (results == [])
    streamed_rejects = pd.read_parquet(tmp_path / "sorted_rejects.parquet")
    sql_rejects = pd.read_parquet(tmp_path / "shuffled_rejects.parquet")
    assert set(streamed_rejects["reason"]) >= {"after_cutoff", "duplicate_row", "fully_returned"}
    assert (streamed_rejects["reason"] == "missing_customer_id").sum() == missing_ids
    pd.testing.assert_frame_equal(streamed_rejects, sql_rejects)
    assert not list(tmp_path.glob("*.rows"))  # the stream's own file is gone


def test_a_trusted_sorted_log_with_an_amount_that_is_not_money_is_an_error_not_a_number(tmp_path):
    log = _bench_like(customers=50)
    log = log.loc[log["amount"] > 0].reset_index(drop=True)
    log.loc[7, "amount"] = float("inf")
    log.to_parquet(tmp_path / "log.parquet", row_group_size=100)
    with streamed(200), pytest.raises(DataValidationError, match="amount or margin that is not money.*amount inf"):
        summarize(tmp_path / "log.parquet", "2024-03-31", engine="duckdb", validate=False)


def test_a_file_of_rows_without_an_id_is_read_for_the_rejects_of_a_sorted_log(tmp_path):
    """Found by the property test: a file whose ids are all missing has no id range, and its rows were counted
    (from the statistics) but not written to the rejects."""
    log = {"frame": {"customer_id": ["a", "a", "a", None], "timestamp": [dt.datetime(2024, 1, 1)] * 4,
                     "amount": [10.0] * 4, "order_id": [1] * 4},
           "kind": "text", "by_time": False, "order": "int", "group_rows": 1, "files": 3}
    path = write_sorted(log, tmp_path / "log")
    assert len(list(path.glob("*.parquet"))) == 3  # the last file holds the row without an id only
    with streamed(1) as results:
        _, accounting = summarize(path, "2024-01-02", engine="duckdb", rejects_path=tmp_path / "rejects.parquet")
    assert results[0][0] is not None
    rejects = pd.read_parquet(tmp_path / "rejects.parquet")
    assert sorted(rejects["reason"]) == ["duplicate_row", "duplicate_row", "missing_customer_id"]
    assert len(rejects) == accounting.rows_rejected


@pytest.mark.parametrize("value, message", [("5e15", "not money"), ("inf", "not money")])
def test_a_trusted_csv_log_with_an_amount_that_is_not_money_is_an_error_in_sql_too(tmp_path, value, message):
    """The SQL steps cast a trusted log's money to a decimal of 15 integer digits: 1e15 and more fail the cast
    (16 digits let 1e15 to 1e16 through)."""
    log = _bench_like(customers=20)
    log = log.loc[log["amount"] > 0].reset_index(drop=True).astype({"amount": object})
    log.loc[3, "amount"] = value
    log.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(DataValidationError, match=message):
        summarize(tmp_path / "log.csv", "2024-03-31", engine="duckdb", validate=False)


def test_a_trusted_csv_log_with_a_timestamp_that_is_no_date_is_not_called_money(tmp_path):
    log = _bench_like(customers=20).astype({"timestamp": object})
    log.loc[3, "timestamp"] = "not a date"
    log.to_csv(tmp_path / "log.csv", index=False)
    with pytest.raises(DataValidationError, match="not of its column's kind.*not a date"):
        summarize(tmp_path / "log.csv", "2024-03-31", engine="duckdb", validate=False)
