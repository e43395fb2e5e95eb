"""Notebook 01's plots: the similarity and size data, and the same numbers read back from the Axes."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.viz import embeddings as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_token_vectors_are_seeded_and_scaled_by_sqrt_d_model():
    raw = viz.token_vectors(16, 3, scaled=False, seed=5)
    assert raw.shape == (3, 16) and raw.dtype == torch.float64
    assert torch.equal(raw, viz.token_vectors(16, 3, scaled=False, seed=5))
    assert torch.equal(viz.token_vectors(16, 3, scaled=True, seed=5), raw * 4.0)
    small, unit = list(viz.INITS)
    assert small == viz.DEFAULT_INIT  # TokenEmbedding's N(0, 1/d_model)
    assert torch.equal(viz.token_vectors(16, 3, init=unit, scaled=False, seed=5), raw * 4.0)


def test_token_vectors_reject_an_unknown_init():
    with pytest.raises(ValueError, match="init must be one of"):
        viz.token_vectors(8, init="xavier")


def test_similarity_data_by_hand():
    vectors = torch.tensor([[3.0, 4.0], [4.0, -3.0], [6.0, 8.0]])
    data = viz.similarity_data(vectors)
    assert torch.equal(data["norm"], torch.tensor([5.0, 5.0, 10.0]))
    assert torch.equal(data["dot"], torch.tensor([[25.0, 0.0, 50.0], [0.0, 25.0, 0.0], [50.0, 0.0, 100.0]]))
    assert torch.allclose(data["cosine"], torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]))


def test_scaling_multiplies_dot_products_by_d_model_and_leaves_cosines_alone():
    raw = viz.similarity_data(viz.token_vectors(32, scaled=False))
    scaled = viz.similarity_data(viz.token_vectors(32, scaled=True))
    torch.testing.assert_close(scaled["dot"], raw["dot"] * 32)
    torch.testing.assert_close(scaled["norm"], raw["norm"] * math.sqrt(32))
    torch.testing.assert_close(scaled["cosine"], raw["cosine"])


def test_positional_norms_are_sqrt_half_d_model():
    torch.testing.assert_close(viz.positional_norms(5, 8), torch.full((5,), 2.0, dtype=torch.float64))


def test_plot_similarity_draws_the_data_with_token_labels():
    data = viz.similarity_data(viz.token_vectors(8))
    pe = viz.positional_norms(3, 8)
    fig = viz.plot_similarity(data, viz.TOKENS, pe, title="a title")
    dot_ax, cos_ax, bar_ax = fig.axes
    np.testing.assert_allclose(dot_ax.images[0].get_array(), data["dot"].numpy())
    np.testing.assert_allclose(cos_ax.images[0].get_array(), data["cosine"].numpy())
    assert cos_ax.images[0].get_clim() == (-1.0, 1.0)
    for ax in (dot_ax, cos_ax):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["I", "like", "apples"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["I", "like", "apples"]
    assert cos_ax.texts[0].get_text() == "1.00"  # each cell is annotated with its value
    assert dot_ax.texts[1].get_text() == f"{data['dot'][0, 1].item():.2f}"
    vectors, positions = bar_ax.containers
    assert [b.get_height() for b in vectors] == pytest.approx(data["norm"].tolist())
    assert [b.get_height() for b in positions] == pytest.approx([2.0, 2.0, 2.0])
    assert bar_ax.get_legend_handles_labels()[1] == ["token vector", "positional encoding"]
    assert fig._suptitle.get_text() == "a title"


def test_plot_similarity_without_positions_has_two_panels():
    fig = viz.plot_similarity(viz.similarity_data(torch.eye(3)), ["a", "b", "c"])
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), np.eye(3))


def test_explorer_draws_its_settings():
    viz.explore_similarity(d_model=64, scaled=False, init=list(viz.INITS)[1])
    fig = plt.gcf()
    expected = viz.similarity_data(viz.token_vectors(64, 3, list(viz.INITS)[1], scaled=False))
    assert "init N(0, 1): nn.Embedding's default" in fig._suptitle.get_text()
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), expected["cosine"].numpy())
    assert [b.get_height() for b in fig.axes[2].containers[1]] == pytest.approx([math.sqrt(32)] * 3)
    assert "d_model = 64, no scale" in fig._suptitle.get_text()


def test_large_values_are_annotated_without_decimals():
    fig = viz.plot_similarity(viz.similarity_data(torch.tensor([[30.0, 0.0], [0.0, 0.5]])), ["a", "b"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["900", "0.00", "0.00", "0.25"]


def test_norm_growth_follows_the_square_roots():
    d_models = [16, 64, 256]
    data = viz.norm_growth_data(d_models, rows=512)
    positions, small, scaled, unit = data
    assert [small, scaled, unit] == ["N(0, 1/d) table", "N(0, 1/d) table × √d: TokenEmbedding",
                                     "N(0, 1) table × √d: nn.Embedding's init"]
    assert data[positions] == pytest.approx([math.sqrt(d / 2) for d in d_models])
    assert data[small] == pytest.approx([1.0] * 3, rel=0.05)
    assert data[scaled] == pytest.approx([math.sqrt(d) for d in d_models], rel=0.05)
    assert data[unit] == pytest.approx([float(d) for d in d_models], rel=0.05)


def test_plot_norm_growth_draws_every_series():
    d_models = [8, 32]
    data = viz.norm_growth_data(d_models, rows=64)
    ax = viz.plot_norm_growth(d_models, data).axes[0]
    assert [line.get_label() for line in ax.lines] == list(data)
    for line, norms in zip(ax.lines, data.values(), strict=True):
        assert list(line.get_xdata()) == d_models and list(line.get_ydata()) == norms
    assert ax.get_xlabel() == "d_model" and ax.get_ylabel() == "mean vector norm"
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_the_default_init_is_token_embeddings():
    from course_lib import TokenEmbedding

    assert viz.INITS[viz.DEFAULT_INIT](64) == 64**-0.5
    table = TokenEmbedding(2000, 64).lookup.weight.detach()
    assert table.std().item() == pytest.approx(64**-0.5, rel=0.02)


def test_the_size_legend_leaves_the_bars_free():
    fig = viz.plot_similarity(viz.similarity_data(viz.token_vectors(256)), viz.TOKENS, viz.positional_norms(3, 256))
    fig.canvas.draw()
    bar_ax = fig.axes[2]
    legend = bar_ax.get_legend().get_window_extent()
    assert all(bar.get_window_extent().y1 < legend.y0 for bar in bar_ax.patches)
