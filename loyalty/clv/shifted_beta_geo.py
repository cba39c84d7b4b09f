"""sBG: the shifted-beta-geometric model of contractual retention (subscriptions, memberships with a renewal).

Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. *Journal of Interactive Marketing*
21(1), 76-90 (the model). Fader, P. S. & Hardie, B. G. S. (2010). Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity. *Marketing Science* 29(1), 85-93 (DEL and DERL).

At the end of each period a customer cancels with probability θ, fixed for the customer and θ ~ Beta(γ, δ)
across customers. The lifetime T (periods paid for, 1, 2, ...) then has

    P(T = t) = B(γ + 1, δ + t − 1) / B(γ, δ),    S(t) = P(T > t) = B(γ, δ + t) / B(γ, δ),

and the retention rate r_t = S(t) / S(t − 1) = (δ + t − 1) / (γ + δ + t − 1) rises with t as the customers
prone to cancel leave (the heterogeneity that a constant-retention projection ignores).

Periods are the contract's renewal periods (years, months); ``survival(t)`` is the share of a cohort still
active at the start of period t + 1, i.e. after t renewal decisions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, hyp2f1

from ..errors import ConvergenceError, DataValidationError
from ._mle import LikelihoodModel, unique_rows
from ._repeat import customer_weights

__all__ = ["ShiftedBetaGeo"]


class ShiftedBetaGeo(LikelihoodModel):
    """sBG model, fitted by maximum likelihood on a cohort's active counts or on per-customer lifetimes.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty ``penalizer * (gamma**2 + delta**2)`` added to the mean negative log-likelihood.
    tol : float
        Gradient tolerance of the optimiser (mean log-likelihood per customer).
    max_iter : int
        Iteration cap of the optimiser.

    Attributes
    ----------
    params_ : dict
        ``gamma``, ``delta``: the churn probability θ ~ Beta(gamma, delta); mean churn gamma / (gamma + delta).
    standard_errors_ : dict
    covariance_ : ndarray
        Covariance of the log parameters, order ``(gamma, delta)``.
    summary_ : DataFrame
        ``estimate``, ``se``, ``lower_95``, ``upper_95`` (interval on the log scale, so always positive).
    log_likelihood_ : float
        Total log-likelihood at the estimate (without the penalty).
    n_customers_ : int

    Examples
    --------
    >>> from loyalty.datasets import load_retention_cohorts
    >>> cohorts = load_retention_cohorts()
    >>> model = ShiftedBetaGeo().fit(cohorts.loc[0:7, "high_end"])
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'gamma': 0.668, 'delta': 3.806}
    >>> projection = 1000 * model.survival(range(8, 13))  # active at the start of years 8..12
    >>> margin_per_year = 100.0  # contractual CLV of a customer in year 8, about to renew
    >>> value = margin_per_year * model.discounted_expected_residual_lifetime(8, discount_rate=0.1)
    """

    _param_names = ("gamma", "delta")

    def fit(self, data: Sequence[float] | pd.Series | pd.DataFrame) -> "ShiftedBetaGeo":
        """Fit on a cohort's active counts or on per-customer rows; returns self.

        Parameters
        ----------
        data : sequence of counts, or DataFrame
            A cohort: the number of customers active at the start of periods 0, 1, 2, ... (the first is the
            number acquired), e.g. ``[1000, 869, 743, 653]``; at least three counts (two renewal decisions).
            Or one row per customer (or, with a ``weights`` column, per group of identical customers) with
            ``periods`` (whole periods the customer was active in, >= 1) and ``churned`` (True: did not renew
            after the last of them; False: still active, lifetime at least ``periods``).
        """
        periods, churned, weights = _lifetimes_of(data)
        (u_periods, u_churned), inverse, _ = unique_rows(periods, churned)
        summed = np.bincount(inverse, weights=weights, minlength=len(u_periods))
        stats = _statistics(u_periods, u_churned, summed)
        _check_identified(stats)
        self._fit_statistics(stats)
        return self

    # -- likelihood ------------------------------------------------------------------------------------------
    def _start(self, stats):
        return np.zeros(2)

    def _to_natural(self, theta, stats):
        return np.array(theta, dtype=float)

    def _describe(self, stats):
        return _describe(stats)

    def _objective(self, theta, stats):
        gamma, delta = np.exp(theta)
        t, w = stats["t_churn"], stats["w_churn"]  # log P(T = t)
        c, v = stats["t_alive"], stats["w_alive"]  # log S(c), c = periods - 1
        log_norm = betaln(gamma, delta)
        ll = np.sum(w * (betaln(gamma + 1, delta + t - 1) - log_norm)) + np.sum(v * (betaln(gamma, delta + c) - log_norm))
        psi_gd = digamma(gamma + delta)
        d_gamma = np.sum(w * (digamma(gamma + 1) - digamma(gamma + delta + t) - digamma(gamma) + psi_gd))
        d_gamma += np.sum(v * (psi_gd - digamma(gamma + delta + c)))
        d_delta = np.sum(w * (digamma(delta + t - 1) - digamma(gamma + delta + t) - digamma(delta) + psi_gd))
        d_delta += np.sum(v * (digamma(delta + c) - digamma(gamma + delta + c) - digamma(delta) + psi_gd))
        return -float(ll), -np.array([d_gamma * gamma, d_delta * delta])

    # -- predictions -----------------------------------------------------------------------------------------
    def survival(self, t) -> np.ndarray:
        """S(t) = P(T > t): the share of a cohort still active after ``t`` renewal decisions, i.e. at the start
        of period t + 1. ``t`` whole periods >= 0; times the cohort size it is the
        projected count of active customers."""
        self._require_fitted()
        t = _periods_array(t, "t", minimum=0)
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        return np.exp(betaln(gamma, delta + t) - betaln(gamma, delta))

    def churn_probability(self, t) -> np.ndarray:
        """P(T = t): the share of a new cohort that cancels at the end of period ``t`` (>= 1)."""
        self._require_fitted()
        t = _periods_array(t, "t", minimum=1)
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        return np.exp(betaln(gamma + 1, delta + t - 1) - betaln(gamma, delta))

    def retention_rate(self, t) -> np.ndarray:
        """r_t = S(t) / S(t - 1) = (δ + t - 1) / (γ + δ + t - 1): the share of customers active in period t
        who renew for period t + 1; ``t`` >= 1."""
        self._require_fitted()
        t = _periods_array(t, "t", minimum=1)
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        return (delta + t - 1) / (gamma + delta + t - 1)

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """DEL: Σ_{t>=0} S(t) / (1 + d)^t, the discounted number of periods a customer just acquired pays for,
        the first payment now (Fader & Hardie 2010): 2F1(1, δ; γ + δ; 1 / (1 + d)).

        ``discount_rate`` d is per period (0.1 for 10% a year on yearly contracts). A new customer's expected
        value is the margin per period times DEL.
        """
        self._require_fitted()
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        return float(hyp2f1(1.0, delta, gamma + delta, 1.0 / (1.0 + _discount(discount_rate))))

    def discounted_expected_residual_lifetime(self, periods, discount_rate: float) -> np.ndarray:
        """DERL: the discounted number of further payments from a customer who is at the end of period
        ``periods`` (has renewed ``periods - 1`` times) and is about to decide on the next renewal (Fader &
        Hardie 2010): Σ_{t>=n} S(t) / S(n - 1) / (1 + d)^(t - n)
        = (δ + n - 1) / (γ + δ + n - 1) · 2F1(1, δ + n; γ + δ + n; 1 / (1 + d)).

        The next payment, if they renew, is not discounted. ``discount_rate`` d is per period; contractual CLV
        (residual value) is the margin per period times DERL.
        """
        self._require_fitted()
        n = _periods_array(periods, "periods", minimum=1)
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        z = 1.0 / (1.0 + _discount(discount_rate))
        return (delta + n - 1) / (gamma + delta + n - 1) * hyp2f1(1.0, delta + n, gamma + delta + n, z)

    def residual_value(self, customers: pd.DataFrame, margin_per_period, discount_rate: float) -> pd.Series:
        """Contractual CLV of each customer in a per-customer table (``periods``, ``churned``): margin per
        period times DERL for the active ones, 0 for those who churned.

        ``margin_per_period`` is a number or an array aligned with the rows (money per period);
        ``discount_rate`` is per period.
        """
        self._require_fitted()
        if not isinstance(customers, pd.DataFrame):
            raise DataValidationError("residual_value needs a per-customer table with 'periods' and 'churned'")
        periods, churned, _ = _customer_rows(customers)
        derl = self.discounted_expected_residual_lifetime(periods, discount_rate)
        margin = np.asarray(margin_per_period, dtype=float)
        return pd.Series(np.where(churned, 0.0, margin * derl), index=customers.index, name="residual_value")


def _discount(rate: float) -> float:
    rate = float(rate)
    if not rate > 0:
        raise ValueError(f"discount_rate must be > 0 (per period), got {rate}")
    return rate


def _periods_array(values, name: str, minimum: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(array) | (array < minimum) | (array != np.floor(array))):
        bad = array[~np.isfinite(array) | (array < minimum) | (array != np.floor(array))].ravel()[:3]
        raise ValueError(f"{name} must be whole periods >= {minimum}; got e.g. {bad.tolist()}")
    return array


def _lifetimes_of(data):
    """(periods, churned, weights) from a cohort's counts or a per-customer table."""
    if isinstance(data, pd.DataFrame):
        return _customer_rows(data)
    return _cohort_rows(data)


def _cohort_rows(counts):
    try:
        active = np.asarray(counts, dtype=float).ravel()
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"cohort counts must be numbers: {error}") from None
    if len(active) < 3:
        raise DataValidationError(
            f"a cohort needs the active count at the start of at least 3 periods (the acquired count and two "
            f"renewals) to identify the sBG model; got {len(active)}: {active.tolist()}"
        )
    bad = ~np.isfinite(active) | (active < 0) | (active != np.floor(active))
    if np.any(bad):
        raise DataValidationError(
            f"cohort counts must be whole numbers >= 0; position(s) {np.flatnonzero(bad)[:3].tolist()} hold "
            f"{active[bad][:3].tolist()}"
        )
    if active[0] <= 0:
        raise DataValidationError("the first cohort count (customers acquired) must be > 0")
    rises = np.flatnonzero(np.diff(active) > 0)
    if len(rises):
        k = int(rises[0])
        raise DataValidationError(
            f"cohort counts must not increase (a cohort only loses customers): period {k + 1} has "
            f"{active[k + 1]:g} active after {active[k]:g} in period {k}"
        )
    k = len(active) - 1
    lost = active[:-1] - active[1:]  # cancelled at the end of periods 1..k
    periods = np.concatenate([np.arange(1, k + 1, dtype=float), [k + 1.0]])
    churned = np.concatenate([np.ones(k), [0.0]])
    weights = np.concatenate([lost, [active[-1]]])
    keep = weights > 0
    return periods[keep], churned[keep], weights[keep]


def _customer_rows(frame: pd.DataFrame):
    missing = [c for c in ("periods", "churned") if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"Required column(s) {missing} missing; ShiftedBetaGeo needs one row per customer with 'periods' "
            f"and 'churned' (or pass a cohort's active counts); got {list(frame.columns)}"
        )
    if len(frame) == 0:
        raise DataValidationError("cannot fit ShiftedBetaGeo on an empty table (0 customers)")
    try:
        periods = frame["periods"].to_numpy(dtype=float)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"column 'periods' must be numeric: {error}") from None
    raw = frame["churned"]
    churned = raw.isin([True, 1]).to_numpy()
    valid_flag = raw.isin([True, False, 0, 1]).to_numpy()
    bad = ~valid_flag | ~np.isfinite(periods) | (periods < 1) | (periods != np.floor(periods))
    if np.any(bad):
        example = frame.loc[bad, ["periods", "churned"]].head(3).to_dict("index")
        raise DataValidationError(
            f"{int(bad.sum()):,} of {len(frame):,} rows are invalid ('periods' must be whole periods >= 1, "
            f"'churned' True/False or 1/0), e.g. {example}"
        )
    weights = customer_weights(frame)
    return periods, churned.astype(float), np.ones(len(periods)) if weights is None else weights


def _statistics(periods, churned, weights) -> dict:
    lost = churned > 0
    return {
        "weights": weights,
        "t_churn": periods[lost], "w_churn": weights[lost],
        "t_alive": periods[~lost] - 1.0, "w_alive": weights[~lost],
    }


def _describe(stats) -> str:
    churners = float(stats["w_churn"].sum())
    total = float(stats["weights"].sum())
    last = int(max(stats["t_churn"].max(initial=0.0), stats["t_alive"].max(initial=0.0) + 1.0))
    rates = ", ".join(f"{r:.3f}" for r in _observed_retention(stats, min(last, 6)))
    return (
        f"{int(total):,} customers, {int(churners):,} of them churned, observed over up to {last} periods, "
        f"observed retention at the first renewals {rates} (sBG needs retention that rises as the churn-prone "
        "leave; flat or falling retention drives it to its constant-churn boundary)"
    )


def _observed_retention(stats, decisions: int) -> list[float]:
    """Share of the customers at each renewal decision t = 1, 2, ... who renewed (Kaplan-Meier style)."""
    rates = []
    for t in range(1, decisions + 1):
        renewed = stats["w_churn"][stats["t_churn"] > t].sum() + stats["w_alive"][stats["t_alive"] >= t].sum()
        at_risk = renewed + stats["w_churn"][stats["t_churn"] == t].sum()
        if at_risk == 0:
            break
        rates.append(float(renewed / at_risk))
    return rates


def _check_identified(stats) -> None:
    """The churn probability's mean needs a churner; its spread (what makes retention rise) needs customers
    followed past their first renewal decision."""
    if stats["w_churn"].sum() == 0:
        raise ConvergenceError(
            f"ShiftedBetaGeo cannot be fitted: no customer churned ({_describe(stats)}), so the churn "
            "probability is not identified (the maximum is at zero churn). Observe the cohort for longer."
        )
    past_first = stats["w_churn"][stats["t_churn"] >= 2].sum() + stats["w_alive"][stats["t_alive"] >= 2].sum()
    if past_first == 0:
        raise ConvergenceError(
            f"ShiftedBetaGeo cannot be fitted: every customer's outcome is known for the first renewal only "
            f"({_describe(stats)}), which identifies the mean churn rate but not how it varies across customers. "
            "Observe the cohort over at least two renewals."
        )
