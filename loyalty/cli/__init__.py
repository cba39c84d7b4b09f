"""The ``loyalty`` command line: one module per command group, each a thin layer over public library functions.

Every group module defines ``register(subparsers)``, which builds its parsers with the standard library only;
the library (pandas, the models, MLflow, ...) is imported inside the command functions, so ``loyalty --help``
and ``loyalty <group> --help`` start in a fraction of a second. ``loyalty --help`` lists the groups; every
command has ``--help``.

Errors: a :class:`loyalty.errors.LoyaltyError` (and an operating-system error such as a permission denied)
prints one line, ``loyalty: error: ...``, with its hint in command-line spelling, and exits with status 2. Any
other exception is a bug: one line naming it and exit status 1; ``loyalty --debug ...`` or ``LOYALTY_DEBUG=1``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import LoyaltyError
from . import churn, clv, compare, demo, run, simulate, summarize, uplift

__all__ = ["GROUPS", "build_parser", "main", "DEBUG_ENV"]

#: Environment variable that, set to a non-empty value other than 0, shows tracebacks (like ``--debug``).
DEBUG_ENV = "LOYALTY_DEBUG"

#: Command group modules, in the order ``loyalty --help`` lists them.
GROUPS = (summarize, clv, churn, simulate, uplift, compare, demo, run)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line that points at ``--help`` (instead of the usage block)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``loyalty`` parser with every group's commands."""
    parser = _Parser(
        prog="loyalty",
        description="Loyalty-program lifecycle economics: CLV, churn, uplift and targeting compared on profit.",
    )
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of an unexpected error (or set {DEBUG_ENV}=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process arguments) and run the command.

    A :class:`LoyaltyError` or ``OSError`` becomes one line on stderr and exit status 2; any other exception one
    line and status 1, or its traceback with ``--debug`` / ``LOYALTY_DEBUG=1``."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except (LoyaltyError, OSError) as exc:
        if debug:
            raise
        text = exc.render("cli") if isinstance(exc, LoyaltyError) else str(exc)
        print(f"loyalty: error: {_one_line(text)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loyalty: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"loyalty: unexpected error: {type(exc).__name__}: {_one_line(str(exc))[:500]} (a bug; run with "
              f"--debug or {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
