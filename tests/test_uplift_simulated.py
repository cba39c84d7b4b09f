"""On a simulated world with known individual effects, predicted uplift ranks the true uplift.

The world comes from ``loyalty.simulate`` (truth: ``response_uplift`` = P(buy | offer) − P(buy | control) in the
response window). Features are point in time (transactions before the assignment) plus customer attributes.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from loyalty.uplift import TLearner, XLearner, campaign_frame, default_estimator

simulate = pytest.importorskip("loyalty.simulate")


@pytest.fixture(scope="module")
def world_frame():
    world = simulate.simulate(simulate.SimulationConfig(n_customers=130_000), seed=11)
    attributes = world.customers.drop(columns=["acquired_at"])
    window = world.config.calendar.response_window_days
    X, outcomes = campaign_frame(world.transactions, world.assignments, window, control=0, attributes=attributes)
    truth = world.truth.set_index("customer_id").loc[outcomes["customer_id"], "response_uplift"].to_numpy()
    return X, outcomes["converted"].to_numpy(), outcomes["treatment"].to_numpy(dtype=int), truth


def _split(n: int):
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    return order[:30_000], order[30_000:]  # a fixed test set; training sets are prefixes of the rest


@pytest.fixture(scope="module")
def rank_correlations(world_frame):
    """Spearman ρ(predicted, true uplift) on one fixed test set, per learner and training size (fitted once)."""
    X, y, t, truth = world_frame
    test, pool = _split(len(y))
    out = {}
    for name, make in (("T", TLearner), ("X", XLearner)):
        for n_train in (10_000, 100_000):
            train = pool[:n_train]
            predicted = make().fit(X.iloc[train], y[train], t[train]).predict(X.iloc[test])
            out[name, n_train] = spearmanr(predicted, truth[test]).statistic
    treated = pool[:100_000][t[pool[:100_000]] == 1]
    response = default_estimator(True).fit(X.iloc[treated], y[treated]).predict_proba(X.iloc[test])[:, 1]
    out["response", 100_000] = spearmanr(response, truth[test]).statistic
    print({f"{k[0]}@{k[1]}": round(v, 3) for k, v in out.items()})
    return out


@pytest.mark.parametrize("learner", ["T", "X"])
def test_rank_correlation_is_positive_and_grows_with_sample_size(rank_correlations, learner):
    assert rank_correlations[learner, 10_000] > 0
    assert rank_correlations[learner, 100_000] > rank_correlations[learner, 10_000]


@pytest.mark.parametrize("learner", ["T", "X"])
def test_uplift_beats_a_response_model_at_ranking_true_uplift(rank_correlations, learner):
    """P(buy | treated) ranks buyers, not persuadables: the uplift learners rank the true effect better."""
    assert rank_correlations[learner, 100_000] > rank_correlations["response", 100_000]
