"""Targeting: policies, budgets, policy value on a randomized holdout with paired bootstrap intervals, and the
experiment that compares targeting by campaign response with targeting by margin and lifetime value."""

from .budgets import MoneyBudget, ProfitPositive, TopShare, rank_order, select
from .compare import ExperimentResult, headline, load_campaign, run_experiment, score_campaign
from .economics import lifecycle_score, lifecycle_scores, net_window_margin, retention_value
from .evaluate import CURVE_SHARES, PolicyEvaluation, evaluate_policies
from .policies import BUILTIN_POLICIES, ColumnPolicy, FormulaPolicy, Policy, RandomPolicy, get_policy
from .spec import ExperimentSpec, experiment_from_dict, load_experiment
from .value import bootstrap_policy_values, ipw_contributions, percentile_interval, policy_values

__all__ = [
    "Policy", "ColumnPolicy", "FormulaPolicy", "RandomPolicy", "BUILTIN_POLICIES", "get_policy",
    "TopShare", "MoneyBudget", "ProfitPositive", "rank_order", "select",
    "ipw_contributions", "policy_values", "bootstrap_policy_values", "percentile_interval",
    "net_window_margin", "retention_value", "lifecycle_score", "lifecycle_scores",
    "PolicyEvaluation", "evaluate_policies", "CURVE_SHARES",
    "ExperimentSpec", "load_experiment", "experiment_from_dict",
    "ExperimentResult", "run_experiment", "load_campaign", "score_campaign", "headline",
]
