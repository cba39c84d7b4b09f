"""Campaigns with several offers: one uplift model per offer, each fitted on that offer's customers and control.

Arm i is compared with control only (never with another offer), on the customers assigned to either. The
pairwise propensity is P(arm i | arm i or control) = e_i / (e_i + e_control) per customer when the arms'
propensities are given, else arm i's share of the pair in the training data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..errors import DataValidationError
from .learners import TLearner, check_features, select_rows

__all__ = ["MultiArmUplift", "arm_pairs"]


def arm_pairs(treatment, control) -> list:
    """The treated arms of ``treatment`` (sorted), checking that control and at least one other arm exist."""
    arms = pd.Series(np.asarray(treatment))
    if arms.isna().any():
        raise DataValidationError(f"treatment has {int(arms.isna().sum()):,} missing arm labels")
    labels = sorted(pd.unique(arms).tolist(), key=str)
    if control not in labels:
        raise DataValidationError(
            f"control arm {control!r} has no customers in the training data; arms present: {labels}"
        )
    treated = [a for a in labels if a != control]
    if not treated:
        raise DataValidationError(
            f"treatment has a single arm only ({control!r}): uplift needs control and at least one offer arm"
        )
    return treated


class MultiArmUplift(BaseEstimator):
    """Arm-by-arm uplift against control with any two-arm learner.

    Parameters
    ----------
    learner : an uplift learner (default :class:`TLearner`), cloned for each treated arm.
    control : the label of the control arm in ``treatment`` (e.g. ``0`` or ``"No E-Mail"``).

    Attributes
    ----------
    arms_ : treated arm labels, in the order of ``predict``'s columns.
    learners_ : dict arm -> fitted learner.
    """

    def __init__(self, learner=None, control=0):
        self.learner = learner
        self.control = control

    def fit(self, X, y, treatment, propensity=None):
        """Fit one learner per treated arm.

        Parameters
        ----------
        X, y : features and outcome of every customer; treatment : arm label per customer.
        propensity : DataFrame (or dict of arrays) with one column per arm (including control) giving
            P(arm | x) per customer; None: the arms' shares within each pair.
        """
        n = check_features(X)
        arms = np.asarray(treatment)
        if len(arms) != n:
            raise DataValidationError(f"treatment has {len(arms):,} rows but X has {n:,}")
        self.arms_ = arm_pairs(arms, self.control)
        y = np.asarray(y)
        base = self.learner if self.learner is not None else TLearner()
        self.learners_ = {}
        for arm in self.arms_:
            rows = (arms == arm) | (arms == self.control)
            t = (arms[rows] == arm).astype(int)
            e = None
            if propensity is not None:
                e = self._pair_propensity(propensity, arm, rows)
            self.learners_[arm] = clone(base).fit(select_rows(X, rows), y[rows], t, e)
        return self

    def _pair_propensity(self, propensity, arm, rows) -> np.ndarray:
        missing = [a for a in (arm, self.control) if a not in propensity]
        if missing:
            raise DataValidationError(f"propensity lacks columns for arms {missing}; give one column per arm")
        e_arm = np.asarray(propensity[arm], dtype=float)[rows]
        e_control = np.asarray(propensity[self.control], dtype=float)[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            return e_arm / (e_arm + e_control)

    def predict(self, X) -> pd.DataFrame:
        """Uplift of each treated arm against control: one column per arm."""
        check_is_fitted(self)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame({arm: self.learners_[arm].predict(X) for arm in self.arms_}, index=index)
