"""Engines: pandas, DuckDB and Spark give the same summaries, the same row accounting and the same fits."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from loyalty.clv import BetaGeo, CLVModel, GammaGamma
from loyalty.data import validate_transactions
from loyalty.engines import CollapsedStatistics, collapsed_statistics, default_engine, summarize

CDNOW_CUTOFF = "1997-09-30"
MESSY_CUTOFF = "2023-10-31"
SETTINGS = [
    pytest.param({"period": "D", "unit": "W"}, id="days-in-weeks"),
    pytest.param({"period": "W", "unit": "D", "holdout_end": "1998-03-31"}, id="weeks-holdout"),
    pytest.param({"period": "h"}, id="hours"),
]


def messy_log(seed: int = 3, n_customers: int = 300) -> pd.DataFrame:
    """A raw text log with every kind of bad row: missing ids and timestamps, unparseable timestamps,
    non-numeric and infinite amounts, bad margins, rows after the cut-off, exact duplicates, partial returns by
    order id, full returns on the same day, returns with nothing to net into, zero-spend customers."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_customers):
        cid = f"C{c:04d}"
        for j, day in enumerate(np.sort(rng.integers(0, 400, rng.integers(1, 8)))):
            ts = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(day), hours=int(rng.integers(0, 24)))
            order = f"{cid}-{j}" if rng.random() < 0.7 else None
            amount = round(float(rng.gamma(2, 20)), 2)
            items = int(rng.integers(1, 3))
            for i in range(items):
                rows.append((cid, f"{ts:%Y-%m-%d %H:%M:%S}", f"{amount + i}", f"{round(amount * 0.3, 2)}", order))
            u = rng.random()
            if u < 0.08:  # partial return of the order, up to two days later
                later = ts + pd.Timedelta(days=int(rng.integers(0, 3)))
                rows.append((cid, f"{later:%Y-%m-%d %H:%M:%S}", f"{-round(amount / 2, 2)}",
                             f"{-round(amount * 0.15, 2)}", order))
            elif u < 0.12:  # more than the day's purchases returned, no order id
                rows.append((cid, f"{ts:%Y-%m-%d %H:%M:%S}", f"{-(amount * items + 10)}", "0", None))
            elif u < 0.14:  # a return with no purchase that day nor that order
                rows.append((cid, f"{ts + pd.Timedelta(days=5):%Y-%m-%d}", "-5", "-1", "unknown-order"))
    bad = [
        (None, "2023-03-01", "10", "3", None),
        ("  ", "2023-03-01", "10", "3", None),
        ("C0001", None, "10", "3", None),
        ("C0001", "not a date", "10", "3", None),
        ("C0002", "2023-02-30", "10", "3", None),
        ("C0002", "2023-03-01", "ten", "3", None),
        ("C0003", "2023-03-01", "inf", "3", None),
        ("C0003", "2023-03-01", "12", "n/a", None),
        ("C0004", "2025-01-01", "12", "3", None),
        (" C0005 ", "2023-05-05", "0", "0", None),
        ("C9999", "2023-05-05", "0", "0", None),
    ]
    columns = ["customer_id", "timestamp", "amount", "margin", "order_id"]
    good = pd.DataFrame(rows, columns=columns)
    log = pd.concat([good, pd.DataFrame(bad, columns=columns), good.sample(30, random_state=seed),
                     pd.DataFrame([bad[3], bad[5]], columns=columns)], ignore_index=True)
    return log.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def cdnow_files(cdnow_full, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cdnow")
    cdnow_full.to_parquet(folder / "cdnow.parquet")
    cdnow_full.to_csv(folder / "cdnow.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messy")
    log = messy_log()
    log.to_csv(folder / "messy.csv", index=False)
    log.to_parquet(folder / "messy.parquet")
    return log, folder


def assert_same_summary(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    """frequency, recency and T bit for bit; money to 1e-9 (sums in another order)."""
    assert list(actual.index) == list(expected.index)
    assert list(actual.columns) == list(expected.columns)
    for column in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(actual[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
    for column in expected.columns.difference(["frequency", "recency", "T"]):
        np.testing.assert_allclose(actual[column].to_numpy(), expected[column].to_numpy(), rtol=1e-9, atol=1e-9,
                                   err_msg=column)
    assert actual.attrs == expected.attrs


def _settings(settings: dict, holdout_end: str) -> dict:
    return {**settings, "holdout_end": holdout_end} if "holdout_end" in settings else settings


# -- DuckDB ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("file_name", ["cdnow.parquet", "cdnow.csv"])
def test_duckdb_summary_equals_pandas_on_cdnow(cdnow_full, cdnow_files, settings, file_name):
    expected, expected_accounting = summarize(cdnow_full, CDNOW_CUTOFF, **settings)
    actual, accounting = summarize(cdnow_files / file_name, CDNOW_CUTOFF, engine="duckdb", **settings)
    assert_same_summary(expected, actual)
    assert accounting == expected_accounting


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("file_name", ["messy.csv", "messy.parquet"])
def test_duckdb_rejects_and_nets_returns_like_pandas(messy, settings, file_name):
    log, folder = messy
    settings = _settings(settings, "2024-01-31")
    expected, expected_accounting = summarize(log, MESSY_CUTOFF, **settings)
    actual, accounting = summarize(folder / file_name, MESSY_CUTOFF, **settings)
    assert_same_summary(expected, actual)
    assert accounting == expected_accounting


def test_messy_log_exercises_every_sql_reject_reason(messy):
    log, _ = messy
    _, accounting = summarize(log, MESSY_CUTOFF)
    assert set(accounting.rejected) == {
        "missing_customer_id", "missing_timestamp", "unparseable_timestamp", "invalid_amount", "invalid_margin",
        "after_cutoff", "duplicate_row", "unmatched_return", "fully_returned",
    }
    assert accounting.returns_netted > 0 and accounting.notes == {"zero_spend_customers_kept": 1}


def test_kept_duplicates_and_margin_rate_match_pandas(cdnow_full, cdnow_files):
    options = {"duplicates": "keep", "margin_rate": 0.3, "period": "D", "unit": "W"}
    expected, expected_accounting = summarize(cdnow_full, CDNOW_CUTOFF, **options)
    actual, accounting = summarize(cdnow_files / "cdnow.parquet", CDNOW_CUTOFF, **options)
    assert "margin_rate" in actual.columns
    assert_same_summary(expected, actual)
    assert accounting == expected_accounting


def copies_and_returns_log() -> pd.DataFrame:
    """Duplicates and returns of the same customers: copies of purchases that a return nets into, a copied
    return, copies of a customer's only purchase, a fully returned order beside zero-price purchases (spend
    exactly 0 after netting) and a copied row with a blank-padded id."""
    rows = [
        ("A", "2023-01-05 10:00", 10.37, 1.0, "a1"), ("A", "2023-01-05 10:00", 10.37, 1.0, "a1"),
        ("A", "2023-01-05 10:00", 10.37, 1.0, "a1"), ("A", "2023-01-05 10:00", 4.10, 0.5, "a1"),
        ("A", "2023-01-06 09:00", -5.0, -0.4, "a1"), ("A", "2023-01-06 09:00", -5.0, -0.4, "a1"),
        ("A", "2023-02-01 12:00", 7.25, 0.7, "a2"), ("A", "2023-02-01 12:00", 7.25, 0.7, "a2"),
        ("A", "2023-03-01 12:00", 3.10, 0.3, None),
        ("B", "2023-01-10 08:00", 0.0, 0.0, "b1"), ("B", "2023-01-10 08:00", 10.37, 2.0, "b2"),
        ("B", "2023-01-10 08:00", 20.11, 4.0, "b2"), ("B", "2023-01-11 08:00", -30.48, -6.0, "b2"),
        ("B", "2023-02-10 08:00", 0.0, 0.0, "b3"), ("B", "2023-02-10 08:00", 0.0, 0.0, "b3"),
        ("C", "2023-01-20 08:00", 12.5, 3.0, "c1"), ("C", "2023-01-20 08:00", 12.5, 3.0, "c1"),
        (" C ", "2023-01-21 08:00", 2.5, 1.0, "c2"), ("C", "2023-01-21 08:00", -1.0, 0.0, None),
        ("D", "2023-01-02 08:00", 8.0, 2.0, "d1"), ("D", "2023-01-03 08:00", -8.0, -2.0, "d1"),
        ("D", "2023-01-09 08:00", 5.0, 1.0, "d2"),
    ]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount", "margin", "order_id"])


@pytest.mark.parametrize("duplicates", ["drop", "keep"])
def test_duckdb_nets_returns_into_copied_purchases_like_pandas(tmp_path, duplicates):
    log = copies_and_returns_log()
    log.to_parquet(tmp_path / "log.parquet")
    expected, expected_accounting = summarize(log, "2023-06-30", duplicates=duplicates)
    actual, accounting = summarize(tmp_path / "log.parquet", "2023-06-30", duplicates=duplicates)
    assert_same_summary(expected, actual)
    assert accounting == expected_accounting
    assert expected_accounting.returns_netted > 0 and "fully_returned" in expected_accounting.rejected
    assert expected_accounting.notes == {"zero_spend_customers_kept": 1}


def test_duckdb_runs_within_a_memory_limit_and_spills(messy, tmp_path):
    log, folder = messy
    expected, expected_accounting = summarize(log, MESSY_CUTOFF)
    actual, accounting = summarize(folder / "messy.parquet", MESSY_CUTOFF, memory_limit="64MB",
                                   temp_directory=tmp_path / "spill", threads=1)
    assert_same_summary(expected, actual)
    assert accounting == expected_accounting


def test_duckdb_writes_the_per_customer_summary_and_returns_the_collapsed_table(cdnow_files, cdnow_full, tmp_path):
    stats, _ = summarize(cdnow_files / "cdnow.parquet", CDNOW_CUTOFF, unit="W", collapse=True,
                         summary_path=tmp_path / "summary.parquet")
    expected, _ = summarize(cdnow_full, CDNOW_CUTOFF, unit="W")
    written = pd.read_parquet(tmp_path / "summary.parquet").set_index("customer_id")
    assert isinstance(stats, CollapsedStatistics)
    assert stats.n_customers == len(expected) == len(written)
    assert len(stats.bgnbd) < len(expected) / 2
    local = collapsed_statistics(expected)
    pd.testing.assert_frame_equal(stats.bgnbd, local.bgnbd)
    # mean spends are sums in another order: equal to 1e-9, not always bit for bit, so compare per frequency
    by_frequency = stats.gamma_gamma.groupby("frequency")["weights"].sum()
    pd.testing.assert_series_equal(by_frequency, local.gamma_gamma.groupby("frequency")["weights"].sum())


def test_trusted_path_skips_validation_and_gives_the_same_summary_for_a_clean_log(cdnow_full, cdnow_files):
    expected, _ = summarize(cdnow_full, CDNOW_CUTOFF, validate=False, unit="W")
    actual, accounting = summarize(cdnow_files / "cdnow.parquet", CDNOW_CUTOFF, validate=False, unit="W")
    assert accounting is None
    assert_same_summary(expected, actual)


@pytest.fixture(scope="module")
def cdnow_by_customer(cdnow_full, tmp_path_factory):
    """CDNOW as an export sorted by customer: three files of row groups of 2,000 rows (customers cut at the
    files' and the row groups' boundaries), and the file of each row."""
    folder = tmp_path_factory.mktemp("cdnow_by_customer")
    log = cdnow_full.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    file_of_row = pd.Series("", index=log.index)
    for i, rows in enumerate(np.array_split(np.arange(len(log)), 3)):
        log.iloc[rows].to_parquet(folder / f"part-{i}.parquet", row_group_size=2_000)
        file_of_row.iloc[rows] = str(folder / f"part-{i}.parquet")
    return log, folder, file_of_row


def _streamed_chunks(monkeypatch, chunk_rows: int) -> dict:
    """Make the DuckDB engine stream logs sorted by customer in chunks of ``chunk_rows`` rows, and record what the
    streamed path returned (``None``: it fell back to SQL) and how many chunks it summarised."""
    from loyalty.engines import duckdb_engine

    seen = {"results": [], "chunks": 0}
    streamed, chunk_summary = duckdb_engine._summary_streamed, duckdb_engine.summary_and_order

    def recording_streamed(*args, **kwargs):
        seen["results"].append(streamed(*args, **kwargs))
        return seen["results"][-1]

    def counting_summary(*args, **kwargs):
        seen["chunks"] += 1
        return chunk_summary(*args, **kwargs)

    monkeypatch.setattr(duckdb_engine, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(duckdb_engine, "_summary_streamed", recording_streamed)
    monkeypatch.setattr(duckdb_engine, "summary_and_order", counting_summary)
    return seen


def test_a_trusted_log_sorted_by_customer_is_streamed_in_chunks_with_the_same_result(cdnow_by_customer, monkeypatch):
    from loyalty.engines import duckdb_engine

    log, folder, _ = cdnow_by_customer
    order = duckdb_engine.customer_order(folder, "customer_id")
    assert order is not None and order.rows == len(log)
    assert order.files == tuple(str(folder / f"part-{i}.parquet") for i in range(3))
    seen = _streamed_chunks(monkeypatch, 5_000)
    for settings in ({"unit": "W"}, {"period": "W", "holdout_end": "1998-03-31", "margin_rate": 0.3}):
        expected, _ = summarize(log, CDNOW_CUTOFF, validate=False, **settings)
        actual, _ = summarize(folder, CDNOW_CUTOFF, validate=False, engine="duckdb", **settings)
        assert_same_summary(expected, actual)
    stats, _ = summarize(folder, CDNOW_CUTOFF, validate=False, unit="W", collapse=True)
    expected, _ = summarize(log, CDNOW_CUTOFF, validate=False, unit="W")
    pd.testing.assert_frame_equal(stats.bgnbd, collapsed_statistics(expected).bgnbd)
    assert len(seen["results"]) == 3 and all(result[0] is not None for result in seen["results"])  # no fallback
    assert seen["chunks"] >= 3 * 3  # each log cut into several chunks


def test_a_validated_log_sorted_by_customer_is_streamed_with_the_validators_accounting(cdnow_by_customer,
                                                                                     monkeypatch):
    """CDNOW holds identical same-day records (copies for duplicates="drop"); validated chunk by chunk, the
    summary and the row accounting are the pandas validator's, bit for bit."""
    log, folder, _ = cdnow_by_customer
    seen = _streamed_chunks(monkeypatch, 5_000)
    for settings in ({"unit": "W"}, {"unit": "W", "duplicates": "keep"},
                     {"period": "W", "holdout_end": "1998-03-31", "margin_rate": 0.3}):
        expected, expected_accounting = summarize(log, CDNOW_CUTOFF, **settings)
        actual, accounting = summarize(folder, CDNOW_CUTOFF, engine="duckdb", **settings)
        pd.testing.assert_frame_equal(actual, expected, check_index_type=False)
        assert accounting == expected_accounting
    assert expected_accounting.rejected["after_cutoff"] > 0
    assert summarize(log, CDNOW_CUTOFF)[1].rejected["duplicate_row"] > 0
    assert len(seen["results"]) == 3 and all(result[0] is not None for result in seen["results"])  # no fallback
    assert seen["chunks"] >= 3 * 3


def test_files_are_streamed_in_the_order_of_their_ids_not_of_their_names(cdnow_full, tmp_path, monkeypatch):
    from loyalty.engines import duckdb_engine

    log = cdnow_full.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    halves = np.array_split(np.arange(len(log)), 2)
    log.iloc[halves[0]].to_parquet(tmp_path / "z-first-ids.parquet", row_group_size=5_000)
    log.iloc[halves[1]].to_parquet(tmp_path / "a-last-ids.parquet", row_group_size=5_000)
    order = duckdb_engine.customer_order(tmp_path, "customer_id")
    assert order.files == (str(tmp_path / "z-first-ids.parquet"), str(tmp_path / "a-last-ids.parquet"))
    seen = _streamed_chunks(monkeypatch, 5_000)
    expected, _ = summarize(log, CDNOW_CUTOFF, validate=False, unit="W")
    actual, _ = summarize(tmp_path, CDNOW_CUTOFF, validate=False, engine="duckdb", unit="W")
    assert_same_summary(expected, actual)
    assert seen["results"][0][0] is not None


def test_a_log_not_sorted_inside_its_row_groups_falls_back_to_sql_with_the_same_result(cdnow_full, tmp_path,
                                                                                         monkeypatch):
    """Row groups whose id ranges follow one another, but rows shuffled inside each: a chunk cut inside a group
    shares customers with the next one. The chunks' id ranges show it, and the log is summarised in SQL instead."""
    from loyalty.engines import duckdb_engine

    log = cdnow_full.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    shuffled = np.concatenate([np.random.default_rng(start).permutation(np.arange(start, min(start + 2_000, len(log))))
                               for start in range(0, len(log), 2_000)])  # inside each row group
    log.iloc[shuffled].to_parquet(tmp_path / "log.parquet", row_group_size=2_000)
    assert duckdb_engine.customer_order(tmp_path / "log.parquet", "customer_id") is not None
    seen = _streamed_chunks(monkeypatch, 5_000)
    expected, _ = summarize(log, CDNOW_CUTOFF, validate=False, unit="W")
    actual, _ = summarize(tmp_path / "log.parquet", CDNOW_CUTOFF, validate=False, engine="duckdb", unit="W")
    assert seen["results"] == [(None, None)]
    assert_same_summary(expected, actual)


def test_a_missing_id_in_a_trusted_parquet_log_is_an_error_not_a_lost_row(cdnow_full, tmp_path):
    from loyalty.errors import DataValidationError

    log = cdnow_full.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    log.loc[len(log) - 1, "customer_id"] = None  # in the last row group
    log.to_parquet(tmp_path / "log.parquet", row_group_size=2_000)
    with pytest.raises(DataValidationError, match=f"'customer_id' has 1 missing values of {len(log):,} rows"):
        summarize(tmp_path / "log.parquet", CDNOW_CUTOFF, validate=False, engine="duckdb")


@pytest.mark.parametrize("output", ["summary", "collapsed", "summary_path"])
def test_a_missing_id_in_a_trusted_log_summarised_in_sql_is_an_error_not_a_customer(cdnow_full, tmp_path, output):
    """SQL groups missing ids into one more "customer"; a trusted log must not have them (a validated one rejects
    them), as the in-memory summary and the statistics of a sorted parquet log say."""
    from loyalty.errors import DataValidationError

    log = cdnow_full.copy()
    log.loc[5, "customer_id"] = None  # a purchase in 1997, before the cut-off
    log.to_csv(tmp_path / "log.csv", index=False)
    options = {"collapsed": {"collapse": True}, "summary_path": {"summary_path": tmp_path / "summary.parquet"}}
    with pytest.raises(DataValidationError, match="'customer_id' has missing values"):
        summarize(tmp_path / "log.csv", CDNOW_CUTOFF, validate=False, engine="duckdb", **options.get(output, {}))
    assert not (tmp_path / "summary.parquet").exists()
    with pytest.raises(DataValidationError, match="'customer_id' has 1 missing values"):
        summarize(log, CDNOW_CUTOFF, validate=False, engine="pandas")


def test_a_log_not_sorted_by_customer_is_summarised_in_sql(cdnow_full, tmp_path):
    from loyalty.engines import duckdb_engine

    by_time = cdnow_full.sort_values("timestamp", kind="stable")
    by_time.to_parquet(tmp_path / "by_time.parquet", row_group_size=2_000)
    by_time.to_csv(tmp_path / "by_time.csv", index=False)
    by_customer = cdnow_full.sort_values("customer_id", kind="stable")
    by_customer.to_parquet(tmp_path / "one_group.parquet")
    assert duckdb_engine.customer_order(tmp_path / "by_time.parquet", "customer_id") is None
    assert duckdb_engine.customer_order(tmp_path / "by_time.csv", "customer_id") is None
    assert duckdb_engine.customer_order(tmp_path / "one_group.parquet", "customer_id") is None  # nothing to cut


def test_default_engine_follows_the_input(cdnow_full, tmp_path):
    assert default_engine(cdnow_full) == "pandas"
    assert default_engine(tmp_path / "log.parquet") == "duckdb"
    assert default_engine(str(tmp_path / "log.csv")) == "duckdb"


# -- fitting on collapsed statistics -----------------------------------------------------------------------------
def test_fits_on_collapsed_statistics_equal_fits_on_the_per_customer_summary(cdnow_full, cdnow_files):
    summary, _ = summarize(cdnow_full, CDNOW_CUTOFF, unit="W")
    stats, _ = summarize(cdnow_files / "cdnow.parquet", CDNOW_CUTOFF, unit="W", collapse=True)
    bg, bg_collapsed = BetaGeo().fit(summary), BetaGeo().fit(stats.bgnbd)
    assert bg_collapsed.params_ == pytest.approx(bg.params_, rel=1e-9)
    assert bg_collapsed.log_likelihood_ == pytest.approx(bg.log_likelihood_, rel=1e-12)
    assert bg_collapsed.n_customers_ == bg.n_customers_ == len(summary)
    assert bg_collapsed.time_unit_ == "W"
    gg, gg_collapsed = GammaGamma().fit(summary), GammaGamma().fit(stats.gamma_gamma)
    assert gg_collapsed.params_ == pytest.approx(gg.params_, rel=1e-6)
    assert gg_collapsed.n_customers_ == gg.n_customers_
    assert gg_collapsed.spend_frequency_correlation_ == pytest.approx(gg.spend_frequency_correlation_, rel=1e-9)


def test_weights_must_be_positive_counts(cdnow_full):
    stats = collapsed_statistics(summarize(cdnow_full, CDNOW_CUTOFF, unit="W").summary)
    broken = stats.bgnbd.assign(weights=stats.bgnbd["weights"] - 1)
    with pytest.raises(Exception, match="weights"):
        BetaGeo().fit(broken)


# -- Spark (local[2]) --------------------------------------------------------------------------------------------


@pytest.mark.spark
def test_spark_summary_equals_pandas_on_cdnow(spark, cdnow_full, cdnow_files):
    from loyalty.engines.spark_engine import read

    settings = {"period": "D", "unit": "W"}
    expected, expected_accounting = summarize(cdnow_full, CDNOW_CUTOFF, **settings)
    actual, accounting = summarize(read(spark, cdnow_files / "cdnow.parquet"), CDNOW_CUTOFF, **settings)
    assert_same_summary(expected, actual)
    assert accounting == expected_accounting


@pytest.mark.spark
def test_spark_rejects_and_nets_returns_like_pandas_and_duckdb(spark, messy):
    log, folder = messy
    settings = {"period": "W", "unit": "D", "holdout_end": "2024-01-31"}
    expected, expected_accounting = summarize(log, MESSY_CUTOFF, **settings)
    in_duckdb, duckdb_accounting = summarize(folder / "messy.csv", MESSY_CUTOFF, **settings)
    actual, accounting = summarize(folder / "messy.csv", MESSY_CUTOFF, engine="spark", spark=spark, **settings)
    assert_same_summary(expected, actual)
    assert_same_summary(in_duckdb, actual)
    assert accounting == expected_accounting == duckdb_accounting


@pytest.mark.spark
def test_spark_writes_the_rejected_rows_duckdb_writes(spark, messy, tmp_path):
    _, folder = messy
    summarize(folder / "messy.csv", MESSY_CUTOFF, rejects_path=tmp_path / "duck.parquet")
    summarize(folder / "messy.csv", MESSY_CUTOFF, engine="spark", spark=spark, rejects_path=tmp_path / "spark")
    rows = [sorted(map(tuple, pd.read_parquet(path).fillna("").astype(str).to_numpy()))
            for path in (tmp_path / "duck.parquet", tmp_path / "spark")]
    assert rows[1] == rows[0] and len(rows[0]) > 50


@pytest.mark.spark
def test_spark_collapsed_statistics_and_scoring_equal_the_local_path(spark, cdnow_full, cdnow_files, tmp_path):
    from loyalty.engines import spark_engine

    summary, _ = summarize(cdnow_full, CDNOW_CUTOFF, unit="W")
    stats, _ = summarize(spark_engine.read(spark, cdnow_files / "cdnow.parquet"), CDNOW_CUTOFF, unit="W",
                         collapse=True, summary_path=tmp_path / "summary")
    pd.testing.assert_frame_equal(stats.bgnbd, collapsed_statistics(summary).bgnbd)
    model = CLVModel.from_models(BetaGeo().fit(stats.bgnbd), GammaGamma().fit(stats.gamma_gamma), margin_rate=0.25)
    spark_engine.score(spark.read.parquet(str(tmp_path / "summary")), model, tmp_path / "scores", as_of=CDNOW_CUTOFF)
    scored = pd.read_parquet(tmp_path / "scores" / f"as_of={CDNOW_CUTOFF}").set_index("customer_id").sort_index()
    expected = model.score(summary, interval=None)
    assert list(scored.index) == list(expected.index)
    np.testing.assert_allclose(scored[expected.columns].to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_duckdb_scoring_in_batches_equals_scoring_in_memory(cdnow_full, cdnow_files, tmp_path):
    from loyalty.engines import duckdb_engine

    stats, _ = summarize(cdnow_files / "cdnow.parquet", CDNOW_CUTOFF, unit="W", collapse=True,
                         summary_path=tmp_path / "summary.parquet")
    model = CLVModel.from_models(BetaGeo().fit(stats.bgnbd), GammaGamma().fit(stats.gamma_gamma), margin_rate=0.25)
    folder = duckdb_engine.score(tmp_path / "summary.parquet", model, tmp_path / "scores", as_of=CDNOW_CUTOFF,
                                 interval=0.9, batch_rows=5000)
    scored = pd.read_parquet(folder).set_index("customer_id").sort_index()
    summary, _ = summarize(cdnow_full, CDNOW_CUTOFF, unit="W")
    expected = model.score(summary, interval=0.9)
    assert list(scored.index) == list(expected.index)
    point = ["p_alive", "expected_purchases", "expected_spend", "clv"]
    np.testing.assert_allclose(scored[point].to_numpy(), expected[point].to_numpy(), rtol=1e-9, atol=1e-12)
    # the interval is a finite-difference (delta-method) estimate: batch sizes move it in the 9th digit
    interval = ["clv_se", "clv_lower", "clv_upper"]
    np.testing.assert_allclose(scored[interval].to_numpy(), expected[interval].to_numpy(), rtol=1e-6, atol=1e-9)


def test_cli_summarize_runs_on_duckdb_by_default_with_the_pandas_summary_and_rejected_rows(cdnow_files, tmp_path,
                                                                                           capsys):
    from loyalty.cli import main

    args = ["summarize", str(cdnow_files / "cdnow.csv"), "--cutoff", CDNOW_CUTOFF, "--unit", "W"]
    assert main([*args, "--engine", "pandas", "--out", str(tmp_path / "pandas.parquet")]) == 0
    in_memory = capsys.readouterr().out
    assert main([*args, "--memory-limit", "256MB", "--out", str(tmp_path / "duck.parquet")]) == 0
    printed = capsys.readouterr().out
    assert "engine duckdb" in printed
    assert printed.splitlines()[0] == in_memory.splitlines()[0]  # the accounting line
    expected, actual = (pd.read_parquet(tmp_path / f"{name}.parquet") for name in ("pandas", "duck"))
    assert_same_summary(expected, actual)
    columns = ["customer_id", "timestamp", "amount", "reason"]
    rejected = [pd.read_parquet(tmp_path / f"{name}_rejects.parquet")[columns] for name in ("pandas", "duck")]
    rows = [sorted(map(tuple, frame.astype(str).to_numpy())) for frame in rejected]
    assert rows[1] == rows[0] and len(rows[0]) == 20573 + 113


@pytest.mark.parametrize("duplicates", ["drop", "keep"])
def test_duckdb_writes_the_rejected_rows_the_pandas_validator_rejects(messy, tmp_path, duplicates):
    log, folder = messy
    expected = validate_transactions(log, cutoff=MESSY_CUTOFF, duplicates=duplicates).rejects
    _, accounting = summarize(folder / "messy.parquet", MESSY_CUTOFF, duplicates=duplicates,
                              rejects_path=tmp_path / "rejects.parquet")
    written = pd.read_parquet(tmp_path / "rejects.parquet")
    assert written["reason"].value_counts().to_dict() == accounting.rejected
    assert written["reason"].value_counts().to_dict() == expected["reason"].value_counts().to_dict()
    for reason in expected["reason"].unique():  # the same customers' rows, whichever reason
        ids = [sorted(frame.loc[frame["reason"] == reason, "customer_id"].fillna("").astype(str).str.strip())
               for frame in (expected, written)]
        assert ids[1] == ids[0], reason


def test_score_dispatch_gives_the_same_scores_in_memory_and_from_a_file(cdnow_files, tmp_path):
    from loyalty.engines import score

    summary, _ = summarize(cdnow_files / "cdnow.parquet", CDNOW_CUTOFF, unit="W", summary_path=tmp_path / "s.parquet")
    model = CLVModel(margin_rate=0.25).fit(summary)
    in_memory = score(summary, model, tmp_path / "pandas", as_of=CDNOW_CUTOFF)
    from_file = score(tmp_path / "s.parquet", model, tmp_path / "duckdb", as_of=CDNOW_CUTOFF)
    assert in_memory.name == from_file.name == f"as_of={CDNOW_CUTOFF}"
    expected = pd.read_parquet(in_memory).set_index("customer_id")
    actual = pd.read_parquet(from_file).set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(actual, expected, rtol=1e-12, check_index_type=False)
