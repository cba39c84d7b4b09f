"""Typed exceptions: errors are part of the interface.

Each message says what failed, where (column, field, count, example value) and what to try.
"""

__all__ = [
    "LoyaltyError", "DataValidationError", "ConvergenceError", "IdentificationError", "SpecError", "NotFittedError",
]


class LoyaltyError(Exception):
    """Base class for every error raised by ``loyalty``."""


class DataValidationError(LoyaltyError, ValueError):
    """Input data break the data contract (missing column, unusable values, inconsistent types)."""


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


class SpecError(LoyaltyError, ValueError):
    """A configuration or YAML spec is invalid (unknown key, wrong type, value out of range)."""


class NotFittedError(LoyaltyError, AttributeError):
    """A model method that needs fitted parameters was called before ``fit``."""
