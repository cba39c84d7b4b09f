"""One registry of uplift learners (``loyalty.uplift.LEARNERS``) behind the experiment, the uplift model family
and the command line."""

import numpy as np
import pytest

from loyalty.cli import uplift as uplift_cli
from loyalty.errors import DataValidationError
from loyalty.uplift import LEARNERS, ClassTransformation, TLearner, XLearner, learner_names, make_learner


def test_registry_names_every_learner_and_the_cli_offers_exactly_those():
    assert LEARNERS == {"T": TLearner, "S": LEARNERS["S"], "X": XLearner, "CT": ClassTransformation}
    assert sorted(name.upper() for name in uplift_cli.LEARNERS) == sorted(LEARNERS)


def test_continuous_outcomes_get_only_learners_that_fit_them():
    assert learner_names(binary=True) == ["T", "S", "X", "CT"]
    assert learner_names(binary=False) == ["T", "S", "X"]


def test_make_learner_passes_settings_to_the_registered_class():
    learner = make_learner("X", outcome="continuous", random_state=7)
    assert isinstance(learner, XLearner)
    assert learner.get_params()["outcome"] == "continuous" and learner.random_state == 7
    assert make_learner("CT", random_state=3).get_params() == {"estimator": None, "random_state": 3}


def test_make_learner_names_unknown_learners_and_refuses_a_binary_only_one_for_margin():
    with pytest.raises(DataValidationError, match=r"unknown uplift learner 'Q'; known learners are \['T', 'S', 'X', "
                                                  r"'CT'\]"):
        make_learner("Q")
    with pytest.raises(DataValidationError, match=r"'CT' \(ClassTransformation\) needs a binary 0/1 outcome; use one "
                                                  r"of \['T', 'S', 'X'\]"):
        make_learner("CT", outcome="continuous")


def test_a_registered_learner_fits_and_predicts_uplift():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 3))
    t = rng.integers(0, 2, size=2_000)
    y = (rng.random(2_000) < 0.2 + 0.2 * t * (X[:, 0] > 0)).astype(float)
    from sklearn.linear_model import LogisticRegression

    tau = make_learner("T", LogisticRegression(), outcome="binary").fit(X, y, t).predict(X)
    assert tau[X[:, 0] > 0].mean() > tau[X[:, 0] <= 0].mean() + 0.05
