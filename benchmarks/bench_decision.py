"""Cost of the doubly robust values over K cross-fitting splits against a single-split IPW run.

Each configuration runs the whole targeting experiment (``run_experiment`` on the default simulated world, every
policy, 1,000 bootstrap resamples) in a fresh Python subprocess, so wall time and peak memory (``ru_maxrss``) are
that run's own. The simulated world is generated inside each run (the same in both), so the ratio understates
the cost of the extra splits a little. Sides alternate (IPW, DR, IPW, DR, ... with ``--repeats``), the 1-minute
load average is recorded before and after each run (the machine is shared), and ratios are of the medians.
Sizes not run are kept from the previous ``benchmarks/results/decision.json``, which is written atomically.

Run: ``.venv/bin/python benchmarks/bench_decision.py [--sizes 100000,1000000] [--splits 3] [--repeats 1]
[--sides ipw:1,dr:1,dr:3]``
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
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"customers": customers, "estimator": estimator, "splits": splits, "seconds": round(seconds, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),  # the whole process: steadier under load
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "headline_per_1000": round(h["difference_per_1000"], 1),
            "headline_ci_per_1000": [round(v, 1) for v in h["ci_per_1000"]],
            "decision": result.decision.as_dict()["text"] if result.decision is not None else None}


def _side(text: str) -> tuple[str, int]:
    estimator, splits = text.split(":")
    return estimator, int(splits)


def run(sizes=(100_000,), splits: int = 3, repeats: int = 1, sides=None) -> dict:
    import os

    sides = sides or [("ipw", 1), ("dr", 1), ("dr", splits)]
    runs = []
    for customers in sizes:
        for repeat in range(repeats):
            for estimator, k in sides:  # alternate the sides within each repeat
                load_before, started = os.getloadavg()[0], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                command = [sys.executable, __file__, "--task", json.dumps([customers, estimator, k])]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row.update(repeat=repeat, load_before=round(load_before, 2), load_after=round(os.getloadavg()[0], 2),
                           started=started)
                runs.append(row)
                print(row, flush=True)
    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {"runs": []}
    runs = [r for r in previous.get("runs", []) if r["customers"] not in sizes] + runs
    ratios = {}
    for customers in sorted({r["customers"] for r in runs}):
        mine = [r for r in runs if r["customers"] == customers and not r.get("excluded_from_ratios")]
        base = [r for r in mine if r["estimator"] == "ipw" and r["splits"] == 1]
        if not base:
            continue
        for estimator, k in sorted({(r["estimator"], r["splits"]) for r in mine} - {("ipw", 1)}):
            other = [r for r in mine if r["estimator"] == estimator and r["splits"] == k]
            ratios[f"{customers}:{estimator}x{k}"] = {
                "time": round(_median(other, "seconds") / _median(base, "seconds"), 2),
                "memory": round(_median(other, "peak_rss_mb") / _median(base, "peak_rss_mb"), 2),
                "ci_width": round(_width(other[0]) / _width(base[0]), 2), "runs_per_side": [len(base), len(other)]}
            if all("cpu_seconds" in r for r in base + other):
                ratios[f"{customers}:{estimator}x{k}"]["cpu_time"] = round(
                    _median(other, "cpu_seconds") / _median(base, "cpu_seconds"), 2)
    document = {"benchmark": "decision", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"python": platform.python_version(), "processor": platform.machine(),
                            "cpus": os.cpu_count()},
                "method": "fresh subprocess per run, sides alternating; run_experiment on the default simulated world, "
                          "every policy, 1,000 resamples; ratios of medians against single-split IPW of the same size; "
                          "load_before/after: 1-minute load average of the shared machine",
                "runs": runs, "ratios": ratios}
    from loyalty.atomic import write_json

    write_json(document, RESULT)
    return document


def _median(rows: list[dict], key: str) -> float:
    import statistics

    return statistics.median(r[key] for r in rows)


def _width(row: dict) -> float:
    return row["headline_ci_per_1000"][1] - row["headline_ci_per_1000"][0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated customer counts")
    parser.add_argument("--splits", type=int, default=3, help="cross-fitting splits of the DR run")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side and size, alternating sides")
    parser.add_argument("--sides", default=None, help="estimator:splits list, default ipw:1,dr:1,dr:<splits>")
    parser.add_argument("--task", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task:
        print(json.dumps(task(*json.loads(args.task))))
        return
    sides = [_side(s) for s in args.sides.split(",")] if args.sides else None
    run([int(s) for s in args.sizes.split(",")], args.splits, args.repeats, sides)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent)]
    main()
