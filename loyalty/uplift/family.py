"""The uplift model family for the jobs: meta-learners fitted on a randomized campaign, scored on behavioural
features of any log (see :mod:`loyalty.family`, :mod:`loyalty.uplift.deploy`)."""

from __future__ import annotations

import json
from pathlib import Path

from ..family import Fitted, ModelData, ModelFamily
from .deploy import fit_uplift_model, load_uplift_spec, uplift_columns, uplift_inputs
from .storage import load_uplift_model, save_uplift_model

__all__ = ["UPLIFT_FAMILY"]

_METADATA = "metadata.json"


def fit(settings: dict, data: ModelData) -> Fitted:
    model, features, metadata = fit_uplift_model(settings)
    metrics = {"uplift.campaign_customers": metadata["campaign_customers"],
               "uplift.treated_share": metadata["treated_share"]}
    if metadata["outcome"] == "lifecycle":
        metrics["uplift.retention_log_odds_shift"] = model.retention.shift_
    return Fitted(model, features[metadata["features"]], metadata, metrics)


def inputs(data: ModelData, metadata: dict):
    return uplift_inputs(data.transactions, data.date, metadata)


def predict(model, metadata: dict, inputs):
    uplift = model.predict(inputs[metadata["features"]])
    uplift.columns = uplift_columns(metadata)
    uplift.index = inputs.index
    return uplift


def save(model, metadata: dict, directory: Path) -> None:
    """The fitted learner as data (:func:`loyalty.uplift.storage.save_uplift_model`: JSON and LightGBM model
    text, no pickle) and its metadata as JSON."""
    directory = Path(directory)
    directory.mkdir(parents=True)
    save_uplift_model(model, directory)
    (directory / _METADATA).write_text(json.dumps(metadata))


def load(directory: Path):
    """The learner and metadata :func:`save` wrote; reading them runs no code from the files."""
    directory = Path(directory)
    return load_uplift_model(directory)[0], json.loads((directory / _METADATA).read_text())


def context(model, metadata: dict) -> dict:
    keys = ("outcome", "window_days", "horizon_days", "discount_rate", "contact_cost")
    return {key: metadata[key] for key in keys if key in metadata}


UPLIFT_FAMILY = ModelFamily(name="uplift", read_settings=load_uplift_spec, fit=fit, inputs=inputs, predict=predict,
                            save=save, load=load, context=context, needs_log=True)
