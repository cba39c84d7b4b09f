"""Pipeline specs (``pipelines/*.yaml``, ``kind: pipeline``): fit, score and follow-up jobs, checked on load.

Every error names the file, the field and the allowed values (:class:`loyalty.errors.SpecError`). The data
steps run on ``data.engine`` (``pandas``, ``duckdb`` or ``spark``; default ``pandas`` for the shipped logs,
``duckdb`` for a file). Paths in a
spec (model specs, outputs) are relative to the working folder; a model spec not found there is looked up
beside the spec's folder (``pipelines/../models/clv.yaml``), so shipped specs work from any folder.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ..engines import ENGINES
from ..errors import SpecError
from ..specs import Field, check_fields, choice, identifier, integer, number, read_spec, share, template
from ..units import UNIT_DAYS
from .registry import families, get_family

__all__ = ["JOBS", "DATA_SOURCES", "load_pipeline", "resolve_path", "spec_date"]

JOBS = ("fit", "score", "follow_up")
#: Shipped logs; any other ``source`` is a path to a CSV / parquet log.
DATA_SOURCES = ("cdnow", "cdnow_sample")

_DATE = (str, dt.date)
_TOP = {
    "kind": str, "job": str, "description": str, "experiment": identifier(), "data": dict, "cutoff": _DATE,
    "as_of": _DATE, "models": dict, "register": bool, "output": dict, "predictions": dict,
    "drift_threshold": number(above=0), "targeting": dict,
}
_REQUIRED = {"fit": ("data", "models"), "score": ("data", "models", "output"),
             "follow_up": ("data", "predictions")}
_ALLOWED_BY_JOB = {
    "fit": {"kind", "job", "description", "experiment", "data", "cutoff", "models", "register"},
    "score": {"kind", "job", "description", "experiment", "data", "as_of", "models", "output", "targeting"},
    "follow_up": {"kind", "job", "description", "experiment", "data", "as_of", "predictions", "drift_threshold"},
}
_DATA = {"source": str, "columns": dict, "margin_rate": share(), "duplicates": choice("keep", "drop"),
         "period": choice("D", "W", "h"), "unit": choice(*UNIT_DAYS), "engine": choice(*ENGINES)}
#: Output path templates may use ``{as_of}`` and nothing else (no attribute or index access).
_OUTPUT = {"path": template("as_of"), "table": dict, "row_group_size": integer(low=1)}
_TABLE = {"url": Field(str, check=lambda url: None if re.match(r"[A-Za-z][\w+]*://", url)
                       else "must be an SQLAlchemy URL like sqlite:///scores.db"),
          "name": identifier(r"[A-Za-z_]\w*")}
_PREDICTIONS = {"path": template("as_of"), "as_of": _DATE}
_MODEL_REF = {"name": identifier(), "alias": identifier(r"[A-Za-z0-9_\-]+")}
_MODEL_ENTRY = {"spec": str, "name": identifier()}
_TARGETING = {"policy": str, "budget": share(), "seed": integer(low=0)}


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
        output = check_fields(spec["output"], _OUTPUT, where, "output.")
        if not output.get("path"):
            raise SpecError(f"{where}: field 'output.path' is required, e.g. scores/scores_{{as_of}}.parquet")
        if output.get("table") is not None:
            table = check_fields(output["table"], _TABLE, where, "output.table.")
            if not table.get("url") or not table.get("name"):
                raise SpecError(f"{where}: output.table needs 'url' (SQLAlchemy URL) and 'name'")
        if spec.get("targeting") is not None:
            spec["targeting"] = _check_targeting(spec["targeting"], where)
    else:
        predictions = check_fields(spec["predictions"], _PREDICTIONS, where, "predictions.")
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
    from ..data.contract import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

    data = dict(check_fields(data, _DATA, where, "data."))
    source = data.get("source")
    if not source:
        raise SpecError(f"{where}: field 'data.source' is required: one of {list(DATA_SOURCES)} or a file path, "
                        f"got {source!r}")
    if source not in DATA_SOURCES and not resolve_path(source, {"__file__": where}).exists():
        raise SpecError(f"{where}: field 'data.source': file {source!r} does not exist (relative to the working "
                        f"folder or the spec folder's parent); the shipped logs are {list(DATA_SOURCES)}")
    contract = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    check_fields(data.get("columns") or {}, {c: Field(str, check=lambda v: None if v.strip() else "must not be empty")
                                             for c in contract}, where, "data.columns.")
    data.setdefault("duplicates", "drop")
    data.setdefault("period", "D")
    data.setdefault("unit", "W")
    data.setdefault("columns", {})
    # the shipped logs are in memory already; a file is streamed through DuckDB unless the spec says otherwise
    data.setdefault("engine", "pandas" if source in DATA_SOURCES else "duckdb")
    return data


def _check_targeting(targeting: dict, where: str) -> dict:
    from ..targeting.policies import BUILTIN_POLICIES

    targeting = dict(check_fields(targeting, _TARGETING, where, "targeting."))
    usable = sorted(set(BUILTIN_POLICIES) - {"oracle", "response"})  # the simulator's truth; a response model
    if targeting.get("policy") not in usable:
        raise SpecError(f"{where}: field 'targeting.policy' must be one of {usable}, got {targeting.get('policy')!r}")
    if targeting.get("budget") is None:
        raise SpecError(f"{where}: field 'targeting.budget' (share of customers to contact, within [0, 1]) is "
                        "required")
    targeting.setdefault("seed", 0)
    return targeting


def _check_families(models: dict, where: str) -> None:
    unknown = sorted(set(models) - set(families()))
    if unknown:
        raise SpecError(f"{where}: models: unknown model(s) {unknown}; allowed are {list(families())}")


def _check_model_paths(models: dict, where: str) -> dict:
    """Each ``models.<family>`` of a fit job: a model spec path, or ``{spec: path, name: registered name}``
    (default name ``loyalty-<family>``); returned as ``{family: {"spec": path, "name": name}}``."""
    from ..tracking.models import registered_name

    _check_families(models, where)
    checked = {}
    for kind, entry in models.items():
        if isinstance(entry, dict):
            entry = check_fields(entry, _MODEL_ENTRY, where, f"models.{kind}.")
            path, name = entry.get("spec"), entry.get("name")
        else:
            path, name = entry, None
        if not isinstance(path, str):
            raise SpecError(f"{where}: field 'models.{kind}' must be a model spec path (str) or {{spec: path, name: "
                            f"registered model name}}, got {entry!r}")
        resolved = resolve_path(path, {"__file__": where})
        if not resolved.exists():
            raise SpecError(f"{where}: field 'models.{kind}': model spec {path!r} does not exist (relative to the "
                            "working folder or the spec folder's parent)")
        get_family(kind).read_settings(resolved)  # every value of the model spec checked before any data is read
        checked[kind] = {"spec": path, "name": name or registered_name(get_family(kind).name)}
    return checked


def _check_model_refs(models: dict, where: str) -> dict:
    from ..tracking.models import CHAMPION, registered_name

    _check_families(models, where)
    base = [name for name, family in families().items() if family.customer_base]
    if not set(base) & set(models):
        raise SpecError(f"{where}: field 'models' needs one of {base} for scoring (its scores define the customers)")
    refs = {}
    for kind, ref in models.items():
        ref = check_fields(ref or {}, _MODEL_REF, where, f"models.{kind}.")
        refs[kind] = {"name": ref.get("name") or registered_name(get_family(kind).name),
                      "alias": ref.get("alias") or CHAMPION}
    return refs
