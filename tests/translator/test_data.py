"""The translator's data: the toy grammar, TSV reading and splitting, tokenizers, vocabularies and batches."""

import collections
from pathlib import Path

import pytest
import torch

from course_lib import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from course_lib.translator.batching import encode_pairs, make_batches, pad_batch
from course_lib.translator.corpus import Pair, read_tsv, references, split_by_source
from course_lib.translator.dataset import Languages, guess_target_lang
from course_lib.translator.grammar import (
    ADJECTIVES,
    NOUNS,
    PHENOMENA,
    PLACES,
    SUBJECTS,
    TIMES,
    VERBS,
    Verb,
    build,
    check_phenomena,
    toy_corpus,
)
from course_lib.translator.metrics import corpus_scores, phenomenon_accuracy, phenomenon_check_accuracy
from course_lib.translator.tokenizers import default_tokenizers, tokenizer
from course_lib.translator.vocab import Vocab

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"
FRENCH = Path(__file__).parent / "fixtures" / "mini_fr.tsv"
TATOEBA = Path(__file__).resolve().parents[3] / "shared" / "data" / "tatoeba-cmn-eng.tsv"


@pytest.fixture(scope="module")
def toy():
    return toy_corpus(seed=0)


def test_toy_corpus_is_deterministic_and_sized(toy):
    assert toy == toy_corpus(seed=0)
    assert len(toy["test"]) >= 1000 and len(toy["train"]) >= 20_000
    assert len(NOUNS) >= 40 and len(VERBS) >= 20


def test_toy_splits_share_no_sentence_and_test_combos_are_unseen(toy):
    train = {p.src for p in toy["train"]}
    assert not train & {p.src for p in toy["valid"]} and not train & {p.src for p in toy["test"]}
    assert not {p.src for p in toy["valid"]} & {p.src for p in toy["test"]}
    assert len(toy["test"]) >= 1000
    # every (noun, verb, measure word) of the test split is absent from the whole training split
    train_combos = {p.combo for p in toy["train"]}
    test_combos = {p.combo for p in toy["test"]}
    assert all(len(c) == 3 for c in train_combos | test_combos)
    assert test_combos and not test_combos & train_combos
    assert not {p.combo for p in toy["valid"]} & train_combos
    # ... while each noun and each verb of the test split does appear in training (with other partners)
    assert {c[0] for c in test_combos} <= {c[0] for c in train_combos}
    assert {c[1] for c in test_combos} <= {c[1] for c in train_combos}


def test_recorded_combos_match_the_sentences(toy):
    en = tokenizer("en_words")
    nouns, verbs = {n.en: n for n in NOUNS}, {v.base: v for v in VERBS}
    for p in toy["test"][:500] + toy["train"][:500]:
        noun, verb, measure = p.combo
        words = set(en.encode(p.src))
        assert {nouns[noun].en, nouns[noun].plural} & words, p
        assert {verbs[verb].base, verbs[verb].third, verbs[verb].past, verbs[verb].ing} & words, p
        assert measure == nouns[noun].measure and nouns[noun].zh in p.tgt and verbs[verb].zh in p.tgt, p


def test_every_source_has_one_translation(toy):
    translations = collections.defaultdict(set)
    for pairs in toy.values():
        for p in pairs:
            translations[p.src].add(p.tgt)
    assert all(len(t) == 1 for t in translations.values())


@pytest.mark.parametrize("phenomenon", PHENOMENA)
def test_every_phenomenon_is_in_the_test_set(toy, phenomenon):
    assert sum(phenomenon in p.phenomena for p in toy["test"]) >= 100


def word(table, english):
    return next(entry for entry in table if english in (entry[0] if isinstance(entry, tuple) else entry.base
                                                         if isinstance(entry, Verb) else entry.en))


def test_grammar_by_hand(toy):
    mary, you, she, i = (word(SUBJECTS, name) for name in ("Mary", "you", "she", "I"))
    chairs, tigers, beer, flowers, noodles = (word(NOUNS, n) for n in ("chair", "tiger", "beer", "flower", "noodles"))
    find, sell, buy, eat = (word(VERBS, v) for v in ("find", "sell", "buy", "eat"))
    red, beautiful = word(ADJECTIVES, "red"), word(ADJECTIVES, "beautiful")
    last_week, last_night = word(TIMES["past"], "last week"), word(TIMES["past"], "last night")
    next_week = word(TIMES["future"], "next week")
    library, park = word(PLACES, "in the library"), word(PLACES, "in the park")
    by_hand = [
        # time and place move before the verb; 了 marks the past; the measure word agrees with the noun
        (build(mary, find, chairs, "past", "affirmative", 9, red, last_week, library),
         "Mary found nine red chairs in the library last week.", "玛丽上周在图书馆找到了九把红椅子。"),
        (build(you, sell, tigers, "past", "question", 3, None, last_night),  # 吗 has no English word
         "Did you sell three tigers last night?", "你昨晚卖了三只老虎吗？"),
        (build(she, buy, beer, "past", "negative"), "She did not buy beer.", "她没买啤酒。"),  # 没 and no 了
        (build(she, buy, flowers, "future", "affirmative", 5, beautiful),  # 的 after a two-syllable adjective
         "She will buy five beautiful flowers.", "她会买五朵漂亮的花。"),
        (build(i, eat, noodles, "future", "affirmative", 10, None, next_week, park),  # 会 comes before the place
         "I will eat ten bowls of noodles in the park next week.", "我下周会在公园吃十碗面条。"),
        (build(she, buy, noodles, "progressive", "affirmative", 1),
         "She is buying a bowl of noodles.", "她在买一碗面条。"),
    ]
    for pair, src, tgt in by_hand:
        assert (pair.src, pair.tgt) == (src, tgt)
    assert set(by_hand[0][0].phenomena) == {"le_mei", "measure_word", "place_reorder", "time_reorder"}
    for p in toy["train"]:
        if "没" in p.tgt:
            assert "了" not in p.tgt, p
        if p.src.endswith("?"):
            assert p.tgt.endswith("吗？"), p


def test_read_tsv_bom_columns_blank_lines():
    corpus = read_tsv(FIXTURE)
    assert corpus.skipped == 0 and len(corpus.pairs) == 26
    first = corpus.pairs[0]
    assert first.src == "Hi." and first.tgt == "你好。" and first.attribution.startswith("CC-BY 2.0 (France)")
    assert any(p.attribution == "" for p in corpus.pairs)  # the 2-column line


def test_read_tsv_malformed_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("Hi.\t你好。\nno tab here\nRun!\t跑！\ta\tb\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:2: expected 2 or 3 tab-separated columns"):
        read_tsv(bad)
    corpus = read_tsv(bad, skip_malformed=True)
    assert corpus.skipped == 2 and [p.src for p in corpus.pairs] == ["Hi."]


def test_split_keeps_translations_of_a_source_together():
    pairs = read_tsv(FIXTURE).pairs
    splits = split_by_source(pairs, seed=3, valid_fraction=0.2, test_fraction=0.3)
    assert splits == split_by_source(pairs, seed=3, valid_fraction=0.2, test_fraction=0.3)
    assert sum(map(len, splits.values())) == len(pairs)
    owners = {}
    for name, split in splits.items():
        for p in split:
            assert owners.setdefault(p.src, name) == name
    sources, refs = references(pairs)
    assert len(sources) == 23 and refs[sources.index("Let's go.")] == ["我们走吧。", "走吧。"]


@pytest.mark.skipif(not TATOEBA.is_file(), reason="the Tatoeba corpus is not on this machine")
def test_reads_the_real_tatoeba_file():
    corpus = read_tsv(TATOEBA)
    assert len(corpus.pairs) > 20_000 and corpus.skipped == 0
    splits = split_by_source(corpus.pairs)
    assert not {p.src for p in splits["train"]} & {p.src for p in splits["test"]}


def test_tokenizers_round_trip():
    en, zh, words = tokenizer("en_words"), tokenizer("zh_chars"), tokenizer("words")
    assert en.encode("I don't like TEA, really!") == ["i", "don't", "like", "tea", ",", "really", "!"]
    assert en.decode(["i", "like", "tea", "."]) == "i like tea."
    assert zh.encode("我用 iPhone 打电话。") == ["我", "用", "iPhone", "打", "电", "话", "。"]
    assert zh.decode(zh.encode("我喜欢茶。")) == "我喜欢茶。"
    assert words.encode("Je t'aime.") == ["je", "t'aime", "."]
    assert default_tokenizers("zh") == ("en_words", "zh_chars")
    assert default_tokenizers("fr") == ("en_words", "words_cased")  # the target keeps its case
    assert tokenizer("words_cased").encode("Je t'aime, Marie.") == ["Je", "t'aime", ",", "Marie", "."]
    with pytest.raises(ValueError, match="tokenizer"):
        tokenizer("bpe")


def test_vocab_specials_frequency_and_round_trip():
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2)
    assert vocab.to_list() == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a"]
    assert vocab.encode(["a", "zzz"]) == [5, UNK_ID]
    assert vocab.decode([BOS_ID, 4, 5, EOS_ID, 4]) == ["b", "a"]
    assert Vocab.from_list(vocab.to_list()).ids == vocab.ids
    with pytest.raises(ValueError, match="must start with"):
        Vocab(["a", "b"])


def test_batches_cover_every_example_once_within_max_tokens(toy):
    en, zh = tokenizer("en_words"), tokenizer("zh_chars")
    pairs = toy["train"][:2000]
    src_vocab = Vocab.build(en.encode(p.src) for p in pairs)
    tgt_vocab = Vocab.build(zh.encode(p.tgt) for p in pairs)
    examples = encode_pairs(pairs, en, zh, src_vocab, tgt_vocab, max_len=64)
    assert examples[0][0][-1] == EOS_ID and examples[0][1][0] == BOS_ID and examples[0][1][-1] == EOS_ID
    batches = make_batches(examples, max_tokens=500, shuffle=True, generator=torch.Generator().manual_seed(0))
    seen = collections.Counter()
    for b in batches:
        assert b.src.numel() <= 500 and b.tgt.numel() <= 500
        assert b.src_mask().shape == (b.src.size(0), 1, 1, b.src.size(1))
        assert torch.equal(b.src_mask()[:, 0, 0], b.src != PAD_ID)
        for s, t in zip(b.src.tolist(), b.tgt.tolist(), strict=True):
            seen[(tuple(x for x in s if x != PAD_ID), tuple(x for x in t if x != PAD_ID))] += 1
    expected = collections.Counter((tuple(s), tuple(t)) for s, t in examples)
    assert seen == expected
    again = make_batches(examples, max_tokens=500, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a.src, b.src) for a, b in zip(batches, again, strict=True))
    unbucketed = make_batches(examples, 500, shuffle=True, generator=torch.Generator().manual_seed(0), bucket=False)
    padding = lambda bs: sum(int((b.tgt == PAD_ID).sum()) for b in bs)  # noqa: E731
    assert padding(batches) < padding(unbucketed) / 2


def test_truncation_keeps_eos_and_pad_batch():
    en, zh = tokenizer("en_words"), tokenizer("zh_chars")
    vocab_en, vocab_zh = Vocab.build([["a"]]), Vocab.build([["甲"]])
    (src, tgt), = encode_pairs([Pair("a " * 10, "甲" * 10)], en, zh, vocab_en, vocab_zh, max_len=4)
    assert len(src) == 4 and src[-1] == EOS_ID and len(tgt) == 4 and tgt[-1] == EOS_ID
    assert pad_batch([[5, 6], [7]]).tolist() == [[5, 6], [7, PAD_ID]]


def test_a_spaced_target_keeps_its_case_so_exact_match_is_not_depressed():
    pairs = read_tsv(FRENCH).pairs
    assert guess_target_lang(pairs) == "xx"
    languages = Languages.build(pairs, guess_target_lang(pairs), min_freq=1)
    assert (languages.src_tokenizer, languages.tgt_tokenizer) == ("en_words", "words_cased")
    assert "mary" in languages.src_vocab.ids and "Marie" in languages.tgt_vocab.ids  # source lower, target as is
    tgt_tok = tokenizer(languages.tgt_tokenizer)
    # a perfect model outputs the reference's own tokens: decoded, they must equal the reference, capitals included
    perfect = [tgt_tok.decode(languages.tgt_vocab.decode(tgt)) for _, tgt in languages.encode(pairs, max_len=64)]
    scores = corpus_scores(perfect, [p.tgt for p in pairs], "xx")
    assert scores["exact_match"] == 1.0 and scores["bleu"] == pytest.approx(100.0)
    lowered = corpus_scores([h.lower() for h in perfect], [p.tgt for p in pairs], "xx")
    assert lowered["exact_match"] < 0.2  # what the lower-casing target tokenizer used to cost


def test_phenomenon_checks_by_hand():
    she, you = word(SUBJECTS, "she"), word(SUBJECTS, "you")
    cats, beer, flowers = word(NOUNS, "cat"), word(NOUNS, "beer"), word(NOUNS, "flower")
    feed, buy, sell = word(VERBS, "feed"), word(VERBS, "buy"), word(VERBS, "sell")
    yesterday, park = word(TIMES["past"], "yesterday"), word(PLACES, "in the park")
    beautiful = word(ADJECTIVES, "beautiful")
    pair = build(you, feed, cats, "past", "question", 2, None, yesterday, park)
    assert pair.tgt == "你昨天在公园喂了两只猫吗？" and pair.combo == ("cat", "feed", "只")
    assert check_phenomena(pair, pair.tgt) == dict.fromkeys(pair.phenomena, True)
    wrong = {
        "你昨天在公园喂了两个猫吗？": "measure_word",  # 个 instead of 只
        "你在公园喂了两只猫昨天吗？": "time_reorder",  # the time word after the verb
        "你昨天喂了两只猫在公园吗？": "place_reorder",  # the place after the verb
        "你昨天在公园没喂了两只猫吗？": "le_mei",  # 没 with 了
        "你昨天在公园喂了两只猫。": "ma_question",  # no 吗
    }
    for hypothesis, broken in wrong.items():
        checks = check_phenomena(pair, hypothesis)
        assert [name for name, ok in checks.items() if not ok] == [broken], (hypothesis, checks)
    negative = build(she, buy, beer, "past", "negative")  # 她没买啤酒。
    assert check_phenomena(negative, "她没买啤酒。") == {"le_mei": True}
    assert check_phenomena(negative, "她买了啤酒。") == {"le_mei": False}
    adjective = build(she, sell, flowers, "present", "affirmative", 3, beautiful)  # 她卖三朵漂亮的花。
    assert check_phenomena(adjective, adjective.tgt) == {"adjective_de": True, "measure_word": True}
    assert check_phenomena(adjective, "她卖三朵漂亮花。") == {"adjective_de": False, "measure_word": True}
    # sentence accuracy would call all of these wrong; the targeted checks say which part is
    hyps = list(wrong) + [pair.tgt]
    assert phenomenon_accuracy([pair] * 6, hyps)["measure_word"] == pytest.approx(1 / 6)
    assert phenomenon_check_accuracy([pair] * 6, hyps, check_phenomena)["measure_word"] == pytest.approx(5 / 6)
