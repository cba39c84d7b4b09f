"""Typed exceptions: errors are part of the interface.

Each message says what failed, where (column, field, count, example value) and what to try.
"""

__all__ = ["LoyaltyError", "DataValidationError", "DataReadError", "ConvergenceError", "SpecError", "NotFittedError",
           "RandomizationError"]


class LoyaltyError(Exception):
    """Base class for every error raised by ``loyalty``."""


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
