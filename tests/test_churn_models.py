"""The churn estimators' contracts: scikit-learn conformance, determinism, calibration choice, persistence,
metrics, and the CLI round trip."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from loyalty.churn import BGNBDChurn, LightGBMChurn, evaluation_table, lift_at, reliability_plot
from loyalty.cli import main


def _small():
    return LightGBMChurn(n_estimators=20, min_child_samples=2, num_leaves=7, early_stopping_rounds=5)


@parametrize_with_checks([_small()])
def test_sklearn_conformance(estimator, check):
    check(estimator)


def _synthetic(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"recency": rng.exponential(100, n), "frequency": rng.poisson(2, n).astype(float),
                      "noise": rng.normal(size=n)})
    logit = 0.02 * X["recency"] - 0.8 * X["frequency"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_fit_is_deterministic_with_random_state():
    X, y = _synthetic()
    a = LightGBMChurn(n_estimators=50, random_state=3).fit(X, y).predict_proba(X)
    b = LightGBMChurn(n_estimators=50, random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_calibration_chosen_by_validation_brier_and_recorded():
    X, y = _synthetic()
    model = LightGBMChurn(n_estimators=50).fit(X, y)
    assert set(model.validation_brier_) == {"none", "isotonic", "sigmoid"}
    assert model.calibration_ == min(model.validation_brier_, key=model.validation_brier_.get)
    assert LightGBMChurn(n_estimators=50, calibration="isotonic").fit(X, y).calibration_ == "isotonic"
    importance = model.feature_importance()
    assert importance.index[-1] == "noise" and importance.sum() == pytest.approx(1.0)


def test_save_and_load_give_the_same_predictions(tmp_path):
    X, y = _synthetic()
    model = LightGBMChurn(n_estimators=50, calibration="sigmoid").fit(X, y)
    model.save(tmp_path / "m", {"cutoff": "2020-01-01"})
    loaded, meta = LightGBMChurn.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert meta == {"cutoff": "2020-01-01"} and loaded.get_params() == model.get_params()


def test_bgnbd_churn_is_p_no_purchase_not_one_minus_p_alive(cdnow_sample):
    from loyalty.data import summarize

    summary = summarize(cdnow_sample, "1997-09-30", period="D", unit="W")
    model = BGNBDChurn(horizon=39, unit="W").fit(summary)
    p = model.predict_proba(summary)[:, 1]
    one_timers = (summary["frequency"] == 0).to_numpy()
    assert np.all(model.p_alive(summary)[one_timers] == 1.0)
    assert np.all(p[one_timers] > 0.5)  # alive for sure, yet most will not buy in the next 39 weeks
    np.testing.assert_allclose(p, model.bgnbd_.p_no_purchase(summary, 39).to_numpy())
    days = BGNBDChurn(horizon=273, unit="D").fit(summary)
    np.testing.assert_allclose(days.predict_proba(summary), model.predict_proba(summary))


def test_lift_counts_tied_scores_in_proportion():
    y = np.array([1, 0] * 50)
    assert lift_at(y, np.zeros(100), 0.1) == pytest.approx(1.0)  # all tied: no better than random
    assert lift_at(y, y.astype(float), 0.1) == pytest.approx(2.0)


def test_evaluation_table_and_reliability_plot():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=2000)
    y = (rng.uniform(size=2000) < p).astype(int)
    table = evaluation_table(y, {"true": p, "flat": np.full(2000, y.mean())})
    assert table.loc["true", "roc_auc"] > 0.7 and table.loc["flat", "roc_auc"] == 0.5
    assert table.loc["true", "ece"] < 0.05
    figure = reliability_plot(y, {"true": p})
    assert figure.axes[0].get_xlabel() == "mean predicted churn probability"


def test_cli_fit_then_score_round_trip(tmp_path, cdnow_sample, capsys):
    log = tmp_path / "cdnow.csv"
    cdnow_sample.assign(timestamp=cdnow_sample["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(log, index=False)
    assert main(["churn", "fit", str(log), "--cutoff", "1997-09-30", "--horizon", "39", "--horizon-unit", "W",
                 "--n-estimators", "50", "--out", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out
    assert "bgnbd" in out and "hybrid" in out and "roc_auc" in out
    assert main(["churn", "score", str(log), "--model", str(tmp_path / "model"), "--as-of", "1998-06-30",
                 "--out", str(tmp_path / "scores.parquet")]) == 0
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(scores) == cdnow_sample["customer_id"].nunique()
    assert scores["p_churn"].between(0, 1).all() and "bgnbd_p_churn" in scores


def test_cli_reports_bad_input_as_an_error(tmp_path, cdnow_sample, capsys):
    log = tmp_path / "cdnow.csv"
    cdnow_sample.to_csv(log, index=False)
    code = main(["churn", "fit", str(log), "--cutoff", "1998-06-30", "--horizon", "30", "--out", str(tmp_path / "m")])
    assert code == 2 and "holdout is empty" in capsys.readouterr().err
