"""Notebook 10's plots: the loss floor, the cross-attention data of a (tiny, untrained) model, and the Axes."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import Transformer, set_fused
from course_lib import toy_tasks as tt
from course_lib.viz import transformer as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Transformer(tt.VOCAB_SIZE, tt.VOCAB_SIZE, d_model=16, num_heads=2, num_encoder_layers=1,
                       num_decoder_layers=2, d_ff=32, dropout=0.0, max_len=16)


def test_smoothed_loss_floor_is_the_entropy_of_the_smoothed_target():
    vocab, eps = 14, 0.1
    q = torch.full((vocab,), eps / vocab, dtype=torch.float64)
    q[3] += 1 - eps
    assert viz.smoothed_loss_floor(vocab, eps) == pytest.approx(-(q * q.log()).sum().item())
    assert viz.smoothed_loss_floor(vocab, 0.0) == 0.0
    # a model that predicts q exactly reaches the floor under torch's label-smoothed cross-entropy
    loss = F.cross_entropy(q.log()[None], torch.tensor([3]), label_smoothing=eps)
    assert loss.item() == pytest.approx(viz.smoothed_loss_floor(vocab, eps))
    with pytest.raises(ValueError, match="smoothing must be in"):
        viz.smoothed_loss_floor(vocab, 1.0)


def test_plot_training_draws_each_task_and_the_floor():
    losses = {"copy": [2.0, 1.0, 0.6], "reverse": [2.5, 1.5, 0.7]}
    fig = viz.plot_training(losses, floor=0.5)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["copy", "reverse", "floor H(q) = 0.500"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), [2.5, 1.5, 0.7])
    np.testing.assert_array_equal(lines[2].get_ydata(), [0.5, 0.5])
    assert ax.get_xlabel() == "training step" and ax.get_ylabel() == "label-smoothed loss"


def test_digits_to_source_appends_eos():
    assert viz.digits_to_source([3, 1, 4]).tolist() == [[7, 5, 8, tt.EOS_ID]]
    with pytest.raises(ValueError, match=r"digits must be a non-empty list of 0..9, got \[3, 10\]"):
        viz.digits_to_source([3, 10])


def test_expected_source_positions_are_the_diagonal_and_the_anti_diagonal():
    assert viz.expected_source_positions("copy", 4).tolist() == [0, 1, 2, 3]
    assert viz.expected_source_positions("reverse", 4).tolist() == [3, 2, 1, 0]
    with pytest.raises(ValueError, match="task must be one of"):
        viz.expected_source_positions("sort", 4)


def test_cross_attention_data_of_a_tiny_model(model):
    set_fused(model)  # as after training: the function switches to the explicit path and back
    data = viz.cross_attention_data(model, "reverse", [3, 1, 4])
    weights = data["weights"]
    lt = len(data["queries"])
    assert weights.shape == (2, 2, lt, 4) and 1 <= lt <= 4
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, lt))
    assert data["source"] == ["3", "1", "4", "<eos>"] and data["queries"][0] == "<bos>"
    assert len(data["output"]) == lt
    assert data["expected"].tolist() == [2, 1, 0][:lt]
    # the score is the mean weight on the circled cells of the digit rows
    rows = range(min(3, lt))
    by_hand = torch.stack([weights[:, :, t, [2, 1, 0][t]] for t in rows]).mean(0)
    torch.testing.assert_close(data["scores"], by_hand)
    assert model.training and all(m.fused for m in model.modules() if hasattr(type(m), "fused"))


def test_cross_attention_data_matches_the_decoder_queries(model):
    model.eval()
    data = viz.cross_attention_data(model, "copy", [5, 5])
    src = viz.digits_to_source([5, 5])
    queries = torch.tensor([[tt.TOKEN_NAMES.index(name) for name in data["queries"]]])
    with torch.no_grad():
        model(src, queries)
    torch.testing.assert_close(data["weights"][1], model.decoder.layers[1].cross_attn.attn_weights[0])


def test_best_head_is_the_argmax_of_the_scores():
    data = {"scores": torch.tensor([[0.1, 0.2, 0.3], [0.9, 0.4, 0.2]])}
    assert viz.best_head(data) == (1, 0)


def _fake_data():
    weights = torch.zeros(2, 3, 4, 4)
    weights[1, 2] = torch.eye(4).flip(0)  # layer 1, head 2: the anti-diagonal
    return {"weights": weights, "source": ["3", "1", "4", "<eos>"], "queries": ["<bos>", "4", "1", "3"],
            "expected": torch.tensor([2, 1, 0]), "scores": torch.rand(2, 3), "output": []}


def test_plot_cross_attention_draws_the_chosen_head_and_the_circles():
    data = _fake_data()
    data["scores"][1, 2] = 0.75
    fig = viz.plot_cross_attention(data, layer=1, head=2)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), torch.eye(4).flip(0).numpy())
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[2, 0], [1, 1], [0, 2]])  # none on <eos>'s row
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "1", "4", "<eos>"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["<bos>", "4", "1", "3"]
    assert ax.get_title() == "layer 2, head 3: 75% on the circles"
    with pytest.raises(ValueError, match=r"layer must be in \[0, 2\) and head in \[0, 3\), got layer=2, head=0"):
        viz.plot_cross_attention(data, layer=2, head=0)


def test_plot_tasks_puts_each_task_on_its_own_axes():
    copy, reverse = _fake_data(), _fake_data()
    copy["weights"][0, 0] = torch.eye(4)
    fig = viz.plot_tasks({"copy": copy, "reverse": reverse}, {"copy": (0, 0), "reverse": (1, 2)})
    assert len(fig.axes) == 2
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), torch.eye(4).numpy())
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), torch.eye(4).flip(0).numpy())
    assert fig.axes[0].get_title().startswith("copy: layer 1, head 1")
    assert fig.axes[1].get_title().startswith("reverse: layer 2, head 3")


def test_explorer_counts_layers_and_heads_from_one(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    viz.cross_attention_explorer({"reverse": _fake_data()})("reverse", layer=2, head=3)
    np.testing.assert_array_equal(shown[0].axes[0].images[0].get_array(), torch.eye(4).flip(0).numpy())
    assert math.isclose(len(shown), 1)
