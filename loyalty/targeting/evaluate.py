"""Evaluate targeting policies on a randomized holdout: value (doubly robust or IPW), campaign KPIs and paired
bootstrap intervals, over one or more cross-fitting splits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from .budgets import PROFIT_POSITIVE, ProfitPositive, TopShare, rank_order, select
from .policies import Policy
from .arms import arm_column, arm_contributions, arm_scores, best_arms
from .value import bootstrap_policy_values, dr_contributions, ipw_contributions, median_over_splits, policy_values

__all__ = ["PolicyEvaluation", "evaluate_policies", "evaluate_arm_policies", "CURVE_SHARES", "PROFIT_POSITIVE"]

#: Budget shares of the profit curves (0% to 100% in steps of 5%).
CURVE_SHARES = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))


@dataclass
class PolicyEvaluation:
    """Result of :func:`evaluate_policies`.

    Attributes
    ----------
    values : DataFrame
        One row per policy × budget × outcome for the primary estimator (``estimator``: ``"dr"`` when outcome
        models were given, else ``"ipw"``): ``value`` (per customer of the base, vs treating nobody), ``se``,
        ``ci_low``, ``ci_high``, ``value_per_1000``, ``total`` (value × customers), and ``true_value`` when the
        truth is known. ``share`` is the budget: a share of the base, or :data:`PROFIT_POSITIVE` (rows only for
        policies whose score is an incremental profit). With several cross-fitting splits every number is the
        median over splits and the interval includes the split-to-split spread
        (:func:`~loyalty.targeting.value.median_over_splits`); the true value is the mean over splits of the true
        value of each split's selection.
    cross_check : DataFrame or None
        The same table for the inverse-propensity estimator when the primary one is doubly robust.
    kpis : DataFrame
        One row per policy × budget: ``targeted`` customers, ``response_rate`` (conversion among targeted
        customers who got the offer), ``redemptions`` and ``discount_spent`` per targeted-and-treated customer
        scaled to the targeted count (what the campaign would see), ``mean_clv_targeted`` when ``clv`` is known
        (means over splits).
    point : ndarray
        The primary estimates (policies × budgets × outcomes) the rows of ``values`` show.
    replicates : ndarray
        The first split's bootstrap replicates of the primary estimator (resamples × policies × budgets ×
        outcomes), paired across everything.
    split_points, split_replicates : ndarray
        Every split's estimates (splits × estimators × policies × budgets × outcomes) and replicates (splits ×
        resamples × estimators × ...), the inputs of intervals and of the decision.
    estimators : estimator names along that axis, primary first.
    policies, shares, outcomes : the axes (``shares`` may end with :data:`PROFIT_POSITIVE`).
    n_customers : int
    selections : dict policy -> boolean matrix (customers × budgets) of the first split.
    arm_shares, arm_choices : multi-arm campaigns only (:func:`evaluate_arm_policies`).
    """

    values: pd.DataFrame
    kpis: pd.DataFrame
    point: np.ndarray
    replicates: np.ndarray
    policies: list[str]
    shares: list
    outcomes: list[str]
    n_customers: int
    selections: dict
    split_points: np.ndarray | None = None
    split_replicates: np.ndarray | None = None
    estimators: tuple = ("ipw",)
    cross_check: pd.DataFrame | None = None
    level: float = 0.95
    #: multi-arm campaigns only: one row per policy × budget × arm, ``arm_share`` (the share of the policy's targets
    #: given that arm, mean over splits)
    arm_shares: pd.DataFrame | None = None
    #: multi-arm campaigns only: the arm (1..K) each policy gives each customer, first split
    arm_choices: dict | None = None

    @property
    def estimator(self) -> str:
        """The primary estimator: ``"dr"`` or ``"ipw"``."""
        return self.estimators[0]

    @property
    def splits(self) -> int:
        return self.split_points.shape[0]

    def difference(self, policy: str, baseline: str, share, outcome: str, level: float | None = None,
                   estimator: str | None = None) -> dict:
        """V(policy) − V(baseline) at a budget with its paired interval (per customer), aggregated over splits."""
        level = self.level if level is None else level
        estimator = estimator or self.estimator
        e = self.estimators.index(estimator)
        p, q = self.policies.index(policy), self.policies.index(baseline)
        s, o = self.shares.index(share), self.outcomes.index(outcome)
        points = self.split_points[:, e, p, s, o] - self.split_points[:, e, q, s, o]
        reps = self.split_replicates[:, :, e, p, s, o] - self.split_replicates[:, :, e, q, s, o]
        agg = median_over_splits(points, reps, level)
        return {"policy": policy, "baseline": baseline, "share": share, "outcome": outcome, "estimator": estimator,
                "difference": float(agg["estimate"]), "ci_low": float(agg["ci_low"]),
                "ci_high": float(agg["ci_high"]), "se": float(agg["se"])}

    def cells(self, outcome: str, estimator: str | None = None, exclude=("oracle",)):
        """Every (policy, budget) that is an action, with its per-split estimates and replicates for ``outcome``.

        Returns ``(labels, points (splits × cells), replicates (splits × resamples × cells))``; budgets that treat
        nobody (share 0) are "send nothing" and left out, as are policies in ``exclude`` (not actionable) and
        profit-positive cells of policies whose score is not a profit.
        """
        e = self.estimators.index(estimator or self.estimator)
        o = self.outcomes.index(outcome)
        available = set(zip(self.values["policy"], self.values["share"]))
        labels, index = [], []
        for p, policy in enumerate(self.policies):
            for s, share in enumerate(self.shares):
                if policy in exclude or share == 0.0 or (policy, share) not in available:
                    continue
                labels.append((policy, share))
                index.append((p, s))
        rows = tuple(np.array(i) for i in zip(*index)) if index else (np.array([], int), np.array([], int))
        points = self.split_points[:, e][:, rows[0], rows[1], o]
        reps = self.split_replicates[:, :, e][:, :, rows[0], rows[1], o]
        return labels, points, reps


def evaluate_policies(
    frame: pd.DataFrame | Sequence[pd.DataFrame],
    policies: Sequence[Policy],
    outcomes: Mapping[str, str],
    shares: Sequence[float] = CURVE_SHARES,
    treatment: str = "treatment",
    propensity: str = "propensity",
    truth: Mapping[str, str] | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    arm_means: Sequence[tuple] | None = None,
    profit_positive: bool = False,
) -> PolicyEvaluation:
    """Value of every policy at every budget on held-out randomized customers, over one or more cross-fitting splits.

    Parameters
    ----------
    frame : DataFrame, or a list of them (one per cross-fitting split)
        One row per held-out customer with the policies' score columns, the outcome columns, ``treatment``
        (0/1) and ``propensity``; optionally ``converted``, ``discount``, ``clv`` for the KPIs and the true
        uplift columns named in ``truth``. Several frames hold the same customers in the same order and
        differ in the scores, which came from models fitted on that split's folds.
    policies : policies to compare (each scores ``frame``; scores must come from models not fitted on these
        customers).
    outcomes : ``{name: column}``, e.g. ``{"conversion": "converted", "net_margin": "net_margin"}``; profit
        outcomes are margin net of the offer's cost, which only treated customers incur.
    shares : budget shares (top share of the base by score).
    truth : ``{outcome name: true uplift column}`` when the truth is known (simulator): adds ``true_value``.
    n_resamples, level, seed : the paired bootstrap (the same customer weights in every split).
    arm_means : list (one per split) of ``(mu_control, mu_treated)`` arrays (customers × outcomes, in the order
        of ``outcomes``) from cross-fitted outcome models (:func:`~loyalty.targeting.arms.cross_fit_outcome_means`
        with two arms): the values are then doubly robust, with the inverse-propensity values kept as
        ``cross_check``.
    profit_positive : add the budget :data:`PROFIT_POSITIVE` for policies whose ``net_value`` is true (the score
        is a predicted incremental profit net of the offer's cost): treat every customer whose score is above 0.

    Returns
    -------
    PolicyEvaluation

    Raises
    ------
    DataValidationError
        No split or no customer, splits' frames of different lengths, a column missing (treatment, propensity,
        an outcome), not one set of outcome models per split, policy names repeated, a treatment that is not 0/1
        or a holdout without both treated and control customers.
    SpecError
        A budget share outside [0, 1].
    """
    axes = _checked_axes(frame, policies, outcomes, shares, [treatment, propensity], arm_means, profit_positive,
                         n_resamples)
    first, n = axes.frames[0], axes.n
    t = first[treatment].to_numpy()
    if set(np.unique(t)) - {0, 1}:
        raise DataValidationError(f"column {treatment!r} must be 0/1 for policy evaluation; got {np.unique(t)[:5]}")
    if t.sum() == 0 or t.sum() == n:
        raise DataValidationError("policy evaluation needs treated and control customers in the holdout")
    e = first[propensity].to_numpy()
    z_ipw = ipw_contributions(t, axes.y, e)
    _, n_est, n_pol, n_bud, m = axes.split_points.shape
    kpis = []
    for split, customers in enumerate(axes.frames):
        if arm_means is None:
            z = z_ipw
        else:
            z = np.concatenate([dr_contributions(t, axes.y, e, *arm_means[split]), z_ipw], axis=1)
        selections = {policy.name: axes.chosen(policy, policy.score(customers)) for policy in policies}
        selection = np.concatenate(list(selections.values()), axis=1)  # customers × (policies·budgets)
        # estimators are extra outcome columns: one bootstrap serves both, paired
        axes.split_points[split] = policy_values(selection, z).reshape(n_pol, n_bud, n_est, m).transpose(2, 0, 1, 3)
        axes.split_replicates[split] = bootstrap_policy_values(
            selection, z, n_resamples=n_resamples, seed=seed).reshape(n_resamples, n_pol, n_bud, n_est, m
                                                                      ).transpose(0, 3, 1, 2, 4)
        if truth:
            for j, outcome in enumerate(axes.outcome_names):
                if outcome in truth:
                    true_z = customers[truth[outcome]].to_numpy(dtype=float)
                    axes.true_values[:, :, j] += (selection.T @ true_z / n).reshape(n_pol, n_bud) / len(axes.frames)
        kpis.append(_kpis(customers, selections, axes.budgets, treatment))
        if split == 0:
            first_selections, first_replicates = selections, axes.split_replicates[0, :, 0].copy()

    return _evaluation(axes, set(truth or ()), kpis, first_selections, first_replicates, level)


@dataclass
class _Axes:
    """An evaluation's checked inputs (:func:`_checked_axes`) and its result arrays, filled split by split."""

    frames: list
    n: int
    budgets: list
    #: customers targeted at each share (the budgets before :data:`PROFIT_POSITIVE`)
    k: np.ndarray
    profit_positive: bool
    names: list
    outcome_names: list
    estimators: tuple
    #: outcomes (customers × outcomes), in the order of ``outcome_names``
    y: np.ndarray
    #: policy -> which budgets apply to it (profit-positive only to a policy whose score is a profit)
    has_budget: dict
    split_points: np.ndarray
    split_replicates: np.ndarray
    true_values: np.ndarray

    def chosen(self, policy: Policy, score: pd.Series) -> np.ndarray:
        """The customers ``policy`` targets at each budget by ``score``: boolean (customers × budgets)."""
        # One ranking serves every share: the top k of a ranking are its first k positions.
        position = np.empty(self.n, dtype=np.int64)
        position[rank_order(score)] = np.arange(self.n)
        chosen = position[:, None] < self.k[None, :]
        if self.profit_positive:
            net_value = getattr(policy, "net_value", False)
            self.has_budget[policy.name][-1] = net_value
            positive = select(score, ProfitPositive(), money=True) if net_value else np.zeros(self.n, dtype=bool)
            chosen = np.concatenate([chosen, positive[:, None]], axis=1)
        return chosen


def _checked_axes(frame, policies, outcomes, shares, columns, models, profit_positive, n_resamples) -> _Axes:
    """What both evaluations check and set up: one frame per split (a frame alone is one split), all of one
    length and holding ``columns`` and the outcome columns; one set of outcome ``models`` per split (None: the
    inverse-propensity estimator only); valid shares; unique policy names. Raises :class:`DataValidationError`
    naming the problem."""
    frames = [frame] if isinstance(frame, pd.DataFrame) else list(frame)
    if not frames:
        raise DataValidationError("no cross-fitting split to evaluate")
    first = frames[0]
    n = len(first)
    if n == 0:
        raise DataValidationError("no customers to evaluate on")
    if any(len(f) != n for f in frames):
        raise DataValidationError(f"the splits' frames have different lengths: {[len(f) for f in frames]}")
    if models is not None and len(models) != len(frames):
        raise DataValidationError(f"{len(models)} sets of outcome models for {len(frames)} splits")
    shares = [float(s) for s in shares]
    for s in shares:
        TopShare(s)  # validates the range
    budgets = [*shares, PROFIT_POSITIVE] if profit_positive else shares
    missing = [c for c in [*columns, *outcomes.values()] if c not in first.columns]
    if missing:
        raise DataValidationError(f"evaluation frame lacks column(s) {missing}; it has {list(first.columns)}")
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise DataValidationError(f"policy names must be unique, got {names}")
    estimators = ("ipw",) if models is None else ("dr", "ipw")
    cells = (len(estimators), len(policies), len(budgets), len(outcomes))
    return _Axes(
        frames, n, budgets, np.array([int(round(s * n)) for s in shares]), profit_positive, names, list(outcomes),
        estimators, first[list(outcomes.values())].to_numpy(dtype=float),
        {name: np.ones(len(budgets), dtype=bool) for name in names},
        np.empty((len(frames), *cells)), np.empty((len(frames), n_resamples, *cells)), np.zeros(cells[1:]))


def _evaluation(axes: _Axes, truth: set, kpis: list, first_selections: dict, first_replicates: np.ndarray,
                level: float, arm_shares: pd.DataFrame | None = None) -> PolicyEvaluation:
    """The tables of a :class:`PolicyEvaluation` from every split's estimates and replicates in ``axes``
    (``truth``: the outcomes whose true values are known)."""
    names, budgets, outcome_names, has_budget = axes.names, axes.budgets, axes.outcome_names, axes.has_budget
    tables = []
    for i, estimator in enumerate(axes.estimators):
        agg = median_over_splits(axes.split_points[:, i], axes.split_replicates[:, :, i], level)
        rows = []
        for p, policy in enumerate(names):
            for j, share in enumerate(budgets):
                if not has_budget[policy][j]:
                    continue
                for o, outcome in enumerate(outcome_names):
                    row = {"policy": policy, "share": share, "outcome": outcome, "estimator": estimator,
                           "value": agg["estimate"][p, j, o], "se": agg["se"][p, j, o],
                           "ci_low": agg["ci_low"][p, j, o], "ci_high": agg["ci_high"][p, j, o]}
                    if truth and outcome in truth:
                        row["true_value"] = float(axes.true_values[p, j, o])
                    rows.append(row)
        table = pd.DataFrame(rows)
        for column in ("value", "ci_low", "ci_high", "true_value"):
            if column in table:
                table[column + "_per_1000"] = table[column] * 1000
        table["total"] = table["value"] * axes.n
        tables.append(table)
        if i == 0:
            point = agg["estimate"]

    kpi_table = pd.concat(kpis).groupby(["policy", "share"], sort=False).mean().reset_index()
    kpi_table["targeted"] = kpi_table["targeted"].round().astype(int)
    keep = [has_budget[row.policy][budgets.index(row.share)] for row in kpi_table.itertuples()]
    return PolicyEvaluation(
        tables[0], kpi_table[keep].reset_index(drop=True), point, first_replicates, names, budgets, outcome_names,
        axes.n, first_selections, split_points=axes.split_points, split_replicates=axes.split_replicates,
        estimators=axes.estimators,
        cross_check=tables[1] if len(tables) > 1 else None, level=level, arm_shares=arm_shares,
    )


def _kpis(frame: pd.DataFrame, selections: dict, shares: list[float], treatment: str,
          received: dict | None = None) -> pd.DataFrame:
    """What the campaign dashboard would show: response rate and costs among targeted customers who got it
    (``received``: per policy, whether each customer got the arm the policy gives them; default: treated)."""
    treated = frame[treatment].to_numpy() == 1
    converted = frame["converted"].to_numpy(dtype=float) if "converted" in frame else None
    discount = frame["discount"].to_numpy(dtype=float) if "discount" in frame else None
    clv = frame["clv"].to_numpy(dtype=float) if "clv" in frame else None
    rows = []
    for policy, matrix in selections.items():
        for j, share in enumerate(shares):
            chosen = matrix[:, j]
            reached = chosen & (treated if received is None else received[policy])
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


def evaluate_arm_policies(
    frames: Sequence[pd.DataFrame],
    policies: Sequence[Policy],
    outcomes: Mapping[str, str],
    arm_propensity: np.ndarray,
    arm_labels: Sequence[str],
    shares: Sequence[float] = CURVE_SHARES,
    treatment: str = "treatment",
    truth: Mapping[str, str] | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    outcome_means: Sequence[np.ndarray] | None = None,
    profit_positive: bool = False,
) -> PolicyEvaluation:
    """:func:`evaluate_policies` for a campaign with several offer arms: each policy gives each customer the arm it
    scores best (:func:`~loyalty.targeting.arms.best_arms`), ranks customers by that best score, and the resulting
    per-customer assignment is valued against sending nothing (:func:`~loyalty.targeting.arms.arm_contributions`).

    Parameters
    ----------
    frames : one customer frame per cross-fitting split, with ``treatment`` the arm received (0 control, 1..K)
        and every arm's score columns named by :func:`~loyalty.targeting.arms.arm_column`.
    arm_propensity : array (customers × (K + 1)), P(arm | customer), control first.
    arm_labels : the K offer arms' names (for ``arm_shares``).
    truth : ``{outcome name: true uplift column}``; arm k's truth is ``arm_column(column, k)``.
    outcome_means : per split, the cross-fitted outcome means (K + 1, customers, outcomes)
        (:func:`~loyalty.targeting.arms.cross_fit_outcome_means`): values are then doubly robust, with the
        inverse-propensity values as the cross-check.
    Other parameters as :func:`evaluate_policies`; the bootstrap weights are the same for every policy (paired).

    Returns
    -------
    PolicyEvaluation with ``arm_shares`` and ``arm_choices``; budgets count customers contacted, whatever arm.

    Raises
    ------
    DataValidationError, SpecError
        As :func:`evaluate_policies` (the same checks and messages), and ``arm_propensity`` not shaped customers ×
        (K + 1) or arm codes outside 0..K.
    """
    axes = _checked_axes(frames, policies, outcomes, shares, [treatment], outcome_means, profit_positive,
                         n_resamples)
    n, n_arms = axes.n, len(arm_labels)
    if np.shape(arm_propensity) != (n, n_arms + 1):
        raise DataValidationError(f"arm_propensity has shape {np.shape(arm_propensity)}; expected {(n, n_arms + 1)}: "
                                  f"{n:,} customers × control and {n_arms} offer arm(s)")
    arm = axes.frames[0][treatment].to_numpy()
    z_ipw = arm_contributions(arm, axes.y, arm_propensity)
    _, n_est, n_pol, n_bud, m = axes.split_points.shape
    rows = np.arange(n)
    kpis, arm_share_rows = [], []
    for split, customers in enumerate(axes.frames):
        z = z_ipw if outcome_means is None else np.concatenate(
            [arm_contributions(arm, axes.y, arm_propensity, outcome_means[split]), z_ipw], axis=2)
        selections, choices = {}, {}
        for p, policy in enumerate(policies):
            choice, best = best_arms(arm_scores(policy, customers, n_arms))
            chosen = axes.chosen(policy, pd.Series(best, index=customers.index, name=policy.name))
            selections[policy.name], choices[policy.name] = chosen, choice
            z_policy = z[choice - 1, rows]  # each customer's contribution under the arm this policy gives them
            axes.split_points[split, :, p] = policy_values(chosen, z_policy).reshape(n_bud, n_est, m).transpose(1, 0, 2)
            # the same seed gives every policy the same customer weights: the replicates are paired
            axes.split_replicates[split, :, :, p] = bootstrap_policy_values(
                chosen, z_policy, n_resamples=n_resamples, seed=seed).reshape(n_resamples, n_bud, n_est, m
                                                                             ).transpose(0, 2, 1, 3)
            if truth:
                for j, outcome in enumerate(axes.outcome_names):
                    if outcome in truth:
                        true_z = np.column_stack([customers[arm_column(truth[outcome], a + 1)].to_numpy(dtype=float)
                                                  for a in range(n_arms)])[rows, choice - 1]
                        axes.true_values[p, :, j] += chosen.T @ true_z / n / len(axes.frames)
            for j, budget in enumerate(axes.budgets):
                targeted = chosen[:, j]
                counts = np.bincount(choice[targeted] - 1, minlength=n_arms)
                for a, label in enumerate(arm_labels):
                    arm_share_rows.append({"policy": policy.name, "share": budget, "arm": label,
                                           "arm_share": counts[a] / targeted.sum() if targeted.any() else np.nan})
        received = {name: arm == choice for name, choice in choices.items()}
        kpis.append(_kpis(customers, selections, axes.budgets, treatment, received))
        if split == 0:
            first_selections, first_choices = selections, choices
            first_replicates = axes.split_replicates[0, :, 0].copy()
    arm_shares = pd.DataFrame(arm_share_rows).groupby(["policy", "share", "arm"], sort=False).mean().reset_index()
    keep = [axes.has_budget[row.policy][axes.budgets.index(row.share)] for row in arm_shares.itertuples()]
    result = _evaluation(axes, set(truth or ()), kpis, first_selections, first_replicates, level,
                         arm_shares=arm_shares[keep].reset_index(drop=True))
    result.arm_choices = first_choices
    return result
