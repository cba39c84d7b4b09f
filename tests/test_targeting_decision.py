"""The experiment's decision and its doubly robust values on simulated worlds, where the truth is known."""

import json

import jsonschema
import pytest
import yaml

from loyalty.report.targeting import SCHEMA_PATH, write_experiment
from loyalty.targeting import experiment_from_dict, run_experiment

POLICIES = ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift", "lifecycle", "oracle"]


def _world(customers, seed, config=None, splits=2, n_estimators=50, resamples=400):
    simulator = {"customers": customers, "seed": seed} | ({"config": str(config)} if config else {})
    return experiment_from_dict({
        "name": f"world-{seed}", "data": {"simulator": simulator},
        "economics": {"annual_discount_rate": 0.1, "response_window_days": 28, "horizon_days": 364},
        "models": {"folds": 2, "n_estimators": n_estimators, "splits": splits},
        "policies": POLICIES, "budgets": [0.1, 0.2, 0.3, "profit_positive"],
        "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"},
        "bootstrap": {"resamples": resamples, "seed": seed},
    })


@pytest.fixture(scope="module")
def cheap_offer_world(tmp_path_factory):
    """A cheap offer that works: contact cost 0.02 (default 0.40), 5% discount (15%), persuadables' window purchase
    rate x 4 (x 2.5) and 40% of customers persuadable (25%), 5% sleeping dogs (15%). Treating everyone truly earns
    about +1,100 per 1,000 customers (seed 2, 20k: +1,096); the long-horizon margin is noisy enough that 50k
    customers are needed for the simultaneous interval to clear 0.

    Why not only a cheaper contact: on the default world (the shipped ``simulated`` experiment) with the contact
    cost at 0, and even with the discount at 5% as well, the best actionable policy truly earns less than one
    standard error (``benchmarks/results/decision_lowcost.json``): no honest procedure recommends it, and the
    decision rightly sends nothing there. The offer has to work better for a policy to earn detectably."""
    config = tmp_path_factory.mktemp("cheap") / "cheap.yaml"
    config.write_text(yaml.safe_dump({
        "campaign": {"contact_cost": 0.02, "discount_rate": 0.05},
        "effects": {"persuadable_lift": 3.0,
                    "mix": {"no_effect": 0.45, "persuadable": 0.4, "sleeping_dog": 0.05, "retainable": 0.1}}}))
    return run_experiment(_world(50_000, 2, config, splits=1))


@pytest.mark.slow
def test_recommends_an_action_that_truly_earns_when_the_offer_is_cheap(cheap_offer_world):
    decision, values = cheap_offer_world.decision, cheap_offer_world.evaluation.values
    print(decision.text)
    assert not decision.send_nothing and decision.policy != "oracle"
    truth = values[values["outcome"] == "long_net_margin"].set_index(["policy", "share"])["true_value"]
    assert truth[(decision.policy, decision.budget)] > 0
    assert decision.ci_low <= truth[(decision.policy, decision.budget)] <= decision.ci_high
    assert decision.value > 0 and decision.p_beats_nothing > 0.95


@pytest.mark.slow
def test_every_row_of_results_says_its_estimator_and_the_decision_validates(cheap_offer_world, tmp_path):
    document = write_experiment(cheap_offer_world, tmp_path)
    jsonschema.validate(json.loads((tmp_path / "results.json").read_text()), json.loads(SCHEMA_PATH.read_text()))
    assert {cell["estimator"] for cell in document["cells"]} == {"dr", "ipw"}
    assert {row["estimator"] for row in document["differences"]} == {"dr", "ipw"}
    assert document["headline"]["estimator"] == "dr" and document["headline"]["splits"] == 1
    block = document["decision"]
    assert block["policy"] == cheap_offer_world.decision.policy
    assert block["ci_per_1000"][0] > 0
    assert {row["policy"] for row in block["per_policy"]} == set(POLICIES) - {"oracle"}
    assert "profit_positive" in {cell["budget"] for cell in document["cells"]}
    assert "estimator" in (tmp_path / "policies.csv").read_text().splitlines()[0]


@pytest.mark.slow
def test_profit_positive_treats_exactly_the_customers_a_money_policy_predicts_to_earn(cheap_offer_world):
    evaluation, scores = cheap_offer_world.evaluation, cheap_offer_world.scores
    j = evaluation.shares.index("profit_positive")
    for policy, column in (("margin_uplift", "uplift_net_margin"), ("lifecycle", "uplift_lifecycle")):
        assert (evaluation.selections[policy][:, j] == (scores[column] > 0).to_numpy()).all()
    assert ("response", "profit_positive") not in set(zip(evaluation.values["policy"], evaluation.values["share"]))
