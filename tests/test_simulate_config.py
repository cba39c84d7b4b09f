"""The simulator's configuration: documented defaults, YAML round trip, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty.cli import main
from loyalty.errors import SpecError
from loyalty.simulate import SimulationConfig

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "experiments" / "simulator_default.yaml"


def test_default_yaml_is_the_default_config():
    assert SimulationConfig.from_yaml(DEFAULT_YAML) == SimulationConfig()


def test_to_dict_round_trips():
    config = SimulationConfig.from_dict({"n_customers": 123, "campaign": {"stratify_by": "channel",
                                                                        "strata": {"app": 0.7}}})
    assert SimulationConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "data, field",
    [
        ({"purchase": {"r": -0.5}}, "purchase.r"),
        ({"purchase": {"alpha": 0}}, "purchase.alpha"),
        ({"spend": {"gamma": -1.0}}, "spend.gamma"),
        ({"campaign": {"propensity": 1.0}}, "campaign.propensity"),
        ({"campaign": {"propensity": 0}}, "campaign.propensity"),
        ({"campaign": {"stratify_by": "channel", "strata": {"app": 1.5}}}, "campaign.strata.app"),
        ({"campaign": {"contact_cost": -0.1}}, "campaign.contact_cost"),
        ({"calendar": {"response_window_days": 400, "horizon_days": 364}}, "calendar.response_window_days"),
        ({"calendar": {"acquisition_days": 800, "history_days": 730}}, "calendar.acquisition_days"),
        ({"n_customers": 0}, "n_customers"),
        ({"effects": {"mix": {"persuadable": -1}}}, "effects.mix.persuadable"),
        ({"noise": {"return_share": 2}}, "noise.return_share"),
    ],
)
def test_bad_value_raises_spec_error_naming_the_field(data, field):
    with pytest.raises(SpecError, match=rf"^{field.replace('.', '[.]')}\b"):
        SimulationConfig.from_dict(data)


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(SpecError, match=r"campaign\.propensty"):
        SimulationConfig.from_dict({"campaign": {"propensty": 0.5}})


def test_window_past_the_horizon_message_says_what_to_do():
    with pytest.raises(SpecError, match="past the horizon.*at most calendar.horizon_days"):
        SimulationConfig.from_dict({"calendar": {"response_window_days": 30, "horizon_days": 20}})


def test_cli_reports_a_bad_config_file_with_the_field(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("campaign:\n  propensity: 1.2\n")
    code = main(["simulate", "--customers", "10", "--seed", "1", "--out", str(tmp_path / "w"),
                 "--config", str(config)])
    assert code == 2
    assert "campaign.propensity must be in (0, 1), got 1.2" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_purchase_rates_too_high_for_one_purchase_a_day_are_rejected():
    with pytest.raises(SpecError, match=r"^purchase\.r / purchase\.alpha .* at most one purchase per customer and day"):
        SimulationConfig.from_dict({"purchase": {"r": 5.0, "alpha": 2.0}})
