"""Does the verdict survive a reshuffle? A shipped experiment run with 10 cross-fitting seeds (``models.seed``).

Each seed runs the spec as shipped (its splits, estimator, models and bootstrap) with only ``models.seed``
changed, and records the headline verdict and difference, and the decision, in
``benchmarks/results/verdict_seeds_<name>.json``. The test of the same claim is
``tests/test_decision_verdict_seeds.py`` (every shipped spec, data prepared once, only the headline outcome).

Run: ``.venv/bin/python benchmarks/verdict_seeds.py experiments/hillstrom.yaml [--seeds 0-9]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(path: Path, seeds: list[int]) -> dict:
    from loyalty.atomic import write_json
    from loyalty.targeting import load_experiment, run_experiment

    runs = []
    for seed in seeds:
        spec = load_experiment(path)
        spec.models["seed"] = seed
        start = time.perf_counter()
        result = run_experiment(spec)
        h, d = result.headline, result.decision
        runs.append({"seed": seed, "seconds": round(time.perf_counter() - start, 1), "verdict": h["verdict"],
                     "difference_per_1000": h["difference_per_1000"], "ci_per_1000": h["ci_per_1000"],
                     "estimator": h["estimator"], "splits": h["splits"], "decision": d.policy,
                     "decision_budget": d.budget, "decision_value_per_1000": d.value * 1000,
                     "candidate": [d.candidate["policy"], d.candidate["budget"]],
                     "candidate_ci_per_1000": [d.candidate["ci_low"] * 1000, d.candidate["ci_high"] * 1000]})
        print(runs[-1], flush=True)
        document = {"benchmark": "verdict_seeds", "spec": str(path), "runs": runs,
                    "verdicts": sorted({r["verdict"] for r in runs}),
                    "decisions": sorted({f"{r['decision']}@{r['decision_budget']}" for r in runs}),
                    "same_verdict": len({r["verdict"] for r in runs}) == 1,
                    "same_decision": len({(r["decision"], str(r["decision_budget"])) for r in runs}) == 1}
        write_json(document, HERE / "results" / f"verdict_seeds_{spec.name}.json")
    return document


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--seeds", default="0-9", help="first-last seed (inclusive)")
    args = parser.parse_args(argv)
    first, last = (int(s) for s in args.seeds.split("-"))
    print(run(args.spec, list(range(first, last + 1))))


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent)]
    main()
