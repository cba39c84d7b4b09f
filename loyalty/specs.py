"""Reading YAML specs (``models/``, ``pipelines/``, ``experiments/``): plain data, checked on load.

Errors name the file, the field and the allowed values (:class:`loyalty.errors.SpecError`). A section's fields
are declared as types, or as :class:`Field` objects that also state the range, the choices, the items of a
list, or a check of their own (a file that must exist, an output template with only ``{as_of}``). Every number
in a spec must be finite: NaN and infinity are refused wherever they appear.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

__all__ = ["read_spec", "read_model_settings", "check_fields", "Field", "number", "integer", "share", "choice",
           "list_of", "time_unit", "existing_file", "template", "fill_template", "identifier", "check_value"]


@dataclass(frozen=True)
class Field:
    """What one spec field accepts.

    Parameters
    ----------
    types : type or tuple of types
        Accepted Python types (``bool`` only when listed; ``int`` where ``float`` is accepted).
    low, high : float, optional
        Inclusive bounds of a number.
    above, below : float, optional
        Exclusive bounds of a number (``above=0``: positive).
    choices : tuple, optional
        The accepted values.
    items : Field, optional
        What each item of a list accepts.
    min_items : int, optional
        The fewest items of a list (``1``: an empty list is refused rather than replaced by defaults).
    check : callable(value) -> str or None, optional
        A further check; returns what is wrong (the message's end) or None.
    """

    types: type | tuple
    low: float | None = None
    high: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple | None = None
    items: "Field | None" = None
    min_items: int | None = None
    check: Callable[[Any], str | None] | None = None

    def problem(self, value) -> str | None:
        """What is wrong with ``value`` (None: nothing). ``None`` values are for the caller (optional fields)."""
        types = self.types if isinstance(self.types, tuple) else (self.types,)
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            return f"must be {'/'.join(t.__name__ for t in types)}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            low = "-inf" if self.low is None else self.low
            high = "inf" if self.high is None else self.high
            return f"must be within [{low}, {high}]"
        if self.above is not None and not value > self.above:
            return f"must be > {self.above}"
        if self.below is not None and not value < self.below:
            return f"must be < {self.below}"
        if isinstance(value, list):
            if self.min_items is not None and len(value) < self.min_items:
                return f"must list at least {self.min_items} item(s)"
            for index, item in enumerate(value if self.items is not None else ()):
                wrong = self.items.problem(item) if item is not None else "must not be null"
                if wrong:
                    return f"item {index} ({item!r}) {wrong}"
        return self.check(value) if self.check is not None else None


def number(low=None, high=None, above=None, below=None) -> Field:
    """A finite number (int or float) within the bounds (``low``/``high`` inclusive, ``above``/``below`` not)."""
    return Field((int, float), low=low, high=high, above=above, below=below)


def integer(low=None, high=None) -> Field:
    """A whole number within the bounds."""
    return Field(int, low=low, high=high)


def share() -> Field:
    """A share within [0, 1] (margin rate, budget)."""
    return number(0, 1)


def choice(*values) -> Field:
    """One of ``values``."""
    return Field(tuple({type(v) for v in values}), choices=tuple(values))


def time_unit() -> Field:
    """A time unit: one of ``h, D, W, M, Q, Y`` or a positive number of days (:mod:`loyalty.units`)."""
    from .units import UNIT_DAYS

    def check(unit) -> str | None:
        if unit in UNIT_DAYS or not isinstance(unit, str) and unit > 0:
            return None
        return f"must be one of {list(UNIT_DAYS)} or a positive number of days"

    return Field((str, int, float), check=check)


def list_of(items: Field, min_items: int = 1) -> Field:
    """A list whose every item ``items`` accepts, with at least ``min_items`` items."""
    return Field(list, items=items, min_items=min_items)


def existing_file(base: Callable[[str], Path] = Path) -> Field:
    """A path (text) to a file or folder that exists; ``base`` resolves it (e.g. against the spec's folder)."""
    def check(value: str) -> str | None:
        if value and base(value).exists():
            return None
        looked = f" (looked for {str(base(value))!r})" if str(base(value)) != value else ""
        return f"names a file that does not exist{looked}"

    return Field(str, check=check)


def template(*names: str) -> Field:
    """An output path template whose only replacement fields are ``{name}`` for ``names`` (no attribute or
    index access, no conversion or format spec): parsed with :class:`string.Formatter`, never formatted here."""
    def check(value: str) -> str | None:
        if not value:
            return "must not be empty"
        try:
            fields = [(f, c, s) for _, f, s, c in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            return f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
        for field, conversion, spec in fields:
            if field not in names or conversion or spec:
                shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
                return f"may only use {', '.join('{' + n + '}' for n in names)} as a replacement field, not {shown}"
        return None

    return Field(str, check=check)


def fill_template(text: str, where: str, field: str, **values: str) -> str:
    """``text`` with each ``{name}`` replaced by ``values[name]``, after checking it as :func:`template` does
    (a :class:`SpecError` otherwise). Built from the parsed pieces: the text is never passed to ``str.format``."""
    check_value(text, template(*values), field, where)
    return "".join(literal + ("" if name is None else str(values[name]))
                   for literal, name, _, _ in string.Formatter().parse(text))


def identifier(pattern: str = r"[A-Za-z0-9][\w.\-]*") -> Field:
    """A name used in paths, SQL identifiers or MLflow filters: letters, digits, ``_``, ``.``, ``-``, not
    starting with a dot (so never ``..``)."""
    return Field(str, check=lambda value: None if re.fullmatch(pattern, value)
                 else f"must match {pattern} (letters, digits, '_', '.', '-'; no leading dot or slash)")


def check_value(value, field: Field, name: str, where: str):
    """``value`` if ``field`` accepts it (or it is None), else a :class:`SpecError` naming the field and value."""
    if value is not None:
        wrong = field.problem(value)
        if wrong:
            raise SpecError(f"{where}: field {name!r} {wrong}, got {value!r}")
    return value


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
    return dict(check_fields(spec.get("settings") or {}, allowed, where, "settings.")), where


def check_fields(section: dict, allowed: dict[str, type | tuple | Field], where: str, prefix: str = "") -> dict:
    """Check a spec section's keys and values; returns it. ``allowed`` maps field -> accepted type(s) or a
    :class:`Field`; ``prefix`` is the section's dotted path in messages (``data.`` names ``data.margin_rate``).
    A null value passes (optional fields; required ones are the caller's check); a number that is not finite
    never does."""
    if not isinstance(section, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - set(allowed), key=str)
    if unknown:
        shown = [f"{prefix}{k}" for k in unknown]
        raise SpecError(f"{where}: unknown field(s) {shown}; allowed fields are {sorted(allowed)}")
    for key, value in section.items():
        field = allowed[key] if isinstance(allowed[key], Field) else Field(allowed[key])
        check_value(value, field, f"{prefix}{key}", where)
    return section
