"""Benchmark: the other BTYD fits (issue 18) against lifetimes' fitters, a registry of entries.

Each entry is registered with :func:`register`: a name, the sizes it runs at, a ``make(n, seed)`` that builds
its inputs (not timed), and ``ours(inputs)`` / ``theirs(inputs)`` that fit and return the fitted model's total
log-likelihood, both evaluated with our likelihood at each library's estimates (so the parity line compares
like with like). Per size, the inputs are built once; after a warm-up of both sides on 1,000 customers (lazy
imports and first-call costs not timed), the sides alternate ``repeats`` times (ours, theirs, ours, ...) in this
process and the medians of ``time.perf_counter`` are reported with the speed-up (lifetimes s / ours s).

lifetimes is fitted on the distinct rows with ``weights`` (collapsing not timed: the fair baseline, as in
``bench_clv.py``); ours takes the per-customer table as a user would pass it.

Run ``python benchmarks/bench_btyd.py [--entries mbgnbd_fit,bgbb_fit] [--sizes 10000,100000] [--repeats 3]``;
writes ``benchmarks/results/btyd.json`` (atomically), keeping the results of entries and sizes not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
RESULTS = HERE / "results" / "btyd.json"
WARMUP_CUSTOMERS = 1_000


@dataclass(frozen=True)
class Entry:
    """One benchmarked fit: inputs per size, and each side's fit returning its total log-likelihood."""

    name: str
    sizes: tuple[int, ...]
    make: Callable[[int, int], dict]
    ours: Callable[[dict], float]
    theirs: Callable[[dict], float]
    description: str = ""
    #: Wall-clock cap of one lifetimes fit (seconds), or None. A capped fit runs in a forked child that is
    #: killed at the cap; the result then records the cap instead of a time, and that side is not repeated.
    theirs_timeout_s: float | None = None


ENTRIES: dict[str, Entry] = {}


def register(entry: Entry) -> Entry:
    """Add an entry to the registry (its name must be new)."""
    if entry.name in ENTRIES:
        raise ValueError(f"benchmark entry {entry.name!r} is registered twice")
    ENTRIES[entry.name] = entry
    return entry


def _lifetimes():
    """Import lifetimes without letting it silence FutureWarnings process-wide (it calls simplefilter)."""
    with warnings.catch_warnings():
        import lifetimes
    return lifetimes


def _collapsed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame.groupby(columns).size().rename("weights").reset_index()


# -- MBG/NBD on the BG/NBD benchmark log (synthetic.py), daily periods ------------------------------------------
def _make_mbgnbd(n: int, seed: int) -> dict:
    from loyalty.data import summarize
    from synthetic import synthetic_transactions

    tx = synthetic_transactions(n, seed=seed)
    summary = summarize(tx, tx["timestamp"].max(), period="D")
    rfm = summary[["frequency", "recency", "T"]]
    return {"summary": rfm, "collapsed": _collapsed(rfm, ["frequency", "recency", "T"])}


def _ours_mbgnbd(inputs: dict) -> float:
    from loyalty.clv import ModifiedBetaGeo

    return ModifiedBetaGeo().fit(inputs["summary"]).log_likelihood_


def _theirs_mbgnbd(inputs: dict) -> float:
    from loyalty.clv import ModifiedBetaGeo

    c = inputs["collapsed"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = _lifetimes().ModifiedBetaGeoFitter().fit(c["frequency"], c["recency"], c["T"], weights=c["weights"])
    return float(ModifiedBetaGeo.from_lifetimes(fitter).customer_log_likelihood(inputs["summary"]).sum())


register(Entry(
    "mbgnbd_fit", (10_000, 100_000), _make_mbgnbd, _ours_mbgnbd, _theirs_mbgnbd,
    "ModifiedBetaGeo().fit(summary) vs ModifiedBetaGeoFitter on distinct (x, t_x, T) rows with weights",
))


# -- BG/BB on histories drawn from the published donations parameters, 6 to 12 opportunities -------------------
BGBB_PARAMS = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


def bgbb_histories(n: int, seed: int, params: dict = BGBB_PARAMS) -> pd.DataFrame:
    """``n`` customers' (frequency, recency, n_periods) drawn from BG/BB: p ~ Beta(α, β), θ ~ Beta(γ, δ); a
    live customer drops out before each opportunity with probability θ and transacts at it with probability p
    (Fader, Hardie & Shang 2010). Cohorts of 6 to 12 opportunities."""
    rng = np.random.default_rng(seed)
    n_periods = rng.integers(6, 13, n)
    p = rng.beta(params["alpha"], params["beta"], n)
    theta = rng.beta(params["gamma"], params["delta"], n)
    alive_for = rng.geometric(theta) - 1  # opportunities survived before dropping out
    opportunity = np.arange(1, 13)[None, :]
    bought = (rng.random((n, 12)) < p[:, None]) & (opportunity <= np.minimum(alive_for, n_periods)[:, None])
    frequency = bought.sum(axis=1)
    recency = np.where(frequency > 0, 12 - np.argmax(bought[:, ::-1], axis=1), 0)
    return pd.DataFrame({"frequency": frequency, "recency": recency, "n_periods": n_periods})


def _make_bgbb(n: int, seed: int) -> dict:
    histories = bgbb_histories(n, seed)
    return {"histories": histories, "collapsed": _collapsed(histories, ["frequency", "recency", "n_periods"])}


def _ours_bgbb(inputs: dict) -> float:
    from loyalty.clv import BetaGeoBetaBinom

    return BetaGeoBetaBinom().fit(inputs["histories"]).log_likelihood_


def _theirs_bgbb(inputs: dict) -> float:
    from loyalty.clv import BetaGeoBetaBinom

    c = inputs["collapsed"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = _lifetimes().BetaGeoBetaBinomFitter().fit(c["frequency"], c["recency"], c["n_periods"], c["weights"])
    model = BetaGeoBetaBinom.from_lifetimes(fitter)
    return float(np.sum(c["weights"].to_numpy() * model.customer_log_likelihood(c).to_numpy()))


register(Entry(
    "bgbb_fit", (10_000, 100_000), _make_bgbb, _ours_bgbb, _theirs_bgbb,
    "BetaGeoBetaBinom().fit(per-customer rows) vs BetaGeoBetaBinomFitter on distinct rows with weights",
))


# -- Pareto/NBD on the BG/NBD benchmark log (synthetic.py), daily periods -----------------------------------------
def _ours_pareto_nbd(inputs: dict) -> float:
    from loyalty.clv import ParetoNBD

    return ParetoNBD().fit(inputs["summary"]).log_likelihood_


def _theirs_pareto_nbd(inputs: dict) -> float:
    from loyalty.clv import ParetoNBD

    c = inputs["collapsed"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = _lifetimes().ParetoNBDFitter().fit(c["frequency"], c["recency"], c["T"], weights=c["weights"])
    # lifetimes' own log-likelihood is NaN for some customers bought on their last day (t_x = T); ours is not
    return float(ParetoNBD.from_lifetimes(fitter).customer_log_likelihood(inputs["summary"]).sum())


register(Entry(
    "pareto_nbd_fit", (10_000, 100_000, 1_000_000), _make_mbgnbd, _ours_pareto_nbd, _theirs_pareto_nbd,
    "ParetoNBD().fit(summary) vs ParetoNBDFitter (Nelder-Mead, its default) on distinct (x, t_x, T) rows with "
    "weights; lifetimes capped at 600 s per fit",
    theirs_timeout_s=600.0,
))


# -- the runner ---------------------------------------------------------------------------------------------------
def _timed(fit: Callable[[dict], float], inputs: dict, timeout_s: float | None = None) -> tuple[float, float]:
    """Seconds and log-likelihood of one fit; with ``timeout_s``, (inf, nan) if it has not finished by then."""
    if timeout_s is None:
        start = time.perf_counter()
        log_likelihood = fit(inputs)
        return time.perf_counter() - start, float(log_likelihood)
    import multiprocessing

    context = multiprocessing.get_context("fork")  # the child shares the inputs instead of pickling them
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=lambda: send.send(_timed(fit, inputs)), daemon=True)
    child.start()
    ready = receive.poll(timeout_s)
    result = receive.recv() if ready else (float("inf"), float("nan"))
    if child.is_alive():
        child.kill()
    child.join()
    return result


def run_entry(entry: Entry, n: int, repeats: int, seed: int = 0) -> dict:
    """Median seconds of each side at ``n`` customers, their log-likelihoods and the speed-up."""
    warm = entry.make(WARMUP_CUSTOMERS, seed + 1)
    entry.ours(warm)
    entry.theirs(warm)
    inputs = entry.make(n, seed)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(_timed(entry.ours, inputs))
        if not theirs or np.isfinite(theirs[-1][0]):  # a fit that hit the cap is not run again
            theirs.append(_timed(entry.theirs, inputs, entry.theirs_timeout_s))
    ours_s, theirs_s = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in theirs)
    timed_out = not np.isfinite(theirs_s)
    return {
        "customers": n, "repeats": repeats, "ours_s": ours_s,
        "lifetimes_s": entry.theirs_timeout_s if timed_out else theirs_s, "lifetimes_timed_out": timed_out,
        # with lifetimes capped, the speed-up is a lower bound: cap / ours
        "speed_up": (entry.theirs_timeout_s if timed_out else theirs_s) / ours_s,
        "ours_ll": ours[0][1], "lifetimes_ll": None if timed_out else theirs[0][1],
        "ll_ours_minus_lifetimes": None if timed_out else ours[0][1] - theirs[0][1],
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _write_atomically(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)


def run(entries: list[str] | None = None, sizes: list[int] | None = None, repeats: int = 3) -> dict:
    """Run the named entries (all by default) at the given sizes (each entry's own by default) and update
    ``results/btyd.json``; returns the results written."""
    names = entries or list(ENTRIES)
    unknown = [name for name in names if name not in ENTRIES]
    if unknown:
        raise SystemExit(f"unknown benchmark entries {unknown}; registered: {list(ENTRIES)}")
    ran: dict[str, dict] = {}
    print(f"{'entry':<16} {'customers':>10} {'ours s':>9} {'lifetimes s':>12} {'speed-up':>9} {'LL ours-lifetimes':>18}")
    for name in names:
        entry = ENTRIES[name]
        for n in sizes or entry.sizes:
            row = run_entry(entry, n, repeats)
            ran.setdefault(name, {})[str(n)] = row
            capped = row.get("lifetimes_timed_out")
            theirs = f"{'>' if capped else ''}{row['lifetimes_s']:.3f}"
            gap = "n/a (capped)" if capped else f"{row['ll_ours_minus_lifetimes']:+.4f}"
            print(f"{name:<16} {n:>10,} {row['ours_s']:>9.3f} {theirs:>12} "
                  f"{'>=' if capped else ''}{row['speed_up']:>6.1f}x {gap:>18}")
    # read the file only now: another run (another entry) may have written it while this one was timing
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = previous.get("results", {})
    for name, rows in ran.items():
        results.setdefault(name, {}).update(rows)
    payload = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "numpy": np.__version__, "pandas": pd.__version__, "lifetimes": _lifetimes().__version__},
        "descriptions": {name: entry.description for name, entry in ENTRIES.items()},
        "results": results,
    }
    _write_atomically(RESULTS, payload)
    print(f"wrote {RESULTS}")
    return payload


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=lambda s: s.split(","), default=None,
                        help=f"comma-separated entries (default all: {','.join(ENTRIES)})")
    parser.add_argument("--sizes", type=lambda s: [int(float(v)) for v in s.split(",")], default=None,
                        help="comma-separated numbers of customers (default each entry's own)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats per side (median reported)")
    args = parser.parse_args(argv)
    run(args.entries, args.sizes, args.repeats)


if __name__ == "__main__":
    main()
