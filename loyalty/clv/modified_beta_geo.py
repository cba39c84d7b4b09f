"""MBG/NBD: the modified beta-geometric / negative binomial model of repeat purchasing.

Batislam, E. P., Denizel, M. & Filiztekin, A. (2007). Empirical validation and comparison of models for customer
base analysis. *International Journal of Research in Marketing* 24(3), 201-209; with the corrections of Wagner,
U. & Hoppe, D. (2008). Erratum on the MBG/NBD model. *IJRM* 25(3), 225-226.

As BG/NBD (:class:`~loyalty.clv.BetaGeo`), a live customer buys at rate λ ~ Gamma(r, α) and may drop out with
probability p ~ Beta(a, b), but the coin is also tossed right after the first purchase, so a customer without
repeat purchases may already be gone. Its likelihood is

    L = Γ(r + x) αʳ / Γ(r) · B(a, b + x + 1) / B(a, b)
        · [(α + T)^-(r+x) + a / (b + x) · (α + t_x)^-(r+x)]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1, polygamma

from ._mle import lifetimes_log_covariance
from ._repeat import RepeatPurchaseModel, collapse_weighted

__all__ = ["ModifiedBetaGeo"]


class ModifiedBetaGeo(RepeatPurchaseModel):
    """MBG/NBD model, fitted by maximum likelihood on (frequency, recency, T).

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the parameters, as ``lifetimes``' ``penalizer_coef``: ``penalizer * sum(params**2)`` added to
        the mean negative log-likelihood, on the internally rescaled time axis.
    tol : float, default 1e-8
        Gradient tolerance of the quasi-Newton steps (mean log-likelihood per customer). The closing Newton step
        with the exact Hessian takes the estimate from there to the optimum; a tighter tolerance only makes
        BFGS spend dozens of evaluations against rounding noise (about 3x the fit time at 100k customers).
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

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> model = ModifiedBetaGeo().fit(summary)
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'r': 0.525, 'alpha': 6.183, 'a': 0.891, 'b': 1.614}
    """

    _param_names = ("r", "alpha", "a", "b")
    _unidentified = "the purchase rate and the dropout probability cannot be told apart"

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-8, max_iter: int = 2000):
        super().__init__(penalizer=penalizer, tol=tol, max_iter=max_iter)

    def fit(self, summary: pd.DataFrame) -> "ModifiedBetaGeo":
        """Fit on a summary with ``frequency``, ``recency`` and ``T`` (and optionally ``weights``); returns self.

        A ``weights`` column makes each row stand for that many identical customers (collapsed statistics).
        """
        x, t_x, T, weights = self._rfm_inputs(summary)
        if weights is None:
            weights = np.ones(len(x))
        else:
            (x, t_x, T), weights = collapse_weighted([x, t_x, T], weights)
        scale = self._time_scale(T)
        stats = _statistics(x, t_x * scale, T * scale, weights)
        stats["scale"] = scale
        self._fit_statistics(stats)
        self.time_unit_ = summary.attrs.get("unit")
        return self

    # -- likelihood ------------------------------------------------------------------------------------------
    def _start(self, stats):
        w = stats["weights"]
        mean_x = np.sum(w * stats["x"]) / w.sum()
        mean_T = np.sum(w * stats["T"]) / w.sum()
        return np.log([1.0, mean_T / max(mean_x, 1e-3), 1.0, 2.0])

    def _objective(self, theta, stats):
        r, alpha, a, b = np.exp(theta)
        ux, wx = stats["ux"], stats["wx"]
        # terms depending on x only, once per distinct x
        ll = np.sum(wx * (gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux + 1) - betaln(a, b)))
        d_r = np.sum(wx * (digamma(r + ux) - digamma(r) + np.log(alpha)))
        d_alpha = np.sum(wx) * r / alpha
        d_a = np.sum(wx * (digamma(a + b) - digamma(a + b + ux + 1)))
        d_b = np.sum(wx * (digamma(b + ux + 1) - digamma(a + b + ux + 1) - digamma(b) + digamma(a + b)))

        # every customer: logaddexp(A3, A4), A3 = -(r + x) log(alpha + T),
        # A4 = log a - log(b + x) - (r + x) log(alpha + t_x); w4 = share of the A4 term (= 1 - P(alive))
        x, w = stats["x"], stats["weights"]
        log_a_T = np.log(alpha + stats["uT"])[stats["inv_T"]]
        log_a_tx = np.log(alpha + stats["ut_x"])[stats["inv_tx"]]
        log_bx = np.log(b + ux)[stats["inv_x"]]
        rx = r + x
        diff = np.log(a) - log_bx - rx * (log_a_tx - log_a_T)  # A4 - A3
        small = np.exp(-np.abs(diff))
        ll += np.sum(w * (np.maximum(diff, 0.0) + np.log1p(small) - rx * log_a_T))
        w4 = np.where(diff > 0, 1.0, small) / (1.0 + small)
        w3 = 1.0 - w4
        d_r -= np.sum(w * (log_a_T + w4 * (log_a_tx - log_a_T)))
        inv_a_T = (1.0 / (alpha + stats["uT"]))[stats["inv_T"]]
        inv_a_tx = (1.0 / (alpha + stats["ut_x"]))[stats["inv_tx"]]
        d_alpha -= np.sum(w * rx * (w3 * inv_a_T + w4 * inv_a_tx))
        ww4 = w * w4
        d_a += np.sum(ww4) / a
        d_b -= np.sum(ww4 * (1.0 / (b + ux))[stats["inv_x"]])
        grad = -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll, grad

    def _hessian(self, theta, stats):
        """Hessian of :meth:`_objective`'s value (the weighted negative log-likelihood) in the log parameters.

        Exact, as for :class:`~loyalty.clv.BetaGeo`: with p the natural parameters, ∂²ℓ/∂θᵢ∂θⱼ =
        pᵢpⱼ ∂²ℓ/∂pᵢ∂pⱼ + δᵢⱼ pᵢ ∂ℓ/∂pᵢ, and each customer's tail logaddexp(A3, A4) has Hessian
        w3∇²A3 + w4∇²A4 + w3w4 (∇A4 − ∇A3)(∇A4 − ∇A3)ᵀ.
        """
        r, alpha, a, b = np.exp(theta)
        ux, wx = stats["ux"], stats["wx"]
        grad = np.array([
            np.sum(wx * (digamma(r + ux) - digamma(r) + np.log(alpha))),
            np.sum(wx) * r / alpha,
            np.sum(wx * (digamma(a + b) - digamma(a + b + ux + 1))),
            np.sum(wx * (digamma(a + b) + digamma(b + ux + 1) - digamma(b) - digamma(a + b + ux + 1))),
        ])
        hess = np.zeros((4, 4))  # of ℓ in the natural parameters (r, alpha, a, b)
        hess[0, 0] = np.sum(wx * (polygamma(1, r + ux) - polygamma(1, r)))
        hess[0, 1] = np.sum(wx) / alpha
        hess[1, 1] = -np.sum(wx) * r / alpha**2
        hess[2, 2] = hess[2, 3] = np.sum(wx * (polygamma(1, a + b) - polygamma(1, a + b + ux + 1)))
        hess[3, 3] = np.sum(
            wx * (polygamma(1, b + ux + 1) - polygamma(1, a + b + ux + 1) - polygamma(1, b) + polygamma(1, a + b))
        )
        x, w = stats["x"], stats["weights"]
        rx = r + x
        log_a_T = np.log(alpha + stats["uT"])[stats["inv_T"]]
        log_a_tx = np.log(alpha + stats["ut_x"])[stats["inv_tx"]]
        inv_T = (1.0 / (alpha + stats["uT"]))[stats["inv_T"]]
        inv_tx = (1.0 / (alpha + stats["ut_x"]))[stats["inv_tx"]]
        inv_bx = (1.0 / (b + ux))[stats["inv_x"]]
        diff = np.log(a) + np.log(inv_bx) - rx * (log_a_tx - log_a_T)  # A4 - A3
        small = np.exp(-np.abs(diff))
        w4 = np.where(diff > 0, 1.0, small) / (1.0 + small)
        w3 = 1.0 - w4
        grad[0] -= np.sum(w * (w3 * log_a_T + w4 * log_a_tx))
        grad[1] -= np.sum(w * rx * (w3 * inv_T + w4 * inv_tx))
        grad[2] += np.sum(w * w4) / a
        grad[3] -= np.sum(w * w4 * inv_bx)
        hess[0, 1] -= np.sum(w * (w3 * inv_T + w4 * inv_tx))
        hess[1, 1] += np.sum(w * rx * (w3 * inv_T**2 + w4 * inv_tx**2))
        hess[2, 2] -= np.sum(w * w4) / a**2
        hess[3, 3] += np.sum(w * w4 * inv_bx**2)
        ww = w * w3 * w4
        D = (log_a_T - log_a_tx, rx * (inv_T - inv_tx), np.full_like(x, 1.0 / a), -inv_bx)
        for i in range(4):
            for j in range(i, 4):
                hess[i, j] += np.sum(ww * D[i] * D[j])
        hess = np.triu(hess) + np.triu(hess, 1).T
        natural = np.array([r, alpha, a, b])
        in_log = natural[:, None] * hess * natural[None, :] + np.diag(natural * grad)
        return -(in_log + in_log.T) / 2

    # -- predictions -----------------------------------------------------------------------------------------
    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """P(alive at T | x, t_x, T) (Batislam et al. 2007, appendix, eq. 5); below 1 even with no repeat purchase."""
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        return pd.Series(_p_alive(self.params_, x, t_x, T), index=summary.index, name="p_alive")

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """E[purchases in (T, T + t] | x, t_x, T] (Wagner & Hoppe 2008); ``t`` in the model's time unit."""
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        r, alpha, a, b = (self.params_[k] for k in self._param_names)
        t = float(t)
        front = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        if_alive = (a + b + x) / (a - 1) * (1 - front * hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t)))
        values = if_alive * _p_alive(self.params_, x, t_x, T)
        return pd.Series(values, index=summary.index, name="expected_purchases")

    def p_no_purchase(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """P(no purchase in (T, T + t] | x, t_x, T); ``t`` in the model's time unit.

        Gone already, or alive and the Poisson clock does not tick: 1 - P(alive) + P(alive) ((α+T)/(α+T+t))^(r+x).
        """
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        alive = _p_alive(self.params_, x, t_x, T)
        r, alpha = self.params_["r"], self.params_["alpha"]
        silent = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + float(t))))
        return pd.Series(1.0 - alive + alive * silent, index=summary.index, name="p_no_purchase")

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        """E[X(t)], repeat purchases of a customer just acquired (Batislam et al. 2007); ``t`` in the
        model's time unit."""
        self._require_fitted()
        r, alpha, a, b = (self.params_[k] for k in self._param_names)
        t = np.asarray(t, dtype=float)
        return b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b + 1, a + b, t / (alpha + t)))

    def customer_log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's log-likelihood at the fitted parameters."""
        self._require_fitted()
        x, t_x, T = self._arrays(summary)
        return pd.Series(_customer_ll(self.params_, x, t_x, T), index=summary.index, name="log_likelihood")

    @classmethod
    def from_lifetimes(cls, fitter, time_unit: str | None = None) -> "ModifiedBetaGeo":
        """A fitted ``ModifiedBetaGeo`` from a fitted ``lifetimes.ModifiedBetaGeoFitter`` (parameters and, if
        present, covariance)."""
        params = {name: float(fitter.params_[name]) for name in cls._param_names}
        return cls.from_params(params, lifetimes_log_covariance(fitter, cls._param_names, params),
                               time_unit=time_unit, penalizer=getattr(fitter, "penalizer_coef", 0.0))

    def to_lifetimes(self):
        """A ``lifetimes.ModifiedBetaGeoFitter`` carrying these parameters (needs ``lifetimes`` installed)."""
        self._require_fitted()
        from lifetimes import ModifiedBetaGeoFitter

        fitter = ModifiedBetaGeoFitter(penalizer_coef=self.penalizer)
        fitter.params_ = pd.Series(self.params_)
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time  # as lifetimes' fit does
        return fitter


def _statistics(x, t_x, T, weights) -> dict:
    """Per distinct x the summed weights, and every row's indices into the distinct x, T and t_x values."""
    ux, inv_x = np.unique(x, return_inverse=True)
    inv_T, uT = pd.factorize(T)
    inv_tx, ut_x = pd.factorize(t_x)
    return {
        "x": x, "t_x": t_x, "T": T, "weights": weights,
        "ux": ux, "inv_x": inv_x.ravel(), "wx": np.bincount(inv_x.ravel(), weights=weights, minlength=len(ux)),
        "uT": np.asarray(uT, dtype=float), "inv_T": inv_T, "ut_x": np.asarray(ut_x, dtype=float), "inv_tx": inv_tx,
    }


def _customer_ll(params, x, t_x, T) -> np.ndarray:
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x + 1) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return head + np.logaddexp(a3, a4)


def _p_alive(params, x, t_x, T) -> np.ndarray:
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    log_ratio = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.exp(-np.logaddexp(0.0, log_ratio))

