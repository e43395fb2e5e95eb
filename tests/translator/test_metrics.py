"""Scores: sacrebleu BLEU (zh tokenizer for Chinese) with multiple references, chrF, exact match, phenomena."""

import random

import pytest
from sacrebleu.metrics import BLEU

from course_lib.translator.corpus import Pair
from course_lib.translator.metrics import clipped_matches, corpus_scores, phenomenon_accuracy, reference_streams


def test_perfect_and_ranges():
    scores = corpus_scores(["我喜欢茶。", "他在公园看书。"], ["我喜欢茶。", "他在公园看书。"], "zh")
    assert scores["bleu"] == pytest.approx(100) and scores["chrf"] == pytest.approx(100)
    assert scores["exact_match"] == 1.0 and scores["n"] == 2
    assert "tok:zh" in scores["signature"] and "nrefs:1" in scores["signature"]


def test_second_reference_counts():
    refs = [["我们走吧。", "走吧。"], ["谢谢你。"]]
    scores = corpus_scores(["走吧。", "谢谢你。"], refs, "zh")
    assert scores["bleu"] == pytest.approx(100) and scores["exact_match"] == 1.0
    single = corpus_scores(["走吧。", "谢谢你。"], [r[0] for r in refs], "zh")
    assert single["bleu"] < 100 and single["exact_match"] == 0.5


def test_repeating_a_reference_changes_nothing():
    hyps = ["我昨天吃了苹果。", "他没看书。"]
    one = corpus_scores(hyps, [["我昨天吃了两个苹果。"], ["他没看书。"]], "zh")
    two = corpus_scores(hyps, [["我昨天吃了两个苹果。", "我昨天吃了两个苹果。"], ["他没看书。"]], "zh")
    assert one["bleu"] == pytest.approx(two["bleu"]) and one["chrf"] == pytest.approx(two["chrf"])
    assert reference_streams([["a", "b"], ["c"]]) == [["a", "c"], ["b", "c"]]


def test_chinese_needs_the_zh_tokenizer_and_others_use_13a():
    hyps, refs = ["我昨天吃了两个苹果。"], ["我昨天吃了三个苹果。"]
    assert corpus_scores(hyps, refs, "zh")["bleu"] > 30
    spaced = corpus_scores(["the cat sat ."], ["the cat sat ."], "fr")
    assert spaced["bleu"] == pytest.approx(100) and "tok:13a" in spaced["signature"]


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="one reference"):
        corpus_scores(["a"], ["a", "b"], "zh")


def test_phenomenon_accuracy():
    pairs = [Pair("a", "甲。", ("ma_question",)), Pair("b", "乙。", ("ma_question", "measure_word")),
             Pair("c", "丙。", ())]
    assert phenomenon_accuracy(pairs, ["甲。", "错。", "丙。"]) == {"ma_question": 0.5, "measure_word": 0.0}


@pytest.mark.parametrize("seed", range(20))
def test_clipped_matches_are_sacrebleus_counts(seed):
    # sacrebleu's BLEU, told not to tokenise, keeps per order the clipped matches (counts) and n-grams (totals)
    rng = random.Random(seed)
    words = "a b c d e".split()
    hypothesis = [rng.choice(words) for _ in range(rng.randint(1, 9))]
    references = [[rng.choice(words) for _ in range(rng.randint(1, 9))] for _ in range(rng.randint(1, 3))]
    stats = BLEU(tokenize="none").corpus_score([" ".join(hypothesis)], [[" ".join(r)] for r in references])
    for n in range(1, 5):
        assert clipped_matches(hypothesis, references, n) == (stats.counts[n - 1], stats.totals[n - 1])
