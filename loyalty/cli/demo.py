"""``loyalty demo``: the main job end to end on embedded data (:mod:`loyalty.jobs.demo`)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the main job end to end on embedded data",
        description="1. CDNOW (full cohort): validate the log, summarise at 1997-09-30 with a holdout to "
        "1998-06-30, fit BG/NBD and Gamma-Gamma, score margin CLV with intervals for every customer, and follow "
        "up: predicted vs actual holdout purchases. 2. The trade-off number: the targeting experiments in "
        "experiments/ (the simulated world and Hillstrom), each comparing targeting by response with targeting "
        "by margin and lifetime value at the same budget. Writes everything atomically under --out and prints "
        "the headlines and where the reports are.")
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    parser.add_argument("--experiments", type=Path, default=Path("experiments"),
                        help="folder with the targeting experiment specs (default experiments)")
    parser.add_argument("--clv-only", action="store_true", help="skip the targeting experiments")
    parser.set_defaults(func=_demo)


def _demo(args) -> int:
    from ..jobs.demo import run_clv_demo, run_targeting_demo

    run_clv_demo(args.out)
    if not args.clv_only:
        run_targeting_demo(args.out, args.experiments)
    print(f"\noutputs in {args.out.resolve()}:")
    for path in sorted(args.out.iterdir()):
        if not path.name.startswith("."):
            print(f"  {path.name}")
    return 0
