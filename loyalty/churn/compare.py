"""The three churn models side by side on one calibration / holdout split of a transaction log.

Customers with a purchase on or before the cut-off are split (stratified by label) into training and test
customers. BG/NBD is fitted on the training customers' calibration summaries (it uses no labels); LightGBM on
their point-in-time features and labels; the hybrid on the features plus the BG/NBD outputs. All three are
scored on the test customers, whose labels none of them has seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ..data import summarize
from ..errors import ConvergenceError, DataValidationError
from ..data.features import DEFAULT_WINDOWS, build_features
from .evaluate import evaluation_table
from .labels import churn_labels
from .probabilistic import BGNBDChurn, bgnbd_features
from .supervised import LightGBMChurn

__all__ = ["ChurnDataset", "ChurnComparison", "churn_dataset", "compare_churn_models"]

#: Rows of the comparison table.
MODELS = ("bgnbd", "lightgbm", "hybrid")


@dataclass
class ChurnDataset:
    """Everything known at the cut-off (``features``, ``summary``) and the labels from the window after it,
    all indexed by the same customers."""

    features: pd.DataFrame
    summary: pd.DataFrame
    labels: pd.Series


@dataclass
class ChurnComparison:
    """Output of :func:`compare_churn_models`: the ``table`` (one row per model fitted), the test customers'
    ``predictions`` (``churned`` and one column per model fitted) and the fitted models.

    When BG/NBD is not identified on the training customers (e.g. no attrition detected), ``bgnbd`` and
    ``hybrid`` (which takes BG/NBD outputs as features) are None, and ``skipped`` maps each to the reason.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    bgnbd: BGNBDChurn | None
    lightgbm: LightGBMChurn
    hybrid: LightGBMChurn | None
    skipped: dict[str, str] = field(default_factory=dict)


def churn_dataset(
    transactions: pd.DataFrame,
    cutoff,
    horizon: float,
    unit: str | float = "D",
    summary_unit: str = "W",
    windows: Sequence[int] = DEFAULT_WINDOWS,
    attributes: pd.DataFrame | None = None,
    summary_period: str = "D",
) -> ChurnDataset:
    """Features and RFM summary as of ``cutoff`` and churn labels for ``(cutoff, cutoff + horizon]``.

    ``horizon`` is in ``unit``; the summary's recency and T are in ``summary_unit``, with purchases grouped by
    ``summary_period`` (day by default; ``"W"`` counts several purchases in one week once, which suits logs
    whose repeat orders cluster within days, such as CDNOW).
    """
    labels = churn_labels(transactions, cutoff, horizon, unit)
    features = build_features(transactions, cutoff, windows=windows, attributes=attributes)
    purchases = transactions.loc[transactions["amount"].to_numpy(dtype=float) >= 0]
    summary = summarize(purchases, cutoff, period=summary_period, unit=summary_unit)
    if not (features.index.equals(labels.index) and summary.index.equals(labels.index)):  # pragma: no cover
        raise AssertionError("features, summary and labels disagree on the customers at the cutoff")
    return ChurnDataset(features, summary, labels)


def compare_churn_models(
    data: ChurnDataset,
    horizon: float,
    unit: str | float = "D",
    test_size: float = 0.5,
    lightgbm_params: dict | None = None,
    random_state: int = 0,
) -> ChurnComparison:
    """Fit BG/NBD-derived, LightGBM and hybrid churn models on training customers; evaluate on the rest.

    Parameters
    ----------
    data : ChurnDataset
        From :func:`churn_dataset`.
    horizon, unit : the churn window (as in :func:`churn_dataset`), for the BG/NBD probability.
    test_size : float
        Share of customers held out for evaluation.
    lightgbm_params : dict, optional
        Parameters of both :class:`LightGBMChurn` models.
    random_state : int
        Seed of the customer split and of LightGBM.
    """
    y = data.labels
    if y.nunique() < 2:
        raise DataValidationError(
            f"every customer has churn label {int(y.iloc[0])}: nothing to learn or evaluate; change the horizon"
        )
    positions = np.arange(len(y))
    train_pos, test_pos = train_test_split(positions, test_size=test_size, stratify=y.to_numpy(),
                                           random_state=random_state)
    train, test = y.index[np.sort(train_pos)], y.index[np.sort(test_pos)]
    params = {"random_state": random_state, **(lightgbm_params or {})}
    lightgbm = LightGBMChurn(**params).fit(data.features.loc[train], y.loc[train])
    predictions = pd.DataFrame({"churned": y.loc[test]}, index=test)
    bgnbd = hybrid = None
    skipped = {}
    try:
        bgnbd = BGNBDChurn(horizon=horizon, unit=unit).fit(data.summary.loc[train])
    except ConvergenceError as error:  # LightGBM needs no BG/NBD: it runs, and the table says what was skipped
        reason = getattr(error, "diagnosis", str(error))
        skipped = {"bgnbd": f"BG/NBD not fitted: {reason}",
                   "hybrid": "not fitted: it takes BG/NBD outputs as features, and BG/NBD is not identified"}
    if bgnbd is not None:
        hybrid_features = data.features.join(bgnbd_features(bgnbd, data.summary))
        hybrid = LightGBMChurn(**params).fit(hybrid_features.loc[train], y.loc[train])
        predictions["bgnbd"] = bgnbd.predict_proba(data.summary.loc[test])[:, 1]
    predictions["lightgbm"] = lightgbm.predict_proba(data.features.loc[test])[:, 1]
    if hybrid is not None:
        predictions["hybrid"] = hybrid.predict_proba(hybrid_features.loc[test])[:, 1]
    fitted = [m for m in MODELS if m in predictions.columns]
    table = evaluation_table(predictions["churned"], {m: predictions[m].to_numpy() for m in fitted})
    return ChurnComparison(table, predictions[["churned", *fitted]], bgnbd, lightgbm, hybrid, skipped)
