"""Notebooks 08 and 09's plots: the attention maps and influence data, and the same numbers read back from the Axes."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import PAD_ID, Decoder, Encoder, causal_mask, padding_mask, set_fused
from course_lib.viz import encoder_decoder as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def batch():
    """Two sentences of 4 and 3 tokens (the second padded), embedded at d_model=8, and their padding mask."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([[4, 5, 6, 7], [8, 9, 10, PAD_ID]])  # (B=2, L=4)
    return torch.randn(2, 4, 8, generator=generator), padding_mask(ids, PAD_ID)


def _encoder(num_layers=3):
    torch.manual_seed(0)
    return Encoder(num_layers, d_model=8, num_heads=2, d_ff=16)


def test_encoder_maps_are_every_layers_weights(batch):
    x, mask = batch
    encoder = _encoder()
    maps = viz.encoder_attention_maps(encoder, x, mask)
    assert maps.shape == (3, 2, 2, 4, 4)
    torch.testing.assert_close(maps.sum(dim=-1), torch.ones(3, 2, 2, 4))
    assert torch.equal(maps[:, 1, :, :, 3], torch.zeros(3, 2, 4))  # no query reads the <pad> key
    state = x
    with torch.no_grad():
        for i, layer in enumerate(encoder.eval().layers):  # layer i's weights come from layer i's own input
            layer(state, mask)
            torch.testing.assert_close(maps[i], layer.self_attn.attn_weights)
            state = layer(state, mask)


def test_maps_come_back_with_the_model_as_it_was(batch):
    x, mask = batch
    encoder = set_fused(_encoder(), True).train()
    first = viz.encoder_attention_maps(encoder, x, mask)
    assert encoder.training and encoder.layers[0].self_attn.fused  # training mode and the fused path restored
    torch.testing.assert_close(viz.encoder_attention_maps(encoder, x, mask), first)  # dropout was off for the maps


def test_decoder_maps_self_is_causal_and_cross_skips_source_padding(batch):
    memory, memory_mask = batch
    torch.manual_seed(1)
    decoder = Decoder(2, d_model=8, num_heads=2, d_ff=16)
    y = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(2))  # (B=2, Lt=3, d_model)
    maps = viz.decoder_attention_maps(decoder, y, memory, causal_mask(3), memory_mask)
    assert maps["self"].shape == (2, 2, 2, 3, 3) and maps["cross"].shape == (2, 2, 2, 3, 4)
    upper = torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)
    assert torch.equal(maps["self"][..., upper], torch.zeros(2, 2, 2, 3))  # no weight on a later position
    assert torch.equal(maps["self"][..., 0, 0], torch.ones(2, 2, 2))  # the first position sees only itself
    assert torch.equal(maps["cross"][:, 1, :, :, 3], torch.zeros(2, 2, 3))  # source 2's <pad>
    torch.testing.assert_close(maps["cross"].sum(dim=-1), torch.ones(2, 2, 2, 3))


def test_plot_attention_draws_the_weights_with_tokens_and_zeros_marked():
    weights = torch.tensor([[1.0, 0.0], [0.25, 0.75], [0.5, 0.5]])
    ax = viz.plot_attention(weights, ["a", "b", "c"], ["x", "y"], "a title").axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), weights.numpy())
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    assert [t.get_text() for t in ax.texts] == ["1.00", "0", "0.25", "0.75", "0.50", "0.50"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("keys", "queries", "a title")


def test_plot_attention_rejects_tokens_that_do_not_fit():
    with pytest.raises(ValueError, match=r"weights must be \(len\(queries\), len\(keys\)\) = \(2, 2\), got shape "
                                         r"\(3, 2\)"):
        viz.plot_attention(torch.zeros(3, 2), ["a", "b"], ["x", "y"])


def test_plot_layers_draws_one_head_in_every_layer(batch):
    x, mask = batch
    maps = viz.encoder_attention_maps(_encoder(), x, mask)[:, 1]  # (N=3, H=2, 4, 4)
    tokens = ["I", "love", "AI", "<pad>"]
    fig = viz.plot_layers(maps, head=2, queries=tokens, keys=tokens)
    assert len(fig.axes) == 3
    for layer, ax in enumerate(fig.axes):
        np.testing.assert_allclose(ax.images[0].get_array(), maps[layer, 1].numpy())
        assert ax.get_title() == f"layer {layer + 1}, head 2"
        assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    assert fig._suptitle.get_text() == "self-attention, layer by layer"


def test_plot_layers_checks_its_arguments():
    maps = torch.full((2, 2, 3, 3), 1 / 3)
    with pytest.raises(ValueError, match="head in 1..2, got layer=1, head=3"):
        viz.plot_layers(maps, head=3, queries="abc", keys="abc")
    with pytest.raises(ValueError, match="kind must be one of"):
        viz.plot_layers(maps, head=1, queries="abc", keys="abc", kind="both")


def test_explorer_draws_the_chosen_kind_layer_and_head():
    maps = {"self": torch.rand(2, 3, 2, 2), "cross": torch.rand(2, 3, 2, 4)}
    tokens = {"self": (["a", "b"], ["a", "b"]), "cross": (["a", "b"], ["p", "q", "r", "s"])}
    show = viz.attention_explorer(maps, tokens)
    show("cross", 2, 3)
    ax = plt.gcf().axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), maps["cross"][1, 2].numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["p", "q", "r", "s"]
    assert ax.get_title() == "cross-attention: layer 2, head 3"
    with pytest.raises(ValueError, match="layer must be in 1..2"):
        show("self", 3, 1)


def test_explorer_wants_matching_kinds():
    with pytest.raises(ValueError, match="maps and tokens must have the same keys"):
        viz.attention_explorer({"self": torch.rand(1, 1, 2, 2)}, {"cross": ([], [])})


def test_influence_of_a_position_wise_function_is_diagonal():
    x = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0))
    influence = viz.influence_data(lambda v: 2 * v, x, row=1)
    assert influence.shape == (4, 4)
    assert torch.equal(influence * (1 - torch.eye(4)), torch.zeros(4, 4))  # nothing crosses positions
    assert (influence.diagonal() > 0).all()


def test_influence_of_a_running_sum_is_lower_triangular():
    x = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(0))
    influence = viz.influence_data(lambda v: v.cumsum(dim=1), x)  # output i reads inputs 0..i
    assert torch.equal(influence == 0, torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1))


def test_influence_under_the_padding_mask(batch):
    x, mask = batch
    encoder = _encoder().eval()
    with torch.no_grad():
        masked = viz.influence_data(lambda v: encoder(v, mask), x, row=1)
        unmasked = viz.influence_data(lambda v: encoder(v), x, row=1)
    assert torch.equal(masked[:3, 3], torch.zeros(3))  # <pad> reaches no real word
    assert masked[3, 3] > 0 and (unmasked > 0).all()


def test_plot_influence_draws_each_panel_with_exact_zeros_marked():
    panels = {"one": torch.tensor([[1.0, 0.0], [0.5, 2.0]]), "two": torch.tensor([[0.25, 0.0], [0.0, 0.0]])}
    fig = viz.plot_influence(panels, ["a", "b"])
    for ax, (title, matrix) in zip(fig.axes, panels.items(), strict=True):
        np.testing.assert_allclose(ax.images[0].get_array(), matrix.numpy())
        assert ax.images[0].get_clim() == (0.0, 2.0)  # one colour scale for every panel
        assert ax.get_title() == title
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("changed input position", "output position")
        assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.00", "0", "0.50", "2.00"]
    assert [t.get_text() for t in fig.axes[1].texts] == ["0.25", "0", "0", "0"]
