"""notebooks/your_campaign.ipynb takes the shipped example campaign from files to the report, top to bottom."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "your_campaign.ipynb"


def test_your_campaign_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_your_campaign_notebook_goes_from_files_to_the_report(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs)
    assert "sales: rows read 21,472 = used" in text and "offers: rows read 3,000 = used 3,000" in text
    assert "randomization check: passed" in text and "At a 20% budget" in text
    results = json.loads((tmp_path / "your_campaign_report" / "results.json").read_text())
    assert results["data"]["source"] == "campaign" and results["headline"]["customers"] == 3000
    assert (tmp_path / "your_campaign_report" / "report.html").stat().st_size > 10_000
