"""``loyalty`` models as MLflow pyfunc models: logged with signatures, registered with aliases, loaded back.

Any model family (:class:`loyalty.family.ModelFamily`: clv, churn, uplift, or one you register) is logged the
same way: :class:`FamilyPyfunc` wraps what the family saves, loads and predicts. A family ``<name>`` is
registered as ``loyalty-<name>``; every new version gets the ``challenger`` alias; :func:`promote` moves
``champion`` (registry stages are deprecated in MLflow; aliases replace them). A scoring job loads
``models:/<name>@<alias>`` and checks the model's input signature against its features before scoring
(:func:`check_signature`).

Each pyfunc takes a DataFrame with a ``customer_id`` column and the model's input columns, and returns the
``customer_id`` column and the scores, row for row.

Trust boundary: loading a pyfunc model (:func:`load_by_alias`, ``mlflow.pyfunc.load_model``) unpickles its
``python_model`` and imports the code it names, so it runs code from the artifact store. Load models only from a
tracking store whose writers you trust. The family files inside (JSON, LightGBM text) are data and each family
validates them on load; the pyfunc wrapper is not data. Jobs never load a model from a URI found in a file
(a scores file names its models as ``models:/<name>/<version>`` of the configured store, checked as such).
"""

from __future__ import annotations

import re
import tempfile
from importlib import metadata as package_metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from ..errors import LoyaltyError, SpecError
from ..family import Fitted, ModelFamily

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FamilyPyfunc",
    "registered_name",
    "model_input",
    "log_model",
    "promote",
    "load_by_alias",
    "check_signature",
    "SignatureMismatchError",
]

CHALLENGER = "challenger"
CHAMPION = "champion"
_EXAMPLE_ROWS = 5


class SignatureMismatchError(LoyaltyError, ValueError):
    """A registered model's input signature does not match the features a job built for it."""


def registered_name(family: str) -> str:
    """The registered model name of a family: ``loyalty-<family>``."""
    return f"loyalty-{family}"


def _requirements() -> list[str]:
    # Explicit requirements: inferring them would load and re-run the model in a subprocess on every log.
    names = ("mlflow", "numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "pyarrow")
    return [f"{name}=={package_metadata.version(name)}" for name in names]


def model_input(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """A frame indexed by ``customer_id`` as pyfunc input: ``customer_id`` as a string column, then ``columns``."""
    columns = list(frame.columns) if columns is None else columns
    out = frame[columns].reset_index()
    first = out.columns[0]
    out = out.rename(columns={first: "customer_id"})
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _scores_frame(customer_id: pd.Series, scores: pd.DataFrame) -> pd.DataFrame:
    out = scores.reset_index(drop=True)
    out.insert(0, "customer_id", customer_id.to_numpy())
    return out


class FamilyPyfunc(mlflow.pyfunc.PythonModel):
    """A fitted model of ``family`` (saved by ``family.save`` in the artifact ``model``) as a pyfunc.

    Input: ``customer_id`` and the model's input columns. Output: ``customer_id`` and ``family.predict``'s
    columns. After loading, ``model`` and ``metadata`` are the family's fitted model and its metadata.
    """

    def __init__(self, family: ModelFamily):
        self.family = family

    def load_context(self, context) -> None:
        self.model, self.metadata = self.family.load(Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        inputs = model_input.set_index("customer_id")
        return _scores_frame(model_input["customer_id"], self.family.predict(self.model, self.metadata, inputs))


def log_model(family: ModelFamily, fitted: Fitted, register: bool = True,
              name: str | None = None) -> mlflow.models.model.ModelInfo:
    """Log a family's fitted model in the active run as pyfunc ``<family.name>``; with ``register``, register it
    as ``name`` (default ``loyalty-<family.name>``) and point the ``challenger`` alias at the new version.

    The signature is inferred from the training inputs and the model's predictions on them; the input example
    is their first rows.
    """
    inputs = model_input(fitted.inputs)
    outputs = _scores_frame(inputs["customer_id"], family.predict(fitted.model, fitted.metadata, fitted.inputs))
    name = name or registered_name(family.name)
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / f"{family.name}_model"
        family.save(fitted.model, fitted.metadata, artifact)
        info = mlflow.pyfunc.log_model(
            name=family.name, python_model=FamilyPyfunc(family), artifacts={"model": str(artifact)},
            signature=infer_signature(inputs, outputs), input_example=inputs.head(_EXAMPLE_ROWS),
            registered_model_name=name if register else None, pip_requirements=_requirements(),
        )
    if register:
        _set_challenger(name, info.registered_model_version)
    return info


# -- registry ----------------------------------------------------------------------------------------------------
def _set_challenger(name: str, version) -> None:
    MlflowClient().set_registered_model_alias(name, CHALLENGER, str(version))


def _versions(client: MlflowClient, name: str) -> list[int]:
    """The version numbers of registered model ``name``; a name MLflow's filter syntax cannot quote safely
    (anything but letters, digits, ``_``, ``.``, ``-``) is refused rather than pasted into the filter."""
    if not re.fullmatch(r"[\w.\-]+", name):
        raise SpecError(f"registered model name {name!r}: use letters, digits, '_', '.' and '-' only")
    return sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))


def promote(name: str, version: int | str, alias: str = CHAMPION) -> str:
    """Point ``alias`` (default ``champion``) of registered model ``name`` at ``version``; returns the version
    it pointed at before ("" if none)."""
    client = MlflowClient()
    try:
        client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException:
        versions = _versions(client, name)
        raise SpecError(
            f"registered model {name!r} has no version {version!r}; versions: {versions or 'none'}"
        ) from None
    try:
        previous = str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        previous = ""
    client.set_registered_model_alias(name, alias, str(version))
    return previous


def load_by_alias(name: str, alias: str):
    """``(pyfunc model, model version)`` for ``models:/<name>@<alias>``, with an actionable error if missing.

    Loading runs code from the model's artifact (see the module's trust boundary): call it only with a tracking
    store you trust."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        try:
            versions = _versions(client, name)
        except mlflow.exceptions.MlflowException:
            versions = []
        hint = (f"promote one with `loyalty promote {name} <version>` (versions: {versions})" if versions
                else "fit and register one first (`loyalty run pipelines/fit.yaml`)")
        raise SpecError(f"no version of registered model {name!r} has alias {alias!r} in "
                        f"{mlflow.get_tracking_uri()}: {hint}") from None
    model = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    return model, version


def check_signature(model, inputs: pd.DataFrame, what: str) -> None:
    """Refuse ``inputs`` for a pyfunc ``model`` unless every column of its input signature is there with a
    compatible type; raises :class:`SignatureMismatchError` naming the columns."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        raise SignatureMismatchError(f"{what}: the registered model has no input signature; re-log it")
    expected = {spec.name: spec.type for spec in schema.inputs}
    missing = sorted(set(expected) - set(inputs.columns))
    if missing:
        raise SignatureMismatchError(
            f"{what}: the model's signature needs column(s) {missing} that the job's features do not have "
            f"(features: {sorted(inputs.columns)}); refit the model on these features or fix the pipeline spec"
        )
    wrong = []
    for name, dtype in expected.items():
        numpy_type = dtype.to_numpy()
        column = inputs[name]
        numeric_ok = np.issubdtype(numpy_type, np.number) and pd.api.types.is_numeric_dtype(column)
        text_ok = numpy_type == np.dtype(object) and pd.api.types.is_object_dtype(column) or \
            pd.api.types.is_string_dtype(column) and dtype.name == "string"
        if not (numeric_ok or text_ok):
            wrong.append(f"{name} (signature {dtype.name}, features {column.dtype})")
    if wrong:
        raise SignatureMismatchError(f"{what}: column types do not match the model's signature: {wrong}")
