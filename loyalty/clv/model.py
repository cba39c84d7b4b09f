"""One CLV model object: BG/NBD + Gamma-Gamma + the CLV settings, scored, saved and loaded together."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..atomic import write_json
from ..errors import DataValidationError, NotFittedError, SpecError
from ..specs import read_model_settings
from .beta_geo import BetaGeo
from .gamma_gamma import GammaGamma
from .value import customer_lifetime_value

__all__ = ["CLVModel"]

FORMAT_VERSION = 1


class CLVModel(BaseEstimator):
    """BG/NBD and Gamma-Gamma fitted together, with the settings that turn them into CLV.

    An estimator in scikit-learn's sense: ``__init__`` stores the settings, :meth:`fit` learns the two models and
    returns the model itself.

    Parameters
    ----------
    horizon, period, annual_discount_rate, margin_rate, value :
        As in :func:`loyalty.clv.customer_lifetime_value` (default: 12 months, 10% a year, margin CLV).
    penalizer : float
        Passed to both models.

    Attributes
    ----------
    bgnbd_ : BetaGeo
        The purchase-count model (Fader, Hardie & Lee 2005).
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
                 margin_rate: float | None = None, value: str = "margin", penalizer: float = 0.0):
        self.horizon = horizon
        self.period = period
        self.annual_discount_rate = annual_discount_rate
        self.margin_rate = margin_rate
        self.value = value
        self.penalizer = penalizer

    @classmethod
    def from_models(cls, bgnbd: BetaGeo, gamma_gamma: GammaGamma, **settings) -> "CLVModel":
        """A fitted ``CLVModel`` from two fitted models (e.g. fitted on collapsed statistics, see
        :func:`loyalty.engines.collapsed_statistics`, or shared by models of different horizons) and ``settings``
        (the ``__init__`` arguments)."""
        for fitted, name in ((bgnbd, "bgnbd"), (gamma_gamma, "gamma_gamma")):
            if not hasattr(fitted, "params_"):
                raise NotFittedError(f"{name} is not fitted; fit it on a summary first")
        model = cls(**settings)
        model.bgnbd_, model.gamma_gamma_ = bgnbd, gamma_gamma
        return model

    @classmethod
    def from_spec(cls, path) -> "CLVModel":
        """An unfitted model from a ``models/*.yaml`` spec with ``kind: model``, ``family: clv``."""
        settings, where = read_model_settings(path, "clv", {
            "horizon": (int, float), "period": (str, int, float), "annual_discount_rate": (int, float),
            "margin_rate": (int, float), "value": str, "penalizer": (int, float),
        })
        if settings.get("value", "margin") not in ("margin", "revenue"):
            raise SpecError(f"{where}: settings.value must be 'margin' or 'revenue', got {settings['value']!r}")
        return cls(**settings)

    def fit(self, summary: pd.DataFrame) -> "CLVModel":
        """Fit both models on a summary (see :func:`loyalty.data.summarize`); returns self."""
        if self.value not in ("margin", "revenue"):
            raise DataValidationError(f"value must be 'margin' or 'revenue', got {self.value!r}")
        self.bgnbd_ = BetaGeo(penalizer=self.penalizer).fit(summary)
        self.gamma_gamma_ = GammaGamma(penalizer=self.penalizer).fit(summary)
        return self

    def score(self, summary: pd.DataFrame, interval: float | None = 0.95) -> pd.DataFrame:
        """Per customer: ``p_alive``, ``expected_purchases`` (over the horizon), ``expected_spend`` (per purchase),
        ``clv`` and, with ``interval``, ``clv_se``, ``clv_lower``, ``clv_upper``."""
        if not hasattr(self, "bgnbd_"):
            raise NotFittedError("CLVModel is not fitted: call fit(summary) or CLVModel.load(path)")
        clv = customer_lifetime_value(
            self.bgnbd_, self.gamma_gamma_, summary, horizon=self.horizon, period=self.period,
            annual_discount_rate=self.annual_discount_rate, margin_rate=self.margin_rate, value=self.value,
            interval=interval,
        )
        out = pd.DataFrame(
            {
                "p_alive": self.bgnbd_.p_alive(summary),
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
            "time_unit": self.bgnbd_.time_unit_,
            "value_column": self.gamma_gamma_.value_column_,
            "bgnbd": model_state(self.bgnbd_),
            "gamma_gamma": model_state(self.gamma_gamma_),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CLVModel":
        """A fitted model from :meth:`to_dict`'s output (format version 1)."""
        if data.get("format") != "loyalty.clv.CLVModel":
            raise DataValidationError(f"not a saved CLVModel (format={data.get('format')!r})")
        if data.get("version") != FORMAT_VERSION:
            raise DataValidationError(f"saved CLVModel has format version {data.get('version')!r}; this version of "
                                      f"loyalty reads version {FORMAT_VERSION}")
        settings = data["settings"]
        penalizer = settings.get("penalizer", 0.0)
        bg, gg = data["bgnbd"], data["gamma_gamma"]
        bgnbd = BetaGeo.from_params(bg["params"], bg["covariance"], time_unit=data["time_unit"],
                                    log_likelihood=bg["log_likelihood"], n_customers=bg["n_customers"],
                                    penalizer=penalizer)
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
