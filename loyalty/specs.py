"""Reading YAML specs (``models/``, ``pipelines/``, ``experiments/``): plain data, checked on load.

Errors name the file, the field and the allowed values (:class:`loyalty.errors.SpecError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

__all__ = ["read_spec", "read_model_settings", "check_fields"]


def read_spec(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Load a YAML spec as a dict; with ``kind``, require ``kind: <kind>`` in it."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a spec is a mapping of fields, got {type(data).__name__}")
    if kind is not None and data.get("kind") != kind:
        raise SpecError(f"{path}: field 'kind' must be {kind!r}, got {data.get('kind')!r}")
    data["__file__"] = str(path)
    return data


def read_model_settings(path: str | Path, family: str, allowed: dict[str, type | tuple]) -> tuple[dict, str]:
    """A ``models/*.yaml`` spec (``kind: model``, ``family: <family>``, ``settings: {...}``): its settings,
    checked against ``allowed`` (a copy, for the caller to fill defaults in), and the file name for errors."""
    spec = read_spec(path, kind="model")
    where = spec["__file__"]
    if spec.get("family") != family:
        raise SpecError(f"{where}: field 'family' must be {family!r}, got {spec.get('family')!r}")
    check_fields({k: v for k, v in spec.items() if k != "__file__"},
                 {"kind": str, "family": str, "settings": dict}, where)
    return dict(check_fields(spec.get("settings") or {}, allowed, f"{where}: settings")), where


def check_fields(section: dict, allowed: dict[str, type | tuple], where: str) -> dict:
    """Check a spec section's keys and types; returns it. ``allowed`` maps field -> accepted type(s)."""
    if not isinstance(section, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {unknown}; allowed fields are {sorted(allowed)}")
    for name, value in section.items():
        types = allowed[name] if isinstance(allowed[name], tuple) else (allowed[name],)
        if value is not None and not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            names = "/".join(t.__name__ for t in types)
            raise SpecError(f"{where}: field {name!r} must be {names}, got {value!r}")
    return section
