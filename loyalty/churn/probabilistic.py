"""Churn from a fitted BG/NBD: P(no purchase in the next H | history), the quantity a churn label measures.

Not 1 − P(alive): BG/NBD gives P(alive) = 1 to every customer without a repeat purchase (dropout only happens
after a purchase), so one-time buyers, most of whom never come back, would rank as the *safest* customers. On a
real grocery log ranking next-year churn by 1 − P(alive) gave AUC 0.41, by expected purchases in the window 0.86.
P(no purchase in (T, T + H]) = 1 − P(alive) + P(alive)·((α + T)/(α + T + H))^(r + x) accounts for both ways of
buying nothing: being gone, or being alive and silent (Fader, Hardie & Lee 2005, eqs. 11 and 10's ingredients).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..clv import BetaGeo
from ..errors import DataValidationError
from ..units import convert

__all__ = ["BGNBDChurn", "bgnbd_features"]


class BGNBDChurn(ClassifierMixin, BaseEstimator):
    """BG/NBD-derived churn probability, with a scikit-learn classifier's interface.

    ``X`` is a per-customer summary with ``frequency``, ``recency`` and ``T`` (see
    :func:`loyalty.data.summarize`); the model is fitted on it without labels (``y`` is ignored), so fitting it
    on every customer's calibration history uses nothing from the holdout.

    Parameters
    ----------
    horizon : float
        Churn window length, in ``unit``.
    unit : str or float, default "D"
        Unit of ``horizon``; converted to the summary's time unit (``summary.attrs["unit"]``).
    penalizer : float, default 0
        Passed to :class:`loyalty.clv.BetaGeo`.

    Attributes
    ----------
    bgnbd_ : BetaGeo
        The fitted model.
    horizon_in_model_unit_ : float
        ``horizon`` in the summary's time unit.
    classes_ : ndarray, ``[0, 1]`` (1 = churned).
    """

    def __init__(self, horizon: float = 365.0, unit: str | float = "D", penalizer: float = 0.0):
        self.horizon = horizon
        self.unit = unit
        self.penalizer = penalizer

    def fit(self, X: pd.DataFrame, y=None) -> "BGNBDChurn":
        """Fit BG/NBD on the summary ``X``; ``y`` is accepted for pipeline compatibility and ignored."""
        if not isinstance(X, pd.DataFrame):
            raise DataValidationError("BGNBDChurn needs the summary DataFrame (frequency, recency, T) as X")
        if not np.isfinite(self.horizon) or self.horizon <= 0:
            raise DataValidationError(f"horizon must be positive, got {self.horizon!r}")
        self.bgnbd_ = BetaGeo(penalizer=self.penalizer).fit(X)
        self.horizon_in_model_unit_ = _in_model_unit(self.horizon, self.unit, self.bgnbd_.time_unit_)
        self.classes_ = np.array([0, 1])
        return self

    @classmethod
    def from_bgnbd(cls, bgnbd: BetaGeo, horizon: float, unit: str | float = "D") -> "BGNBDChurn":
        """Wrap an already fitted :class:`BetaGeo` (e.g. the one inside a :class:`loyalty.clv.CLVModel`)."""
        model = cls(horizon=horizon, unit=unit, penalizer=bgnbd.penalizer)
        model.bgnbd_ = bgnbd
        model.horizon_in_model_unit_ = _in_model_unit(horizon, unit, bgnbd.time_unit_)
        model.classes_ = np.array([0, 1])
        return model

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns ``[P(buys in the horizon), P(no purchase in the horizon)]`` for every row of the summary."""
        churn = self.p_churn(X).to_numpy()
        return np.column_stack([1.0 - churn, churn])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.p_churn(X).to_numpy() > 0.5).astype(int)

    def p_churn(self, X: pd.DataFrame) -> pd.Series:
        """P(no purchase in (T, T + horizon] | x, t_x, T), indexed like ``X``."""
        check_is_fitted(self, "bgnbd_")
        return self.bgnbd_.p_no_purchase(X, self.horizon_in_model_unit_).rename("p_churn")

    def p_alive(self, X: pd.DataFrame) -> pd.Series:
        """P(alive at T | x, t_x, T) (FHL 2005, eq. 11): 1 for customers without a repeat purchase."""
        check_is_fitted(self, "bgnbd_")
        return self.bgnbd_.p_alive(X)

    def expected_purchases(self, X: pd.DataFrame) -> pd.Series:
        """E[purchases in (T, T + horizon]] (FHL 2005, eq. 10)."""
        check_is_fitted(self, "bgnbd_")
        return self.bgnbd_.expected_purchases(X, self.horizon_in_model_unit_)


def bgnbd_features(model: BGNBDChurn, summary: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD outputs as features for a supervised model (the hybrid): P(churn), P(alive), E[purchases].

    Returns a frame indexed like ``summary`` with ``bgnbd_p_churn``, ``bgnbd_p_alive`` and
    ``bgnbd_expected_purchases``. Customers first seen in the summary's last period (``T == 0``) have no
    BG/NBD history yet: their values are NaN, which LightGBM treats as missing.
    """
    known = summary.loc[summary["T"] > 0]
    out = pd.DataFrame(
        {
            "bgnbd_p_churn": model.p_churn(known),
            "bgnbd_p_alive": model.p_alive(known),
            "bgnbd_expected_purchases": model.expected_purchases(known),
        }
    )
    return out.reindex(summary.index)


def _in_model_unit(horizon: float, unit, model_unit) -> float:
    return float(horizon) if model_unit is None else float(convert(horizon, unit, model_unit))
