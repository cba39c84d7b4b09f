"""Must-show 2: on a simulated world where dropout is known, churn probabilities are calibrated and rank true
churners above true actives.

The world has no campaign effects (every customer ``no_effect``), so behaviour after t0 is the latent process:
a customer alive at t0 buys on each day with probability λ, so P(no purchase in H days) = (1 − λ)^H, and 1 for
a customer already gone.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from loyalty.churn import churn_dataset, compare_churn_models, ece_tolerance, expected_calibration_error
from loyalty.data import validate_transactions

simulate_module = pytest.importorskip("loyalty.simulate")

HORIZON = 180  # days
MODELS = ["bgnbd", "lightgbm", "hybrid"]


@pytest.fixture(scope="module")
def world_and_result():
    config = simulate_module.SimulationConfig.from_dict({"n_customers": 20_000, "effects": {"mix": {"no_effect": 1.0}}})
    world = simulate_module.simulate(config, seed=11)
    clean = validate_transactions(world.transactions).transactions
    cutoff = world.t0 - pd.Timedelta(1, "ns")  # history is everything before t0
    data = churn_dataset(clean, cutoff, HORIZON, "D", summary_unit="W")
    result = compare_churn_models(data, HORIZON, "D", test_size=0.5,
                                  lightgbm_params={"n_estimators": 200, "n_jobs": 2}, random_state=0)
    truth = world.truth.set_index("customer_id").loc[result.predictions.index]
    true_p = np.where(truth["alive_at_t0"], (1 - truth["lambda"]) ** HORIZON, 1.0)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\nsimulated world (20,000 customers, seed 11), 180-day churn, test customers:")
        print(result.table.round(4).to_string())
        for m in MODELS:
            p = result.predictions[m].to_numpy()
            print(f"{m}: ECE {expected_calibration_error(result.predictions['churned'], p):.4f} "
                  f"(bound {ece_tolerance(p):.4f}), ECE vs true P {_ece_against_truth(p, true_p):.4f}, "
                  f"AUC true dropout {roc_auc_score(~truth['alive_at_t0'], p):.3f}")
    return world, result, truth, true_p


def _ece_against_truth(p, true_p, n_bins=10):
    """Calibration against the exact churn probability instead of 0/1 outcomes (no label noise)."""
    bins = np.minimum(np.argsort(np.argsort(p, kind="stable")) * n_bins // len(p), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "q": true_p}).groupby("bin")
    gaps = (frame["p"].mean() - frame["q"].mean()).abs()
    return float(np.sum(frame.size() / len(p) * gaps))


@pytest.mark.parametrize("model", MODELS)
def test_ece_within_sampling_bound(world_and_result, model):
    _, result, _, _ = world_and_result
    p = result.predictions[model].to_numpy()
    assert expected_calibration_error(result.predictions["churned"], p) < ece_tolerance(p)


@pytest.mark.parametrize("model", MODELS)
def test_calibrated_against_the_true_churn_probability(world_and_result, model):
    _, result, _, true_p = world_and_result
    p = result.predictions[model].to_numpy()
    assert _ece_against_truth(p, true_p) < ece_tolerance(p)


@pytest.mark.parametrize("model", MODELS)
def test_ranks_true_dropouts_above_customers_still_alive(world_and_result, model):
    _, result, truth, _ = world_and_result
    assert roc_auc_score(~truth["alive_at_t0"], result.predictions[model]) > 0.75


@pytest.mark.parametrize("model", MODELS)
def test_ranking_close_to_the_oracle(world_and_result, model):
    _, result, _, true_p = world_and_result
    y = result.predictions["churned"]
    assert roc_auc_score(y, result.predictions[model]) > roc_auc_score(y, true_p) - 0.12
