"""Shared test fixtures.

Fixtures here are generic (data sets, reference libraries); tests own their specific inputs.
"""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest


def _ensure_pkg_resources() -> None:
    """Let ``import lifetimes`` work where setuptools no longer ships ``pkg_resources`` (tests only).

    lifetimes 0.11.3 imports ``pkg_resources`` only to read its own version for ``__version__``; a stub module
    that answers that one question is enough. Nothing is stubbed when the real module imports.
    """
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        stub = types.ModuleType("pkg_resources")

        class DistributionNotFound(Exception):
            pass

        def get_distribution(name):
            from importlib.metadata import PackageNotFoundError, version

            try:
                return types.SimpleNamespace(project_name=name, version=version(name))
            except PackageNotFoundError as error:
                raise DistributionNotFound(name) from error

        stub.DistributionNotFound = DistributionNotFound
        stub.get_distribution = get_distribution
        sys.modules["pkg_resources"] = stub


_ensure_pkg_resources()


@pytest.fixture(scope="session")
def lifetimes_utils():
    """``lifetimes.utils`` (the reference implementation of the RFM summary); skips if lifetimes is absent."""
    return pytest.importorskip("lifetimes.utils")


@pytest.fixture(scope="session")
def lifetimes_module():
    """The ``lifetimes`` package; skips if it is absent."""
    return pytest.importorskip("lifetimes")


@pytest.fixture(scope="session")
def cdnow_sample() -> pd.DataFrame:
    """The CDNOW 1/10 sample log (6,919 rows, 2,357 customers), loaded once. Do not modify it in a test."""
    from loyalty.datasets import load_cdnow

    return load_cdnow(sample=True)


@pytest.fixture(scope="session")
def cdnow_full() -> pd.DataFrame:
    """The full CDNOW cohort log (69,659 rows, 23,570 customers), loaded once. Do not modify it in a test."""
    from loyalty.datasets import load_cdnow

    return load_cdnow(sample=False)


@pytest.fixture(scope="session")
def cdnow_published_summary() -> pd.DataFrame:
    """Fader & Hardie's published calibration summary of the CDNOW sample (weeks, to 1997-09-30)."""
    from loyalty.datasets import load_cdnow_summary

    return load_cdnow_summary()


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (2 cores) for every Spark test: the engines, hostile inputs and the differential."""
    import os

    pyspark_sql = pytest.importorskip("pyspark.sql")
    # Python workers must run this interpreter (the one with loyalty and pyarrow), not the first python on PATH
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
    session.stop()


@pytest.fixture(scope="module")
def weekly_summary():
    """CDNOW's 2,357-customer cohort summarised as Fader, Hardie & Lee (2005) do: calibration to 1997-09-30, the
    time axis in fractional weeks from each customer's first purchase day, same-day purchases once. One copy
    per test module (a module may add columns)."""
    from loyalty.data import summarize
    from loyalty.datasets import load_cdnow

    return summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
