"""The default simulated world with only the offer made cheaper: does some actionable policy truly earn, by how
many standard errors, and what does the decision say?

Each variant runs the shipped ``experiments/simulated.yaml`` (100k customers, seed 1, 3 splits, every policy) on the
default simulator with only the campaign's ``contact_cost`` (default 0.40) and optionally its ``discount_rate``
(default 0.15) changed; the persuadables' lift, the mix of response types and everything else stay as they are.
For each variant it records what treating everyone truly earns, what the oracle earns, every actionable policy's
best cell by true value with its estimate and standard error, the decision and its critical value, and the power
a one-sided 5% test of that best cell alone would have had (pre-registered, no selection; Φ(truth/se − 1.645))
next to the power with the decision's simultaneous critical value (Φ(truth/se − c)).
Writes ``benchmarks/results/decision_lowcost.json``.

Run: ``.venv/bin/python benchmarks/decision_lowcost.py [--variants 0:,0:0.05]``  (contact_cost:discount_rate)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "decision_lowcost.json"


def variant(contact_cost: float, discount_rate: float | None) -> dict:
    import yaml
    from scipy.stats import norm

    from loyalty.targeting import load_campaign, load_experiment, run_experiment

    campaign = {"contact_cost": contact_cost} | ({"discount_rate": discount_rate} if discount_rate is not None else {})
    config = Path(tempfile.mkdtemp()) / "cheaper.yaml"
    config.write_text(yaml.safe_dump({"campaign": campaign}))
    spec = load_experiment(HERE.parent / "experiments" / "simulated.yaml")
    spec.data["simulator"]["config"] = str(config)
    start = time.perf_counter()
    data = load_campaign(spec)
    frame = data.frame
    result = run_experiment(spec, data=data)
    values = result.evaluation.values
    values = values[(values["outcome"] == "long_net_margin") & (values["share"] != 0.0)]
    actionable = values[values["policy"] != "oracle"]
    decision = result.decision
    best = []
    for policy, cells in actionable.groupby("policy", sort=False):
        row = cells.loc[cells["true_value"].idxmax()]
        z = row["true_value"] / row["se"]
        best.append({"policy": policy, "budget": row["share"], "true_per_1000": row["true_value"] * 1000,
                     "estimate_per_1000": row["value"] * 1000, "se_per_1000": row["se"] * 1000,
                     "truth_in_se": z, "power_one_test": float(norm.cdf(z - norm.ppf(0.95))),
                     "power_simultaneous": float(norm.cdf(z - decision.critical_value))})
    best.sort(key=lambda r: -r["true_per_1000"])
    truth = actionable.set_index(["policy", "share"])["true_value"]
    return {
        "contact_cost": contact_cost, "discount_rate": discount_rate, "customers": len(frame),
        "treat_everyone_true_per_1000": float(frame["true_lifecycle_uplift"].mean() * 1000),
        "oracle_true_per_1000": float(frame["true_lifecycle_uplift"].clip(lower=0).mean() * 1000),
        "share_truly_worth_treating": float((frame["true_lifecycle_uplift"] > 0).mean()),
        "actionable_cells_truly_earning": int((actionable["true_value"] > 0).sum()),
        "actionable_cells": len(actionable),
        "best_actionable_by_policy": best,
        "decision": {"policy": decision.policy, "budget": decision.budget, "text": decision.text,
                     "critical_value": decision.critical_value,
                     "true_per_1000": None if decision.send_nothing
                     else float(truth[(decision.policy, decision.budget)] * 1000),
                     "candidate": [decision.candidate["policy"], decision.candidate["budget"]],
                     "candidate_true_per_1000": float(truth[(decision.candidate["policy"],
                                                             decision.candidate["budget"])] * 1000)},
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="0:,0:0.05", help="contact_cost:discount_rate, comma-separated")
    args = parser.parse_args(argv)
    from loyalty.atomic import write_json

    rows = []
    for text in args.variants.split(","):
        cost, discount = text.split(":")
        rows.append(variant(float(cost), float(discount) if discount else None))
        print(rows[-1], flush=True)
        write_json({"benchmark": "decision_lowcost", "spec": "experiments/simulated.yaml",
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "variants": rows}, RESULT)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent)]
    main()
