"""Honest figures: evaluate's BLEU interval and leakage, the split method in checkpoints, the everyday set."""

import json
import os
from pathlib import Path

import pytest

from course_lib.translator import TrainConfig, evaluate, train
from course_lib.translator.checkpoint import LAST, load_checkpoint, save_checkpoint
from course_lib.translator.cli import main
from course_lib.translator.config import config_from_checkpoint
from course_lib.translator.corpus import read_tsv
from course_lib.translator.dataset import CJK
from course_lib.translator.everyday import everyday_pairs
from course_lib.translator.metrics import bleu_interval, corpus_scores
from course_lib.translator.near_copies import english_key, has_near_copy, target_key
from course_lib.translator.split import corpus_names

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"
TATOEBA = Path(os.environ.get("TATOEBA_TSV", Path(__file__).resolve().parents[3] / "shared" / "data"
                              / "tatoeba-cmn-eng.tsv"))
TINY = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.0)


@pytest.fixture(scope="module")
def tsv_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("tsv")
    config = TrainConfig(corpus=str(FIXTURE), device="cpu", max_steps=2, max_tokens=200, model=TINY, subwords=50)
    train(config, out, progress=False, log=lambda *_: None)
    return out


def test_evaluate_json_has_the_interval_and_the_leakage(tsv_checkpoint, capsys):
    assert main(["evaluate", "--checkpoint", str(tsv_checkpoint), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"bleu", "bleu_ci", "chrf", "leak_target_seen", "leak_within_2_edits", "split_method"} <= scores.keys()
    low, high = scores["bleu_ci"]
    assert 0 <= low <= high <= 100
    assert scores["split_method"] == "group" and scores["leak_target_seen"] == scores["leak_within_2_edits"] == 0


def test_evaluate_text_names_the_convention(tsv_checkpoint, capsys):
    assert main(["evaluate", "--checkpoint", str(tsv_checkpoint), "--split", "everyday"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"everyday: {len({p.src for p in everyday_pairs()})} sentences | BLEU ")
    assert "all references" in out and "within 2 word edits" in out and "bootstrap 95 %" in out


def test_the_source_split_is_recorded(tmp_path):
    config = TrainConfig(corpus=str(FIXTURE), device="cpu", max_steps=1, max_tokens=200, model=TINY, subwords=0,
                         split_method="source")
    train(config, tmp_path, progress=False, log=lambda *_: None)
    scores = evaluate(tmp_path, device="cpu")
    assert scores["split_method"] == "source" and scores["n"] == 1


def test_checkpoints_from_before_the_group_split_read_as_source(tsv_checkpoint, tmp_path):
    state = load_checkpoint(tsv_checkpoint, LAST)
    del state["config"]["split_method"]
    save_checkpoint(state, tmp_path / LAST)
    assert config_from_checkpoint(load_checkpoint(tmp_path, LAST), tmp_path).split_method == "source"


def test_bleu_interval_is_seeded_and_brackets_the_score():
    hyps = ["我很冷。", "他喜欢茶", "你在哪儿？", "今天天气很好", "我们走吧"] * 20
    refs = [["我很冷。", "我冷。"], ["他喜欢喝茶。"], ["你在哪里？"], ["今天的天气很好。"], ["走吧。"]] * 20
    bleu = corpus_scores(hyps, refs, "zh")["bleu"]
    low, high = bleu_interval(hyps, refs, "zh", samples=300, seed=1)
    assert low < bleu < high and (low, high) == bleu_interval(hyps, refs, "zh", samples=300, seed=1)
    assert (low, high) != bleu_interval(hyps, refs, "zh", samples=300, seed=2)
    # one sentence repeated: every resample is the corpus itself, so the interval closes on corpus BLEU
    same = bleu_interval(hyps[:1] * 7, refs[:1] * 7, "zh", samples=50)
    assert same[0] == same[1] == pytest.approx(corpus_scores(hyps[:1] * 7, refs[:1] * 7, "zh")["bleu"], abs=1e-9)
    assert bleu_interval([], [], "zh") == (0.0, 0.0)


def test_everyday_set_is_everyday_and_chinese():
    pairs = everyday_pairs()
    sources = {p.src for p in pairs}
    assert 40 <= len(sources) <= 60 and all(CJK.search(p.tgt) for p in pairs)
    assert all(p.src[0].isupper() and p.src[-1] in ".?!" and p.tgt[-1] in "。？！" for p in pairs)


@pytest.mark.skipif(not TATOEBA.is_file(), reason="the Tatoeba corpus is not on this machine")
def test_everyday_sentences_are_not_in_the_corpus():
    corpus, everyday = read_tsv(TATOEBA).pairs, everyday_pairs()
    plain = lambda text: " ".join(text.lower().replace("\u2019", "'").strip(" .?!").split())  # noqa: E731
    assert not {plain(p.src) for p in everyday} & {plain(p.src) for p in corpus}
    assert not {target_key(p.tgt) for p in everyday} & {target_key(p.tgt) for p in corpus}
    names = corpus_names({"all": corpus})
    sources = sorted({p.src for p in everyday})
    near = has_near_copy([english_key(s, names) for s in sources], [english_key(p.src, names) for p in corpus])
    assert not any(near), [s for s, n in zip(sources, near, strict=True) if n]  # not even a near copy

