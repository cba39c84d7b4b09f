"""Benchmark: ``loyalty compare`` on a campaign read from parquet files vs the simulator source, same world.

For each size a world is written once with ``write_world`` (what ``loyalty simulate --out`` does; not timed).
Then, each in a fresh Python process, ``loyalty compare`` runs the same experiment (the settings of
``experiments/simulated.yaml`` without the oracle, which needs the truth) on:

- ``simulator``: ``data.simulator`` with the world's size and seed (generated in memory, as today);
- ``campaign``: ``data.campaign`` reading the world's ``transactions``, ``assignments`` and ``customers``
  parquet files (no truth).

Both give the same headline (tested at small scale in ``tests/test_targeting_sources.py``); here the headline
difference of each run is recorded too, so a run that differs shows it. ``seconds`` is the wall time of the
command in-process (loading, checks, models, bootstrap, report); ``peak_rss_mb`` is the process's maximum
resident set size (``resource.getrusage``, interpreter and libraries included).

Results go to ``benchmarks/results/campaign.json`` (written atomically) with the growth from the smallest to
the largest size. The order of the two sides alternates from one size to the next. Usage: ``python benchmarks/bench_campaign.py [--sizes 100000,1000000]`` or ``run(sizes)``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "campaign.json"
DEFAULT_SIZES = (100_000, 1_000_000)
SOURCES = ("simulator", "campaign")
SEED = 1
FEATURES = ["channel", "region", "category_mix", "tenure_band", "email_engagement"]


def _spec(source: str, customers: int, world: Path) -> dict:
    spec = yaml.safe_load((HERE.parent / "experiments" / "simulated.yaml").read_text())
    spec["name"] = f"bench_{source}_{customers}"
    spec["policies"] = [p for p in spec["policies"] if p != "oracle"]
    if source == "simulator":
        spec["data"] = {"simulator": {"customers": customers, "seed": SEED}}
    else:
        spec["data"] = {"campaign": {"transactions": str(world / "transactions.parquet"),
                                     "assignments": str(world / "assignments.parquet"),
                                     "customers": str(world / "customers.parquet"),
                                     "customer_features": FEATURES}}
    return spec


def _measure(source: str, customers: int, world: Path) -> dict:
    """Run ``loyalty compare`` in this process and return its record (call in a fresh process)."""
    import contextlib
    import io
    import resource
    import time

    from loyalty.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(yaml.safe_dump(_spec(source, customers, world)))
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["compare", str(spec), "--out", str(Path(tmp) / "out")])
        seconds = time.perf_counter() - start
        results = json.loads((Path(tmp) / "out" / "results.json").read_text())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"source": source, "customers": customers, "exit_code": code, "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "headline_difference_per_1000": results["headline"]["difference_per_1000"],
            "headline_ci_per_1000": results["headline"]["ci_per_1000"]}


def _write_atomic(document: dict, path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(sizes=DEFAULT_SIZES) -> dict:
    """Write each world, run both sources on it (each in its own process), print and save the records."""
    from datetime import datetime, timezone

    from loyalty.simulate import SimulationConfig, write_world

    records = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    for i, customers in enumerate(sizes):
        with tempfile.TemporaryDirectory() as tmp:
            world = Path(tmp) / "world"
            write_world(SimulationConfig(n_customers=customers), SEED, world, progress=False)
            # the sides alternate from size to size, so neither always runs first on a machine whose load drifts
            for source in SOURCES if i % 2 == 0 else SOURCES[::-1]:
                out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", source,
                                      str(customers), str(world)], check=True, capture_output=True, text=True, env=env)
                record = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"{source:>10} {customers:>10,} customers {record['seconds']:8.1f} s  peak RSS "
                      f"{record['peak_rss_mb']:>8,.0f} MB  headline {record['headline_difference_per_1000']:,.2f}"
                      f" per 1,000", flush=True)
                records.append(record)
    document = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "records": records,
                "ratios": {}, "growth": {}}
    by = {(r["source"], r["customers"]): r for r in records}
    for customers in sizes:
        files, sim = by[("campaign", customers)], by[("simulator", customers)]
        document["ratios"][str(customers)] = {"seconds_campaign_over_simulator": round(files["seconds"] / sim["seconds"], 2),
                                              "peak_campaign_over_simulator": round(files["peak_rss_mb"] / sim["peak_rss_mb"], 2),
                                              "same_headline": files["headline_difference_per_1000"]
                                              == sim["headline_difference_per_1000"]}
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        for source in SOURCES:
            a, b = by[(source, small)], by[(source, large)]
            document["growth"][source] = {"customers": large / small, "seconds": round(b["seconds"] / a["seconds"], 2),
                                          "peak_rss": round(b["peak_rss_mb"] / a["peak_rss_mb"], 2)}
    _write_atomic(document)
    print(json.dumps({"ratios": document["ratios"], "growth": document["growth"]}, indent=1))
    return document


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated numbers of customers")
    parser.add_argument("--worker", nargs=3, metavar=("SOURCE", "CUSTOMERS", "WORLD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_measure(args.worker[0], int(args.worker[1]), Path(args.worker[2]))))
        return
    run([int(size) for size in args.sizes.split(",")])


if __name__ == "__main__":
    main()
