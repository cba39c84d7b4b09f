"""The model families the jobs know: a registry the fit and scoring jobs iterate, in registration order.

The built-in families (clv, churn, uplift) are registered on first use; :func:`register_family` adds another
(e.g. a new CLV model) without touching the runner.
"""

from __future__ import annotations

from ..errors import SpecError
from ..family import ModelFamily

__all__ = ["register_family", "unregister_family", "get_family", "families"]

_REGISTRY: dict[str, ModelFamily] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    from ..churn.family import CHURN_FAMILY
    from ..clv.family import CLV_FAMILY
    from ..uplift.family import UPLIFT_FAMILY

    for family in (CLV_FAMILY, CHURN_FAMILY, UPLIFT_FAMILY):
        _REGISTRY.setdefault(family.name, family)
    _builtins_loaded = True


def register_family(family: ModelFamily, *, replace: bool = False) -> ModelFamily:
    """Add ``family`` to the registry (``replace=True`` to swap one of the same name); returns it."""
    _load_builtins()
    if not isinstance(family, ModelFamily):
        raise TypeError(f"register_family expects a loyalty.family.ModelFamily, got {type(family).__name__}")
    if family.name in _REGISTRY and not replace:
        raise ValueError(f"a model family named {family.name!r} is registered already (pass replace=True)")
    _REGISTRY[family.name] = family
    return family


def unregister_family(name: str) -> None:
    """Remove family ``name`` (no error if it is not registered)."""
    _REGISTRY.pop(name, None)


def families() -> dict[str, ModelFamily]:
    """The registered families by name, in registration order."""
    _load_builtins()
    return dict(_REGISTRY)


def get_family(name: str, where: str = "models") -> ModelFamily:
    """The family ``name``; a :class:`SpecError` naming ``where`` and the known families if there is none."""
    known = families()
    if name not in known:
        raise SpecError(f"{where}: unknown model family {name!r}; known families are {list(known)}")
    return known[name]
