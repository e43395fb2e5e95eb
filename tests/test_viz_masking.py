"""Notebook 04's mask builder: the data it returns and the images, tick labels and titles read back from the Axes."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import PAD_ID, causal_mask, padding_mask
from course_lib.viz import masking as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_batch_tokens_pads_right_and_left():
    right = viz.batch_tokens([3, 1, 0], max_len=4)
    assert torch.equal(right, torch.tensor([[4, 5, 6, 0], [4, 0, 0, 0], [0, 0, 0, 0]]))
    left = viz.batch_tokens([3, 1], max_len=4, padding_side="left")
    assert torch.equal(left, torch.tensor([[0, 4, 5, 6], [0, 0, 0, 4]]))
    assert PAD_ID == 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(lengths=[]), "lengths must hold 1 to 3"),
    (dict(lengths=[1, 2, 3, 4]), "lengths must hold 1 to 3"),
    (dict(lengths=[7]), r"each length must be an int in 0\.\.6, got lengths=\[7\]"),
    (dict(lengths=[2.0]), "each length must be an int"),
    (dict(lengths=[2], padding_side="middle"), "padding_side must be one of"),
])
def test_batch_tokens_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.batch_tokens(**kwargs)


def test_token_labels_are_the_words_and_pad():
    assert viz.token_labels(viz.batch_tokens([2, 3], max_len=4)) == [["我", "喜欢", "<pad>", "<pad>"],
                                                                    ["猫", "吃", "鱼", "<pad>"]]


def test_mask_builder_data_right_padding_causal_by_hand():
    data = viz.mask_builder_data([3, 1], causal=True, max_len=3)
    assert data["mask"].shape == (2, 1, 3, 3) and data["mask"].dtype == torch.bool
    assert data["padding"].shape == (2, 1, 1, 3) and data["causal"].shape == (1, 1, 3, 3)
    assert data["mask"][0, 0].int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert data["mask"][1, 0].int().tolist() == [[1, 0, 0], [1, 0, 0], [1, 0, 0]]
    assert not data["fully_masked"].any()
    assert torch.equal(data["padding"], padding_mask(data["tokens"], PAD_ID))
    assert torch.equal(data["mask"], padding_mask(data["tokens"], PAD_ID) & causal_mask(3))


def test_mask_builder_data_without_causal_is_the_padding_mask_on_every_row():
    data = viz.mask_builder_data([4, 2, 5], causal=False)
    assert torch.equal(data["mask"], data["padding"].expand(3, 1, 6, 6))
    assert data["mask"].sum(dim=(1, 2, 3)).tolist() == [24, 12, 30]


def test_mask_builder_data_left_padding_and_causal_leaves_fully_masked_rows():
    data = viz.mask_builder_data([4, 2, 0], causal=True, padding_side="left")
    assert data["fully_masked"].int().tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1] * 6]
    assert data["mask"][1, 0, 5].int().tolist() == [0, 0, 0, 0, 1, 1]
    assert data["lengths"] == [4, 2, 0]


def test_plot_masks_shows_each_sentence_mask_with_its_words():
    data = viz.mask_builder_data([4, 2, 5], causal=True)
    fig = viz.plot_masks(data)
    axes = fig.axes
    assert len(axes) == 3
    for b, ax in enumerate(axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), data["mask"][b, 0].int().numpy())
        assert [t.get_text() for t in ax.get_xticklabels()] == data["labels"][b]
        assert [t.get_text() for t in ax.get_yticklabels()] == data["labels"][b]
        assert ax.get_xlabel() == "key 键" and ax.get_ylabel() == "query 查询"
    assert [ax.get_title() for ax in axes] == ["sentence 1: 4 tokens", "sentence 2: 2 tokens", "sentence 3: 5 tokens"]
    assert [t.get_text() for t in axes[1].get_yticklabels()] == ["猫", "吃"] + ["<pad>"] * 4
    assert not any(ax.texts for ax in axes)  # no fully masked rows with right padding


def test_plot_masks_marks_the_fully_masked_rows():
    data = viz.mask_builder_data([4, 2, 0], causal=True, padding_side="left")
    axes = viz.plot_masks(data).axes
    marked = [sorted(round(text.get_position()[1]) for text in ax.texts) for ax in axes]
    assert marked == [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    assert all(text.get_text() == "fully masked" for ax in axes for text in ax.texts)


def test_explore_masks_draws_one_figure(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda: None)
    viz.explore_masks(3, 0, 6, causal=False, padding_side="left")
    fig = plt.gcf()
    assert len(fig.axes) == 3
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), np.zeros((6, 6), dtype=int))
