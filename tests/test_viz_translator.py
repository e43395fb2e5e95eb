"""Notebook 12's beam-search picture: the data drawn from a trace, read back from the Axes."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import EOS_ID, Transformer
from course_lib.translator.dataset import Languages
from course_lib.translator.grammar import toy_corpus
from course_lib.translator.translate import Translator
from course_lib.viz import translator as viz

matplotlib.use("Agg")

WORDS = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
A, B = 4, 5
L4, L6, L25 = math.log(0.4), math.log(0.6), math.log(0.25)
# two beams: step 1 finishes <eos> and keeps a and b live; step 2 finishes "b <eos>" and keeps "a a", "b b"
TRACE = [
    {"step": 1, "live": [((A,), L6), ((B,), L25)], "finished": [((EOS_ID,), L4, L4)], "pool": [((EOS_ID,), L4, L4)],
     "bound": -0.3, "stop": None},
    {"step": 2, "live": [((A, A), L6 - 1.0), ((B, B), L25 - 0.1)], "finished": [((B, EOS_ID), L25 - 0.5, -1.2)],
     "pool": [((EOS_ID,), L4, L4), ((B, EOS_ID), L25 - 0.5, -1.2)], "bound": -0.5, "stop": "the pool holds K"},
]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_beam_search_data_joins_each_point_to_its_prefix():
    data = viz.beam_search_data(TRACE, WORDS)
    assert [(p["step"], p["word"], p["parent"]) for p in data["live"]] == [
        (1, "a", 0.0), (1, "b", 0.0), (2, "a", L6), (2, "b", L25)]
    assert [(p["step"], p["word"], p["parent"], p["normalised"]) for p in data["finished"]] == [
        (1, "<eos>", 0.0, L4), (2, "<eos>", L25, -1.2)]
    assert data["pool"] == [("<eos>", L4), ("b <eos>", -1.2)] and data["stop"] == "the pool holds K"


def test_plot_beam_search_draws_the_beams_and_the_pool():
    fig = viz.plot_beam_search(viz.beam_search_data(TRACE, WORDS))
    tree, pool = fig.axes
    live, finished = tree.collections
    np.testing.assert_allclose(live.get_offsets(), [[1, L6], [1, L25], [2, L6 - 1.0], [2, L25 - 0.1]])
    np.testing.assert_allclose(finished.get_offsets(), [[1, L4], [2, L25 - 0.5]])
    assert len(tree.get_lines()) == 6  # one edge per point, to the prefix it extends
    assert [t.get_text() for t in tree.texts] == ["a", "b", "a", "b", "<eos>", "<eos>"]
    assert "the pool holds K" in tree.get_title()
    bars = pool.patches
    assert [round(b.get_width(), 4) for b in bars] == [-1.2, round(L4, 4)]  # best on top (drawn last)
    assert [t.get_text() for t in pool.get_yticklabels()] == ["b <eos>", "<eos>"]
    assert [t.get_text() for t in pool.texts] == ["-1.20", f"{L4:.2f}"]


def test_translation_beam_data_of_a_tiny_translator():
    torch.manual_seed(0)
    languages = Languages.build(toy_corpus(seed=0)["train"][:200], "zh", min_freq=1)
    model = Transformer(len(languages.src_vocab), len(languages.tgt_vocab), d_model=16, num_heads=2,
                        num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.0, max_len=12)
    with torch.no_grad():
        model.generator.bias[EOS_ID] += 2.0  # untrained: make <eos> likely enough that hypotheses finish
    translator = Translator(model, languages, max_len=12, device=torch.device("cpu"))
    data = viz.translation_beam_data(translator, "I like tea .", beam=3)
    words = languages.tgt_vocab.to_list()
    assert data["stop"] == "the pool holds K" and len(data["pool"]) >= 3
    assert data["live"] and all(p["word"] in words for p in data["live"])
    assert all(p["word"] == "<eos>" for p in data["finished"])
    # the translation is the best of the pool
    best = translator.translate(["I like tea ."], beam=3)[0]
    assert data["pool"][0][0].replace(" ", "").removesuffix("<eos>") == best
