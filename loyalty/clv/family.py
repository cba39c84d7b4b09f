"""The CLV model family for the jobs: BG/NBD + Gamma-Gamma fitted on the customer summary (see
:mod:`loyalty.family`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import IdentificationError
from ..family import Fitted, ModelData, ModelFamily
from .model import CLVModel

__all__ = ["CLV_FAMILY"]

_FILE = "clv_model.json"


def read_settings(path) -> dict:
    """Settings of a ``models/clv.yaml`` spec (the arguments of :class:`CLVModel`)."""
    return _settings(CLVModel.from_spec(path))


def _settings(model: CLVModel) -> dict:
    return {name: getattr(model, name) for name in
            ("horizon", "period", "annual_discount_rate", "margin_rate", "value", "penalizer", "model")}


def fit(settings: dict, data: ModelData) -> Fitted:
    try:
        model = CLVModel(**settings).fit(data.summary)
    except IdentificationError as error:  # the jobs run specs: the remedy in spec terms
        raise error.for_interface("spec") from None
    metrics, tables = {}, {}
    for prefix, fitted in ((model.model, model.bgnbd_), ("gamma_gamma", model.gamma_gamma_)):
        if fitted is None:  # no spend in the log: no Gamma-Gamma
            continue
        metrics.update({f"{prefix}.{k}": float(v) for k, v in fitted.params_.items()})
        metrics[f"{prefix}.log_likelihood"] = float(fitted.log_likelihood_)
        tables[f"{prefix}_summary"] = fitted.summary_.reset_index(names="parameter")
    return Fitted(model, data.summary, {}, metrics, tables)


def inputs(data: ModelData, metadata: dict):
    return data.summary


def predict(model: CLVModel, metadata: dict, inputs):
    return model.score(inputs)


def save(model: CLVModel, metadata: dict, directory: Path) -> None:
    Path(directory).mkdir(parents=True)
    model.save(Path(directory) / _FILE)


def load(directory: Path) -> tuple[CLVModel, dict]:
    return CLVModel.load(Path(directory) / _FILE), {}


def context(model: CLVModel, metadata: dict) -> dict:
    return {"horizon": model.horizon, "period": model.period, "value": model.value}


CLV_FAMILY = ModelFamily(name="clv", read_settings=read_settings, fit=fit, inputs=inputs, predict=predict,
                         save=save, load=load, context=context, customer_base=True)
