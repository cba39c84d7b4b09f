"""Evaluate targeting policies on a randomized holdout: value, campaign KPIs and paired bootstrap intervals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from .budgets import TopShare, rank_order
from .policies import Policy
from .value import bootstrap_policy_values, ipw_contributions, percentile_interval, policy_values

__all__ = ["PolicyEvaluation", "evaluate_policies", "CURVE_SHARES"]

#: Budget shares of the profit curves (0% to 100% in steps of 5%).
CURVE_SHARES = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))


@dataclass
class PolicyEvaluation:
    """Result of :func:`evaluate_policies`.

    Attributes
    ----------
    values : DataFrame
        One row per policy × budget share × outcome: ``value`` (per customer of the base, vs treating nobody),
        ``ci_low``, ``ci_high``, ``value_per_1000``, ``total`` (value × customers), and ``true_value`` when the
        truth is known.
    kpis : DataFrame
        One row per policy × budget: ``targeted`` customers, ``response_rate`` (conversion among targeted
        customers who got the offer), ``redemptions`` and ``discount_spent`` per targeted-and-treated customer
        scaled to the targeted count (what the campaign would see), ``mean_clv_targeted`` when ``clv`` is known.
    point : ndarray
        The estimates (policies × budgets × outcomes) the rows of ``values`` show.
    replicates : ndarray
        Bootstrap replicates (resamples × policies × budgets × outcomes), paired across everything.
    policies, shares, outcomes : the axes of ``replicates``.
    n_customers : int
    selections : dict policy -> boolean matrix (customers × budgets)
    """

    values: pd.DataFrame
    kpis: pd.DataFrame
    point: np.ndarray
    replicates: np.ndarray
    policies: list[str]
    shares: list[float]
    outcomes: list[str]
    n_customers: int
    selections: dict

    def difference(self, policy: str, baseline: str, share: float, outcome: str, level: float = 0.95) -> dict:
        """V(policy) − V(baseline) at a budget share with its paired bootstrap interval (per customer)."""
        p, q = self.policies.index(policy), self.policies.index(baseline)
        s, o = self.shares.index(share), self.outcomes.index(outcome)
        point = self.point[p, s, o] - self.point[q, s, o]
        reps = self.replicates[:, p, s, o] - self.replicates[:, q, s, o]
        low, high = percentile_interval(reps, level)
        return {"policy": policy, "baseline": baseline, "share": share, "outcome": outcome,
                "difference": float(point), "ci_low": float(low), "ci_high": float(high),
                "se": float(np.std(reps, ddof=1))}


def evaluate_policies(
    frame: pd.DataFrame,
    policies: Sequence[Policy],
    outcomes: Mapping[str, str],
    shares: Sequence[float] = CURVE_SHARES,
    treatment: str = "treatment",
    propensity: str = "propensity",
    truth: Mapping[str, str] | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PolicyEvaluation:
    """Value of every policy at every budget share on held-out randomized customers.

    Parameters
    ----------
    frame : DataFrame
        One row per held-out customer with the policies' score columns, the outcome columns, ``treatment``
        (0/1) and ``propensity``; optionally ``converted``, ``discount``, ``clv`` for the KPIs and the true
        uplift columns named in ``truth``.
    policies : policies to compare (each scores ``frame``; scores must come from models not fitted on these
        customers).
    outcomes : ``{name: column}``, e.g. ``{"conversion": "converted", "net_margin": "net_margin"}``; profit
        outcomes are margin net of the offer's cost, which only treated customers incur.
    shares : budget shares (top share of the base by score).
    truth : ``{outcome name: true uplift column}`` when the truth is known (simulator): adds ``true_value``.
    n_resamples, level, seed : the paired bootstrap.

    Returns
    -------
    PolicyEvaluation
    """
    n = len(frame)
    if n == 0:
        raise DataValidationError("no customers to evaluate on")
    shares = [float(s) for s in shares]
    for s in shares:
        TopShare(s)  # validates the range
    missing = [c for c in [treatment, propensity, *outcomes.values()] if c not in frame.columns]
    if missing:
        raise DataValidationError(f"evaluation frame lacks column(s) {missing}; it has {list(frame.columns)}")
    t = frame[treatment].to_numpy()
    if set(np.unique(t)) - {0, 1}:
        raise DataValidationError(f"column {treatment!r} must be 0/1 for policy evaluation; got {np.unique(t)[:5]}")
    if t.sum() == 0 or t.sum() == n:
        raise DataValidationError("policy evaluation needs treated and control customers in the holdout")
    outcome_names = list(outcomes)
    z = ipw_contributions(t, frame[list(outcomes.values())].to_numpy(dtype=float), frame[propensity].to_numpy())

    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise DataValidationError(f"policy names must be unique, got {names}")
    # One ranking per policy serves every share: the top k of a ranking are its first k positions.
    k = np.array([int(round(s * n)) for s in shares])
    selections = {}
    for policy in policies:
        position = np.empty(n, dtype=np.int64)
        position[rank_order(policy.score(frame))] = np.arange(n)
        selections[policy.name] = position[:, None] < k[None, :]
    selection = np.concatenate(list(selections.values()), axis=1)  # customers × (policies·shares)
    point = policy_values(selection, z).reshape(len(policies), len(shares), len(outcome_names))
    replicates = bootstrap_policy_values(selection, z, n_resamples=n_resamples, seed=seed).reshape(
        n_resamples, len(policies), len(shares), len(outcome_names)
    )
    low, high = percentile_interval(replicates, level)

    if truth:
        true_z = {name: frame[column].to_numpy(dtype=float) for name, column in truth.items()}

    rows = []
    for i, policy in enumerate(names):
        for j, share in enumerate(shares):
            for k, outcome in enumerate(outcome_names):
                row = {"policy": policy, "share": share, "outcome": outcome, "value": point[i, j, k],
                       "ci_low": low[i, j, k], "ci_high": high[i, j, k]}
                if truth and outcome in truth:
                    row["true_value"] = float(true_z[outcome][selections[policy][:, j]].sum() / n)
                rows.append(row)
    values = pd.DataFrame(rows)
    for column in ("value", "ci_low", "ci_high", "true_value"):
        if column in values:
            values[column + "_per_1000"] = values[column] * 1000
    values["total"] = values["value"] * n

    kpis = _kpis(frame, selections, shares, treatment)
    return PolicyEvaluation(values, kpis, point, replicates, names, shares, outcome_names, n, selections)


def _kpis(frame: pd.DataFrame, selections: dict, shares: list[float], treatment: str) -> pd.DataFrame:
    """What the campaign dashboard would show: response rate and costs among targeted customers who got it."""
    treated = frame[treatment].to_numpy() == 1
    converted = frame["converted"].to_numpy(dtype=float) if "converted" in frame else None
    discount = frame["discount"].to_numpy(dtype=float) if "discount" in frame else None
    clv = frame["clv"].to_numpy(dtype=float) if "clv" in frame else None
    rows = []
    for policy, matrix in selections.items():
        for j, share in enumerate(shares):
            chosen = matrix[:, j]
            reached = chosen & treated
            row = {"policy": policy, "share": share, "targeted": int(chosen.sum())}
            if converted is not None:
                row["response_rate"] = float(converted[reached].mean()) if reached.any() else np.nan
                row["redemptions"] = row["response_rate"] * row["targeted"] if reached.any() else 0.0
            if discount is not None:
                row["discount_spent"] = float(discount[reached].mean() * row["targeted"]) if reached.any() else 0.0
            if clv is not None:
                row["mean_clv_targeted"] = float(clv[chosen].mean()) if chosen.any() else np.nan
            rows.append(row)
    return pd.DataFrame(rows)
