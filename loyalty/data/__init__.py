"""Transactions in, clean data and customer summaries out.

- :func:`read_transactions`: CSV / parquet loader with a column mapping.
- :func:`validate_transactions`: the data contract: a clean log, a rejects table with reasons, and the row
  accounting (rows read = used + rejected).
- :func:`summarize`: the per-customer RFM summary at a cut-off (BG/NBD and Gamma-Gamma inputs).
- :func:`load_campaign_files`: a campaign's transaction log, assignments and customer attributes, validated,
  every assignment row used, excluded or rejected with a reason.
"""

from .campaign import (
    ASSIGNMENT_COLUMNS,
    ASSIGNMENT_REJECT_REASONS,
    AssignmentValidation,
    CampaignFiles,
    load_campaign_files,
    validate_assignments,
)
from .contract import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, apply_column_mapping
from .io import read_transactions
from .summary import summarize
from .validate import REJECT_REASONS, RowAccounting, ValidationResult, validate_transactions

__all__ = [
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "REJECT_REASONS",
    "apply_column_mapping",
    "read_transactions",
    "validate_transactions",
    "ValidationResult",
    "RowAccounting",
    "summarize",
    "ASSIGNMENT_COLUMNS",
    "ASSIGNMENT_REJECT_REASONS",
    "AssignmentValidation",
    "CampaignFiles",
    "load_campaign_files",
    "validate_assignments",
]
