"""The economics a campaign offer is judged by: net window margin, retention value and the lifecycle score.

Pure functions of per-customer model outputs (arrays, Series or scalars; numpy broadcasting applies), shared by
the targeting experiment (:func:`loyalty.targeting.score_campaign`), the ``lifecycle`` policy and the scoring
job, so that every caller ranks customers by the same numbers. Money is in the currency of the transaction
log's ``amount`` column, per customer. The window margin is undiscounted (the response window is weeks long);
the residual CLV is the BG/NBD + Gamma-Gamma CLV (Fader, Hardie & Lee 2005a, 2005b; Fader & Hardie 2013) over
the horizon minus the CLV over the window, both discounted to the campaign date at the annual discount rate.

The lifecycle score (DESIGN.md section 4, "incremental margin + incremental retention × residual CLV − offer
cost") is

    lifecycle = net_window_margin + ΔP(retained) / P(retained | control) × residual_clv

where "retained" means at least one purchase after the response window and within the horizon. The division
is what makes "incremental retention × residual CLV" right: the residual CLV is an *unconditional* expectation
of the post-window margin, and a customer with no post-window purchase contributes nothing to it, so

    residual_clv = P(retained | control) × E[post-window margin | retained].

One extra retained customer is therefore worth E[post-window margin | retained] = residual_clv /
P(retained | control), and the offer's retention value is ΔP(retained) times that. Multiplying ΔP(retained) by
the unconditional residual CLV would count the chance of lapsing twice and undervalue, by the factor
P(retained | control), exactly the customers a retention offer is for (those likely to lapse). The formula is
exact when the offer acts on survival (a customer it loses loses all of their post-window value, one it keeps
keeps the average value of a retained customer) and leaves spend per purchase after the window unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataValidationError

__all__ = ["net_window_margin", "retention_value", "lifecycle_score", "LIFECYCLE_INPUTS", "lifecycle_scores"]

#: Columns of a customer frame that :func:`lifecycle_scores` reads.
LIFECYCLE_INPUTS: tuple[str, ...] = ("uplift_net_margin", "uplift_retention", "p_retained_control", "residual_clv")


def net_window_margin(uplift_response, expected_spend, margin_rate, discount_rate, expected_window_purchases,
                      contact_cost):
    """Expected incremental margin of sending the offer, within the response window, net of the offer's costs.

    ``uplift_response · s · (m − d) − d · s · E_w − c``: the margin of the extra conversions at the discounted
    price, minus the discount paid on the purchases the customer would have made anyway, minus the contact.

    Parameters
    ----------
    uplift_response : P(buy in the window | offer) − P(buy in the window | no offer), in [-1, 1].
    expected_spend : ``s``, the expected spend per purchase (Gamma-Gamma, Fader & Hardie 2013, note 025 eq. 5),
        currency.
    margin_rate : ``m``, margin as a share of spend, in [0, 1].
    discount_rate : ``d``, the offer's discount as a share of the price, in [0, 1].
    expected_window_purchases : ``E_w``, the expected number of purchases in the window without the offer
        (the BG/NBD conditional expectation, Fader, Hardie & Lee 2005, eq. 10).
    contact_cost : ``c``, the cost of contacting the customer, currency.

    Returns
    -------
    The net window margin per customer, currency (undiscounted), shaped like the broadcast inputs.
    """
    d = discount_rate
    return uplift_response * expected_spend * (margin_rate - d) - d * expected_spend * expected_window_purchases \
        - contact_cost


def retention_value(uplift_retention, p_retained_control, residual_clv):
    """What the offer's effect on retention is worth: ``ΔP(retained) / P(retained | control) × residual_clv``.

    See the module docstring for why the residual CLV is divided by P(retained | control): it is the
    unconditional expectation P(retained) × E[post-window margin | retained].

    Parameters
    ----------
    uplift_retention : ΔP(retained) = P(retained | offer) − P(retained | control), in [-1, 1].
    p_retained_control : P(retained | control), in (0, 1].
    residual_clv : CLV over the horizon minus CLV over the window, discounted to the campaign date, currency.

    Returns
    -------
    The retention value per customer, currency (discounted to the campaign date).

    Raises
    ------
    DataValidationError
        When a P(retained | control) is not within (0, 1] (counted, with an example): the value of a retained
        customer is undefined for a customer who is never retained.
    """
    p = np.asarray(p_retained_control, dtype=float)
    bad = ~((p > 0) & (p <= 1))
    if bad.any():
        raise DataValidationError(
            f"p_retained_control must be within (0, 1]; {int(bad.sum())} of {p.size} value(s) are not, e.g. "
            f"{p[bad].flat[0]!r}"
        )
    return uplift_retention / p_retained_control * residual_clv


def lifecycle_score(uplift_net_margin, uplift_retention, p_retained_control, residual_clv):
    """The lifecycle value of sending the offer: net window margin plus retention value (DESIGN.md section 4).

    Parameters
    ----------
    uplift_net_margin : the net window margin (:func:`net_window_margin`), currency.
    uplift_retention, p_retained_control, residual_clv : as in :func:`retention_value`.

    Returns
    -------
    ``uplift_net_margin + retention_value(uplift_retention, p_retained_control, residual_clv)``, currency.
    """
    return uplift_net_margin + retention_value(uplift_retention, p_retained_control, residual_clv)


def lifecycle_scores(customers: pd.DataFrame) -> pd.Series:
    """:func:`lifecycle_score` of each row of a customer frame with the columns :data:`LIFECYCLE_INPUTS`.

    Raises
    ------
    DataValidationError
        Naming the missing columns, or as :func:`retention_value`.
    """
    missing = [c for c in LIFECYCLE_INPUTS if c not in customers.columns]
    if missing:
        raise DataValidationError(
            f"the lifecycle score needs column(s) {missing}; the customer frame has {list(customers.columns)}"
        )
    inputs = (customers[c].astype(float) for c in LIFECYCLE_INPUTS)
    return lifecycle_score(*inputs).rename("uplift_lifecycle")
