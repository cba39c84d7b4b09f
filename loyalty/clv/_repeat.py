"""What the continuous-time repeat-purchase models (BG/NBD, MBG/NBD, Pareto/NBD, NBD) share: the (x, t_x, T)
inputs and their checks, the time rescaling of the fit, the unit check at prediction and ``from_params``.

Private to :mod:`loyalty.clv`: each model subclasses :class:`RepeatPurchaseModel` and writes only its
likelihood and predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ._mle import LikelihoodModel

__all__ = ["RepeatPurchaseModel", "rfm_arrays", "customer_weights", "collapse_weighted"]


class RepeatPurchaseModel(LikelihoodModel):
    """A model of each customer's repeat purchases ``x`` in ``(0, T]``, the last at ``t_x``, fitted by maximum
    likelihood on a time axis rescaled so that the oldest customer's ``T`` is 10 (as ``lifetimes`` does, for
    conditioning).

    Subclasses set ``_param_names``, ``_time_params`` (positions of the parameters that are in units of time,
    like α: they carry the rescaling) and ``_unidentified`` (what a summary without repeat purchases leaves
    unidentified, for the error), and implement the likelihood (``_start``, ``_objective``, optionally
    ``_hessian``) on statistics they build from :meth:`_rfm_inputs`.
    """

    _time_params: tuple[int, ...] = (1,)
    _unidentified = "the model is not identified"

    # -- inputs ----------------------------------------------------------------------------------------------
    def _rfm_inputs(self, summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """``x``, ``t_x``, ``T`` and the ``weights`` column (None without one) of a summary to fit on, checked:
        not empty and with at least one repeat purchase."""
        x, t_x, T = rfm_arrays(summary)
        if len(x) == 0:
            raise DataValidationError(f"cannot fit {type(self).__name__} on an empty summary (0 customers)")
        if not np.any(x > 0):
            raise DataValidationError(
                f"all {len(x):,} customers have frequency 0: with no repeat purchase {self._unidentified}. "
                "Use a longer calibration period or more customers."
            )
        return x, t_x, T, customer_weights(summary)

    @staticmethod
    def _time_scale(T: np.ndarray) -> float:
        """The factor that maps the fit's time axis to the internal one (the oldest customer's T becomes 10)."""
        return 10.0 / float(T.max())

    def _arrays(self, summary: pd.DataFrame):
        """``x``, ``t_x``, ``T`` of a summary to predict for, in the unit the model was fitted in."""
        unit = summary.attrs.get("unit")
        if unit is not None and getattr(self, "time_unit_", None) is not None and unit != self.time_unit_:
            raise DataValidationError(
                f"summary is in unit {unit!r} but the model was fitted in {self.time_unit_!r}; "
                "summarize with the same unit"
            )
        return rfm_arrays(summary)

    # -- likelihood on the rescaled axis ---------------------------------------------------------------------
    def _to_natural(self, theta, stats):
        natural = np.array(theta, dtype=float)
        natural[list(self._time_params)] -= np.log(stats["scale"])
        return natural

    def _log_likelihood_shift(self, stats):
        # a customer's likelihood is a density of x purchase times: rescaling time by s multiplies it by s^x
        return float(np.log(stats["scale"]) * np.sum(stats["weights"] * stats["x"]))

    def _describe(self, stats):
        w = stats["weights"]
        repeaters = float(w[stats["x"] > 0].sum())
        return (
            f"{int(w.sum()):,} customers, {int(repeaters):,} with repeat purchases, "
            f"max frequency {int(stats['x'].max())}"
        )

    # -- conversion ------------------------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: dict, covariance=None, time_unit: str | None = None,
                    log_likelihood: float = np.nan, n_customers: int = 0, **settings):
        """A fitted model with the given parameters (``_param_names``; those in units of time, like ``alpha``,
        in ``time_unit``: the unit of recency and T of the summaries it will score; None: unchecked). The other
        arguments are as in :meth:`loyalty.clv._mle.LikelihoodModel.from_params`."""
        model = super().from_params(params, covariance, log_likelihood, n_customers, **settings)
        model.time_unit_ = time_unit
        return model


def rfm_arrays(summary: pd.DataFrame):
    """``frequency``, ``recency`` and ``T`` of a customer summary as float arrays, checked.

    Raises :class:`~loyalty.errors.DataValidationError` naming the missing column, or the count of invalid rows
    (non-finite values, non-integer or negative frequency, recency outside [0, T], recency inconsistent with
    frequency, T <= 0) with examples. Shared by the continuous-time repeat-purchase models.
    """
    for column in ("frequency", "recency", "T"):
        if column not in summary.columns:
            raise DataValidationError(
                f"Required column {column!r} missing from the summary; got {list(summary.columns)} "
                "(make one with loyalty.data.summarize)"
            )
    x = summary["frequency"].to_numpy(dtype=float)
    t_x = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    problems = []
    if np.any(~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T)):
        problems.append("non-finite values")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        problems.append("frequency not a non-negative integer")
    if np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        problems.append("recency outside [0, T]")
    if np.any((x == 0) & (t_x != 0)):
        problems.append("recency > 0 with frequency 0")
    if np.any((x > 0) & (t_x == 0)):
        problems.append("recency 0 with frequency > 0")
    if np.any(T <= 0):
        problems.append("T <= 0 (customer acquired at the cut-off)")
    if problems:
        bad = (
            ~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T) | (x < 0) | (t_x < 0) | (t_x > T + 1e-9)
            | ((x == 0) & (t_x != 0)) | ((x > 0) & (t_x == 0)) | (T <= 0)
        )
        example = summary.loc[bad, ["frequency", "recency", "T"]].head(3).to_dict("index")
        raise DataValidationError(
            f"summary has {int(bad.sum()):,} invalid rows ({'; '.join(problems)}), e.g. {example}"
        )
    return x, t_x, T


def customer_weights(summary: pd.DataFrame) -> np.ndarray | None:
    """The ``weights`` column (customers per row) of a collapsed summary, checked; None without one."""
    if "weights" not in summary.columns:
        return None
    weights = summary["weights"].to_numpy(dtype=float)
    if np.any(~np.isfinite(weights) | (weights <= 0)):
        raise DataValidationError(
            f"column 'weights' must be positive customer counts; {int(np.sum(~(weights > 0))):,} rows are not"
        )
    return weights


def collapse_weighted(columns: list[np.ndarray], weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Identical rows of already weighted columns merged, their weights summed."""
    unique, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(unique))
    return [unique[:, i] for i in range(unique.shape[1])], summed
