"""Your campaign's files, validated: a transaction log, an assignments file and optionally customer attributes.

The assignments contract (DESIGN.md section 2; what ``loyalty simulate --out`` writes): ``customer_id``,
``campaign_id``, ``assigned_at``, ``treatment`` (arm label, or 0/1), optional ``propensity`` (probability of the
arm received) and offer terms ``contact_cost``, ``discount_rate``, ``coupon_value``.

The log goes through :func:`loyalty.data.validate_transactions`. Every assignment row is then either used,
excluded (``other_campaign``: another campaign of the file than the one asked for) or rejected with a reason,
checked in that order, each row counted once under its first reason:

=========================== ========================================================================
reason                      rejected rows
=========================== ========================================================================
``missing_customer_id``     id null or blank
``missing_assigned_at``     ``assigned_at`` null or blank
``unparseable_assigned_at`` ``assigned_at`` text that does not parse as a date/datetime
``missing_treatment``       ``treatment`` null or blank
``duplicate_assignment``    exact copy of an earlier row (the first is kept)
``assigned_twice``          a customer with two different rows for one campaign (every such row: which one
                            is right cannot be known)
``unknown_treatment``       ``treatment`` neither the control nor a named arm
``invalid_propensity``      ``propensity`` given but not a number strictly between 0 and 1
``invalid_offer_terms``     ``contact_cost`` or ``coupon_value`` negative or not a number, ``discount_rate``
                            outside [0, 1)
``no_transactions``         the customer has no transaction in the (clean) log
``assigned_outside_log``    ``assigned_at`` before the log's first transaction or at/after its end
=========================== ========================================================================

Blank offer terms are kept as missing (NaN): the caller fills them from its stated economics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import DataValidationError
from .contract import example_values
from .io import log_format, read_transactions
from .rules import WHITESPACE
from .validate import validate_transactions

__all__ = ["ASSIGNMENT_COLUMNS", "ASSIGNMENT_REJECT_REASONS", "CampaignFiles", "AssignmentValidation",
           "read_frame", "validate_assignments", "load_campaign_files", "compact_customer_ids"]

#: Required assignment columns, then the optional ones.
ASSIGNMENT_COLUMNS = ("customer_id", "campaign_id", "assigned_at", "treatment",
                      "propensity", "contact_cost", "discount_rate", "coupon_value")
ASSIGNMENT_REJECT_REASONS = ("missing_customer_id", "missing_assigned_at", "unparseable_assigned_at",
                             "missing_treatment", "duplicate_assignment", "assigned_twice", "unknown_treatment",
                             "invalid_propensity", "invalid_offer_terms", "no_transactions", "assigned_outside_log")
_REQUIRED = ASSIGNMENT_COLUMNS[:4]
_TERMS = ("contact_cost", "discount_rate", "coupon_value")


@dataclass(frozen=True)
class AssignmentValidation:
    """Output of :func:`validate_assignments`.

    Attributes
    ----------
    assignments : the used rows, in input order: ``customer_id`` (the log's id type), ``campaign_id``,
        ``assigned_at`` (naive datetime64), ``arm`` (the label as text), ``treatment`` (0 control, 1 any offer
        arm), ``propensity`` (NaN when the file has none), the offer terms (NaN when blank or absent).
    rejects : rejected rows as given, plus ``row`` (0-based position in the file) and ``reason``.
    accounting : ``rows_read`` = ``rows_used`` + ``rows_excluded`` + ``rows_rejected``, with counts by reason.
    control, arms : the control label and the offer arms' labels (text).
    """

    assignments: pd.DataFrame
    rejects: pd.DataFrame
    accounting: dict
    control: str
    arms: list


@dataclass(frozen=True)
class CampaignFiles:
    """Output of :func:`load_campaign_files`: the clean log, the validated assignments, customer attributes
    (indexed by ``customer_id``, or None), the log's span ``[log_start, log_end)`` and the row accounting of
    every file (``{"transactions": ..., "assignments": ..., "customers": ...}``)."""

    transactions: pd.DataFrame
    assignments: pd.DataFrame
    customers: pd.DataFrame | None
    log_start: pd.Timestamp
    log_end: pd.Timestamp
    control: str
    arms: list
    accounting: dict = field(default_factory=dict)
    rejects: pd.DataFrame | None = None


def read_frame(path: str | Path, columns: Mapping[str, str] | None = None, text: bool = True) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or parquet file or folder and rename ``{contract_name: your_name}``.

    ``text=True`` reads CSV values as text (they are parsed and checked later); ``False`` infers types
    (customer attributes used as features).
    """
    if log_format(path) == "parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str if text else None, keep_default_na=False, na_values=[""])
    columns = dict(columns or {})
    absent = {k: v for k, v in columns.items() if v not in frame.columns}
    if absent:
        raise DataValidationError(f"{Path(path).name}: column mapping refers to columns not in the file: {absent}; "
                                  f"the file has {list(frame.columns)}")
    return frame.rename(columns={v: k for k, v in columns.items()})


def validate_assignments(assignments: pd.DataFrame, transactions: pd.DataFrame, *, campaign_id=None, control=None,
                         arm=None, log_end=None) -> AssignmentValidation:
    """Check an assignments table against the contract and a clean log (reasons in the module docstring).

    Parameters
    ----------
    assignments : raw assignments with contract column names.
    transactions : the clean log (:func:`loyalty.data.validate_transactions`).
    campaign_id : keep this campaign only (other rows are counted as ``other_campaign``); required when the
        file holds several campaigns.
    control : the control arm's label (compared as text); default ``0`` when the labels are 0/1.
    arm : the offer arm's label, or a list of them; default every label other than ``control`` (several: a
        multi-arm campaign).
    log_end : end of the log (exclusive); default the day after its last transaction.

    Raises
    ------
    DataValidationError
        A required column is missing, several campaigns and no ``campaign_id``, the campaign or the control arm
        does not occur, or no row is usable.
    """
    missing = [c for c in _REQUIRED if c not in assignments.columns]
    if missing:
        raise DataValidationError(f"Required column {missing[0]!r} missing from assignments; "
                                  f"they have {list(assignments.columns)}. Map yours with assignment_columns.")
    raw = assignments.reset_index(drop=True)
    n = len(raw)
    if n == 0:
        raise DataValidationError("the assignments file is empty (0 rows)")
    reason = np.full(n, "", dtype=object)

    def reject(mask, name):
        mask = np.asarray(mask, dtype=bool) & (reason == "")
        reason[mask] = name

    ids = _text(raw["customer_id"])
    reject(ids.isna(), "missing_customer_id")
    assigned_text = raw["assigned_at"]
    if ptypes.is_datetime64_any_dtype(assigned_text):
        assigned_at = assigned_text
        blank = assigned_at.isna().to_numpy()
        bad = np.zeros(n, dtype=bool)
    else:
        text = _text(assigned_text)
        blank = text.isna().to_numpy()
        assigned_at = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        bad = assigned_at.isna().to_numpy() & ~blank
    if assigned_at.dt.tz is not None:  # stored naive in UTC, as validate_transactions stores the log by default
        assigned_at = assigned_at.dt.tz_convert("UTC").dt.tz_localize(None)
    reject(blank, "missing_assigned_at")
    reject(bad, "unparseable_assigned_at")
    labels = _text(raw["treatment"])
    reject(labels.isna(), "missing_treatment")
    reject(raw.duplicated().to_numpy(), "duplicate_assignment")

    campaigns = _text(raw["campaign_id"]).fillna("")
    excluded = np.zeros(n, dtype=bool)
    if campaign_id is not None:
        excluded = (campaigns != str(campaign_id)).to_numpy() & (reason == "")
        if (~excluded & (reason == "")).sum() == 0:
            raise DataValidationError(f"campaign_id {campaign_id!r} does not occur in the assignments; campaigns: "
                                      f"{sorted(campaigns.unique().tolist())[:10]}")
    else:
        present = campaigns[reason == ""].unique()
        if len(present) > 1:
            raise DataValidationError(f"the assignments hold {len(present)} campaigns "
                                      f"({example_values(pd.Series(sorted(present)))}): name one with campaign_id")
    live = (reason == "") & ~excluded  # exact copies are already out: a repeated pair now differs
    pair = pd.DataFrame({"id": ids, "campaign": campaigns})
    reject(live & _repeated(pair, live), "assigned_twice")

    control, arms = _arms(labels[(reason == "") & ~excluded], control, arm)
    reject(~labels.isin([control, *arms]).to_numpy() & ~excluded, "unknown_treatment")
    numbers = {}
    if "propensity" in raw.columns:
        numbers["propensity"] = _number(raw["propensity"])
        e = numbers["propensity"].to_numpy()
        reject(~((e > 0) & (e < 1)) & ~excluded, "invalid_propensity")
    for term in _TERMS:
        if term in raw.columns:
            numbers[term] = _number(raw[term])
            value = numbers[term].to_numpy()
            given = ~np.isnan(value) | _text(raw[term]).notna().to_numpy()
            ok = (value >= 0) & ((value < 1) if term == "discount_rate" else np.isfinite(value))
            reject(given & ~ok & ~excluded, "invalid_offer_terms")

    log_ids = transactions["customer_id"]
    ids = _like(ids, log_ids)
    reject(~ids.isin(log_ids.unique()).to_numpy() & ~excluded, "no_transactions")
    log_start = transactions["timestamp"].min()
    log_end = _log_end(transactions, log_end)
    reject(((assigned_at < log_start) | (assigned_at >= log_end)).to_numpy() & ~excluded, "assigned_outside_log")

    used = (reason == "") & ~excluded
    if not used.any():
        counts = pd.Series(reason[reason != ""]).value_counts().to_dict()
        raise DataValidationError(f"no usable assignment ({n:,} rows read; rejected: {counts})")
    rows = np.flatnonzero(used)
    out = pd.DataFrame({"customer_id": ids.to_numpy()[rows], "campaign_id": campaigns.to_numpy()[rows],
                        "assigned_at": assigned_at.to_numpy()[rows], "arm": labels.to_numpy()[rows]})
    out["treatment"] = (out["arm"] != control).astype(np.int8)
    out["propensity"] = numbers["propensity"].to_numpy()[rows] if "propensity" in numbers else np.nan
    for term in _TERMS:
        out[term] = numbers[term].to_numpy()[rows] if term in numbers else np.nan
    rejected = reason != ""
    rejects = raw[rejected].assign(row=np.flatnonzero(rejected), reason=reason[rejected])
    accounting = {"rows_read": n, "rows_used": int(used.sum()), "rows_excluded": int(excluded.sum()),
                  "rows_rejected": int(rejected.sum()),
                  "excluded": {"other_campaign": int(excluded.sum())} if excluded.any() else {},
                  "rejected": {r: int((reason == r).sum()) for r in ASSIGNMENT_REJECT_REASONS if (reason == r).any()}}
    assert accounting["rows_read"] == accounting["rows_used"] + accounting["rows_excluded"] + accounting["rows_rejected"]
    return AssignmentValidation(out, rejects.reset_index(drop=True), accounting, control, arms)


def load_campaign_files(transactions, assignments, customers=None, *, columns: Mapping[str, str] | None = None,
                        assignment_columns: Mapping[str, str] | None = None,
                        customer_columns: Mapping[str, str] | None = None, customer_features=None,
                        campaign_id=None, control=None, arm=None, observed_until=None,
                        margin_rate: float | None = None) -> CampaignFiles:
    """Read and validate a campaign: transaction log, assignments and optional customer attributes.

    Parameters
    ----------
    transactions, assignments, customers : paths (CSV, optionally compressed, or parquet file or folder) or
        DataFrames.
    columns, assignment_columns, customer_columns : ``{contract_name: your_column}`` for each file
        (customers: ``customer_id`` only).
    customer_features : customer columns to keep (default: all but the id).
    campaign_id, control, arm : see :func:`validate_assignments`.
    observed_until : the log is complete before this date (exclusive); default the day after its last
        transaction. Outcomes are only measured inside it.
    margin_rate : margin share of amount when the log has no margin column.

    Returns
    -------
    CampaignFiles
    """
    raw = transactions if isinstance(transactions, pd.DataFrame) else read_transactions(transactions, columns)
    given = columns if isinstance(transactions, pd.DataFrame) else None
    raw = compact_customer_ids(raw, dict(given or {}).get("customer_id", "customer_id"))
    validated = validate_transactions(raw, columns=given, margin_rate=margin_rate)
    del raw  # the raw log is not needed past validation: free it before the assignments are checked
    clean = validated.transactions
    if ptypes.is_object_dtype(clean["customer_id"]) or isinstance(clean["customer_id"].dtype, pd.CategoricalDtype):
        # compact Arrow-backed text: a Python string object per row costs ~60 bytes (0.5 GB for 7M rows)
        clean["customer_id"] = clean["customer_id"].astype("str")
    if not isinstance(assignments, pd.DataFrame):
        assignments = read_frame(assignments, assignment_columns)
    elif assignment_columns:
        assignments = assignments.rename(columns={v: k for k, v in assignment_columns.items()})
    log_end = _log_end(clean, observed_until)
    checked = validate_assignments(assignments, clean, campaign_id=campaign_id, control=control, arm=arm,
                                   log_end=log_end)
    accounting = {"transactions": validated.accounting.as_dict(), "assignments": checked.accounting}
    attributes = None
    if customers is not None:
        attributes = _customers(customers, customer_columns, customer_features, clean["customer_id"])
        accounting["customers"] = {"rows_read": len(attributes),
                                   "assigned_without_attributes": int((~checked.assignments["customer_id"]
                                                                       .isin(attributes.index)).sum())}
    return CampaignFiles(clean, checked.assignments, attributes, clean["timestamp"].min(), log_end,
                         checked.control, checked.arms, accounting, checked.rejects)


def compact_customer_ids(raw: pd.DataFrame, column: str = "customer_id") -> pd.DataFrame:
    """The log with its text customer ids as a categorical column, when that validates to the same clean log.

    :func:`~loyalty.data.validate_transactions` turns text ids into one Python string per row and copies the clean
    log while netting returns and checking spend per customer: at 7.3M rows (a million customers) that is 2.6 GB
    of temporaries. Categorical ids are 4-byte codes into the distinct ids, which the same rules read the same
    way: the validation's ids are stripped of :data:`~loyalty.data.rules.WHITESPACE` and blanks are missing, so
    the conversion is made only when no distinct id has surrounding whitespace or is blank (then stripping
    changes nothing and missing ids are already null); otherwise, and for non-text ids, the log is returned as
    given. The frame is not modified (a new frame shares the other columns).
    """
    if column not in raw.columns:
        return raw
    values = raw[column]
    if not ptypes.is_string_dtype(values) or ptypes.is_object_dtype(values):
        return raw  # numbers, or objects that may mix types: validation reports those as they are
    ids = values.astype("category")
    distinct = ids.cat.categories.to_series()
    if (distinct.str.strip(WHITESPACE) != distinct).any() or (distinct == "").any():
        return raw
    compact = raw.copy(deep=False)
    compact[column] = ids
    return compact


def _customers(customers, columns, features, log_ids) -> pd.DataFrame:
    frame = customers if isinstance(customers, pd.DataFrame) else read_frame(customers, columns, text=False)
    if isinstance(customers, pd.DataFrame) and columns:
        frame = frame.rename(columns={v: k for k, v in columns.items()})
    if "customer_id" not in frame.columns:
        raise DataValidationError(f"customers file has no 'customer_id' column (map it with customer_columns); "
                                  f"it has {list(frame.columns)}")
    ids = _like(_text(frame["customer_id"]), log_ids)
    if ids.isna().any():
        raise DataValidationError(f"customers file has {int(ids.isna().sum()):,} rows without a customer_id")
    frame = frame.drop(columns="customer_id").set_index(pd.Index(ids.to_numpy(), name="customer_id"))
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()]
        raise DataValidationError(f"customers file repeats {len(dup):,} customer ids, e.g. "
                                  f"{example_values(pd.Series(dup))}; one row per customer")
    if features is not None:
        absent = [c for c in features if c not in frame.columns]
        if absent:
            raise DataValidationError(f"customer_features {absent} are not columns of the customers file; it has "
                                      f"{list(frame.columns)}")
        frame = frame[list(features)]
    return frame


def _log_end(transactions: pd.DataFrame, observed_until=None) -> pd.Timestamp:
    if observed_until is not None:
        end = pd.Timestamp(observed_until)
        last = transactions["timestamp"].max()
        if last >= end:
            raise DataValidationError(f"observed_until {end.date()} is not after the log's last transaction "
                                      f"({last}); the log runs past it")
        return end
    return transactions["timestamp"].max().normalize() + pd.Timedelta(days=1)


def _arms(labels: pd.Series, control, arm) -> tuple[str, list]:
    present = sorted(labels.dropna().unique().tolist())
    if control is None:
        if set(present) <= {"0", "1"}:
            control = "0"
        else:
            raise DataValidationError(f"treatment labels are {present[:10]}: name the control arm with control")
    control = str(control)
    if control not in present:
        raise DataValidationError(f"control arm {control!r} does not occur in assignments.treatment "
                                  f"(labels: {present[:10]})")
    if arm is not None:
        arms = [str(a) for a in arm] if isinstance(arm, (list, tuple)) else [str(arm)]
        for name in arms:
            if name not in present:
                raise DataValidationError(f"arm {name!r} does not occur in assignments.treatment (labels: "
                                          f"{present[:10]})")
        if control in arms:
            raise DataValidationError(f"arm {control!r} is the control arm; name the offer arms with arm or arms")
    else:
        arms = [label for label in present if label != control]
        if not arms:
            raise DataValidationError(f"every assignment is in the control arm {control!r}: there is no offer to "
                                      "evaluate")
    return control, arms


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped text, blanks and nulls as NA; integral floats without the ``.0``."""
    if ptypes.is_float_dtype(values) and (values.dropna() == np.floor(values.dropna())).all():
        values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.where(text != "").astype(object).where(lambda s: s.notna(), None)


def _repeated(pair: pd.DataFrame, live: np.ndarray) -> np.ndarray:
    """Rows whose (id, campaign) occurs more than once among the live rows."""
    counts = pair[live].value_counts()
    key = pd.MultiIndex.from_frame(pair)
    return key.isin(counts[counts > 1].index)


def _number(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype(float)


def _like(ids: pd.Series, log_ids: pd.Series) -> pd.Series:
    """Assignment ids in the log's id type (integers when the log's ids are integers, else text)."""
    if ptypes.is_integer_dtype(log_ids):
        return pd.to_numeric(ids, errors="coerce").astype("Int64")
    if ptypes.is_string_dtype(log_ids) and not ptypes.is_object_dtype(log_ids):
        return ids.astype(log_ids.dtype)
    return ids
