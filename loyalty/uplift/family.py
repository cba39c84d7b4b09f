"""The uplift model family for the jobs: meta-learners fitted on a randomized campaign, scored on behavioural
features of any log (see :mod:`loyalty.family`, :mod:`loyalty.uplift.deploy`)."""

from __future__ import annotations

import json
from pathlib import Path

from ..family import Fitted, ModelData, ModelFamily
from .deploy import fit_uplift_model, load_uplift_spec, uplift_columns, uplift_inputs

__all__ = ["UPLIFT_FAMILY"]

_MODEL, _METADATA = "uplift_model.pkl", "metadata.json"


def fit(settings: dict, data: ModelData) -> Fitted:
    model, features, metadata = fit_uplift_model(settings)
    metrics = {"uplift.campaign_customers": metadata["campaign_customers"],
               "uplift.treated_share": metadata["treated_share"]}
    return Fitted(model, features[metadata["features"]], metadata, metrics)


def inputs(data: ModelData, metadata: dict):
    return uplift_inputs(data.transactions, data.date, metadata)


def predict(model, metadata: dict, inputs):
    uplift = model.predict(inputs[metadata["features"]])
    uplift.columns = uplift_columns(metadata)
    uplift.index = inputs.index
    return uplift


def save(model, metadata: dict, directory: Path) -> None:
    """The fitted learner as a pickle (scikit-learn's own persistence: load only models you saved) and its
    metadata as JSON."""
    import pickle

    directory = Path(directory)
    directory.mkdir(parents=True)
    (directory / _MODEL).write_bytes(pickle.dumps(model))
    (directory / _METADATA).write_text(json.dumps(metadata))


def load(directory: Path):
    import pickle

    directory = Path(directory)
    return pickle.loads((directory / _MODEL).read_bytes()), json.loads((directory / _METADATA).read_text())


def context(model, metadata: dict) -> dict:
    return {"outcome": metadata["outcome"], "window_days": metadata["window_days"]}


UPLIFT_FAMILY = ModelFamily(name="uplift", read_settings=load_uplift_spec, fit=fit, inputs=inputs, predict=predict,
                            save=save, load=load, context=context, needs_log=True)
