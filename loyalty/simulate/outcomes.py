"""Realised campaign outcomes per customer, measured from the transaction log the way the truth defines them."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["realised_outcomes"]


def realised_outcomes(world) -> pd.DataFrame:
    """Per-customer realised outcomes of the campaign, on the clean log.

    Exact duplicate rows are dropped and returns are netted into their order (at the order's purchase time),
    which recovers the clean process the truth describes.

    Parameters
    ----------
    world : :class:`loyalty.simulate.World`.

    Returns
    -------
    DataFrame, one row per customer in ``world.assignments`` order: ``customer_id``, ``treatment`` (as in the
    assignments: 0/1, or the arm name),
    ``converted`` (1 if any purchase in the response window), ``window_margin`` (margin in the window minus
    the contact cost if treated, currency) and ``long_margin`` (margin over the horizon discounted to t0 at
    the configured annual rate, minus the contact cost if treated, currency). Their expectations given the
    latent state are ``world.truth``'s ``p_buy_*``, ``window_margin_*`` and ``long_margin_*``.

    Examples
    --------
    >>> from loyalty.simulate import SimulationConfig, simulate, realised_outcomes
    >>> world = simulate(SimulationConfig(n_customers=500), seed=3)
    >>> list(realised_outcomes(world).columns)
    ['customer_id', 'treatment', 'converted', 'window_margin', 'long_margin']
    """
    cal = world.config.calendar
    tx = world.transactions.drop_duplicates()
    orders = tx.groupby("order_id", sort=False).agg(
        customer_id=("customer_id", "first"), timestamp=("timestamp", "min"), margin=("margin", "sum"))
    days = (orders["timestamp"] - world.t0) / pd.Timedelta(days=1)
    day_index = np.floor(days.to_numpy())
    after_t0 = (day_index >= 0) & (day_index < cal.horizon_days)
    in_window = after_t0 & (day_index < cal.response_window_days)
    daily_discount = np.log1p(cal.annual_discount_rate) / 365.25
    post = pd.DataFrame({
        "customer_id": orders["customer_id"].to_numpy(),
        "window_purchase": in_window.astype(float),
        "window_margin": np.where(in_window, orders["margin"].to_numpy(), 0.0),
        "long_margin": np.where(after_t0, orders["margin"].to_numpy() * np.exp(-daily_discount * day_index), 0.0),
    })
    per_customer = post.groupby("customer_id", sort=False).sum()
    assignments = world.assignments
    result = per_customer.reindex(assignments["customer_id"].to_numpy(), fill_value=0.0)
    treatment = assignments["treatment"].to_numpy()
    treated = treatment != ("control" if world.config.campaign.arms else 0)
    contact = np.where(treated, assignments["contact_cost"].to_numpy(), 0.0)
    return pd.DataFrame({
        "customer_id": assignments["customer_id"].to_numpy(),
        "treatment": treatment,
        "converted": (result["window_purchase"].to_numpy() > 0).astype(np.int8),
        "window_margin": result["window_margin"].to_numpy() - contact,
        "long_margin": result["long_margin"].to_numpy() - contact,
    })
