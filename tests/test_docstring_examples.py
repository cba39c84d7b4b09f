"""Every example in a docstring runs and prints what it shows (users copy them)."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import loyalty

PACKAGE = Path(loyalty.__file__).parent


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="loyalty."):
        spec = importlib.util.find_spec(info.name)
        if spec.origin and spec.origin.endswith(".py") and ">>> " in Path(spec.origin).read_text():
            names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_the_package_has_docstring_examples_to_check():
    assert len(MODULES) >= 20


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_as_shown(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (printed above)"
