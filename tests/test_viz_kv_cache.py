"""Notebook 09's cost plot: the two ways compute the same step, the counted work equals the formula, and the figure
shows the numbers it was given. Timings are only checked for their form (no timed assertions in unit tests)."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import Decoder, set_fused
from course_lib.viz import kv_cache as viz

matplotlib.use("Agg")

D_MODEL, D_FF, SOURCE = 8, 16, 3


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def decoder_and_memory():
    torch.manual_seed(0)
    memory = torch.randn(1, SOURCE, D_MODEL, generator=torch.Generator().manual_seed(1))  # (1, Ls, d_model)
    return Decoder(1, D_MODEL, 2, D_FF, dropout=0.0).eval(), memory


def test_the_cached_step_computes_the_uncached_steps_last_row(decoder_and_memory):
    decoder, memory = decoder_and_memory
    with torch.no_grad():
        uncached = viz.decode_step(decoder, memory, 5, cached=False)()  # (1, 6, d_model)
        cached = viz.decode_step(decoder, memory, 5, cached=True)()  # (1, 1, d_model)
    assert uncached.shape == (1, 6, D_MODEL) and cached.shape == (1, 1, D_MODEL)
    torch.testing.assert_close(cached[:, 0], uncached[:, -1], atol=1e-6, rtol=0)


def test_a_cached_step_has_room_for_the_extra_steps_asked_for(decoder_and_memory):
    decoder, memory = decoder_and_memory
    with torch.no_grad():
        step = viz.decode_step(decoder, memory, 2, cached=True, extra_steps=3)
        for _ in range(4):
            step()
        with pytest.raises(ValueError, match="max_len=6"):
            step()


def test_counted_operations_equal_the_formula(decoder_and_memory):
    # one layer; 2 m n k operations per (m, k) @ (k, n) product: projections, scores and weights @ values
    decoder, memory = decoder_and_memory
    d, f, s = D_MODEL, D_FF, SOURCE
    lengths = [1, 2, 7]
    counts = viz.step_flops(decoder, memory, lengths)
    for i, prefix in enumerate(lengths):
        n = prefix + 1  # positions the uncached step runs; the keys either way
        uncached = (4 * 2 * n * d * d + 2 * 2 * n * n * d  # self-attention: W^Q, W^K, W^V, W^O; scores and mixing
                    + 2 * 2 * n * d * d + 2 * 2 * s * d * d + 2 * 2 * n * s * d  # cross-attention, memory projected
                    + 2 * 2 * n * d * f)  # the FFN
        cached = 4 * 2 * d * d + 2 * 2 * n * d + 2 * 2 * d * d + 2 * 2 * s * d + 2 * 2 * d * f  # memory: cached
        assert (counts["uncached"][i], counts["cached"][i]) == (uncached, cached)


def test_counting_leaves_the_decoder_as_it_was(decoder_and_memory):
    decoder, memory = decoder_and_memory
    set_fused(decoder, True).train()
    viz.step_flops(decoder, memory, [2])
    assert decoder.training and decoder.layers[0].self_attn.fused


def test_step_times_give_one_positive_time_per_length_and_way(decoder_and_memory):
    decoder, memory = decoder_and_memory
    times = viz.step_times(decoder, memory, [1, 4], repeats=2)
    assert set(times) == {"uncached", "cached"}
    assert all(len(values) == 2 and all(t > 0 for t in values) for values in times.values())


def test_decode_step_and_step_times_check_their_sizes(decoder_and_memory):
    decoder, memory = decoder_and_memory
    with pytest.raises(ValueError, match="prefix_len"):
        viz.decode_step(decoder, memory, 0, cached=True)
    with pytest.raises(ValueError, match="repeats"):
        viz.step_times(decoder, memory, [1], repeats=0)


def test_plot_step_costs_draws_milliseconds_and_megaflops():
    lengths = [8, 16, 32]
    times = {"uncached": [0.002, 0.004, 0.010], "cached": [0.001, 0.001, 0.0011]}
    flops = {"uncached": [4e6, 9e6, 2e7], "cached": [1e6, 1.1e6, 1.2e6]}
    time_ax, work_ax = viz.plot_step_costs(lengths, times, flops).axes
    for ax, values, unit in ((time_ax, times, 1e3), (work_ax, flops, 1e-6)):
        assert [line.get_label() for line in ax.lines] == ["uncached", "cached"]
        for line, way in zip(ax.lines, ("uncached", "cached"), strict=True):
            np.testing.assert_allclose(line.get_xdata(), lengths)
            np.testing.assert_allclose(line.get_ydata(), np.array(values[way]) * unit)
        assert ax.get_yscale() == "log"
    assert "ms" in time_ax.get_ylabel() and "MFLOP" in work_ax.get_ylabel()
