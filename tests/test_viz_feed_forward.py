"""Notebook 06's plots: hidden activations, the function along a line, the activations, read back from the Axes."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import PositionwiseFeedForward
from course_lib.viz import feed_forward as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_ffn_weights_shapes_bounds_and_seed():
    w = viz.ffn_weights(4, 16, seed=3)
    assert {k: tuple(v.shape) for k, v in w.items()} == {"W1": (4, 16), "b1": (16,), "W2": (16, 4), "b2": (4,)}
    assert w["W1"].abs().max() <= 0.5 and w["b1"].abs().max() <= 0.5  # 1 / sqrt(d_model = 4)
    assert w["W2"].abs().max() <= 0.25 and w["b2"].abs().max() <= 0.25  # 1 / sqrt(d_ff = 16)
    assert all(torch.equal(w[k], viz.ffn_weights(4, 16, seed=3)[k]) for k in w)
    assert not torch.equal(w["W1"], viz.ffn_weights(4, 16, seed=4)["W1"])


def test_hidden_data_by_hand():
    weights = {"W1": torch.tensor([[1.0, -1.0, 0.5], [1.0, 1.0, -2.0]]), "b1": torch.tensor([0.0, 0.5, -1.0]),
               "W2": torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), "b2": torch.tensor([0.1, -0.1])}
    x = torch.tensor([[1.0, -1.0], [2.0, 0.5]])
    data = viz.hidden_data(x, weights, "relu")
    assert torch.equal(data["pre"], torch.tensor([[0.0, -1.5, 1.5], [2.5, -1.0, -1.0]]))
    assert torch.equal(data["hidden"], torch.tensor([[0.0, 0.0, 1.5], [2.5, 0.0, 0.0]]))
    torch.testing.assert_close(data["output"], torch.tensor([[1.6, 1.4], [2.6, -0.1]]))
    torch.testing.assert_close(data["zero_share"], torch.tensor([2 / 3, 2 / 3]))
    assert data["zero_for_all"] == pytest.approx(1 / 3)  # unit 1 is zero for both tokens
    none = viz.hidden_data(x, weights, "none")
    assert torch.equal(none["hidden"], none["pre"]) and none["zero_for_all"] == 0.0


def test_hidden_data_equals_the_course_module():
    w = viz.ffn_weights(4, 16)
    x = viz.example_input()
    for activation in ("relu", "gelu"):
        ffn = PositionwiseFeedForward(4, 16, activation=activation)
        with torch.no_grad():
            ffn.linear1.weight.copy_(w["W1"].T)
            ffn.linear1.bias.copy_(w["b1"])
            ffn.linear2.weight.copy_(w["W2"].T)
            ffn.linear2.bias.copy_(w["b2"])
            torch.testing.assert_close(viz.hidden_data(x, w, activation)["output"], ffn(x))


def test_hidden_data_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        viz.hidden_data(viz.example_input(), viz.ffn_weights(4, 8), "tanh")


def test_line_data_kinks_are_where_units_switch():
    w = viz.ffn_weights(4, 16)
    line = viz.line_data(w, "relu", span=3.0, steps=241)
    assert line["t"].shape == (241,) and line["output"].shape == (241, 4)
    kinks = line["kinks"]
    assert 0 < len(kinks) <= 16 and torch.all(kinks.abs() <= 3.0) and torch.all(kinks[1:] >= kinks[:-1])
    # between two kinks the output is a straight line: second differences vanish away from the kinks
    second = line["output"][2:] - 2 * line["output"][1:-1] + line["output"][:-2]  # (S - 2, d_model)
    t_mid = line["t"][1:-1]
    near = (t_mid[:, None] - kinks[None, :]).abs().min(dim=1).values <= 0.026  # one grid step
    assert second[~near].abs().max() < 1e-5
    assert second[near].abs().max() > 1e-4


def test_line_data_without_activation_is_a_straight_line_and_gelu_has_no_kinks():
    w = viz.ffn_weights(4, 16)
    none = viz.line_data(w, "none")
    second = none["output"][2:] - 2 * none["output"][1:-1] + none["output"][:-2]
    assert second.abs().max() < 1e-5 and len(none["kinks"]) == 0
    assert len(viz.line_data(w, "gelu")["kinks"]) == 0


def test_activation_data():
    data = viz.activation_data(span=2.0, steps=5)
    assert torch.equal(data["x"], torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64))
    assert torch.equal(data["relu"], torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(data["gelu"], F.gelu(data["x"]))
    torch.testing.assert_close(data["swish"], data["x"] * torch.sigmoid(data["x"]))  # Swish(x) = x sigmoid(x)


def test_plot_activations_draws_the_three_curves():
    data = viz.activation_data()
    fig = viz.plot_activations(data)
    ax = fig.axes[0]
    for line, name in zip(ax.lines[:3], ("relu", "gelu", "swish"), strict=True):
        np.testing.assert_allclose(line.get_ydata(), data[name].numpy())
    assert ax.get_legend_handles_labels()[1] == ["relu", "gelu", "swish (SiLU)"]


def test_plot_ffn_draws_the_hidden_values_and_the_line():
    w = viz.ffn_weights(4, 16)
    hidden = viz.hidden_data(viz.example_input(), w, "relu")
    line = viz.line_data(w, "relu")
    fig = viz.plot_ffn(hidden, line, viz.TOKENS, title="a title")
    heat_ax, line_ax, bar_ax = fig.axes
    np.testing.assert_allclose(heat_ax.images[0].get_array(), hidden["hidden"].numpy())
    # the colorbar reads the heatmap's values: 0 (silent units) up to the largest hidden value
    assert heat_ax.images[0].colorbar.ax is bar_ax and bar_ax.get_ylabel() == "hidden value"
    assert bar_ax.get_ylim() == pytest.approx((0.0, hidden["hidden"].max().item()))
    assert [t.get_text() for t in heat_ax.get_yticklabels()] == ["I", "love", "AI"]
    assert heat_ax.get_xlabel() == "hidden unit (d_ff = 16)"
    assert heat_ax.get_title() == f"hidden activations: {hidden['zero_share'].mean().item():.0%} exactly zero"
    for k in range(2):
        np.testing.assert_allclose(line_ax.lines[k].get_xdata(), line["t"].numpy())
        np.testing.assert_allclose(line_ax.lines[k].get_ydata(), line["output"][:, k].numpy())
    segments = line_ax.collections[0].get_segments()  # one dotted line per kink
    np.testing.assert_allclose([s[0][0] for s in segments], line["kinks"].numpy())
    assert line_ax.get_title() == f"along one input direction: {len(line['kinks'])} kinks"
    assert fig._suptitle.get_text() == "a title"


def test_plot_ffn_without_kinks_draws_no_dotted_lines():
    w = viz.ffn_weights(4, 8)
    fig = viz.plot_ffn(viz.hidden_data(viz.example_input(), w, "gelu"), viz.line_data(w, "gelu"))
    assert not fig.axes[1].collections
    assert fig.axes[1].get_title() == "along one input direction: 0 kinks"


def test_explore_ffn_draws_one_figure(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda: None)
    assert viz.explore_ffn(d_ff=8, activation="gelu") is None
    fig = plt.gcf()
    assert fig._suptitle.get_text() == "d_model = 4, d_ff = 8, gelu"
    assert fig.axes[0].images[0].get_array().shape == (3, 8)
