"""The maximum-likelihood machinery shared by the CLV models.

A model supplies a negative log-likelihood with its gradient as a function of *log* parameters and
sufficient statistics (with weights for collapsed identical rows); this base owns the optimiser, the
convergence checks, the Hessian-based standard errors and the ``summary_`` table.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats
from sklearn.base import BaseEstimator
from threadpoolctl import ThreadpoolController

from ..errors import ConvergenceError, DataValidationError, NotFittedError, Hint

__all__ = ["LikelihoodModel", "unique_rows", "unique_counts", "lifetimes_log_covariance"]

#: Internal (rescaled, so unit-free) parameters beyond exp(+-_LOG_BOUND) ~ [4.5e-5, 2.2e4] are taken as a
#: run along a ridge of the likelihood towards a boundary (e.g. a, b -> infinity: no heterogeneity), not an
#: estimate.
_LOG_BOUND = 10.0
#: Penalizer tried before an error message suggests one.
_TRIAL_PENALIZER = 1e-3
#: Fits on more than 4x this many customers start from a fit on a random subsample of this size.
_WARM_START_CUSTOMERS = 50_000


_CONTROLLER: list[ThreadpoolController] = []


def _blas_threads() -> ThreadpoolController:
    """The BLAS thread pools of this process, found once (a fresh lookup costs milliseconds per fit)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def unique_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(x, return_inverse=True)`` for repeat-purchase counts, without sorting when they are small
    whole numbers (a lookup table instead: a million customers in milliseconds)."""
    if len(x) and x.min() >= 0 and x.max() < 1_000_000 and np.all(x == np.floor(x)):
        whole = x.astype(np.int64)
        present = np.bincount(whole) > 0
        values = np.flatnonzero(present)
        position = np.cumsum(present) - 1
        return values.astype(x.dtype), position[whole]
    values, inverse = np.unique(x, return_inverse=True)
    return values, inverse.ravel()


def unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Unique rows of equal-length columns in lexicographic order, the inverse index and the counts.

    The same as ``np.unique(np.column_stack(columns), axis=0, return_inverse=True, return_counts=True)``, but
    each column is ranked on its own and the ranks combined into one integer key, which sorts several times
    faster than rows of floats do.
    """
    ranks, sizes = [], []
    for column in columns:
        values, rank = np.unique(column, return_inverse=True)
        ranks.append(rank.ravel())
        sizes.append(len(values))
    if np.prod([float(n) for n in sizes]) >= 2.0**62:  # the key would overflow int64
        stacked = np.column_stack(columns)
        unique, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
        return [unique[:, i] for i in range(unique.shape[1])], inverse.ravel(), counts
    key = np.zeros(len(ranks[0]), dtype=np.int64)
    for rank, size in zip(ranks, sizes):
        key = key * size + rank
    _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    return [np.asarray(column)[first] for column in columns], inverse.ravel(), counts


class LikelihoodModel(BaseEstimator):
    """Base class: subclasses define ``_param_names``, ``_statistics``, ``_start`` and ``_objective``.

    ``_objective(log_params, stats)`` returns the weighted total negative log-likelihood and its gradient
    with respect to the log parameters, in the model's internal (possibly rescaled) parametrisation;
    ``_to_natural(log_params, stats)`` maps that back to the natural-scale log parameters users see.
    """

    _param_names: tuple[str, ...] = ()
    #: Fits on more than 4x this many customers start from a fit on a random subsample of this size (a model
    #: whose likelihood is costly to evaluate sets it lower).
    _warm_start_customers: int = _WARM_START_CUSTOMERS

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-9, max_iter: int = 2000):
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter

    # -- fitting ---------------------------------------------------------------------------------------------
    def _fit_statistics(self, stats: dict) -> None:
        # The optimisers work on a handful of parameters: BLAS threads only add synchronisation, which on a busy
        # machine made a 10k-customer fit ten times slower (OpenBLAS threads waiting for a free core).
        with _blas_threads().limit(limits=1, user_api="blas"):
            self._optimise(stats)

    def _optimise(self, stats: dict) -> None:
        if self.penalizer < 0:
            raise ValueError(f"penalizer must be >= 0, got {self.penalizer}")
        total_weight = float(stats["weights"].sum())
        objective = self._mean_objective(stats)
        start, inverse_hessian = self._start(stats), None
        warm = self._warm_start_customers
        sample = self._subsample(stats, warm) if total_weight > 4 * warm else None
        if sample is not None:
            # A fit on a random subsample lands next to the full optimum, and its curvature (the same per
            # customer) preconditions the steps on the full data, which then need only a few gradients.
            sample_objective = self._mean_objective(sample)
            with np.errstate(all="ignore"):
                warm = optimize.minimize(
                    sample_objective, start, jac=True, method="BFGS", options={"maxiter": self.max_iter, "gtol": 1e-7}
                )
                curvature = _numerical_hessian(lambda t: sample_objective(t)[1], warm.x)
            if np.all(np.isfinite(warm.x)) and np.all(np.abs(warm.x) < _LOG_BOUND):
                start = warm.x
                if np.all(np.isfinite(curvature)) and np.all(np.linalg.eigvalsh(curvature) > 0):
                    inverse_hessian = np.linalg.inv(curvature)
                    inverse_hessian = (inverse_hessian + inverse_hessian.T) / 2
        with np.errstate(all="ignore"):
            if inverse_hessian is not None:
                result = _preconditioned_descent(objective, start, inverse_hessian, self.tol)
                if not result.success:
                    result = optimize.minimize(
                        objective, result.x, jac=True, method="BFGS",
                        options={"gtol": self.tol, "maxiter": 200, "hess_inv0": inverse_hessian},
                    )
                polished = None
            if inverse_hessian is None or not result.success and np.max(np.abs(result.jac)) > 1e-6:
                result = optimize.minimize(
                    objective, start, jac=True, method="L-BFGS-B",
                    options={"maxiter": self.max_iter, "ftol": 1e-15, "gtol": self.tol, "maxcor": 20},
                )
                # L-BFGS-B stops on relative progress; a few BFGS steps from there polish the optimum
                polished = optimize.minimize(
                    objective, result.x, jac=True, method="BFGS", options={"gtol": self.tol, "maxiter": 200}
                )
        first = result
        if polished is not None and np.isfinite(polished.fun) and polished.fun <= result.fun:
            result = polished
        theta = result.x
        negative_ll, raw_grad = self._objective(theta, stats)
        value, grad = self._penalised(theta, negative_ll, raw_grad, total_weight)
        grad_norm = float(np.max(np.abs(grad)))
        self._check_convergence(result, theta, value, grad_norm, stats)

        if hasattr(self, "_hessian"):  # exact, and cheaper than differences of the gradient
            hessian = self._hessian(theta, stats)
        else:
            hessian = _numerical_hessian(lambda t: self._objective(t, stats)[1], theta)
        if self.penalizer:
            natural = np.exp(theta)
            hessian = hessian + np.diag(self.penalizer * total_weight * 4 * natural**2)
        # One Newton step with the Hessian the standard errors need anyway: quasi-Newton methods stop at their
        # gradient tolerance, a Newton step from there lands on the optimum to near machine precision.
        try:
            newton = theta - np.linalg.solve(hessian, grad * total_weight)
        except np.linalg.LinAlgError:
            newton = None
        if newton is not None and np.all(np.isfinite(newton)):
            stepped_ll, stepped_grad = self._objective(newton, stats)
            stepped_value, stepped = self._penalised(newton, stepped_ll, stepped_grad, total_weight)
            if stepped_value <= value:
                theta, negative_ll, value = newton, stepped_ll, stepped_value
                grad_norm = float(np.max(np.abs(stepped)))
        natural_log = self._to_natural(theta, stats)
        if not _positive_definite(hessian):
            # a flat direction at the optimum: the subclass may know which boundary that is and what works instead
            boundary = self._boundary_error(theta, negative_ll, stats)
            if boundary is not None:
                raise boundary
        covariance = _invert(hessian)

        self.params_ = {name: float(np.exp(v)) for name, v in zip(self._param_names, natural_log)}
        self.log_params_ = np.asarray(natural_log, dtype=float)
        self.covariance_ = covariance  # of the natural log parameters (rescaling only shifts them)
        se_log = np.sqrt(np.diag(covariance))
        self.standard_errors_ = {
            name: float(np.exp(v) * s) for name, v, s in zip(self._param_names, natural_log, se_log)
        }
        self.log_likelihood_ = float(-negative_ll + self._log_likelihood_shift(stats))
        self.n_customers_ = int(total_weight)
        self.n_iterations_ = int(first.nit) + int(getattr(polished, "nit", 0) if polished is not None else 0)
        self.gradient_norm_ = grad_norm
        z = stats_norm_ppf(0.975)
        self.summary_ = pd.DataFrame(
            {
                "estimate": np.exp(natural_log),
                "se": np.exp(natural_log) * se_log,
                "lower_95": np.exp(natural_log - z * se_log),
                "upper_95": np.exp(natural_log + z * se_log),
            },
            index=pd.Index(self._param_names, name="parameter"),
        )

    def _mean_objective(self, stats: dict):
        """Mean negative log-likelihood per customer (plus the penalty) and its gradient, for the optimiser."""
        total_weight = float(stats["weights"].sum())

        def objective(theta):
            return self._penalised(theta, *self._objective(theta, stats), total_weight)

        return objective

    def _penalised(self, theta, value, grad, total_weight: float):
        """Mean of the negative log-likelihood and its gradient, plus the L2 penalty on the parameters."""
        if self.penalizer:
            natural = np.exp(theta)
            value = value + self.penalizer * total_weight * np.sum(natural**2)
            grad = grad + self.penalizer * total_weight * 2 * natural**2
        return value / total_weight, grad / total_weight

    def _subsample(self, stats: dict, customers: int) -> dict | None:
        """Statistics of a random subsample of about ``customers`` customers, or None (no warm start)."""
        return None

    def _check_convergence(self, result, theta, value, grad_norm, stats) -> None:
        name = type(self).__name__
        if not np.all(np.isfinite(theta)) or not np.isfinite(value):
            remedy, hint = self._penalizer_remedy(stats)
            raise ConvergenceError(
                f"{name} fit produced non-finite values (optimiser status: {result.message}); "
                f"data: {self._describe(stats)}. {remedy}", hint=hint,
            )
        diverged = [n for n, v in zip(self._param_names, theta) if abs(v) > _LOG_BOUND]
        if diverged:
            boundary = self._boundary_error(theta, self._objective(theta, stats)[0], stats)
            if boundary is not None:
                raise boundary
            values = {n: float(f"{np.exp(v):.4g}") for n, v in zip(self._param_names, self._to_natural(theta, stats))}
            remedy, hint = self._penalizer_remedy(stats)
            raise ConvergenceError(
                f"{name} fit diverged: parameter(s) {diverged} ran off towards a boundary {values} "
                f"(optimiser status: {result.message}). The data do not identify the model: "
                f"{self._describe(stats)}. {remedy}", hint=hint,
            )
        if grad_norm > 1e-3:
            remedy, hint = self._penalizer_remedy(stats)
            raise ConvergenceError(
                f"{name} fit did not converge: gradient norm {grad_norm:.2e} after {result.nit} iterations "
                f"(optimiser status: {result.message}); data: {self._describe(stats)}. {remedy}", hint=hint,
            )

    def _boundary_error(self, theta, negative_ll: float, stats: dict) -> Exception | None:
        """An error that names the boundary the fit ran to and what works instead, or None (the generic message).

        Called when a parameter diverged or the Hessian at the optimum is not positive definite; ``theta`` and
        ``negative_ll`` are the internal log parameters and the weighted negative log-likelihood there."""
        return None

    def _penalizer_remedy(self, stats: dict) -> tuple[str, Hint | None]:
        """A penalizer suggestion only if one was tried on these data and converged (messages suggest only
        remedies that work): the sentence, with ``{hint}`` where the setting goes, and the :class:`Hint` that
        spells it for Python or the CLI (None when no penalizer is suggested)."""
        if self.penalizer:
            return f"The fit already uses penalizer={self.penalizer:g}.", None
        try:
            trial = self._trial_fit({**self.get_params(), "penalizer": _TRIAL_PENALIZER}, stats)
        except ConvergenceError:
            return (f"A penalizer does not help: penalizer={_TRIAL_PENALIZER:g} was tried and fails too; "
                    "more customers or a longer calibration period may identify the model."), None
        estimates = {n: float(f"{v:.4g}") for n, v in trial.params_.items()}
        return ("{hint} converges on these data (" + str(estimates) + "); it shrinks the parameters "
                "towards 0, so compare its forecasts on a holdout."), Hint("penalizer", _TRIAL_PENALIZER)

    @classmethod
    def _trial_fit(cls, settings: dict, stats: dict) -> "LikelihoodModel":
        """A model with ``settings`` fitted on the same statistics, quietly (to check a remedy before offering it)."""
        model = cls(**settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cls._optimise(model, stats)
        return model

    def _log_likelihood_shift(self, stats: dict) -> float:
        """Change of the log-likelihood from the internal to the natural parametrisation (e.g. time rescaling)."""
        return 0.0

    def _describe(self, stats: dict) -> str:
        return f"{int(stats['weights'].sum()):,} customers"

    # -- shared helpers --------------------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(summary) first")

    @classmethod
    def from_params(cls, params: dict, covariance=None, log_likelihood: float = np.nan, n_customers: int = 0,
                    **settings):
        """A fitted model carrying given parameters (saved models, other libraries, published estimates).

        Parameters
        ----------
        params : dict
            Every parameter of the model by name (``_param_names``), each a positive finite number, on the natural
            scale and in the time unit the summaries to score are in.
        covariance : array-like, optional
            Covariance of the *log* parameters, in ``_param_names`` order; without it the standard errors are
            NaN (unknown) and CLV intervals are unavailable.
        log_likelihood, n_customers : the fit's total log-likelihood and number of customers, when known.
        **settings : the model's ``__init__`` settings (e.g. ``penalizer``).

        Raises
        ------
        DataValidationError
            Naming a missing or non-positive parameter, or a covariance of the wrong shape.
        """
        names = cls._param_names
        missing = [n for n in names if n not in params]
        if missing:
            raise DataValidationError(f"{cls.__name__}.from_params: parameter(s) {missing} missing; need {list(names)}")
        bad = {n: params[n] for n in names if not _positive_number(params[n])}
        if bad:
            raise DataValidationError(f"{cls.__name__}.from_params: parameters must be positive and finite, got {bad}")
        if covariance is not None and np.shape(covariance) != (len(names), len(names)):
            raise DataValidationError(
                f"{cls.__name__}.from_params: covariance must be {len(names)}x{len(names)} (log parameters in the "
                f"order {list(names)}), got shape {np.shape(covariance)}"
            )
        if covariance is not None:
            covariance = _checked_covariance(cls.__name__, covariance)
        model = cls(**settings)
        _install_params(model, names, params, covariance, log_likelihood, n_customers)
        return model

    def _set_params(self, params: dict, covariance=None, log_likelihood=np.nan, n_customers=0) -> None:
        """Install given parameters on this model, unchecked (callers outside this module use
        :meth:`from_params`)."""
        _install_params(self, self._param_names, params, covariance, log_likelihood, n_customers)


def _install_params(model: LikelihoodModel, names, params: dict, covariance, log_likelihood, n_customers) -> None:
    """Set a model's fitted attributes from given parameters, as a fit would (standard errors from ``covariance``,
    NaN without one)."""
    model.params_ = {name: float(params[name]) for name in names}
    model.log_params_ = np.log([model.params_[n] for n in names])
    k = len(names)
    model.covariance_ = np.full((k, k), np.nan) if covariance is None else np.asarray(covariance, float)
    se_log = np.sqrt(np.diag(model.covariance_))
    model.standard_errors_ = {n: float(model.params_[n] * s) for n, s in zip(names, se_log)}
    model.log_likelihood_ = float(log_likelihood)
    model.n_customers_ = int(n_customers)
    z = stats_norm_ppf(0.975)
    est = np.exp(model.log_params_)
    model.summary_ = pd.DataFrame(
        {"estimate": est, "se": est * se_log, "lower_95": np.exp(model.log_params_ - z * se_log),
         "upper_95": np.exp(model.log_params_ + z * se_log)},
        index=pd.Index(names, name="parameter"),
    )


def _checked_covariance(name: str, covariance) -> np.ndarray:
    """A covariance of log parameters as given: finite with a non-negative diagonal; or all NaN (unknown, as a fit
    without identified standard errors saves it). Anything else is a DataValidationError. (Symmetry is not
    required: ``lifetimes``' variance matrices are not symmetric.)"""
    try:
        matrix = np.asarray(covariance, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(f"{name}.from_params: covariance must be a matrix of numbers") from None
    if np.all(np.isnan(matrix)):
        return matrix
    if not np.all(np.isfinite(matrix)):
        raise DataValidationError(f"{name}.from_params: covariance has non-finite entries (and not all unknown): "
                                  f"{matrix.tolist()}")
    if np.any(np.diag(matrix) < 0):
        raise DataValidationError(f"{name}.from_params: covariance has a negative variance on its diagonal: "
                                  f"{np.diag(matrix).tolist()}")
    return matrix


def _positive_number(value) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(number) and number > 0)


def stats_norm_ppf(q: float) -> float:
    return float(stats.norm.ppf(q))


def _preconditioned_descent(objective, start: np.ndarray, inverse_hessian: np.ndarray, gtol: float,
                            max_steps: int = 30) -> optimize.OptimizeResult:
    """Minimise ``objective`` (value, gradient) by steps θ ← θ − H₀⁻¹ ∇f(θ), halving a step that increases f.

    H₀ is the curvature of a fit on a random subsample at its optimum: the per-customer curvature is the same in
    the full data up to sampling error, so each step gains one to two digits, with one gradient per step and no
    line search (BFGS from the same start spends 20-30 evaluations on the full data, mostly in line searches).
    ``success`` is False when the gradient is not below ``gtol`` after ``max_steps``; the caller then goes on
    with BFGS.
    """
    theta = np.asarray(start, dtype=float)
    value, grad = objective(theta)
    nit, message = 0, "converged"
    while np.max(np.abs(grad)) > gtol:
        if nit == max_steps:
            message = f"gradient above {gtol:g} after {max_steps} steps"
            break
        step = inverse_hessian @ grad
        for _ in range(30):
            candidate = theta - step
            new_value, new_grad = objective(candidate)
            # at the optimum f changes by less than its rounding: accept a step that does not raise it visibly
            if np.isfinite(new_value) and new_value <= value + 1e-13 * abs(value):
                break
            step = step / 2
        else:
            message = "no step decreases the objective"
            break
        theta, value, grad = candidate, new_value, new_grad
        nit += 1
    success = bool(np.isfinite(value) and np.max(np.abs(grad)) <= gtol)
    return optimize.OptimizeResult(x=theta, fun=value, jac=grad, nit=nit, success=success, message=message)


def _numerical_hessian(gradient, theta: np.ndarray) -> np.ndarray:
    """Central differences of an analytic gradient, symmetrised."""
    k = len(theta)
    hessian = np.empty((k, k))
    for j in range(k):
        step = 1e-5 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        hessian[:, j] = (gradient(up) - gradient(down)) / (2 * step)
    return (hessian + hessian.T) / 2


def _positive_definite(matrix: np.ndarray) -> bool:
    try:
        return bool(np.all(np.isfinite(matrix)) and np.all(np.linalg.eigvalsh(matrix) > 0))
    except np.linalg.LinAlgError:
        return False


def _invert(hessian: np.ndarray) -> np.ndarray:
    try:
        eigenvalues = np.linalg.eigvalsh(hessian)
        if np.all(eigenvalues > 0):
            return np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        pass
    warnings.warn(
        "the Hessian at the optimum is not positive definite, so standard errors are unavailable (NaN); "
        "the estimate may sit on a flat ridge of the likelihood",
        RuntimeWarning,
        stacklevel=3,
    )
    return np.full(hessian.shape, np.nan)


def lifetimes_log_covariance(fitter, names, params: dict) -> np.ndarray | None:
    """Covariance of the log parameters from a fitted ``lifetimes`` fitter's natural-scale ``variance_matrix_``
    (delta method: divide by the outer product of the estimates); None when the fitter has none."""
    matrix = getattr(fitter, "variance_matrix_", None)
    if matrix is None:
        return None
    matrix = np.asarray(pd.DataFrame(matrix).loc[list(names), list(names)], dtype=float)
    scale = np.array([params[n] for n in names])
    return matrix / np.outer(scale, scale)
