"""Metric and learner parity with scikit-uplift (a test-only peer): same inputs, same numbers to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.uplift import (
    ClassTransformation,
    TLearner,
    default_estimator,
    perfect_qini_curve,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
)

sklift_metrics = pytest.importorskip("sklift.metrics")
# sklift 0.5.1 calls sklearn's deprecated stable_cumsum; the warning is sklift's, not ours
pytestmark = pytest.mark.filterwarnings("ignore:Function stable_cumsum is deprecated:FutureWarning")


def _campaign(seed: int, n: int = 3000, treated_share: float = 0.3, ties: bool = False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = (rng.random(n) < treated_share).astype(int)
    y = (rng.random(n) < 0.2 + 0.1 * t * (x > 0)).astype(int)
    score = np.round(x, 1) if ties else x + rng.normal(scale=0.5, size=n)
    return y, score, t


CASES = [(seed, share, ties) for seed in (0, 1) for share in (0.2, 0.5, 0.8) for ties in (False, True)]


@pytest.mark.parametrize("seed,share,ties", CASES)
def test_curves_equal_sklift(seed, share, ties):
    y, u, t = _campaign(seed, treated_share=share, ties=ties)
    for ours, theirs in ((qini_curve, sklift_metrics.qini_curve), (uplift_curve, sklift_metrics.uplift_curve)):
        x_ours, y_ours = ours(y, u, t)
        x_theirs, y_theirs = theirs(y, u, t)
        np.testing.assert_array_equal(x_ours, x_theirs)
        np.testing.assert_allclose(y_ours, y_theirs, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed,share,ties", CASES)
def test_qini_coefficient_and_auuc_equal_sklift(seed, share, ties):
    y, u, t = _campaign(seed, treated_share=share, ties=ties)
    for negative_effect in (True, False):
        assert qini_auc_score(y, u, t, negative_effect=negative_effect) == pytest.approx(
            sklift_metrics.qini_auc_score(y, u, t, negative_effect=negative_effect), abs=1e-9)
    assert uplift_auc_score(y, u, t) == pytest.approx(sklift_metrics.uplift_auc_score(y, u, t), abs=1e-9)


@pytest.mark.parametrize("seed,share,ties", CASES)
def test_uplift_at_k_equals_sklift(seed, share, ties):
    y, u, t = _campaign(seed, treated_share=share, ties=ties)
    for strategy in ("overall", "by_group"):
        for k in (0.1, 0.3, 0.5, 200):
            assert uplift_at_k(y, u, t, strategy, k) == pytest.approx(
                sklift_metrics.uplift_at_k(y, u, t, strategy=strategy, k=k), abs=1e-9)


def test_unequal_group_sizes_do_not_bias_random_targeting():
    """With no effect, a random ranking's Qini and AUUC are near 0 however unbalanced the arms."""
    rng = np.random.default_rng(5)
    n = 200_000
    t = (rng.random(n) < 0.1).astype(int)
    y = (rng.random(n) < 0.3).astype(int)
    u = rng.random(n)
    assert abs(qini_auc_score(y, u, t)) < 0.05
    assert abs(uplift_auc_score(y, u, t, normalize=False)) < 5e-3  # outcome rate 0.3


def test_continuous_outcome_perfect_ranking_scores_one():
    rng = np.random.default_rng(2)
    t = (rng.random(500) < 0.4).astype(int)
    y = rng.gamma(2.0, 10.0, size=500) * (rng.random(500) < 0.3)
    x_best, _ = perfect_qini_curve(y, t)
    assert qini_auc_score(y, y * t - y * (1 - t), t) == pytest.approx(1.0)
    assert uplift_auc_score(y, y * t - y * (1 - t), t) == pytest.approx(1.0)
    assert x_best[-1] == len(y)


def _features(seed: int, n: int = 4000):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    t = (rng.random(n) < 0.5).astype(int)
    p = 1 / (1 + np.exp(-(-1.0 + X["a"] + t * X["b"])))
    y = (rng.random(n) < p).astype(int)
    return X, y, t


def test_t_learner_equals_sklift_two_models_with_same_lightgbm():
    from sklift.models import TwoModels

    X, y, t = _features(0)
    ours = TLearner(random_state=7).fit(X, y, t).predict(X)
    theirs = TwoModels(estimator_trmnt=default_estimator(True, 7), estimator_ctrl=default_estimator(True, 7),
                       method="vanilla").fit(X, y, t).predict(X)
    np.testing.assert_array_equal(ours, theirs)


def test_class_transformation_equals_sklift_when_arms_are_equal():
    from sklift.models import ClassTransformation as SkliftCT

    X, y, t = _features(1)
    t = np.r_[np.ones(len(t) // 2, int), np.zeros(len(t) - len(t) // 2, int)]  # exactly half treated
    ours = ClassTransformation(random_state=3).fit(X, y, t).predict(X)
    theirs = SkliftCT(default_estimator(True, 3)).fit(X, y, t).predict(X)
    np.testing.assert_array_equal(ours, theirs)
