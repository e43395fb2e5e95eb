"""Training the translator: budgets, best/last checkpoints loadable with weights_only=True, exact resume."""

from pathlib import Path

import pytest
import torch

from course_lib.translator import TrainConfig, Translator, train
from course_lib.translator.checkpoint import BEST, LAST, CheckpointError, load_checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"
TINY = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.1)


def tiny_config(**overrides) -> TrainConfig:
    """A model small enough to train a few steps in a second (dropout on, so resume must restore the RNG)."""
    settings = dict(corpus="toy", device="cpu", max_steps=6, max_tokens=400, eval_sentences=16, model=TINY,
                    warmup_steps=4)
    return TrainConfig(**{**settings, **overrides})


def test_budget_in_steps_and_checkpoints(tmp_path):
    summary = train(tiny_config(), tmp_path, progress=False, log=lambda *_: None)
    assert summary["steps"] == 6
    state = torch.load(tmp_path / LAST, weights_only=True)  # plain data and tensors only
    assert state["progress"]["step"] == 6
    assert state["config"]["corpus"] == "toy" and state["config"]["preset"] == "tiny"
    assert state["languages"]["target_lang"] == "zh" and state["languages"]["tgt_tokenizer"] == "zh_chars"
    assert state["languages"]["src_vocab"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (tmp_path / BEST).is_file()
    assert len(state["history"]["loss"]) == 6


def test_budget_in_minutes_stops_early(tmp_path):
    summary = train(tiny_config(max_steps=None, max_minutes=1e-9), tmp_path, progress=False, log=lambda *_: None)
    assert summary["steps"] == 1  # the budget is checked between steps


def test_both_budgets_the_step_budget_first(tmp_path):
    summary = train(tiny_config(max_steps=3, max_minutes=60.0), tmp_path, progress=False, log=lambda *_: None)
    assert summary["steps"] == 3 and summary["seconds"] < 60 * 60
    valid = load_checkpoint(tmp_path, LAST)["history"]["valid"]
    assert valid[-1]["step"] == 3


def test_history_records_seconds_and_tokens(tmp_path):
    summary = train(tiny_config(max_steps=4, eval_every=2), tmp_path, progress=False, log=lambda *_: None)
    valid = load_checkpoint(tmp_path, LAST)["history"]["valid"]
    assert [v["step"] for v in valid] == [2, 4]
    assert 0 < valid[0]["seconds"] <= valid[1]["seconds"] == summary["seconds"]
    assert summary["tokens"] > 0 and 0 < summary["train_seconds"] <= summary["seconds"]


@pytest.mark.parametrize("value", [0, -1, 0.0, -2.5])
def test_non_positive_budgets_are_refused(value):
    with pytest.raises(ValueError, match="max_steps must be positive"):
        TrainConfig(max_steps=value)
    with pytest.raises(ValueError, match="max_minutes must be positive"):
        TrainConfig(max_minutes=value)


def test_resume_continues_exactly(tmp_path):
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    train(tiny_config(max_steps=8), straight, progress=False, log=lambda *_: None)
    train(tiny_config(max_steps=4), halves, progress=False, log=lambda *_: None)
    train(tiny_config(max_steps=8), halves, resume=True, progress=False, log=lambda *_: None)
    a, b = load_checkpoint(straight, LAST), load_checkpoint(halves, LAST)
    assert a["progress"]["step"] == b["progress"]["step"] == 8
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["history"]["loss"] == b["history"]["loss"]


def test_resume_across_an_epoch_boundary(tmp_path):
    # the fixture's 21 training sentences make 4 batches of <= 60 tokens: step 5 is one step into epoch 1
    config = dict(corpus=str(FIXTURE), max_tokens=60)
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    train(tiny_config(max_steps=10, **config), straight, progress=False, log=lambda *_: None)
    train(tiny_config(max_steps=5, **config), halves, progress=False, log=lambda *_: None)
    half = load_checkpoint(halves, LAST)["progress"]
    assert half["step"] == 5 and half["epoch"] == 1 and half["position"] == 1  # past the end of epoch 0
    train(tiny_config(max_steps=10, **config), halves, resume=True, progress=False, log=lambda *_: None)
    a, b = load_checkpoint(straight, LAST), load_checkpoint(halves, LAST)
    assert a["progress"]["step"] == b["progress"]["step"] == 10 and a["progress"]["epoch"] == 2
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["history"]["loss"] == b["history"]["loss"]
    assert a["progress"]["tokens"] == b["progress"]["tokens"]


def test_translator_loads_the_best_checkpoint(tmp_path):
    train(tiny_config(max_steps=2), tmp_path, progress=False, log=lambda *_: None)
    translator = Translator.from_checkpoint(tmp_path, device="cpu")
    out = translator.translate(["I like tea .", "", "zyzzyva qwerty ."])
    assert len(out) == 3 and out[1] == ""
    assert all(isinstance(line, str) and " " not in line for line in out)  # Chinese joined without spaces


def test_config_needs_a_budget_and_known_choices():
    with pytest.raises(ValueError, match="budget"):
        TrainConfig()
    with pytest.raises(ValueError, match="attention"):
        TrainConfig(max_steps=1, attention="flash")
    with pytest.raises(ValueError, match="preset"):
        TrainConfig(max_steps=1, preset="huge")


def test_missing_and_corrupt_checkpoints_raise_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / BEST).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path)
