"""The ``loyalty`` command line: one module per command group, each a thin layer over public library functions.

Every group module defines ``register(subparsers)``, which builds its parsers with the standard library only;
the library (pandas, the models, MLflow, ...) is imported inside the command functions, so ``loyalty --help``
and ``loyalty <group> --help`` start in a fraction of a second. ``loyalty --help`` lists the groups; every
command has ``--help``.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import LoyaltyError
from . import churn, clv, compare, demo, run, simulate, summarize, uplift

__all__ = ["GROUPS", "build_parser", "main"]

#: Command group modules, in the order ``loyalty --help`` lists them.
GROUPS = (summarize, clv, churn, simulate, uplift, compare, demo, run)


def build_parser() -> argparse.ArgumentParser:
    """The ``loyalty`` parser with every group's commands."""
    parser = argparse.ArgumentParser(
        prog="loyalty",
        description="Loyalty-program lifecycle economics: CLV, churn, uplift and targeting compared on profit.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments) and run the command; a :class:`LoyaltyError` becomes a
    one-line message on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LoyaltyError as exc:
        print(f"loyalty: error: {exc}", file=sys.stderr)
        return 2
