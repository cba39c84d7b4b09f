"""Meta-learners for the uplift τ(x) = E[Y | x, treated] − E[Y | x, control] of one offer against control.

Each learner follows scikit-learn's estimator contract (settings in ``__init__``, learned state ending in ``_``,
``fit`` returns ``self``) with the uplift signature ``fit(X, y, treatment, propensity=None)`` and
``predict(X) -> uplift``. Any scikit-learn style base estimator works; the default is LightGBM
(``LGBMClassifier`` for 0/1 outcomes, ``LGBMRegressor`` for continuous ones such as margin) with deterministic
settings. For binary outcomes the uplift is a difference of probabilities; for continuous ones, of means.

- :class:`TLearner` (two models): one model per arm, τ = μ₁(x) − μ₀(x).
- :class:`SLearner` (single model): one model on (x, t), τ = μ(x, 1) − μ(x, 0).
- :class:`XLearner` (Künzel et al. 2019, PNAS 116(10)): imputed effects of each arm regressed on x, combined with
  the propensity e(x): τ = e(x)·τ₀(x) + (1 − e(x))·τ₁(x).
- :class:`ClassTransformation` (Jaskowski & Jaroszewicz 2012), binary outcomes: a classifier of
  z = 1[y = t], reweighted to equal arms (weights 1/(2e), 1/(2(1−e))), τ = 2·P(z = 1 | x) − 1.

Propensity e = P(treated | x): per customer (``propensity=``), or the treated share of the training data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.utils.validation import check_is_fitted

from ..errors import DataValidationError

__all__ = ["TLearner", "SLearner", "XLearner", "ClassTransformation", "LEARNERS", "learner_names", "make_learner",
           "default_estimator", "LIGHTGBM_DEFAULTS"]

#: LightGBM settings of the default base models: deterministic, one thread, quiet.
LIGHTGBM_DEFAULTS = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 50,
    "deterministic": True,
    "force_row_wise": True,
    "n_jobs": 1,  # OpenMP threads spin under CPU contention: one thread was 40x faster than two here
    "verbose": -1,
}

_TREATMENT_COLUMN = "__treatment__"


def default_estimator(binary: bool, random_state: int | None = 0):
    """A LightGBM classifier (``binary=True``) or regressor with :data:`LIGHTGBM_DEFAULTS`."""
    import lightgbm

    cls = lightgbm.LGBMClassifier if binary else lightgbm.LGBMRegressor
    return cls(random_state=random_state, **LIGHTGBM_DEFAULTS)


# ------------------------------------------------------------------------------------------------ checks
def _as_1d(values, name: str, n: int) -> np.ndarray:
    if values is None:
        raise DataValidationError(f"{name} is required")
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataValidationError(f"{name} must be one-dimensional, got shape {array.shape}")
    if len(array) != n:
        raise DataValidationError(f"{name} has {len(array):,} rows but X has {n:,}")
    return array


def check_treatment(treatment, n: int, learner: str) -> np.ndarray:
    """Treatment as a 0/1 int array; errors name the values found and what to do about them."""
    t = _as_1d(treatment, "treatment", n)
    if pd.isna(t).any():
        raise DataValidationError(f"treatment has {int(pd.isna(t).sum()):,} missing values")
    values = pd.unique(t)
    if not set(values.tolist()) <= {0, 1, True, False}:
        raise DataValidationError(
            f"treatment for {learner} must be binary 0/1 (control/treated); got values {sorted(map(str, values))[:6]}. "
            "For a campaign with several offers use loyalty.uplift.MultiArmUplift (arm by arm against control)"
        )
    t = t.astype(int)
    for arm, label in ((1, "treated"), (0, "control")):
        if not (t == arm).any():
            raise DataValidationError(
                f"the training data have no {label} customers (treatment == {arm}): a single arm only, so uplift "
                "cannot be estimated; check the assignment file and the arm labels"
            )
    return t


def check_outcome(y, n: int, binary: bool | None, learner: str) -> tuple[np.ndarray, bool]:
    """Outcome as a float array and whether it is binary (``binary=None``: inferred from the values)."""
    values = _as_1d(y, "outcome y", n).astype(float)
    if not np.isfinite(values).all():
        raise DataValidationError(f"outcome y has {int((~np.isfinite(values)).sum()):,} missing or infinite values")
    is_binary = bool(np.isin(values, (0.0, 1.0)).all())
    if binary and not is_binary:
        bad = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
        raise DataValidationError(f"{learner} needs a binary 0/1 outcome; got other values, e.g. {bad.tolist()}")
    return values, is_binary if binary is None else bool(binary)


def check_propensity(propensity, t: np.ndarray) -> np.ndarray:
    """Per-customer P(treated) in (0, 1); ``None``: the treated share of ``t`` for everyone."""
    if propensity is None:
        return np.full(len(t), t.mean())
    e = np.asarray(propensity, dtype=float)
    if e.ndim == 0:
        e = np.full(len(t), float(e))
    e = _as_1d(e, "propensity", len(t))
    if np.isnan(e).any():
        rows = np.flatnonzero(np.isnan(e))
        raise DataValidationError(
            f"propensity has {rows.size:,} NaN values (first rows {rows[:5].tolist()}); give every customer "
            "P(treated), or pass propensity=None to use the treated share"
        )
    if ((e <= 0) | (e >= 1)).any():
        bad = e[(e <= 0) | (e >= 1)]
        raise DataValidationError(f"propensity must be in (0, 1) for every customer; got {bad[:5].tolist()}")
    return e


def select_rows(X, mask: np.ndarray):
    """The rows of features ``X`` (array or DataFrame) where the boolean ``mask`` is True."""
    return X[mask] if isinstance(X, (pd.DataFrame, pd.Series)) else np.asarray(X)[mask]


def check_features(X) -> int:
    """The number of customers (rows) of features ``X``; an error when ``X`` is not a table of features."""
    if X is None or not hasattr(X, "__len__"):
        raise DataValidationError("X must be a 2-d array or DataFrame of features")
    return len(X)


def _mean_prediction(model, X) -> np.ndarray:
    """P(y = 1 | x) for classifiers, E[y | x] for regressors."""
    if is_classifier(model):
        proba = model.predict_proba(X)
        return proba[:, list(model.classes_).index(1)] if 1 in list(model.classes_) else np.zeros(len(proba))
    return np.asarray(model.predict(X), dtype=float)


class _UpliftLearner(BaseEstimator):
    """Shared plumbing: base estimator choice and input checks."""

    _binary_only = False

    def _base(self, estimator, binary: bool):
        return default_estimator(binary, self.random_state) if estimator is None else clone(estimator)

    def _check(self, X, y, treatment, propensity):
        n = check_features(X)
        name = type(self).__name__
        t = check_treatment(treatment, n, name)
        binary = {"auto": None, "binary": True, "continuous": False}.get(self.outcome, "bad")
        if binary == "bad":
            raise DataValidationError(f"outcome must be 'auto', 'binary' or 'continuous', got {self.outcome!r}")
        y, is_binary = check_outcome(y, n, True if self._binary_only else binary, name)
        return y, t, check_propensity(propensity, t), is_binary

    def _check_X(self, X):
        check_is_fitted(self)
        check_features(X)
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise DataValidationError(f"X lacks feature columns the learner was fitted on: {missing[:5]}")
            return X[list(self.feature_names_in_)]
        return X

    def _remember_features(self, X) -> None:
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]


class TLearner(_UpliftLearner):
    """Two models: μ₁ fitted on treated customers, μ₀ on control; uplift μ₁(x) − μ₀(x).

    Parameters
    ----------
    estimator : sklearn estimator, optional
        Base model cloned for each arm (classifier: uses ``predict_proba``; regressor: ``predict``). Default:
        :func:`default_estimator` for the outcome type.
    control_estimator : sklearn estimator, optional
        A different base model for the control arm (default: ``estimator``).
    outcome : {"auto", "binary", "continuous"}
        ``"auto"`` treats an all-0/1 outcome as binary.
    random_state : int or None, default 0
        Seed of the default LightGBM bases (a given ``estimator`` keeps its own).
    """

    def __init__(self, estimator=None, control_estimator=None, outcome="auto", random_state=0):
        self.estimator = estimator
        self.control_estimator = control_estimator
        self.outcome = outcome
        self.random_state = random_state

    def fit(self, X, y, treatment, propensity=None):
        y, t, _, binary = self._check(X, y, treatment, propensity)
        self.binary_outcome_ = binary
        self.model_treated_ = self._base(self.estimator, binary).fit(select_rows(X, t == 1), y[t == 1])
        control = self.control_estimator if self.control_estimator is not None else self.estimator
        self.model_control_ = self._base(control, binary).fit(select_rows(X, t == 0), y[t == 0])
        self._remember_features(X)
        return self

    def predict_arms(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(μ₁(x), μ₀(x)): predicted outcome (probability or mean) if treated and if not."""
        X = self._check_X(X)
        return _mean_prediction(self.model_treated_, X), _mean_prediction(self.model_control_, X)

    def predict(self, X) -> np.ndarray:
        treated, control = self.predict_arms(X)
        return treated - control


class SLearner(_UpliftLearner):
    """One model μ(x, t) with the treatment as a feature; uplift μ(x, 1) − μ(x, 0).

    Parameters are those of :class:`TLearner` (without ``control_estimator``).
    """

    def __init__(self, estimator=None, outcome="auto", random_state=0):
        self.estimator = estimator
        self.outcome = outcome
        self.random_state = random_state

    @staticmethod
    def _with_treatment(X, value):
        if isinstance(X, pd.DataFrame):
            out = X.copy()
            out[_TREATMENT_COLUMN] = value
            return out
        X = np.asarray(X, dtype=float)
        return np.column_stack([X, np.broadcast_to(np.asarray(value, dtype=float), len(X))])

    def fit(self, X, y, treatment, propensity=None):
        y, t, _, binary = self._check(X, y, treatment, propensity)
        self.binary_outcome_ = binary
        self.model_ = self._base(self.estimator, binary).fit(self._with_treatment(X, t), y)
        self._remember_features(X)
        return self

    def predict_arms(self, X) -> tuple[np.ndarray, np.ndarray]:
        X = self._check_X(X)
        return (_mean_prediction(self.model_, self._with_treatment(X, 1)),
                _mean_prediction(self.model_, self._with_treatment(X, 0)))

    def predict(self, X) -> np.ndarray:
        treated, control = self.predict_arms(X)
        return treated - control


class XLearner(_UpliftLearner):
    """X-learner (Künzel, Sekhon, Bickel & Yu 2019).

    Stage 1: μ₀, μ₁ per arm as in the T-learner. Stage 2: regress the imputed effects D₁ = y − μ₀(x) (treated)
    and D₀ = μ₁(x) − y (control) on x, giving τ₁ and τ₀. Uplift: e(x)·τ₀(x) + (1 − e(x))·τ₁(x), so the arm with
    more customers (a better first-stage fit for the other arm's imputations) gets more weight.

    Parameters
    ----------
    estimator : base model of stage 1 (default LightGBM classifier/regressor for the outcome type).
    effect_estimator : regressor of stage 2 (default ``LGBMRegressor``).
    outcome, random_state : as in :class:`TLearner`.
    """

    def __init__(self, estimator=None, effect_estimator=None, outcome="auto", random_state=0):
        self.estimator = estimator
        self.effect_estimator = effect_estimator
        self.outcome = outcome
        self.random_state = random_state

    def fit(self, X, y, treatment, propensity=None):
        y, t, e, binary = self._check(X, y, treatment, propensity)
        self.binary_outcome_ = binary
        X_t, X_c = select_rows(X, t == 1), select_rows(X, t == 0)
        self.model_treated_ = self._base(self.estimator, binary).fit(X_t, y[t == 1])
        self.model_control_ = self._base(self.estimator, binary).fit(X_c, y[t == 0])
        imputed_treated = y[t == 1] - _mean_prediction(self.model_control_, X_t)
        imputed_control = _mean_prediction(self.model_treated_, X_c) - y[t == 0]
        self.effect_treated_ = self._base(self.effect_estimator, False).fit(X_t, imputed_treated)
        self.effect_control_ = self._base(self.effect_estimator, False).fit(X_c, imputed_control)
        self.propensity_ = float(e.mean())
        self._remember_features(X)
        return self

    def predict(self, X, propensity=None) -> np.ndarray:
        """Uplift; ``propensity`` (scalar or per customer) defaults to the mean training propensity."""
        X = self._check_X(X)
        n = check_features(X)
        e = np.full(n, self.propensity_) if propensity is None else check_propensity(
            np.broadcast_to(np.asarray(propensity, dtype=float), n), np.zeros(n))
        tau_treated = np.asarray(self.effect_treated_.predict(X), dtype=float)
        tau_control = np.asarray(self.effect_control_.predict(X), dtype=float)
        return e * tau_control + (1 - e) * tau_treated


class ClassTransformation(_UpliftLearner):
    """Class-variable transformation for binary outcomes (Jaskowski & Jaroszewicz 2012).

    A classifier learns z = 1[y = t]. With equal arms 2·P(z = 1 | x) − 1 is the uplift; with unequal arms (or
    per-customer propensities) customers are weighted by 1/(2e) (treated) and 1/(2(1 − e)) (control), which
    makes the arms equal in the weighted data, so the identity holds again. With equal shares the weights are
    all 1 and the fit equals scikit-uplift's ``ClassTransformation``.

    Parameters
    ----------
    estimator : classifier (default ``LGBMClassifier``); must accept ``sample_weight`` when the arms differ.
    random_state : seed of the default base.
    """

    _binary_only = True

    def __init__(self, estimator=None, random_state=0):
        self.estimator = estimator
        self.random_state = random_state

    outcome = "binary"

    def fit(self, X, y, treatment, propensity=None):
        y, t, e, _ = self._check(X, y, treatment, propensity)
        z = (y == t).astype(int)
        weight = np.where(t == 1, 0.5 / e, 0.5 / (1 - e))
        model = self._base(self.estimator, True)
        if np.allclose(weight, 1.0, rtol=0, atol=1e-12):
            model.fit(X, z)
        else:
            model.fit(X, z, sample_weight=weight)
        self.model_ = model
        self.binary_outcome_ = True
        self._remember_features(X)
        return self

    def predict(self, X) -> np.ndarray:
        X = self._check_X(X)
        return 2 * _mean_prediction(self.model_, X) - 1


# ------------------------------------------------------------------------------------------------ registry
#: The uplift learners by name: the one registry behind the experiment's ``models.learner``, the uplift model
#: family's ``settings.learner`` and ``loyalty uplift fit --learner`` (lower case there).
LEARNERS: dict[str, type] = {"T": TLearner, "S": SLearner, "X": XLearner, "CT": ClassTransformation}


def learner_names(binary: bool = True) -> list[str]:
    """Names in :data:`LEARNERS` of the learners that fit a binary (``binary=True``) or a continuous outcome."""
    return [name for name, cls in LEARNERS.items() if binary or not cls._binary_only]


def make_learner(name: str, estimator=None, outcome: str = "auto", random_state: int | None = 0):
    """The learner registered as ``name`` with a base ``estimator`` (None: LightGBM defaults), the ``outcome``
    kind (``"auto"``, ``"binary"`` or ``"continuous"``) and a seed.

    Raises
    ------
    DataValidationError
        For an unknown name (listing the known ones), or a binary-only learner asked for a continuous outcome.
    """
    if name not in LEARNERS:
        raise DataValidationError(f"unknown uplift learner {name!r}; known learners are {list(LEARNERS)}")
    cls = LEARNERS[name]
    if cls._binary_only:
        if outcome == "continuous":
            raise DataValidationError(f"uplift learner {name!r} ({cls.__name__}) needs a binary 0/1 outcome; use "
                                      f"one of {learner_names(binary=False)} for a continuous one")
        return cls(estimator=estimator, random_state=random_state)
    return cls(estimator=estimator, outcome=outcome, random_state=random_state)
