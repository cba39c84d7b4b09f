"""The decision: the best action among every evaluated (policy, budget) and "send nothing", honest about selection.

Picking the largest of dozens of noisy estimates overstates it (the winner's curse): the best-looking cell is
partly the luckiest. The decision therefore uses *simultaneous* intervals over all the actions compared: a
max-t multiplier bootstrap finds the critical value c such that, with probability ``level``, every cell's
estimate lies within c standard errors of its true value at once (Chernozhukov, Chetverikov & Kato 2013; Romano &
Wolf 2005). An interval that holds for every cell at once holds for whichever cell is picked, so the winner's
interval is valid however it was chosen: the projection interval of Andrews, Kitagawa & McCloskey (2019),
conservative but simple and exact in what it promises.

Rule: an action is recommended only when its simultaneous interval lies above 0; among those the one with the
largest estimate wins. Otherwise the decision is "send nothing" (value 0, known exactly) and the best-looking
cell is shown as not proven. A recommended action therefore never has a negative (or zero) estimated value.

``p_beats_nothing`` is 1 − the selection-adjusted p-value of "this action earns nothing or less": the share of
bootstrap max-t statistics below the action's own t = estimate / se (0 when the estimate is not above 0). An
action is recommended exactly when it exceeds ``level``.

With several cross-fitting splits, each cell's estimate and standard error are the median aggregates of
:func:`~loyalty.targeting.value.median_over_splits`, and the critical value and p-values are the medians over
splits of each split's bootstrap.

References
----------
Andrews, I., Kitagawa, T. & McCloskey, A. (2019). Inference on winners. NBER Working Paper 25456.
Chernozhukov, V., Chetverikov, D. & Kato, K. (2013). Gaussian approximations and multiplier bootstrap for maxima
of sums of high-dimensional random vectors. Annals of Statistics 41(6), 2786-2819.
Romano, J. P. & Wolf, M. (2005). Stepwise multiple testing as formalized data snooping. Econometrica 73(4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from .budgets import PROFIT_POSITIVE
from .value import median_over_splits

__all__ = ["Decision", "decide", "NOTHING"]

#: The action "send the offer to nobody": value 0 by definition.
NOTHING = "none"


@dataclass
class Decision:
    """Result of :func:`decide` (values per customer of the base; :meth:`as_dict` gives them per 1,000).

    Attributes
    ----------
    policy, budget : the recommended action (``policy == "none"``, ``budget == 0`` for send nothing).
    value, ci_low, ci_high : its estimated value and simultaneous interval (0, 0, 0 for send nothing).
    p_beats_nothing : of the recommended action, or of the best candidate when nothing is recommended.
    candidate : dict (policy, budget, value, ci_low, ci_high, p_beats_nothing) of the best-looking action.
    per_policy : DataFrame, per policy its value-maximising budget with value, simultaneous interval, p_beats_nothing.
    cells : DataFrame of every action compared, with the same columns.
    critical_value : the simultaneous critical value (in standard errors).
    text : the sentence the report opens with.
    all_lose_at_headline_budget : set by the experiment when every actionable policy's estimate at the headline
        budget is below 0 (the report then says so first).
    """

    policy: str
    budget: object
    value: float
    ci_low: float
    ci_high: float
    p_beats_nothing: float
    candidate: dict
    per_policy: pd.DataFrame
    cells: pd.DataFrame
    critical_value: float
    level: float
    text: str
    all_lose_at_headline_budget: bool = False

    @property
    def send_nothing(self) -> bool:
        return self.policy == NOTHING

    def as_dict(self) -> dict:
        """The ``decision`` block of results.json (values per 1,000 customers)."""
        def per_1000(row):
            return {"policy": row["policy"], "budget": row["budget"], "value_per_1000": row["value"] * 1000,
                    "ci_per_1000": [row["ci_low"] * 1000, row["ci_high"] * 1000],
                    "p_beats_nothing": row["p_beats_nothing"]}

        return {
            "policy": self.policy, "budget": self.budget, "value_per_1000": self.value * 1000,
            "ci_per_1000": [self.ci_low * 1000, self.ci_high * 1000], "p_beats_nothing": self.p_beats_nothing,
            "text": self.text, "method": "max-t simultaneous intervals over every action compared",
            "actions_compared": len(self.cells), "critical_value": self.critical_value, "level": self.level,
            "all_lose_at_headline_budget": self.all_lose_at_headline_budget,
            "candidate": per_1000(self.candidate) | {"proven": bool(self.candidate["ci_low"] > 0)},
            "per_policy": [per_1000(row) | {"proven": bool(row["ci_low"] > 0)}
                           for row in self.per_policy.to_dict("records")],
        }


def decide(labels: Sequence[tuple], points, replicates, level: float = 0.95, label: str = "profit") -> Decision:
    """The best action among ``labels`` and "send nothing", with selection-honest intervals (module docstring).

    Parameters
    ----------
    labels : (policy, budget) per cell.
    points : array (splits × cells) or (cells,) of value estimates per customer of the base.
    replicates : array (splits × resamples × cells) or (resamples × cells) of paired bootstrap replicates.
    level : simultaneous confidence level.
    label : what the value measures, for the text (e.g. "long-horizon net margin").

    Returns
    -------
    Decision
    """
    points = np.asarray(points, dtype=float)
    replicates = np.asarray(replicates, dtype=float)
    if points.ndim == 1:
        points, replicates = points[None], replicates[None]
    if points.shape[1] != len(labels) or replicates.shape[::2] != points.shape:
        raise DataValidationError(f"{len(labels)} actions, estimates {points.shape}, replicates {replicates.shape}")
    if not 0 < level < 1:
        raise DataValidationError(f"level must be within (0, 1), got {level}")
    agg = median_over_splits(points, replicates, level)
    estimate, se = agg["estimate"], agg["se"]
    sigma = replicates.std(axis=1, ddof=1)
    varies = (sigma > 0).all(axis=0) & (se > 0)
    if not varies.any():
        raise DataValidationError("no action has a value that varies over the bootstrap: nothing to decide on")
    # per split: the bootstrap distribution of the largest standardized deviation over every action at once
    deviation = np.abs(replicates[:, :, varies] - points[:, None, varies]) / sigma[:, None, varies]
    max_t = deviation.max(axis=2)  # splits × resamples
    critical = float(np.median(np.quantile(max_t, level, axis=1)))
    t_obs = np.where(se > 0, estimate / np.where(se > 0, se, 1.0), 0.0)
    exceed = (max_t[:, :, None] >= np.maximum(t_obs, 0)[None, None, :]).mean(axis=1)  # splits × cells
    p_beats = np.where(t_obs > 0, 1.0 - np.median(exceed, axis=0), 0.0)
    low = np.where(varies, estimate - critical * se, estimate)
    high = np.where(varies, estimate + critical * se, estimate)
    cells = pd.DataFrame({"policy": [p for p, _ in labels], "budget": [b for _, b in labels], "value": estimate,
                          "se": se, "ci_low": low, "ci_high": high, "p_beats_nothing": p_beats})
    candidate = cells.loc[cells["value"].idxmax()].to_dict()
    proven = cells[(cells["ci_low"] > 0) & varies]
    per_policy = cells.loc[cells.groupby("policy", sort=False)["value"].idxmax()].reset_index(drop=True)
    if len(proven):
        best = proven.loc[proven["value"].idxmax()]
        text = (f"Send the offer to {_budget_text(best['budget'])} by {best['policy']}: it earns "
                f"{best['value'] * 1000:,.1f} {label} per 1,000 customers more than sending nothing ({level:.0%} CI "
                f"[{best['ci_low'] * 1000:,.1f}, {best['ci_high'] * 1000:,.1f}], simultaneous over the "
                f"{len(cells)} actions compared, so choosing the best does not overstate it).")
        return Decision(best["policy"], best["budget"], float(best["value"]), float(best["ci_low"]),
                        float(best["ci_high"]), float(best["p_beats_nothing"]), candidate, per_policy, cells,
                        critical, level, text)
    if (cells["value"] < 0).all():
        opening = f"Every policy loses {label} at every budget compared: send nothing."
    else:
        opening = f"Send nothing: none of the {len(cells)} actions compared is shown to earn more than sending nothing."
    text = (f"{opening} The best-looking action, {candidate['policy']} at {_budget_text(candidate['budget'])}, is "
            f"estimated at {candidate['value'] * 1000:,.1f} per 1,000 customers ({level:.0%} CI "
            f"[{candidate['ci_low'] * 1000:,.1f}, {candidate['ci_high'] * 1000:,.1f}], simultaneous over every action "
            "compared): not proven.")
    return Decision(NOTHING, 0.0, 0.0, 0.0, 0.0, float(candidate["p_beats_nothing"]), candidate, per_policy, cells,
                    critical, level, text)


def _budget_text(budget) -> str:
    if budget == PROFIT_POSITIVE:
        return "every customer whose predicted incremental profit is above 0"
    return f"the top {budget:.0%} of customers"
