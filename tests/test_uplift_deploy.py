"""The uplift model of the fit job learns from your own campaign files as well as from a simulated one."""

import numpy as np
import pytest

from loyalty.errors import SpecError
from loyalty.simulate import SimulationConfig, simulate
from loyalty.uplift.deploy import fit_uplift_model, load_uplift_spec


def _spec(tmp_path, campaign: str):
    path = tmp_path / "uplift.yaml"
    path.write_text(f"kind: model\nfamily: uplift\nsettings:\n  campaign: {campaign}\n  n_estimators: 30\n")
    return path


def test_campaign_files_give_the_same_model_as_the_world_they_came_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    world = simulate(SimulationConfig(n_customers=3000), seed=4)
    world.transactions.to_parquet("log.parquet", index=False)
    world.assignments.to_csv("assignments.csv", index=False)
    from_files = load_uplift_spec(_spec(tmp_path, "{files: {transactions: log.parquet, assignments: assignments.csv}}"))
    from_world = load_uplift_spec(_spec(tmp_path, "{simulator: {customers: 3000, seed: 4}}"))
    model_a, X_a, meta_a = fit_uplift_model(from_files)
    model_b, X_b, meta_b = fit_uplift_model(from_world)
    assert list(X_a.index) == list(X_b.index)
    np.testing.assert_allclose(np.asarray(model_a.predict(X_a)), np.asarray(model_b.predict(X_b)), rtol=1e-12)
    assert meta_a["campaign_customers"] == 3000


@pytest.mark.parametrize(
    "campaign, message",
    [
        ("{files: {transactions: missing.parquet, assignments: a.csv}}", "field 'settings.campaign.files.transactions' names a file that does not exist, got 'missing.parquet'"),
        ("{files: {transactions: log.parquet}}", "files.assignments is required"),
        ("{warehouse: {}}", "settings.campaign must be"),
    ],
)
def test_bad_campaign_sources_name_the_field(tmp_path, monkeypatch, campaign, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.parquet").write_bytes(b"")
    with pytest.raises(SpecError, match=message):
        load_uplift_spec(_spec(tmp_path, campaign))
