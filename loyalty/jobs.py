"""Fit, score and follow-up jobs run from pipeline specs, each as one MLflow run.

- :func:`run_fit`: validate the log up to the cut-off, fit the models named in the spec, log them as pyfunc
  models and register new versions with the ``challenger`` alias.
- :func:`run_score`: read the log up to the as-of date, load the models by alias, check their signatures
  against the point-in-time inputs, score every customer and write the scores atomically (parquet, optionally
  a database table). The same date gives byte-identical output.

The follow-up job, which compares an earlier scoring run's predictions with what customers then did, is in
:mod:`loyalty.follow_up`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .atomic import atomic_write
from .churn.deploy import churn_inputs, fit_churn_model
from .churn.spec import load_churn_spec
from .clv.model import CLVModel
from .uplift.deploy import fit_uplift_model, load_uplift_spec, uplift_inputs
from .data import read_transactions, summarize, validate_transactions
from .errors import DataValidationError, SpecError
from .mlflow_models import (
    REGISTERED_NAMES, check_signature, load_by_alias, log_churn_model, log_clv_model, log_uplift_model,
    model_input,
)
from .pipeline_spec import MODEL_KINDS, resolve_path, spec_date
from .tracking import log_accounting, tracked_run

__all__ = ["load_log", "load_summary", "summarize_log", "job_date", "run_fit", "run_score", "read_scores", "write_scores",
           "recommend_actions", "SCORES_METADATA_KEY"]

#: Parquet schema metadata key holding the scoring context (as-of date, model versions, horizons).
SCORES_METADATA_KEY = b"loyalty.scores"


# -- data --------------------------------------------------------------------------------------------------------
def _source(data: dict, spec: dict):
    """The spec's ``data.source``: the shipped CDNOW log as a frame, or the path of a file that exists."""
    source = data["source"]
    if source in ("cdnow", "cdnow_sample"):
        from .datasets import load_cdnow

        return load_cdnow(sample=source == "cdnow_sample")
    path = resolve_path(source, spec)
    if not path.exists():
        raise SpecError(f"{spec['__file__']}: field 'data.source': file {source!r} does not exist")
    return path


def load_log(data: dict, spec: dict, cutoff):
    """Read the spec's ``data`` source and validate it up to ``cutoff``; returns the ValidationResult."""
    source = _source(data, spec)
    raw = source if isinstance(source, pd.DataFrame) else read_transactions(source, data.get("columns") or None)
    return validate_transactions(raw, cutoff=cutoff, margin_rate=data.get("margin_rate"),
                                 duplicates=data["duplicates"])


def load_summary(data: dict, spec: dict, cutoff, *, keep_log: bool = False):
    """The spec's data validated up to ``cutoff`` and summarised on ``data.engine``.

    Returns ``(summary, accounting, transactions)``. ``transactions`` is the clean log in memory, which the
    churn and uplift features are built from: with ``keep_log`` on an engine other than pandas it is read and
    validated in memory as well (the summary, the step that grows with the log, stays on the engine);
    otherwise it is ``None`` off pandas.
    """
    engine = data.get("engine") or ("pandas" if data["source"] in ("cdnow", "cdnow_sample") else "duckdb")
    if engine == "pandas":
        result = load_log(data, spec, cutoff)
        return summarize_log(result.transactions, data, cutoff), result.accounting, result.transactions
    from .engines import summarize as summarize_on

    source = _source(data, spec)
    options = {}
    if engine == "spark":
        from pyspark.sql import SparkSession

        options["spark"] = SparkSession.builder.master("local[*]").config("spark.ui.enabled", "false").getOrCreate()
    summary, accounting = summarize_on(
        source, cutoff, period=data["period"], unit=data["unit"], engine=engine, columns=data.get("columns") or None,
        duplicates=data["duplicates"], margin_rate=data.get("margin_rate"), **options,
    )
    transactions = load_log(data, spec, cutoff).transactions if keep_log else None
    return summary, accounting, transactions


def summarize_log(transactions: pd.DataFrame, data: dict, cutoff, holdout_end=None) -> pd.DataFrame:
    """The customer summary at ``cutoff`` with the spec's ``data.period`` and ``data.unit``."""
    return summarize(transactions, cutoff, period=data["period"], unit=data["unit"], holdout_end=holdout_end)


# -- fit ---------------------------------------------------------------------------------------------------------
def run_fit(spec: dict, as_of=None) -> dict:
    """Fit and log the spec's models at its cut-off (``cutoff: as_of`` takes ``as_of``); returns
    ``{"run_id", "cutoff", "models": {kind: {"name", "version", "model_uri"}}, "fitted": {kind: model}}``."""
    cutoff = job_date(spec.get("cutoff") if spec.get("cutoff") != "as_of" else as_of, as_of, spec, "cutoff")
    data = spec["data"]
    out = {"cutoff": cutoff, "models": {}, "fitted": {}}
    with tracked_run(spec["experiment"], run_name=f"fit {cutoff}", spec=spec,
                     tags={"job": "fit", "cutoff": cutoff}) as run:
        summary, accounting, transactions = load_summary(data, spec, cutoff, keep_log="churn" in spec["models"])
        log_accounting(accounting)
        print(f"validation: {accounting}")
        mlflow.log_metric("customers", len(summary))
        if "clv" in spec["models"]:
            model = CLVModel.from_spec(resolve_path(spec["models"]["clv"], spec)).fit(summary)
            _log_clv_fit(model)
            mlflow.log_figure(_distribution_figure(model.score(summary, interval=None)), "plots/clv_in_sample.png")
            info = log_clv_model(model, summary, register=spec["register"])
            out["fitted"]["clv"] = model
            out["models"]["clv"] = _registered(info, "clv", spec["register"])
        if "churn" in spec["models"]:
            settings = load_churn_spec(resolve_path(spec["models"]["churn"], spec))
            model, features, metadata = fit_churn_model(transactions, cutoff, settings,
                                                        summary_period=data["period"], summary_unit=data["unit"])
            mlflow.log_metrics({"churn.train_customers": metadata["train_customers"],
                                "churn.train_churn_rate": metadata["train_churn_rate"],
                                "churn.best_iteration": model.best_iteration_})
            mlflow.log_table(model.feature_importance().rename_axis("feature").reset_index(name="gain"),
                             "tables/churn_feature_importance.json")
            info = log_churn_model(model, features, metadata, register=spec["register"])
            out["fitted"]["churn"] = model
            out["models"]["churn"] = _registered(info, "churn", spec["register"])
        if "uplift" in spec["models"]:
            model, features, metadata = fit_uplift_model(load_uplift_spec(resolve_path(spec["models"]["uplift"], spec)))
            mlflow.log_metrics({"uplift.campaign_customers": metadata["campaign_customers"],
                                "uplift.treated_share": metadata["treated_share"]})
            info = log_uplift_model(model, features, metadata, register=spec["register"])
            out["fitted"]["uplift"] = model
            out["models"]["uplift"] = _registered(info, "uplift", spec["register"])
        out["run_id"] = run.info.run_id
    for kind, ref in out["models"].items():
        print(f"{kind}: {ref['model_uri']}" + (f" -> {ref['name']} version {ref['version']} (challenger)"
                                               if ref["version"] else ""))
    return out


def _log_clv_fit(model: CLVModel) -> None:
    for prefix, fitted in (("bgnbd", model.bgnbd), ("gamma_gamma", model.gg)):
        mlflow.log_metrics({f"{prefix}.{k}": float(v) for k, v in fitted.params_.items()})
        mlflow.log_metric(f"{prefix}.log_likelihood", float(fitted.log_likelihood_))
        mlflow.log_table(fitted.summary_.reset_index(names="parameter"), f"tables/{prefix}_summary.json")


def _registered(info, kind: str, registered: bool) -> dict:
    return {"name": REGISTERED_NAMES[kind] if registered else None, "version": info.registered_model_version,
            "model_uri": info.model_uri, "run_model_uri": f"runs:/{info.run_id}/{info.name}"}


# -- score -------------------------------------------------------------------------------------------------------
def run_score(spec: dict, as_of=None) -> dict:
    """Score every customer as of ``as_of`` (or the spec's ``as_of``) with the models named by alias.

    Returns ``{"run_id", "as_of", "path", "scores"}``. Nothing is written if a model's signature does not
    match the inputs built for it.
    """
    as_of = job_date(spec.get("as_of"), as_of, spec, "as_of")
    data = spec["data"]
    path = Path(spec["output"]["path"].format(as_of=as_of))
    with tracked_run(spec["experiment"], run_name=f"score {as_of}", spec=spec,
                     tags={"job": "score", "as_of": as_of}) as run:
        summary, accounting, transactions = load_summary(
            data, spec, as_of, keep_log=bool({"churn", "uplift"} & set(spec["models"])))
        log_accounting(accounting)
        print(f"validation: {accounting}")

        models, inputs, context = {}, {}, {"as_of": as_of, "models": {}}
        for kind in [k for k in MODEL_KINDS if k in spec["models"]]:  # check every model before any scoring
            ref = spec["models"][kind]
            models[kind], version = load_by_alias(ref["name"], ref["alias"])
            if kind == "clv":
                inputs[kind] = model_input(summary)
                context["clv"] = _clv_settings(models[kind])
            elif kind == "churn":
                metadata = models[kind].unwrap_python_model().metadata
                inputs[kind] = model_input(churn_inputs(transactions, as_of, metadata))
                context["churn"] = {"horizon": metadata["horizon"], "horizon_unit": metadata["horizon_unit"]}
            else:
                metadata = models[kind].unwrap_python_model().metadata
                inputs[kind] = model_input(uplift_inputs(transactions, as_of, metadata))
                context["uplift"] = {"outcome": metadata["outcome"], "window_days": metadata["window_days"]}
            check_signature(models[kind], inputs[kind], f"{ref['name']}@{ref['alias']} (version {version.version})")
            context["models"][kind] = f"models:/{ref['name']}/{version.version}"
        mlflow.set_tags({f"model.{kind}": uri for kind, uri in context["models"].items()})

        scores = _predict(models["clv"], _conform(models["clv"], inputs["clv"]), "CLV")
        if "churn" in models:
            churn = _predict(models["churn"], _conform(models["churn"], inputs["churn"]), "churn")
            scores = scores.join(churn["p_churn"], how="left")
        if "uplift" in models:
            scores = scores.join(_predict(models["uplift"], _conform(models["uplift"], inputs["uplift"]), "uplift"))
        scores = scores.sort_index()
        if spec.get("targeting"):
            scores = recommend_actions(scores, **spec["targeting"])
            context["targeting"] = spec["targeting"]
            mlflow.log_metric("customers_contacted", int((scores["recommended_action"] != "none").sum()))
        _log_distributions(scores)
        write_scores(scores, path, context, row_group_size=spec["output"].get("row_group_size"))
        table = spec["output"].get("table")
        if table:
            _write_table(scores, table)
        mlflow.log_param("output.resolved_path", str(path))
        mlflow.log_metric("customers_scored", len(scores))
        print(f"scores: {len(scores):,} customers as of {as_of}, total CLV {scores['clv'].sum():,.2f} -> {path}")
        return {"run_id": run.info.run_id, "as_of": as_of, "path": path, "scores": scores}


def recommend_actions(scores: pd.DataFrame, policy: str, budget: float, seed: int = 0) -> pd.DataFrame:
    """Add ``policy_score`` and ``recommended_action`` to ``scores``: the ``budget`` share of customers ranked
    first by ``policy`` get their best offer (largest predicted uplift; ``contact`` without an uplift model),
    everyone else ``none``. Ties are broken by a seeded random order, so the result is reproducible."""
    from .targeting.budgets import TopShare, select
    from .targeting.policies import get_policy

    customers = scores.copy()
    offers = [c for c in scores.columns if c.startswith("uplift_")]
    if offers:
        outcome = offers[0].split("[")[0]  # uplift_net_margin / uplift_converted
        best = scores[offers].to_numpy(dtype=float).argmax(axis=1)
        customers["uplift_net_margin" if outcome == "uplift_net_margin" else "uplift_response"] = \
            scores[offers].max(axis=1)
        best_offer = np.array([c[len(outcome) + 1:-1] for c in offers], dtype=object)[best]
    else:
        best_offer = np.full(len(scores), "contact", dtype=object)
    chosen_policy = get_policy(policy)
    policy_score = chosen_policy.score(customers)
    chosen = select(policy_score, TopShare(float(budget)), customers, money=chosen_policy.money, seed=seed)
    out = scores.copy()
    out["policy_score"] = policy_score.to_numpy(dtype=float)
    out["recommended_action"] = np.where(chosen, best_offer, "none").astype(object)
    return out


def _clv_settings(pyfunc_model) -> dict:
    model = pyfunc_model.unwrap_python_model().model
    return {"horizon": model.horizon, "period": model.period, "value": model.value}


def _conform(model, inputs: pd.DataFrame) -> pd.DataFrame:
    """Cast numeric inputs to the signature's types (an int column where the model was fitted on floats)."""
    types = {spec.name: spec.type.to_numpy() for spec in model.metadata.get_input_schema().inputs}
    numeric = {name: t for name, t in types.items() if np.issubdtype(t, np.number)}
    return inputs[list(types)].astype(numeric)


def _predict(model, inputs: pd.DataFrame, what: str, chunk: int = 50_000) -> pd.DataFrame:
    parts = [model.predict(inputs.iloc[start:start + chunk])
             for start in tqdm(range(0, len(inputs), chunk), desc=f"scoring {what}", unit="chunk", disable=None)]
    return pd.concat(parts, ignore_index=True).set_index("customer_id")


def _log_distributions(scores: pd.DataFrame) -> None:
    quantiles = scores.select_dtypes("number").quantile([0.05, 0.25, 0.5, 0.75, 0.95])
    metrics = {}
    for column in quantiles.columns:
        name = re.sub(r"[^\w\-. :/]", "_", column)  # MLflow metric names: no brackets (uplift_x[offer])
        metrics[f"scores.{name}.mean"] = float(scores[column].mean())
        for q, value in quantiles[column].items():
            metrics[f"scores.{name}.p{int(round(q * 100)):02d}"] = float(value)
    mlflow.log_metrics(metrics)
    mlflow.log_table(quantiles.reset_index(names="quantile"), "tables/score_distribution.json")
    mlflow.log_figure(_distribution_figure(scores), "plots/score_distribution.png")


def _distribution_figure(scores: pd.DataFrame):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in ("p_alive", "expected_purchases", "clv", "p_churn") if c in scores]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3))
    for ax, column in zip(np.atleast_1d(axes), columns):
        values = scores[column].to_numpy(dtype=float)
        upper = np.nanquantile(values, 0.99)  # a few very large CLVs would flatten the histogram
        ax.hist(np.clip(values, None, upper), bins=40)
        ax.set_title(column if upper >= np.nanmax(values) else f"{column} (clipped at p99)")
        ax.set_ylabel("customers")
    fig.tight_layout()
    plt.close(fig)
    return fig


def write_scores(scores: pd.DataFrame, path: str | Path, context: dict, row_group_size: int | None = None) -> Path:
    """Write ``scores`` (indexed by customer, sorted) as parquet atomically, with ``context`` in the file's
    metadata; written in row groups with a progress bar. Stale temporary files of ``path`` are removed first."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    table = pa.Table.from_pandas(scores, preserve_index=True)
    metadata = dict(table.schema.metadata or {})
    metadata[SCORES_METADATA_KEY] = json.dumps(context, sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    size = row_group_size or 100_000

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, table.schema) as writer:
            for start in tqdm(range(0, max(len(table), 1), size), desc=f"writing {path.name}", unit="row group",
                              disable=None):
                writer.write_table(table.slice(start, size))

    return atomic_write(path, write)


def read_scores(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Scores written by :func:`write_scores` and their context (as-of date, model versions, settings)."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"scores file {str(path)!r} does not exist: run the scoring job for that date")
    metadata = pq.read_schema(path).metadata or {}
    context = json.loads(metadata.get(SCORES_METADATA_KEY, b"{}"))
    return pd.read_parquet(path), context


def _write_table(scores: pd.DataFrame, table: dict) -> None:
    """Replace a database table with the scores in one transaction (SQLAlchemy URL)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(table["url"])
    try:
        with engine.begin() as connection:
            scores.to_sql(table["name"], connection, if_exists="replace", index=True, chunksize=10_000)
    finally:
        engine.dispose()


def job_date(value, override, spec: dict, field: str) -> str:
    """The job's date: ``override`` (``--as-of``) if given, else the spec's ``value``, as ``YYYY-MM-DD``."""
    chosen = override if override is not None else value
    if chosen is None or chosen == "as_of":
        raise SpecError(f"{spec['__file__']}: no {field}: set field {field!r} in the spec or pass --as-of DATE")
    return spec_date(chosen, f"{spec['__file__']}: {field}")
