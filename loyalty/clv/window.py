"""CLV split at a campaign's response window: what a customer is worth inside the window and after it.

One function, shared by the targeting experiment (:func:`loyalty.targeting.score_campaign`) and the scoring job's
lifecycle inputs, so that both compute the residual CLV the lifecycle score multiplies
(:mod:`loyalty.targeting.economics`) the same way.
"""

from __future__ import annotations

import pandas as pd

from ..errors import DataValidationError
from ..units import unit_days
from .beta_geo import BetaGeo
from .gamma_gamma import GammaGamma
from .model import CLVModel

__all__ = ["WINDOW_VALUE_COLUMNS", "window_values"]

#: Columns of :func:`window_values`.
WINDOW_VALUE_COLUMNS: tuple[str, ...] = ("clv", "clv_window", "residual_clv", "expected_window_purchases",
                                         "expected_spend", "margin_rate", "p_churn")


def window_values(bgnbd: BetaGeo, gamma_gamma: GammaGamma, summary: pd.DataFrame, window_days: float,
                  horizon_days: float, annual_discount_rate: float = 0.10) -> pd.DataFrame:
    """Per customer of ``summary``, the values a campaign offer is judged by, from fitted BG/NBD + Gamma-Gamma.

    Parameters
    ----------
    bgnbd, gamma_gamma : fitted models: any transaction model (BG/NBD, MBG/NBD, Pareto/NBD) and Gamma-Gamma
        (e.g. ``CLVModel.transaction_model_``, ``CLVModel.gamma_gamma_``).
    summary : customers to value, as fitted (``frequency``, ``recency``, ``T``, ``monetary_value``,
        ``margin_rate``), in the time unit the BG/NBD model was fitted in (``summary.attrs["unit"]``).
    window_days, horizon_days : the response window and the long horizon, in days, from the campaign date
        (``horizon_days > window_days``).
    annual_discount_rate : yearly rate the CLVs are discounted at, to the campaign date.

    Returns
    -------
    DataFrame indexed like ``summary`` with :data:`WINDOW_VALUE_COLUMNS`:

    - ``clv``, ``clv_window``: margin CLV over the horizon and over the window (Fader, Hardie & Lee 2005a, eq. 10;
      Fader & Hardie 2013, note 025 eq. 5; :func:`loyalty.clv.customer_lifetime_value`), currency;
    - ``residual_clv`` = ``clv − clv_window``: the value after the window, which retention protects;
    - ``expected_window_purchases``: E[purchases in the window] without the offer (FHL 2005, eq. 10);
    - ``expected_spend``: expected spend per purchase (Gamma-Gamma), currency;
    - ``margin_rate``: the summary's margin share (missing values: the mean of the others);
    - ``p_churn``: P(no purchase within the horizon).
    """
    if not horizon_days > window_days > 0:
        raise DataValidationError(f"need horizon_days > window_days > 0 (days), got window_days={window_days!r}, "
                                  f"horizon_days={horizon_days!r}")
    unit = getattr(bgnbd, "time_unit_", None) or summary.attrs.get("unit")
    if unit is None:
        raise DataValidationError("the summary's time unit is unknown: summarize with unit='D' (or 'W', ...)")
    days = unit_days(unit)
    settings = {"period": "D", "annual_discount_rate": annual_discount_rate}
    horizon = CLVModel.from_models(bgnbd, gamma_gamma, horizon=horizon_days, **settings)
    window = CLVModel.from_models(bgnbd, gamma_gamma, horizon=window_days, **settings)
    clv = horizon.score(summary, interval=None)["clv"]
    clv_window = window.score(summary, interval=None)["clv"]
    margin_rate = summary["margin_rate"].fillna(summary["margin_rate"].mean())
    return pd.DataFrame({
        "clv": clv, "clv_window": clv_window, "residual_clv": clv - clv_window,
        "expected_window_purchases": bgnbd.expected_purchases(summary, window_days / days),
        "expected_spend": gamma_gamma.expected_spend(summary),
        "margin_rate": margin_rate,
        "p_churn": bgnbd.p_no_purchase(summary, horizon_days / days),
    }, index=summary.index)
