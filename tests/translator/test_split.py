"""Near copies and the group split: normalisation, word edit distance, the deletion-variant index, leakage."""

import itertools
import os
import random
from pathlib import Path

import pytest

from course_lib.translator.corpus import Pair, read_tsv
from course_lib.translator.near_copies import (
    NAME,
    POSSESSIVE,
    PRONOUN,
    deletion_variants,
    english_key,
    find_names,
    has_near_copy,
    target_key,
    within_edits,
)
from course_lib.translator.split import corpus_names, leakage, link_groups, split_by_group, split_pairs

TATOEBA = Path(os.environ.get("TATOEBA_TSV", Path(__file__).resolve().parents[3] / "shared" / "data"
                              / "tatoeba-cmn-eng.tsv"))
NAMES = frozenset({"tom", "mary"})


def levenshtein(a, b) -> int:
    """The textbook full-table word edit distance (the reference for the banded, early-exit one)."""
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
        table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return table[-1][-1]


@pytest.mark.parametrize("a, b", [
    ("I'm cold.", "I am cold"),
    ("Tom doesn't like Mary.", "Mary does not like Tom!"),
    ("He can't swim.", "She cannot swim."),
    ("It's raining.", "It is raining."),
    ("They\u2019ll come.", "We will come."),
    ("Let's go.", "Let us go."),
    ("My car is red.", "Their car is red."),
])
def test_english_key_makes_these_the_same(a, b):
    assert english_key(a, NAMES) == english_key(b, NAMES)


def test_english_key_words():
    assert english_key("Tom's dog isn't mine.", NAMES) == (NAME, "'s", "dog", "is", "not", POSSESSIVE)
    assert english_key("I'd like THAT one, please!", NAMES) == (PRONOUN, "would", "like", "that", "one", "please")
    assert english_key("Where's the bus?") == ("where", "is", "the", "bus")
    assert english_key("...") == ()


def test_find_names_capital_inside_a_sentence_and_never_lower():
    sentences = ["Tom likes Mary.", "I saw Tom.", "Will you come?", "Ask Will.", "I will go.", "Paris is big."]
    # "will" is written in lower case once; "paris" is capitalised only first in its sentence; "I" is no name
    assert find_names(sentences) == {"tom", "mary"}


def test_target_key_ignores_spaces_and_punctuation():
    assert target_key("我很冷。") == target_key("我 很冷！") == "我很冷"
    assert target_key("你好吗？") != target_key("你好。")


def test_within_edits_against_the_full_table():
    rng = random.Random(0)
    words = "a b c d".split()
    for _ in range(3000):
        a = tuple(rng.choices(words, k=rng.randint(0, 7)))
        b = tuple(rng.choices(words, k=rng.randint(0, 7)))
        for k in (0, 1, 2, 3):
            assert within_edits(a, b, k) == (levenshtein(a, b) <= k), (a, b, k)


def test_deletion_variants():
    variants = deletion_variants(("a", "b", "c", "d"), 2)
    assert len(variants) == 1 + 4 + 6 and ("a", "d") in variants and ("a",) not in variants
    assert deletion_variants(("a", "a"), 2) == {("a", "a"), ("a",), ()}


def test_has_near_copy_finds_exactly_what_comparing_every_pair_finds():
    rng = random.Random(1)
    words = "i you like tea coffee not the a big".split()
    corpus = [tuple(rng.choices(words, k=rng.randint(1, 8))) for _ in range(300)]
    queries = [tuple(rng.choices(words, k=rng.randint(1, 8))) for _ in range(200)]
    expected = [any(levenshtein(q, c) <= 2 for c in corpus) for q in queries]
    assert has_near_copy(queries, corpus) == expected
    assert 0 < sum(expected) < len(expected)  # both cases occur


def pair(src: str, tgt: str) -> Pair:
    return Pair(src, tgt)


CRAFTED = [
    pair("I'm cold.", "我很冷。"), pair("I am cold.", "我冷。"),                  # a contraction apart
    pair("Tom likes Mary.", "汤姆喜欢玛丽。"), pair("Mary likes Tom.", "玛丽喜欢汤姆。"),  # names swapped
    pair("Where is the old railway station?", "老火车站在哪儿？"),
    pair("How do I get to the railway station?", "老火车站在哪儿？"),          # one Chinese target
    pair("The quick brown fox jumps over the lazy dog.", "敏捷的棕色狐狸跳过了懒狗。"),
    pair("The quick brown cat jumps over the lazy dog today.", "敏捷的棕色猫今天跳过了懒狗。"),  # 2 edits
    pair("A chain of sentences links the first one.", "一"),
    pair("A chain of words links the first one now.", "二"),          # 2 edits from the one above
    pair("A chain of words links the second one now here.", "三"),    # 2 from the one above, 4 from the first
]


def test_link_groups_links_near_copies_transitively():
    groups = sorted(sorted(g) for g in link_groups(CRAFTED))
    assert groups == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9, 10]]


def unrelated(n: int) -> list[Pair]:
    """`n` pairs no two of which are near copies (each has four words of its own)."""
    return [pair(f"w{i}a w{i}b w{i}c w{i}d.", f"译{i}") for i in range(n)]


def test_group_split_keeps_groups_whole_and_is_seeded():
    pairs = CRAFTED + unrelated(60)
    splits = split_by_group(pairs, seed=4, valid_fraction=0.1, test_fraction=0.2)
    assert splits == split_by_group(pairs, seed=4, valid_fraction=0.1, test_fraction=0.2)
    assert splits != split_by_group(pairs, seed=5, valid_fraction=0.1, test_fraction=0.2)
    assert sorted(map(id, itertools.chain(*splits.values()))) == sorted(map(id, pairs))  # each pair once
    where = {p: name for name, split in splits.items() for p in split}
    for group in link_groups(pairs):
        assert len({where[pairs[i]] for i in group}) == 1
    unique = len({p.src for p in pairs})
    assert len({p.src for p in splits["test"]}) == round(0.2 * unique)  # singletons fill the room exactly
    assert len({p.src for p in splits["valid"]}) == round(0.1 * unique)
    names = corpus_names(splits)
    for held_out in ("valid", "test"):
        assert leakage(splits[held_out], splits["train"], names) == {"leak_target_seen": 0.0,
                                                                     "leak_within_2_edits": 0.0}


def test_a_group_too_large_for_test_goes_to_train():
    chain = [pair(f"w a b c d e f g {'x ' * i}.", f"链{i}") for i in range(12)]  # one insertion apart each
    splits = split_by_group(chain + unrelated(12), seed=0, valid_fraction=0.25, test_fraction=0.25)
    assert all(p in splits["train"] for p in chain)
    assert len(splits["test"]) == len(splits["valid"]) == 6


def test_leakage_counts_unique_held_out_sentences():
    train = [pair("I am cold.", "我很冷。"), pair("The big red house is ours.", "大红房子是我们的。")]
    held_out = [pair("She is cold.", "她很冷。"), pair("She is cold.", "她冷。"),   # within 2 edits
                pair("Where is my blue bicycle today?", "我很冷！"),              # its target was seen
                pair("Nothing here looks like anything else in training.", "新的")]
    figures = leakage(held_out, train, frozenset())
    assert figures == {"leak_target_seen": 1 / 3, "leak_within_2_edits": 1 / 3}
    assert leakage([], train, frozenset()) == {"leak_target_seen": 0.0, "leak_within_2_edits": 0.0}


def test_split_pairs_by_name():
    pairs = CRAFTED + unrelated(30)
    assert split_pairs(pairs, "group", 2) == split_by_group(pairs, seed=2)
    assert split_pairs(pairs, "source", 2) != split_pairs(pairs, "group", 2)
    with pytest.raises(ValueError, match="split_method must be one of"):
        split_pairs(pairs, "random")


@pytest.mark.skipif(not TATOEBA.is_file(), reason="the Tatoeba corpus is not on this machine")
def test_tatoeba_group_split_has_no_leaks_and_the_source_split_has_many():
    pairs = read_tsv(TATOEBA).pairs
    group, source = split_pairs(pairs, "group"), split_pairs(pairs, "source")
    unique = len({p.src for p in pairs})
    assert len({p.src for p in group["test"]}) == len({p.src for p in group["valid"]}) == round(0.05 * unique)
    names = corpus_names(group)
    assert leakage(group["test"], group["train"], names) == {"leak_target_seen": 0.0, "leak_within_2_edits": 0.0}
    leaks = leakage(source["test"], source["train"], names)
    assert leaks["leak_target_seen"] > 0.1 and leaks["leak_within_2_edits"] > 0.4
