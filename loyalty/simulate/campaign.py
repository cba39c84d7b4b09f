"""The randomized campaign at ``t0``: assignment, each arm's behaviour, and the outcomes that then happen.

Each arm is described by the parameters of the day-grid purchase process in and after the response window
(:class:`ArmBehaviour`); :mod:`loyalty.simulate.truth` turns them into exact expectations, and
:func:`simulate_outcomes` draws the purchases under each customer's assigned arm from the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import COVARIATES, EFFECT_TYPES, SimulationConfig
from .history import purchase_days
from .population import Population
from .truth import expected_coupon_cost, expected_outcomes

__all__ = ["ArmBehaviour", "assign", "arm_behaviour", "arm_expectations", "simulate_outcomes"]

_PERSUADABLE, _SLEEPING_DOG, _RETAINABLE = (EFFECT_TYPES.index(t) for t in ("persuadable", "sleeping_dog",
                                                                            "retainable"))


@dataclass
class ArmBehaviour:
    """Per-customer behaviour after ``t0`` under one arm (arrays; rates per day, money in currency)."""

    contact_churn: np.ndarray  # probability of dropping out at contact
    lam_window: np.ndarray
    p_window: np.ndarray
    lam_after: np.ndarray
    p_after: np.ndarray
    discount_rate: float
    coupon_value: float
    contact_cost: float


def assign(rng: np.random.Generator, pop: Population, config: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli assignment with known propensity (per stratum when ``campaign.stratify_by`` is set).

    Returns
    -------
    treatment : int8 array of 0/1; propensity : float array, P(treatment = 1) for each customer.
    """
    cam = config.campaign
    propensity = np.full(len(pop), float(cam.propensity))
    if cam.stratify_by is not None:
        levels = COVARIATES[cam.stratify_by]
        by_level = np.array([float(cam.strata.get(level, cam.propensity)) for level in levels])
        propensity = by_level[getattr(pop, cam.stratify_by)]
    treatment = (rng.random(len(pop)) < propensity).astype(np.int8)
    return treatment, propensity


def arm_behaviour(pop: Population, config: SimulationConfig, treated: bool) -> ArmBehaviour:
    """Behaviour of every customer under control (``treated=False``) or under the offer."""
    lam, p = pop.lam, pop.p_dropout
    if not treated:
        return ArmBehaviour(np.zeros(len(pop)), lam, p, lam, p, 0.0, 0.0, 0.0)
    eff, cam = config.effects, config.campaign
    kind = pop.effect_type
    lam_window = np.where(kind == _PERSUADABLE, np.minimum(lam * (1.0 + eff.persuadable_lift),
                                                           config.purchase.max_daily_rate), lam)
    lam_window = np.where(kind == _SLEEPING_DOG, lam * (1.0 - eff.sleeping_dog_rate_drop), lam_window)
    p_treated = np.where(kind == _RETAINABLE, p * (1.0 - eff.retention_reduction), p)
    # Extra purchases of persuadables keep the daily dropout hazard λp unchanged: the offer pulls purchases
    # forward without making customers leave sooner.
    persuadable = kind == _PERSUADABLE
    p_window = p_treated.copy()
    p_window[persuadable] = p[persuadable] * lam[persuadable] / lam_window[persuadable]
    contact_churn = np.where(kind == _SLEEPING_DOG, eff.sleeping_dog_churn, 0.0)
    return ArmBehaviour(contact_churn, lam_window, p_window, lam, p_treated,
                        float(cam.discount_rate), float(cam.coupon_value), float(cam.contact_cost))


def arm_expectations(pop: Population, alive_t0: np.ndarray, behaviour: ArmBehaviour,
                     config: SimulationConfig) -> dict[str, np.ndarray]:
    """Exact expected outcomes of one arm given the latent state at ``t0`` (see :func:`truth.expected_outcomes`)."""
    cal = config.calendar
    mean_spend = config.spend.p / pop.nu
    return expected_outcomes(
        keep=alive_t0 * (1.0 - behaviour.contact_churn),
        lam_window=behaviour.lam_window,
        p_window=behaviour.p_window,
        lam_after=behaviour.lam_after,
        p_after=behaviour.p_after,
        margin_window=mean_spend * (pop.margin_rate - behaviour.discount_rate),
        margin_after=mean_spend * pop.margin_rate,
        coupon_cost=expected_coupon_cost(behaviour.coupon_value, behaviour.discount_rate, config.spend.p, pop.nu),
        fixed_cost=behaviour.contact_cost,
        window_days=cal.response_window_days,
        horizon_days=cal.horizon_days,
        daily_discount=np.log1p(cal.annual_discount_rate) / 365.25,
    )


def _select(treatment: np.ndarray, control: ArmBehaviour, treated: ArmBehaviour, name: str) -> np.ndarray:
    return np.where(treatment == 1, getattr(treated, name), getattr(control, name))


def simulate_outcomes(rng: np.random.Generator, pop: Population, alive_t0: np.ndarray, treatment: np.ndarray,
                      config: SimulationConfig):
    """Purchases after ``t0`` under each customer's assigned arm.

    Returns
    -------
    customer, day : int arrays per purchase (days after ``start_date``), purchases in the window first;
    in_window : bool per purchase; alive_end : bool per customer, alive at the end of the horizon.
    """
    cal = config.calendar
    t0 = cal.history_days
    control, treated = arm_behaviour(pop, config, False), arm_behaviour(pop, config, True)
    churn = _select(treatment, control, treated, "contact_churn")
    alive_window = alive_t0 & ~(rng.random(len(pop)) < churn)
    last = np.full(len(pop), t0 - 1, dtype=np.int64)
    c1, d1, alive_mid = purchase_days(rng, last, t0 + cal.response_window_days - 1,
                                      _select(treatment, control, treated, "lam_window"),
                                      _select(treatment, control, treated, "p_window"), alive_window)
    last[:] = t0 + cal.response_window_days - 1
    c2, d2, alive_end = purchase_days(rng, last, t0 + cal.horizon_days - 1,
                                      _select(treatment, control, treated, "lam_after"),
                                      _select(treatment, control, treated, "p_after"), alive_mid)
    in_window = np.concatenate([np.ones(c1.size, bool), np.zeros(c2.size, bool)])
    return np.concatenate([c1, c2]), np.concatenate([d1, d2]), in_window, alive_end
