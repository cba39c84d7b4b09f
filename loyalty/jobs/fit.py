"""The fit job: validate the log up to the cut-off, fit every model the spec names, log each as a pyfunc model
and register new versions with the ``challenger`` alias; one MLflow run."""

from __future__ import annotations

import mlflow

from ..family import ModelData
from ..tracking import log_accounting, log_model, tracked_run
from .data import job_date, load_summary
from .registry import families
from .plots import distribution_figure
from .spec import resolve_path

__all__ = ["run_fit"]


def run_fit(spec: dict, as_of=None) -> dict:
    """Fit and log the spec's models at its cut-off (``cutoff: as_of`` takes ``as_of``), each registered under
    its ``models.<family>.name`` (default ``loyalty-<family>``); returns
    ``{"run_id", "cutoff", "models": {family: {"name", "version", "model_uri"}}, "fitted": {family: model}}``.

    Families are taken from the registry (:func:`loyalty.jobs.families`) in registration order."""
    cutoff = job_date(spec.get("cutoff") if spec.get("cutoff") != "as_of" else as_of, as_of, spec, "cutoff")
    data = spec["data"]
    chosen = [family for name, family in families().items() if name in spec["models"]]
    out = {"cutoff": cutoff, "models": {}, "fitted": {}}
    with tracked_run(spec["experiment"], run_name=f"fit {cutoff}", spec=spec,
                     tags={"job": "fit", "cutoff": cutoff}) as run:
        summary, accounting, transactions = load_summary(data, spec, cutoff,
                                                         keep_log=any(f.needs_log for f in chosen))
        log_accounting(accounting)
        print(f"validation: {accounting}")
        mlflow.log_metric("customers", len(summary))
        model_data = ModelData(cutoff, summary, transactions, data["period"], data["unit"])
        for family in chosen:
            entry = spec["models"][family.name]
            settings = family.read_settings(resolve_path(entry["spec"], spec))
            fitted = family.fit(settings, model_data)
            if fitted.metrics:
                mlflow.log_metrics({k: float(v) for k, v in fitted.metrics.items()})
            for name, table in fitted.tables.items():
                mlflow.log_table(table, f"tables/{name}.json")
            predictions = family.predict(fitted.model, fitted.metadata, fitted.inputs)
            figure = distribution_figure(predictions)
            if figure is not None:
                mlflow.log_figure(figure, f"plots/{family.name}_in_sample.png")
            info = log_model(family, fitted, register=spec["register"], name=entry["name"])
            out["fitted"][family.name] = fitted.model
            out["models"][family.name] = _registered(info, entry["name"], spec["register"])
        out["run_id"] = run.info.run_id
    for name, ref in out["models"].items():
        print(f"{name}: {ref['model_uri']}" + (f" -> {ref['name']} version {ref['version']} (challenger)"
                                               if ref["version"] else ""))
    return out


def _registered(info, name: str, registered: bool) -> dict:
    return {"name": name if registered else None, "version": info.registered_model_version,
            "model_uri": info.model_uri, "run_model_uri": f"runs:/{info.run_id}/{info.name}"}
