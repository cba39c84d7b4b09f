"""``loyalty compare experiments/<name>.yaml``: run a targeting experiment and write its report."""

from __future__ import annotations

from pathlib import Path

from .options import positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare targeting policies on a randomized campaign (the trade-off number)",
        description="Run a targeting experiment spec: fit response, uplift and CLV models cross-fitted, evaluate "
        "every policy at every budget with paired bootstrap intervals, and write results.json, policies.csv, "
        "plots and report.html. The spec is checked before any model is fitted.",
    )
    parser.add_argument("spec", type=Path, help="experiment spec, e.g. experiments/simulated.yaml")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default results/<experiment name>)")
    parser.add_argument("--resamples", type=positive_int, default=None, help="bootstrap resamples (overrides the spec)")
    parser.set_defaults(func=_compare)


def _compare(args) -> int:
    from ..report.targeting import write_experiment
    from ..targeting import load_experiment, run_experiment

    spec = load_experiment(args.spec)
    if args.resamples is not None:
        spec.bootstrap["resamples"] = args.resamples
    out = args.out or Path("results") / spec.name
    print(f"experiment {spec.name!r}: data {spec.data_source}, policies {', '.join(spec.policies)}")
    result = run_experiment(spec, progress=True)
    write_experiment(result, out)
    print(f"\n{result.decision.text}\n\n{result.headline['text']}\n")
    print(f"report: {(out / 'report.html').resolve()}")
    return 0
