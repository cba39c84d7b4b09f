"""The scoring job: read the log up to the as-of date, load the models by alias, check their signatures against
the point-in-time inputs, score every customer, optionally recommend an action per customer, and write the
scores atomically (parquet, optionally a database table); one MLflow run. The same date gives byte-identical
output."""

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

from ..atomic import atomic_write
from ..errors import DataValidationError, SpecError
from ..family import ModelData
from ..tracking import check_signature, load_by_alias, log_accounting, model_input, tracked_run
from .data import job_date, load_summary
from .registry import families
from .plots import distribution_figure

__all__ = ["run_score", "recommend_actions", "read_scores", "write_scores", "SCORES_METADATA_KEY"]

#: Parquet schema metadata key holding the scoring context (as-of date, model versions, horizons).
SCORES_METADATA_KEY = b"loyalty.scores"


def run_score(spec: dict, as_of=None) -> dict:
    """Score every customer as of ``as_of`` (or the spec's ``as_of``) with the models named by alias.

    Every registered family the spec names is loaded and its inputs are built and checked before any scoring;
    the customer-base family's scores (CLV) define the customers, the others are joined onto them. Returns
    ``{"run_id", "as_of", "path", "scores"}``. Nothing is written if a model's signature does not match the
    inputs built for it.
    """
    as_of = job_date(spec.get("as_of"), as_of, spec, "as_of")
    data = spec["data"]
    path = Path(spec["output"]["path"].format(as_of=as_of))
    chosen = [family for name, family in families().items() if name in spec["models"]]
    chosen.sort(key=lambda family: not family.customer_base)  # the customer base first
    with tracked_run(spec["experiment"], run_name=f"score {as_of}", spec=spec,
                     tags={"job": "score", "as_of": as_of}) as run:
        summary, accounting, transactions = load_summary(data, spec, as_of,
                                                         keep_log=any(f.needs_log for f in chosen))
        log_accounting(accounting)
        print(f"validation: {accounting}")
        model_data = ModelData(as_of, summary, transactions, data["period"], data["unit"])

        models, inputs, context = {}, {}, {"as_of": as_of, "models": {}}
        for family in chosen:  # check every model before any scoring
            ref = spec["models"][family.name]
            models[family.name], version = load_by_alias(ref["name"], ref["alias"])
            wrapped = models[family.name].unwrap_python_model()
            inputs[family.name] = model_input(family.inputs(model_data, wrapped.metadata))
            context[family.name] = family.context(wrapped.model, wrapped.metadata)
            check_signature(models[family.name], inputs[family.name],
                            f"{ref['name']}@{ref['alias']} (version {version.version})")
            context["models"][family.name] = f"models:/{ref['name']}/{version.version}"
        mlflow.set_tags({f"model.{name}": uri for name, uri in context["models"].items()})

        scores = None
        for family in chosen:
            predicted = _predict(models[family.name], _conform(models[family.name], inputs[family.name]), family.name)
            scores = predicted if scores is None else scores.join(predicted, how="left")
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
        total = f", total CLV {scores['clv'].sum():,.2f}" if "clv" in scores else ""
        print(f"scores: {len(scores):,} customers as of {as_of}{total} -> {path}")
        return {"run_id": run.info.run_id, "as_of": as_of, "path": path, "scores": scores}


def recommend_actions(scores: pd.DataFrame, policy: str, budget: float, seed: int = 0) -> pd.DataFrame:
    """Add ``policy_score`` and ``recommended_action`` to ``scores``: the ``budget`` share of customers ranked
    first by ``policy`` get their best offer (largest predicted uplift; ``contact`` without an uplift model),
    everyone else ``none``. Ties are broken by a seeded random order, so the result is reproducible.

    The policy is the targeting experiment's own (:data:`loyalty.targeting.BUILTIN_POLICIES`), ranked and cut the
    same way (:func:`loyalty.targeting.select`): ``lifecycle`` scores with
    :func:`loyalty.targeting.lifecycle_scores` on the columns it needs (``uplift_net_margin``,
    ``uplift_retention``, ``p_retained_control``, ``residual_clv``). A :class:`SpecError` names the columns a
    policy needs that no scoring model gave.
    """
    from ..targeting.budgets import TopShare, select
    from ..targeting.policies import get_policy

    customers = scores.copy()
    offers = [c for c in scores.columns if re.fullmatch(r"uplift_\w+\[.*\]", c)]  # uplift_<outcome>[<offer>]
    if offers:
        outcome = offers[0].split("[")[0]  # uplift_net_margin / uplift_converted
        best = scores[offers].to_numpy(dtype=float).argmax(axis=1)
        column = "uplift_net_margin" if outcome == "uplift_net_margin" else "uplift_response"
        if column not in customers:
            customers[column] = scores[offers].max(axis=1)
        best_offer = np.array([c[len(outcome) + 1:-1] for c in offers], dtype=object)[best]
    else:
        best_offer = np.full(len(scores), "contact", dtype=object)
    chosen_policy = get_policy(policy)
    missing = [c for c in getattr(chosen_policy, "requires", ()) if c not in customers.columns]
    if missing:
        raise SpecError(f"targeting.policy {policy!r} ranks by column(s) {missing}, which none of the scoring "
                        f"models gave (scores have {sorted(customers.columns)}); score with a model family that "
                        "outputs them (see loyalty.family) or choose another policy")
    policy_score = chosen_policy.score(customers)
    chosen = select(policy_score, TopShare(float(budget)), customers, money=chosen_policy.money, seed=seed)
    out = scores.copy()
    out["policy_score"] = policy_score.to_numpy(dtype=float)
    out["recommended_action"] = np.where(chosen, best_offer, "none").astype(object)
    return out


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
    figure = distribution_figure(scores)
    if figure is not None:
        mlflow.log_figure(figure, "plots/score_distribution.png")


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
