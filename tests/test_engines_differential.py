"""Differential property test: on small hostile logs, pandas, DuckDB and Spark give the same summary and row
accounting, or the same typed error.

The logs are CSV text with every kind of value the rules of :mod:`loyalty.data.rules` decide on: ids with ASCII and
Unicode whitespace, numeric-looking and blank ids; ISO timestamps with and without time, fractions, ``Z`` and
offsets, the basic form, slash dates, impossible dates, years outside 1678-2261; amounts with signs, exponents,
``1_000``, ``nan``/``inf``, blanks and words; returns that cancel their purchase to rounding error; amounts at the money range's edge; duplicates;
order ids present or not. ``LOYALTY_DIFFERENTIAL_EXAMPLES`` raises the number of examples (the suite runs a modest
number); ``LOYALTY_DIFFERENTIAL_LOG`` names a JSON-lines file that gets one line per case (for the closing counts).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loyalty.engines import summarize  # noqa: E402
from loyalty.errors import LoyaltyError  # noqa: E402

EXAMPLES = int(os.environ.get("LOYALTY_DIFFERENTIAL_EXAMPLES", "0"))
# a large run reports the first failing case as found (shrinking slow examples takes longer than the run)
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] if EXAMPLES else list(Phase)
LOG = os.environ.get("LOYALTY_DIFFERENTIAL_LOG")

IDS = st.sampled_from(["a", "b", "c", " a", "a ", "\u00a0a", "a\u3000", "\ta", "b\n", "007", "7", "", "  ", "2.5",
                       "C0001", "é", "a b"])
DAYS = st.sampled_from(["2024-01-01", "2024-01-02", "2024-01-07", "2024-01-08", "2024-02-29", "2024-03-31"])
TIMES = st.sampled_from(["", " 00:00", " 12:00", "T23:59:59", " 10:30:00.5", "T08:00:00.123456", " 23:59:59.999999"])
ZONES = st.sampled_from(["Z", "+02:00", "-05:00", "+0530", "-03"])
ODD_TIMESTAMPS = st.sampled_from(["20240105", "2024-02-30", "9999-12-31", "1500-06-01", "not a date", "", " ",
                                  "2024-13-01", "2024-01-05 25:00", "2024/01/05", "05/01/2024 10:00"])
AMOUNTS = st.sampled_from(["10", "5.25", "0.1", "0.2", "0.3", "-0.3", "-5.25", "-2.5", "-100", "0", " 7 ", "+3",
                           ".5", "5.", "1e2", "1_000", "1,5", "nan", "inf", "-inf", "", "ten", "1e400", "0x10",
                           "1e15", "-9.5e14"])


@st.composite
def timestamps(draw, aware: bool) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(ODD_TIMESTAMPS)
    time = draw(TIMES)
    text = draw(DAYS) + time
    if aware and time:  # a zone needs a time of day; a date alone in an aware log is naive (an error)
        text += draw(ZONES)
    return text


@st.composite
def logs(draw) -> dict:
    """A hostile log as CSV rows, and the summary settings to run it with."""
    aware = draw(st.integers(0, 5)) == 0  # mostly naive logs; some aware (a naive value among them is an error)
    with_order = draw(st.booleans())
    n = draw(st.integers(1, 14))
    rows = []
    for _ in range(n):
        row = [draw(IDS), draw(timestamps(aware)), draw(AMOUNTS)]
        if with_order:
            row.append(draw(st.sampled_from(["o1", "o2", "o3", ""])))
        rows.append(row)
    # returns that cancel their purchase to rounding error (0.1 + 0.2 - 0.3), as on UCI Online Retail
    if draw(st.booleans()):
        who, day = draw(IDS), draw(DAYS)
        order = ["o9"] if with_order else []
        rows += [[who, f"{day} 10:00", "0.1", *order], [who, f"{day} 10:00", "0.2", *order],
                 [who, f"{day} 11:00", "-0.3", *order]]
    rows += draw(st.lists(st.sampled_from(rows), max_size=2))  # exact duplicates
    rows = draw(st.permutations(rows))
    header = ["customer_id", "timestamp", "amount"] + (["order_id"] if with_order else [])
    cutoff = draw(st.sampled_from(["2024-01-02", "2024-01-07 12:00:00", "2024-02-29", "2024-03-31"]))
    options = {"period": draw(st.sampled_from(["D", "W", "h"])), "duplicates": draw(st.sampled_from(["drop", "keep"]))}
    if draw(st.booleans()):
        options["holdout_end"] = "2024-06-30"
    return {"header": header, "rows": rows, "cutoff": cutoff, "options": options}


def outcome(path: Path, log: dict, engine: str, spark=None):
    """``("summary", frame, accounting)`` or ``("error", type name)``; anything but a LoyaltyError propagates."""
    options = dict(log["options"], engine=engine)
    if engine == "spark":
        options["spark"] = spark
    try:
        summary, accounting = summarize(path, log["cutoff"], **options)
    except LoyaltyError as error:
        return ("error", type(error).__name__)
    return ("summary", summary, accounting)


def assert_same(expected, actual, engine: str) -> None:
    assert expected[0] == actual[0], f"{engine}: {actual} where pandas gave {expected}"
    if expected[0] == "error":
        assert actual[1] == expected[1], engine
        return
    _, want, want_accounting = expected
    _, got, got_accounting = actual
    assert got_accounting == want_accounting, engine
    assert [str(i) for i in got.index] == [str(i) for i in want.index], engine
    assert list(got.columns) == list(want.columns), engine
    for column in ("frequency", "recency", "T", "frequency_holdout", "duration_holdout"):
        if column in want.columns:
            np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy(), err_msg=engine + column)
    for column in want.columns.difference(["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]):
        np.testing.assert_allclose(got[column].to_numpy(), want[column].to_numpy(), rtol=1e-9, atol=1e-9,
                                   err_msg=engine + column)


def write(log: dict, folder: Path) -> Path:
    path = folder / "log.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(log["header"])
        writer.writerows(log["rows"])
    return path


def record(log: dict, results: dict) -> None:
    if LOG:
        kinds = {engine: result[0] if result[0] == "summary" else f"error:{result[1]}"
                 for engine, result in results.items()}
        rows_lost = [r[2].rows_read - r[2].rows_used - r[2].rows_rejected for r in results.values()
                     if r[0] == "summary"]
        with open(LOG, "a") as handle:
            handle.write(json.dumps({"rows": len(log["rows"]), "outcomes": kinds, "rows_lost": rows_lost}) + "\n")


def check(log: dict, engines: tuple[str, ...], spark=None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(log, Path(folder))
        results = {engine: outcome(path, log, engine, spark) for engine in ("pandas", *engines)}
    record(log, results)
    for engine in engines:
        assert_same(results["pandas"], results[engine], engine)
    if results["pandas"][0] == "summary":
        accounting = results["pandas"][2]
        assert accounting.rows_read == len(log["rows"])  # every input row is accounted for


@settings(max_examples=EXAMPLES or 40, deadline=None, suppress_health_check=list(HealthCheck),
          phases=PHASES, derandomize=False)
@given(logs())
def test_pandas_and_duckdb_agree_on_hostile_logs(log):
    check(log, ("duckdb",))




@pytest.mark.spark
@pytest.mark.slow
@settings(max_examples=EXAMPLES or 8, deadline=None, suppress_health_check=list(HealthCheck),
          phases=PHASES, derandomize=False)
@given(log=logs())
def test_pandas_duckdb_and_spark_agree_on_hostile_logs(spark, log):
    check(log, ("duckdb", "spark"), spark)
