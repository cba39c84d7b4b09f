"""The CLV formulae the models and the CLV computation share, as functions of parameters and summary arrays.

Private to :mod:`loyalty.clv` (its modules import these names; users call the models' methods). References:
Fader, Hardie & Lee (2005), "Counting your customers" the easy way, *Marketing Science* 24(2) (BG/NBD, "FHL
2005"); Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", brucehardie.com/notes/025 ("note 025").
Times are in the BG/NBD model's time unit; money in the summary's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import hyp2f1

from ..errors import DataValidationError, Hint
from ._mle import unique_rows

__all__ = [
    "p_alive", "expected_purchases_if_alive", "expected_purchases_matrix", "expected_spend", "margin_rate",
    "nbd_expected_purchases",
]


def p_alive(params: dict, x, t_x, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) under the BG/NBD (FHL 2005, eq. 11); 1 for customers without repeat purchases.

    ``params``: ``r``, ``alpha``, ``a``, ``b``; ``x`` repeat purchases, ``t_x`` recency, ``T`` age (arrays).
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = (
            np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
    return np.where(x > 0, np.exp(-np.logaddexp(0.0, log_ratio)), 1.0)


def expected_purchases_matrix(params: dict, x, t_x, T, horizons: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T + h] | x, t_x, T] for every customer (rows) and horizon h (columns), FHL 2005 eq. 10.

    ``params`` values are scalars (one population) or arrays with one entry per customer (covariates, see
    :mod:`loyalty.clv.covariates`); in the second case no (x, T) pair shares its parameters, so nothing is collapsed.
    """
    if any(np.ndim(v) for v in params.values()):
        column = {k: np.asarray(v, dtype=float)[:, None] if np.ndim(v) else v for k, v in params.items()}
        return expected_purchases_if_alive(column, x, T, horizons) * p_alive(params, x, t_x, T)[:, None]
    (px, pT), inverse, _ = unique_rows(x, T)
    if_alive = expected_purchases_if_alive(params, px, pT, horizons)
    return if_alive[inverse] * p_alive(params, x, t_x, T)[:, None]


def expected_purchases_if_alive(params: dict, x, T, horizons: np.ndarray) -> np.ndarray:
    """The factor of FHL 2005 eq. 10 that multiplies P(alive): rows (x, T), columns horizons h.

    It depends on (x, T, h) only, so callers evaluate it once per distinct (x, T) pair (see
    :func:`~loyalty.clv._mle.unique_rows`), which makes scoring a million customers over many horizons cheap.
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    px, pT = np.asarray(x, dtype=float)[:, None], np.asarray(T, dtype=float)[:, None]
    h = np.asarray(horizons, dtype=float)[None, :]
    z = h / (alpha + pT + h)
    front = np.exp((r + px) * (np.log(alpha + pT) - np.log(alpha + pT + h)))
    return (a + b + px - 1) / (a - 1) * (1 - front * hyp2f1(r + px, b + px, a + b + px - 1, z))


def nbd_expected_purchases(params: dict, x, T, horizons: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T + h] | x, T] = (r + x) / (α + T) · h under the NBD (no dropout, so P(alive) = 1):
    rows (x, T), columns horizons h. ``params``: ``r``, ``alpha``."""
    r, alpha = params["r"], params["alpha"]
    rate = (r + np.asarray(x, dtype=float)) / (alpha + np.asarray(T, dtype=float))
    return rate[:, None] * np.asarray(horizons, dtype=float)[None, :]


def expected_spend(params: dict, x, m):
    """E[value per transaction | x, m] = p(γ + x·m) / (p·x + q − 1) (note 025, eq. 5).

    ``params``: ``p``, ``q``, ``gamma``; ``x`` repeat purchases, ``m`` their mean value (ignored where x = 0,
    where the result is the population mean p·γ / (q − 1)).
    """
    p, q, gamma = params["p"], params["q"], params["gamma"]
    m = np.where(x > 0, m, 0.0)
    return p * (gamma + x * m) / (p * x + q - 1)


def margin_rate(summary: pd.DataFrame, rate=None) -> pd.Series | float:
    """The margin share of revenue per customer: ``rate`` if given (a scalar, or a Series aligned with
    ``summary``), else the summary's ``margin_rate`` column with undefined rates (no spend) at the others' mean.

    Raises
    ------
    DataValidationError
        When a given Series misses customers of the summary, or the summary has no ``margin_rate`` column.
    """
    if rate is not None:
        if isinstance(rate, pd.Series):
            aligned = rate.reindex(summary.index)
            if aligned.isna().any():
                raise DataValidationError(
                    f"margin_rate has no value for {int(aligned.isna().sum()):,} customers of the summary, e.g. "
                    f"{list(aligned.index[aligned.isna()][:3])}"
                )
            return aligned
        return float(rate)
    if "margin_rate" not in summary.columns:
        raise DataValidationError(
            "CLV is margin, but the summary has no 'margin_rate' column (the log had no margin): give the "
            "margin as a share of revenue ({hint}) or value CLV as revenue",
            hint=Hint("margin_rate", "<share of revenue>", option="--margin-rate"),
        )
    column = summary["margin_rate"]
    if column.isna().any():
        column = column.fillna(float(column.mean()))
    return column
