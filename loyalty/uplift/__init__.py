"""Uplift: the incremental effect of an offer on each customer, from randomized campaigns.

- :mod:`~loyalty.uplift.prep`: response-window outcomes and point-in-time features per assigned customer.
- :mod:`~loyalty.uplift.learners`: T-, S-, X-learner and class transformation with LightGBM bases, and
  :data:`LEARNERS`, the registry of learners by name.
- :mod:`~loyalty.uplift.multiarm`: several offers, each against control.
- :mod:`~loyalty.uplift.crossfit`: out-of-fold uplift for every customer.
- :mod:`~loyalty.uplift.metrics` and :mod:`~loyalty.uplift.plots`: Qini / uplift curves, Qini coefficient, AUUC,
  uplift@k (scikit-uplift's definitions).
"""

from .crossfit import cross_fit_uplift, uplift_folds
from .learners import (
    LEARNERS,
    LIGHTGBM_DEFAULTS,
    ClassTransformation,
    SLearner,
    TLearner,
    XLearner,
    default_estimator,
    learner_names,
    make_learner,
)
from .metrics import (
    average_effect,
    perfect_qini_curve,
    perfect_uplift_curve,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
    uplift_evaluation,
)
from .multiarm import MultiArmUplift
from .plots import plot_qini_curve, plot_uplift_curve
from .prep import OUTCOMES, campaign_features, campaign_frame, campaign_outcomes

__all__ = [
    "TLearner",
    "SLearner",
    "XLearner",
    "ClassTransformation",
    "LEARNERS",
    "learner_names",
    "make_learner",
    "MultiArmUplift",
    "default_estimator",
    "LIGHTGBM_DEFAULTS",
    "cross_fit_uplift",
    "uplift_folds",
    "uplift_curve",
    "qini_curve",
    "perfect_uplift_curve",
    "perfect_qini_curve",
    "uplift_auc_score",
    "qini_auc_score",
    "uplift_at_k",
    "average_effect",
    "uplift_evaluation",
    "plot_qini_curve",
    "plot_uplift_curve",
    "campaign_outcomes",
    "campaign_features",
    "campaign_frame",
    "OUTCOMES",
]
