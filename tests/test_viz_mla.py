"""Notebook 11's plots and measurements: the data they draw, read back from the Axes."""

import math

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from course_lib import GroupedQueryAttention, MultiHeadAttention, MultiHeadLatentAttention, mla_sizes
from course_lib.viz import mla as viz

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_measured_cache_matches_the_formulas_at_deepseek_v2_sizes():
    v2 = viz.DEEPSEEK_V2
    n_h, d_h = v2["num_heads"], v2["head_dim"]
    with torch.device("meta"):
        modules = {
            "MHA": (MultiHeadAttention(n_h * d_h, n_h), n_h * d_h),
            "GQA (8 groups)": (GroupedQueryAttention(n_h * d_h, n_h, 8), n_h * d_h),
            "MQA": (GroupedQueryAttention(n_h * d_h, n_h, 1), n_h * d_h),
            "MLA": (MultiHeadLatentAttention(v2["d_model"], n_h, v2["kv_lora_rank"], d_h, v2["qk_rope_head_dim"], d_h,
                                             q_lora_rank=v2["q_lora_rank"]), v2["d_model"]),
        }
    measured = {name: viz.measured_cache_elements_per_token(m, d) for name, (m, d) in modules.items()}
    formulas = viz.cache_elements_per_token(n_h, d_h, 8, v2["kv_lora_rank"], v2["qk_rope_head_dim"])
    assert measured == formulas == {"MHA": 32768, "GQA (8 groups)": 2048, "MQA": 256, "MLA": 576}


def test_measurement_works_on_a_real_device_too():
    mla = MultiHeadLatentAttention(16, 2, **mla_sizes(16, 2))
    assert viz.measured_cache_elements_per_token(mla, 16, tokens=3) == 4 * 8 + 4 == mla.kv_cache_elements_per_token()


def test_cache_memory_data_and_plot():
    contexts = [1024, 4096]
    data = viz.cache_memory_data({"MHA": 32768, "MLA": 576}, contexts, num_layers=60, bytes_per_element=2)
    assert data["MHA"][0] == 32768 * 60 * 2 * 1024 / 2**30 == 3.75
    assert math.isclose(data["MLA"][1], 576 * 60 * 2 * 4096 / 2**30)
    fig = viz.plot_cache_memory(contexts, data)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["MHA", "MLA"]
    assert list(ax.lines[0].get_xdata()) == contexts and list(ax.lines[0].get_ydata()) == data["MHA"]
    assert ax.get_xlabel() == "context length (tokens)" and ax.get_ylabel() == "KV cache (GiB)"
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_explorer_draws_the_formulas_with_the_ratio_in_the_title():
    fig = viz.cache_explorer_figure(max_context_log2=12)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["MHA", "GQA (8 groups)", "MQA", "MLA"]
    assert list(ax.lines[3].get_xdata()) == [1024, 2048, 4096]
    assert math.isclose(ax.lines[0].get_ydata()[0], 3.75)  # 32,768 numbers x 60 layers x 2 bytes x 1K tokens
    assert ax.get_title() == "MLA caches 56.9x less than MHA, like GQA with 2.25 groups"


def test_attention_macs_by_hand():
    # H=2, d_h=3, d_h^R=2, d_v=4, d_c=5; one query over T=10
    naive = viz.attention_macs(2, 3, 2, 4, 5, queries=1, context=10, absorb=False)
    assert naive == 10 * 5 * 2 * (3 + 4) + 2 * 10 * (3 + 2) + 2 * 10 * 4 == 880
    absorbed = viz.attention_macs(2, 3, 2, 4, 5, queries=1, context=10, absorb=True)
    assert absorbed == 2 * 3 * 5 + 2 * 10 * (5 + 2) + 2 * 10 * 5 + 2 * 5 * 4 == 310


def test_absorption_pays_in_decode_but_not_in_long_prefill():
    v2 = dict(num_heads=128, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, kv_lora_rank=512)
    contexts = [256, 4096, 65536]
    cost = viz.absorption_cost_data(v2, contexts)
    decode, prefill = cost["decode"], cost["prefill"]
    assert all(n > 50 * a for n, a in zip(decode["naive"], decode["absorbed"], strict=True))
    ratio = prefill["absorbed"][-1] / prefill["naive"][-1]  # attention widths: (2 d_c + d_h^R) vs (2 d_h + d_h^R)
    assert 1.5 < ratio < (2 * 512 + 64) / (2 * 128 + 64)
    fig = viz.plot_absorption_cost(contexts, cost)
    assert [ax.get_title() for ax in fig.axes] == ["decode: 1 new token", "prefill: T new tokens"]
    assert list(fig.axes[0].lines[0].get_ydata()) == decode["naive"]
    assert list(fig.axes[1].lines[1].get_ydata()) == prefill["absorbed"]


def test_decode_step_seconds_and_plot():
    mla = MultiHeadLatentAttention(16, 2, **mla_sizes(16, 2)).eval()
    seconds = viz.decode_step_seconds(mla, context=20, absorb=True, steps=2, warmup=1, chunk=8)
    assert 0 < seconds < 1
    fig = viz.plot_decode_times([16, 32], {"naive": [2.0, 3.0], "absorbed": [1.0, 1.5]})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["naive", "absorbed"]
    assert list(ax.lines[1].get_ydata()) == [1.0, 1.5] and ax.get_ylabel() == "decode step (ms)"


def test_rope_score_matrix_is_constant_along_diagonals():
    scores = viz.rope_score_matrix(dim=8, length=6)
    assert scores.shape == (6, 6)
    for offset in range(-5, 6):
        diagonal = torch.diagonal(scores, offset)
        assert (diagonal.max() - diagonal.min()).item() <= 1e-12
    assert torch.diagonal(scores, 1)[0] != torch.diagonal(scores, -1)[0]  # m - n = 1 and -1 differ
    fig = viz.plot_rope_scores(scores)
    ax = fig.axes[0]
    assert torch.allclose(torch.as_tensor(ax.images[0].get_array()), scores)
    assert ax.get_xlabel() == "key position n" and ax.get_ylabel() == "query position m"
