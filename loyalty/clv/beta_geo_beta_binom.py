"""BG/BB: the beta-geometric / beta-binomial model for discrete transaction opportunities.

Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a discrete-time noncontractual
setting. *Marketing Science* 29(6), 1086-1108. Equation numbers below refer to that paper.

At each of n transaction opportunities (a yearly appeal, a weekly event) a live customer transacts with
probability p ~ Beta(α, β); before each opportunity a live customer drops out for good with probability
θ ~ Beta(γ, δ). A customer's history is summarised by x (opportunities with a transaction), t_x (the last of
them, 0 if none) and n; its likelihood is

    L = B(α + x, β + n − x) / B(α, β) · B(γ, δ + n) / B(γ, δ)
        + Σ_{i=0}^{n−t_x−1} B(α + x, β + t_x − x + i) / B(α, β) · B(γ + 1, δ + t_x + i) / B(γ, δ)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1, polygamma

from ..errors import DataValidationError
from ._mle import LikelihoodModel, lifetimes_log_covariance
from ._repeat import customer_weights

__all__ = ["BetaGeoBetaBinom"]

_COLUMNS = ("frequency", "recency", "n_periods")


class BetaGeoBetaBinom(LikelihoodModel):
    """BG/BB model, fitted by maximum likelihood on (frequency, recency, n_periods) and optional ``weights``.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the parameters, as ``lifetimes``' ``penalizer_coef``: ``penalizer * sum(params**2)`` added
        to the mean negative log-likelihood.
    tol : float
        Gradient tolerance of the optimiser (mean log-likelihood per customer).
    max_iter : int
        Iteration cap of the optimiser.

    Attributes
    ----------
    params_ : dict
        ``alpha``, ``beta`` (transaction probability p ~ Beta(alpha, beta)), ``gamma``, ``delta`` (dropout
        probability θ ~ Beta(gamma, delta)).
    standard_errors_ : dict
    covariance_ : ndarray
        Covariance of the log parameters, order ``(alpha, beta, gamma, delta)``.
    summary_ : DataFrame
        ``estimate``, ``se``, ``lower_95``, ``upper_95`` (interval on the log scale, so always positive).
    log_likelihood_ : float
        Total log-likelihood at the estimate (without the penalty).
    n_customers_ : int

    Examples
    --------
    >>> from loyalty.datasets import load_donations
    >>> model = BetaGeoBetaBinom().fit(load_donations())
    >>> {k: round(v, 3) for k, v in model.params_.items()}, round(model.log_likelihood_, 1)
    ({'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783}, -33225.6)
    """

    _param_names = ("alpha", "beta", "gamma", "delta")

    def fit(self, summary: pd.DataFrame) -> "BetaGeoBetaBinom":
        """Fit on a table with ``frequency`` (x), ``recency`` (t_x) and ``n_periods`` (n), whole numbers of
        transaction opportunities, one row per customer or, with a ``weights`` column, per group of identical
        customers; returns self."""
        x, t_x, n = bgbb_arrays(summary)
        if len(x) == 0:
            raise DataValidationError("cannot fit BetaGeoBetaBinom on an empty table (0 customers)")
        if not np.any(x > 0):
            raise DataValidationError(
                f"all {len(x):,} customers have frequency 0: with no transaction at all the transaction and "
                "dropout probabilities cannot be told apart. Use more opportunities or more customers."
            )
        weights = customer_weights(summary)
        if weights is None:
            weights = np.ones(len(x))
        (ux, ut_x, un), inverse = _distinct_histories(x, t_x, n)
        summed = np.bincount(inverse, weights=weights, minlength=len(ux))
        self._fit_statistics(_statistics(ux, ut_x, un, summed))
        return self

    # -- likelihood ------------------------------------------------------------------------------------------
    def _start(self, stats):
        return np.zeros(4)

    def _to_natural(self, theta, stats):
        return np.array(theta, dtype=float)

    def _describe(self, stats):
        w, x, n = stats["weights"], stats["x"], stats["n"]
        span = f"{int(n.min())}" if n.min() == n.max() else f"{int(n.min())} to {int(n.max())}"
        return (
            f"{int(w.sum()):,} customers over {span} opportunities, "
            f"{int(w[x == 0].sum()):,} who never transacted and {int(w[x == n].sum()):,} who transacted at every "
            "opportunity"
        )

    def _objective(self, theta, stats):
        alpha, beta, gamma, delta = np.exp(theta)
        log_terms, parts = _log_terms(alpha, beta, gamma, delta, stats)
        row_ll = _row_logsumexp(log_terms)
        w = stats["weights"]
        share = np.exp(log_terms - row_ll[:, None])  # each term's share of the likelihood (0 where masked)
        grad = np.array([np.sum(w * np.sum(share * part, axis=1)) for part in parts])
        grad *= np.array([alpha, beta, gamma, delta])
        return -float(np.sum(w * row_ll)), -grad

    # -- predictions -----------------------------------------------------------------------------------------
    def customer_log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's log-likelihood at the fitted parameters."""
        self._require_fitted()
        x, t_x, n = bgbb_arrays(summary)
        return pd.Series(self._row_log_likelihood(x, t_x, n), index=summary.index, name="log_likelihood")

    def p_alive(self, summary: pd.DataFrame, periods_ahead: int = 1) -> pd.Series:
        """P(alive at opportunity n + ``periods_ahead`` | x, t_x, n) (appendix, eq. A10).

        The default, ``periods_ahead=1``, is the paper's P(alive in period n + 1): still there at the next
        opportunity. ``periods_ahead=0`` is alive through the last observed one, which is 1 for everyone who
        transacted at it.
        """
        self._require_fitted()
        if not (float(periods_ahead) >= 0 and float(periods_ahead).is_integer()):
            raise ValueError(f"periods_ahead must be a whole number of opportunities >= 0, got {periods_ahead}")
        x, t_x, n = bgbb_arrays(summary)
        alpha, beta, gamma, delta = (self.params_[k] for k in self._param_names)
        log_alive = (
            betaln(alpha + x, beta + n - x) - betaln(alpha, beta)
            + betaln(gamma, delta + n + float(periods_ahead)) - betaln(gamma, delta)
        )
        values = np.exp(log_alive - self._row_log_likelihood(x, t_x, n))
        return pd.Series(values, index=summary.index, name="p_alive")

    def expected_purchases(self, summary: pd.DataFrame, t: int) -> pd.Series:
        """E[transactions in opportunities n+1 .. n+t | x, t_x, n] (eq. 13); ``t`` counts future opportunities."""
        self._require_fitted()
        x, t_x, n = bgbb_arrays(summary)
        alpha, beta, gamma, delta = (self.params_[k] for k in self._param_names)
        log_rate = betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta) - self._row_log_likelihood(x, t_x, n)
        values = np.exp(log_rate) * _survival_sum(gamma, delta, n, float(t))
        return pd.Series(values, index=summary.index, name="expected_purchases")

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        """E[X(t)], transactions of a new customer in their first ``t`` opportunities: α / (α + β) times the
        expected number of those opportunities they are alive for."""
        self._require_fitted()
        alpha, beta, gamma, delta = (self.params_[k] for k in self._param_names)
        t = np.asarray(t, dtype=float)
        return alpha / (alpha + beta) * _survival_sum(gamma, delta, np.zeros_like(t), t)

    def dert(self, summary: pd.DataFrame, discount_rate: float) -> pd.Series:
        """Discounted expected residual transactions (DERT): Σₖ E[transaction at n + k] / (1 + d)ᵏ, k ≥ 1.

        Closed form B(α+x+1, β+n−x)/B(α, β) · B(γ, δ+n+1)/B(γ, δ) · 2F1(1, δ+n+1; γ+δ+n+1; 1/(1+d)) / ((1+d) L).
        ``discount_rate`` d is per transaction opportunity (e.g. 0.1 for yearly appeals at 10% a year).
        Multiplied by the value of a transaction it is the customer's residual value.
        """
        self._require_fitted()
        if not discount_rate > 0:
            raise ValueError(f"discount_rate must be > 0 (per opportunity), got {discount_rate}")
        x, t_x, n = bgbb_arrays(summary)
        alpha, beta, gamma, delta = (self.params_[k] for k in self._param_names)
        log_front = (
            betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta)
            + betaln(gamma, delta + n + 1) - betaln(gamma, delta)
            - np.log1p(discount_rate) - self._row_log_likelihood(x, t_x, n)
        )
        values = np.exp(log_front) * hyp2f1(1.0, delta + n + 1, gamma + delta + n + 1, 1.0 / (1.0 + discount_rate))
        return pd.Series(values, index=summary.index, name="dert")

    def _row_log_likelihood(self, x, t_x, n) -> np.ndarray:
        (ux, ut_x, un), inverse = _distinct_histories(x, t_x, n)
        stats = _statistics(ux, ut_x, un, np.ones(len(ux)))
        log_terms, _ = _log_terms(*(self.params_[k] for k in self._param_names), stats)
        return _row_logsumexp(log_terms)[inverse]

    # -- conversion ------------------------------------------------------------------------------------------
    @classmethod
    def from_lifetimes(cls, fitter) -> "BetaGeoBetaBinom":
        """A fitted ``BetaGeoBetaBinom`` from a fitted ``lifetimes.BetaGeoBetaBinomFitter`` (parameters and, if
        present, covariance)."""
        params = {name: float(fitter.params_[name]) for name in cls._param_names}
        return cls.from_params(params, lifetimes_log_covariance(fitter, cls._param_names, params),
                               penalizer=getattr(fitter, "penalizer_coef", 0.0))

    def to_lifetimes(self):
        """A ``lifetimes.BetaGeoBetaBinomFitter`` carrying these parameters (needs ``lifetimes`` installed)."""
        self._require_fitted()
        from lifetimes import BetaGeoBetaBinomFitter

        fitter = BetaGeoBetaBinomFitter(penalizer_coef=self.penalizer)
        fitter.params_ = pd.Series(self.params_)[list(self._param_names)]
        return fitter


def bgbb_arrays(summary: pd.DataFrame):
    """``frequency``, ``recency`` and ``n_periods`` of a discrete-opportunity summary as float arrays, checked.

    Raises :class:`~loyalty.errors.DataValidationError` naming a missing column, or counting the invalid rows
    (not whole numbers, not 0 <= frequency <= recency <= n_periods, recency > 0 without a transaction or 0 with
    one, n_periods < 1) with examples.
    """
    missing = [c for c in _COLUMNS if c not in summary.columns]
    if missing:
        raise DataValidationError(
            f"Required column(s) {missing} missing; BetaGeoBetaBinom needs {list(_COLUMNS)} "
            f"(transaction opportunities), got {list(summary.columns)}"
        )
    try:
        x, t_x, n = (summary[c].to_numpy(dtype=float) for c in _COLUMNS)
    except (TypeError, ValueError) as error:
        raise DataValidationError(f"columns {list(_COLUMNS)} must be numeric: {error}") from None
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(n) & (x == np.round(x)) & (t_x == np.round(t_x)) & (
            n == np.round(n)
        )
        bad = ~whole | (x < 0) | (x > t_x) | (t_x > n) | (n < 1) | ((x == 0) & (t_x != 0)) | ((x > 0) & (t_x == 0))
    if np.any(bad):
        example = summary.loc[bad, list(_COLUMNS)].head(3).to_dict("index")
        raise DataValidationError(
            f"{int(bad.sum()):,} of {len(x):,} rows are not valid opportunity counts (whole numbers with "
            f"0 <= frequency <= recency <= n_periods, n_periods >= 1, recency 0 exactly when frequency is 0), "
            f"e.g. {example}"
        )
    return x, t_x, n


def _distinct_histories(x, t_x, n):
    """The distinct (x, t_x, n) rows of whole-number histories and each row's index into them: one integer key
    per row, hashed (no sort; histories take few distinct values)."""
    size = float(np.max(n)) + 1.0
    if size**3 < 2.0**52:  # the key is exact in float arithmetic
        key = ((n * size + t_x) * size + x).astype(np.int64)
        inverse = pd.factorize(key)[0]
        first = np.zeros(inverse.max() + 1, dtype=np.int64)
        first[inverse] = np.arange(len(inverse))  # some row of each history (they are identical)
    else:  # beyond exact keys: sort rows
        _, first, inverse = np.unique(np.column_stack([x, t_x, n]), axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    return [x[first], t_x[first], n[first]], inverse


def _statistics(x, t_x, n, weights) -> dict:
    """Distinct (x, t_x, n) rows with their summed weights, and the tail index i = 0..n - t_x - 1 as a matrix."""
    width = int(np.max(n - t_x)) if len(n) else 0
    i = np.arange(width, dtype=float)[None, :]
    return {"x": x, "t_x": t_x, "n": n, "weights": weights, "i": i, "tail": i < (n - t_x)[:, None]}


def _log_terms(alpha, beta, gamma, delta, stats):
    """The log of the likelihood's terms, one row per distinct history (first column: alive throughout; then
    the dropout after opportunity t_x + i; masked terms are -inf), and each term's gradient in (α, β, γ, δ).

    Along a row the tail terms differ by ratios of linear terms (B(a, q + 1) = B(a, q) q / (a + q)), and so do
    the digammas of their gradients (ψ(q + 1) = ψ(q) + 1 / q): cumulative sums of logs and reciprocals over i
    instead of a special function per term.
    """
    x, t_x, n = stats["x"][:, None], stats["t_x"][:, None], stats["n"][:, None]
    i, tail = stats["i"], stats["tail"]
    c_a, c_b = digamma(alpha) - digamma(alpha + beta), digamma(beta) - digamma(alpha + beta)
    c_g, c_d = digamma(gamma) - digamma(gamma + delta), digamma(delta) - digamma(gamma + delta)
    base = -betaln(alpha, beta) - betaln(gamma, delta)
    alive = base + betaln(alpha + x, beta + n - x) + betaln(gamma, delta + n)
    q0, ab0 = beta + t_x - x, alpha + beta + t_x  # at i = 0: B(α + x, q0), α + x + q0 = ab0
    d0, gd0 = delta + t_x, gamma + delta + t_x + 1  # at i = 0: B(γ + 1, d0), γ + 1 + d0 = gd0
    first = base + betaln(alpha + x, q0) + betaln(gamma + 1, d0)
    step = np.log(q0 + i) - np.log(ab0 + i) + np.log(d0 + i) - np.log(gd0 + i)  # term i+1 over term i
    gone = np.where(tail, first + _exclusive_cumsum(step), -np.inf)
    log_terms = np.concatenate([alive, gone], axis=1)
    psi_ab = digamma(ab0) + _exclusive_cumsum(1.0 / (ab0 + i))  # ψ(α + β + t_x + i)
    psi_q = digamma(q0) + _exclusive_cumsum(1.0 / (q0 + i))  # ψ(β + t_x − x + i)
    psi_gd = digamma(gd0) + _exclusive_cumsum(1.0 / (gd0 + i))  # ψ(γ + δ + t_x + i + 1)
    psi_d = digamma(d0) + _exclusive_cumsum(1.0 / (d0 + i))  # ψ(δ + t_x + i)
    ab_n, gd_n = digamma(alpha + beta + n), digamma(gamma + delta + n)
    parts = (
        np.concatenate([digamma(alpha + x) - ab_n, digamma(alpha + x) - psi_ab], 1) - c_a,
        np.concatenate([digamma(beta + n - x) - ab_n, np.where(tail, psi_q - psi_ab, 0.0)], 1) - c_b,
        np.concatenate([digamma(gamma) - gd_n, digamma(gamma + 1) - psi_gd], 1) - c_g,
        np.concatenate([digamma(delta + n) - gd_n, np.where(tail, psi_d - psi_gd, 0.0)], 1) - c_d,
    )
    return log_terms, parts


def _row_logsumexp(log_terms: np.ndarray) -> np.ndarray:
    """log Σ exp over each row; the first column (alive throughout) is always finite, so it is a safe shift."""
    top = np.max(log_terms, axis=1)
    return top + np.log(np.sum(np.exp(log_terms - top[:, None]), axis=1))


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    """Σ_{j<i} values[:, j] for every column i (0 in the first)."""
    total = np.cumsum(values, axis=1)
    return total - values


def _survival_sum(gamma: float, delta: float, n, m) -> np.ndarray:
    """Σ_{k=1}^{m} B(γ, δ + n + k) / B(γ, δ): the expected number of the opportunities n+1..n+m a new customer is
    alive at. Closed form by telescoping Γ(δ + j + 1) / Γ(γ + δ + j):

        Γ(γ + δ) / Γ(δ) · f(n) · (1 − f(n + m) / f(n)) / (γ − 1),   f(j) = Γ(δ + j + 1) / Γ(γ + δ + j),

    a 0/0 at γ = 1; within 1e-4 of it log(f(n + m) / f(n)) is expanded in h = γ − 1 to third order (digamma and
    its derivatives), so that the quotient keeps its digits.
    """
    n, m = np.asarray(n, dtype=float), np.asarray(m, dtype=float)
    log_f_n = gammaln(delta + n + 1) - gammaln(gamma + delta + n)
    front = np.exp(gammaln(gamma + delta) - gammaln(delta) + log_f_n)
    h = gamma - 1.0
    if abs(h) < 1e-4:
        # log f(n+m) - log f(n) = -(g(h) - g(0)), g(h) = lgamma(δ+n+m+1+h) - lgamma(δ+n+1+h)
        hi, lo = delta + n + m + 1, delta + n + 1
        slope = [polygamma(k, hi) - polygamma(k, lo) for k in range(3)]
        rate = slope[0] + h * slope[1] / 2 + h * h * slope[2] / 6  # (g(h) - g(0)) / h
        return front * (rate if h == 0 else -np.expm1(-h * rate) / h)
    change = gammaln(delta + n + m + 1) - gammaln(gamma + delta + n + m) - log_f_n
    return front * -np.expm1(change) / h
