"""MLflow tracking for ``loyalty`` runs: where runs go, and what every run records.

The embedded default store is a SQLite file in the working folder (``sqlite:///mlflow.db``) with artifacts in
``./mlartifacts`` beside it; ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` point elsewhere (another file, a
tracking server). Every run logs its spec (flattened as parameters and the YAML as an artifact), the row
accounting of the data it read, and the git commits of the spec and of the ``loyalty`` code when they are in
a git work tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import mlflow
import yaml

__all__ = [
    "DEFAULT_TRACKING_URI",
    "DEFAULT_ARTIFACT_ROOT",
    "resolve_tracking_uri",
    "use_tracking",
    "ensure_experiment",
    "tracked_run",
    "log_spec",
    "log_accounting",
    "flatten",
    "git_commit",
]

#: The embedded store: a SQLite file in the working folder.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: Artifact root beside the embedded store (with a SQLite URI and no location, MLflow would use ./mlruns).
DEFAULT_ARTIFACT_ROOT = "mlartifacts"
#: MLflow's parameter values are at most this long (longer values are cut, with a marker).
_MAX_PARAM = 500


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The tracking URI to use: ``uri`` if given, else ``MLFLOW_TRACKING_URI``, else the local SQLite store.

    A relative SQLite path is made absolute against the working folder: MLflow caches one store per URI text
    in a process, so ``sqlite:///mlflow.db`` would otherwise keep pointing at the first folder it was used in.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and uri != prefix + ":memory:":
        uri = prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


def use_tracking(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at :func:`resolve_tracking_uri` (``uri``); returns the URI."""
    resolved = resolve_tracking_uri(uri)
    mlflow.set_tracking_uri(resolved)
    mlflow.set_registry_uri(resolved)
    return resolved


def ensure_experiment(name: str, artifact_root: str | Path | None = None) -> str:
    """The id of experiment ``name``, created if missing with artifacts in ``artifact_root/<name>``.

    ``artifact_root`` defaults to ``./mlartifacts`` when the store is a local SQLite file and to the server's
    default otherwise. An existing experiment keeps its artifact location.
    """
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if artifact_root is not None or mlflow.get_tracking_uri().startswith("sqlite:"):
        root = Path(artifact_root or DEFAULT_ARTIFACT_ROOT).resolve()
        location = (root / name).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


@contextlib.contextmanager
def tracked_run(
    experiment: str,
    run_name: str | None = None,
    spec: Mapping | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run in ``experiment`` that records ``spec`` and the git commit; yields the active run.

    A nested run (``nested=True``) starts inside the active run and records only its own ``spec``.
    """
    if not nested:
        mlflow.set_experiment(experiment_id=ensure_experiment(experiment))
    with mlflow.start_run(run_name=run_name, nested=nested) as run:
        run_tags = dict(tags or {})
        if not nested:
            run_tags.update(_commits(spec))
        if run_tags:
            mlflow.set_tags(run_tags)
        if spec is not None:
            log_spec(spec)
        yield run


def log_spec(spec: Mapping) -> None:
    """Log a spec as flattened parameters (``data.source``, ``models.clv``, ...) and as ``spec.yaml``."""
    plain = {k: v for k, v in spec.items() if k != "__file__"}
    params = {key: _param_text(value) for key, value in flatten(plain).items()}
    if params:
        mlflow.log_params(params)
    mlflow.log_text(yaml.safe_dump(_jsonable(plain), sort_keys=False), "spec.yaml")
    if "__file__" in spec:
        mlflow.set_tag("spec_file", str(spec["__file__"]))


def log_accounting(accounting, prefix: str = "data") -> None:
    """Log a :class:`loyalty.data.RowAccounting` as metrics (rows read, used, rejected) and ``accounting.json``."""
    counts = accounting.as_dict()
    mlflow.log_metrics({f"{prefix}.rows_read": counts["rows_read"], f"{prefix}.rows_used": counts["rows_used"],
                        f"{prefix}.rows_rejected": counts["rows_rejected"]})
    mlflow.log_dict(counts, f"{prefix}_accounting.json")


def flatten(data: Mapping, prefix: str = "") -> dict:
    """Nested mappings as one level with dotted keys; lists are kept as values."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _commits(spec: Mapping | None) -> dict:
    """``git_commit`` of the spec's work tree (else the working folder's) and ``code_git_commit`` of the
    ``loyalty`` source, each when it is in a git work tree."""
    folders = [Path(spec["__file__"]).resolve().parent] if spec and "__file__" in spec else []
    commit = next(filter(None, (git_commit(f) for f in folders + [Path.cwd()])), None)
    code = git_commit(Path(__file__).resolve().parent)
    return {name: value for name, value in (("git_commit", commit), ("code_git_commit", code)) if value}


def git_commit(folder: str | Path) -> str | None:
    """The commit checked out in the git work tree containing ``folder``, or None outside one."""
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _param_text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(_jsonable(value))
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
