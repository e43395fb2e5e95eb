"""Notebook 05's plots: the hand-set heads attend where they are named for, and the Axes show those weights."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib.viz import multi_head_attention as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_position_codes_are_unit_points_60_degrees_apart():
    codes = viz.position_codes(4)  # (4, 2)
    torch.testing.assert_close(codes.norm(dim=-1), torch.ones(4))
    cosines = (codes[1:] * codes[:-1]).sum(-1)  # cos of the angle between neighbours
    torch.testing.assert_close(cosines, torch.full((3,), 0.5))


def test_rotation_turns_each_position_code_into_the_next():
    codes = viz.position_codes(5)
    torch.testing.assert_close(codes[:-1] @ viz.rotation(viz.STEP).T, codes[1:])


def test_each_head_picks_its_target():
    weights = viz.head_maps_data()  # (H, L, L)
    assert weights.shape == (4, 4, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 4))
    assert torch.equal(weights.argmax(-1), viz.head_targets())
    assert viz.head_targets().tolist() == [[0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 3], [0, 0, 0, 0]]
    assert weights.max(-1).values.min() > 0.95


def test_scores_are_sharpness_times_cosine():
    weights = viz.head_maps_data(sharpness=2.0)  # same token head: scores 2 cos((i - j) * 60 degrees)
    i, j = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    expected = torch.softmax(2.0 * torch.cos((i - j) * viz.STEP), dim=-1)
    torch.testing.assert_close(weights[1], expected)


def test_sharpness_zero_is_uniform_and_negative_is_refused():
    torch.testing.assert_close(viz.head_maps_data(0.0), torch.full((4, 4, 4), 0.25))
    with pytest.raises(ValueError, match="sharpness must be a number >= 0, got sharpness=-1"):
        viz.pattern_heads(-1)


def test_values_carry_the_attended_position():
    mha = viz.pattern_heads()
    out = mha(viz.sentence_input())[0]  # (L, d_model): W^O = I, so head h's output is in columns 2h, 2h + 1
    codes = viz.position_codes(4)
    for head in range(4):
        got = out[:, 2 * head:2 * head + 2]  # (L, 2): a blend of position codes, near the target's
        nearest = (got @ codes.T).argmax(-1)
        assert torch.equal(nearest, viz.head_targets()[head])


def test_plot_head_maps_draws_every_head():
    weights = viz.head_maps_data()
    fig = viz.plot_head_maps(weights)
    axes = fig.axes
    assert len(axes) == 4
    for head, ax in enumerate(axes):
        np.testing.assert_allclose(ax.images[0].get_array(), weights[head].numpy())
        assert ax.get_title() == f"head {head + 1}: {viz.HEAD_NAMES[head]}"  # heads counted from 1 on the plots
        assert [t.get_text() for t in ax.get_xticklabels()] == list(viz.TOKENS)
    assert axes[0].get_ylabel() and not axes[1].get_ylabel()


def test_explorer_shows_the_head_and_the_average(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    viz.explore_heads(head=3, sharpness=3.0)  # the third head, counted from 1 as in the dropdown: index 2
    left, right = shown[0].axes
    weights = viz.head_maps_data(3.0)
    np.testing.assert_allclose(left.images[0].get_array(), weights[2].numpy())
    np.testing.assert_allclose(right.images[0].get_array(), weights.mean(0).numpy(), rtol=1e-6)
    assert left.get_title() == "head 3: next token" and "average" in right.get_title()
    assert math.isclose(right.images[0].get_array().sum(), 4.0, rel_tol=1e-5)


@pytest.mark.parametrize("head", [0, 5, 1.0])
def test_explorer_rejects_a_head_outside_1_to_4(head):
    with pytest.raises(ValueError, match=rf"head must be an int in 1..4, got head={head!r}"):
        viz.explore_heads(head=head)


def test_head_layout_data_gives_each_head_its_columns():
    layouts = viz.head_layout_data(8, 2)
    assert layouts["contiguous"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert layouts["interleaved"].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    six = viz.head_layout_data(6, 3)
    assert six["contiguous"].tolist() == [0, 0, 1, 1, 2, 2] and six["interleaved"].tolist() == [0, 1, 2, 0, 1, 2]
    one = viz.head_layout_data(4, 4)  # d_k = 1: the two layouts agree
    assert torch.equal(one["contiguous"], one["interleaved"])
    with pytest.raises(ValueError, match="d_model=6 is not divisible by num_heads=4"):
        viz.head_layout_data(6, 4)


def test_plot_head_layouts_labels_each_cell_with_its_head_counted_from_1():
    layouts = viz.head_layout_data(8, 2)
    fig = viz.plot_head_layouts(layouts)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), torch.stack(list(layouts.values())).numpy())
    assert [t.get_text() for t in ax.texts] == ["1", "1", "1", "1", "2", "2", "2", "2",
                                                "1", "2", "1", "2", "1", "2", "1", "2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["contiguous", "interleaved"]
    assert ax.get_title() == "2 heads of d_k = 4: two layouts"
