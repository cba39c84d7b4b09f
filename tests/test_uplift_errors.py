"""Bad input gets an error that names the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.errors import DataValidationError
from loyalty.uplift import ClassTransformation, MultiArmUplift, TLearner, XLearner, campaign_outcomes, qini_auc_score


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    t = np.tile([0, 1], 200)
    y = (rng.random(400) < 0.3).astype(int)
    return X, y, t


def test_missing_outcome_column_is_named():
    assignments = pd.DataFrame({"customer_id": ["a"], "campaign_id": ["C"], "assigned_at": ["2024-01-01"]})
    transactions = pd.DataFrame({"customer_id": ["a"], "timestamp": pd.to_datetime(["2024-01-02"]), "amount": [5.0]})
    with pytest.raises(DataValidationError, match="'treatment' missing from assignments"):
        campaign_outcomes(transactions, assignments, window_days=14)


def test_missing_outcome_in_cli_is_named(tmp_path, data, capsys):
    from loyalty.cli import main

    X, y, t = data
    X.assign(treatment=t).to_csv(tmp_path / "table.csv", index=False)
    code = main(["uplift", "fit", "--table", str(tmp_path / "table.csv"), "--features", "a,b,c",
                 "--outcome", "visit", "--out", str(tmp_path / "model"), "--folds", "0"])
    assert code == 2
    assert "outcome column 'visit' missing" in capsys.readouterr().err


def test_missing_outcome_values_are_refused(data):
    X, y, t = data
    y = y.astype(float)
    y[3] = np.nan
    with pytest.raises(DataValidationError, match="outcome y has 1 missing"):
        TLearner().fit(X, y, t)


def test_non_binary_treatment_is_refused_with_a_pointer_to_multiarm(data):
    X, y, t = data
    arms = np.where(t == 1, "offer", "control")
    with pytest.raises(DataValidationError, match="treatment for TLearner must be binary 0/1.*MultiArmUplift"):
        TLearner().fit(X, y, arms)
    with pytest.raises(DataValidationError, match="must be binary"):
        ClassTransformation().fit(X, y, t * 2)


def test_continuous_outcome_is_refused_by_class_transformation(data):
    X, y, t = data
    with pytest.raises(DataValidationError, match="ClassTransformation needs a binary 0/1 outcome"):
        ClassTransformation().fit(X, y * 2.5, t)


def test_nan_propensity_is_refused(data):
    X, y, t = data
    e = np.full(len(t), 0.5)
    e[[4, 9]] = np.nan
    with pytest.raises(DataValidationError, match=r"propensity has 2 NaN values \(first rows \[4, 9\]\)"):
        XLearner().fit(X, y, t, propensity=e)


def test_single_arm_is_refused(data):
    X, y, t = data
    with pytest.raises(DataValidationError, match="no control customers.*single arm"):
        TLearner().fit(X, y, np.ones_like(t))
    with pytest.raises(DataValidationError, match="single arm only"):
        MultiArmUplift(control="none").fit(X, y, np.full(len(t), "none"))
    with pytest.raises(DataValidationError, match="control arm 'none' has no customers"):
        MultiArmUplift(control="none").fit(X, y, np.full(len(t), "offer"))


def test_metrics_refuse_a_single_arm(data):
    _, y, t = data
    with pytest.raises(DataValidationError, match="both 0 \\(control\\) and 1 \\(treated\\)"):
        qini_auc_score(y, np.arange(len(y)), np.ones_like(t))
