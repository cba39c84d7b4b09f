"""Over many simulated worlds, where every policy's true value is known: coverage and bias of the doubly robust
(and IPW) intervals at 20%, and the honesty of the decision (false recommendations; coverage of the shown action).

Each world (``--customers`` customers, seed = world number) runs the experiment as shipped (every policy, budgets
10/20/30% and profit_positive), with ``--splits`` cross-fitting splits, 50 trees and 400 resamples, as the slow
test ``tests/test_targeting_simulated.py::fifty_worlds`` does. ``--kind cheap`` uses a world with a cheap offer
(contact cost 0.02, 5% discount, persuadables x 4). Writes ``benchmarks/results/decision_worlds_<kind>.csv`` and a
summary JSON next to it.

Run: ``.venv/bin/python benchmarks/decision_worlds.py [--kind default] [--worlds 0:50] [--customers 10000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
POLICIES = ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift", "lifecycle", "oracle"]
CHEAP = {"campaign": {"contact_cost": 0.02, "discount_rate": 0.05}, "effects": {"persuadable_lift": 3.0}}


def world_row(seed: int, customers: int, splits: int, config: str | None) -> dict:
    from loyalty.targeting import experiment_from_dict, run_experiment

    simulator = {"customers": customers, "seed": seed} | ({"config": config} if config else {})
    spec = experiment_from_dict({
        "name": f"w{seed}", "data": {"simulator": simulator},
        "economics": {"annual_discount_rate": 0.1, "response_window_days": 28, "horizon_days": 364},
        "models": {"folds": 2, "n_estimators": 50, "splits": splits}, "policies": POLICIES,
        "budgets": [0.1, 0.2, 0.3, "profit_positive"],
        "headline": {"budget": 0.2, "policy": "lifecycle", "baseline": "response"},
        "bootstrap": {"resamples": 400, "seed": seed}})
    start = time.perf_counter()
    result = run_experiment(spec)
    evaluation, decision = result.evaluation, result.decision
    row = {"seed": seed}
    for estimator, table in (("dr", evaluation.values), ("ipw", evaluation.cross_check)):
        at = table[(table["share"] == 0.2) & (table["outcome"] == "long_net_margin")].set_index("policy")
        for policy in at.index:
            for column, name in (("value", "value"), ("ci_low", "low"), ("ci_high", "high"), ("true_value", "truth")):
                row[f"{estimator}.{policy}.{name}"] = at.loc[policy, column]
        d = result.differences
        head = d[(d["estimator"] == estimator) & (d["policy"] == "lifecycle") & (d["share"] == 0.2)
                 & (d["outcome"] == "long_net_margin")].iloc[0]
        for column in ("difference", "ci_low", "ci_high", "se", "true_difference"):
            row[f"{estimator}.head.{column}"] = head[column]
    truth = evaluation.values[evaluation.values["outcome"] == "long_net_margin"].set_index(["policy", "share"])
    truth = truth["true_value"]
    candidate = decision.candidate
    row.update(decision=decision.policy, budget=str(decision.budget), value=decision.value, low=decision.ci_low,
               high=decision.ci_high, p_beats=decision.p_beats_nothing,
               true=0.0 if decision.send_nothing else truth[(decision.policy, decision.budget)],
               cand_policy=candidate["policy"], cand_budget=str(candidate["budget"]), cand_value=candidate["value"],
               cand_low=candidate["ci_low"], cand_high=candidate["ci_high"],
               cand_true=truth[(candidate["policy"], candidate["budget"])],
               best_true_actionable=truth.drop("oracle", level=0).max(), seconds=time.perf_counter() - start)
    return row


def summarise(table: pd.DataFrame) -> dict:
    out = {"worlds": len(table)}
    for estimator in ("dr", "ipw"):
        low, high = table[f"{estimator}.head.ci_low"], table[f"{estimator}.head.ci_high"]
        truth, estimate = table[f"{estimator}.head.true_difference"], table[f"{estimator}.head.difference"]
        error = estimate - truth
        covered = []
        for policy in POLICIES[:-1]:
            t = table[f"{estimator}.{policy}.truth"]
            covered.append((table[f"{estimator}.{policy}.low"] <= t) & (t <= table[f"{estimator}.{policy}.high"]))
        out[estimator] = {
            "headline_coverage": float(((low <= truth) & (truth <= high)).mean()),
            "headline_mean_error_per_1000": float(error.mean() * 1000),
            "headline_error_se_per_1000": float(error.std(ddof=1) / np.sqrt(len(error)) * 1000),
            "headline_mean_width_per_1000": float((high - low).mean() * 1000),
            "policy_value_coverage_pooled": float(pd.concat(covered).mean()),
            "policy_value_coverage": {p: float(c.mean()) for p, c in zip(POLICIES[:-1], covered)},
        }
    recommended = table[table["decision"] != "none"]
    shown_low = np.where(table["decision"] != "none", table["low"], table["cand_low"])
    shown_high = np.where(table["decision"] != "none", table["high"], table["cand_high"])
    shown_true = np.where(table["decision"] != "none", table["true"], table["cand_true"])
    out["decision"] = {
        "recommended": int(len(recommended)), "recommended_true_value_le_0": int((recommended["true"] <= 0).sum()),
        "shown_action_coverage": float(np.mean((shown_low <= shown_true) & (shown_true <= shown_high))),
        "worlds_where_some_action_truly_earns": int((table["best_true_actionable"] > 0).sum()),
    }
    out["dr_over_ipw_headline_width"] = (out["dr"]["headline_mean_width_per_1000"]
                                         / out["ipw"]["headline_mean_width_per_1000"])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["default", "cheap"], default="default")
    parser.add_argument("--worlds", default="0:50", help="first:last seed (last excluded)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--splits", type=int, default=1)
    parser.add_argument("--csv", type=Path, default=None, help="summarise rows already computed")
    args = parser.parse_args(argv)
    from loyalty.atomic import write_csv, write_json

    result = HERE / "results" / f"decision_worlds_{args.kind}"
    if args.csv is None:
        config = None
        if args.kind == "cheap":
            import yaml

            config = str(Path(tempfile.mkdtemp()) / "cheap.yaml")
            Path(config).write_text(yaml.safe_dump(CHEAP))
        rows = []
        for seed in range(*map(int, args.worlds.split(":"))):
            rows.append(world_row(seed, args.customers, args.splits, config))
            print(seed, rows[-1]["decision"], round(rows[-1]["seconds"], 1), flush=True)
            write_csv(pd.DataFrame(rows), result.with_suffix(".csv"), index=False)
    table = pd.read_csv(args.csv or result.with_suffix(".csv"))
    document = {"benchmark": "decision_worlds", "kind": args.kind, "customers": args.customers,
                "splits": args.splits, **summarise(table)}
    write_json(document, result.with_suffix(".json"))
    print(document)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent)]
    main()
