"""The scoring job's `targeting.policy: lifecycle` ranks customers exactly as the targeting experiment does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from loyalty.errors import SpecError
from loyalty.jobs import load_pipeline, recommend_actions
from loyalty.targeting import experiment_from_dict, run_experiment
from loyalty.targeting.economics import LIFECYCLE_INPUTS

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 0.2


@pytest.fixture(scope="module")
def experiment():
    return run_experiment(experiment_from_dict({
        "name": "lifecycle-parity", "data": {"simulator": {"customers": 4000, "seed": 3}},
        "economics": {"annual_discount_rate": 0.10, "response_window_days": 28, "horizon_days": 364},
        "models": {"folds": 2, "n_estimators": 40}, "policies": ["random", "lifecycle"], "budgets": [BUDGET],
        "headline": {"budget": BUDGET, "policy": "lifecycle", "baseline": "random"},
        "bootstrap": {"resamples": 100, "seed": 0},
    }))


def test_lifecycle_recommendations_equal_the_experiments_lifecycle_selection(experiment):
    inputs = experiment.scores[list(LIFECYCLE_INPUTS)]
    recommended = recommend_actions(inputs, policy="lifecycle", budget=BUDGET)
    np.testing.assert_allclose(recommended["policy_score"], experiment.scores["uplift_lifecycle"], rtol=1e-12)
    shares = list(experiment.evaluation.shares)
    selected = experiment.evaluation.selections["lifecycle"][:, shares.index(BUDGET)]
    assert selected.sum() == round(BUDGET * len(inputs))
    np.testing.assert_array_equal(recommended["recommended_action"].to_numpy() != "none", selected)
    assert set(recommended["recommended_action"]) == {"contact", "none"}


def test_score_spec_accepts_the_lifecycle_policy(tmp_path):
    spec = yaml.safe_load((ROOT / "pipelines" / "score.yaml").read_text())
    spec["targeting"]["policy"] = "lifecycle"
    path = tmp_path / "pipelines" / "score.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(spec))
    assert load_pipeline(path)["targeting"] == {"policy": "lifecycle", "budget": 0.2, "seed": 0}


def test_lifecycle_without_its_inputs_names_the_missing_columns(experiment):
    scores = experiment.scores[["uplift_net_margin", "residual_clv"]]
    with pytest.raises(SpecError, match=r"'lifecycle' ranks by column\(s\) \['uplift_retention', "
                                        r"'p_retained_control'\], which none of the scoring models gave"):
        recommend_actions(scores, policy="lifecycle", budget=BUDGET)
