"""Customers: latent BG/NBD and Gamma-Gamma traits, margin rates, acquisition days and observable covariates.

The latent traits are drawn independently with exactly the planted marginals (λ ⊥ p ⊥ ν, as BG/NBD and
Gamma-Gamma assume), so fitting the models recovers the planted parameters. The covariates are noisy
functions of the traits: a model can learn from them but never sees the traits themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import polygamma, psi

from .config import COVARIATES, EFFECT_TYPES, SimulationConfig

__all__ = ["Population", "draw_population", "standardised_traits"]


@dataclass
class Population:
    """One chunk of customers as arrays (index ``i`` is the customer's position in the chunk).

    Attributes: ``acquired_day`` (days after ``start_date``), ``lam`` (purchase probability per day, the
    BG/NBD rate λ capped at ``max_daily_rate``), ``p_dropout``, ``nu`` (Gamma-Gamma spend rate, currency⁻¹),
    ``margin_rate``, integer codes of the categorical covariates (levels in ``config.COVARIATES``),
    ``email_engagement`` (share of e-mails opened) and ``effect_type`` (code into ``EFFECT_TYPES``).
    """

    acquired_day: np.ndarray
    lam: np.ndarray
    p_dropout: np.ndarray
    nu: np.ndarray
    margin_rate: np.ndarray
    channel: np.ndarray
    region: np.ndarray
    category_mix: np.ndarray
    tenure_band: np.ndarray
    email_engagement: np.ndarray
    effect_type: np.ndarray

    def __len__(self) -> int:
        return len(self.lam)


def standardised_traits(lam: np.ndarray, p: np.ndarray, nu: np.ndarray, config: SimulationConfig):
    """z-scores of log λ, logit p and log ν under their planted distributions (exact moments, not sample ones).

    Using population moments keeps each chunk's covariates independent of the other chunks.
    """
    pur, spd = config.purchase, config.spend
    z_lam = (np.log(lam) - (psi(pur.r) - np.log(pur.alpha))) / np.sqrt(polygamma(1, pur.r))
    logit_p = np.log(p) - np.log1p(-p)
    z_p = (logit_p - (psi(pur.a) - psi(pur.b))) / np.sqrt(polygamma(1, pur.a) + polygamma(1, pur.b))
    z_nu = (np.log(nu) - (psi(spd.q) - np.log(spd.gamma))) / np.sqrt(polygamma(1, spd.q))
    return z_lam, z_p, z_nu


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row from softmax(logits) by the Gumbel-max trick."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1).astype(np.int8)


def _tenure_band(tenure_days: np.ndarray) -> np.ndarray:
    months = tenure_days / (365.25 / 12.0)
    return np.searchsorted(np.array([6.0, 12.0, 24.0]), months, side="right").astype(np.int8)


def draw_population(rng: np.random.Generator, n: int, config: SimulationConfig) -> Population:
    """Draw ``n`` customers.

    Parameters
    ----------
    rng : numpy Generator for this chunk.
    n : number of customers.
    config : the world's configuration.

    Returns
    -------
    Population
        Arrays of length ``n``.
    """
    pur, spd, cal = config.purchase, config.spend, config.calendar
    # Latent traits, independent with the planted marginals.
    lam_raw = rng.gamma(pur.r, 1.0 / pur.alpha, size=n)
    lam_raw = np.maximum(lam_raw, np.finfo(float).tiny)
    lam = np.minimum(lam_raw, pur.max_daily_rate)
    p = rng.beta(pur.a, pur.b, size=n)
    p = np.clip(p, 1e-12, 1.0)
    nu = rng.gamma(spd.q, 1.0 / spd.gamma, size=n)
    acquired_day = rng.integers(0, cal.acquisition_days, size=n).astype(np.int32)

    z_lam, z_p, z_nu = standardised_traits(lam_raw, np.minimum(p, 1 - 1e-12), nu, config)

    # Covariates: noisy functions of the traits.
    zeros = np.zeros(n)
    channel = _categorical(rng, np.column_stack([zeros, 0.3 * z_lam + 0.2 * z_nu, 0.9 * z_lam - 0.2]))
    region = _categorical(rng, np.column_stack([0.3 * z_nu, -0.3 * z_nu, 0.2 * z_p, -0.2 * z_p]))
    category_mix = _categorical(
        rng, np.column_stack([0.6 * z_lam, 0.3 * z_nu, -0.8 * z_nu - 0.3, 0.3 * z_nu - 0.2])
    )
    email_logit = 0.6 * z_lam - 0.5 * z_p - 0.3 + 0.8 * rng.standard_normal(n)
    email_engagement = 1.0 / (1.0 + np.exp(-email_logit))
    tenure_band = _tenure_band(cal.history_days - acquired_day.astype(float))

    means = np.array([config.margin.category_means[c] for c in COVARIATES["category_mix"]])[category_mix]
    kappa = config.margin.concentration
    margin_rate = rng.beta(means * kappa, (1.0 - means) * kappa)

    # Latent effect type: mix share × exp(trait_dependence × score).
    z_email = (email_logit + 0.3) / np.sqrt(0.36 + 0.25 + 0.64)
    scores = {
        "no_effect": zeros,
        "persuadable": -0.7 * z_lam + 0.8 * z_email,
        "sleeping_dog": 0.7 * z_lam - 0.8 * z_email,
        "retainable": 1.0 * z_p,
    }
    eff = config.effects
    weights = np.column_stack(
        [float(eff.mix.get(t, 0.0)) * np.exp(eff.trait_dependence * scores[t]) for t in EFFECT_TYPES]
    )
    cum = np.cumsum(weights, axis=1)
    u = rng.random(n) * cum[:, -1]
    effect_type = (u[:, None] >= cum).sum(axis=1).astype(np.int8)
    effect_type = np.minimum(effect_type, len(EFFECT_TYPES) - 1)

    return Population(
        acquired_day=acquired_day,
        lam=lam,
        p_dropout=p,
        nu=nu,
        margin_rate=margin_rate,
        channel=channel,
        region=region,
        category_mix=category_mix,
        tenure_band=tenure_band,
        email_engagement=email_engagement,
        effect_type=effect_type,
    )
