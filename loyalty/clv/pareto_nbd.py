"""Pareto/NBD: the Pareto / negative binomial distribution model of repeat purchasing.

Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting your customers: who are they and what will
they do next? *Management Science* 33(1), 1-24. The likelihood and the predictions follow Fader, P. S.,
Hardie, B. G. S. & Lee, K. L. (2005), "A note on deriving the Pareto/NBD model and related expressions"
(http://brucehardie.com/notes/009/); equation numbers below refer to that note.

While alive a customer buys at rate λ ~ Gamma(r, α); their lifetime is exponential with rate μ ~ Gamma(s, β),
independent of λ. With time-invariant covariates z (Fader & Hardie 2007, note 019, in CLVTools'
parametrisation) each customer has their own α_i = α exp(-γ₁ᵀz_i) and β_i = β exp(-γ₂ᵀz_i), so a positive
γ₁ means more purchases and a positive γ₂ a shorter life.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln, hyp2f1

from ..errors import DataValidationError
from ._mle import unique_rows
from .covariates import coefficients_on_natural_scale, covariate_matrix
from ._repeat import RepeatPurchaseModel, collapse_weighted

__all__ = ["ParetoNBD", "pareto_nbd_log_likelihood"]

#: Step of the central differences in the log parameters (about the cube root of the machine epsilon).
_STEP = 6e-6
#: Step of the second differences for the Hessian (about the fourth root of the machine epsilon).
_HESSIAN_STEP = 1e-4


_BASE_PARAMS = ("r", "alpha", "s", "beta")


class ParetoNBD(RepeatPurchaseModel):
    """Pareto/NBD model, fitted by maximum likelihood on (frequency, recency, T), optionally with covariates.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the parameters, as ``lifetimes``' ``penalizer_coef`` (``penalizer * sum(params**2)`` added
        to the mean negative log-likelihood on the internally rescaled time axis). Not available with
        covariates.
    tol : float, default 1e-7
        Gradient tolerance of the optimiser (mean log-likelihood per customer). The gradient's r and s parts
        come from central differences, exact to about 1e-10; the closing Newton step of the fit goes from this
        tolerance to the optimum, so a tighter one only spends iterations.
    max_iter : int
        Iteration cap of the optimiser.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta`` (``alpha`` and ``beta`` in the summary's time unit); with covariates
        also ``purchase:<column>`` (γ₁) and ``dropout:<column>`` (γ₂), unit-free.
    standard_errors_ : dict
        From the inverse Hessian of the log-likelihood (delta method from the log scale for r, α, s, β).
    covariance_ : ndarray
        Covariance of (log r, log α, log s, log β, γ₁..., γ₂...).
    summary_ : DataFrame
        ``estimate``, ``se``, ``lower_95``, ``upper_95``: intervals on the log scale for r, α, s, β (always
        positive), on the natural scale for the coefficients.
    log_likelihood_ : float
        Total log-likelihood at the estimate (without the penalty), in the summary's time unit.
    n_customers_ : int
    covariates_ : list of str
        Covariate columns of the fit (empty without covariates); predictions read them from the summary.
    time_unit_ : str or None
        Unit of recency and T the model was fitted in (from ``summary.attrs["unit"]``).

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> model = ParetoNBD().fit(summary)
    >>> {k: round(v, 4) for k, v in model.params_.items()}
    {'r': 0.5533, 'alpha': 10.5777, 's': 0.6062, 'beta': 11.6687}
    >>> round(model.log_likelihood_, 2)
    -9594.98
    """

    _param_names = _BASE_PARAMS
    # Each gradient costs about seven likelihood evaluations (central differences in r and s): from 40,000
    # customers on, start from a fit on 10,000 and its curvature, which leaves a few steps on the full data.
    _warm_start_customers = 10_000

    _time_params = (1, 3)  # alpha and beta
    _unidentified = "the dropout parameters s and beta are not identified"

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-7, max_iter: int = 2000):
        super().__init__(penalizer=penalizer, tol=tol, max_iter=max_iter)

    def fit(self, summary: pd.DataFrame, covariates: list[str] | None = None) -> "ParetoNBD":
        """Fit on a summary with ``frequency``, ``recency`` and ``T``; returns self.

        Parameters
        ----------
        summary : DataFrame
            One row per customer, or, with a ``weights`` column, rows standing for ``weights`` customers each.
            Recency and T in one time unit (``summary.attrs["unit"]``), which α and β then carry.
        covariates : list of str, optional
            Numeric, time-invariant columns of ``summary`` that scale each customer's α and β (module
            docstring). Put them on a unit scale (e.g. standardised) for a well-conditioned fit.
        """
        x, t_x, T, weights = self._rfm_inputs(summary)
        names = [covariates] if isinstance(covariates, str) else list(covariates or [])
        z = covariate_matrix(summary, names)
        if names and self.penalizer:
            raise ValueError("penalizer is not available with covariates; fit with penalizer=0")
        if names:
            weights = np.ones(len(x)) if weights is None else weights
        elif weights is None:
            # every likelihood term is per row: identical (x, t_x, T) rows are evaluated once
            (x, t_x, T), _, counts = unique_rows(x, t_x, T)
            weights = counts.astype(float)
        else:
            (x, t_x, T), weights = collapse_weighted([x, t_x, T], weights)
        if not names:
            z = np.zeros((len(x), 0))
        scale = self._time_scale(T)
        stats = _statistics(x, t_x * scale, T * scale, weights, z)
        stats["scale"] = scale
        self.covariates_ = names
        self._param_names = _BASE_PARAMS + tuple(
            f"{side}:{name}" for side in ("purchase", "dropout") for name in names
        )
        self._fit_statistics(stats)
        if names:
            coefficients_on_natural_scale(self, 4)
        self.time_unit_ = summary.attrs.get("unit")
        return self

    # -- likelihood ------------------------------------------------------------------------------------------
    def _start(self, stats):
        w = stats["weights"]
        mean_x = np.sum(w * stats["x"]) / w.sum()
        mean_T = np.sum(w * stats["T"]) / w.sum()
        rate = max(mean_x, 1e-3) / mean_T
        k = stats["z"].shape[1]
        return np.concatenate([np.log([1.0, 1.0 / rate, 1.0, mean_T]), np.zeros(2 * k)])

    def _describe(self, stats):
        w, x, t_x, T = stats["weights"], stats["x"], stats["t_x"], stats["T"]
        repeat = x > 0
        recent = float(w[repeat & (T - t_x <= 0.1 * T)].sum()) / max(float(w[repeat].sum()), 1.0)
        return (
            f"{int(w.sum()):,} customers, {int(w[repeat].sum()):,} with repeat purchases, max frequency "
            f"{int(x.max())}; {recent:.0%} of repeat customers bought in the last tenth of their observation "
            "(near 100% means no one visibly drops out, so s and beta are not identified)"
        )

    def _subsample(self, stats, customers):
        share = customers / float(stats["weights"].sum())
        weights = np.random.default_rng(0).binomial(stats["weights"].astype(np.int64), share).astype(float)
        keep = weights > 0
        if not np.any(keep & (stats["x"] > 0)):
            return None
        return _statistics(stats["x"][keep], stats["t_x"][keep], stats["T"][keep], weights[keep], stats["z"][keep])

    def _objective(self, theta, stats):
        """Weighted negative log-likelihood and its gradient in θ = (log r, log α, log s, log β, γ₁, γ₂).

        The derivatives in α and β are analytic (:func:`_row_log_likelihood_and_rate_derivatives`). Those in r
        and s involve derivatives of ₂F₁ in its parameters, which have no closed form: they come from central
        differences of eq. 18 in log r and log s (four extra evaluations for all customers at once). The
        coefficients' gradients follow by the chain rule, ∂ℓ/∂γ₁ = -Σ zᵢ ∂ℓᵢ/∂log αᵢ.
        """
        w, z = stats["weights"], stats["z"]
        r, alpha, s, beta = _row_parameters(theta, stats)
        ll, d_alpha, d_beta = _row_log_likelihood_and_rate_derivatives(r, alpha, s, beta, stats)
        step = np.exp(_STEP) - 1.0, np.exp(-_STEP) - 1.0
        d_r = (_row_log_likelihood(r * (1 + step[0]), alpha, s, beta, stats)
               - _row_log_likelihood(r * (1 + step[1]), alpha, s, beta, stats)) / (2 * _STEP)
        d_s = (_row_log_likelihood(r, alpha, s * (1 + step[0]), beta, stats)
               - _row_log_likelihood(r, alpha, s * (1 + step[1]), beta, stats)) / (2 * _STEP)
        grad = np.concatenate([
            [np.sum(w * d_r), np.sum(w * d_alpha), np.sum(w * d_s), np.sum(w * d_beta)],
            -(w * d_alpha) @ z, -(w * d_beta) @ z,
        ])
        return -float(np.sum(w * ll)), -grad

    def _hessian(self, theta, stats):
        """Hessian of :meth:`_objective`'s value in θ, from each customer's 4 x 4 second differences in
        (log r, log α_i, log s, log β_i) (33 evaluations of eq. 18; differences of the gradient would take 72)
        mapped to θ by the chain rule, which is linear: log α_i = log α - zᵢᵀγ₁, log β_i = log β - zᵢᵀγ₂."""
        w, z = stats["weights"], stats["z"]
        k = z.shape[1]
        row_ll = _row_function(theta, stats)
        h = _HESSIAN_STEP
        centre = row_ll(np.zeros(4))
        unit = np.eye(4) * h
        second = [[None] * 4 for _ in range(4)]
        for i in range(4):
            second[i][i] = (row_ll(unit[i]) - 2 * centre + row_ll(-unit[i])) / h**2
            for j in range(i + 1, 4):
                second[i][j] = second[j][i] = (
                    row_ll(unit[i] + unit[j]) - row_ll(unit[i] - unit[j])
                    - row_ll(unit[j] - unit[i]) + row_ll(-unit[i] - unit[j])
                ) / (4 * h**2)
        # rows of the Jacobian d(per-customer log parameters)/dθ, one (n, 4 + 2k) array per parameter
        n = len(w)
        jacobian = [np.zeros((n, 4 + 2 * k)) for _ in range(4)]
        for i in range(4):
            jacobian[i][:, i] = 1.0
        jacobian[1][:, 4:4 + k] = -z
        jacobian[3][:, 4 + k:] = -z
        hessian = np.zeros((4 + 2 * k, 4 + 2 * k))
        for i in range(4):
            for j in range(4):
                hessian += jacobian[i].T @ ((w * second[i][j])[:, None] * jacobian[j])
        return -(hessian + hessian.T) / 2

    # -- predictions -----------------------------------------------------------------------------------------
    def customer_params(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Each customer's (r, α_i, s, β_i): α and β themselves without covariates (time unit of the fit)."""
        self._require_fitted()
        p = self.params_
        alpha = np.full(len(summary), p["alpha"])
        beta = np.full(len(summary), p["beta"])
        if self.covariates_:
            z = covariate_matrix(summary, self.covariates_)
            g1 = np.array([p[f"purchase:{c}"] for c in self.covariates_])
            g2 = np.array([p[f"dropout:{c}"] for c in self.covariates_])
            alpha, beta = alpha * np.exp(-z @ g1), beta * np.exp(-z @ g2)
        return pd.DataFrame({"r": p["r"], "alpha": alpha, "s": p["s"], "beta": beta}, index=summary.index)

    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive at T | x, t_x, T) (eq. 36): the share of the likelihood from customers still alive at T."""
        r, alpha, s, beta, x, t_x, T = self._inputs(summary)
        return pd.Series(_p_alive(r, alpha, s, beta, x, t_x, T), index=summary.index, name="p_alive")

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """E[purchases in (T, T + t] | x, t_x, T] (eq. 41); ``t`` in the model's time unit.

        P(alive) × (r + x)(β + T) / ((α + T)(s - 1)) × [1 - ((β + T)/(β + T + t))^(s-1)], with the s → 1
        limit (β + T) log((β + T + t)/(β + T)) taken exactly.
        """
        r, alpha, s, beta, x, t_x, T = self._inputs(summary)
        alive = _p_alive(r, alpha, s, beta, x, t_x, T)
        values = alive * (r + x) / (alpha + T) * _lifetime_integral(s, beta + T, float(t))
        return pd.Series(values, index=summary.index, name="expected_purchases")

    def p_no_purchase(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """P(no purchase in (T, T + t] | x, t_x, T); ``t`` in the model's time unit.

        A customer buys nothing if already gone, or if alive with posterior λ ~ Gamma(r + x, α + T) and
        μ ~ Gamma(s, β + T) they buy nothing in t, which is the likelihood of a new customer with those
        parameters and no purchase in t (eq. 18 with x = t_x = 0, T = t).
        """
        r, alpha, s, beta, x, t_x, T = self._inputs(summary)
        alive = _p_alive(r, alpha, s, beta, x, t_x, T)
        zero = np.zeros_like(x)
        t = np.full_like(x, float(t))
        silent = np.exp(pareto_nbd_log_likelihood(r + x, alpha + T, s, beta + T, zero, zero, t))
        return pd.Series(1.0 - alive + alive * silent, index=summary.index, name="p_no_purchase")

    def expected_purchases_new_customer(self, t, summary: pd.DataFrame | None = None) -> np.ndarray:
        """E[X(t)] for a customer just acquired (eq. 27): rβ/(α(s - 1)) [1 - (β/(β + t))^(s-1)].

        ``t`` (scalar or array) in the model's time unit. With covariates pass ``summary`` (its covariate
        columns): then one row per customer of the summary, one column per ``t``.
        """
        self._require_fitted()
        t = np.asarray(t, dtype=float)
        p = self.params_
        if self.covariates_:
            if summary is None:
                raise DataValidationError("a model with covariates needs the customers' covariates: pass summary")
            own = self.customer_params(summary)
            alpha, beta = own["alpha"].to_numpy()[:, None], own["beta"].to_numpy()[:, None]
            return p["r"] / alpha * _lifetime_integral(p["s"], beta, np.atleast_1d(t)[None, :])
        return p["r"] / p["alpha"] * _lifetime_integral(p["s"], p["beta"], t)

    def customer_log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's log-likelihood at the fitted parameters (eq. 18), in the model's time unit."""
        r, alpha, s, beta, x, t_x, T = self._inputs(summary)
        values = pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, T)
        return pd.Series(values, index=summary.index, name="log_likelihood")

    def _inputs(self, summary):
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        own = self.customer_params(summary)
        return self.params_["r"], own["alpha"].to_numpy(), self.params_["s"], own["beta"].to_numpy(), x, t_x, T

    # -- conversion ------------------------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: dict, covariance=None, time_unit: str | None = None,
                    log_likelihood: float = np.nan, n_customers: int = 0, **settings) -> "ParetoNBD":
        """A fitted ``ParetoNBD`` (without covariates) with given ``r``, ``alpha``, ``s``, ``beta``.

        ``alpha`` and ``beta`` are in ``time_unit`` (None: unchecked); the other arguments are as in
        :meth:`loyalty.clv._mle.LikelihoodModel.from_params`.
        """
        model = super().from_params(params, covariance, time_unit, log_likelihood, n_customers, **settings)
        model.covariates_ = []
        return model

    @classmethod
    def from_lifetimes(cls, fitter, time_unit: str | None = None) -> "ParetoNBD":
        """A fitted ``ParetoNBD`` from a fitted ``lifetimes.ParetoNBDFitter`` (parameters only: lifetimes keeps
        no covariance for this model, so standard errors are NaN)."""
        params = {name: float(fitter.params_[name]) for name in cls._param_names}
        return cls.from_params(params, time_unit=time_unit, penalizer=getattr(fitter, "penalizer_coef", 0.0))

    def to_lifetimes(self):
        """A ``lifetimes.ParetoNBDFitter`` carrying these parameters (needs ``lifetimes``; no covariates)."""
        self._require_fitted()
        if self.covariates_:
            raise ValueError("lifetimes' ParetoNBDFitter has no covariates; fit without covariates to convert")
        from lifetimes import ParetoNBDFitter

        fitter = ParetoNBDFitter(penalizer_coef=self.penalizer)
        fitter.params_ = pd.Series({name: self.params_[name] for name in _BASE_PARAMS})
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time  # as lifetimes' fit does
        return fitter


def _row_parameters(theta, stats):
    """(r, α_i, s, β_i) at θ: α and β themselves without covariates, else one entry per row."""
    z = stats["z"]
    k = z.shape[1]
    log_alpha = theta[1] - z @ theta[4:4 + k] if k else theta[1]
    log_beta = theta[3] - z @ theta[4 + k:] if k else theta[3]
    return np.exp(theta[0]), np.exp(log_alpha), np.exp(theta[2]), np.exp(log_beta)


def _row_function(theta, stats):
    """Eq. 18 per row at θ moved by ``delta`` in (log r, log α_i, log s, log β_i), as a function of delta."""
    r, alpha, s, beta = _row_parameters(theta, stats)

    def row_ll(delta):
        return _row_log_likelihood(
            r * np.exp(delta[0]), alpha * np.exp(delta[1]), s * np.exp(delta[2]), beta * np.exp(delta[3]), stats
        )

    return row_ll


def _statistics(x, t_x, T, weights, z) -> dict:
    """Rows, and without covariates the distinct x, (x, t_x) and (x, T) values the transcendental terms are
    evaluated on (a few thousand for a million customers whose times are whole days)."""
    stats = {"x": x, "t_x": t_x, "T": T, "weights": weights, "z": z}
    if z.shape[1] == 0:
        (px, ptx), stats["inv_tx"], _ = unique_rows(x, t_x)
        (qx, qT), stats["inv_T"], _ = unique_rows(x, T)
        stats.update(pair_x_tx=px, pair_tx=ptx, pair_x_T=qx, pair_T=qT)
    return stats


def _row_log_likelihood(r, alpha, s, beta, stats) -> np.ndarray:
    """Eq. 18 for every row of the statistics; terms of (x, t_x) or (x, T) alone on distinct pairs when α and β
    are shared."""
    if "inv_tx" not in stats:
        x, t_x, T = stats["x"], stats["t_x"], stats["T"]
        return pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, T)
    x_tx, tx, x_T, T = stats["pair_x_tx"], stats["pair_tx"], stats["pair_x_T"], stats["pair_T"]
    log_f_tx = _log_tail_integral(r, alpha, s, beta, x_tx, tx)[stats["inv_tx"]]
    # per (x, T): the front, the alive branch and the tail integral at T
    front = gammaln(r + x_T) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = (-(r + x_T) * np.log(alpha + T) - s * np.log(beta + T))[stats["inv_T"]]
    log_f_T = _log_tail_integral(r, alpha, s, beta, x_T, T)[stats["inv_T"]]
    return front[stats["inv_T"]] + _log_alive_or_died(s, alive, log_f_tx, log_f_T)


def _row_log_likelihood_and_rate_derivatives(r, alpha, s, beta, stats):
    """Eq. 18 per row and its derivatives in log α and log β, analytic.

    With L̃ = exp(A) + s (G(t_x) - G(T)), A = -(r+x) log(α+T) - s log(β+T) (:func:`pareto_nbd_log_likelihood`):
    ∂G/∂α = -(r+x) G with x+1 and ∂G/∂β = -(s+1) G with s+1 (the tail integral with one more power), so
    ∂ℓ/∂log α = r - (r+x) α [exp(A)/(α+T) + s (G_{x+1}(t_x) - G_{x+1}(T))] / L̃ and
    ∂ℓ/∂log β = s - s β [exp(A)/(β+T) + (s+1) (G^{s+1}(t_x) - G^{s+1}(T))] / L̃.
    """
    if "inv_tx" in stats:
        inv_tx, inv_T = stats["inv_tx"], stats["inv_T"]
        x_tx, tx, x_T, T_pairs = stats["pair_x_tx"], stats["pair_tx"], stats["pair_x_T"], stats["pair_T"]

        def tails(dx, ds):
            return (_log_tail_integral(r, alpha, s + ds, beta, x_tx + dx, tx)[inv_tx],
                    _log_tail_integral(r, alpha, s + ds, beta, x_T + dx, T_pairs)[inv_T])

        x, T = x_T[inv_T], T_pairs[inv_T]
    else:
        x, t_x, T = stats["x"], stats["t_x"], stats["T"]

        def tails(dx, ds):
            return (_log_tail_integral(r, alpha, s + ds, beta, x + dx, t_x),
                    _log_tail_integral(r, alpha, s + ds, beta, x + dx, T))

    front = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    tail = _log_alive_or_died(s, alive, *tails(0, 0))
    alive_share = np.exp(alive - tail)
    with np.errstate(divide="ignore"):
        more_x = np.exp(np.log(s) + _log_difference(*tails(1, 0)) - tail)
        more_s = np.exp(np.log(s) + np.log(s + 1.0) + _log_difference(*tails(0, 1)) - tail)
    d_log_alpha = r - (r + x) * alpha * (alive_share / (alpha + T) + more_x)
    d_log_beta = s - beta * (s * alive_share / (beta + T) + more_s)
    return front + tail, d_log_alpha, d_log_beta


def _log_difference(log_f_tx, log_f_T) -> np.ndarray:
    """log(G(t_x) - G(T)) from the logs of the two (-inf where t_x = T)."""
    with np.errstate(divide="ignore"):
        return log_f_tx + np.log(-np.expm1(np.minimum(log_f_T - log_f_tx, 0.0)))


def pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """Log-likelihood of each customer's (x, t_x, T) under Pareto/NBD (FHL 2005 note, eq. 18).

    log L = log Γ(r+x)/Γ(r) + r log α + s log β + log[(α+T)^-(r+x) (β+T)^-s + s (G(t_x) - G(T))], with G the
    tail integral of :func:`_log_tail_integral`. ``alpha`` and ``beta`` may be arrays (one per customer, for
    covariates); all times in one unit. Evaluated in log space with bounded hypergeometric series, so it stays
    finite for any frequency and for α < β, α = β and α > β alike.
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    front = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_f_tx = _log_tail_integral(r, alpha, s, beta, x, t_x)
    log_f_T = _log_tail_integral(r, alpha, s, beta, x, T)
    return front + _log_alive_or_died(s, alive, log_f_tx, log_f_T)


def _log_alive_or_died(s, alive, log_f_tx, log_f_T) -> np.ndarray:
    """log[exp(alive) + s (G(t_x) - G(T))]: still alive at T, or died between t_x and T."""
    # t_x = T: the customer cannot have died in between (log 0 = -inf)
    return np.logaddexp(alive, np.log(s) + _log_difference(log_f_tx, log_f_T))


def _log_tail_integral(r, alpha, s, beta, x, tau) -> np.ndarray:
    """log G(τ), G(τ) = ∫_τ^∞ (α + u)^-(r+x) (β + u)^-(s+1) du = ₂F₁(a, b; a + 1; z) / (a (M + τ)^a).

    With a = r + s + x, M = max(α, β), m = min(α, β), z = (M - m)/(M + τ), and b = s + 1 if α ≥ β, else
    b = r + x (FHL 2005 note, eqs. 19-20). Euler's transformation ₂F₁(a, b; a+1; z) =
    (1 - z)^(1-b) ₂F₁(1, a + 1 - b; a + 1; z) leaves a series of positive terms bounded by 1/(1 - z), so the
    power that overflows for large x (lifetimes' failure) is taken in log space, exactly.
    """
    a = r + s + x
    big, small = np.maximum(alpha, beta), np.minimum(alpha, beta)
    b = np.where(alpha >= beta, s + 1.0, r + x)
    log_big, log_small = np.log(big + tau), np.log(small + tau)
    z = (big - small) / (big + tau)
    series = _hyp2f1_one(a + 1.0 - b, a + 1.0, z)
    return (1.0 - b) * (log_small - log_big) + np.log(series) - a * log_big - np.log(a)


def _hyp2f1_one(b, c, z) -> np.ndarray:
    """₂F₁(1, b; c; z) for 0 < b < c and 0 <= z < 1: scipy's, with its positive series summed directly where
    scipy returns NaN (c - b a whole number >= 2 with large b, e.g. s = 1 and a frequency of 170)."""
    b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (b, c, z)))
    value = np.array(hyp2f1(1.0, b, c, z), dtype=float, ndmin=1)
    bad = ~np.isfinite(value)
    if bad.any():
        bb, cc, zz = b.ravel()[bad.ravel()], c.ravel()[bad.ravel()], z.ravel()[bad.ravel()]
        term, total, n = np.ones_like(zz), np.ones_like(zz), 0
        while np.any(term > 1e-17 * total) and n < 1_000_000:  # terms shrink at least as fast as z^n
            term = term * zz * (bb + n) / (cc + n)
            total, n = total + term, n + 1
        flat = value.ravel()
        flat[bad.ravel()] = total
        value = flat.reshape(value.shape)
    return value.reshape(b.shape) if b.ndim else value[0]


def _p_alive(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    alive = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = alive - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
    return np.exp(alive - pareto_nbd_log_likelihood(r, alpha, s, beta, x, t_x, T))


def _lifetime_integral(s, beta, t):
    """(β/(s-1)) [1 - (β/(β + t))^(s-1)] = E[min(lifetime, t)] under μ ~ Gamma(s, β); exact at s = 1."""
    log_ratio = np.log(beta) - np.log(beta + t)
    if abs(s - 1.0) < 1e-12:
        return -beta * log_ratio
    return -beta * np.expm1((s - 1.0) * log_ratio) / (s - 1.0)
