"""Notebook 07's plots: activation and gradient size through a deep stack, and the same numbers read from the Axes."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import LayerNorm
from course_lib.viz import add_and_norm as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def stack():
    return viz.stack_data(num_layers=12, d_model=32, num_tokens=8, gain=0.8, seed=0)


def test_random_sublayers_shapes_seed_and_scale():
    layers = viz.random_sublayers(3, 16, gain=2.0, seed=5)
    assert len(layers) == 3 and all(W1.shape == (16, 64) and W2.shape == (64, 16) for W1, W2 in layers)
    again = viz.random_sublayers(3, 16, gain=2.0, seed=5)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(layers, again, strict=True))
    big = viz.random_sublayers(40, 64, gain=2.0)
    std_W1 = torch.cat([W1.flatten() for W1, _ in big]).std().item()
    assert std_W1 == pytest.approx(2.0 * math.sqrt(2 / 64), rel=0.02)  # He initialisation times the gain


def test_wrap_follows_each_formula():
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0]], dtype=torch.float64)
    norm = LayerNorm(4).double()

    def f(y):
        return 2 * y + 1

    assert torch.equal(viz.wrap(x, f, "no residual, no norm", norm), f(x))
    assert torch.equal(viz.wrap(x, f, "residual, no norm", norm), x + f(x))
    torch.testing.assert_close(viz.wrap(x, f, "post-norm", norm), norm(x + f(x)))
    torch.testing.assert_close(viz.wrap(x, f, "pre-norm", norm), x + f(norm(x)))
    with pytest.raises(ValueError, match="config must be one of"):
        viz.wrap(x, f, "sandwich", norm)


def test_stack_data_shapes_and_the_input_layer(stack):
    assert list(stack) == list(viz.CONFIGS)
    for series in stack.values():
        assert series["std"].shape == (13,) and series["grad"].shape == (13,)
    first = {config: series["std"][0].item() for config, series in stack.items()}
    assert len(set(first.values())) == 1  # every config starts from the same input
    last_grads = {series["grad"][-1].item() for series in stack.values()}
    assert max(last_grads) - min(last_grads) < 1e-9  # d(loss)/d(h_N) is the read-out itself


def test_stack_data_by_hand_for_one_layer():
    data = viz.stack_data(num_layers=1, d_model=8, num_tokens=3, gain=1.0, seed=4)
    (W1, W2), = viz.random_sublayers(1, 8, 1.0, seed=4)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(3, 8, generator=generator, dtype=torch.float64)
    f = F.relu(x @ W1) @ W2
    norm = LayerNorm(8).double()
    expected = {"no residual, no norm": f, "residual, no norm": x + f, "post-norm": norm(x + f),
                "pre-norm": x + F.relu(norm(x) @ W1) @ W2}
    for config, h in expected.items():
        assert data[config]["std"].tolist() == pytest.approx([x.std(correction=0).item(), h.std(correction=0).item()])


def test_norms_keep_the_activations_in_range_and_plain_stacks_do_not(stack):
    post = stack["post-norm"]["std"][1:]
    torch.testing.assert_close(post, torch.ones_like(post), atol=1e-3, rtol=0)
    plain = stack["no residual, no norm"]
    assert plain["std"][-1] < 0.1 * plain["std"][0]  # the activations vanish at gain 0.8 ...
    assert plain["grad"][0] < 0.1 * plain["grad"][-1]  # ... and so does the gradient reaching the input
    residual = stack["residual, no norm"]["std"]
    assert torch.all(residual[1:] > residual[:-1])  # every residual sum is bigger than the last
    pre = stack["pre-norm"]["std"]
    assert residual[-1] > 3 * pre[-1] and pre[-1] > 1.5


def test_plot_stack_draws_the_data(stack):
    fig = viz.plot_stack(stack, title="a title")
    std_ax, grad_ax = fig.axes
    assert len(std_ax.lines) == len(grad_ax.lines) == 4
    for line, (config, series) in zip(std_ax.lines, stack.items(), strict=True):
        np.testing.assert_allclose(line.get_xdata(), np.arange(13))
        np.testing.assert_allclose(line.get_ydata(), series["std"].numpy())
        assert line.get_label() == f"{config}: {viz.CONFIGS[config]}"
    for line, series in zip(grad_ax.lines, stack.values(), strict=True):
        np.testing.assert_allclose(line.get_ydata(), series["grad"].numpy())
    assert std_ax.get_yscale() == grad_ax.get_yscale() == "log"
    assert std_ax.get_xlabel() == grad_ax.get_xlabel() == "layer l"
    assert std_ax.get_legend_handles_labels()[1][2] == "post-norm: LN(x + f(x))"
    assert fig._suptitle.get_text() == "a title"


def test_explore_stack_draws_one_figure(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda: None)
    assert viz.explore_stack(num_layers=3, gain=1.2, d_model=8) is None
    fig = plt.gcf()
    assert fig._suptitle.get_text() == "3 layers, d_model = 8, weights × 1.20 of He initialisation"
    assert len(fig.axes[0].lines[0].get_ydata()) == 4
