"""The randomized campaign at ``t0``: assignment, each arm's behaviour, and the outcomes that then happen.

Each arm is described by the parameters of the day-grid purchase process in and after the response window
(:class:`ArmBehaviour`); :mod:`loyalty.simulate.truth` turns them into exact expectations, and
:func:`simulate_outcomes` draws the purchases under each customer's assigned arm from the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import COVARIATES, EFFECT_TYPES, Offer, SimulationConfig
from .history import purchase_days
from .population import Population
from .truth import expected_coupon_cost, expected_outcomes

__all__ = ["ArmBehaviour", "assign", "arm_behaviour", "arm_behaviours", "arm_expectations", "simulate_outcomes"]

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
    """Randomized assignment with known propensity.

    Single-arm: Bernoulli(``propensity``), per stratum when ``campaign.stratify_by`` is set. Multi-arm: arm k
    with probability ``arms[k].share``, control with the rest.

    Returns
    -------
    arm : int8 array, 0 for control and k for the k-th treated arm (so 0/1 for a single-arm campaign);
    propensity : float array, the probability of the arm each customer got (single-arm: P(treated)).
    """
    cam = config.campaign
    u = rng.random(len(pop))
    if cam.arms:
        shares = np.array([offer.share for offer in cam.offers().values()])
        arm = np.searchsorted(np.cumsum(shares), u, side="right") + 1
        arm = np.where(arm > len(shares), 0, arm).astype(np.int8)
        return arm, np.r_[1.0 - shares.sum(), shares][arm]
    propensity = np.full(len(pop), float(cam.propensity))
    if cam.stratify_by is not None:
        levels = COVARIATES[cam.stratify_by]
        by_level = np.array([float(cam.strata.get(level, cam.propensity)) for level in levels])
        propensity = by_level[getattr(pop, cam.stratify_by)]
    return (u < propensity).astype(np.int8), propensity


def arm_behaviour(pop: Population, config: SimulationConfig, offer: Offer | None) -> ArmBehaviour:
    """Behaviour of every customer under control (``offer=None``) or under ``offer``."""
    lam, p = pop.lam, pop.p_dropout
    if offer is None:
        return ArmBehaviour(np.zeros(len(pop)), lam, p, lam, p, 0.0, 0.0, 0.0)
    eff = config.effects
    kind = pop.effect_type
    lift = eff.persuadable_lift * offer.lift_scale
    lam_window = np.where(kind == _PERSUADABLE, np.minimum(lam * (1.0 + lift), config.purchase.max_daily_rate), lam)
    lam_window = np.where(kind == _SLEEPING_DOG, lam * (1.0 - eff.sleeping_dog_rate_drop), lam_window)
    p_treated = np.where(kind == _RETAINABLE, p * (1.0 - eff.retention_reduction), p)
    # Extra purchases of persuadables keep the daily dropout hazard λp unchanged: the offer pulls purchases
    # forward without making customers leave sooner.
    persuadable = kind == _PERSUADABLE
    p_window = p_treated.copy()
    p_window[persuadable] = p[persuadable] * lam[persuadable] / lam_window[persuadable]
    contact_churn = np.where(kind == _SLEEPING_DOG, eff.sleeping_dog_churn, 0.0)
    return ArmBehaviour(contact_churn, lam_window, p_window, lam, p_treated,
                        offer.discount_rate, offer.coupon_value, offer.contact_cost)


def arm_behaviours(pop: Population, config: SimulationConfig) -> list[ArmBehaviour]:
    """Control first, then each treated arm in ``config.campaign.offers()`` order (the arm codes of :func:`assign`)."""
    offers = list(config.campaign.offers().values())
    return [arm_behaviour(pop, config, None)] + [arm_behaviour(pop, config, offer) for offer in offers]


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


def _select(arm: np.ndarray, behaviours: list[ArmBehaviour], name: str) -> np.ndarray:
    values = np.stack([np.broadcast_to(getattr(b, name), arm.shape) for b in behaviours])
    return np.take_along_axis(values, arm[None, :].astype(np.intp), axis=0)[0]


def simulate_outcomes(rng: np.random.Generator, pop: Population, alive_t0: np.ndarray, arm: np.ndarray,
                      config: SimulationConfig):
    """Purchases after ``t0`` under each customer's assigned arm (codes as returned by :func:`assign`).

    Returns
    -------
    customer, day : int arrays per purchase (days after ``start_date``), purchases in the window first;
    in_window : bool per purchase; alive_end : bool per customer, alive at the end of the horizon.
    """
    cal = config.calendar
    t0 = cal.history_days
    behaviours = arm_behaviours(pop, config)
    alive_window = alive_t0 & ~(rng.random(len(pop)) < _select(arm, behaviours, "contact_churn"))
    last = np.full(len(pop), t0 - 1, dtype=np.int64)
    c1, d1, alive_mid = purchase_days(rng, last, t0 + cal.response_window_days - 1,
                                      _select(arm, behaviours, "lam_window"), _select(arm, behaviours, "p_window"),
                                      alive_window)
    last[:] = t0 + cal.response_window_days - 1
    c2, d2, alive_end = purchase_days(rng, last, t0 + cal.horizon_days - 1,
                                      _select(arm, behaviours, "lam_after"), _select(arm, behaviours, "p_after"),
                                      alive_mid)
    in_window = np.concatenate([np.ones(c1.size, bool), np.zeros(c2.size, bool)])
    return np.concatenate([c1, c2]), np.concatenate([d1, d2]), in_window, alive_end
