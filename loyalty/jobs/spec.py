"""Pipeline specs (``pipelines/*.yaml``, ``kind: pipeline``): fit, score and follow-up jobs, checked on load.

Every error names the file, the field and the allowed values (:class:`loyalty.errors.SpecError`). The data
steps run on ``data.engine`` (``pandas``, ``duckdb`` or ``spark``; default ``pandas`` for the shipped logs,
``duckdb`` for a file). Paths in a
spec (model specs, outputs) are relative to the working folder; a model spec not found there is looked up
beside the spec's folder (``pipelines/../models/clv.yaml``), so shipped specs work from any folder.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..engines import ENGINES
from ..errors import SpecError
from ..specs import check_fields, read_spec
from .registry import families, get_family

__all__ = ["JOBS", "DATA_SOURCES", "load_pipeline", "resolve_path", "spec_date"]

JOBS = ("fit", "score", "follow_up")
#: Shipped logs; any other ``source`` is a path to a CSV / parquet log.
DATA_SOURCES = ("cdnow", "cdnow_sample")

_DATE = (str, dt.date)
_TOP = {
    "kind": str, "job": str, "description": str, "experiment": str, "data": dict, "cutoff": _DATE,
    "as_of": _DATE, "models": dict, "register": bool, "output": dict, "predictions": dict,
    "drift_threshold": (int, float), "targeting": dict,
}
_REQUIRED = {"fit": ("data", "models"), "score": ("data", "models", "output"),
             "follow_up": ("data", "predictions")}
_ALLOWED_BY_JOB = {
    "fit": {"kind", "job", "description", "experiment", "data", "cutoff", "models", "register"},
    "score": {"kind", "job", "description", "experiment", "data", "as_of", "models", "output", "targeting"},
    "follow_up": {"kind", "job", "description", "experiment", "data", "as_of", "predictions", "drift_threshold"},
}
_DATA = {"source": str, "columns": dict, "margin_rate": (int, float), "duplicates": str, "period": str,
         "unit": str, "engine": str}
_OUTPUT = {"path": str, "table": dict, "row_group_size": int}
_TABLE = {"url": str, "name": str}
_PREDICTIONS = {"path": str, "as_of": _DATE}
_MODEL_REF = {"name": str, "alias": str}


def load_pipeline(path: str | Path) -> dict:
    """Read and check a pipeline spec; returns the spec with defaults filled in (``experiment``,
    ``data`` fields, ``register``)."""
    spec = read_spec(path, kind="pipeline")
    where = spec["__file__"]
    job = spec.get("job")
    if job not in JOBS:
        raise SpecError(f"{where}: field 'job' must be one of {list(JOBS)}, got {job!r}")
    fields = {k: v for k, v in spec.items() if k != "__file__"}
    allowed = {name: _TOP[name] for name in _ALLOWED_BY_JOB[job]}
    check_fields(fields, allowed, where)
    for name in _REQUIRED[job]:
        if not spec.get(name):
            raise SpecError(f"{where}: field {name!r} is required for job {job!r}")
    spec.setdefault("experiment", f"loyalty-{job.replace('_', '-')}")
    if job == "follow_up":  # it compares each customer's predictions with their transactions, in memory
        spec["data"] = dict(spec["data"] or {})
        engine = spec["data"].setdefault("engine", "pandas")
        if engine != "pandas":
            raise SpecError(f"{where}: field 'data.engine' must be 'pandas' for job 'follow_up' (it compares each "
                            f"customer's predictions with their transactions in memory), got {engine!r}")
    spec["data"] = _check_data(spec["data"], where)
    if job == "fit":
        spec["models"] = _check_model_paths(spec["models"], where)
        spec.setdefault("register", True)
    elif job == "score":
        spec["models"] = _check_model_refs(spec["models"], where)
        output = check_fields(spec["output"], _OUTPUT, f"{where}: output")
        if not output.get("path"):
            raise SpecError(f"{where}: field 'output.path' is required, e.g. scores/scores_{{as_of}}.parquet")
        if output.get("table") is not None:
            table = check_fields(output["table"], _TABLE, f"{where}: output.table")
            if not table.get("url") or not table.get("name"):
                raise SpecError(f"{where}: output.table needs 'url' (SQLAlchemy URL) and 'name'")
        if output.get("row_group_size") is not None and output["row_group_size"] < 1:
            raise SpecError(f"{where}: output.row_group_size must be a positive integer")
        if spec.get("targeting") is not None:
            spec["targeting"] = _check_targeting(spec["targeting"], where)
    else:
        predictions = check_fields(spec["predictions"], _PREDICTIONS, f"{where}: predictions")
        for name in ("path", "as_of"):
            if predictions.get(name) is None:
                raise SpecError(f"{where}: field 'predictions.{name}' is required (the earlier scoring run's "
                                "output path template and its as-of date)")
        spec_date(predictions["as_of"], f"{where}: predictions.as_of")
        spec.setdefault("drift_threshold", 0.2)
    for name in ("cutoff", "as_of"):
        if spec.get(name) is not None and spec[name] != "as_of":
            spec_date(spec[name], f"{where}: {name}")
    return spec


def spec_date(value, where: str):
    """A spec date (YAML date or ISO text) as a string ``YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise SpecError(f"{where}: expected a date like 1997-09-30, got {value!r}") from None


def resolve_path(path: str, spec: dict) -> Path:
    """``path`` as given if it exists from the working folder, else relative to the spec folder's parent."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    beside = Path(spec["__file__"]).resolve().parent.parent / path
    return beside if beside.exists() else candidate


def _check_data(data: dict, where: str) -> dict:
    data = dict(check_fields(data, _DATA, f"{where}: data"))
    if not data.get("source"):
        raise SpecError(f"{where}: field 'data.source' is required: one of {list(DATA_SOURCES)} or a file path")
    if data.setdefault("duplicates", "drop") not in ("keep", "drop"):
        raise SpecError(f"{where}: field 'data.duplicates' must be 'keep' or 'drop', got {data['duplicates']!r}")
    if data.setdefault("period", "D") not in ("D", "W", "h"):
        raise SpecError(f"{where}: field 'data.period' must be one of ['D', 'W', 'h'], got {data['period']!r}")
    data.setdefault("unit", "W")
    data.setdefault("columns", {})
    # the shipped logs are in memory already; a file is streamed through DuckDB unless the spec says otherwise
    data.setdefault("engine", "pandas" if data["source"] in DATA_SOURCES else "duckdb")
    if data["engine"] not in ENGINES:
        raise SpecError(f"{where}: field 'data.engine' must be one of {list(ENGINES)}, got {data['engine']!r}")
    return data


def _check_targeting(targeting: dict, where: str) -> dict:
    from ..targeting.policies import BUILTIN_POLICIES

    targeting = dict(check_fields(targeting, {"policy": str, "budget": (int, float), "seed": int},
                                  f"{where}: targeting"))
    usable = sorted(set(BUILTIN_POLICIES) - {"oracle", "response"})  # the simulator's truth; a response model
    if targeting.get("policy") not in usable:
        raise SpecError(f"{where}: field 'targeting.policy' must be one of {usable}, got {targeting.get('policy')!r}")
    budget = targeting.get("budget")
    if budget is None or not 0 <= budget <= 1:
        raise SpecError(f"{where}: field 'targeting.budget' (share of customers to contact) must be within [0, 1], "
                        f"got {budget!r}")
    targeting.setdefault("seed", 0)
    return targeting


def _check_families(models: dict, where: str) -> None:
    unknown = sorted(set(models) - set(families()))
    if unknown:
        raise SpecError(f"{where}: models: unknown model(s) {unknown}; allowed are {list(families())}")


def _check_model_paths(models: dict, where: str) -> dict:
    _check_families(models, where)
    for kind, path in models.items():
        if not isinstance(path, str):
            raise SpecError(f"{where}: field 'models.{kind}' must be a model spec path (str), got {path!r}")
        if not resolve_path(path, {"__file__": where}).exists():
            raise SpecError(f"{where}: field 'models.{kind}': model spec {path!r} does not exist (relative to the "
                            "working folder or the spec folder's parent)")
    return models


def _check_model_refs(models: dict, where: str) -> dict:
    from ..tracking.models import CHAMPION, registered_name

    _check_families(models, where)
    base = [name for name, family in families().items() if family.customer_base]
    if not set(base) & set(models):
        raise SpecError(f"{where}: field 'models' needs one of {base} for scoring (its scores define the customers)")
    refs = {}
    for kind, ref in models.items():
        ref = check_fields(ref or {}, _MODEL_REF, f"{where}: models.{kind}")
        refs[kind] = {"name": ref.get("name") or registered_name(get_family(kind).name),
                      "alias": ref.get("alias") or CHAMPION}
    return refs
