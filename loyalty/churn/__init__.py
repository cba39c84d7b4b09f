"""Churn models: BG/NBD-derived P(no purchase in the horizon), a LightGBM classifier on point-in-time
features, and the hybrid of the two, evaluated side by side on a holdout.

>>> from loyalty.datasets import load_cdnow
>>> from loyalty.churn import churn_dataset, compare_churn_models
>>> data = churn_dataset(load_cdnow(sample=False), cutoff="1997-09-30", horizon=273)
>>> result = compare_churn_models(data, horizon=273, lightgbm_params={"n_estimators": 200})
>>> list(result.table.index)
['bgnbd', 'lightgbm', 'hybrid']
"""

from .compare import ChurnComparison, ChurnDataset, churn_dataset, compare_churn_models
from .evaluate import (
    calibration_bins,
    churn_metrics,
    ece_tolerance,
    evaluation_table,
    expected_calibration_error,
    lift_at,
    reliability_plot,
)
from .labels import ChurnDefinition, cancellation_labels, churn_labels
from .probabilistic import BGNBDChurn, bgnbd_features
from .supervised import LightGBMChurn

__all__ = [
    "ChurnDefinition",
    "churn_labels",
    "cancellation_labels",
    "BGNBDChurn",
    "bgnbd_features",
    "LightGBMChurn",
    "churn_metrics",
    "evaluation_table",
    "lift_at",
    "calibration_bins",
    "expected_calibration_error",
    "ece_tolerance",
    "reliability_plot",
    "ChurnDataset",
    "ChurnComparison",
    "churn_dataset",
    "compare_churn_models",
]
