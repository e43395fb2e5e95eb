"""Notebook 02's plots: table, curves, dot products and circle data, and the same numbers read back from the Axes."""

import math
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import sinusoidal_positional_encoding
from course_lib.viz import positional_encoding as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_heatmap_data_is_the_float64_table():
    table = viz.pe_heatmap_data(10, 6)
    assert table.shape == (10, 6) and table.dtype == torch.float64
    torch.testing.assert_close(table.float(), sinusoidal_positional_encoding(10, 6))
    assert table[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert table[2, 0].item() == pytest.approx(math.sin(2))


def test_default_dims_pick_the_first_pair_a_middle_and_the_last_sin():
    assert viz.default_dims(16) == [0, 1, 8, 14]
    assert viz.default_dims(4) == [0, 1, 2]
    assert viz.default_dims(2) == [0, 1]


def test_wavelengths_run_from_2pi_to_10000_2pi():
    assert viz.wavelength(0, 512) == pytest.approx(2 * math.pi)
    assert viz.wavelength(1, 512) == viz.wavelength(0, 512)  # a sin and its cos share the frequency
    assert viz.wavelength(256, 512) == pytest.approx(2 * math.pi * 100)
    assert viz.wavelength(2, 4) == pytest.approx(2 * math.pi * 100)


def test_curves_data_are_the_table_columns():
    data = viz.pe_curves_data(20, 8, [0, 3, 6])
    table = viz.pe_heatmap_data(20, 8)
    assert data["dims"] == [0, 3, 6]
    assert torch.equal(data["position"], torch.arange(20))
    torch.testing.assert_close(data["curves"], table[:, [0, 3, 6]].T)
    assert data["wavelength"] == pytest.approx([2 * math.pi, 2 * math.pi * 10, 2 * math.pi * 1000])


def test_curves_data_reject_a_dimension_outside_the_table():
    with pytest.raises(ValueError, match=r"dims must lie in \[0, 8\) for d_model=8, got dim=8"):
        viz.pe_curves_data(5, 8, [0, 8])


def test_plot_pe_draws_the_table_curves_and_row():
    table = viz.pe_heatmap_data(32, 8)
    curves = viz.pe_curves_data(32, 8, [0, 1, 6])
    fig = viz.plot_pe(table, curves, position=5)
    heat_ax, curve_ax, bar_ax = fig.axes[:3]
    np.testing.assert_allclose(heat_ax.images[0].get_array(), table.numpy())
    assert heat_ax.images[0].get_clim() == (-1.0, 1.0)
    assert heat_ax.get_xlabel() == "dimension 维度" and heat_ax.get_ylabel() == "position 位置"
    assert heat_ax.lines[0].get_ydata()[0] == 5  # the chosen position, marked on the heatmap
    lines = [line for line in curve_ax.lines if len(line.get_xdata()) == 32]
    for line, dim in zip(lines, [0, 1, 6], strict=True):
        np.testing.assert_allclose(line.get_ydata(), table[:, dim].numpy())
    labels = curve_ax.get_legend_handles_labels()[1]
    assert labels == ["dim 0 (sin, period 6)", "dim 1 (cos, period 6)", "dim 6 (sin, period 6283)"]
    assert [bar.get_height() for bar in bar_ax.patches] == pytest.approx(table[5].tolist())
    assert bar_ax.get_title() == "PE(pos = 5)"


def test_plot_pe_without_a_position_has_two_panels_and_a_colorbar():
    fig = viz.plot_pe(viz.pe_heatmap_data(8, 4), viz.pe_curves_data(8, 4, [0]))
    assert len(fig.axes) == 3  # heatmap, curves, colour bar
    assert fig.axes[1].get_title() == "one curve per dimension"


def test_explore_pe_draws_its_settings():
    viz.explore_pe(d_model=12, position=100, max_len=40)
    fig = plt.gcf()
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), viz.pe_heatmap_data(40, 12).numpy())
    assert fig.axes[2].get_title() == "PE(pos = 39)"  # a position past the table is clamped to its last row
    assert len(fig.axes[2].patches) == 12


def test_dot_products_depend_only_on_the_distance():
    data = viz.dot_vs_distance_data(16, 30, anchors=(0, 7, 40))
    assert data["dots"].shape == (3, 31)
    for dots in data["dots"]:
        torch.testing.assert_close(dots, data["formula"])
    assert data["formula"][0].item() == pytest.approx(8.0)  # |PE(p)|^2 = d_model / 2
    table = viz.pe_heatmap_data(71, 16)
    assert data["dots"][1, 12].item() == pytest.approx((table[7] @ table[19]).item())


def test_dot_vs_distance_rejects_an_odd_width():
    with pytest.raises(ValueError, match="d_model must be even .* got d_model=5"):
        viz.dot_vs_distance_data(5, 10)


def test_plot_dot_vs_distance_draws_one_line_per_anchor_and_the_formula():
    data = viz.dot_vs_distance_data(8, 20, anchors=(0, 3))
    fig = viz.plot_dot_vs_distance(data)
    ax = fig.axes[0]
    assert ax.get_legend_handles_labels()[1] == ["p = 0", "p = 3", r"$\sum_i \cos(k\,\omega_i)$"]
    for line, values in zip(ax.lines, [*data["dots"], data["formula"]], strict=True):
        np.testing.assert_allclose(line.get_xdata(), np.arange(21))
        np.testing.assert_allclose(line.get_ydata(), values.numpy())
    assert ax.get_xlabel() == "distance k = |p − q|"


def test_explore_dot_vs_distance_uses_zero_and_the_anchor():
    viz.explore_dot_vs_distance(d_model=32, anchor=9, max_distance=15)
    ax = plt.gcf().axes[0]
    assert ax.get_legend_handles_labels()[1][:2] == ["p = 0", "p = 9"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), viz.dot_vs_distance_data(32, 15, (0, 9))["dots"][1].numpy())


def test_pair_points_lie_on_the_unit_circle():
    points = viz.pair_points(12, 8, pair=1)
    table = viz.pe_heatmap_data(12, 8)
    torch.testing.assert_close(points, table[:, 2:4])
    torch.testing.assert_close(points.norm(dim=-1), torch.ones(12, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"pair must lie in \[0, 4\) for d_model=8, got pair=4"):
        viz.pair_points(12, 8, pair=4)


def test_plot_pair_circle_draws_points_labels_and_arrows():
    points = viz.pair_points(6, 4, pair=0)
    fig = viz.plot_pair_circle(points, shift=2)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), points.numpy())
    arrows = [t for t in ax.texts if t.get_text() == ""]
    labels = [t.get_text() for t in ax.texts if t.get_text()]
    assert labels == ["0", "1", "2", "3", "4", "5"]
    assert len(arrows) == 4  # pos -> pos + 2 for pos = 0..3
    np.testing.assert_allclose(arrows[0].xy, points[2].numpy())
    assert ax.get_title() == "pos → pos + 2 turns by the same angle"


def test_every_plot_draws_without_a_warning():
    figures = [viz.plot_pe(viz.pe_heatmap_data(16, 8), viz.pe_curves_data(16, 8, [0, 1]), position=3),
               viz.plot_dot_vs_distance(viz.dot_vs_distance_data(8, 10)),
               viz.plot_pair_circle(viz.pair_points(6, 4, pair=0), shift=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Glyph ... missing from font(s)" for a character the font lacks
        for fig in figures:
            fig.canvas.draw()


def test_the_curves_legend_sits_below_the_curves():  # issue 12: it used to cover the peaks of the curves
    fig = viz.plot_pe(viz.pe_heatmap_data(64, 16), viz.pe_curves_data(64, 16, viz.default_dims(16)), position=10)
    fig.canvas.draw()
    curve_ax = fig.axes[1]
    legend = curve_ax.get_legend().get_window_extent()
    assert legend.y1 <= curve_ax.get_window_extent().y0  # entirely under the plotting area
    assert legend.y0 >= 0  # and still inside the figure


def test_plot_pe_curves_alone_draws_the_columns_with_their_periods():
    data = viz.pe_curves_data(101, 20, [4, 5, 6, 7])
    ax = viz.plot_pe_curves(data, title="dims 4-7").axes[0]
    for line, curve in zip(ax.lines, data["curves"], strict=True):
        np.testing.assert_allclose(line.get_ydata(), curve.numpy())
    assert ax.get_legend_handles_labels()[1] == ["dim 4 (sin, period 40)", "dim 5 (cos, period 40)",
                                                 "dim 6 (sin, period 100)", "dim 7 (cos, period 100)"]
    assert ax.get_title() == "dims 4-7"
