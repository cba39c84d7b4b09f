"""``loyalty`` models as MLflow pyfunc models: logged with signatures, registered with aliases, loaded back.

Registered names: ``loyalty-clv``, ``loyalty-churn``, ``loyalty-uplift``. Every new version gets the
``challenger`` alias; :func:`promote` moves ``champion`` (registry stages are deprecated in MLflow; aliases
replace them). A scoring job loads ``models:/<name>@<alias>`` and checks the model's input signature against
its features before scoring (:func:`check_signature`).

Each pyfunc takes a DataFrame with a ``customer_id`` column and the model's input columns, and returns the
``customer_id`` column and the scores, row for row.
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from .clv.model import CLVModel
from .errors import LoyaltyError, SpecError

__all__ = [
    "REGISTERED_NAMES",
    "CHALLENGER",
    "CHAMPION",
    "CLVPyfunc",
    "ChurnPyfunc",
    "UpliftPyfunc",
    "model_input",
    "log_clv_model",
    "log_churn_model",
    "log_uplift_model",
    "promote",
    "load_by_alias",
    "check_signature",
    "SignatureMismatchError",
]

REGISTERED_NAMES = {"clv": "loyalty-clv", "churn": "loyalty-churn", "uplift": "loyalty-uplift"}
CHALLENGER = "challenger"
CHAMPION = "champion"
_EXAMPLE_ROWS = 5


class SignatureMismatchError(LoyaltyError, ValueError):
    """A registered model's input signature does not match the features a job built for it."""


def _requirements() -> list[str]:
    # Explicit requirements: inferring them would load and re-run the model in a subprocess on every log.
    names = ("mlflow", "numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "pyarrow")
    return [f"{name}=={metadata.version(name)}" for name in names]


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


# -- CLV ---------------------------------------------------------------------------------------------------------
class CLVPyfunc(mlflow.pyfunc.PythonModel):
    """A :class:`loyalty.clv.CLVModel` (saved as JSON in the artifact ``clv_model``) as a pyfunc.

    Input: ``customer_id`` and the summary columns (``frequency``, ``recency``, ``T``, ``monetary_value`` and
    ``margin_value`` / ``margin_rate`` when fitted with them). Output: ``customer_id`` and the columns of
    :meth:`CLVModel.score`.
    """

    def load_context(self, context) -> None:
        self.model = CLVModel.load(context.artifacts["clv_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        summary = model_input.set_index("customer_id")
        return _scores_frame(model_input["customer_id"], self.model.score(summary))


def log_clv_model(model: CLVModel, summary: pd.DataFrame, register: bool = True) -> mlflow.models.model.ModelInfo:
    """Log a fitted CLV model in the active run as pyfunc ``clv`` and register it as ``loyalty-clv``.

    The signature is inferred from ``summary`` (all its columns are the input) and the model's scores on it; the
    input example is its first rows. With ``register``, the new version gets the ``challenger`` alias.
    """
    inputs = model_input(summary)
    example = inputs.head(_EXAMPLE_ROWS)
    outputs = _scores_frame(inputs["customer_id"], model.score(summary))
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "clv_model.json")
        return _log_and_register("clv", CLVPyfunc(), path, inputs, outputs, register, example)


# -- churn -------------------------------------------------------------------------------------------------------
class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """A :class:`loyalty.churn.LightGBMChurn` (artifact ``churn_model``, a saved model directory) as a pyfunc.

    Input: ``customer_id`` and the model's feature columns (point-in-time features, plus the BG/NBD outputs
    for the hybrid). Output: ``customer_id`` and ``p_churn`` over the model's horizon.
    """

    def load_context(self, context) -> None:
        from .churn import LightGBMChurn

        self.model, self.metadata = LightGBMChurn.load(context.artifacts["churn_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        features = model_input.set_index("customer_id")[list(self.model.feature_names_in_)]
        p_churn = pd.DataFrame({"p_churn": self.model.predict_proba(features)[:, 1]})
        return _scores_frame(model_input["customer_id"], p_churn)


def log_churn_model(model, features: pd.DataFrame, metadata: dict, register: bool = True):
    """Log a fitted :class:`loyalty.churn.LightGBMChurn` (with its ``metadata``: horizon, windows, BG/NBD
    parameters for the hybrid) as pyfunc ``churn`` and register it as ``loyalty-churn`` (``challenger``)."""
    inputs = model_input(features, list(model.feature_names_in_))
    p_churn = pd.DataFrame({"p_churn": model.predict_proba(features[list(model.feature_names_in_)])[:, 1]})
    outputs = _scores_frame(inputs["customer_id"], p_churn)
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "churn_model", metadata)
        return _log_and_register("churn", ChurnPyfunc(), path, inputs, outputs, register)


# -- uplift ------------------------------------------------------------------------------------------------------
class UpliftPyfunc(mlflow.pyfunc.PythonModel):
    """A :class:`loyalty.uplift.MultiArmUplift` (artifact ``uplift_model``: a pickle of the model and its
    metadata, written by :func:`log_uplift_model`; load only models you logged) as a pyfunc.

    Input: ``customer_id`` and the behavioural features. Output: ``customer_id`` and one
    ``uplift_<outcome>[<offer>]`` column per offer.
    """

    def load_context(self, context) -> None:
        import pickle

        with open(context.artifacts["uplift_model"], "rb") as fh:
            bundle = pickle.load(fh)
        self.model, self.metadata = bundle["model"], bundle["metadata"]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from .uplift.deploy import uplift_columns

        features = model_input.set_index("customer_id")[self.metadata["features"]]
        uplift = self.model.predict(features).reset_index(drop=True)
        uplift.columns = uplift_columns(self.metadata)
        return _scores_frame(model_input["customer_id"], uplift)


def log_uplift_model(model, features: pd.DataFrame, metadata: dict, register: bool = True):
    """Log a fitted uplift model (``metadata`` from :func:`loyalty.uplift.deploy.fit_uplift_model`) as pyfunc
    ``uplift`` and register it as ``loyalty-uplift`` (``challenger``)."""
    import pickle

    from .uplift.deploy import uplift_columns

    inputs = model_input(features, metadata["features"])
    uplift = model.predict(features[metadata["features"]]).reset_index(drop=True)
    uplift.columns = uplift_columns(metadata)
    outputs = _scores_frame(inputs["customer_id"], uplift)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "uplift_model.pkl"
        path.write_bytes(pickle.dumps({"model": model, "metadata": metadata}))
        return _log_and_register("uplift", UpliftPyfunc(), path, inputs, outputs, register)


# -- logging -----------------------------------------------------------------------------------------------------
def _log_and_register(family: str, python_model, artifact: Path, inputs: pd.DataFrame, outputs: pd.DataFrame,
                      register: bool, example: pd.DataFrame | None = None):
    """Log ``python_model`` with its saved ``artifact`` as pyfunc ``family`` (signature from ``inputs`` →
    ``outputs``); with ``register``, register it as ``loyalty-<family>`` and point ``challenger`` at it."""
    info = mlflow.pyfunc.log_model(
        name=family, python_model=python_model, artifacts={f"{family}_model": str(artifact)},
        signature=infer_signature(inputs, outputs),
        input_example=inputs.head(_EXAMPLE_ROWS) if example is None else example,
        registered_model_name=REGISTERED_NAMES[family] if register else None,
        pip_requirements=_requirements(),
    )
    if register:
        _set_challenger(REGISTERED_NAMES[family], info.registered_model_version)
    return info


# -- registry ----------------------------------------------------------------------------------------------------
def _set_challenger(name: str, version) -> None:
    MlflowClient().set_registered_model_alias(name, CHALLENGER, str(version))


def promote(name: str, version: int | str, alias: str = CHAMPION) -> str:
    """Point ``alias`` (default ``champion``) of registered model ``name`` at ``version``; returns the version
    it pointed at before ("" if none)."""
    client = MlflowClient()
    try:
        client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException:
        versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
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
    """``(pyfunc model, model version)`` for ``models:/<name>@<alias>``, with an actionable error if missing."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        try:
            versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
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
