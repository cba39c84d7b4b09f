"""Targeting experiment specs (``experiments/*.yaml``, ``kind: experiment``), checked before anything is fitted.

Example (``experiments/simulated.yaml``)::

    kind: experiment
    name: simulated
    data:
      simulator: {customers: 100000, seed: 1}      # or  hillstrom: {arm: "Womens E-Mail"}
    economics:
      margin_rate: null          # share of revenue; required when the data have no margin (Hillstrom)
      discount_rate: null        # offer terms when the data do not carry them (Hillstrom)
      contact_cost: null
      annual_discount_rate: 0.10
      response_window_days: 28
      horizon_days: 364          # long-horizon outcome; null for short-horizon data
    models: {folds: 2, n_estimators: 100, learner: X, retention: shift}
    policies: [random, response, churn_risk, clv, uplift, margin_uplift, lifecycle, oracle]
    budgets: [0.1, 0.2, 0.3]
    headline: {budget: 0.2, policy: lifecycle, baseline: response}
    bootstrap: {resamples: 1000, seed: 0}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError
from ..specs import check_fields, existing_file, identifier, integer, list_of, number, read_spec
from .policies import BUILTIN_POLICIES

__all__ = ["ExperimentSpec", "load_experiment", "experiment_from_dict"]

_DATA_SOURCES = {"simulator", "hillstrom"}
_DEFAULT_POLICIES = ("random", "response", "uplift", "margin_uplift", "lifecycle")
_DEFAULT_BUDGETS = (0.1, 0.2, 0.3)


@dataclass
class ExperimentSpec:
    name: str
    data: dict
    economics: dict
    models: dict = field(default_factory=lambda: {"folds": 2, "n_estimators": 100})
    policies: list = field(default_factory=lambda: list(_DEFAULT_POLICIES))
    budgets: list = field(default_factory=lambda: list(_DEFAULT_BUDGETS))
    headline: dict = field(default_factory=lambda: {"budget": 0.2, "policy": "lifecycle", "baseline": "response"})
    bootstrap: dict = field(default_factory=lambda: {"resamples": 1000, "seed": 0})
    source: str = "<dict>"

    @property
    def data_source(self) -> str:
        return next(iter(self.data))

    def as_dict(self) -> dict:
        return {"name": self.name, "data": self.data, "economics": self.economics, "models": self.models,
                "policies": self.policies, "budgets": self.budgets, "headline": self.headline,
                "bootstrap": self.bootstrap}


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and check an experiment spec; errors name the file and the field (:class:`SpecError`)."""
    spec = read_spec(path, kind="experiment")
    where = spec.pop("__file__")
    spec.pop("kind")
    return experiment_from_dict(spec, where)


def experiment_from_dict(spec: dict, where: str = "<dict>") -> ExperimentSpec:
    check_fields(spec, {"name": identifier(), "data": dict, "economics": dict, "models": dict,
                        "policies": list_of(identifier()), "budgets": list_of(number()), "headline": dict,
                        "bootstrap": dict}, where)
    for required in ("name", "data", "economics"):
        if required not in spec:
            raise SpecError(f"{where}: missing field {required!r}")
    data = spec["data"]
    if len(data) != 1 or next(iter(data)) not in _DATA_SOURCES:
        raise SpecError(f"{where}: field 'data' must name one source of {sorted(_DATA_SOURCES)}, got {sorted(data)}")
    source = next(iter(data))
    options = data[source] or {}
    if source == "simulator":
        check_fields(options, {"customers": integer(low=1), "seed": integer(low=0), "config": existing_file()},
                     where, "data.simulator.")
    else:
        check_fields(options, {"arm": str, "control": str}, f"{where}: data.hillstrom")
    data = {source: dict(options)}

    economics = check_fields(
        spec["economics"],
        {"margin_rate": (int, float), "discount_rate": (int, float), "contact_cost": (int, float),
         "annual_discount_rate": (int, float), "response_window_days": (int, float), "horizon_days": (int, float)},
        f"{where}: economics",
    )
    if source == "hillstrom":
        for name in ("margin_rate", "discount_rate", "contact_cost"):
            if economics.get(name) is None:
                raise SpecError(
                    f"{where}: economics.{name} is required for Hillstrom (spend is revenue and the file has no "
                    "offer terms): state it as an assumption"
                )
        if economics.get("horizon_days") is not None:
            raise SpecError(f"{where}: economics.horizon_days must be null for Hillstrom (two-week outcomes only)")
    for name in ("margin_rate", "discount_rate"):
        value = economics.get(name)
        if value is not None and not 0 <= value <= 1:
            raise SpecError(f"{where}: economics.{name} must be within [0, 1], got {value}")
    for name in ("contact_cost", "response_window_days", "horizon_days", "annual_discount_rate"):
        value = economics.get(name)
        if value is not None and value < 0:
            raise SpecError(f"{where}: economics.{name} must be >= 0, got {value}")

    models = check_fields(spec.get("models") or {},
                          {"folds": int, "n_estimators": integer(low=1), "learner": str, "retention": str}, where,
                          "models.")
    if models.get("folds", 2) < 2:
        raise SpecError(f"{where}: models.folds must be >= 2 (cross-fitting), got {models['folds']}")
    if models.get("learner", "X") not in ("T", "X", "S"):
        raise SpecError(f"{where}: models.learner must be one of T, X, S, got {models['learner']!r}")
    if models.get("retention", "shift") not in ("shift", "learner"):
        raise SpecError(f"{where}: models.retention must be 'shift' or 'learner', got {models['retention']!r}")

    policies = spec.get("policies") or list(_DEFAULT_POLICIES)
    unknown = [p for p in policies if p not in BUILTIN_POLICIES]
    if unknown:
        raise SpecError(f"{where}: policies: unknown policy {unknown[0]!r}; known policies are {sorted(BUILTIN_POLICIES)}")
    if source == "hillstrom":
        needs_history = [p for p in policies if p in ("churn_risk", "clv", "lifecycle", "oracle")]
        if needs_history:
            raise SpecError(
                f"{where}: policies {needs_history} need a transaction history or a known truth, which Hillstrom "
                "does not have; use random, response, uplift, margin_uplift"
            )
    if "oracle" in policies and source != "simulator":
        raise SpecError(f"{where}: policy 'oracle' needs the simulator's truth")

    budgets = spec.get("budgets") or list(_DEFAULT_BUDGETS)
    for budget in budgets:
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget <= 1:
            raise SpecError(f"{where}: budgets: each budget is a share of the base within [0, 1], got {budget!r}")
    headline = check_fields(spec.get("headline") or {}, {"budget": (int, float), "policy": str, "baseline": str,
                                                        "outcome": str}, f"{where}: headline")
    headline = {"budget": 0.2, "policy": "lifecycle" if "lifecycle" in policies else "margin_uplift",
                "baseline": "response", **headline}
    if headline["budget"] not in budgets:
        raise SpecError(f"{where}: headline.budget {headline['budget']} must be one of budgets {budgets}")
    for role in ("policy", "baseline"):
        if headline[role] not in policies:
            raise SpecError(f"{where}: headline.{role} {headline[role]!r} is not among policies {policies}")
    bootstrap = check_fields(spec.get("bootstrap") or {}, {"resamples": int, "seed": integer(low=0),
                                                           "level": number(above=0, below=1)}, where, "bootstrap.")
    bootstrap = {"resamples": 1000, "seed": 0, "level": 0.95, **bootstrap}
    if bootstrap["resamples"] < 100:
        raise SpecError(f"{where}: bootstrap.resamples must be >= 100 for a 95% interval, got {bootstrap['resamples']}")
    models = {"folds": 2, "n_estimators": 100, "learner": "X", "retention": "shift", **models}
    return ExperimentSpec(
        name=spec["name"], data=data, economics=dict(economics), models=models,
        policies=list(policies), budgets=[float(b) for b in budgets], headline=headline, bootstrap=bootstrap,
        source=where,
    )
