"""Cost of the doubly robust values over K cross-fitting splits against a single-split IPW run.

Each configuration runs the whole targeting experiment (``run_experiment`` on the default simulated world, every
policy, 1,000 bootstrap resamples) in a fresh Python subprocess, so wall time and peak memory (``ru_maxrss``) are
that run's own. The simulated world is generated inside each run (the same in both), so the ratio understates
the cost of the extra splits a little. Writes ``benchmarks/results/decision.json`` atomically.

Run: ``.venv/bin/python benchmarks/bench_decision.py [--sizes 100000] [--splits 3]``
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "decision.json"
POLICIES = ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift", "lifecycle", "oracle"]


def task(customers: int, estimator: str, splits: int) -> dict:
    """One experiment run (in this process): wall time, peak RSS and the headline."""
    import resource

    from loyalty.targeting import experiment_from_dict, run_experiment

    spec = experiment_from_dict({
        "name": "bench", "data": {"simulator": {"customers": customers, "seed": 1}},
        "economics": {"annual_discount_rate": 0.1, "response_window_days": 28, "horizon_days": 364},
        "models": {"folds": 2, "n_estimators": 100, "splits": splits, "estimator": estimator},
        "policies": POLICIES, "budgets": [0.1, 0.2, 0.3], "bootstrap": {"resamples": 1000, "seed": 0},
    })
    start = time.perf_counter()
    result = run_experiment(spec)
    seconds = time.perf_counter() - start
    h = result.headline
    return {"customers": customers, "estimator": estimator, "splits": splits, "seconds": round(seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "headline_per_1000": round(h["difference_per_1000"], 1),
            "headline_ci_per_1000": [round(v, 1) for v in h["ci_per_1000"]],
            "decision": result.decision.as_dict()["text"] if result.decision is not None else None}


def run(sizes=(100_000,), splits: int = 3) -> dict:
    runs = []
    for customers in sizes:
        for estimator, k in (("ipw", 1), ("dr", 1), ("dr", splits)):
            command = [sys.executable, __file__, "--task", json.dumps([customers, estimator, k])]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    ratios = {}
    for customers in sizes:
        base = next(r for r in runs if r["customers"] == customers and r["estimator"] == "ipw")
        for r in runs:
            if r["customers"] == customers and r is not base:
                key = f"{customers}:{r['estimator']}x{r['splits']}"
                ratios[key] = {"time": round(r["seconds"] / base["seconds"], 2),
                               "memory": round(r["peak_rss_mb"] / base["peak_rss_mb"], 2),
                               "ci_width": round((r["headline_ci_per_1000"][1] - r["headline_ci_per_1000"][0])
                                                 / (base["headline_ci_per_1000"][1] - base["headline_ci_per_1000"][0]),
                                                 2)}
    document = {"benchmark": "decision", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"python": platform.python_version(), "processor": platform.machine()},
                "method": "fresh subprocess per run; run_experiment on the default simulated world, every policy, "
                          "1,000 resamples; ratios against single-split IPW of the same size",
                "runs": runs, "ratios": ratios}
    from loyalty.atomic import write_json

    write_json(document, RESULT)
    return document


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated customer counts")
    parser.add_argument("--splits", type=int, default=3, help="cross-fitting splits of the DR run")
    parser.add_argument("--task", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task:
        print(json.dumps(task(*json.loads(args.task))))
        return
    run([int(s) for s in args.sizes.split(",")], args.splits)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent)]
    main()
