"""One CLV model object: a transaction model (BG/NBD by default) + Gamma-Gamma + the CLV settings, scored, saved
and loaded together."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..atomic import write_json
from ..errors import DataValidationError, NotFittedError, SpecError
from ..specs import choice, number, read_model_settings, share, time_unit
from .beta_geo import BetaGeo
from .compare import TRANSACTION_MODELS
from .gamma_gamma import GammaGamma
from ..units import unit_days
from .value import customer_lifetime_value

__all__ = ["CLVModel", "read_spec_settings"]

FORMAT_VERSION = 2  # 2: the transaction model is named ("transaction_model"); version 1 files are BG/NBD


class CLVModel(BaseEstimator):
    """A transaction model (BG/NBD, MBG/NBD, Pareto/NBD or NBD) and Gamma-Gamma fitted together, with the settings that
    turn them into CLV.

    An estimator in scikit-learn's sense: ``__init__`` stores the settings, :meth:`fit` learns the two models and
    returns the model itself.

    Parameters
    ----------
    horizon, period, annual_discount_rate, margin_rate, value :
        As in :func:`loyalty.clv.customer_lifetime_value` (default: 12 months, 10% a year, margin CLV).
    penalizer : float
        Passed to both models.
    model : str
        The transaction model, a name in :data:`loyalty.clv.TRANSACTION_MODELS`: ``"bgnbd"`` (default),
        ``"mbgnbd"``, ``"paretonbd"`` or ``"nbd"`` (no dropout: P(alive) = 1, for a log without detectable
        attrition, where BG/NBD raises :class:`~loyalty.errors.IdentificationError` saying so). To choose one on a
        holdout, see :func:`loyalty.clv.compare_models`.

    Attributes
    ----------
    transaction_model_ : BetaGeo, ModifiedBetaGeo, ParetoNBD or NBD
        The purchase-count model.
    bgnbd_ : BetaGeo
        The same model when it is a BG/NBD (Fader, Hardie & Lee 2005); absent otherwise.
    gamma_gamma_ : GammaGamma or None
        The spend-per-purchase model (Fader & Hardie 2013, note 025); None when the summary has no spend (a log
        without amounts): then :meth:`score` gives P(alive) and expected purchases, and no CLV.

    Examples
    --------
    >>> from loyalty.datasets import load_cdnow
    >>> from loyalty.data import summarize
    >>> summary = summarize(load_cdnow(), cutoff="1997-09-30", period="D", unit="W")
    >>> model = CLVModel(margin_rate=0.25).fit(summary)
    >>> scores = model.score(summary)
    >>> list(scores.columns)[:4]
    ['p_alive', 'expected_purchases', 'expected_spend', 'clv']
    """

    def __init__(self, horizon: float = 12, period: str | float = "M", annual_discount_rate: float = 0.10,
                 margin_rate: float | None = None, value: str = "margin", penalizer: float = 0.0,
                 model: str = "bgnbd"):
        self.horizon = horizon
        self.period = period
        self.annual_discount_rate = annual_discount_rate
        self.margin_rate = margin_rate
        self.value = value
        self.penalizer = penalizer
        self.model = model

    @property
    def bgnbd_(self) -> BetaGeo:
        """The fitted transaction model when it is a BG/NBD (``AttributeError`` otherwise, or before fit)."""
        fitted = self.__dict__.get("transaction_model_")
        if not isinstance(fitted, BetaGeo):
            raise AttributeError("bgnbd_: the CLV model has no fitted BG/NBD (see transaction_model_)")
        return fitted

    @classmethod
    def from_models(cls, transaction_model, gamma_gamma: GammaGamma | None, **settings) -> "CLVModel":
        """A fitted ``CLVModel`` from two fitted models (e.g. fitted on collapsed statistics, see
        :func:`loyalty.engines.collapsed_statistics`, or shared by models of different horizons) and ``settings``
        (the ``__init__`` arguments; ``model`` is taken from the transaction model's type). ``gamma_gamma`` may be
        None (a model fitted without spend: scores without CLV)."""
        for fitted, name in ((transaction_model, "transaction_model"), (gamma_gamma, "gamma_gamma")):
            if fitted is not None and not hasattr(fitted, "params_"):
                raise NotFittedError(f"{name} is not fitted; fit it on a summary first")
        if transaction_model is None:
            raise NotFittedError("transaction_model is None; pass a fitted transaction model")
        kind = _model_name(transaction_model)
        if settings.get("model", kind) != kind:
            raise DataValidationError(f"model={settings['model']!r} but the transaction model is a {kind}")
        settings["model"] = kind
        model = cls(**settings)
        model.transaction_model_, model.gamma_gamma_ = transaction_model, gamma_gamma
        return model

    @classmethod
    def from_spec(cls, path) -> "CLVModel":
        """An unfitted model from a ``models/*.yaml`` spec with ``kind: model``, ``family: clv``.

        ``model: auto`` and ``holdout_days`` are the fit job's (it chooses the model on a holdout, see
        :mod:`loyalty.clv.family`); here ``auto`` is refused and ``holdout_days`` unused.
        """
        settings, where = read_spec_settings(path)
        if settings["model"] == "auto":
            raise SpecError(f"{where}: settings.model 'auto' is chosen by the fit job (loyalty run "
                            "pipelines/fit.yaml) or by loyalty clv compare; name a model here, e.g. bgnbd")
        settings.pop("holdout_days", None)
        return cls(**settings)

    def fit(self, summary: pd.DataFrame) -> "CLVModel":
        """Fit both models on a summary (see :func:`loyalty.data.summarize`); returns self.

        Without a ``monetary_value`` column (a log without amounts) only the transaction model is fitted and
        ``gamma_gamma_`` is None.

        Raises
        ------
        IdentificationError
            When BG/NBD is not identified (e.g. no attrition detected); the error names the model that works
            (``model="nbd"``) and carries it fitted.
        """
        if self.value not in ("margin", "revenue"):
            raise DataValidationError(f"value must be 'margin' or 'revenue', got {self.value!r}")
        if self.model not in TRANSACTION_MODELS:
            raise DataValidationError(f"model must be one of {list(TRANSACTION_MODELS)}, got {self.model!r}")
        self.transaction_model_ = TRANSACTION_MODELS[self.model](penalizer=self.penalizer).fit(summary)
        has_spend = "monetary_value" in summary.columns
        self.gamma_gamma_ = GammaGamma(penalizer=self.penalizer).fit(summary) if has_spend else None
        if not has_spend:
            warnings.warn("the summary has no spend (monetary_value; the log had no amounts): only the transaction "
                          "model is fitted, so score() gives P(alive) and expected purchases and no CLV, which needs "
                          "spend", RuntimeWarning, stacklevel=2)
        return self

    def score(self, summary: pd.DataFrame, interval: float | None = 0.95) -> pd.DataFrame:
        """Per customer: ``p_alive``, ``expected_purchases`` (over the horizon), ``expected_spend`` (per purchase),
        ``clv`` and, with ``interval``, ``clv_se``, ``clv_lower``, ``clv_upper``."""
        if not hasattr(self, "transaction_model_"):
            raise NotFittedError("CLVModel is not fitted: call fit(summary) or CLVModel.load(path)")
        if self.gamma_gamma_ is None:
            return self._score_without_spend(summary)
        clv = customer_lifetime_value(
            self.transaction_model_, self.gamma_gamma_, summary, horizon=self.horizon, period=self.period,
            annual_discount_rate=self.annual_discount_rate, margin_rate=self.margin_rate, value=self.value,
            interval=interval,
        )
        out = pd.DataFrame(
            {
                "p_alive": self.transaction_model_.p_alive(summary),
                "expected_purchases": clv["expected_purchases"],
                "expected_spend": self.gamma_gamma_.expected_spend(summary),
                "clv": clv["clv"],
            }
        )
        for column in ("clv_se", "clv_lower", "clv_upper"):
            if column in clv:
                out[column] = clv[column]
        out.attrs.update(clv.attrs)
        return out

    def _score_without_spend(self, summary: pd.DataFrame) -> pd.DataFrame:
        unit = self.transaction_model_.time_unit_ or summary.attrs.get("unit")
        if unit is None:
            raise DataValidationError("the summary's time unit is unknown: summarize with unit='D' (or 'W', ...)")
        horizon = self.horizon * unit_days(self.period) / unit_days(unit)
        out = pd.DataFrame({
            "p_alive": self.transaction_model_.p_alive(summary),
            "expected_purchases": self.transaction_model_.expected_purchases(summary, horizon),
        })
        out.attrs["clv_unavailable"] = ("no CLV: the model was fitted without spend (the log had no amounts); CLV "
                                        "needs spend per purchase, so fit on a log with an amount column")
        return out

    # -- persistence -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fitted model as plain data (JSON-able): settings, and each model's parameters, covariance of the
        log parameters, log-likelihood and number of customers. The transaction model is named under
        ``"transaction_model"`` and stored under ``"transactions"``; ``gamma_gamma`` is None for a model fitted
        without spend."""
        def model_state(model):
            return {
                "params": model.params_,
                "covariance": np.asarray(model.covariance_).tolist(),
                "log_likelihood": model.log_likelihood_,
                "n_customers": model.n_customers_,
            }

        gg = self.gamma_gamma_
        return {
            "format": "loyalty.clv.CLVModel",
            "version": FORMAT_VERSION,
            "settings": {
                "horizon": self.horizon, "period": self.period, "annual_discount_rate": self.annual_discount_rate,
                "margin_rate": self.margin_rate, "value": self.value, "penalizer": self.penalizer,
            },
            "transaction_model": _model_name(self.transaction_model_),
            "time_unit": self.transaction_model_.time_unit_,
            "value_column": None if gg is None else gg.value_column_,
            "transactions": model_state(self.transaction_model_),
            "gamma_gamma": None if gg is None else model_state(gg),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CLVModel":
        """A fitted model from :meth:`to_dict`'s output (format version 2, or 1: a BG/NBD under ``"bgnbd"``),
        every field checked.

        Raises
        ------
        DataValidationError
            Naming the field that is missing, of the wrong type or out of range (e.g. ``transactions.params.r``
            NaN, ``settings.margin_rate`` 1.5), or the format.
        """
        if not isinstance(data, dict) or data.get("format") != "loyalty.clv.CLVModel":
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise DataValidationError(f"not a saved CLVModel (format={found!r})")
        version = data.get("version")
        if version not in (1, FORMAT_VERSION) or isinstance(version, bool):
            raise DataValidationError(f"saved CLVModel has format version {version!r}; this version of "
                                      f"loyalty reads versions 1 and {FORMAT_VERSION}")
        settings = _checked_settings({k: v for k, v in _field(data, "settings", dict).items() if k != "model"})
        # version 2: the model named in "transaction_model", stored under "transactions"; version 1: stored under
        # its name, given in "model" (default "bgnbd": files written before NBD have no "model" field)
        name_field = "transaction_model" if version >= 2 else "model"
        name = data.get(name_field, "bgnbd")
        if name not in TRANSACTION_MODELS:
            raise DataValidationError(f"saved CLVModel: field {name_field!r} must be one of "
                                      f"{list(TRANSACTION_MODELS)}, got {name!r}")
        time_unit = data.get("time_unit")
        if time_unit is not None and not isinstance(time_unit, str):
            raise DataValidationError(f"saved CLVModel: field 'time_unit' must be a unit name, got {time_unit!r}")
        penalizer = settings.get("penalizer", 0.0)
        transactions = TRANSACTION_MODELS[name].from_params(
            time_unit=time_unit, penalizer=penalizer, **_model_state(data, "transactions" if version >= 2 else name))
        gamma_gamma = None
        if data.get("gamma_gamma") is not None:
            value_column = data.get("value_column")
            if value_column not in ("monetary_value", "margin_value"):
                raise DataValidationError("saved CLVModel: field 'value_column' must be 'monetary_value' or "
                                          f"'margin_value', got {value_column!r}")
            gamma_gamma = GammaGamma.from_params(value_column=value_column, penalizer=penalizer,
                                                 **_model_state(data, "gamma_gamma"))
        return cls.from_models(transactions, gamma_gamma, **settings)

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON, atomically."""
        return write_json(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> "CLVModel":
        return cls.from_dict(json.loads(Path(path).read_text()))


def _model_name(transaction_model) -> str:
    """The :data:`TRANSACTION_MODELS` name of a fitted transaction model."""
    for name, kind in TRANSACTION_MODELS.items():
        if type(transaction_model) is kind:
            return name
    raise DataValidationError(f"{type(transaction_model).__name__} is not a transaction model CLVModel knows "
                              f"({list(TRANSACTION_MODELS)})")


def read_spec_settings(path) -> tuple[dict, str]:
    """The checked settings of a ``models/clv.yaml`` spec with defaults filled in (``model`` may be ``"auto"``;
    ``holdout_days``, default 91, is the holdout on which ``auto`` chooses), and the file name for errors."""
    settings, where = read_model_settings(path, "clv", {
        "horizon": number(above=0), "period": time_unit(), "annual_discount_rate": number(low=0),
        "margin_rate": share(), "value": choice("margin", "revenue"), "penalizer": number(low=0), "model": str,
        "holdout_days": number(above=0),
    })
    settings = {**CLVModel().get_params(), "holdout_days": 91, **{k: v for k, v in settings.items() if v is not None
                                                                  or k == "margin_rate"}}
    if settings["value"] not in ("margin", "revenue"):
        raise SpecError(f"{where}: settings.value must be 'margin' or 'revenue', got {settings['value']!r}")
    if settings["model"] not in (*TRANSACTION_MODELS, "auto"):
        raise SpecError(f"{where}: settings.model must be 'auto' or one of {list(TRANSACTION_MODELS)}, got "
                        f"{settings['model']!r}")
    if not settings["holdout_days"] > 0:
        raise SpecError(f"{where}: settings.holdout_days must be positive, got {settings['holdout_days']!r}")
    return settings, where


def _field(data: dict, name: str, kind: type, where: str = ""):
    if not isinstance(data, dict) or name not in data:
        raise DataValidationError(f"saved CLVModel: field {where + name!r} is missing")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataValidationError(f"saved CLVModel: field {where + name!r} must be a {kind.__name__}, got {value!r}")
    return value


def _number(settings: dict, name: str, low: float, high: float = np.inf, low_open: bool = False) -> None:
    value = settings.get(name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) \
        and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low:g}" + ("" if high == np.inf else f" and <= {high:g}")
        raise DataValidationError(f"saved CLVModel: field 'settings.{name}' must be a finite number {bound}, "
                                  f"got {value!r}")


def _checked_settings(settings: dict) -> dict:
    """The saved settings, each in range (the same ranges :func:`customer_lifetime_value` and the fits need)."""
    allowed = {"horizon", "period", "annual_discount_rate", "margin_rate", "value", "penalizer"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise DataValidationError(f"saved CLVModel: unknown field(s) {['settings.' + k for k in unknown]}")
    settings = dict(settings)
    if "horizon" in settings:
        _number(settings, "horizon", 0.0, low_open=True)
    if "annual_discount_rate" in settings:
        _number(settings, "annual_discount_rate", -1.0, low_open=True)
    if settings.get("margin_rate") is not None:
        _number(settings, "margin_rate", 0.0, 1.0)
    if "penalizer" in settings:
        _number(settings, "penalizer", 0.0)
    if settings.get("value", "margin") not in ("margin", "revenue"):
        raise DataValidationError(f"saved CLVModel: field 'settings.value' must be 'margin' or 'revenue', "
                                  f"got {settings['value']!r}")
    period = settings.get("period", "M")
    try:
        ok = unit_days(period) > 0 and np.isfinite(unit_days(period))
    except SpecError:
        ok = False
    if not ok or isinstance(period, bool):
        raise DataValidationError(f"saved CLVModel: field 'settings.period' must be D, W, M, Q, Y or a positive "
                                  f"number of days, got {period!r}")
    return settings


def _model_state(data: dict, name: str) -> dict:
    """``params``, ``covariance``, ``log_likelihood`` and ``n_customers`` of a saved model, checked by type (the
    model's ``from_params`` checks the values)."""
    state = _field(data, name, dict)
    params = _field(state, "params", dict, f"{name}.")
    bad = {k: v for k, v in params.items() if not isinstance(v, (int, float)) or isinstance(v, bool)
           or not np.isfinite(v) or v <= 0}
    if bad:
        raise DataValidationError(f"saved CLVModel: {', '.join(f'{name}.params.{k}' for k in bad)} must be positive "
                                  f"finite numbers, got {bad}")
    log_likelihood = state.get("log_likelihood", np.nan)
    n_customers = state.get("n_customers", 0)
    if not isinstance(log_likelihood, (int, float)) or isinstance(log_likelihood, bool) or np.isinf(log_likelihood):
        raise DataValidationError(f"saved CLVModel: field '{name}.log_likelihood' must be a number, "
                                  f"got {log_likelihood!r}")
    if not isinstance(n_customers, int) or isinstance(n_customers, bool) or n_customers < 0:
        raise DataValidationError(f"saved CLVModel: field '{name}.n_customers' must be a count, got {n_customers!r}")
    return {"params": params, "covariance": state.get("covariance"), "log_likelihood": log_likelihood,
            "n_customers": n_customers}
