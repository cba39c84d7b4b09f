"""The ground-truth world: a seeded, vectorised simulator of a loyalty programme with a randomized campaign.

Customers have latent BG/NBD traits (purchase rate λ ~ Gamma(r, α), dropout p ~ Beta(a, b)), Gamma-Gamma spend
(p, q, γ) and margin rates; observable covariates are noisy functions of those traits. A transaction history
is followed by a randomized campaign at ``t0`` with heterogeneous effects (persuadables, sure things, lost
causes, sleeping dogs, retention), the outcomes under each customer's assigned arm, and the exact expected
outcomes under both arms, so every targeting policy's true value and the oracle are known.

Examples
--------
>>> from loyalty.simulate import SimulationConfig, simulate, oracle, true_policy_value
>>> world = simulate(SimulationConfig(n_customers=2000), seed=7)
>>> sorted(world.truth.columns)[:3]
['alive_at_t0', 'campaign_id', 'customer_id']
>>> best = oracle(world, budget_share=0.2)
>>> true_policy_value(world, best) > 0
True
"""

from .config import (
    COVARIATES,
    EFFECT_TYPES,
    Calendar,
    Campaign,
    Effects,
    Margin,
    Noise,
    Offer,
    PurchaseProcess,
    SimulationConfig,
    Spend,
)
from .outcomes import realised_outcomes
from .truth import oracle, true_policy_value, uplift_column
from .generate import FORMAT_VERSION
from .world import World, simulate, write_world

__all__ = [
    "SimulationConfig",
    "Calendar",
    "PurchaseProcess",
    "Spend",
    "Margin",
    "Campaign",
    "Effects",
    "Noise",
    "Offer",
    "COVARIATES",
    "EFFECT_TYPES",
    "FORMAT_VERSION",
    "World",
    "simulate",
    "write_world",
    "realised_outcomes",
    "true_policy_value",
    "oracle",
    "uplift_column",
]
