"""The churn model family for the jobs: LightGBM (or the hybrid with BG/NBD outputs) on point-in-time features
of the clean log (see :mod:`loyalty.family`, :mod:`loyalty.churn.deploy`)."""

from __future__ import annotations

from pathlib import Path

from ..family import Fitted, ModelData, ModelFamily
from .deploy import churn_inputs, fit_churn_model
from .spec import load_churn_spec
from .supervised import LightGBMChurn

__all__ = ["CHURN_FAMILY"]


def fit(settings: dict, data: ModelData) -> Fitted:
    model, features, metadata = fit_churn_model(data.transactions, data.date, settings,
                                                summary_period=data.period, summary_unit=data.unit)
    metrics = {"churn.train_customers": metadata["train_customers"],
               "churn.train_churn_rate": metadata["train_churn_rate"], "churn.best_iteration": model.best_iteration_}
    importance = model.feature_importance().rename_axis("feature").reset_index(name="gain")
    return Fitted(model, features[list(model.feature_names_in_)], metadata, metrics,
                  {"churn_feature_importance": importance})


def inputs(data: ModelData, metadata: dict):
    return churn_inputs(data.transactions, data.date, metadata)


def predict(model: LightGBMChurn, metadata: dict, inputs):
    import pandas as pd

    features = inputs[list(model.feature_names_in_)]
    return pd.DataFrame({"p_churn": model.predict_proba(features)[:, 1]}, index=inputs.index)


def save(model: LightGBMChurn, metadata: dict, directory: Path) -> None:
    model.save(directory, metadata)


def load(directory: Path) -> tuple[LightGBMChurn, dict]:
    return LightGBMChurn.load(directory)


def context(model: LightGBMChurn, metadata: dict) -> dict:
    return {"horizon": metadata["horizon"], "horizon_unit": metadata["horizon_unit"]}


CHURN_FAMILY = ModelFamily(name="churn", read_settings=load_churn_spec, fit=fit, inputs=inputs, predict=predict,
                           save=save, load=load, context=context, needs_log=True)
