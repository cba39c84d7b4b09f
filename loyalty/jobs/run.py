"""Running a spec by its ``kind``: a pipeline job (fit, score, follow-up), a model fit, or an experiment."""

from __future__ import annotations

from pathlib import Path

from ..errors import SpecError
from ..specs import check_value, read_spec, share

__all__ = ["KINDS", "run_spec"]

KINDS = ("model", "pipeline", "experiment")


def run_spec(path: str | Path, as_of=None, data: str = "cdnow", tracking_uri: str | None = None,
             margin_rate: float | None = None) -> dict:
    """Run the spec at ``path`` as MLflow runs; returns the job's result dict.

    ``kind: pipeline`` runs its job (:func:`run_fit`, :func:`run_score` or :func:`run_follow_up`) as of
    ``as_of``; ``kind: model`` fits that one model spec on ``data`` (a log path, or ``cdnow`` /
    ``cdnow_sample``) up to ``as_of`` and registers it; ``kind: experiment`` runs the targeting experiment with
    one nested run per policy and budget. Runs go to ``tracking_uri`` (see
    :func:`loyalty.tracking.resolve_tracking_uri`).
    """
    from ..tracking import use_tracking

    kind = read_spec(path).get("kind")
    if kind not in KINDS:
        raise SpecError(f"{path}: field 'kind' must be one of {list(KINDS)}, got {kind!r}")
    check_value(margin_rate, share(), "margin_rate", "run_spec")
    use_tracking(tracking_uri)
    if kind == "pipeline":
        from .fit import run_fit
        from .follow_up import run_follow_up
        from .score import run_score
        from .spec import load_pipeline

        spec = load_pipeline(path)
        job = {"fit": run_fit, "score": run_score, "follow_up": run_follow_up}[spec["job"]]
        return job(spec, as_of=as_of)
    if kind == "model":
        return _run_model(path, as_of, data, margin_rate)
    from .experiment import run_tracked_experiment

    return run_tracked_experiment(path)


def _run_model(path, as_of, data: str, margin_rate: float | None) -> dict:
    from ..tracking.models import registered_name
    from .fit import run_fit
    from .registry import get_family

    family = get_family(read_spec(path, kind="model").get("family"), f"{path}: field 'family'").name
    if as_of is None:
        raise SpecError(f"{path}: a model spec is fitted on --data up to a cut-off: pass --as-of DATE")
    spec = {"__file__": str(Path(path).resolve().parent.parent / "pipelines" / "<model>.yaml"),
            "kind": "pipeline", "job": "fit", "experiment": f"loyalty-{family}",
            "data": {"source": data, "columns": {}, "duplicates": "drop", "period": "D", "unit": "W",
                     "margin_rate": margin_rate},
            "models": {family: {"spec": str(Path(path).resolve()), "name": registered_name(family)}}, "register": True}
    return run_fit(spec, as_of=as_of)
