"""Time-invariant customer covariates for the repeat-purchase models (Fader & Hardie 2007, note 019).

Fader, P. S. & Hardie, B. G. S. (2007). "Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD
models" (http://brucehardie.com/notes/019/). The parametrisation is CLVTools' (Meierer et al.): a covariate
vector z_i scales the gamma rate of the purchase process, α_i = α exp(-γ₁ᵀz_i), so a positive purchase
coefficient means more purchases; for Pareto/NBD the dropout rate's gamma rate, β_i = β exp(-γ₂ᵀz_i), so a
positive dropout coefficient means a shorter life.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataValidationError

__all__ = ["covariate_matrix"]


def covariate_matrix(summary: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The named covariate columns as a float matrix (rows: customers), checked: present, numeric, finite.

    Raises :class:`~loyalty.errors.DataValidationError` naming the column (and an example row) otherwise.
    """
    if len(set(names)) != len(names):
        raise DataValidationError(f"covariates named more than once: {names}")
    missing = [n for n in names if n not in summary.columns]
    if missing:
        raise DataValidationError(
            f"covariate column(s) {missing} missing from the summary; got {list(summary.columns)}"
        )
    if not names:
        return np.zeros((len(summary), 0))
    for name in names:
        if not pd.api.types.is_numeric_dtype(summary[name]):
            raise DataValidationError(
                f"covariate {name!r} has dtype {summary[name].dtype}; covariates must be numeric or boolean "
                "(encode categories as 0/1 indicator columns)"
            )
    z = summary[names].to_numpy(dtype=float)
    bad = ~np.isfinite(z)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataValidationError(
            f"covariates have {int(bad.any(axis=1).sum()):,} rows with missing or infinite values, e.g. "
            f"column {names[col]!r} at row {summary.index[row]!r}"
        )
    return z
