"""Cross-fitting: an out-of-fold uplift prediction for every customer, so evaluation never uses training rows.

Folds are stratified by treatment × outcome (× "outcome > 0" for continuous outcomes), so every fold holds
treated and control responders in the proportions of the whole campaign.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from ..errors import DataValidationError
from .learners import check_features, select_rows

__all__ = ["uplift_folds", "cross_fit_uplift"]


def uplift_folds(y, treatment, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K (train, test) index pairs stratified by treatment × outcome.

    Parameters
    ----------
    y : outcome per customer; treatment : arm label (0/1 or names) per customer.
    k : number of folds (≥ 2); seed : shuffling seed.
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise DataValidationError(f"k must be an integer of at least 2 folds, got {k!r}")
    y = np.asarray(y, dtype=float)
    arms = pd.Series(np.asarray(treatment)).astype(str).to_numpy()
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    outcome = y.astype(int).astype(str) if binary else np.where(y > 0, "pos", "zero")
    strata = pd.Series(arms).str.cat(pd.Series(outcome), sep="|")
    smallest = strata.value_counts().min()
    if smallest < k:
        small = strata.value_counts().idxmin()
        raise DataValidationError(
            f"stratum treatment|outcome = {small!r} has {smallest} customers, fewer than k={k} folds; use fewer "
            "folds or more data"
        )
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(y)), strata)]


def cross_fit_uplift(learner, X, y, treatment, k: int = 5, seed: int = 0, propensity=None, folds=None):
    """Out-of-fold uplift: each customer is scored by a clone of ``learner`` fitted on the other folds.

    Parameters
    ----------
    learner : an uplift learner (``fit(X, y, treatment, propensity)``, ``predict(X)``) or :class:`MultiArmUplift`.
    X, y, treatment : features, outcome, treatment (0/1; arm labels for a multi-arm learner).
    k, seed : folds from :func:`uplift_folds` (ignored when ``folds`` is given).
    propensity : per-customer propensity (array, or per-arm DataFrame for a multi-arm learner), sliced per fold.
    folds : optional explicit list of (train, test) index arrays, e.g. to evaluate several learners on identical
        folds.

    Returns
    -------
    Series (one column per arm: DataFrame, for a multi-arm learner) indexed like ``X`` (a RangeIndex for arrays),
    named ``"uplift"``; ``attrs["folds"]`` holds the fold number of each row.
    """
    n = check_features(X)
    y = np.asarray(y)
    treatment = np.asarray(treatment)
    if len(y) != n or len(treatment) != n:
        raise DataValidationError(f"X, y and treatment have different lengths: {n:,}, {len(y):,}, {len(treatment):,}")
    folds = uplift_folds(y, treatment, k, seed) if folds is None else list(folds)
    index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(n)
    fold_of = np.full(n, -1)
    columns: dict = {}
    for number, (train, test) in enumerate(folds):
        fold_of[test] = number
        e = None
        if propensity is not None:
            e = propensity.iloc[train] if isinstance(propensity, pd.DataFrame) else np.asarray(propensity)[train]
        model = clone(learner).fit(select_rows(X, _mask(n, train)), y[train], treatment[train], e)
        prediction = model.predict(select_rows(X, _mask(n, test)))
        frame = prediction if isinstance(prediction, pd.DataFrame) else pd.DataFrame({"uplift": prediction})
        for column in frame.columns:
            # test rows are taken in increasing position, so positional assignment keeps customers aligned
            columns.setdefault(column, np.full(n, np.nan))[np.sort(test)] = frame[column].to_numpy(dtype=float)
    if (fold_of < 0).any():
        raise DataValidationError(f"the folds leave {int((fold_of < 0).sum()):,} customers without a test fold")
    if list(columns) == ["uplift"]:
        out = pd.Series(columns["uplift"], index=index, name="uplift")
    else:
        out = pd.DataFrame(columns, index=index)
    out.attrs["folds"] = fold_of
    return out


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask
