"""Typed exceptions: errors are part of the interface.

Each message says what failed, where (column, field, count, example value) and what to try. What to try is a
:class:`Hint` when it is a setting: the Python API spells it ``penalizer=0.001``, the command line
``--penalizer 0.001``, and each caller renders the spelling its user types (:meth:`LoyaltyError.render`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LoyaltyError", "DataValidationError", "DataReadError", "ConvergenceError", "IdentificationError",
           "SpecError", "NotFittedError", "RandomizationError", "Hint"]


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


class IdentificationError(ConvergenceError):
    """The data do not identify a model's parameters: the fit runs to a boundary of the parameter space (e.g.
    BG/NBD on a log with no detectable attrition, where the dropout probability goes to 0).

    Attributes
    ----------
    diagnosis : str
        What the data show, in words (``"no attrition detected: ..."``).
    remedies : dict
        What to do instead, by interface: ``"library"`` (Python), ``"cli"`` (command-line options) and
        ``"spec"`` (YAML settings). Only remedies checked to work on the same data are offered.
    alternative : object or None
        A fitted model that works on the data (e.g. the :class:`loyalty.clv.NBD` the remedy names), if any.

    ``str(error)`` is the diagnosis with the library remedy; :meth:`for_interface` gives the same error worded
    for the command line or a spec.
    """

    def __init__(self, diagnosis: str, remedies: dict | None = None, alternative=None, interface: str = "library"):
        self.diagnosis = diagnosis
        self.remedies = dict(remedies or {})
        self.alternative = alternative
        self.interface = interface
        remedy = self.remedies.get(interface)
        super().__init__(f"{diagnosis} {remedy}" if remedy else diagnosis)

    def for_interface(self, interface: str) -> "IdentificationError":
        """The same error with the remedy worded for ``interface`` (``"library"``, ``"cli"`` or ``"spec"``)."""
        return type(self)(self.diagnosis, self.remedies, self.alternative, interface)

    def render(self, spelling: str = "python") -> str:
        """The diagnosis with the remedy for ``"python"`` (the library) or ``"cli"``, as :class:`LoyaltyError`
        renders a :class:`Hint`, so the command line prints every error the same way."""
        interface = "cli" if spelling == "cli" else "library" if spelling == "python" else spelling
        remedy = self.remedies.get(interface)
        return f"{self.diagnosis} {remedy}" if remedy else self.diagnosis


class SpecError(LoyaltyError, ValueError):
    """A configuration or YAML spec is invalid (unknown key, wrong type, value out of range)."""


class NotFittedError(LoyaltyError, AttributeError):
    """A model method that needs fitted parameters was called before ``fit``."""
