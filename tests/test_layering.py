"""Layering rules no linter config states: no module imports another module's `_private` names, and no stage
package parses command lines (argparse belongs to loyalty.cli). Checked on the source, by AST."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "loyalty"
STAGES = ("data", "clv", "churn", "uplift", "targeting", "simulate", "engines", "datasets")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", [alias.name for alias in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno


#: Underscore names of other libraries' documented protocols (pandas ExtensionArray construction).
THIRD_PARTY_PROTOCOL = {"_from_sequence"}


def _private_imports(tree):
    """``from x import _name`` (a private name of module x); ``from . import _module`` (a package's private
    submodule, imported by its own package) is allowed."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield node.lineno, f"imports {alias.name} from {'.' * node.level}{node.module}"


def _private_attributes(tree):
    """``obj._name`` on anything but ``self`` / ``cls``: reaching into another object's private state."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and node.attr not in THIRD_PARTY_PROTOCOL \
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            yield node.lineno, f"uses {ast.unparse(node)}"


def test_no_module_imports_another_modules_private_names():
    crossings = [f"{path.relative_to(PACKAGE.parent)}:{line} {what}" for path, tree in _modules()
                 for line, what in _private_imports(tree)]
    assert crossings == []


def test_no_module_reaches_into_another_objects_private_attributes():
    crossings = [f"{path.relative_to(PACKAGE.parent)}:{line} {what}" for path, tree in _modules()
                 for line, what in _private_attributes(tree)]
    assert crossings == []


def test_no_stage_package_imports_argparse():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line}" for path, tree in _modules()
                 if path.relative_to(PACKAGE).parts[0] in STAGES
                 for module, names, line in _imports(tree) if module.split(".")[0] == "argparse"]
    assert offenders == []


def test_the_checks_see_what_they_forbid():
    tree = ast.parse("from .model import _set_params\nfrom . import _sql\nimport argparse\nm._set_params(1)\n"
                     "self._fit()\n")
    assert [what for _, what in _private_imports(tree)] == ["imports _set_params from .model"]
    assert [what for _, what in _private_attributes(tree)] == ["uses m._set_params"]
    assert ("argparse", [], 3) in list(_imports(tree))
