"""Campaigns with several offer arms: each policy gives each customer the arm it scores best, the per-customer
assignment is valued off-policy (doubly robust, Dudík, Langford & Li 2011), and one offer against control is
exactly the one-arm experiment."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.datasets import load_hillstrom
from loyalty.errors import DataValidationError, SpecError
from loyalty.report.targeting import SCHEMA_PATH, write_experiment
from loyalty.targeting import (
    ColumnPolicy, dr_contributions, evaluate_policies, experiment_from_dict, ipw_contributions, load_experiment,
    run_experiment,
)
from loyalty.targeting.arms import arm_column, arm_contributions
from loyalty.targeting.evaluate import evaluate_arm_policies
from loyalty.targeting.randomization import check_arm_randomization

FAST = {"models": {"folds": 2, "n_estimators": 30, "learner": "X", "splits": 1},
        "bootstrap": {"resamples": 200, "seed": 0}}
HILLSTROM_ECONOMICS = {"margin_rate": 0.4, "discount_rate": 0.1, "contact_cost": 0.05}
HILLSTROM_RENAMES = {"customer_id": "member", "segment": "arm", "conversion": "bought", "spend": "revenue_2wk"}
FEATURES = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]


def _table_spec(path, **table) -> dict:
    options = {"path": str(path), "id": "member", "treatment": "arm", "control": "No E-Mail",
               "outcomes": {"conversion": "bought", "spend": "revenue_2wk"}, "features": FEATURES, **table}
    return {"name": "mailing", "data": {"table": options}, "economics": HILLSTROM_ECONOMICS,
            "policies": ["random", "response", "uplift", "margin_uplift"], "budgets": [0.1, 0.2],
            "headline": {"budget": 0.2, "policy": "margin_uplift", "baseline": "response"}, **FAST}


# -- the maths -------------------------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(st.integers(5, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.floats(-50, 50), min_size=n, max_size=n),
    st.lists(st.floats(0.05, 0.95), min_size=n, max_size=n),
    st.lists(st.floats(-50, 50), min_size=n, max_size=n),
    st.lists(st.floats(-50, 50), min_size=n, max_size=n))))
def test_one_offer_arm_gives_the_one_arm_doubly_robust_and_ipw_contributions(case):
    t, y, e, mu0, mu1 = (np.array(v) for v in case)
    p = np.column_stack([1 - e, e])
    dr = arm_contributions(t, y, p, np.stack([mu0[:, None], mu1[:, None]]))
    np.testing.assert_allclose(dr[0, :, 0], dr_contributions(t, y, e, mu0, mu1), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(arm_contributions(t, y, p)[0, :, 0], ipw_contributions(t, y, e), rtol=1e-12,
                               atol=1e-9)


def test_an_arm_contribution_is_unbiased_for_the_arms_effect_whatever_the_outcome_model():
    rng = np.random.default_rng(0)
    n = 400_000
    arm = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    effect = np.array([0.0, 1.0, -2.0])
    y = rng.normal(size=n) + effect[arm]
    wrong_model = np.stack([np.full((n, 1), v) for v in (5.0, -3.0, 7.0)])  # deliberately wrong μ
    z = arm_contributions(arm, y, np.tile([0.5, 0.3, 0.2], (n, 1)), wrong_model)
    assert z.shape == (2, n, 1)
    for k in (1, 2):
        se = z[k - 1, :, 0].std() / np.sqrt(n)
        assert abs(z[k - 1, :, 0].mean() - effect[k]) < 4 * se


def test_the_randomization_check_counts_every_arm_and_checks_each_against_control():
    rng = np.random.default_rng(1)
    n = 30_000
    arm = rng.choice(3, size=n, p=[0.4, 0.3, 0.3])
    x = pd.DataFrame({"spend": rng.gamma(2.0, 50.0, size=n)})
    labels = ["control", "A", "B"]
    honest = check_arm_randomization(arm, np.tile([0.4, 0.3, 0.3], (n, 1)), x, labels)
    assert honest.passed and set(honest.as_dict()["arms"]) == set(labels)
    assert set(honest.smd) == {"spend [A]", "spend [B]"}
    mismatch = check_arm_randomization(arm, np.tile([0.5, 0.25, 0.25], (n, 1)), x, labels)
    assert not mismatch.passed and "sample-ratio mismatch" in mismatch.failures[0]
    tilted = x.copy()
    tilted.loc[arm == 2, "spend"] *= 1.5  # arm B got the heavier buyers
    check = check_arm_randomization(arm, np.tile([0.4, 0.3, 0.3], (n, 1)), tilted, labels)
    assert not check.passed and "spend [B]" in check.failures[0] and "spend [A]" not in check.failures[0]


# -- specs and bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("table, message", [
    ({"arm": "Mens E-Mail", "arms": ["Mens E-Mail", "Womens E-Mail"]}, "not both"),
    ({}, "missing field 'arm' \\(or 'arms'"),
    ({"arms": ["Mens E-Mail", "No E-Mail"]}, "includes the control arm"),
    ({"arms": ["Mens E-Mail", "Mens E-Mail"]}, "names an arm twice"),
    ({"arms": ["Mens E-Mail", "Womens E-Mail"], "propensity": 0.33}, "with several arms give a column"),
])
def test_bad_multi_arm_specs_fail_before_reading_the_file(table, message):
    with pytest.raises(SpecError, match=message):
        experiment_from_dict(_table_spec("mailing.csv", **table))


def test_stated_propensities_that_vary_within_an_arm_are_an_error_naming_the_arm(tmp_path):
    table = load_hillstrom().rename(columns=HILLSTROM_RENAMES).head(3000)
    table["p"] = np.where(table["arm"] == "Mens E-Mail", np.where(table["recency"] > 6, 0.4, 0.3), 1 / 3)
    table.to_csv(tmp_path / "mailing.csv", index=False)
    spec = _table_spec(tmp_path / "mailing.csv", arms=["Mens E-Mail", "Womens E-Mail"], propensity="p")
    with pytest.raises(DataValidationError, match="arm 'Mens E-Mail' has stated propensities from 0.3 to 0.4"):
        run_experiment(experiment_from_dict(spec))



def _holdout(arms: int, n: int = 400) -> pd.DataFrame:
    """A randomized holdout for the evaluators: ``arms`` 1 gives a 0/1 treatment with a propensity column and one
    ``score``; more give arm codes 0..arms with a ``score`` per arm (:func:`arm_column`)."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"treatment": np.arange(n) % (arms + 1), "y": rng.normal(size=n)})
    if arms == 1:
        return frame.assign(propensity=0.5, score=rng.normal(size=n))
    return frame.assign(**{arm_column("score", k): rng.normal(size=n) for k in range(1, arms + 1)})


def _evaluate(arms: int, frames, models=None, **options):
    """``evaluate_policies`` (one offer) or ``evaluate_arm_policies`` (two) with the same inputs."""
    options = {"policies": [ColumnPolicy("s", "score")], "outcomes": {"y": "y"}, "shares": [0.5],
               "n_resamples": 20, **options}
    if arms == 1:
        return evaluate_policies(frames, arm_means=models, **options)
    return evaluate_arm_policies(frames, arm_propensity=np.full((400, 3), 1 / 3), arm_labels=["A", "B"],
                                 outcome_means=models, **options)


@pytest.mark.parametrize("arms", [1, 2], ids=["one_offer", "two_offers"])
@pytest.mark.parametrize("bad, error, message", [
    (lambda f: {"frames": []}, DataValidationError, "no cross-fitting split to evaluate"),
    (lambda f: {"frames": [f.iloc[:0]]}, DataValidationError, "no customers to evaluate on"),
    (lambda f: {"frames": [f, f.iloc[:-1]]}, DataValidationError,
     "the splits' frames have different lengths: \\[400, 399\\]"),
    (lambda f: {"frames": [f.drop(columns="y")]}, DataValidationError,
     "evaluation frame lacks column\\(s\\) \\['y'\\]"),
    (lambda f: {"frames": [f], "treatment": "arm"}, DataValidationError, "lacks column\\(s\\) \\['arm'\\]"),
    (lambda f: {"frames": [f, f], "models": [None]}, DataValidationError, "1 sets of outcome models for 2 splits"),
    (lambda f: {"frames": [f], "policies": [ColumnPolicy("s", "score")] * 2}, DataValidationError,
     "policy names must be unique, got \\['s', 's'\\]"),
    (lambda f: {"frames": [f], "shares": [1.5]}, SpecError, "budget share must be within \\[0, 1\\], got 1.5"),
], ids=["no_split", "no_customer", "lengths_differ", "outcome_missing", "treatment_missing", "models_per_split",
        "policy_twice", "share_above_one"])
def test_both_evaluators_refuse_the_same_bad_input_with_the_same_message(arms, bad, error, message):
    inputs = bad(_holdout(arms))
    with pytest.raises(error, match=message):
        _evaluate(arms, **inputs)


def test_the_arm_evaluation_names_arm_propensities_that_do_not_match_the_customers_and_arms():
    frame = _holdout(2)
    with pytest.raises(DataValidationError, match="arm_propensity has shape \\(400, 2\\); expected \\(400, 3\\)"):
        evaluate_arm_policies([frame], [ColumnPolicy("s", "score")], {"y": "y"}, np.full((400, 2), 0.5), ["A", "B"],
                              shares=[0.5], n_resamples=20)


def test_the_evaluators_accept_a_frame_alone_as_one_split():
    for arms in (1, 2):
        frame = _holdout(arms)
        alone, listed = _evaluate(arms, frame), _evaluate(arms, [frame])
        assert alone.splits == listed.splits == 1
        pd.testing.assert_frame_equal(alone.values, listed.values)


# -- Hillstrom's three arms --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mailing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mailing")
    load_hillstrom().rename(columns=HILLSTROM_RENAMES).to_csv(folder / "mailing.csv", index=False)
    return folder / "mailing.csv"


@pytest.mark.slow
def test_hillstroms_three_arms_run_end_to_end_through_the_table_source(mailing, tmp_path):
    spec_file = tmp_path / "mailing.yaml"
    spec_file.write_text(yaml.safe_dump({"kind": "experiment", **_table_spec(
        mailing, arms=["Mens E-Mail", "Womens E-Mail"])}))
    result = run_experiment(load_experiment(spec_file))
    write_experiment(result, tmp_path / "out")
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["data"]["accounting"]["rows_used"] == 64_000  # every arm is in: nothing left out
    assert document["randomization"]["passed"]
    assert set(document["randomization"]["arms"]) == {"No E-Mail", "Mens E-Mail", "Womens E-Mail"}
    shares = pd.DataFrame(document["arm_shares"])
    assert set(shares["arm"]) == {"Mens E-Mail", "Womens E-Mail"}
    totals = shares.groupby(["policy", "budget"])["arm_share"].sum()
    np.testing.assert_allclose(totals, 1.0)
    random = shares[(shares["policy"] == "random") & (shares["budget"] == 0.2)].set_index("arm")["arm_share"]
    assert abs(random["Mens E-Mail"] - 0.5) < 0.05  # the random policy picks a random arm
    assert "Which offer each policy sends" in (tmp_path / "out" / "report.html").read_text()
    cells = pd.DataFrame(document["cells"])
    assert np.isfinite(cells["value_per_1000"]).all() and (cells["ci_low_per_1000"] < cells["ci_high_per_1000"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("arm", ["Mens E-Mail", "Womens E-Mail"])
def test_a_list_of_one_arm_is_the_one_arm_experiment_and_equals_the_builtin_source(mailing, arm):
    listed = run_experiment(experiment_from_dict(_table_spec(mailing, arms=[arm])))
    builtin = run_experiment(experiment_from_dict({**_table_spec(mailing, arm=arm),
                                                   "data": {"hillstrom": {"arm": arm, "control": "No E-Mail"}}}))
    assert not listed.data.multi_arm and listed.evaluation.arm_shares is None
    assert listed.headline["difference_per_1000"] == builtin.headline["difference_per_1000"]
    assert listed.headline["ci_per_1000"] == builtin.headline["ci_per_1000"]
    columns = ["policy", "share", "outcome", "value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(listed.evaluation.values[columns], builtin.evaluation.values[columns])


# -- a simulated world with two offers of planted, different effects ---------------------------------------------
TWO_OFFERS = {"campaign": {"arms": {"strong": {"share": 0.3, "lift_scale": 3.0, "discount_rate": 0.1},
                                    "weak": {"share": 0.3, "lift_scale": 0.3, "discount_rate": 0.1}}}}
POLICIES = ["random", "response", "uplift", "margin_uplift", "lifecycle", "oracle"]


@pytest.fixture(scope="module")
def two_offers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_offers")
    (folder / "world.yaml").write_text(yaml.safe_dump(TWO_OFFERS))
    spec = {"name": "two_offers", "data": {"simulator": {"customers": 30_000, "seed": 3,
                                                         "config": str(folder / "world.yaml")}},
            "economics": {"annual_discount_rate": 0.10, "response_window_days": 28, "horizon_days": 364},
            "policies": POLICIES, "budgets": [0.1, 0.2, 0.3],
            "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"},
            "models": {"folds": 2, "n_estimators": 50, "splits": 1}, "bootstrap": {"resamples": 200, "seed": 0}}
    return run_experiment(experiment_from_dict(spec))


def _better_arm(result):
    """Each customer's truly better arm (1 strong, 2 weak) on the long-horizon value, and where the two differ."""
    strong = result.scores[arm_column("true_lifecycle_uplift", 1)].to_numpy()
    weak = result.scores[arm_column("true_lifecycle_uplift", 2)].to_numpy()
    return np.where(strong > weak, 1, 2), np.abs(strong - weak) > 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("policy, least", [("oracle", 1.0), ("lifecycle", 2 / 3), ("margin_uplift", 2 / 3)])
def test_policies_give_most_of_their_targets_the_truly_better_offer(two_offers, policy, least):
    better, differ = _better_arm(two_offers)
    evaluation = two_offers.evaluation
    targeted = evaluation.selections[policy][:, evaluation.shares.index(0.2)] & differ
    picked = evaluation.arm_choices[policy][targeted] == better[targeted]
    random = evaluation.selections["random"][:, evaluation.shares.index(0.2)] & differ
    random_rate = (evaluation.arm_choices["random"][random] == better[random]).mean()
    assert targeted.sum() > 500
    assert picked.mean() >= least > random_rate + 0.1  # far above a random arm's rate (about one half)


@pytest.mark.slow
def test_doubly_robust_values_of_the_arm_choices_cover_the_planted_truth(two_offers):
    values = two_offers.evaluation.values
    assert two_offers.evaluation.estimator == "dr"
    for row in values[values["outcome"] == "long_net_margin"].itertuples():
        if row.share in (0.1, 0.2, 0.3):
            assert row.ci_low <= row.true_value <= row.ci_high, row


@pytest.mark.slow
def test_a_two_offer_world_passes_the_randomization_check_over_all_arms(two_offers):
    check = two_offers.data.info["randomization"]
    assert check["passed"]
    assert list(check["arms"]) == ["control", "strong", "weak"]
    assert {name.rsplit(" [", 1)[1] for name in check["smd"]} == {"strong]", "weak]"}


@pytest.mark.slow
def test_a_two_offer_world_handed_over_as_files_gives_the_simulator_sources_numbers(tmp_path):
    from loyalty.simulate import SimulationConfig, simulate

    (tmp_path / "world.yaml").write_text(yaml.safe_dump(TWO_OFFERS))
    simulate(SimulationConfig.from_yaml(tmp_path / "world.yaml").replace(n_customers=4000), seed=7).save(
        tmp_path / "world")
    common = {"economics": {"annual_discount_rate": 0.10, "response_window_days": 28, "horizon_days": 364},
              "policies": ["random", "response", "uplift", "margin_uplift", "lifecycle"], "budgets": [0.1, 0.2],
              "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"}, **FAST}
    world = tmp_path / "world"
    files = run_experiment(experiment_from_dict({"name": "files", "data": {"campaign": {
        "transactions": str(world / "transactions.parquet"), "assignments": str(world / "assignments.parquet"),
        "customers": str(world / "customers.parquet"), "control": "control", "arms": ["strong", "weak"],
        "customer_features": ["channel", "region", "category_mix", "tenure_band", "email_engagement"]}}, **common}))
    simulator = run_experiment(experiment_from_dict({"name": "sim", "data": {"simulator": {
        "customers": 4000, "seed": 7, "config": str(tmp_path / "world.yaml")}}, **common}))
    assert files.data.multi_arm and files.data.info["arms"] == ["strong", "weak"]
    assert files.headline["difference_per_1000"] == simulator.headline["difference_per_1000"]
    assert files.headline["ci_per_1000"] == simulator.headline["ci_per_1000"]
    columns = ["policy", "share", "outcome", "value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(files.evaluation.values[columns], simulator.evaluation.values[columns])
    pd.testing.assert_frame_equal(files.evaluation.arm_shares, simulator.evaluation.arm_shares)
