"""The Python examples in README.md run as written, in order, in one namespace (as a user pastes them into a
notebook), except those that need the user's own files or a long experiment, named below with the reason."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: a phrase of each block that does not run here, and why
NOT_RUN = {
    'load_experiment("experiments/hillstrom.yaml")': "a full experiment (minutes): tests/test_targeting_experiment.py",
    'summarize("tx.csv"': "the user's own log",
    'summarize("log/"': "the user's own log folder",
    "register_family(my_family)": "the user's own model family: tests/test_jobs_families.py",
}


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_python_examples_and_every_skipped_one_is_still_there():
    blocks = _blocks()
    assert len(blocks) >= 8
    for phrase in NOT_RUN:
        assert any(phrase in block for block in blocks), f"no README block contains {phrase!r}: update NOT_RUN"


@pytest.mark.slow
def test_readme_python_examples_run_in_order(tmp_path, monkeypatch):
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    ran = 0
    for number, block in enumerate(_blocks(), start=1):
        if any(phrase in block for phrase in NOT_RUN):
            continue
        code = compile(textwrap.dedent(block), f"README.md python block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - the project's own README
        ran += 1
    assert ran >= 6
