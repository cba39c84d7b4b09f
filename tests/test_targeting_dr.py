"""Doubly robust policy values, repeated cross-fitting splits and the selection-honest decision."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.errors import DataValidationError
from loyalty.uplift import TLearner, default_estimator
from loyalty.targeting import ColumnPolicy, cross_fit_outcome_means, evaluate_policies
from loyalty.targeting.campaign_data import hillstrom_campaign
from loyalty.targeting.decision import NOTHING, decide
from loyalty.targeting.evaluate import PROFIT_POSITIVE
from loyalty.targeting.value import (
    bootstrap_policy_values, dr_contributions, ipw_contributions, median_over_splits,
)


def _campaign(n=4000, seed=0, propensity=0.5):
    """Outcome = a strong baseline driven by x + a heterogeneous effect: what outcome models can explain."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = (rng.random(n) < propensity).astype(int)
    effect = 0.3 + 0.5 * x
    baseline = 5.0 + 4.0 * x
    y = baseline + t * effect + rng.normal(0, 1.0, n)
    return pd.DataFrame({"x": x, "treatment": t, "propensity": propensity, "y": y, "effect": effect,
                         "baseline": baseline, "score": effect + rng.normal(0, 0.3, n)})


def test_dr_with_zero_outcome_models_is_exactly_ipw():
    frame = _campaign()
    zero = np.zeros(len(frame))
    dr = dr_contributions(frame["treatment"], frame["y"], frame["propensity"], zero, zero)
    np.testing.assert_array_equal(dr, ipw_contributions(frame["treatment"], frame["y"], frame["propensity"]))


def test_dr_is_unbiased_with_a_wrong_outcome_model_and_tighter_with_a_good_one():
    frame = _campaign(n=200_000, seed=1, propensity=0.3)
    t, y, e = frame["treatment"], frame["y"], frame["propensity"]
    wrong = np.full(len(frame), 100.0)  # far off: the known propensity still corrects it
    good_control = frame["baseline"].to_numpy()
    good_treated = good_control + frame["effect"].to_numpy()
    truth = frame["effect"].mean()
    for mu0, mu1 in ((wrong, wrong), (good_control, good_treated)):
        psi = dr_contributions(t, y, e, mu0, mu1)
        assert abs(psi.mean() - truth) < 4 * psi.std() / np.sqrt(len(psi))
    ipw = ipw_contributions(t, y, e)
    psi = dr_contributions(t, y, e, good_control, good_treated)
    assert psi.std() < 0.3 * ipw.std()


def test_dr_contributions_name_mismatched_outcome_models():
    with pytest.raises(DataValidationError, match="mu_treated has shape"):
        dr_contributions([0, 1], [1.0, 2.0], 0.5, [0.0, 0.0], [0.0])
    with pytest.raises(DataValidationError, match="non-finite"):
        dr_contributions([0, 1], [1.0, 2.0], 0.5, [0.0, np.nan], [0.0, 0.0])


@dataclass
class _TrainingMean:
    """A model that predicts the mean of what it was fitted on: shows which customers those were."""

    def fit(self, X, y):
        self.mean_ = y.mean()
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_cross_fitted_outcome_means_of_a_customer_come_from_the_other_folds_of_each_arm_only():
    frame = _campaign(n=300, seed=2)
    fold = np.arange(300) % 3
    y = frame[["y"]].to_numpy()
    t = frame["treatment"].to_numpy()
    mu = cross_fit_outcome_means(frame[["x"]], y, t, fold, lambda binary: _TrainingMean(), 2)
    assert mu.shape == (2, 300, 1)
    for k in range(3):
        other = fold != k
        assert np.allclose(mu[1, fold == k, 0], y[other & (t == 1), 0].mean())
        assert np.allclose(mu[0, fold == k, 0], y[other & (t == 0), 0].mean())


def test_one_offers_outcome_means_are_the_t_learners_out_of_fold_arm_predictions_bit_for_bit():
    data = hillstrom_campaign("Womens E-Mail", "No E-Mail", 0.4, 0.1, 0.05)
    n = 10_000
    X = data.X.iloc[:n]
    y = data.frame[list(data.outcomes.values())].to_numpy(dtype=float)[:n]  # conversion (0/1) and net margin
    t = data.frame["treatment"].to_numpy()[:n]
    fold = np.random.default_rng(11).permutation(n) % 3

    def model(binary):
        return default_estimator(binary, 5).set_params(n_estimators=20)

    mu = cross_fit_outcome_means(X, y, t, fold, model, 2)
    for k in range(3):
        train, test = fold != k, fold == k
        for j, binary in enumerate((True, False)):
            learner = TLearner(model(binary), outcome="binary" if binary else "continuous")
            treated, control = learner.fit(X[train], y[train, j], t[train]).predict_arms(X[test])
            assert mu[1, test, j].tobytes() == treated.tobytes()
            assert mu[0, test, j].tobytes() == control.tobytes()


@pytest.mark.parametrize("arm, fold, message", [
    (np.arange(10) % 2, np.arange(9) % 2, "X, outcomes, arm and fold have different lengths: 10, 10, 10, 9"),
    (np.arange(10) % 2, np.zeros(10, dtype=int), "needs at least 2 folds, got \\[0\\]"),
    (np.r_[np.zeros(5, int), np.ones(5, int)], np.r_[np.zeros(5, int), np.ones(5, int)],
     "fold 0: no customer of arm 0 to fit on"),
])
def test_cross_fitted_outcome_means_name_inputs_they_cannot_use(arm, fold, message):
    with pytest.raises(DataValidationError, match=message):
        cross_fit_outcome_means(np.zeros((10, 1)), np.arange(10.0), arm, fold, lambda binary: _TrainingMean(), 2)


def test_median_over_one_split_is_the_normal_bootstrap_interval():
    rng = np.random.default_rng(3)
    reps = rng.normal(2.0, 0.5, size=(1, 4000, 1))
    agg = median_over_splits(np.array([[2.0]]), reps, level=0.95)
    assert agg["se"][0] == pytest.approx(reps.std(ddof=1))
    assert agg["ci_low"][0] == pytest.approx(2.0 - 1.959964 * reps.std(ddof=1))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=9), st.floats(0.01, 3.0))
def test_split_to_split_spread_only_widens_the_interval(estimates, sigma):
    points = np.array(estimates)[:, None]
    reps = points[:, None, :] + sigma * np.array([-1.0, 1.0])[None, :, None]  # every split's se is sigma·√2
    agg = median_over_splits(points, reps)
    assert agg["se"][0] >= agg["split_se"][0] - 1e-12
    assert agg["ci_low"][0] <= np.median(estimates) <= agg["ci_high"][0]


def test_evaluation_with_outcome_models_reports_dr_first_and_ipw_as_cross_check():
    frame = _campaign(n=20_000, seed=4)
    y = frame[["y"]].to_numpy()
    good = (frame[["baseline"]].to_numpy(), (frame["baseline"] + frame["effect"]).to_numpy()[:, None])
    result = evaluate_policies([frame, frame], [ColumnPolicy("s", "score")], {"y": "y"}, shares=[0.0, 0.5, 1.0],
                               arm_means=[good, good], n_resamples=300, truth={"y": "effect"})
    assert result.estimator == "dr" and result.splits == 2
    assert set(result.values["estimator"]) == {"dr"} and set(result.cross_check["estimator"]) == {"ipw"}
    dr, ipw = (table.set_index("share") for table in (result.values, result.cross_check))
    assert dr.loc[0.0, "value"] == 0.0
    assert dr.loc[1.0, "se"] < 0.5 * ipw.loc[1.0, "se"]
    assert dr.loc[1.0, "value"] == pytest.approx(
        dr_contributions(frame["treatment"], y, 0.5, *good).mean(), rel=1e-12)
    for share in (0.5, 1.0):
        assert dr.loc[share, "ci_low"] <= dr.loc[share, "true_value"] <= dr.loc[share, "ci_high"]


@dataclass(frozen=True)
class _ProfitPolicy(ColumnPolicy):
    net_value: bool = True


def test_profit_positive_budget_treats_exactly_the_customers_with_positive_predicted_profit():
    frame = _campaign(n=5000, seed=5)
    frame["profit"] = frame["score"] - 0.5
    result = evaluate_policies(frame, [_ProfitPolicy("p", "profit", money=True), ColumnPolicy("s", "score")],
                               {"y": "y"}, shares=[0.2], profit_positive=True, n_resamples=100)
    chosen = result.selections["p"][:, result.shares.index(PROFIT_POSITIVE)]
    np.testing.assert_array_equal(chosen, frame["profit"].to_numpy() > 0)
    # a policy whose score is not a net profit has no such budget
    assert set(result.values.query("policy == 's'")["share"]) == {0.2}
    assert result.kpis.set_index(["policy", "share"]).loc[("p", PROFIT_POSITIVE), "targeted"] == chosen.sum()


def _cells(true_values, n, rng, resamples=300):
    """Per-customer contributions with known means per cell, and their paired bootstrap."""
    cells = len(true_values)
    common = rng.normal(0, 3.0, size=(n, 1))
    z = true_values[None, :] + common + rng.normal(0, 3.0, size=(n, cells))
    ones = np.ones((n, 1), dtype=bool)
    points = z.mean(axis=0)
    reps = np.stack([bootstrap_policy_values(ones, z[:, [c]], n_resamples=resamples, seed=1)[:, 0, 0]
                     for c in range(cells)], axis=1)
    return points, reps


def test_the_winners_simultaneous_interval_covers_its_true_value_where_the_naive_one_does_not():
    rng = np.random.default_rng(6)
    true_values = np.r_[np.zeros(30), -0.05 * np.arange(1, 11)]  # 30 ties at zero: the winner is the luckiest
    labels = [("p", i / 100) for i in range(len(true_values))]
    honest, naive = [], []
    for _ in range(60):
        points, reps = _cells(true_values, 1000, rng)
        decision = decide(labels, points, reps)
        best = decision.cells.loc[decision.cells["value"].idxmax()]
        truth = true_values[decision.cells["value"].idxmax()]
        honest.append(best["ci_low"] <= truth <= best["ci_high"])
        naive.append(best["value"] - 1.96 * best["se"] <= truth)
        assert decision.policy == NOTHING or decision.value > 0
    print(f"winner covered: simultaneous {np.mean(honest):.0%}, naive {np.mean(naive):.0%}")
    assert np.mean(honest) >= 0.9
    assert np.mean(naive) < 0.8


def test_sends_nothing_when_every_action_loses_and_says_so():
    rng = np.random.default_rng(7)
    points, reps = _cells(-0.5 - 0.1 * np.arange(5), 2000, rng)
    decision = decide([("a", 0.1 * (i + 1)) for i in range(5)], points, reps, label="net margin")
    assert decision.send_nothing and decision.value == 0.0
    assert decision.text.startswith("Every policy loses net margin at every budget compared")
    assert decision.as_dict()["candidate"]["proven"] is False


def test_recommends_a_clearly_earning_action_with_its_honest_interval():
    rng = np.random.default_rng(8)
    true_values = np.array([0.1, 1.5, 0.4, -1.0])
    points, reps = _cells(true_values, 4000, rng)
    labels = [("a", 0.1), ("a", 0.2), ("b", 0.1), ("b", PROFIT_POSITIVE)]
    decision = decide(labels, points, reps)
    assert (decision.policy, decision.budget) == ("a", 0.2)
    assert decision.ci_low > 0 and decision.p_beats_nothing > 0.95
    block = decision.as_dict()
    assert block["value_per_1000"] == pytest.approx(1000 * decision.value)
    assert {row["policy"]: row["budget"] for row in block["per_policy"]} == {"a": 0.2, "b": 0.1}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=1, max_size=8), st.integers(0, 1000))
def test_never_recommends_an_action_with_a_negative_estimate(means, seed):
    rng = np.random.default_rng(seed)
    points, reps = _cells(np.array(means), 200, rng, resamples=100)
    decision = decide([("p", i / 10) for i in range(len(means))], points, reps)
    if not decision.send_nothing:
        assert decision.value > 0 and decision.ci_low > 0
    assert 0.0 <= decision.p_beats_nothing <= 1.0
