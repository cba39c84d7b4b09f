"""One CLV model object: a transaction model (BG/NBD by default) + Gamma-Gamma + the CLV settings, scored, saved
and loaded together."""

from __future__ import annotations

import json
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
from .value import customer_lifetime_value

__all__ = ["CLVModel", "read_spec_settings"]

FORMAT_VERSION = 2  # 2: the transaction model is named ("transaction_model"); version 1 files are BG/NBD


class CLVModel(BaseEstimator):
    """A transaction model (BG/NBD, MBG/NBD or Pareto/NBD) and Gamma-Gamma fitted together, with the settings that
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
        ``"mbgnbd"`` or ``"paretonbd"``. To choose one on a holdout, see :func:`loyalty.clv.compare_models`.

    Attributes
    ----------
    transaction_model_ : BetaGeo, ModifiedBetaGeo or ParetoNBD
        The purchase-count model.
    bgnbd_ : BetaGeo
        The same model when it is a BG/NBD (Fader, Hardie & Lee 2005); absent otherwise.
    gamma_gamma_ : GammaGamma
        The spend-per-purchase model (Fader & Hardie 2013, note 025).

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
    def from_models(cls, transaction_model, gamma_gamma: GammaGamma, **settings) -> "CLVModel":
        """A fitted ``CLVModel`` from two fitted models (e.g. fitted on collapsed statistics, see
        :func:`loyalty.engines.collapsed_statistics`, or shared by models of different horizons) and ``settings``
        (the ``__init__`` arguments; ``model`` is taken from the transaction model's type)."""
        for fitted, name in ((transaction_model, "transaction_model"), (gamma_gamma, "gamma_gamma")):
            if not hasattr(fitted, "params_"):
                raise NotFittedError(f"{name} is not fitted; fit it on a summary first")
        settings["model"] = _model_name(transaction_model)
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
        """Fit both models on a summary (see :func:`loyalty.data.summarize`); returns self."""
        if self.value not in ("margin", "revenue"):
            raise DataValidationError(f"value must be 'margin' or 'revenue', got {self.value!r}")
        if self.model not in TRANSACTION_MODELS:
            raise DataValidationError(f"model must be one of {list(TRANSACTION_MODELS)}, got {self.model!r}")
        self.transaction_model_ = TRANSACTION_MODELS[self.model](penalizer=self.penalizer).fit(summary)
        self.gamma_gamma_ = GammaGamma(penalizer=self.penalizer).fit(summary)
        return self

    def score(self, summary: pd.DataFrame, interval: float | None = 0.95) -> pd.DataFrame:
        """Per customer: ``p_alive``, ``expected_purchases`` (over the horizon), ``expected_spend`` (per purchase),
        ``clv`` and, with ``interval``, ``clv_se``, ``clv_lower``, ``clv_upper``."""
        if not hasattr(self, "transaction_model_"):
            raise NotFittedError("CLVModel is not fitted: call fit(summary) or CLVModel.load(path)")
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
        return out

    # -- persistence -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def model_state(model):
            return {
                "params": model.params_,
                "covariance": np.asarray(model.covariance_).tolist(),
                "log_likelihood": model.log_likelihood_,
                "n_customers": model.n_customers_,
            }

        return {
            "format": "loyalty.clv.CLVModel",
            "version": FORMAT_VERSION,
            "settings": {
                "horizon": self.horizon, "period": self.period, "annual_discount_rate": self.annual_discount_rate,
                "margin_rate": self.margin_rate, "value": self.value, "penalizer": self.penalizer,
            },
            "transaction_model": _model_name(self.transaction_model_),
            "time_unit": self.transaction_model_.time_unit_,
            "value_column": self.gamma_gamma_.value_column_,
            "transactions": model_state(self.transaction_model_),
            "gamma_gamma": model_state(self.gamma_gamma_),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CLVModel":
        """A fitted model from :meth:`to_dict`'s output (format version 2, or 1: a BG/NBD under ``"bgnbd"``)."""
        if data.get("format") != "loyalty.clv.CLVModel":
            raise DataValidationError(f"not a saved CLVModel (format={data.get('format')!r})")
        if data.get("version") not in (1, FORMAT_VERSION):
            raise DataValidationError(f"saved CLVModel has format version {data.get('version')!r}; this version of "
                                      f"loyalty reads versions 1 and {FORMAT_VERSION}")
        settings = {k: v for k, v in data["settings"].items() if k != "model"}
        penalizer = settings.get("penalizer", 0.0)
        name = data.get("transaction_model", "bgnbd")
        if name not in TRANSACTION_MODELS:
            raise DataValidationError(f"saved CLVModel names transaction model {name!r}; known: "
                                      f"{list(TRANSACTION_MODELS)}")
        bg, gg = data["transactions"] if data["version"] >= 2 else data["bgnbd"], data["gamma_gamma"]
        bgnbd = TRANSACTION_MODELS[name].from_params(
            bg["params"], bg["covariance"], time_unit=data["time_unit"], log_likelihood=bg["log_likelihood"],
            n_customers=bg["n_customers"], penalizer=penalizer)
        gamma_gamma = GammaGamma.from_params(gg["params"], gg["covariance"], value_column=data["value_column"],
                                             log_likelihood=gg["log_likelihood"], n_customers=gg["n_customers"],
                                             penalizer=penalizer)
        return cls.from_models(bgnbd, gamma_gamma, **settings)

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
