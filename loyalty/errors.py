"""Typed exceptions: errors are part of the interface.

Each message says what failed, where (column, field, count, example value) and what to try.
"""

__all__ = ["LoyaltyError", "DataValidationError", "ConvergenceError", "SpecError", "NotFittedError",
           "RandomizationError"]


class LoyaltyError(Exception):
    """Base class for every error raised by ``loyalty``."""


class DataValidationError(LoyaltyError, ValueError):
    """Input data break the data contract (missing column, unusable values, inconsistent types)."""


class RandomizationError(DataValidationError):
    """A campaign does not look randomized as stated (sample-ratio mismatch or covariate imbalance)."""


class ConvergenceError(LoyaltyError, RuntimeError):
    """A maximum-likelihood fit did not reach a usable optimum."""


class SpecError(LoyaltyError, ValueError):
    """A configuration or YAML spec is invalid (unknown key, wrong type, value out of range)."""


class NotFittedError(LoyaltyError, AttributeError):
    """A model method that needs fitted parameters was called before ``fit``."""
