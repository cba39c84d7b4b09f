"""Qini and uplift curve figures render, one line per model plus the perfect and random references."""

import io

import numpy as np
import pytest

from loyalty.uplift import plot_qini_curve, plot_uplift_curve


@pytest.fixture
def campaign():
    rng = np.random.default_rng(3)
    n = 4000
    treatment = rng.integers(0, 2, n)
    signal = rng.random(n)
    y = (rng.random(n) < 0.1 + 0.1 * treatment * signal).astype(int)
    return y, treatment, {"informative": signal, "noise": rng.random(n)}


@pytest.mark.parametrize("plot", [plot_qini_curve, plot_uplift_curve])
def test_curve_figure_has_each_model_and_references(plot, campaign):
    y, treatment, predictions = campaign
    figure = plot(y, predictions, treatment)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert any(label.startswith("informative (") for label in labels)
    assert any(label.startswith("noise (") for label in labels)
    assert "perfect" in labels and "random" in labels
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_informative_model_scores_above_noise_in_the_legend(campaign):
    y, treatment, predictions = campaign
    figure = plot_qini_curve(y, predictions, treatment)
    scores = {line.get_label().split(" (")[0]: float(line.get_label().split("(")[1].rstrip(")"))
              for line in figure.axes[0].get_lines() if "(" in line.get_label()}
    assert scores["informative"] > scores["noise"]
