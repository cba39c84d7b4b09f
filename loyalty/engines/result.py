"""What the engines return: the summary (or its collapsed form) with the row accounting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..data.rules import MONEY_MAX
from ..data.validate import RowAccounting
from ..errors import DataValidationError

__all__ = ["SummaryResult", "CollapsedStatistics", "collapsed_statistics", "finish_summary"]


class SummaryResult(NamedTuple):
    """``(summary, accounting)``: a per-customer summary or :class:`CollapsedStatistics`, and the
    :class:`~loyalty.data.RowAccounting` of the validation (``None`` when the log was not validated)."""

    summary: "pd.DataFrame | CollapsedStatistics"
    accounting: RowAccounting | None


@dataclass(frozen=True)
class CollapsedStatistics:
    """The fitting inputs of a summary, one row per distinct value with the number of customers as ``weights``.

    The BG/NBD likelihood depends on a customer only through (frequency, recency, T) and the Gamma-Gamma one
    through (frequency, monetary_value) of repeat customers, so these tables fit the same models as the
    per-customer summary (``BetaGeo().fit(stats.bgnbd)``, ``GammaGamma().fit(stats.gamma_gamma)``) with rows
    bounded by the distinct values (periods observed squared, times frequencies), not by the customers.

    Attributes
    ----------
    bgnbd : DataFrame
        ``frequency``, ``recency``, ``T``, ``weights``.
    gamma_gamma : DataFrame
        ``frequency``, ``monetary_value``, ``weights`` for customers with ``frequency > 0``.
    """

    bgnbd: pd.DataFrame
    gamma_gamma: pd.DataFrame

    @property
    def n_customers(self) -> int:
        return int(self.bgnbd["weights"].sum())

    @classmethod
    def from_frames(cls, bgnbd: pd.DataFrame, gamma_gamma: pd.DataFrame, settings: dict) -> "CollapsedStatistics":
        if len(bgnbd) == 0:
            raise DataValidationError(no_customers(settings))
        frames = []
        for frame in (bgnbd, gamma_gamma):
            frame = frame.reset_index(drop=True).astype(float)
            frame.attrs.update(_attrs(settings))
            frames.append(frame)
        return cls(*frames)


def collapsed_statistics(summary: pd.DataFrame) -> CollapsedStatistics:
    """Collapse a per-customer summary (from any engine) to :class:`CollapsedStatistics`.

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> stats = collapsed_statistics(summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W"))
    >>> stats.n_customers, len(stats.bgnbd) < stats.n_customers
    (2357, True)
    """
    def count(frame, keys):
        out = frame.groupby(keys, sort=True).size().rename("weights").reset_index()
        return out.astype(float)

    bgnbd = count(summary[["frequency", "recency", "T"]], ["frequency", "recency", "T"])
    repeat = summary.loc[summary["frequency"] > 0, ["frequency", "monetary_value"]]
    gamma_gamma = count(repeat, ["frequency", "monetary_value"])
    for frame in (bgnbd, gamma_gamma):
        frame.attrs.update(summary.attrs)
    return CollapsedStatistics(bgnbd, gamma_gamma)


#: The error for missing customer ids in a log summarised with ``validate=False`` (the engines' SQL groups them
#: into one customer, which would be summarised as if it were one).
def not_money(detail: str) -> str:
    """Every engine's error for a trusted log's (``validate=False``) amount or margin that is not money; ``detail``
    names the value."""
    return (f"the log (validate=False) holds an amount or margin that is not money (a finite number below "
            f"{MONEY_MAX:g} in magnitude): {detail}; validate it (validate=True)")


MISSING_IDS = ("column 'customer_id' has missing values; a log summarised with validate=False must be clean: "
               "validate it")


def finish_summary(frame: pd.DataFrame, settings: dict, sorted_ids: bool = False) -> pd.DataFrame:
    """An engine's summary rows as :func:`loyalty.data.summarize` returns them: indexed by sorted
    ``customer_id``, float columns, NaN for undefined margin rates, and the settings in ``attrs``.
    ``sorted_ids``: the engine sorted the ids already (DuckDB's byte order is Python's order for text and
    numbers), so the check is skipped."""
    if len(frame) == 0:
        raise DataValidationError(no_customers(settings))
    summary = frame.set_index("customer_id")
    if summary.index.hasnans:  # a trusted log with missing ids (a validated one rejects them)
        raise DataValidationError(MISSING_IDS)
    if not sorted_ids and not summary.index.is_monotonic_increasing:
        summary = summary.sort_index()
    summary = summary.astype({c: float for c in summary.columns if summary[c].dtype != float})
    if "margin_rate" in summary.columns:
        summary["margin_rate"] = summary["margin_rate"].fillna(np.nan)
    summary.attrs.update(_attrs(settings))
    return summary


def no_customers(settings: dict) -> str:
    """The error of :func:`loyalty.data.summarize` for a log with no transaction by the cut-off."""
    return f"no transaction on or before the cutoff {pd.Timestamp(settings['cutoff'])}: no customer to summarise"


def _attrs(settings: dict) -> dict:
    holdout_end = settings.get("holdout_end")
    return {
        "period": settings["period"],
        "unit": settings["unit"],
        "cutoff": str(pd.Timestamp(settings["cutoff"])),
        "holdout_end": None if holdout_end is None else str(pd.Timestamp(holdout_end)),
    }
