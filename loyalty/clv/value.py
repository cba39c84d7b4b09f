"""Customer lifetime value: discounted expected margin over a horizon, with an uncertainty interval."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataValidationError, NotFittedError
from ..units import DAYS_PER_YEAR, unit_days
from . import _maths
from ._mle import unique_rows
from .beta_geo import BetaGeo
from .gamma_gamma import GammaGamma
from .nbd import NBD

__all__ = ["customer_lifetime_value"]


def customer_lifetime_value(
    bgnbd,
    gg: GammaGamma,
    summary: pd.DataFrame,
    horizon: float = 12,
    period: str | float = "M",
    annual_discount_rate: float = 0.10,
    margin_rate=None,
    value: str = "margin",
    time_unit: str | None = None,
    interval: float | None = 0.95,
) -> pd.DataFrame:
    """Expected discounted margin (or revenue) per customer over the next ``horizon`` periods.

    CLV_i = Σ_k ΔE_ik · v_i · (1 + d)^(−k·Δ/year), where ΔE_ik is the transaction model's expected number of
    purchases in step k (BG/NBD: FHL 2005, eq. 10, differenced; MBG/NBD and Pareto/NBD: their
    ``expected_purchases``), v_i the expected value per purchase (Gamma-Gamma, note 025 eq. 5,
    times the margin rate for margin CLV), Δ the step length and d the annual discount rate; each step's cash
    flow is discounted from its end.

    Parameters
    ----------
    bgnbd, gg : a fitted transaction model and a fitted GammaGamma
        The transaction model is a ``BetaGeo`` or an ``NBD`` (no dropout, P(alive) = 1) (the fast path:
        purchases given alive evaluated once per distinct (x, T)), or any other model of
        :data:`loyalty.clv.TRANSACTION_MODELS` (``ModifiedBetaGeo``, ``ParetoNBD``), fitted without covariates.
    summary : DataFrame
        Customers to score (``frequency``, ``recency``, ``T``, ``monetary_value``; ``margin_rate`` for margin CLV
        unless ``margin_rate`` is given), in the time unit the BG/NBD model was fitted in.
    horizon : float
        Number of steps of length ``period`` (``horizon=12, period="M"``: one year in months).
    period : str or float
        Step length: ``"D", "W", "M", "Q", "Y"`` (a month is 365.25/12 days) or a number of days.
    annual_discount_rate : float
        Yearly discount rate, e.g. 0.10.
    margin_rate : float or Series, optional
        Margin share of revenue; default the summary's per-customer ``margin_rate``.
    value : {"margin", "revenue"}
        CLV is margin; revenue only when asked for.
    time_unit : str, optional
        Unit of the summary's recency and T; default the unit the BG/NBD model was fitted in.
    interval : float or None, default 0.95
        Level of the per-customer interval from the parameters' uncertainty (delta method on the log
        parameters of both models, taken as independent); ``None`` skips it (about 8x faster). When a model's
        covariance is unknown or not finite (e.g. loaded from parameters alone) there is no interval: the columns
        are left out, ``attrs["interval_unavailable"]`` says why and a ``RuntimeWarning`` is raised, so an
        interval is never NaN next to a number.

    Returns
    -------
    DataFrame
        Indexed like ``summary``: ``clv``, ``expected_purchases`` (over the horizon, undiscounted),
        ``value_per_purchase``, and with ``interval`` also ``clv_se``, ``clv_lower``, ``clv_upper``
        (lower bound clipped at 0).

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> from loyalty.clv import BetaGeo, GammaGamma
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> bg, gg = BetaGeo().fit(summary), GammaGamma().fit(summary)
    >>> clv = customer_lifetime_value(bg, gg, summary, horizon=12, period="M", margin_rate=0.2)
    >>> list(clv.columns)
    ['clv', 'expected_purchases', 'value_per_purchase', 'clv_se', 'clv_lower', 'clv_upper']
    """
    for model, name in ((bgnbd, "bgnbd"), (gg, "gg")):
        if not hasattr(model, "params_"):
            raise NotFittedError(f"{name} is not fitted; fit it on a summary first")
    if getattr(bgnbd, "covariates_", None):
        raise DataValidationError(
            f"customer_lifetime_value does not use covariates yet; {type(bgnbd).__name__} was fitted with "
            f"{bgnbd.covariates_}: fit it without covariates for CLV"
        )
    if value not in ("margin", "revenue"):
        raise DataValidationError(f"value must be 'margin' or 'revenue', got {value!r}")
    if horizon <= 0 or annual_discount_rate <= -1:
        raise DataValidationError(
            f"need horizon > 0 and annual_discount_rate > -1, got horizon={horizon}, "
            f"annual_discount_rate={annual_discount_rate}"
        )
    unit = time_unit or getattr(bgnbd, "time_unit_", None) or summary.attrs.get("unit")
    if unit is None:
        raise DataValidationError(
            "the summary's time unit is unknown: pass time_unit='D' (or 'W', ...) for recency and T"
        )
    step = unit_days(period) / unit_days(unit)
    n_steps = int(np.ceil(horizon - 1e-9))
    ends = np.minimum(np.arange(1, n_steps + 1), horizon) * step
    discount = (1.0 + annual_discount_rate) ** (-ends * unit_days(unit) / DAYS_PER_YEAR)

    purchase_maths = _purchase_maths(bgnbd)
    x = summary["frequency"].to_numpy(dtype=float)
    t_x = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    if gg.value_column_ == "margin_value":  # the spend model already forecasts margin per purchase
        if value == "revenue":
            raise DataValidationError("gg was fitted on margin_value, so it cannot give revenue CLV")
        rate = 1.0
    else:
        rate = 1.0 if value == "revenue" else np.asarray(_maths.margin_rate(summary, margin_rate), dtype=float)

    if gg.value_column_ not in summary.columns:
        raise DataValidationError(
            f"CLV needs spend per purchase: the summary has no {gg.value_column_!r} column (the log had no amounts); "
            "P(alive) and expected purchases need no spend"
        )
    m = np.where(x > 0, summary[gg.value_column_].to_numpy(dtype=float), 0.0)
    # purchases given alive depend on (x, T) only: discount them once per distinct pair, not per customer
    (pair_x, pair_T), pair_of, _ = unique_rows(x, T)

    def evaluate(bg_params: dict, gg_params: dict):
        per_purchase = _maths.expected_spend(gg_params, x, m) * rate
        if purchase_maths is None:  # any other transaction model: its own conditional expectation
            at = type(bgnbd).from_params(bg_params)  # no unit check here: the summary is in `unit`, as below
            cumulative = np.column_stack([at.expected_purchases(summary, end).to_numpy(dtype=float) for end in ends])
            discounted = np.diff(cumulative, axis=1, prepend=0.0) @ discount
            return discounted * per_purchase, cumulative[:, -1], per_purchase
        p_alive, if_alive_matrix = purchase_maths
        if_alive = if_alive_matrix(bg_params, pair_x, pair_T, ends)
        discounted_if_alive = np.diff(if_alive, axis=1, prepend=0.0) @ discount
        alive = p_alive(bg_params, x, t_x, T)
        purchases = if_alive[:, -1][pair_of] * alive
        return discounted_if_alive[pair_of] * alive * per_purchase, purchases, per_purchase

    clv, purchases, per_purchase = evaluate(bgnbd.params_, gg.params_)
    out = pd.DataFrame(
        {"clv": clv, "expected_purchases": purchases, "value_per_purchase": per_purchase}, index=summary.index
    )
    if interval is None:
        return out
    unknown = [type(m).__name__ for m in (bgnbd, gg) if not np.all(np.isfinite(m.covariance_))]
    se = None if unknown else _delta_method_se(evaluate, bgnbd, gg, clv)
    if se is None or not np.all(np.isfinite(se)) or not np.all(np.isfinite(clv)):
        reason = ("no CLV interval: " + (
            f"the parameter covariance of {' and '.join(unknown)} is unknown (a model made from parameters alone, "
            "or a fit whose standard errors are not identified); refit on data for one" if unknown else
            f"the delta method gives a non-finite standard error for {int(np.sum(~np.isfinite(se))):,} customers"))
        warnings.warn(reason, RuntimeWarning, stacklevel=2)
        out.attrs["interval_unavailable"] = reason
    else:
        z = stats.norm.ppf(0.5 + interval / 2)
        out["clv_se"] = se
        out["clv_lower"] = np.maximum(clv - z * se, 0.0)
        out["clv_upper"] = clv + z * se
    return out


def _purchase_maths(model):
    """P(alive) and the expected-purchases-if-alive matrix of a fitted BetaGeo or NBD, as functions of its
    parameters (the delta method evaluates them at shifted parameters); None for any other transaction model,
    which is evaluated through its own ``expected_purchases``."""
    if isinstance(model, NBD):
        return (lambda params, x, t_x, T: np.ones(len(x))), _maths.nbd_expected_purchases
    if isinstance(model, BetaGeo):
        return _maths.p_alive, _maths.expected_purchases_if_alive
    return None


def _delta_method_se(evaluate, bgnbd, gg: GammaGamma, base: np.ndarray) -> np.ndarray:
    """Per-customer standard error of CLV from both models' log-parameter covariances (forward differences)."""
    blocks = [(bgnbd, list(bgnbd.params_)), (gg, list(gg.params_))]
    gradients, covariances = [], []
    for model, names in blocks:
        covariances.append(model.covariance_)
        for j, name in enumerate(names):
            h = 1e-6
            shifted = dict(model.params_)
            shifted[name] = model.params_[name] * np.exp(h)
            args = (shifted, gg.params_) if model is bgnbd else (bgnbd.params_, shifted)
            gradients.append((evaluate(*args)[0] - base) / h)
    jacobian = np.column_stack(gradients)
    k1 = covariances[0].shape[0]
    covariance = np.zeros((jacobian.shape[1],) * 2)
    covariance[:k1, :k1] = covariances[0]
    covariance[k1:, k1:] = covariances[1]
    variance = np.einsum("ij,jk,ik->i", jacobian, covariance, jacobian)
    return np.sqrt(np.maximum(variance, 0.0))
