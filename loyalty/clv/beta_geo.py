"""BG/NBD: the beta-geometric / negative binomial model of repeat purchasing.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy way: an alternative to
the Pareto/NBD model. *Marketing Science* 24(2), 275-284. Equation numbers below refer to that paper.

While alive a customer buys at rate λ ~ Gamma(r, α); after each purchase they drop out with probability
p ~ Beta(a, b). The likelihood of a customer's (x, t_x, T) has a closed form (eq. 6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1, polygamma

from ..errors import DataValidationError
from . import _maths
from ._mle import unique_counts
from ._repeat import RepeatPurchaseModel, collapse_weighted
from .covariates import beta_geo_customer_params, covariate_matrix, fit_beta_geo_with_covariates

__all__ = ["BetaGeo"]


class BetaGeo(RepeatPurchaseModel):
    """BG/NBD model, fitted by maximum likelihood on (frequency, recency, T).

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the parameters (the same as ``lifetimes``' ``penalizer_coef``: added to the mean negative
        log-likelihood as ``penalizer * sum(params**2)`` on the internally rescaled time axis).
    tol : float
        Gradient tolerance of the optimiser (mean log-likelihood per customer).
    max_iter : int
        Iteration cap of the optimiser.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (in the summary's time unit), ``a``, ``b``.
    standard_errors_ : dict
        From the inverse Hessian of the log-likelihood (delta method from the log scale).
    covariance_ : ndarray
        Covariance of the log parameters, order ``(r, alpha, a, b)``.
    summary_ : DataFrame
        ``estimate``, ``se``, ``lower_95``, ``upper_95`` (interval on the log scale, so always positive).
    log_likelihood_ : float
        Total log-likelihood at the estimate (without the penalty).
    n_customers_ : int
    time_unit_ : str or None
        Unit of recency and T the model was fitted in (from ``summary.attrs["unit"]``).
    covariates_ : list of str
        Covariate columns of the fit (empty without covariates); predictions read them from the summary.

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> model = BetaGeo().fit(summary)
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    """

    _param_names = ("r", "alpha", "a", "b")
    _unidentified = "the dropout parameters a and b are not identified"

    def fit(self, summary: pd.DataFrame, covariates: list[str] | None = None) -> "BetaGeo":
        """Fit on a summary with ``frequency``, ``recency`` and ``T``; returns self.

        One row per customer, or, with a ``weights`` column, rows standing for ``weights`` customers each (the
        collapsed statistics of :func:`loyalty.engines.collapsed_statistics`): the same fit from a table whose
        size does not grow with the customers. ``covariates`` names numeric, time-invariant columns that scale
        each customer's α, a and b (:mod:`loyalty.clv.covariates`); their coefficients join ``params_`` and
        ``summary_`` as ``purchase:<column>`` and ``dropout:<column>``.
        """
        x, t_x, T, weights = self._rfm_inputs(summary)
        self.covariates_ = [covariates] if isinstance(covariates, str) else list(covariates or [])
        if self.covariates_:
            z = covariate_matrix(summary, self.covariates_)
            weights = np.ones(len(x)) if weights is None else weights
            fit_beta_geo_with_covariates(self, x, t_x, T, weights, z, self.covariates_)
            self.time_unit_ = summary.attrs.get("unit")
            return self
        if weights is None:
            # no collapsing: customers without repeats are summed per distinct T in the statistics anyway, and
            # the repeat customers' (x, t_x, T) rows are mostly distinct, so sorting them would cost more than
            # it saves
            weights = np.ones(len(x))
        else:
            (x, t_x, T), weights = collapse_weighted([x, t_x, T], weights)
        scale = self._time_scale(T)
        stats = _statistics(x, t_x * scale, T * scale, weights)
        stats["scale"], stats["unit"] = scale, summary.attrs.get("unit")
        self._fit_statistics(stats)
        self.time_unit_ = summary.attrs.get("unit")
        return self

    # -- likelihood ------------------------------------------------------------------------------------------
    def _start(self, stats):
        mean_x = np.sum(stats["weights"] * stats["x"]) / stats["weights"].sum()
        mean_T = np.sum(stats["weights"] * stats["T"]) / stats["weights"].sum()
        rate = max(mean_x, 1e-3) / mean_T
        return np.log([1.0, 1.0 / rate, 1.0, 2.0])

    def _boundary_error(self, theta, negative_ll, stats):
        # a log without attrition drives the dropout probability to 0: say so, and hand over the NBD it reduces to
        from .nbd import no_attrition_error

        return no_attrition_error(theta, negative_ll, stats, self._describe(stats))

    def _subsample(self, stats, customers):
        share = customers / float(stats["weights"].sum())
        weights = np.random.default_rng(0).binomial(stats["weights"].astype(np.int64), share).astype(float)
        keep = weights > 0
        if not np.any(keep & (stats["x"] > 0)):
            return None
        return _statistics(stats["x"][keep], stats["t_x"][keep], stats["T"][keep], weights[keep])

    def _objective(self, theta, stats):
        r, alpha, a, b = np.exp(theta)
        ux, wx = stats["ux"], stats["wx"]
        # terms depending on x only: computed once per distinct x, summed with the weight of that x
        ll = np.sum(wx * (gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux) - betaln(a, b)))
        d_r = np.sum(wx * (digamma(r + ux) - digamma(r) + np.log(alpha)))
        d_alpha = np.sum(wx) * r / alpha
        d_a = np.sum(wx * (digamma(a + b) - digamma(a + b + ux)))
        d_b = np.sum(wx * (digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux)))

        # customers without repeat purchases: the likelihood's tail is ((alpha) / (alpha + T))^r, a function of
        # T alone, so they are summed per distinct T
        log_a_T0 = np.log(alpha + stats["uT0"])
        w0 = stats["wT0"]
        ll -= r * np.sum(w0 * log_a_T0)
        d_r -= np.sum(w0 * log_a_T0)
        d_alpha -= r * np.sum(w0 / (alpha + stats["uT0"]))

        # repeat customers: tail = logaddexp(A3, A4) with A3 = -(r + x) log(alpha + T),
        # A4 = log a - log(b + x - 1) - (r + x) log(alpha + t_x); w4 = share of the A4 term
        x, w = stats["x1"], stats["w1"]
        log_a_T = np.log(alpha + stats["uT"])[stats["inv_T1"]]
        log_a_tx = np.log(alpha + stats["ut_x"])[stats["inv_tx1"]]
        rx = r + x
        log_bx1 = np.log(b + stats["ux1"] - 1.0)[stats["inv_x1"]]
        diff = np.log(a) - log_bx1 - rx * (log_a_tx - log_a_T)  # A4 - A3
        small = np.exp(-np.abs(diff))
        ll += np.sum(w * (np.maximum(diff, 0.0) + np.log1p(small) - rx * log_a_T))
        w4 = np.where(diff > 0, 1.0, small) / (1.0 + small)
        w3 = 1.0 - w4
        d_r -= np.sum(w * (log_a_T + w4 * (log_a_tx - log_a_T)))
        inv_a_T = (1.0 / (alpha + stats["uT"]))[stats["inv_T1"]]
        inv_a_tx = (1.0 / (alpha + stats["ut_x"]))[stats["inv_tx1"]]
        d_alpha -= np.sum(w * rx * (w3 * inv_a_T + w4 * inv_a_tx))
        ww4 = w * w4
        d_a += np.sum(ww4) / a
        d_b -= np.sum(ww4 * (1.0 / (b + stats["ux1"] - 1.0))[stats["inv_x1"]])
        grad = -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll, grad

    def _hessian(self, theta, stats):
        """Hessian of :meth:`_objective`'s value (the weighted negative log-likelihood) in the log parameters.

        Exact, at about the cost of one gradient (central differences of the gradient cost eight). With p the
        natural parameters and ℓ the log-likelihood, ∂²ℓ/∂θᵢ∂θⱼ = pᵢpⱼ ∂²ℓ/∂pᵢ∂pⱼ + δᵢⱼ pᵢ ∂ℓ/∂pᵢ; a repeat
        customer's tail logaddexp(A3, A4) has Hessian w3∇²A3 + w4∇²A4 + w3w4 (∇A4 − ∇A3)(∇A4 − ∇A3)ᵀ.
        """
        r, alpha, a, b = np.exp(theta)
        trigamma = lambda z: polygamma(1, z)  # noqa: E731
        hess = np.zeros((4, 4))  # of ℓ in the natural parameters (r, alpha, a, b)
        ux, wx = stats["ux"], stats["wx"]
        grad = np.array([
            np.sum(wx * (digamma(r + ux) - digamma(r) + np.log(alpha))),
            np.sum(wx) * r / alpha,
            np.sum(wx * (digamma(a + b) - digamma(a + b + ux))),
            np.sum(wx * (digamma(a + b) + digamma(b + ux) - digamma(b) - digamma(a + b + ux))),
        ])
        hess[0, 0] = np.sum(wx * (trigamma(r + ux) - trigamma(r)))
        hess[0, 1] = np.sum(wx) / alpha
        hess[1, 1] = -np.sum(wx) * r / alpha**2
        hess[2, 2] = hess[2, 3] = np.sum(wx * (trigamma(a + b) - trigamma(a + b + ux)))
        hess[3, 3] = np.sum(wx * (trigamma(b + ux) - trigamma(a + b + ux) - trigamma(b) + trigamma(a + b)))

        # no repeat purchases: -r log(alpha + T)
        w0, inv0 = stats["wT0"], 1.0 / (alpha + stats["uT0"])
        grad[0] -= np.sum(w0 * np.log(alpha + stats["uT0"]))
        grad[1] -= r * np.sum(w0 * inv0)
        hess[0, 1] -= np.sum(w0 * inv0)
        hess[1, 1] += r * np.sum(w0 * inv0**2)

        # repeat customers: logaddexp(A3, A4), A3 = -(r + x) log(alpha + T),
        # A4 = log a - log(b + x - 1) - (r + x) log(alpha + t_x)
        x, w = stats["x1"], stats["w1"]
        rx = r + x
        log_a_T = np.log(alpha + stats["uT"])[stats["inv_T1"]]
        log_a_tx = np.log(alpha + stats["ut_x"])[stats["inv_tx1"]]
        inv_T = (1.0 / (alpha + stats["uT"]))[stats["inv_T1"]]
        inv_tx = (1.0 / (alpha + stats["ut_x"]))[stats["inv_tx1"]]
        inv_bx1 = (1.0 / (b + stats["ux1"] - 1.0))[stats["inv_x1"]]
        diff = np.log(a) + np.log(inv_bx1) - rx * (log_a_tx - log_a_T)  # A4 - A3
        small = np.exp(-np.abs(diff))
        w4 = np.where(diff > 0, 1.0, small) / (1.0 + small)
        w3 = 1.0 - w4
        grad[0] -= np.sum(w * (w3 * log_a_T + w4 * log_a_tx))
        grad[1] -= np.sum(w * rx * (w3 * inv_T + w4 * inv_tx))
        grad[2] += np.sum(w * w4) / a
        grad[3] -= np.sum(w * w4 * inv_bx1)
        hess[0, 1] -= np.sum(w * (w3 * inv_T + w4 * inv_tx))
        hess[1, 1] += np.sum(w * rx * (w3 * inv_T**2 + w4 * inv_tx**2))
        hess[2, 2] -= np.sum(w * w4) / a**2
        hess[3, 3] += np.sum(w * w4 * inv_bx1**2)
        # w3 w4 D Dᵀ with D = ∇A4 - ∇A3 = (log(α+T) - log(α+t_x), (r+x)(1/(α+T) - 1/(α+t_x)), 1/a, -1/(b+x-1))
        ww = w * w3 * w4
        D = (log_a_T - log_a_tx, rx * (inv_T - inv_tx), 1.0 / a, -inv_bx1)
        for i in range(4):
            for j in range(i, 4):
                hess[i, j] += np.sum(ww * D[i] * D[j])
        hess = np.triu(hess) + np.triu(hess, 1).T
        natural = np.array([r, alpha, a, b])
        in_log = natural[:, None] * hess * natural[None, :] + np.diag(natural * grad)
        return -(in_log + in_log.T) / 2  # symmetric to the last bit

    # -- predictions -----------------------------------------------------------------------------------------
    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive at T | x, t_x, T) (FHL 2005, eq. 11). Customers without repeat purchases get 1."""
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        return pd.Series(_maths.p_alive(self.customer_params(summary), x, t_x, T), index=summary.index, name="p_alive")

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10); ``t`` in the model's time unit."""
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        values = _maths.expected_purchases_matrix(self.customer_params(summary), x, t_x, T, np.array([float(t)]))[:, 0]
        return pd.Series(values, index=summary.index, name="expected_purchases")

    def p_no_purchase(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """P(no purchase in (T, T + t] | x, t_x, T); ``t`` in the model's time unit.

        A customer buys nothing in the window if they are already gone, or alive and the Poisson clock does
        not tick: 1 - P(alive) + P(alive) * ((α + T) / (α + T + t))^(r + x).
        """
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        params = self.customer_params(summary)
        alive = _maths.p_alive(params, x, t_x, T)
        r, alpha = params["r"], params["alpha"]
        silent = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + float(t))))
        return pd.Series(1.0 - alive + alive * silent, index=summary.index, name="p_no_purchase")

    def expected_purchases_new_customer(self, t, summary: pd.DataFrame | None = None) -> np.ndarray:
        """E[X(t)] for a customer just acquired (FHL 2005, eq. 9); ``t`` in the model's time unit.

        With covariates pass ``summary`` (its covariate columns): one row per customer, one column per ``t``.
        """
        self._require_fitted()
        t = np.asarray(t, dtype=float)
        if getattr(self, "covariates_", None):
            if summary is None:
                raise DataValidationError("a model with covariates needs the customers' covariates: pass summary")
            own = self.customer_params(summary)
            r = own["r"]
            alpha, a, b = (np.asarray(own[k], dtype=float)[:, None] for k in ("alpha", "a", "b"))
            t = np.atleast_1d(t)[None, :]
        else:
            r, alpha, a, b = (self.params_[k] for k in self._param_names)
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))

    def customer_log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's log-likelihood at the fitted parameters (FHL 2005, eq. 6)."""
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        return pd.Series(
            _customer_ll(self.customer_params(summary), x, t_x, T), index=summary.index, name="log_likelihood"
        )

    def customer_params(self, summary: pd.DataFrame) -> dict:
        """``r``, ``alpha``, ``a``, ``b``: the fitted values, or with covariates one array entry per customer
        of ``summary`` (from its covariate columns)."""
        self._require_fitted()
        if getattr(self, "covariates_", None):
            return beta_geo_customer_params(self.params_, self.covariates_, summary)
        return self.params_

    # -- conversion ------------------------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: dict, covariance=None, time_unit: str | None = None,
                    log_likelihood: float = np.nan, n_customers: int = 0, **settings) -> "BetaGeo":
        """A fitted ``BetaGeo`` with given ``r``, ``alpha``, ``a``, ``b`` (e.g. a saved model's).

        ``alpha`` is in ``time_unit`` (the unit of recency and T of the summaries it will score; None: unchecked);
        ``covariance`` is that of the log parameters in the order ``(r, alpha, a, b)``. The other arguments are as
        in :meth:`loyalty.clv._mle.LikelihoodModel.from_params`.

        Examples
        --------
        >>> model = BetaGeo.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, time_unit="W")
        >>> round(float(model.expected_purchases_new_customer(52)), 3)
        1.446
        """
        return super().from_params(params, covariance, time_unit, log_likelihood, n_customers, **settings)

    @classmethod
    def from_lifetimes(cls, fitter, time_unit: str | None = None) -> "BetaGeo":
        """A fitted ``BetaGeo`` from a fitted ``lifetimes.BetaGeoFitter`` (parameters and, if present, covariance)."""
        params = dict(fitter.params_)
        covariance = _log_covariance(fitter, cls._param_names, params)
        return cls.from_params(params, covariance, time_unit=time_unit,
                               penalizer=getattr(fitter, "penalizer_coef", 0.0))

    def to_lifetimes(self):
        """A ``lifetimes.BetaGeoFitter`` carrying these parameters (needs ``lifetimes`` installed)."""
        self._require_fitted()
        if getattr(self, "covariates_", None):
            raise ValueError("lifetimes' BetaGeoFitter has no covariates; fit without covariates to convert")
        from lifetimes import BetaGeoFitter

        fitter = BetaGeoFitter(penalizer_coef=self.penalizer)
        fitter.params_ = pd.Series(self.params_)
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time  # as lifetimes' fit does
        return fitter


def _statistics(x, t_x, T, weights) -> dict:
    """Sufficient statistics laid out for :meth:`BetaGeo._objective`: per distinct x, the no-repeat customers
    per distinct T, and the repeat customers' rows with indices into the distinct T and t_x values."""
    ux, inv_x = unique_counts(x)
    zero = x == 0
    inv_T0, uT0 = pd.factorize(T[zero])
    repeat = ~zero
    inv_T1, uT = pd.factorize(T[repeat])
    inv_tx1, ut_x = pd.factorize(t_x[repeat])
    ux1, inv_x1 = unique_counts(x[repeat])
    return {
        "x": x, "t_x": t_x, "T": T, "weights": weights,
        "ux": ux, "wx": np.bincount(inv_x, weights=weights, minlength=len(ux)),
        "uT0": np.asarray(uT0, dtype=float), "wT0": np.bincount(inv_T0, weights=weights[zero], minlength=len(uT0)),
        "x1": x[repeat], "w1": weights[repeat], "uT": np.asarray(uT, dtype=float), "inv_T1": inv_T1,
        "ut_x": np.asarray(ut_x, dtype=float), "inv_tx1": inv_tx1, "ux1": ux1, "inv_x1": inv_x1,
    }


def _customer_ll(params, x, t_x, T) -> np.ndarray:
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def _log_covariance(fitter, names, params) -> np.ndarray | None:
    """Covariance of log parameters from a lifetimes fitter's natural-scale ``variance_matrix_``."""
    matrix = getattr(fitter, "variance_matrix_", None)
    if matrix is None:
        return None
    matrix = np.asarray(pd.DataFrame(matrix).loc[list(names), list(names)], dtype=float)
    scale = np.array([params[n] for n in names])
    return matrix / np.outer(scale, scale)
