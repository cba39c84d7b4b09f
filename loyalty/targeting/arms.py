"""Campaigns with several offer arms: each policy gives each customer the arm it scores best, and the resulting
per-customer assignment is valued off-policy.

A campaign with control (arm 0) and offer arms 1..K randomized with known probabilities p_a(x) gives, for a
deterministic policy π that sends customer i arm π(x_i) (or nothing), the doubly robust value of arm a against
control per customer (Dudík, Langford & Li 2011, eq. 3, applied to the difference of two deterministic
policies):

    ψ_i(a) = μ_a(x_i) + 1[A_i = a] (Y_i − μ_a(x_i)) / p_a(x_i),      z_i(a) = ψ_i(a) − ψ_i(0),

where μ_a is a cross-fitted outcome model of arm a (fitted on the other folds' customers of that arm). The value
of targeting set S with arms π is V = (1/n) Σ_{i ∈ S} z_i(π(x_i)): as linear in per-customer contributions as the
one-arm value (:mod:`loyalty.targeting.value`), so the paired bootstrap and every interval work unchanged. With
one arm, p_1 = e and p_0 = 1 − e, it is the one-arm AIPW contribution exactly; with μ = 0 it is the
inverse-propensity contribution 1[A=a] Y / p_a − 1[A=0] Y / p_0.

Columns of the customer frame that depend on the arm (scores, truth) carry the arm's code as a suffix
(:func:`arm_column`); :func:`arm_view` gives the frame as one arm sees it, under the names the policies read.

References
----------
Dudík, M., Langford, J. & Li, L. (2011). Doubly robust policy evaluation and learning. ICML.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from .policies import Policy, RandomPolicy

__all__ = ["arm_column", "arm_view", "arm_scores", "best_arms", "arm_contributions", "cross_fit_outcome_means"]

_SUFFIX = "__arm"


def arm_column(column: str, arm: int) -> str:
    """The name of ``column`` for offer arm ``arm`` (1..K) in a multi-arm customer frame."""
    return f"{column}{_SUFFIX}{arm}"


def arm_view(customers: pd.DataFrame, arm: int) -> pd.DataFrame:
    """The customer frame as offer arm ``arm`` sees it: its ``<column>__arm<k>`` columns under their plain names
    (replacing any plain column of that name), every other column as it is."""
    suffix = f"{_SUFFIX}{arm}"
    own = [c for c in customers.columns if isinstance(c, str) and c.endswith(suffix)]
    renamed = {c: c[: -len(suffix)] for c in own}
    other = [c for c in customers.columns if c not in renamed.values() and not
             (isinstance(c, str) and _SUFFIX in c)]
    return pd.concat([customers[other], customers[own].rename(columns=renamed)], axis=1)


def arm_scores(policy: Policy, customers: pd.DataFrame, n_arms: int) -> np.ndarray:
    """The policy's score of every customer under every offer arm: array (customers × arms).

    A :class:`RandomPolicy` draws one seeded uniform number per customer and arm, so its best arm is a random arm
    and its order a random order."""
    if isinstance(policy, RandomPolicy):
        return np.random.default_rng(policy.seed).random((len(customers), n_arms))
    return np.column_stack([policy.score(arm_view(customers, k + 1)).to_numpy(dtype=float)
                            for k in range(n_arms)])


def best_arms(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's best arm (1..K; the first of tied arms) and its score, from :func:`arm_scores`.

    A policy whose score does not depend on the arm (``churn_risk``, ``clv``) ties everywhere, so it gives every
    customer the first arm listed."""
    scores = np.asarray(scores, dtype=float)
    best = np.argmax(scores, axis=1)
    return best + 1, scores[np.arange(len(scores)), best]


def arm_contributions(arm, outcome, arm_propensity, means=None) -> np.ndarray:
    """Per-customer contributions z_i(a) of offer arm a against control, for a = 1..K (module docstring).

    Parameters
    ----------
    arm : int array (n,), the arm each customer received: 0 control, 1..K offer arms.
    outcome : array (n, m).
    arm_propensity : array (n, K + 1), P(arm a | x_i), each strictly within (0, 1), rows summing to 1.
    means : array (K + 1, n, m) of cross-fitted outcome predictions μ_a(x_i) (:func:`cross_fit_outcome_means`), or
        None for the inverse-propensity contributions.

    Returns
    -------
    array (K, n, m): z[a − 1] is the value of giving customer i arm a rather than nothing, in outcome units.
    """
    a = np.asarray(arm)
    y = np.asarray(outcome, dtype=float)
    y = y[:, None] if y.ndim == 1 else y
    p = np.asarray(arm_propensity, dtype=float)
    n, arms = len(y), p.shape[1]
    if p.shape[0] != n or len(a) != n:
        raise DataValidationError(f"arm ({len(a):,}), outcome ({n:,}) and arm_propensity ({p.shape[0]:,}) rows differ")
    if set(np.unique(a)) - set(range(arms)):
        raise DataValidationError(f"arms must be codes 0..{arms - 1}, got {np.unique(a)[:5].tolist()}")
    bad = ~np.isfinite(p) | (p <= 0) | (p >= 1)
    if bad.any():
        raise DataValidationError(f"arm propensities must be strictly between 0 and 1; {int(bad.sum()):,} are not, "
                                  f"e.g. {p[bad][:3].tolist()}")
    mu = np.zeros((arms, *y.shape)) if means is None else np.asarray(means, dtype=float)
    if mu.shape != (arms, *y.shape):
        raise DataValidationError(f"outcome means have shape {mu.shape}, expected {(arms, *y.shape)}")
    psi = np.stack([mu[k] + (a == k)[:, None] * (y - mu[k]) / p[:, [k]] for k in range(arms)])
    return psi[1:] - psi[0]


def cross_fit_outcome_means(X, outcomes, arm, fold, model_factory, n_arms: int) -> np.ndarray:
    """Out-of-fold predictions μ_a(x) of every outcome under every arm (the doubly robust estimators' outcome
    models): one model per arm, fold and outcome, fitted on that arm's customers of the other folds.

    With one offer (``n_arms=2``, ``arm`` the 0/1 treatment) ``mu[0]``, ``mu[1]`` are the control and treated
    predictions of a T-learner (:class:`loyalty.uplift.TLearner`, ``predict_arms``) fitted on the other folds,
    the ``(mu_control, mu_treated)`` of :func:`~loyalty.targeting.value.dr_contributions`.

    Parameters
    ----------
    X : features (DataFrame or array), one row per customer.
    outcomes : array (n, m).
    arm : int array, 0..n_arms − 1 (0 control).
    fold : int per customer: customer i is predicted by models fitted on customers of the other folds.
    model_factory : callable ``binary -> estimator`` (a classifier's P(y = 1) is used for a 0/1 outcome), e.g.
        ``lambda binary: default_estimator(binary)`` (:func:`loyalty.uplift.default_estimator`).
    n_arms : number of arms, control included.

    Returns
    -------
    array (n_arms, n, m).

    Raises
    ------
    DataValidationError
        Inputs of different lengths, fewer than 2 folds, or a fold whose other folds hold no customer of an arm.
    """
    y = np.asarray(outcomes, dtype=float)
    y = y[:, None] if y.ndim == 1 else y
    a, fold = np.asarray(arm), np.asarray(fold)
    n = len(y)
    if len(a) != n or len(fold) != n or len(X) != n:
        raise DataValidationError(f"X, outcomes, arm and fold have different lengths: "
                                  f"{len(X):,}, {n:,}, {len(a):,}, {len(fold):,}")
    if len(np.unique(fold)) < 2:
        raise DataValidationError(f"cross-fitting needs at least 2 folds, got {np.unique(fold).tolist()}")
    rows = X.iloc if hasattr(X, "iloc") else X
    mu = np.full((n_arms, *y.shape), np.nan)
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        for arm_code in range(n_arms):
            fit_on = train & (a == arm_code)
            if not fit_on.any():
                raise DataValidationError(f"cross-fitting fold {k}: no customer of arm {arm_code} to fit on")
            for j in range(y.shape[1]):
                binary = bool(np.isin(y[:, j], (0.0, 1.0)).all())
                model = model_factory(binary).fit(rows[fit_on], y[fit_on, j])
                if binary:
                    proba = model.predict_proba(rows[test])
                    classes = list(model.classes_)
                    mu[arm_code, test, j] = proba[:, classes.index(1)] if 1 in classes else 0.0
                else:
                    mu[arm_code, test, j] = model.predict(rows[test])
    return mu
