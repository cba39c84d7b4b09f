"""Campaign data for uplift models: outcomes in each customer's response window and features as of assignment.

Conventions (those of the data contract and the simulator): a transaction's ``amount`` and ``margin`` are what
was paid and earned, i.e. after any discount of the offer, and an optional ``discount`` column is the discount
given on that row. Per customer and campaign, over ``[assigned_at, assigned_at + window_days)``:

- ``converted``: 1 if any purchase, else 0; ``revenue``: Σ amount;
- ``margin``: gross margin before the offer's discount (Σ margin + Σ discount);
- ``discount``: Σ discount (treated customers only: control customers are never discounted);
- ``contact_cost``: the arm's contact cost (treated only); ``offer_cost`` = discount + contact_cost;
- ``net_margin`` = margin − offer_cost, the profit outcome of the policy value (DESIGN §3).

Without a ``discount`` column the discount of a treated purchase is estimated from the offer terms:
``amount · r / (1 − r)`` for a discount rate r, plus ``coupon_value`` on the first purchase in the window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import DataValidationError
from ..data.features import DEFAULT_WINDOWS, build_features

__all__ = ["campaign_outcomes", "campaign_features", "campaign_frame", "OUTCOMES"]

#: Outcome columns of :func:`campaign_outcomes`.
OUTCOMES = ("converted", "revenue", "margin", "discount", "contact_cost", "offer_cost", "net_margin")

_REQUIRED = ("customer_id", "campaign_id", "assigned_at", "treatment")
_TERMS = ("contact_cost", "discount_rate", "coupon_value")


def _check_assignments(assignments: pd.DataFrame, control) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in assignments.columns]
    if missing:
        raise DataValidationError(
            f"Required column {missing[0]!r} missing from assignments; got {list(assignments.columns)}"
        )
    frame = assignments.copy()
    if not ptypes.is_datetime64_any_dtype(frame["assigned_at"]):
        frame["assigned_at"] = pd.to_datetime(frame["assigned_at"], errors="coerce")
    for column in ("customer_id", "assigned_at", "treatment"):
        bad = frame[column].isna()
        if bad.any():
            raise DataValidationError(f"column {column!r} of assignments has {int(bad.sum()):,} missing or unparseable values")
    dup = frame.duplicated(["customer_id", "campaign_id"])
    if dup.any():
        example = frame.loc[dup, ["customer_id", "campaign_id"]].iloc[0].tolist()
        raise DataValidationError(
            f"assignments have {int(dup.sum()):,} repeated (customer_id, campaign_id) pairs, e.g. {example}; "
            "a customer is assigned once per campaign"
        )
    if control not in set(frame["treatment"].tolist()):
        raise DataValidationError(
            f"control arm {control!r} does not occur in assignments.treatment (arms: {sorted(map(str, frame['treatment'].unique()))})"
        )
    for column in _TERMS:
        if column not in frame.columns:
            frame[column] = 0.0
        frame[column] = frame[column].fillna(0.0).astype(float)
    frame["is_treated"] = frame["treatment"] != control
    return frame


def campaign_outcomes(
    transactions: pd.DataFrame,
    assignments: pd.DataFrame,
    window_days: float,
    control=0,
    margin_rate: float | None = None,
) -> pd.DataFrame:
    """Outcomes of each assigned customer in the campaign's response window (see the module docstring).

    Parameters
    ----------
    transactions : log in the data contract (``customer_id``, ``timestamp`` datetime64, ``amount``; optional
        ``margin``, ``discount``).
    assignments : ``customer_id``, ``campaign_id``, ``assigned_at``, ``treatment``; optional ``propensity``,
        ``contact_cost``, ``discount_rate``, ``coupon_value`` (missing terms are 0).
    window_days : length of the response window in days, starting at ``assigned_at`` (inclusive).
    control : label of the control arm in ``treatment``.
    margin_rate : margin as a share of amount when the log has no ``margin`` column.

    Returns
    -------
    DataFrame, one row per assignment (same order), with the assignment columns and :data:`OUTCOMES`.
    """
    if not window_days or window_days <= 0:
        raise DataValidationError(f"window_days must be a positive number of days, got {window_days!r}")
    for column in ("customer_id", "timestamp", "amount"):
        if column not in transactions.columns:
            raise DataValidationError(f"Required column {column!r} missing from transactions")
    frame = _check_assignments(assignments, control).reset_index(drop=True)
    if "margin" not in transactions.columns and margin_rate is None:
        raise DataValidationError("transactions have no 'margin' column: pass margin_rate (margin share of amount)")
    frame["_row"] = np.arange(len(frame))
    tx = transactions[["customer_id", "timestamp", "amount"]
                      + [c for c in ("margin", "discount") if c in transactions.columns]].copy()
    if "margin" not in tx.columns:
        tx["margin"] = tx["amount"] * float(margin_rate)
    rows = tx.merge(frame[["customer_id", "assigned_at", "is_treated", "discount_rate", "coupon_value", "_row"]],
                    on="customer_id", how="inner")
    end = rows["assigned_at"] + pd.to_timedelta(window_days, unit="D")
    rows = rows[(rows["timestamp"] >= rows["assigned_at"]) & (rows["timestamp"] < end)]
    if "discount" in rows.columns:
        discount = rows["discount"].fillna(0.0).where(rows["is_treated"], 0.0)
    else:
        rate = rows["discount_rate"].clip(upper=0.999)
        first = ~rows.sort_values("timestamp").duplicated("_row").sort_index()
        discount = (rows["amount"] * rate / (1 - rate) + rows["coupon_value"] * first).where(rows["is_treated"], 0.0)
    rows = rows.assign(discount=discount)
    n = len(frame)
    sums = rows.groupby("_row")[["amount", "margin", "discount"]].sum().reindex(np.arange(n), fill_value=0.0)
    purchases = rows.groupby("_row").size().reindex(np.arange(n), fill_value=0)
    out = frame.drop(columns=["_row", "is_treated"])
    out["converted"] = (purchases.to_numpy() > 0).astype(int)
    out["revenue"] = sums["amount"].to_numpy()
    out["margin"] = sums["margin"].to_numpy() + sums["discount"].to_numpy()
    out["discount"] = sums["discount"].to_numpy()
    out["contact_cost"] = np.where(frame["is_treated"], frame["contact_cost"], 0.0)
    out["offer_cost"] = out["discount"] + out["contact_cost"]
    out["net_margin"] = out["margin"] - out["offer_cost"]
    return out


def campaign_features(
    transactions: pd.DataFrame,
    assignments: pd.DataFrame,
    attributes: pd.DataFrame | None = None,
    windows=DEFAULT_WINDOWS,
) -> pd.DataFrame:
    """Point-in-time features of each assigned customer, from transactions strictly before ``assigned_at``.

    Uses :func:`loyalty.data.features.build_features` once per distinct assignment time; customers without any
    purchase before it get NaN behavioural features (LightGBM handles them) and ``has_history`` = 0.

    Returns
    -------
    DataFrame aligned with ``assignments`` rows (same order, default index), features only.
    """
    if "assigned_at" not in assignments.columns or "customer_id" not in assignments.columns:
        raise DataValidationError("assignments need 'customer_id' and 'assigned_at' columns for features")
    assigned_at = pd.to_datetime(assignments["assigned_at"]).reset_index(drop=True)
    ids = assignments["customer_id"].reset_index(drop=True)
    parts = []
    for when in sorted(assigned_at.unique()):
        rows = np.flatnonzero((assigned_at == when).to_numpy())
        before = transactions[transactions["timestamp"] < when]
        if len(before):
            features = build_features(before, when, windows=windows)
        else:
            features = pd.DataFrame(index=pd.Index([], name="customer_id"))
        part = features.reindex(ids.iloc[rows].to_numpy())
        part["has_history"] = part.index.isin(features.index).astype(int)
        part.index = rows
        parts.append(part)
    out = pd.concat(parts).sort_index()
    if attributes is not None:
        out = out.join(_attributes(attributes, ids), how="left")
    return out.reset_index(drop=True)


def _attributes(attributes: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """Customer attributes aligned with the assignment rows; text becomes categorical (LightGBM-native)."""
    frame = attributes.set_index("customer_id") if "customer_id" in attributes.columns else attributes
    if frame.index.has_duplicates:
        raise DataValidationError(f"attributes have {int(frame.index.duplicated().sum()):,} repeated customer ids")
    aligned = frame.reindex(ids.to_numpy())
    aligned.index = np.arange(len(ids))
    for column in aligned.columns:
        series = aligned[column]
        if ptypes.is_object_dtype(series) or ptypes.is_string_dtype(series) or ptypes.is_bool_dtype(series):
            aligned[column] = series.astype("category")
        elif ptypes.is_datetime64_any_dtype(series):
            raise DataValidationError(f"attribute column {column!r} is a date; turn it into a duration first")
    return aligned


def campaign_frame(
    transactions: pd.DataFrame,
    assignments: pd.DataFrame,
    window_days: float,
    control=0,
    attributes: pd.DataFrame | None = None,
    margin_rate: float | None = None,
    windows=DEFAULT_WINDOWS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, outcomes) of every assignment, row-aligned, ready for a learner.

    ``outcomes`` holds the assignment columns (``treatment``, ``propensity`` when given, offer terms) and
    :data:`OUTCOMES`; ``features`` is :func:`campaign_features`.
    """
    outcomes = campaign_outcomes(transactions, assignments, window_days, control=control, margin_rate=margin_rate)
    features = campaign_features(transactions, assignments.reset_index(drop=True), attributes, windows)
    return features, outcomes
