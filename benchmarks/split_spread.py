"""How much a targeting value moves with the cross-fitting split, next to its sampling standard error.

For the default simulated world (100k customers, seed 1), ``--splits`` cross-fitting splits (split k seeded
``1_000_003·k``, as :func:`loyalty.targeting.compare.split_seed` with seed 0) each refit every score and the
doubly robust outcome models; every policy's long-horizon value at 5-50% budgets is computed per split with its
analytic standard error. The split-to-split standard deviation τ, and the spread of the median of K splits
(over every K-subset of the splits run), are reported in units of the standard error: what chose
``DEFAULT_SPLITS``. Writes ``benchmarks/results/split_spread.json`` (and the per-split CSV next to it).

Run: ``.venv/bin/python benchmarks/split_spread.py [--customers 100000] [--splits 8]``
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "split_spread.json"
SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)
POLICIES = ["random", "response", "churn_risk", "clv", "uplift", "margin_uplift", "lifecycle"]


def per_split_values(customers: int, splits: int, seed: int = 1) -> pd.DataFrame:
    from loyalty.targeting import BUILTIN_POLICIES, experiment_from_dict, load_campaign, score_campaign
    from loyalty.targeting.budgets import rank_order
    from loyalty.targeting.arms import cross_fit_outcome_means
    from loyalty.targeting.value import dr_contributions, ipw_contributions
    from loyalty.uplift import default_estimator

    spec = experiment_from_dict({
        "name": "spread", "data": {"simulator": {"customers": customers, "seed": seed}},
        "economics": {"annual_discount_rate": 0.1, "response_window_days": 28, "horizon_days": 364},
        "policies": POLICIES, "budgets": [0.1, 0.2, 0.3]})
    data = load_campaign(spec)
    frame = data.frame
    y = frame[list(data.outcomes.values())].to_numpy(dtype=float)
    t, e = frame["treatment"].to_numpy(), frame["propensity"].to_numpy()
    z = ipw_contributions(t, y, e)
    n = len(frame)
    rows = []
    for k in range(splits):
        scores = score_campaign(data, seed=1_000_003 * k)
        mu = cross_fit_outcome_means(data.X, y, t, scores["fold"].to_numpy(), lambda binary: default_estimator(
            binary, 0), 2)
        psi = dr_contributions(t, y, e, *mu)
        frame_k = pd.concat([frame, scores], axis=1)
        for policy in POLICIES:
            order = rank_order(BUILTIN_POLICIES[policy].score(frame_k))
            for share in SHARES:
                chosen = np.zeros(n, dtype=bool)
                chosen[order[:int(round(share * n))]] = True
                for estimator, c in (("dr", psi), ("ipw", z)):
                    value = c[chosen].sum(axis=0) / n
                    se = (c * chosen[:, None]).std(axis=0) / np.sqrt(n)
                    for j, outcome in enumerate(data.outcomes):
                        rows.append({"split": k, "policy": policy, "share": share, "estimator": estimator,
                                     "outcome": outcome, "value": value[j], "se": se[j]})
        print(f"split {k} done", flush=True)
    return pd.DataFrame(rows)


def summarise(values: pd.DataFrame) -> dict:
    cells = []
    long = values[values["outcome"] == "long_net_margin"]
    for (estimator, policy, share), group in long.groupby(["estimator", "policy", "share"]):
        v = group.sort_values("split")["value"].to_numpy()
        se = group["se"].mean()
        cell = {"estimator": estimator, "policy": policy, "share": share, "value_per_1000": v.mean() * 1000,
                "se_per_1000": se * 1000, "tau_over_se": v.std(ddof=1) / se}
        for k in (1, 3, 5):
            medians = [np.median(v[list(c)]) for c in itertools.combinations(range(len(v)), k)]
            cell[f"median_of_{k}_sd_over_se"] = float(np.std(medians) / se)
        cells.append(cell)
    table = pd.DataFrame(cells)
    dr = table[table["estimator"] == "dr"]
    summary = {f"dr_{stat}_{column}": float(getattr(dr[column], stat)())
               for column in ("tau_over_se", "median_of_1_sd_over_se", "median_of_3_sd_over_se",
                              "median_of_5_sd_over_se") for stat in ("median", "max")}
    return {"summary": summary, "cells": table.round(4).to_dict("records")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument("--csv", type=Path, default=None, help="summarise per-split values already computed")
    args = parser.parse_args(argv)
    from loyalty.atomic import write_csv, write_json

    start = time.perf_counter()
    values = pd.read_csv(args.csv) if args.csv else per_split_values(args.customers, args.splits)
    if args.csv is None:
        write_csv(values, RESULT.with_suffix(".csv"), index=False)
    document = {"benchmark": "split_spread", "customers": args.customers, "splits": int(values["split"].nunique()),
                **summarise(values)}
    if args.csv is None:
        document["seconds"] = round(time.perf_counter() - start, 1)
    else:
        document["per_split_values"] = args.csv.name
    write_json(document, RESULT)
    print(document["summary"])


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent)]
    main()
