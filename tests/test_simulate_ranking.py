"""With the default effect mix, ranking by response and by true lifecycle value disagree (100k customers)."""

from __future__ import annotations

import numpy as np
import pytest

from loyalty.simulate import SimulationConfig, oracle, simulate, true_policy_value

BUDGET = 0.2


@pytest.fixture(scope="module")
def world():
    return simulate(SimulationConfig(n_customers=100_000), seed=1)


def _top(world, column):
    k = int(BUDGET * len(world.truth))
    return world.truth.nlargest(k, column, keep="first")["customer_id"]


def test_top_sets_by_response_and_by_lifecycle_uplift_overlap_by_less_than_half(world):
    by_response, by_lifecycle = _top(world, "p_buy_treated"), _top(world, "lifecycle_uplift")
    overlap = len(np.intersect1d(by_response, by_lifecycle)) / len(by_response)
    print(f"\noverlap of the top {BUDGET:.0%} sets: {overlap:.3f}")
    assert overlap < 0.5


def test_oracle_beats_the_response_ranked_set_by_a_clear_margin(world):
    oracle_value = 1000 * true_policy_value(world, oracle(world, BUDGET))
    response_value = 1000 * true_policy_value(world, _top(world, "p_buy_treated"))
    print(f"\ntrue lifecycle value per 1,000 customers at {BUDGET:.0%}: oracle {oracle_value:.1f}, "
          f"response-ranked {response_value:.1f}")
    assert response_value < 0 < oracle_value
    assert oracle_value - response_value > 100
