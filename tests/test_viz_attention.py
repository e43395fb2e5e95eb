"""Notebook 03's plots: attention maps and softmax saturation, and the same numbers read back from the Axes."""

import math
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.viz import attention as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_random_qk_are_seeded_float64():
    q, k = viz.random_qk(4, 16, seed=3)
    assert q.shape == k.shape == (4, 16) and q.dtype == torch.float64
    q2, k2 = viz.random_qk(4, 16, seed=3)
    assert torch.equal(q, q2) and torch.equal(k, k2) and not torch.equal(q, k)
    with pytest.raises(ValueError, match="d_k must be a positive int, got d_k=0"):
        viz.random_qk(4, 0)


def test_attention_map_data_is_softmax_of_the_scaled_scores():
    q, k = viz.random_qk(4, 9)
    weights = viz.attention_map_data(9, scaled=True)
    torch.testing.assert_close(weights, torch.softmax(q @ k.T / 3, dim=-1))
    torch.testing.assert_close(viz.attention_map_data(9, scaled=False), torch.softmax(q @ k.T, dim=-1))
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, dtype=torch.float64))


def test_without_the_scale_wide_rows_are_nearly_one_hot():
    assert viz.attention_map_data(512, scaled=False).max(dim=-1).values.min().item() > 0.95
    assert viz.attention_map_data(512, scaled=True).max(dim=-1).values.max().item() < 0.8


def test_saturation_data_scaled_stays_put_unscaled_saturates():
    scaled = viz.saturation_data([1, 64, 1024], scaled=True, num_queries=1000)
    unscaled = viz.saturation_data([1, 64, 1024], scaled=False, num_queries=1000)
    assert scaled["d_k"] == [1, 64, 1024]
    assert scaled["score_std"] == pytest.approx([1.0] * 3, rel=0.1)
    assert unscaled["score_std"] == pytest.approx([1.0, 8.0, 32.0], rel=0.1)  # std of q.k is sqrt(d_k)
    assert max(scaled["max_weight"]) < 0.6 and unscaled["max_weight"][-1] > 0.95
    assert min(scaled["entropy"]) > 1.0 and unscaled["entropy"][-1] < 0.1
    assert all(0 <= h <= math.log(4) for h in scaled["entropy"] + unscaled["entropy"])


def test_saturation_at_d_k_1_is_the_same_with_or_without_the_scale():
    one = viz.saturation_data([1], scaled=True, num_queries=50)
    assert one == viz.saturation_data([1], scaled=False, num_queries=50)


def test_plot_attention_map_shows_weights_and_tokens():
    weights = viz.attention_map_data(8)
    fig = viz.plot_attention_map(weights, viz.TOKENS, title="a title")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), weights.numpy())
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["猫", "吃", "了", "鱼"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["猫", "吃", "了", "鱼"]
    assert ax.get_xlabel() == "key 键" and ax.get_ylabel() == "query 查询"
    assert ax.texts[1].get_text() == f"{weights[0, 1].item():.2f}"
    assert ax.get_title() == "a title"


def test_plot_attention_map_with_different_query_and_key_tokens():
    weights = torch.full((2, 3), 1 / 3)
    ax = viz.plot_attention_map(weights, ["I", "am"], ["我", "是", "猫"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["我", "是", "猫"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["I", "am"]
    assert [t.get_text() for t in ax.texts] == ["0.33"] * 6


def test_plot_saturation_draws_both_curves_and_the_marker():
    scaled = viz.saturation_data([1, 4, 16], scaled=True, num_queries=100)
    unscaled = viz.saturation_data([1, 4, 16], scaled=False, num_queries=100)
    fig = viz.plot_saturation(scaled, unscaled, d_k=4)
    max_ax, entropy_ax = fig.axes
    for ax, key in [(max_ax, "max_weight"), (entropy_ax, "entropy")]:
        np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 4, 16])
        np.testing.assert_allclose(ax.lines[0].get_ydata(), scaled[key])
        np.testing.assert_allclose(ax.lines[1].get_ydata(), unscaled[key])
        assert ax.lines[2].get_xdata()[0] == 4  # the marker at the chosen d_k
        assert ax.get_xlabel() == "d_k"
    assert max_ax.lines[3].get_ydata()[0] == 0.25
    assert entropy_ax.lines[3].get_ydata()[0] == pytest.approx(math.log(4))
    assert max_ax.get_legend_handles_labels()[1] == ["÷ √d_k", "no scale", "uniform 1/4"]


def test_explore_saturation_draws_its_settings():
    viz.explore_saturation(d_k=256, scaled=False)
    heat_ax, max_ax, _ = plt.gcf().axes
    np.testing.assert_allclose(heat_ax.images[0].get_array(), viz.attention_map_data(256, scaled=False).numpy())
    assert heat_ax.get_title() == "d_k = 256, no scale"
    assert max_ax.lines[2].get_xdata()[0] == 256
    np.testing.assert_allclose(max_ax.lines[1].get_ydata(), viz.saturation_data(scaled=False)["max_weight"])


def test_saturation_curves_are_the_default_data_computed_once():
    scaled, unscaled = viz.saturation_curves()
    assert viz.saturation_curves()[0] is scaled  # cached: the explorer does not recompute them on every move
    assert scaled == viz.saturation_data(scaled=True) and unscaled == viz.saturation_data(scaled=False)
    assert scaled["d_k"] == list(viz.D_KS)


def test_every_plot_draws_without_a_warning():
    viz.explore_saturation(d_k=8, scaled=True)
    figures = [plt.gcf(), viz.plot_attention_map(viz.attention_map_data(4), ["I", "love", "AI", "猫"])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Glyph ... missing from font(s)" for a character the font lacks
        for fig in figures:
            fig.canvas.draw()


def test_gradient_data_is_autograds_gradient_of_a_random_loss():
    data = viz.gradient_data([4], scaled=True, num_queries=3, seed=5)
    # the same draws by hand: q, k, then the upstream gradient G, from one generator
    generator = torch.Generator().manual_seed(5)
    q = torch.randn(3, 1, 4, generator=generator, dtype=torch.float64)
    k = torch.randn(3, 4, 4, generator=generator, dtype=torch.float64)
    upstream = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    weights = torch.softmax((q @ k.transpose(-2, -1)).squeeze(1) / 2, dim=-1)  # (3, 4)
    # dL/dq = sum_j (dL/dS_j) k_j / sqrt(d_k), with dL/dS = A (G - <A, G>)
    grad_scores = weights * (upstream - (weights * upstream).sum(-1, keepdim=True))  # (3, 4)
    norms = ((grad_scores[:, :, None] * k).sum(1) / 2).norm(dim=-1)  # (3,)
    assert data["median"] == pytest.approx([norms.median().item()])
    assert data["tiny_share"] == [(norms < 0.01).double().mean().item()]
    assert data["p10"][0] <= data["median"][0] <= data["p90"][0]


def test_without_the_scale_the_gradient_vanishes_for_most_rows():
    scaled = viz.gradient_data([1, 64, 512], scaled=True, num_queries=1000)
    unscaled = viz.gradient_data([1, 64, 512], scaled=False, num_queries=1000)
    assert scaled["median"][0] == unscaled["median"][0]  # d_k = 1: the scale is 1
    assert all(0.1 < m < 0.5 for m in scaled["median"]) and max(scaled["tiny_share"]) < 0.05
    assert unscaled["median"][-1] < 1e-3 * scaled["median"][-1] and unscaled["tiny_share"][-1] > 0.5
    assert unscaled["p90"][-1] > scaled["p90"][-1]  # the few rows that still learn get larger, erratic updates


def test_gradient_curves_are_the_default_data_computed_once():
    scaled, unscaled = viz.gradient_curves()
    assert viz.gradient_curves()[1] is unscaled
    assert scaled["d_k"] == list(viz.D_KS)
    first = viz.gradient_data(viz.D_KS[:3], scaled=True)  # one generator: the same draws as the curves' first widths
    assert all(scaled[key][:3] == first[key] for key in ("p10", "median", "p90", "tiny_share"))


def test_plot_gradients_draws_the_medians_the_bands_and_the_tiny_shares():
    scaled = viz.gradient_data([1, 4, 16], scaled=True, num_queries=100)
    unscaled = viz.gradient_data([1, 4, 16], scaled=False, num_queries=100)
    norm_ax, share_ax = viz.plot_gradients(scaled, unscaled).axes
    np.testing.assert_allclose(norm_ax.lines[0].get_ydata(), scaled["median"])
    np.testing.assert_allclose(norm_ax.lines[1].get_ydata(), unscaled["median"])
    assert len(norm_ax.collections) == 2 and norm_ax.get_yscale() == "log"  # the two 10-90 % bands
    np.testing.assert_allclose(share_ax.lines[1].get_ydata(), unscaled["tiny_share"])
    assert norm_ax.get_xlabel() == share_ax.get_xlabel() == "d_k"
    assert share_ax.get_legend_handles_labels()[1] == ["÷ √d_k", "no scale"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norm_ax.figure.canvas.draw()
