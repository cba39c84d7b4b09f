"""The retention model of the lifecycle score: P(retained | control) and one log-odds shift for the offer."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from loyalty.errors import ConvergenceError, DataValidationError
from loyalty.targeting.retention import RetentionShift


def _campaign(n, shift, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"recency": rng.normal(size=n), "frequency": rng.normal(size=n)})
    log_odds = -0.5 + 1.2 * X["frequency"] - 0.8 * X["recency"]
    treatment = rng.integers(0, 2, n)
    retained = (rng.random(n) < expit(log_odds + shift * treatment)).astype(int)
    return X, retained, treatment


def test_recovers_a_planted_log_odds_shift_within_its_standard_error():
    X, retained, treatment = _campaign(40_000, shift=-0.3)
    model = RetentionShift(LogisticRegression()).fit(X, retained, treatment)
    assert abs(model.shift_ - (-0.3)) < 3 * model.shift_se_
    assert 0.01 < model.shift_se_ < 0.05


def test_uplift_is_treated_minus_control_and_vanishes_where_retention_is_certain():
    X, retained, treatment = _campaign(20_000, shift=-0.3)
    model = RetentionShift(LogisticRegression()).fit(X, retained, treatment)
    uplift = model.predict(X)
    assert np.allclose(uplift, model.predict_treated(X) - model.predict_control(X))
    # a constant odds ratio moves customers near P = 0 or 1 least: the offer cannot retain who has left
    lapsed = pd.DataFrame({"recency": [8.0], "frequency": [-8.0]})
    assert abs(model.predict(lapsed)[0]) < 1e-4 < abs(uplift).mean()


def test_no_offer_effect_gives_a_shift_near_zero():
    X, retained, treatment = _campaign(40_000, shift=0.0, seed=1)
    model = RetentionShift(LogisticRegression()).fit(X, retained, treatment)
    assert abs(model.shift_) < 3 * model.shift_se_


def test_a_single_arm_is_a_clear_error():
    X, retained, _ = _campaign(1_000, shift=0.0)
    with pytest.raises(DataValidationError, match="no control customers"):
        RetentionShift().fit(X, retained, np.ones(len(X), dtype=int))


def test_treated_outcomes_all_equal_do_not_converge_silently():
    X, retained, treatment = _campaign(2_000, shift=0.0)
    retained = np.where(treatment == 1, 1, retained)
    with pytest.raises(ConvergenceError, match="retention shift"):
        RetentionShift(LogisticRegression()).fit(X, retained, treatment)


def test_an_unfitted_model_says_so_on_every_prediction():
    from sklearn.exceptions import NotFittedError

    X, _, _ = _campaign(10, shift=0.0)
    for predict in ("predict", "predict_control", "predict_treated"):
        with pytest.raises(NotFittedError):
            getattr(RetentionShift(), predict)(X)
