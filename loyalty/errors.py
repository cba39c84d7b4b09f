"""Typed exceptions: errors are part of the interface.

Each message says what failed, where (column, field, count, example value) and what to try. What to try is a
:class:`Hint` when it is a setting: the Python API spells it ``penalizer=0.001``, the command line
``--penalizer 0.001``, and each caller renders the spelling its user types (:meth:`LoyaltyError.render`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LoyaltyError", "DataValidationError", "DataReadError", "ConvergenceError", "SpecError", "NotFittedError",
           "RandomizationError", "Hint"]


@dataclass(frozen=True)
class Hint:
    """A setting to try, spelled for whoever reads the error.

    Parameters
    ----------
    setting : str
        The keyword argument of the Python API (``penalizer``, ``columns``, ``margin_rate``).
    value : Any
        The value to try; a dict for a mapping (``{"amount": "<your column>"}``), True for a switch.
    option : str, optional
        The command-line option when it is not ``--<setting with dashes>`` (e.g. ``--clv-margin-rate``).
    """

    setting: str
    value: Any
    option: str | None = None

    def python(self) -> str:
        """``penalizer=0.001``, ``columns={'amount': '<your column>'}``."""
        return f"{self.setting}={self.value!r}"

    def cli(self) -> str:
        """``--penalizer 0.001``, ``--columns amount=<your column>``, ``--keep-duplicates``."""
        option = self.option or "--" + self.setting.replace("_", "-")
        if self.value is True:
            return option
        if isinstance(self.value, dict):
            return f"{option} " + ",".join(f"{k}={v}" for k, v in self.value.items())
        return f"{option} {self.value}"


class LoyaltyError(Exception):
    """Base class for every error raised by ``loyalty``.

    ``LoyaltyError(message, hint=Hint(...))``: the message may hold ``{hint}`` where the remedy goes (else it is
    appended). ``str(error)`` spells it for Python; :meth:`render` for the command line. The message is never
    passed through ``str.format``, so values quoted in it (column names, paths) are shown as they are.
    """

    def __init__(self, message: str = "", *args, hint: Hint | None = None):
        self.message, self.hint = str(message), hint
        super().__init__(self.render("python") if hint is not None else message, *args)

    def render(self, spelling: str = "python") -> str:
        """The message with the hint spelled ``"python"`` or ``"cli"``."""
        if self.hint is None:
            return str(self)
        remedy = self.hint.cli() if spelling == "cli" else self.hint.python()
        head, placeholder, tail = self.message.rpartition("{hint}")
        if placeholder:
            return head + remedy + tail
        return f"{self.message.rstrip('. ')}; try {remedy}"


class DataValidationError(LoyaltyError, ValueError):
    """Input data break the data contract (missing column, unusable values, inconsistent types)."""


class DataReadError(DataValidationError):
    """A data file cannot be read as a log: missing, empty, header only, corrupt, not the format its name says.
    The message names the path and what is wrong with it."""


class RandomizationError(DataValidationError):
    """A campaign does not look randomized as stated (sample-ratio mismatch or covariate imbalance)."""


class ConvergenceError(LoyaltyError, RuntimeError):
    """A maximum-likelihood fit did not reach a usable optimum."""


class SpecError(LoyaltyError, ValueError):
    """A configuration or YAML spec is invalid (unknown key, wrong type, value out of range)."""


class NotFittedError(LoyaltyError, AttributeError):
    """A model method that needs fitted parameters was called before ``fit``."""
