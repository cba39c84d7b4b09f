"""Targeting experiment specs (``experiments/*.yaml``, ``kind: experiment``), checked before anything is fitted.

Example (``experiments/simulated.yaml``)::

    kind: experiment
    name: simulated
    data:
      simulator: {customers: 100000, seed: 1}      # or  hillstrom: {arm: "Womens E-Mail"}, or table / campaign:
    economics:
      margin_rate: null          # share of revenue; required when the data have no margin (Hillstrom)
      discount_rate: null        # offer terms when the data do not carry them (Hillstrom)
      contact_cost: null
      annual_discount_rate: 0.10
      response_window_days: 28
      horizon_days: 364          # long-horizon outcome; null for short-horizon data
    models: {folds: 2, n_estimators: 100, learner: X, retention: shift, splits: 3, estimator: dr, seed: 0}
    policies: [random, response, churn_risk, clv, uplift, margin_uplift, lifecycle, oracle]
    budgets: [0.1, 0.2, 0.3, profit_positive]   # shares of the base, and "treat when predicted profit > 0"
    headline: {budget: 0.2, policy: lifecycle, baseline: response}
    bootstrap: {resamples: 1000, seed: 0}
    randomization: {allow_imbalance: false, max_smd: 0.1, srm_alpha: 0.001}

Your own data (paths are relative to the spec file):

- ``table``: one row per customer (Hillstrom-like)::

      data:
        table:
          path: mailing.csv
          id: member
          treatment: arm            # column; arm/control name the two values compared
          arm: Womens E-Mail
          control: No E-Mail
          outcomes: {conversion: bought, spend: revenue_2wk}   # or margin: ...
          features: [recency, history, mens, womens, zip_code, newbie, channel]
          propensity: null          # column or number; null = the observed treated share

  Several offer arms (a multi-arm campaign): ``arms: [Mens E-Mail, Womens E-Mail]`` instead of ``arm``; each
  policy then gives each customer the arm it scores best (:mod:`loyalty.targeting.arms`). ``propensity`` is then
  null (each arm's observed share) or a column of P(arm received). The ``campaign`` source takes ``arms`` too
  (default: every label other than the control).

- ``campaign``: a transaction log plus an assignments file (what ``loyalty simulate --out`` writes)::

      data:
        campaign:
          transactions: sales.parquet            # CSV or parquet; file or folder
          assignments: offers.csv                # customer_id, campaign_id, assigned_at, treatment, ...
          customers: members.csv                 # optional customer attributes used as features
          columns: {customer_id: member, timestamp: sold_at, amount: gross, margin: gm}
          assignment_columns: {customer_id: member}
          campaign_id: SPRING24                  # optional: one campaign of several in the file
          control: 0                             # optional: the control arm's label (default 0)
          arm: 1                                 # optional: the offer arm's label (default: every other label;
                                                 # several: a multi-arm campaign; or arms: [A, B])
          observed_until: 2025-01-02             # optional: the log is complete before this date
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ..errors import SpecError
from ..specs import Field, check_fields, existing_file, identifier, integer, list_of, number, read_spec
from .budgets import PROFIT_POSITIVE
from .policies import BUILTIN_POLICIES

__all__ = ["ExperimentSpec", "load_experiment", "experiment_from_dict"]

_DATA_SOURCES = {"simulator", "hillstrom", "table", "campaign"}
_DEFAULT_POLICIES = ("random", "response", "uplift", "margin_uplift", "lifecycle")
_DEFAULT_BUDGETS = (0.1, 0.2, 0.3)
#: Repeated cross-fitting splits (``models.splits``) when the spec does not say. Measured on the default simulated
#: world (100k customers, 8 splits, ``benchmarks/split_spread.py``): a model-driven policy's value moves from split
#: to split by up to 1.08 of its standard error (median cell 0.30). The median of 3 splits leaves at most 0.68 SE
#: of split noise (median 0.17) at 3x the model fitting; 5 splits would leave 0.55 at 5x. The interval carries the
#: rest (:func:`~loyalty.targeting.value.median_over_splits`).
DEFAULT_SPLITS = 3
#: Randomization check defaults: |standardized mean difference| above 0.1 is imbalance (Austin 2009, "Balance
#: diagnostics for comparing the distribution of baseline covariates between treatment groups in
#: propensity-score matched samples", Stat. Med. 28); a sample-ratio mismatch p-value below 0.001 fails
#: (Fabijan et al. 2019, "Diagnosing sample ratio mismatch in online controlled experiments", KDD).
_RANDOMIZATION = {"allow_imbalance": False, "max_smd": 0.1, "srm_alpha": 0.001}
#: The other defaults of a spec, stated once: the reader fills them in, and an ``ExperimentSpec`` built in Python
#: starts from them. ``models.seed`` defaults to ``bootstrap.seed``; ``headline.policy`` to ``margin_uplift``
#: when ``lifecycle`` is not among the policies.
_DEFAULT_BOOTSTRAP = {"resamples": 1000, "seed": 0, "level": 0.95}
_DEFAULT_MODELS = {"folds": 2, "n_estimators": 100, "learner": "X", "retention": "shift", "splits": DEFAULT_SPLITS,
                   "estimator": "dr", "seed": _DEFAULT_BOOTSTRAP["seed"]}
_DEFAULT_HEADLINE = {"budget": 0.2, "policy": "lifecycle", "baseline": "response"}
_TABLE_FIELDS = {"path": str, "id": str, "treatment": str, "arm": (str, int), "arms": list, "control": (str, int),
                 "outcomes": dict, "features": list, "propensity": (str, int, float)}
_CAMPAIGN_FIELDS = {"transactions": str, "assignments": str, "customers": str, "columns": dict,
                    "assignment_columns": dict, "customer_columns": dict, "campaign_id": (str, int),
                    "customer_features": list, "arm": (str, int), "arms": list, "control": (str, int),
                    "observed_until": (str, date)}


@dataclass
class ExperimentSpec:
    name: str
    data: dict
    economics: dict
    models: dict = field(default_factory=lambda: dict(_DEFAULT_MODELS))
    policies: list = field(default_factory=lambda: list(_DEFAULT_POLICIES))
    budgets: list = field(default_factory=lambda: list(_DEFAULT_BUDGETS))
    headline: dict = field(default_factory=lambda: dict(_DEFAULT_HEADLINE))
    bootstrap: dict = field(default_factory=lambda: dict(_DEFAULT_BOOTSTRAP))
    randomization: dict = field(default_factory=lambda: dict(_RANDOMIZATION))
    source: str = "<dict>"

    @property
    def data_source(self) -> str:
        return next(iter(self.data))

    def as_dict(self) -> dict:
        return {"name": self.name, "data": self.data, "economics": self.economics, "models": self.models,
                "policies": self.policies, "budgets": self.budgets, "headline": self.headline,
                "bootstrap": self.bootstrap, "randomization": self.randomization}


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read and check an experiment spec; errors name the file and the field (:class:`SpecError`)."""
    spec = read_spec(path, kind="experiment")
    where = spec.pop("__file__")
    spec.pop("kind")
    return experiment_from_dict(spec, where)


def experiment_from_dict(spec: dict, where: str = "<dict>") -> ExperimentSpec:
    check_fields(spec, {"name": identifier(), "data": dict, "economics": dict, "models": dict,
                        "policies": list_of(identifier()), "budgets": list_of(Field((int, float, str), check=_budget_problem)), "headline": dict,
                        "bootstrap": dict, "randomization": dict}, where)
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
    elif source == "hillstrom":
        check_fields(options, {"arm": str, "control": str}, f"{where}: data.hillstrom")
    elif source == "table":
        options = _table_options(options, where)
    else:
        options = _campaign_options(options, where)
    data = {source: dict(options)}

    economics = check_fields(
        spec["economics"],
        {"margin_rate": (int, float), "discount_rate": (int, float), "contact_cost": (int, float),
         "annual_discount_rate": (int, float), "response_window_days": (int, float), "horizon_days": (int, float)},
        f"{where}: economics",
    )
    if source in ("hillstrom", "table"):
        needed = ("margin_rate", "discount_rate", "contact_cost")
        if source == "table" and "spend" not in options["outcomes"]:
            needed = ("contact_cost",)
        elif source == "table" and "margin" in options["outcomes"]:
            needed = ("discount_rate", "contact_cost")
        for name in needed:
            if economics.get(name) is None:
                raise SpecError(
                    f"{where}: economics.{name} is required for {source} data (it records outcomes, not margins "
                    "and offer terms): state it as an assumption"
                )
        if economics.get("horizon_days") is not None:
            raise SpecError(f"{where}: economics.horizon_days must be null for {source} data (one-row-per-customer "
                            "outcomes have no long horizon)")
    for name in ("margin_rate", "discount_rate"):
        value = economics.get(name)
        if value is not None and not 0 <= value <= 1:
            raise SpecError(f"{where}: economics.{name} must be within [0, 1], got {value}")
    for name in ("contact_cost", "response_window_days", "horizon_days", "annual_discount_rate"):
        value = economics.get(name)
        if value is not None and value < 0:
            raise SpecError(f"{where}: economics.{name} must be >= 0, got {value}")

    models = check_fields(spec.get("models") or {},
                          {"folds": int, "n_estimators": integer(low=1), "learner": str, "retention": str,
                           "splits": int, "estimator": str, "seed": integer(low=0)}, where, "models.")
    if models.get("folds", _DEFAULT_MODELS["folds"]) < 2:
        raise SpecError(f"{where}: models.folds must be >= 2 (cross-fitting), got {models['folds']}")
    if models.get("learner", _DEFAULT_MODELS["learner"]) not in ("T", "X", "S"):
        raise SpecError(f"{where}: models.learner must be one of T, X, S, got {models['learner']!r}")
    if models.get("retention", "shift") not in ("shift", "learner"):
        raise SpecError(f"{where}: models.retention must be 'shift' or 'learner', got {models['retention']!r}")
    if models.get("splits", _DEFAULT_MODELS["splits"]) < 1:
        raise SpecError(f"{where}: models.splits must be >= 1 (repeated cross-fitting splits), got {models['splits']}")
    if models.get("estimator", _DEFAULT_MODELS["estimator"]) not in ("dr", "ipw"):
        raise SpecError(f"{where}: models.estimator must be 'dr' (doubly robust) or 'ipw', got {models['estimator']!r}")

    policies = spec.get("policies") or list(_DEFAULT_POLICIES)
    unknown = [p for p in policies if p not in BUILTIN_POLICIES]
    if unknown:
        raise SpecError(f"{where}: policies: unknown policy {unknown[0]!r}; known policies are {sorted(BUILTIN_POLICIES)}")
    if source in ("hillstrom", "table"):
        needs_history = [p for p in policies if p in ("churn_risk", "clv", "lifecycle", "oracle")]
        if needs_history:
            raise SpecError(
                f"{where}: policies {needs_history} need a transaction history or a known truth, which "
                f"{'Hillstrom' if source == 'hillstrom' else 'a one-row-per-customer table'} does not have; "
                "use random, response, uplift, margin_uplift"
            )
    if "oracle" in policies and source != "simulator":
        raise SpecError(f"{where}: policy 'oracle' needs the simulator's truth")

    budgets = spec.get("budgets") or list(_DEFAULT_BUDGETS)  # each entry checked by _budget_problem above
    headline = check_fields(spec.get("headline") or {}, {"budget": (int, float), "policy": str, "baseline": str,
                                                        "outcome": str}, f"{where}: headline")
    headline = {**_DEFAULT_HEADLINE, "policy": "lifecycle" if "lifecycle" in policies else "margin_uplift",
                **headline}
    if headline["budget"] not in budgets:
        raise SpecError(f"{where}: headline.budget {headline['budget']} must be one of budgets {budgets}")
    for role in ("policy", "baseline"):
        if headline[role] not in policies:
            raise SpecError(f"{where}: headline.{role} {headline[role]!r} is not among policies {policies}")
    bootstrap = check_fields(spec.get("bootstrap") or {}, {"resamples": int, "seed": integer(low=0),
                                                           "level": number(above=0, below=1)}, where, "bootstrap.")
    bootstrap = {**_DEFAULT_BOOTSTRAP, **bootstrap}
    if bootstrap["resamples"] < 100:
        raise SpecError(f"{where}: bootstrap.resamples must be >= 100 for a 95% interval, got {bootstrap['resamples']}")
    models = {**_DEFAULT_MODELS, "seed": bootstrap["seed"], **models}
    randomization = check_fields(spec.get("randomization") or {}, {"allow_imbalance": bool, "max_smd": (int, float),
                                                                   "srm_alpha": float}, f"{where}: randomization")
    randomization = {**_RANDOMIZATION, **{k: v for k, v in randomization.items() if v is not None}}
    if not randomization["max_smd"] > 0:
        raise SpecError(f"{where}: randomization.max_smd must be > 0, got {randomization['max_smd']}")
    if not 0 < randomization["srm_alpha"] < 1:
        raise SpecError(f"{where}: randomization.srm_alpha must be within (0, 1), got {randomization['srm_alpha']}")
    return ExperimentSpec(
        name=spec["name"], data=data, economics=dict(economics), models=models,
        policies=list(policies), budgets=[b if b == PROFIT_POSITIVE else float(b) for b in budgets], headline=headline, bootstrap=bootstrap,
        randomization=randomization, source=where,
    )


def _budget_problem(budget) -> str | None:
    """What is wrong with one entry of ``budgets`` (None: a share within [0, 1] or ``profit_positive``)."""
    if budget == PROFIT_POSITIVE or not isinstance(budget, str) and 0 <= budget <= 1:
        return None
    return f"must be a share of the base within [0, 1] or {PROFIT_POSITIVE!r}"


def _table_options(options: dict, where: str) -> dict:
    """``data.table``: a path, the treatment column with its two compared values, outcomes and features."""
    at = f"{where}: data.table"
    check_fields(options, _TABLE_FIELDS, at)
    _check_arms(options, at, required=True)
    for name in ("path", "treatment", "control", "outcomes", "features"):
        if options.get(name) is None:
            raise SpecError(f"{at}: missing field {name!r}")
    outcomes = check_fields(options["outcomes"], {"conversion": str, "spend": str, "margin": str}, f"{at}.outcomes")
    if "conversion" not in outcomes or not {"spend", "margin"} & set(outcomes):
        raise SpecError(f"{at}.outcomes must name a 'conversion' column and a 'spend' and/or 'margin' column, "
                        f"got {sorted(outcomes)}")
    if not options["features"] or not all(isinstance(f, str) for f in options["features"]):
        raise SpecError(f"{at}.features must be a non-empty list of column names, got {options['features']!r}")
    for arm in options.get("arms") or [options["arm"]]:
        if str(arm) == str(options["control"]):
            raise SpecError(f"{at}: arm and control must differ, both are {arm!r}")
    propensity = options.get("propensity")
    if isinstance(propensity, (int, float)) and not isinstance(propensity, bool) and not 0 < propensity < 1:
        raise SpecError(f"{at}.propensity must be a column or a number within (0, 1), got {propensity}")
    if len(options.get("arms") or ()) > 1 and isinstance(propensity, (int, float)):
        raise SpecError(f"{at}.propensity: with several arms give a column (P(arm received)) or null (each arm's "
                        f"observed share), not the number {propensity}")
    return {**options, "path": _resolve(options["path"], where)}


def _campaign_options(options: dict, where: str) -> dict:
    """``data.campaign``: transaction log and assignments files (optionally customers), with column mappings."""
    at = f"{where}: data.campaign"
    check_fields(options, _CAMPAIGN_FIELDS, at)
    _check_arms(options, at, required=False)
    for name in ("transactions", "assignments"):
        if options.get(name) is None:
            raise SpecError(f"{at}: missing field {name!r}")
    for name in ("columns", "assignment_columns", "customer_columns"):
        mapping = options.get(name) or {}
        bad = {k: v for k, v in mapping.items() if not isinstance(v, str)}
        if bad:
            raise SpecError(f"{at}.{name} maps contract names to your column names (text), got {bad}")
    resolved = {name: _resolve(options[name], where) for name in ("transactions", "assignments", "customers")
                if options.get(name) is not None}
    if options.get("observed_until") is not None:
        resolved["observed_until"] = str(options["observed_until"])
    return {**options, **resolved}


def _check_arms(options: dict, at: str, required: bool) -> None:
    """``arm`` (one offer arm) or ``arms`` (a list of offer arms: a multi-arm campaign), not both."""
    if options.get("arm") is not None and options.get("arms") is not None:
        raise SpecError(f"{at}: give arm (one offer arm) or arms (several), not both")
    if required and options.get("arm") is None and options.get("arms") is None:
        raise SpecError(f"{at}: missing field 'arm' (or 'arms' for several offer arms)")
    arms = options.get("arms")
    if arms is not None:
        if not arms or not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in arms):
            raise SpecError(f"{at}.arms must be a non-empty list of arm labels, got {arms!r}")
        if len({str(a) for a in arms}) != len(arms):
            raise SpecError(f"{at}.arms names an arm twice: {arms!r}")
        if options.get("control") is not None and str(options["control"]) in {str(a) for a in arms}:
            raise SpecError(f"{at}.arms includes the control arm {options['control']!r}")


def _resolve(path: str, where: str) -> str:
    """A data path relative to the spec file's folder (as given when absolute, or for specs not read from a file)."""
    if Path(path).is_absolute() or where.startswith("<"):
        return path
    return str(Path(where).parent / path)
