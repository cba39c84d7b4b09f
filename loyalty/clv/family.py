"""The CLV model family for the jobs: a transaction model (named, or ``auto``: chosen on a holdout) + Gamma-Gamma
fitted on the customer summary (see :mod:`loyalty.family`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import ConvergenceError, IdentificationError, SpecError
from ..family import Fitted, ModelData, ModelFamily
from ..data import summarize
from .compare import compare_models
from .model import CLVModel, read_spec_settings

__all__ = ["CLV_FAMILY"]

_FILE = "clv_model.json"


def read_settings(path) -> dict:
    """Settings of a ``models/clv.yaml`` spec: the arguments of :class:`CLVModel` (``model`` may be ``auto``) and
    ``holdout_days``."""
    return read_spec_settings(path)[0]


def fit(settings: dict, data: ModelData) -> Fitted:
    """Fit the CLV model at ``data.date``. With ``model: auto``, first compare the transaction models on the last
    ``holdout_days`` before the date (calibration up to the date minus ``holdout_days``), then fit the one with the
    best holdout forecast (:func:`loyalty.clv.compare_models`) on everything up to the date; the comparison table
    is logged (``tables/clv_model_comparison``, and ``compare.<model>.<measure>`` metrics)."""
    settings = dict(settings)
    holdout_days = settings.pop("holdout_days", 91)
    metrics, tables = {}, {}
    if settings["model"] == "auto":
        table = _comparison(data, holdout_days, settings["penalizer"])
        tables["clv_model_comparison"] = table.reset_index()
        for name, row in table.iterrows():
            for measure in ("log_likelihood", "aic", "bic", "holdout_error", "holdout_mae", "chi2"):
                if pd.notna(row[measure]):
                    metrics[f"compare.{name}.{measure}"] = float(row[measure])
        if table.attrs["choice"] is None:
            raise ConvergenceError("model: auto: no transaction model could be fitted on the calibration period: "
                                   + "; ".join(f"{name}: {error}" for name, error in table["error"].items()))
        settings["model"] = table.attrs["choice"]
    try:
        model = CLVModel(**settings).fit(data.summary)
    except IdentificationError as error:  # the jobs run specs: the remedy in spec terms
        raise error.for_interface("spec") from None
    for prefix, fitted in ((settings["model"], model.transaction_model_), ("gamma_gamma", model.gamma_gamma_)):
        if fitted is None:  # no spend in the log: no Gamma-Gamma
            continue
        metrics.update({f"{prefix}.{k}": float(v) for k, v in fitted.params_.items()})
        metrics[f"{prefix}.log_likelihood"] = float(fitted.log_likelihood_)
        tables[f"{prefix}_summary"] = fitted.summary_.reset_index(names="parameter")
    return Fitted(model, data.summary, {}, metrics, tables)


def _comparison(data: ModelData, holdout_days: float, penalizer: float) -> pd.DataFrame:
    if data.transactions is None:
        raise SpecError("models/clv.yaml: model: auto compares the models on the log's last holdout_days, which "
                        "needs the clean log in memory: use data.engine: pandas, or name a model")
    end = pd.Timestamp(data.date)
    calibration_end = end - pd.Timedelta(days=float(holdout_days))
    summary = summarize(data.transactions, calibration_end, period=data.period, unit=data.unit, holdout_end=end)
    return compare_models(summary, penalizer=penalizer)


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
    return {"horizon": model.horizon, "period": model.period, "value": model.value, "model": model.model}


CLV_FAMILY = ModelFamily(name="clv", read_settings=read_settings, fit=fit, inputs=inputs, predict=predict,
                         save=save, load=load, context=context, customer_base=True)
