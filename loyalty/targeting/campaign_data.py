"""The per-customer campaign frame a targeting experiment evaluates on: features, outcomes, offer terms, truth.

- :func:`simulated_campaign`: a world from :mod:`loyalty.simulate`: its log is validated (returns netted,
  duplicates dropped, rows accounted for), features are built as of the campaign date, outcomes measured in
  the response window and over the long horizon, and the true uplifts attached.
- :func:`files_campaign`: your own transaction log and assignments (:func:`loyalty.data.load_campaign_files`),
  built the same way (:func:`history_campaign`), as of each customer's ``assigned_at``.
- :func:`table_campaign`: one row per customer with features, the arm received and the outcomes;
  :func:`hillstrom_campaign` is Hillstrom's e-mail arm against no e-mail through it. Their spend is revenue,
  so margin and offer costs are the spec's stated assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..data import summarize, validate_transactions
from ..data.campaign import CampaignFiles
from ..datasets import load_hillstrom
from ..errors import DataValidationError
from ..uplift.prep import campaign_features, campaign_outcomes
from .arms import arm_column

__all__ = ["CampaignData", "simulated_campaign", "files_campaign", "history_campaign", "hillstrom_campaign",
           "table_campaign", "read_table",
           "horizon_outcomes", "HILLSTROM_FEATURES"]


@dataclass
class CampaignData:
    """Features ``X`` and a ``frame`` (same rows) with ``customer_id``, ``treatment`` (0/1; with several offer arms
    the arm's code, 0 control and 1..K), ``propensity`` (P(treated); with several arms P(arm received)), outcome
    columns, and optionally ``summary`` (RFM at the campaign date) and true uplift columns."""

    X: pd.DataFrame
    frame: pd.DataFrame
    outcomes: dict
    truth: dict = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    info: dict = field(default_factory=dict)
    #: columns of ``X`` whose balance between arms the randomization check tests
    balance: list = field(default_factory=list)
    #: several offer arms only (else empty / None): the offer arms' labels (``treatment`` codes 1..K, control 0),
    #: P(arm | customer) for every arm (customers × (K + 1), control first) and each offer arm's terms
    #: (``{"contact_cost": ..., "discount_rate": ...}``)
    arms: list = field(default_factory=list)
    arm_propensity: np.ndarray | None = None
    arm_terms: list = field(default_factory=list)

    @property
    def multi_arm(self) -> bool:
        """True when the campaign compares several offer arms with control."""
        return len(self.arms) > 1


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
    treated = frame["treatment"].to_numpy() != 0  # any offer arm
    contact = np.where(treated, frame["contact_cost"].to_numpy(dtype=float), 0.0) if "contact_cost" in frame else 0.0
    return pd.DataFrame({"long_net_margin": long_margin - contact, "retained": retained.astype(int)})


def simulated_campaign(world, window_days: float | None = None, horizon_days: float | None = None,
                       annual_discount_rate: float | None = None) -> CampaignData:
    """The campaign frame of a simulated world, with its truth attached: one treated arm against control, or every
    offer arm of a multi-arm world (``campaign.arms``; the true uplift of arm k in ``arm_column(column, k)``)."""
    calendar = world.config.calendar
    window_days = calendar.response_window_days if window_days is None else window_days
    horizon_days = calendar.horizon_days if horizon_days is None else horizon_days
    annual_discount_rate = calendar.annual_discount_rate if annual_discount_rate is None else annual_discount_rate
    validated = validate_transactions(world.transactions)
    assignments = world.assignments.reset_index(drop=True)
    offers = world.config.campaign.offers()
    multi = bool(world.config.campaign.arms)
    if multi:  # arm names to codes: control 0, then the configured arms in order (the simulator's own codes)
        arms = list(offers)
        codes = {"control": 0, **{name: code for code, name in enumerate(arms, start=1)}}
        assignments["treatment"] = assignments["treatment"].map(codes).astype(np.int8)
    attributes = world.customers.drop(columns=[c for c in ("acquired_at",) if c in world.customers])
    data = history_campaign(validated.transactions, assignments, attributes, window_days, horizon_days,
                            annual_discount_rate, log_end=world.horizon_end, source="simulator",
                            accounting=validated.accounting.as_dict())
    frame = data.frame
    truth = world.truth.set_index("customer_id").reindex(frame["customer_id"])
    data.truth = {"conversion": "true_response_uplift", "net_margin": "true_margin_uplift",
                  "long_net_margin": "true_lifecycle_uplift"}
    if not multi:
        frame["true_response_uplift"] = truth["response_uplift"].to_numpy()
        frame["true_margin_uplift"] = truth["margin_uplift"].to_numpy()
        frame["true_lifecycle_uplift"] = truth["lifecycle_uplift"].to_numpy()
        return data
    shares = np.array([offer.share for offer in offers.values()])
    data.arms = arms
    data.arm_propensity = np.tile(np.r_[1.0 - shares.sum(), shares], (len(frame), 1))
    data.arm_terms = [{"contact_cost": offer.contact_cost, "discount_rate": offer.discount_rate}
                      for offer in offers.values()]
    for code, name in enumerate(arms, start=1):
        for outcome in ("response", "margin", "lifecycle"):
            frame[arm_column(f"true_{outcome}_uplift", code)] = truth[f"{outcome}_uplift_{name}"].to_numpy()
    data.info.update({"arms": arms, "control": "control"})
    return data


def files_campaign(files: CampaignFiles, window_days: float, horizon_days: float | None = None,
                   annual_discount_rate: float = 0.10, economics: dict | None = None) -> CampaignData:
    """The campaign frame of your own files (:func:`loyalty.data.load_campaign_files`): one offer arm against
    control, or several (a multi-arm campaign, :mod:`loyalty.targeting.arms`).

    Offer terms missing from the assignments (``contact_cost``, ``discount_rate``, ``coupon_value``) come from
    ``economics``; a missing propensity is the observed treated share. With several arms the propensity column
    is P(arm received), one value per arm (each arm's observed share when absent), rescaled to sum to 1 over the
    arms compared, and each arm's offer terms must be one value.
    """
    economics = economics or {}
    assignments = files.assignments.copy()
    for term in ("contact_cost", "discount_rate", "coupon_value"):
        blank = assignments[term].isna()
        if blank.any():
            stated = economics.get(term, 0.0 if term == "coupon_value" else None)
            if stated is None:
                raise DataValidationError(
                    f"{int(blank.sum()):,} assignments carry no {term} and economics.{term} is not stated: give the "
                    "offer terms in the assignments file or in the spec's economics"
                )
            assignments.loc[blank, term] = float(stated)
    e = assignments["propensity"]
    if e.notna().any() and e.isna().any():
        raise DataValidationError(f"{int(e.isna().sum()):,} assignments have no propensity while others do: give "
                                  "it for every row, or for none (then the observed treated share is used)")
    multi = len(files.arms) > 1
    if multi:
        codes = np.zeros(len(assignments), dtype=np.int8)
        for code, name in enumerate(files.arms, start=1):
            codes[(assignments["arm"] == name).to_numpy()] = code
        assignments["treatment"] = codes
        arm_propensity = _arm_probabilities(codes, [files.control, *files.arms],
                                            None if e.isna().all() else e.to_numpy(dtype=float))
        assignments["propensity"] = arm_propensity[np.arange(len(codes)), codes]
        terms = [_arm_terms(assignments[codes == code], name) for code, name in enumerate(files.arms, start=1)]
    elif e.isna().all():
        assignments["propensity"] = float(assignments["treatment"].mean())
    data = history_campaign(files.transactions, assignments, files.customers, window_days, horizon_days,
                            annual_discount_rate, log_end=files.log_end, source="campaign",
                            accounting=files.accounting)
    data.info.update({"control": files.control, "arm": files.arms[0], "log_start": str(files.log_start),
                      "log_end": str(files.log_end)})
    if multi:
        data.arms, data.arm_propensity, data.arm_terms = list(files.arms), arm_propensity, terms
        data.info["arms"] = list(files.arms)
        del data.info["arm"]
    return data


def _arm_terms(rows: pd.DataFrame, arm: str) -> dict:
    """One offer arm's terms from its assignment rows: with several arms a policy may give any customer any arm,
    so each arm's ``contact_cost`` and ``discount_rate`` must be one value (else an error naming the arm)."""
    terms = {}
    for term in ("contact_cost", "discount_rate"):
        values = rows[term].to_numpy(dtype=float)
        if values.max() - values.min() > 1e-12:
            raise DataValidationError(
                f"arm {arm!r} has {term} from {values.min():g} to {values.max():g}: with several offer arms each "
                "arm's offer terms must be one value (a policy may give the arm to any customer)")
        terms[term] = float(values[0])
    return terms


def history_campaign(clean: pd.DataFrame, assignments: pd.DataFrame, attributes: pd.DataFrame | None,
                     window_days: float, horizon_days: float | None, annual_discount_rate: float,
                     log_end: pd.Timestamp, source: str, accounting: dict | None = None) -> CampaignData:
    """Features, RFM summary and outcomes of each assigned customer from a clean log (both history sources).

    Features and the summary are as of each customer's ``assigned_at``, from transactions strictly before it;
    outcomes come from transactions at or after it (response window; the long horizon when ``horizon_days``).
    Outcomes that would need the log past ``log_end`` are an error naming both dates.
    """
    last = pd.Timestamp(assignments["assigned_at"].max())
    for name, days in (("response window", window_days), ("horizon", horizon_days)):
        if days and last + pd.Timedelta(days=days) > log_end:
            raise DataValidationError(
                f"the {days:g}-day {name} of the last assignment ({last}) ends {last + pd.Timedelta(days=days)}, "
                f"past the end of the log ({log_end}): shorten it, or give a log that covers it"
            )
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
    dates = pd.to_datetime(assignments["assigned_at"])
    parts = []
    for when in sorted(dates.unique()):
        rows = (dates == when).to_numpy()
        history = clean[clean["timestamp"] < when]
        part = summarize(history, when, period="D").reindex(frame["customer_id"][rows])
        parts.append(part.set_axis(np.flatnonzero(rows)))
    summary = pd.concat(parts).sort_index()
    summary.index = pd.Index(frame["customer_id"], name="customer_id")
    balance = ["recency_days", "frequency", "spend_total", "has_history"]
    if attributes is not None:
        balance += [c for c in attributes.columns if c != "customer_id"]
    first, span = dates.min(), dates.max()
    return CampaignData(
        X=X, frame=frame, outcomes=outcomes, summary=summary, balance=balance,
        info={"source": source, "customers": len(frame), "accounting": accounting or {},
              "campaign_date": str(first.date()) if first == span else f"{first.date()} to {span.date()}",
              "response_window_days": window_days, "horizon_days": horizon_days,
              "annual_discount_rate": annual_discount_rate},
    )


#: Hillstrom columns used as features (history_segment only buckets `history`).
HILLSTROM_FEATURES = ("recency", "history", "mens", "womens", "zip_code", "newbie", "channel")


def read_table(path) -> pd.DataFrame:
    """A one-row-per-customer table from a CSV (optionally compressed) or parquet file, types inferred."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"table file {str(path)!r} does not exist")
    if path.is_dir() or path.name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def table_campaign(table: pd.DataFrame, treatment: str, arm, control, outcomes: dict, features, *,
                   id: str | None = None, propensity=None, margin_rate: float | None = None,
                   discount_rate: float = 0.0, contact_cost: float = 0.0, window_days: float | None = None,
                   source: str = "table") -> CampaignData:
    """A campaign given as one row per customer: features, the arm received and the outcomes (Hillstrom-like).

    Parameters
    ----------
    table : one row per customer.
    treatment : column with the arm each customer received; ``arm`` and ``control`` name the two values
        compared (compared as text, so ``1`` and ``"1"`` match). Rows of any other arm are left out and counted
        (``other_arm``). ``arm`` may be a list of several offer arms: a multi-arm campaign (treatment codes
        1..K in the list's order; see :mod:`loyalty.targeting.arms`).
    outcomes : ``{"conversion": column, "spend": column}`` and/or ``"margin": column``: conversion (0/1) is
        required; ``spend`` is revenue (currency), ``margin`` gross margin (currency; else spend ×
        ``margin_rate``).
    features : columns the models see; text and boolean columns become categorical (LightGBM-native).
    id : customer id column (default: the row number).
    propensity : a column, a number in (0, 1), or None for the observed treated share. With several arms: None
        for each arm's observed share, or a column holding P(arm received), one value per arm (a design with
        fixed arm probabilities), rescaled to sum to 1 over the compared arms.
    margin_rate, discount_rate, contact_cost : the economics the table does not record (stated assumptions):
        ``net_margin`` = margin − (for treated customers) spend × discount_rate − contact_cost.
    window_days : the response window the outcomes were measured over (reported only).

    Returns
    -------
    CampaignData with ``info["accounting"]``: rows read = used + excluded (``other_arm``: an arm not compared)
    + rejected, by reason (``missing_treatment``, ``missing_outcome``, ``missing_id``, ``duplicate_id``,
    ``invalid_propensity``).
    """
    named = {"treatment": treatment, **{f"outcomes.{k}": v for k, v in outcomes.items()},
             **{f"features[{i}]": c for i, c in enumerate(features)}}
    if id is not None:
        named["id"] = id
    if isinstance(propensity, str):
        named["propensity"] = propensity
    absent = {role: column for role, column in named.items() if column not in table.columns}
    if absent:
        role, column = next(iter(absent.items()))
        raise DataValidationError(f"table has no column {column!r} (named by {role}); it has {list(table.columns)}")
    unknown = sorted(set(outcomes) - {"conversion", "spend", "margin"})
    if unknown or "conversion" not in outcomes or not {"spend", "margin"} & set(outcomes):
        raise DataValidationError(f"outcomes must name 'conversion' and 'spend' and/or 'margin' columns, got {outcomes}")
    if "margin" not in outcomes and margin_rate is None:
        raise DataValidationError("the table's outcomes have spend but no margin: state margin_rate")
    if "spend" not in outcomes and discount_rate:
        raise DataValidationError("a discount_rate needs the spend outcome (the discount is a share of spend)")
    n_read = len(table)
    label = table[treatment].astype(str).where(table[treatment].notna())
    rejected = {"missing_treatment": label.isna().to_numpy()}
    arms = [str(a) for a in arm] if isinstance(arm, (list, tuple)) else [str(arm)]
    if len(arms) > 1 and propensity is not None and not isinstance(propensity, str):
        raise DataValidationError(f"with several arms {arms} the propensity is a column (P(arm received)) or None "
                                  f"(each arm's observed share), not the number {propensity}")
    rejected["other_arm"] = ~rejected["missing_treatment"] & ~label.isin([*arms, str(control)]).to_numpy()
    values = {role: pd.to_numeric(table[column], errors="coerce") for role, column in outcomes.items()}
    rejected["missing_outcome"] = np.logical_or.reduce([~np.isfinite(v.to_numpy(dtype=float)) for v in values.values()])
    if id is not None:
        rejected["missing_id"] = table[id].isna().to_numpy()
        rejected["duplicate_id"] = table[id].duplicated(keep=False).to_numpy() & table[id].notna().to_numpy()
    if isinstance(propensity, str):
        e = pd.to_numeric(table[propensity], errors="coerce").to_numpy(dtype=float)
        rejected["invalid_propensity"] = ~((e > 0) & (e < 1))
    elif propensity is not None and not 0 < propensity < 1:
        raise DataValidationError(f"propensity must be strictly between 0 and 1, got {propensity}")
    counts, used = {}, np.ones(n_read, dtype=bool)
    for reason, mask in rejected.items():  # each row counted once, under its first reason
        counts[reason] = int((mask & used).sum())
        used &= ~mask
    excluded = {"other_arm": counts.pop("other_arm")} if counts["other_arm"] else {}
    rows = np.flatnonzero(used)
    if len(rows) == 0:
        raise DataValidationError(f"no usable row in the table ({n_read:,} read): {counts}")
    data = table.iloc[rows].reset_index(drop=True)
    multi = len(arms) > 1
    if multi:
        t = np.zeros(len(rows), dtype=int)
        for code, name in enumerate(arms, start=1):
            t[(label.iloc[rows] == name).to_numpy()] = code
        arm_propensity = _arm_probabilities(t, [str(control), *arms], e[rows] if isinstance(propensity, str) else None)
        e = arm_propensity[np.arange(len(t)), t]
    else:
        arm = arms[0] if isinstance(arm, (list, tuple)) else arm
        t = (label.iloc[rows] == str(arm)).astype(int).to_numpy()
    if t.sum() == 0 or (t != 0).all():
        raise DataValidationError(f"the table needs customers in both arms {arm!r} and {control!r}; "
                                  f"{int((t != 0).sum()):,} of {len(t):,} usable rows are in {arm!r}")
    share = float((t != 0).mean())
    if not multi:
        e = share if propensity is None else e[rows] if isinstance(propensity, str) else float(propensity)
    spend = values["spend"].to_numpy(dtype=float)[rows] if "spend" in values else None
    margin = values["margin"].to_numpy(dtype=float)[rows] if "margin" in values else spend * margin_rate
    treated = t != 0  # any offer arm
    discount = np.where(treated, spend * discount_rate, 0.0) if spend is not None else np.zeros(len(rows))
    contact = np.where(treated, contact_cost, 0.0)
    frame = pd.DataFrame({
        "customer_id": data[id].to_numpy() if id is not None else rows, "treatment": t, "propensity": e,
        "contact_cost": contact_cost, "discount_rate": discount_rate,
        "converted": values["conversion"].to_numpy()[rows],
        "revenue": spend if spend is not None else np.nan, "margin": margin,
        "discount": discount, "offer_cost": discount + contact,
        "net_margin": margin - discount - contact,
    })
    X = data[list(features)].copy()
    for column in X.columns:
        series = X[column]
        if ptypes.is_object_dtype(series) or ptypes.is_string_dtype(series) or ptypes.is_bool_dtype(series):
            X[column] = series.astype("category")
    accounting = {"rows_read": n_read, "rows_used": len(rows), "rows_excluded": sum(excluded.values()),
                  "rows_rejected": sum(counts.values()), "excluded": excluded,
                  "rejected": {k: v for k, v in counts.items() if v}}
    campaign = CampaignData(
        X=X, frame=frame, outcomes={"conversion": "converted", "net_margin": "net_margin"}, balance=list(X.columns),
        info={"source": source, "customers": len(frame), "arm": arm, "control": control,
              "treated_share": share, "margin_rate": margin_rate, "discount_rate": discount_rate,
              "contact_cost": contact_cost, "response_window_days": window_days, "accounting": accounting},
    )
    if multi:
        campaign.arms, campaign.arm_propensity = arms, arm_propensity
        campaign.arm_terms = [{"contact_cost": float(contact_cost), "discount_rate": float(discount_rate)}
                              for _ in arms]
        campaign.info["arms"] = arms
        campaign.info["arm_shares"] = {name: float((t == code).mean())
                                       for code, name in enumerate([str(control), *arms])}
    return campaign


def _arm_probabilities(codes: np.ndarray, labels: list, stated: np.ndarray | None) -> np.ndarray:
    """P(arm | customer) for every arm (customers × arms, control first) of a campaign with fixed arm probabilities.

    ``stated``: each customer's stated P(arm received), or None for each arm's observed share. Stated probabilities
    must be one value per arm (a design that randomizes with fixed arm shares; a stratified multi-arm design is not
    supported); when they do not sum to 1 (arms left out of the comparison, whose customers are left out of the data
    too) they are rescaled to, which conditions on being in one of the arms compared."""
    k = len(labels)
    counts = np.bincount(codes, minlength=k)
    empty = [labels[a] for a in range(k) if counts[a] == 0]
    if empty:
        raise DataValidationError(f"no customer in arm(s) {empty}: every arm compared needs customers "
                                  f"(counts {dict(zip(labels, counts.tolist()))})")
    if stated is None:
        probabilities = counts / counts.sum()
    else:
        probabilities = np.empty(k)
        for a in range(k):
            values = np.asarray(stated, dtype=float)[codes == a]
            if values.max() - values.min() > 1e-9:
                raise DataValidationError(
                    f"arm {labels[a]!r} has stated propensities from {values.min():g} to {values.max():g}: with "
                    "several offer arms each arm's probability must be one number (fixed arm shares); a stratified "
                    "multi-arm design is not supported")
            probabilities[a] = values[0]
        if abs(probabilities.sum() - 1.0) > 1e-9:  # arms left out: condition on the arms compared
            probabilities = probabilities / probabilities.sum()
    return np.tile(probabilities, (len(codes), 1))


def hillstrom_campaign(arm: str, control: str, margin_rate: float, discount_rate: float,
                       contact_cost: float) -> CampaignData:
    """Hillstrom, ``arm`` (e.g. ``"Womens E-Mail"``) against ``control`` (``"No E-Mail"``), through
    :func:`table_campaign`.

    Outcomes (two weeks): ``converted``; ``net_margin`` = spend × margin_rate, minus for treated customers the
    discount on their spend (spend × discount_rate) and the contact cost: every economic term is an assumption
    stated in the spec, since the file records revenue only.
    """
    data = load_hillstrom()
    arms = set(data["segment"].unique())
    for name in (arm, control):
        if name not in arms:
            raise DataValidationError(f"Hillstrom has no arm {name!r}; its arms are {sorted(arms)}")
    return table_campaign(
        data, "segment", arm, control, {"conversion": "conversion", "spend": "spend"}, HILLSTROM_FEATURES,
        id="customer_id", margin_rate=margin_rate, discount_rate=discount_rate, contact_cost=contact_cost,
        window_days=14, source="hillstrom",
    )
