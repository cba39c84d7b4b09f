"""Exact expected outcomes under each arm, and the true value of any targeting set.

For a customer alive at ``t0`` who, in the response window of ``w`` days, buys on each day with probability
λ₁ and drops out after each purchase with probability p₁, and after the window (up to the horizon of ``H``
days) has (λ₂, p₂), the probability of being alive at the start of day ``d`` of the window is q₁ᵈ with
q₁ = 1 − λ₁p₁. Hence, with ρ = exp(−δ) the daily discount factor (δ = ln(1 + annual rate) / 365.25):

* P(at least one purchase in the window) = 1 − (1 − λ₁)ʷ (dropout happens only after a purchase);
* E[purchases in the window] = Σ_{d<w} λ₁q₁ᵈ = (1 − q₁ʷ) / p₁;
* E[discounted purchases over the horizon] = Σ_{d<w} λ₁(q₁ρ)ᵈ + (q₁ρ)ʷ Σ_{k<H−w} λ₂(q₂ρ)ᵏ;
* E[discounted first-purchase indicator in the window] = Σ_{d<w} λ₁((1 − λ₁)ρ)ᵈ (for the coupon).

These are the day-grid analogues of the BG/NBD results (Fader, Hardie & Lee 2005, eq. 9 for expected
purchases) for the process that :mod:`loyalty.simulate.history` generates, so they are exact, not approximations.
Margin per purchase is E[spend] × margin rate with E[spend] = p/ν (Gamma-Gamma), minus the discount share for
treated purchases in the window; the treated arm also pays the contact cost at ``t0``.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
from scipy.special import gammainc

__all__ = ["ARM_OUTCOMES", "expected_outcomes", "expected_coupon_cost", "uplift_column", "true_policy_value",
           "oracle"]

#: Outcomes the truth gives per arm; ``<name>_uplift`` is treated minus control.
ARM_OUTCOMES = {"response": "p_buy", "margin": "window_margin", "lifecycle": "long_margin"}


def _geometric_sum(one_minus_ratio: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Σ_{d<n} xᵈ with x = 1 − ``one_minus_ratio``, stable when x is close to 1."""
    y = np.asarray(one_minus_ratio, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = -np.expm1(n * np.log1p(-y)) / y
    return np.where(y > 0, s, n)


def expected_coupon_cost(coupon_value: float, discount_rate: float, p: float, nu: np.ndarray) -> np.ndarray:
    """E[min(coupon, price after discount)] for a purchase with spend ~ Gamma(shape p, rate ν), currency.

    With Y = spend × (1 − discount) ~ Gamma(p, ν / (1 − discount)):
    E[min(c, Y)] = c · (1 − P(p, cν')) + (p / ν') · P(p + 1, cν'), P the regularised lower incomplete gamma.
    """
    if coupon_value <= 0:
        return np.zeros_like(nu, dtype=float)
    rate = nu / (1.0 - discount_rate)
    x = coupon_value * rate
    return coupon_value * (1.0 - gammainc(p, x)) + (p / rate) * gammainc(p + 1.0, x)


def expected_outcomes(
    *,
    keep: np.ndarray,
    lam_window: np.ndarray,
    p_window: np.ndarray,
    lam_after: np.ndarray,
    p_after: np.ndarray,
    margin_window: np.ndarray,
    margin_after: np.ndarray,
    coupon_cost: np.ndarray,
    fixed_cost: np.ndarray | float,
    window_days: int,
    horizon_days: int,
    daily_discount: float,
) -> dict[str, np.ndarray]:
    """Expected outcomes of one arm per customer, given the state at ``t0``.

    Parameters
    ----------
    keep : probability of being alive at the start of the window (0 for the dead; 1 − contact churn).
    lam_window, p_window : daily purchase probability and dropout probability in the window.
    lam_after, p_after : the same after the window, up to the horizon.
    margin_window, margin_after : expected margin per purchase (currency) in and after the window.
    coupon_cost : expected coupon cost of the first purchase in the window (currency).
    fixed_cost : cost paid at ``t0`` whatever happens (contact cost; currency).
    window_days, horizon_days : response window and horizon, days after ``t0``.
    daily_discount : δ, continuous discount rate per day.

    Returns
    -------
    dict with ``p_buy`` (P(any purchase in the window)), ``window_margin`` (window margin net of offer cost,
    undiscounted) and ``long_margin`` (margin net of offer cost over the horizon, discounted to ``t0``).
    """
    with np.errstate(divide="ignore", over="ignore"):  # λp = 1 gives log(0) = -inf, whose exp is the right 0
        return _expected_outcomes(keep, lam_window, p_window, lam_after, p_after, margin_window, margin_after,
                                  coupon_cost, fixed_cost, int(window_days), int(horizon_days), daily_discount)


def _expected_outcomes(keep, lam_window, p_window, lam_after, p_after, margin_window, margin_after, coupon_cost,
                       fixed_cost, w, h, daily_discount):
    p_buy_if_alive = -np.expm1(w * np.log1p(-np.minimum(lam_window, 1.0)))
    purchases_window = lam_window * _geometric_sum(lam_window * p_window, w)

    log_q1 = np.log1p(-lam_window * p_window)
    one_minus_q1rho = -np.expm1(log_q1 - daily_discount)
    one_minus_q2rho = -np.expm1(np.log1p(-lam_after * p_after) - daily_discount)
    discounted_window = lam_window * _geometric_sum(one_minus_q1rho, w)
    survive_window = np.exp(w * (log_q1 - daily_discount))
    discounted_after = survive_window * lam_after * _geometric_sum(one_minus_q2rho, h - w)
    one_minus_first_rho = -np.expm1(np.log1p(-np.minimum(lam_window, 1.0)) - daily_discount)
    discounted_first = lam_window * _geometric_sum(one_minus_first_rho, w)

    window_margin = keep * (purchases_window * margin_window - p_buy_if_alive * coupon_cost) - fixed_cost
    long_margin = (
        keep * (discounted_window * margin_window + discounted_after * margin_after - discounted_first * coupon_cost)
        - fixed_cost
    )
    return {"p_buy": keep * p_buy_if_alive, "window_margin": window_margin, "long_margin": long_margin}


# ------------------------------------------------------------------------------------------ policy helpers
def _selection_mask(truth: pd.DataFrame, selected) -> np.ndarray:
    if isinstance(selected, (pd.Series, np.ndarray)) and np.asarray(selected).dtype == bool:
        mask = np.asarray(selected, dtype=bool)
        if mask.shape != (len(truth),):
            raise ValueError(f"selection mask has {mask.shape[0]} entries, the truth has {len(truth)} customers")
        return mask
    ids = pd.Index(list(selected) if not isinstance(selected, pd.Index) else selected)
    mask = truth["customer_id"].isin(ids).to_numpy()
    missing = len(ids.unique()) - int(mask.sum())
    if missing:
        raise ValueError(f"{missing} selected customer ids are not in the world (e.g. "
                         f"{ids[~ids.isin(truth['customer_id'])][0]!r})")
    return mask


def uplift_column(config, outcome: str, arm: str | None = None) -> str:
    """Truth column with the true uplift of ``arm`` on ``outcome`` (``response``, ``margin``, ``lifecycle``).

    ``<outcome>_uplift`` for a single-arm campaign (``arm`` None or ``"treated"``); ``<outcome>_uplift_<arm>``
    when the campaign has several arms, where ``arm`` is required.
    """
    if outcome not in ARM_OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(ARM_OUTCOMES)}, got {outcome!r}")
    arms = list(config.campaign.offers())
    if not config.campaign.arms:
        if arm not in (None, "treated"):
            raise ValueError(f"this world has one treated arm ('treated'), got arm={arm!r}")
        return f"{outcome}_uplift"
    if arm not in arms:
        raise ValueError(f"this world has arms {arms}; pass arm= one of them, got {arm!r}")
    return f"{outcome}_uplift_{arm}"


def true_policy_value(world, selected: Iterable | np.ndarray, outcome: str = "lifecycle",
                      arm: str | None = None) -> float:
    """True value of treating ``selected`` (and nobody else) versus treating nobody, per customer of the base.

    Parameters
    ----------
    world : :class:`loyalty.simulate.World`.
    selected : boolean mask aligned with ``world.truth`` rows, or an iterable of customer ids.
    outcome : ``"response"`` (conversions), ``"margin"`` (window margin net of offer cost, currency) or
        ``"lifecycle"`` (discounted horizon margin net of offer cost, currency).
    arm : the offer the selected customers get; required when the campaign has several arms.

    Returns
    -------
    float
        (1/n) Σ_{i ∈ selected} true uplift_i, the DESIGN section 3 policy value; × 1000 for per 1,000 customers.

    Examples
    --------
    >>> from loyalty.simulate import SimulationConfig, simulate, oracle, true_policy_value
    >>> world = simulate(SimulationConfig(n_customers=2000), seed=1)
    >>> true_policy_value(world, oracle(world, 0.2)) >= true_policy_value(world, world.truth.index < 400)
    True
    """
    truth = world.truth
    mask = _selection_mask(truth, selected)
    return float(truth[uplift_column(world.config, outcome, arm)].to_numpy()[mask].sum() / len(truth))


def oracle(world, budget_share: float, outcome: str = "lifecycle", arm: str | None = None) -> pd.Index:
    """The oracle policy: customers with the largest positive true uplift, at most ``budget_share`` of the base.

    Parameters
    ----------
    world : :class:`loyalty.simulate.World`.
    budget_share : share of the base that may be treated, in [0, 1].
    outcome : which uplift to maximise (see :func:`true_policy_value`).
    arm : the offer to give; required when the campaign has several arms.

    Returns
    -------
    pandas.Index of customer ids, best first. Ties are broken by customer id, so the result is deterministic.
    """
    if not 0 <= budget_share <= 1:
        raise ValueError(f"budget_share must be in [0, 1], got {budget_share!r}")
    truth = world.truth
    uplift = truth[uplift_column(world.config, outcome, arm)].to_numpy()
    k = int(np.floor(budget_share * len(truth)))
    order = np.lexsort((np.arange(len(truth)), -uplift))[:k]
    order = order[uplift[order] > 0]
    return pd.Index(truth["customer_id"].to_numpy()[order], name="customer_id")
