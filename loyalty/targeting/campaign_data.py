"""The per-customer campaign frame a targeting experiment evaluates on: features, outcomes, offer terms, truth.

- :func:`simulated_campaign`: a world from :mod:`loyalty.simulate`: its log is validated (returns netted,
  duplicates dropped, rows accounted for), features are built as of the campaign date, outcomes measured in
  the response window and over the long horizon, and the true uplifts attached.
- :func:`hillstrom_campaign`: one e-mail arm of Hillstrom against no e-mail; its two-week spend is revenue,
  so margin and offer costs are the spec's stated assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data import summarize, validate_transactions
from ..datasets import load_hillstrom
from ..errors import DataValidationError
from ..uplift.prep import campaign_features, campaign_outcomes

__all__ = ["CampaignData", "simulated_campaign", "hillstrom_campaign", "horizon_outcomes"]


@dataclass
class CampaignData:
    """Features ``X`` and a ``frame`` (same rows) with ``customer_id``, ``treatment`` (0/1), ``propensity``,
    outcome columns, and optionally ``summary`` (RFM at the campaign date) and true uplift columns."""

    X: pd.DataFrame
    frame: pd.DataFrame
    outcomes: dict
    truth: dict = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    info: dict = field(default_factory=dict)


def horizon_outcomes(transactions: pd.DataFrame, assignments: pd.DataFrame, window_days: float,
                     horizon_days: float, annual_discount_rate: float) -> pd.DataFrame:
    """Long-horizon outcomes per assignment row: ``long_net_margin`` and ``retained``.

    ``long_net_margin``: margin (after any discount) of purchases in ``[assigned_at, assigned_at + horizon)``,
    each discounted to ``assigned_at`` at the annual rate over whole days elapsed, minus the contact cost if
    treated. ``retained``: 1 if any purchase after the response window and within the horizon.
    """
    if horizon_days <= window_days:
        raise DataValidationError(f"horizon_days ({horizon_days}) must be longer than the response window ({window_days})")
    frame = assignments.reset_index(drop=True)
    rows = transactions[["customer_id", "timestamp", "margin"]].merge(
        frame[["customer_id", "assigned_at"]].assign(_row=np.arange(len(frame))), on="customer_id", how="inner"
    )
    days = np.floor((rows["timestamp"] - rows["assigned_at"]) / pd.Timedelta(days=1)).to_numpy()
    inside = (days >= 0) & (days < horizon_days)
    rate = np.log1p(annual_discount_rate) / 365.25
    discounted = np.where(inside, rows["margin"].to_numpy() * np.exp(-rate * np.where(inside, days, 0)), 0.0)
    after_window = inside & (days >= window_days)
    n = len(frame)
    long_margin = np.bincount(rows["_row"].to_numpy(), weights=discounted, minlength=n)
    retained = np.bincount(rows["_row"].to_numpy(), weights=after_window.astype(float), minlength=n) > 0
    treated = frame["treatment"].to_numpy() == 1
    contact = np.where(treated, frame["contact_cost"].to_numpy(dtype=float), 0.0) if "contact_cost" in frame else 0.0
    return pd.DataFrame({"long_net_margin": long_margin - contact, "retained": retained.astype(int)})


def simulated_campaign(world, window_days: float | None = None, horizon_days: float | None = None,
                       annual_discount_rate: float | None = None) -> CampaignData:
    """The campaign frame of a simulated world (one treated arm against control)."""
    calendar = world.config.calendar
    window_days = calendar.response_window_days if window_days is None else window_days
    horizon_days = calendar.horizon_days if horizon_days is None else horizon_days
    annual_discount_rate = calendar.annual_discount_rate if annual_discount_rate is None else annual_discount_rate
    validated = validate_transactions(world.transactions)
    clean = validated.transactions
    assignments = world.assignments.reset_index(drop=True)
    if set(np.unique(assignments["treatment"])) - {0, 1}:
        raise DataValidationError("targeting experiments compare one offer against control: use a one-arm world")
    attributes = world.customers.drop(columns=[c for c in ("acquired_at",) if c in world.customers])
    X = campaign_features(clean, assignments, attributes=attributes)
    window = campaign_outcomes(clean, assignments, window_days)
    frame = window[["customer_id", "treatment", "propensity", "contact_cost", "discount_rate", "converted",
                    "revenue", "margin", "discount", "offer_cost", "net_margin"]].copy()
    frame["contact_cost"] = assignments["contact_cost"].to_numpy(dtype=float)  # the offer's terms, for every customer
    outcomes = {"conversion": "converted", "net_margin": "net_margin"}
    if horizon_days:
        frame = pd.concat([frame, horizon_outcomes(clean, assignments, window_days, horizon_days,
                                                   annual_discount_rate)], axis=1)
        outcomes["long_net_margin"] = "long_net_margin"
    truth = world.truth.set_index("customer_id").reindex(frame["customer_id"])
    frame["true_response_uplift"] = truth["response_uplift"].to_numpy()
    frame["true_margin_uplift"] = truth["margin_uplift"].to_numpy()
    frame["true_lifecycle_uplift"] = truth["lifecycle_uplift"].to_numpy()
    history = clean[clean["timestamp"] < world.t0]
    summary = summarize(history, world.t0, period="D").reindex(frame["customer_id"])
    return CampaignData(
        X=X, frame=frame, outcomes=outcomes, summary=summary,
        truth={"conversion": "true_response_uplift", "net_margin": "true_margin_uplift",
               "long_net_margin": "true_lifecycle_uplift"},
        info={"source": "simulator", "customers": len(frame), "accounting": validated.accounting.as_dict(),
              "campaign_date": str(world.t0.date()), "response_window_days": window_days,
              "horizon_days": horizon_days, "annual_discount_rate": annual_discount_rate},
    )


#: Hillstrom columns used as features (history_segment only buckets `history`).
HILLSTROM_FEATURES = ("recency", "history", "mens", "womens", "zip_code", "newbie", "channel")


def hillstrom_campaign(arm: str, control: str, margin_rate: float, discount_rate: float,
                       contact_cost: float) -> CampaignData:
    """Hillstrom, ``arm`` (e.g. ``"Womens E-Mail"``) against ``control`` (``"No E-Mail"``).

    Outcomes (two weeks): ``converted``; ``net_margin`` = spend × margin_rate, minus for treated customers the
    discount on their spend (spend × discount_rate) and the contact cost: every economic term is an assumption
    stated in the spec, since the file records revenue only.
    """
    data = load_hillstrom()
    arms = set(data["segment"].unique())
    for name in (arm, control):
        if name not in arms:
            raise DataValidationError(f"Hillstrom has no arm {name!r}; its arms are {sorted(arms)}")
    data = data[data["segment"].isin([arm, control])].reset_index(drop=True)
    treatment = (data["segment"] == arm).astype(int).to_numpy()
    share = treatment.mean()
    spend = data["spend"].to_numpy(dtype=float)
    discount = np.where(treatment == 1, spend * discount_rate, 0.0)
    contact = np.where(treatment == 1, contact_cost, 0.0)
    frame = pd.DataFrame({
        "customer_id": data["customer_id"], "treatment": treatment, "propensity": share,
        "contact_cost": contact_cost, "discount_rate": discount_rate,
        "converted": data["conversion"].to_numpy(), "revenue": spend, "margin": spend * margin_rate,
        "discount": discount, "offer_cost": discount + contact,
        "net_margin": spend * margin_rate - discount - contact,
    })
    X = data[list(HILLSTROM_FEATURES)].copy()
    for column in ("zip_code", "channel"):
        X[column] = X[column].astype("category")
    return CampaignData(
        X=X, frame=frame, outcomes={"conversion": "converted", "net_margin": "net_margin"},
        info={"source": "hillstrom", "customers": len(frame), "arm": arm, "control": control,
              "treated_share": float(share), "margin_rate": margin_rate, "discount_rate": discount_rate,
              "contact_cost": contact_cost, "response_window_days": 14},
    )
