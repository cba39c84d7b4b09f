"""Targeting: policies, budgets, policy value on a randomized holdout (doubly robust, with IPW as the cross-check)
with paired bootstrap intervals over repeated cross-fitting splits, the decision (the best action or "send
nothing", with selection-honest intervals), and the experiment that compares targeting by campaign response with
targeting by margin and lifetime value."""

from .arms import cross_fit_outcome_means
from .budgets import PROFIT_POSITIVE, MoneyBudget, ProfitPositive, TopShare, budget_label, rank_order, select
from .compare import ExperimentResult, check_campaign, headline, load_campaign, run_experiment, score_campaign
from .decision import NOTHING, Decision, decide
from .economics import lifecycle_score, lifecycle_scores, net_window_margin, retention_value
from .evaluate import CURVE_SHARES, PolicyEvaluation, evaluate_policies
from .policies import BUILTIN_POLICIES, ColumnPolicy, FormulaPolicy, Policy, RandomPolicy, get_policy
from .randomization import RandomizationCheck, check_randomization
from .spec import ExperimentSpec, experiment_from_dict, load_experiment
from .value import (
    bootstrap_policy_values,
    dr_contributions,
    ipw_contributions,
    median_over_splits,
    percentile_interval,
    policy_values,
)

__all__ = [
    "Policy", "ColumnPolicy", "FormulaPolicy", "RandomPolicy", "BUILTIN_POLICIES", "get_policy",
    "TopShare", "MoneyBudget", "ProfitPositive", "PROFIT_POSITIVE", "budget_label", "rank_order", "select",
    "ipw_contributions", "dr_contributions", "cross_fit_outcome_means", "policy_values", "bootstrap_policy_values",
    "percentile_interval", "median_over_splits", "Decision", "decide", "NOTHING",
    "net_window_margin", "retention_value", "lifecycle_score", "lifecycle_scores",
    "PolicyEvaluation", "evaluate_policies", "CURVE_SHARES",
    "ExperimentSpec", "load_experiment", "experiment_from_dict",
    "ExperimentResult", "run_experiment", "load_campaign", "check_campaign", "score_campaign", "headline",
    "RandomizationCheck", "check_randomization",
]
