"""Notebook 03's cost section: exact counts, the measured data's structure and bytes, and the plot read back."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib.viz import attention_cost as cost

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_cost_counts_by_hand():
    counts = cost.cost_counts(10, d_model=8, num_heads=2, d_ff=32)
    assert counts == {
        "attention_macs": 2 * 10 * 10 * 8,  # Q K^T and A V
        "projection_macs": 4 * 10 * 8 * 8,
        "ffn_macs": 2 * 10 * 8 * 32,
        "score_bytes": 2 * 10 * 10 * 4,
        "hidden_bytes": 10 * 32 * 4,
    }


def test_the_crossovers_are_where_the_counts_meet():
    cross = cost.crossovers(d_model=512, num_heads=8, d_ff=2048)
    assert cross == {"macs": 2048, "bytes": 256}
    at = {length: cost.cost_counts(length, 512, 8, 2048) for length in (255, 256, 2047, 2048, 2049)}
    assert at[2048]["attention_macs"] == at[2048]["ffn_macs"] and at[2049]["attention_macs"] > at[2049]["ffn_macs"]
    assert at[2047]["attention_macs"] < at[2047]["ffn_macs"]
    assert at[256]["score_bytes"] == at[256]["hidden_bytes"] and at[255]["score_bytes"] < at[255]["hidden_bytes"]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(seq_len=0, d_model=8, num_heads=2, d_ff=8), ValueError, "seq_len must be a positive int, got seq_len=0"),
    (dict(seq_len=4, d_model=10, num_heads=3, d_ff=8), ValueError, "d_model=10 is not divisible by num_heads=3"),
    (dict(seq_len=4, d_model=8, num_heads=2, d_ff=2.5), TypeError, "d_ff must be an int"),
])
def test_cost_counts_rejects_bad_sizes(kwargs, error, match):
    with pytest.raises(error, match=match):
        cost.cost_counts(**kwargs)


def test_measure_cost_reads_the_bytes_the_counts_predict():
    data = cost.measure_cost(seq_lens=(8, 16), d_model=8, num_heads=2, d_ff=32, repeats=1)
    assert data["seq_len"] == [8, 16] and (data["d_model"], data["num_heads"], data["d_ff"]) == (8, 2, 32)
    for i, length in enumerate((8, 16)):
        counted = cost.cost_counts(length, 8, 2, 32)
        assert data["score_bytes"][i] == counted["score_bytes"] and data["hidden_bytes"][i] == counted["hidden_bytes"]
    assert all(t > 0 for t in data["attention_s"] + data["ffn_s"])  # times: only that they were taken
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        cost.measure_cost(seq_lens=(8,), d_model=8, num_heads=2, d_ff=32, repeats=0)


def test_plot_cost_draws_times_bytes_and_the_crossovers():
    data = {"seq_len": [32, 64, 128], "d_model": 64, "num_heads": 4, "d_ff": 256,
            "attention_s": [1e-4, 3e-4, 1e-3], "ffn_s": [2e-4, 3e-4, 4e-4],
            "score_bytes": [16384, 65536, 262144], "hidden_bytes": [32768, 65536, 131072]}
    time_ax, bytes_ax = cost.plot_cost(data).axes
    np.testing.assert_allclose(time_ax.lines[0].get_ydata(), [0.1, 0.3, 1.0])  # ms
    np.testing.assert_allclose(time_ax.lines[1].get_ydata(), [0.2, 0.3, 0.4])
    np.testing.assert_allclose(bytes_ax.lines[0].get_ydata(), [1 / 64, 1 / 16, 1 / 4])  # MiB
    assert time_ax.lines[2].get_xdata()[0] == 256 and bytes_ax.lines[2].get_xdata()[0] == 64
    assert time_ax.get_xscale() == bytes_ax.get_yscale() == "log"
    assert bytes_ax.get_legend_handles_labels()[1][2] == "L = 64: equal bytes"
    assert time_ax.get_xlabel() == "sequence length L"
