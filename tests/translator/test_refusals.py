"""Inputs the translator refuses with one clear line instead of a wrong result or a traceback: line breaks inside
a corpus field, a corpus too small to split, a diverged checkpoint, a huge beam, memory running out, a huge seed."""

from pathlib import Path

import pytest
import torch

from course_lib.translator import TrainConfig, train
from course_lib.translator.checkpoint import BEST, CheckpointError, load_checkpoint, save_checkpoint
from course_lib.translator.cli import main
from course_lib.translator.corpus import read_tsv
from course_lib.translator.dataset import load_splits
from course_lib.translator.translate import Translator

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"
TINY = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(corpus=str(FIXTURE), device="cpu", max_steps=1, max_tokens=400, eval_sentences=4,
                         model=TINY)
    train(config, out, progress=False, log=lambda *_: None)
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("inside", ["\u2028", "\u0085", "\r", "\x0b", "\x1c"])
def test_a_line_ends_only_at_newline(tmp_path, inside):
    # str.splitlines() also breaks at these; a field may hold them, and --skip-malformed must not build wrong pairs
    path = tmp_path / "corpus.tsv"
    path.write_bytes(f"Hello{inside}world.\t你好{inside}世界。\r\nBye.\t再见。\n".encode())
    table = read_tsv(path, skip_malformed=True)
    expected = [(f"Hello{inside}world.", f"你好{inside}世界。"), ("Bye.", "再见。")]
    assert [(p.src, p.tgt) for p in table.pairs] == expected and table.skipped == 0


def test_a_corpus_too_small_to_split_is_refused_with_the_minimum(tmp_path, capsys):
    path = tmp_path / "one.tsv"
    path.write_text("Hi.\t你好。\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"too small to split into train, valid and test: it has 1 distinct source "
                                         r"sentence\(s\), and at least 11 are needed"):
        load_splits(str(path))
    assert main(["train", "--corpus", str(path), "--out", str(tmp_path / "run"), "--max-steps", "1"]) == 1
    assert "at least 11 are needed" in one_error_line(capsys)
    # eleven sentences, none within two word edits of another (near copies would stay in one split)
    path.write_text("".join(f"W{i}a w{i}b w{i}c.\t句子{i}。\n" for i in range(11)), encoding="utf-8")
    assert all(load_splits(str(path))[0].values())  # 11 splits


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_at_load(checkpoint, tmp_path, capsys, bad):
    state = load_checkpoint(checkpoint)
    state.pop("format")
    name = "decoder.layers.0.cross_attn.k_proj.weight"
    assert name in state["model"]
    state["model"][name][0, 0] = bad
    save_checkpoint(state, tmp_path / BEST)
    with pytest.raises(CheckpointError, match=f"holds NaN or infinite weights in {name}: the run diverged"):
        Translator.from_checkpoint(tmp_path, device="cpu")
    assert main(["translate", "--checkpoint", str(tmp_path), "hello"]) == 1
    assert "NaN or infinite weights" in one_error_line(capsys)


@pytest.mark.parametrize("command", [["translate", "--checkpoint", "CKPT", "hi"], ["evaluate", "--checkpoint", "CKPT"]])
def test_the_beam_is_bounded(checkpoint, capsys, command):
    args = [str(checkpoint) if a == "CKPT" else a for a in command]
    with pytest.raises(SystemExit) as exit_:
        main(args + ["--beam", "100000"])
    assert exit_.value.code == 2
    assert "argument --beam: expected a positive int up to 64, got '100000'" in one_error_line(capsys)
    assert main(args[:3] + ["--beam", "64"] + args[3:]) == 0  # the bound itself is fine


def test_running_out_of_memory_is_one_line(checkpoint, capsys, monkeypatch):
    def allocate(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                           "you tried to allocate 3221225472 bytes.")

    monkeypatch.setattr(Translator, "translate", allocate)
    assert main(["translate", "--checkpoint", str(checkpoint), "hello"]) == 1
    err = one_error_line(capsys)
    assert err.startswith("error: out of memory (") and "try a smaller --beam" in err
    monkeypatch.setattr(Translator, "translate", lambda *a, **k: torch.zeros(2) @ torch.zeros(3))  # a bug, not memory
    with pytest.raises(RuntimeError, match="size mismatch|shapes cannot be multiplied|inconsistent"):
        main(["translate", "--checkpoint", str(checkpoint), "hello"])


@pytest.mark.parametrize("seed", [str(2**64), "-1", "1e3"])
def test_a_seed_out_of_range_names_the_option(tmp_path, capsys, seed):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", str(tmp_path), "--max-steps", "1", "--seed", seed])
    assert exit_.value.code == 2
    assert f"argument --seed: expected an int from 0 to 4294967295, got '{seed}'" in one_error_line(capsys)


def test_train_config_checks_the_seed():
    with pytest.raises(ValueError, match=r"seed must be an int from 0 to 4294967295, got seed=18446744073709551616"):
        TrainConfig(max_steps=1, seed=2**64)
    TrainConfig(max_steps=1, seed=2**32 - 1)  # the largest
