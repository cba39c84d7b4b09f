"""Real data sets shipped with the package (compressed, byte-exact copies; provenance in ``README.md`` here).

- :func:`load_cdnow`: the CDNOW transaction log (Fader & Hardie), the 1/10 sample or the full cohort.
- :func:`load_cdnow_summary`: the published per-customer calibration summary of the CDNOW sample
  (x, t_x, T in weeks, zbar), the input behind Fader, Hardie & Lee (2005).
- :func:`load_hillstrom`: the Hillstrom (MineThatData, 2008) randomized e-mail experiment.
- :func:`load_donations`: the 11,104 first-time donors of Fader, Hardie & Shang (2010), collapsed (BG/BB).
- :func:`load_retention_cohorts`: two cohorts' active customers per year, Fader & Hardie (2007) (sBG).

Example
-------
>>> from loyalty.datasets import load_cdnow
>>> tx = load_cdnow()
>>> len(tx), tx["customer_id"].nunique()
(6919, 2357)
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_cdnow", "load_cdnow_summary", "load_donations", "load_hillstrom", "load_retention_cohorts"]

_DATA = resources.files(__name__) / "data"


def _open(name: str):
    return (_DATA / name).open("rb")


def load_cdnow(sample: bool = True) -> pd.DataFrame:
    """The CDNOW purchase log in the transaction data contract.

    Parameters
    ----------
    sample : bool, default True
        ``True``: Hardie's 1/10 systematic sample (2,357 customers, 6,919 rows), the data of Fader, Hardie &
        Lee (2005). ``False``: the full Q1-1997 cohort (23,570 customers, 69,659 rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id`` (str, the master id ``"00001"``..``"23570"``), ``timestamp`` (datetime64,
        a date), ``quantity`` (CDs, int), ``amount`` (USD). One row per purchase record, in file order;
        same-day records are kept as they are (aggregate with :func:`loyalty.data.summarize`).
    """
    if sample:
        with _open("CDNOW_sample.txt.gz") as fh:
            raw = pd.read_csv(
                fh, compression="gzip", sep=r"\s+", header=None,
                names=["customer_id", "sample_id", "date", "quantity", "amount"],
                dtype={"customer_id": str, "sample_id": str, "date": str},
            )
    else:
        with _open("CDNOW_master.txt.gz") as fh:
            raw = pd.read_csv(
                fh, compression="gzip", sep=r"\s+", header=0,
                names=["customer_id", "date", "quantity", "amount"],
                dtype={"customer_id": str, "date": str},
            )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(str),
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "quantity": raw["quantity"].astype("int64"),
            "amount": raw["amount"].astype("float64"),
        }
    )


def load_cdnow_summary() -> pd.DataFrame:
    """The published calibration summary of the CDNOW sample (weeks, calibration to 1997-09-30).

    Returns
    -------
    pandas.DataFrame
        Indexed by the sample id ``ID`` (1..2357), columns ``frequency`` (x, repeat purchase days),
        ``recency`` (t_x, weeks from first purchase to last calibration purchase, 2 decimals), ``T`` (weeks from
        first purchase to the end of calibration) and ``monetary_value`` (zbar, mean dollars of the repeat
        purchase days; 0 when x = 0).
    """
    with _open("cdnow_customers_summary_with_transactions.csv.gz") as fh:
        raw = pd.read_csv(fh, compression="gzip", index_col="ID")
    return raw.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


def load_hillstrom() -> pd.DataFrame:
    """The Hillstrom (MineThatData, 2008-03-20) randomized e-mail experiment, 64,000 customers.

    Returns
    -------
    pandas.DataFrame
        The publisher's 12 columns as published (``recency``, ``history_segment``, ``history``, ``mens``,
        ``womens``, ``zip_code``, ``newbie``, ``channel``, ``segment`` (the arm: ``"Womens E-Mail"``,
        ``"Mens E-Mail"``, ``"No E-Mail"``), ``visit``, ``conversion``, ``spend`` (revenue, USD, two weeks after))
        plus ``customer_id`` (the row number as ``"H00001"``.. since the file has no id). ``spend`` is revenue,
        not margin: margin and offer costs are explicit assumptions of the caller.
    """
    with _open("hillstrom_2008.csv.gz") as fh:
        frame = pd.read_csv(fh, compression="gzip")
    frame.insert(0, "customer_id", [f"H{i:05d}" for i in range(1, len(frame) + 1)])
    return frame


def load_donations() -> pd.DataFrame:
    """The donation histories of Fader, Hardie & Shang (2010), collapsed: one row per distinct history.

    11,104 people who first donated to a US non-profit in 1995, observed at its six yearly appeals 1996-2001
    (Fader, Hardie & Shang, 2010, "Customer-base analysis in a discrete-time noncontractual setting",
    *Marketing Science* 29(6)); the input of :class:`loyalty.clv.BetaGeoBetaBinom`.

    Returns
    -------
    pandas.DataFrame
        22 rows, columns ``frequency`` (x, appeals with a donation), ``recency`` (t_x, the last such appeal,
        1..6, 0 when x = 0), ``n_periods`` (n = 6 appeals) and ``weights`` (donors with that history; 11,104 in
        all). The publisher's column ``periods`` is renamed ``n_periods``.
    """
    with _open("donations.csv.gz") as fh:
        raw = pd.read_csv(fh, compression="gzip")
    return raw.rename(columns={"periods": "n_periods"})


def load_retention_cohorts() -> pd.DataFrame:
    """Customers still active at the start of each year, per 1,000 acquired, for two cohorts of one company.

    Fader & Hardie (2007), "How to project customer retention", *Journal of Interactive Marketing* 21(1), 76-90,
    Table 1: the paper fits the shifted-beta-geometric model (:class:`loyalty.clv.ShiftedBetaGeo`) to years
    0-7 and judges the projection on years 8-12.

    Returns
    -------
    pandas.DataFrame
        Index ``year`` (0..12), columns ``high_end`` and ``regular`` (active customers; 1,000 at year 0).
    """
    with _open("retention_cohorts_fader_hardie_2007.csv.gz") as fh:
        return pd.read_csv(fh, compression="gzip", index_col="year")
