"""The contract between a model family (CLV, churn, uplift, ...) and the jobs that fit, log and score it.

A family is plain data plus plain functions, defined in its own stage package (``loyalty/<family>/family.py``)
and free of MLflow and of the job runner: the fit job (:mod:`loyalty.jobs`) hands it a :class:`ModelData`, the
tracking layer (:mod:`loyalty.tracking`) wraps what it returns as an MLflow pyfunc, and the scoring job asks it
for the same inputs as of another date. Adding a family means writing one such object and registering it with
:func:`loyalty.jobs.register_family`; no runner code changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ModelData", "Fitted", "ModelFamily"]


@dataclass(frozen=True)
class ModelData:
    """What a job knows at its date: the customer summary and, for families with ``needs_log``, the clean log.

    ``date`` is the fit cut-off or the scoring date (``YYYY-MM-DD``); ``period`` and ``unit`` are the summary's
    purchase period and time unit (see :func:`loyalty.data.summarize`).
    """

    date: str
    summary: pd.DataFrame
    transactions: pd.DataFrame | None = None
    period: str = "D"
    unit: str = "W"


class Fitted(NamedTuple):
    """A family's fit: the model, its training inputs (indexed by customer, exactly the model's input columns),
    the ``metadata`` scoring needs (JSON-able), and what the fit job logs (``metrics``, ``tables``)."""

    model: Any
    inputs: pd.DataFrame
    metadata: dict
    metrics: dict = {}
    tables: dict = {}


@dataclass(frozen=True)
class ModelFamily:
    """One model family as the jobs see it.

    Parameters
    ----------
    name : str
        The key in pipeline specs (``models: {<name>: ...}``); registered models are ``loyalty-<name>``.
    read_settings : callable(path) -> dict
        Reads a ``models/<name>.yaml`` spec (``kind: model``, ``family: <name>``), with
        :func:`loyalty.specs.read_model_settings`, and returns the settings with defaults.
    fit : callable(settings, ModelData) -> Fitted
        Fits on data up to ``ModelData.date`` only.
    inputs : callable(ModelData, metadata) -> DataFrame
        The model's inputs as of ``ModelData.date`` (indexed by customer), built as at training.
    predict : callable(model, metadata, inputs) -> DataFrame
        Scores, indexed like ``inputs``.
    save, load : callable(model, metadata, directory) / callable(directory) -> (model, metadata)
        Persistence in a directory that ``save`` creates (no pickles of user files).
    context : callable(model, metadata) -> dict
        Settings a reader of the scores needs (horizon, units, outcome), stored with them.
    needs_log : bool
        Whether ``fit`` and ``inputs`` need the clean transaction log in memory (not just the summary).
    customer_base : bool
        Whether this family's scores define the customers of a scoring run (CLV: every customer of the summary);
        the others are joined onto them.
    """

    name: str
    read_settings: Callable[[Path], dict]
    fit: Callable[[dict, ModelData], Fitted]
    inputs: Callable[[ModelData, dict], pd.DataFrame]
    predict: Callable[[Any, dict, pd.DataFrame], pd.DataFrame]
    save: Callable[[Any, dict, Path], None]
    load: Callable[[Path], tuple[Any, dict]]
    context: Callable[[Any, dict], dict] = field(default=lambda model, metadata: {})
    needs_log: bool = False
    customer_base: bool = False
