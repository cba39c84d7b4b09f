"""Jobs: the YAML specs run as MLflow runs (``loyalty run <spec.yaml>``).

- :func:`run_spec`: run any spec by its ``kind`` (pipeline, model, experiment).
- :func:`run_fit`, :func:`run_score`, :func:`run_follow_up`: the pipeline jobs (:func:`load_pipeline` reads their
  specs); :func:`recommend_actions`, :func:`read_scores` and :func:`write_scores` around the scoring output.
- :func:`run_tracked_experiment`: a targeting experiment with one nested run per policy and budget.
- :func:`register_family` / :func:`families`: the model families the fit and scoring jobs iterate.

Submodules load on first use, so importing :mod:`loyalty.jobs` is cheap.
"""

from __future__ import annotations

import importlib

__all__ = [
    "run_spec", "load_pipeline", "run_fit", "run_score", "run_follow_up", "run_tracked_experiment",
    "recommend_actions", "read_scores", "write_scores", "register_family", "unregister_family", "get_family",
    "families", "load_log", "load_summary", "job_date",
]

_WHERE = {
    "run_spec": "run", "load_pipeline": "spec", "run_fit": "fit", "run_score": "score",
    "run_follow_up": "follow_up", "run_tracked_experiment": "experiment", "recommend_actions": "score",
    "read_scores": "score", "write_scores": "score", "register_family": "registry",
    "unregister_family": "registry", "get_family": "registry", "families": "registry", "load_log": "data",
    "load_summary": "data", "job_date": "data",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
