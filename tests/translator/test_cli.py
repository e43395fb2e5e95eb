"""The command line: train/evaluate/translate, and one clear line with a non-zero exit for every user error."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib import MultiHeadLatentAttention
from course_lib.translator import TrainConfig, Translator, train
from course_lib.translator.checkpoint import BEST, load_checkpoint, save_checkpoint
from course_lib.translator.cli import main
from course_lib.translator.translate import mps_available, pick_device

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"

TINY = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("translator")
    config = TrainConfig(corpus="toy", device="cpu", max_steps=3, max_tokens=400, eval_sentences=8, model=TINY,
                         max_len=24)
    train(config, out, progress=False, log=lambda *_: None)
    return out


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_lib.translator", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_translate_one_line_per_input(checkpoint, capsys):
    assert main(["translate", "--checkpoint", str(checkpoint), "I like tea .", "", "blorptastic ."]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""  # three lines, the empty input empty


def test_translate_reads_stdin_and_warns_on_truncation(checkpoint):
    result = run_cli("translate", "--checkpoint", str(checkpoint), "--beam", "2",
                     stdin="I like tea .\n" + "tea " * 40 + "\n")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr.strip().startswith("warning:") and "truncated" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_evaluate_json(checkpoint, capsys):
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--limit", "10", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"bleu", "chrf", "exact_match", "n", "signature"} <= scores.keys()
    assert 0 <= scores["bleu"] <= 100 and 0 <= scores["chrf"] <= 100 and 0 <= scores["exact_match"] <= 1
    assert "tok:zh" in scores["signature"]


@pytest.mark.parametrize("args, message", [
    (["translate", "--checkpoint", "no/such/dir", "hello"], "no checkpoint"),
    (["evaluate", "--checkpoint", "no/such/dir"], "no checkpoint"),
    (["train", "--corpus", "no/such/file.tsv", "--out", "OUT", "--max-steps", "1"], "no/such/file.tsv"),
    (["train", "--out", "OUT", "--preset", "huge"], "invalid choice"),
])
def test_user_errors_are_one_line(tmp_path, args, message):
    args = [str(tmp_path / "OUT") if a == "OUT" else a for a in args]
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_corrupt_checkpoint_is_one_line(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"\x00garbage")
    result = run_cli("translate", "--checkpoint", str(tmp_path), "hello")
    assert result.returncode == 1 and "corrupt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def one_error_line(capsys) -> str:
    """The single stderr line of a failed command (and no traceback)."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def broken_copy(checkpoint, tmp_path, edit) -> Path:
    """A copy of the fixture checkpoint with `edit(state)` applied."""
    state = load_checkpoint(checkpoint)
    state.pop("format")
    edit(state)
    save_checkpoint(state, tmp_path / BEST)
    return tmp_path


def wrong_shape(state):
    state["model"][next(iter(state["model"]))] = torch.zeros(3, 5)  # the source embedding, now (3, 5)


@pytest.mark.parametrize("edit, message", [
    (wrong_shape, "does not match this translator's model: "),
    (lambda s: s["config"].update(colour="blue"), "unknown settings colour"),
    (lambda s: s["config"].pop("model"), "does not match this translator's model"),  # preset default: other shapes
    (lambda s: s["config"].update(max_steps=None, max_minutes=None), "set a budget"),
    (lambda s: s.pop("config"), "has no 'config'"),
    (lambda s: s["languages"].pop("tgt_vocab"), "languages: no 'tgt_vocab'"),
    (lambda s: s["model"].pop(next(iter(s["model"]))), "missing"),
])
@pytest.mark.parametrize("command", ["translate", "evaluate"])
def test_a_checkpoint_that_does_not_fit_is_one_line(checkpoint, tmp_path, capsys, edit, message, command):
    where = broken_copy(checkpoint, tmp_path, edit)
    args = [command, "--checkpoint", str(where)] + (["hello"] if command == "translate" else ["--limit", "2"])
    assert main(args) == 1
    err = one_error_line(capsys)
    assert err.startswith("error: checkpoint ") and message in err and str(where / BEST) in err


def test_a_wrong_shape_checkpoint_in_a_subprocess(checkpoint, tmp_path):
    where = broken_copy(checkpoint, tmp_path, wrong_shape)
    result = run_cli("translate", "--checkpoint", str(where), "hello")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "is (3, 5) in the checkpoint" in result.stderr


def test_resuming_from_a_checkpoint_that_does_not_fit_is_one_line(checkpoint, tmp_path, capsys):
    where = broken_copy(checkpoint, tmp_path, wrong_shape)
    (where / BEST).rename(where / "last.pt")
    assert main(["train", "--out", str(where), "--resume", "--max-steps", "1", "--quiet"]) == 1
    assert "does not match this translator's model" in one_error_line(capsys)


@pytest.mark.parametrize("device, available", [("cuda", torch.cuda.is_available()), ("mps", mps_available())])
@pytest.mark.parametrize("command", ["translate", "evaluate", "train"])
def test_an_absent_device_is_one_line(checkpoint, tmp_path, capsys, device, available, command):
    if available:
        pytest.skip(f"this machine has {device}")
    args = {"translate": ["translate", "--checkpoint", str(checkpoint), "hello"],
            "evaluate": ["evaluate", "--checkpoint", str(checkpoint)],
            "train": ["train", "--out", str(tmp_path), "--max-steps", "1", "--quiet"]}[command]
    assert main(args + ["--device", device]) == 1
    assert f"--device {device} requested but {device.upper()} is not available" in one_error_line(capsys)


@pytest.mark.parametrize("name", ["gpu", "xla", "meta", "cuda:x"])
def test_a_name_that_is_no_translator_device_is_refused(name):
    # not a torch device at all (gpu, cuda:x) or one the translator does not run on (xla, meta): the same message
    with pytest.raises(ValueError, match=rf"--device must be auto, cpu, cuda\[:N\] or mps, got '{name}'"):
        pick_device(name)


@pytest.mark.parametrize("args", [
    ["translate", "--checkpoint", "CKPT", "--beam", "0", "hi"],
    ["translate", "--checkpoint", "CKPT", "--beam", "-2", "hi"],
    ["evaluate", "--checkpoint", "CKPT", "--beam", "0"],
    ["evaluate", "--checkpoint", "CKPT", "--limit", "0"],
    ["train", "--out", "OUT", "--max-minutes", "0"],
    ["train", "--out", "OUT", "--max-minutes", "-1"],
    ["train", "--out", "OUT", "--max-minutes", "nan"],
    ["train", "--out", "OUT", "--max-steps", "0"],
    ["train", "--out", "OUT", "--max-steps", "-5", "--max-minutes", "1"],
    ["train", "--out", "OUT", "--max-steps", "1", "--lr", "0"],
])
def test_non_positive_numbers_are_refused_by_the_parser(checkpoint, tmp_path, capsys, args):
    args = [str(checkpoint) if a == "CKPT" else str(tmp_path / "OUT") if a == "OUT" else a for a in args]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "expected a positive" in one_error_line(capsys)
    assert not (tmp_path / "OUT").exists()  # nothing trained: 0 minutes is not read as the 10-minute default


def test_train_and_evaluate_a_tsv_corpus_from_the_command_line(tmp_path, capsys):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text(FIXTURE.read_text(encoding="utf-8-sig") + "a line without a tab\n", encoding="utf-8")
    bad_line = len(corpus.read_text(encoding="utf-8").splitlines())
    out = tmp_path / "run"
    train_args = ["train", "--corpus", str(corpus), "--out", str(out), "--max-steps", "2", "--quiet"]
    assert main(train_args) == 1
    assert f"corpus.tsv:{bad_line}: expected 2 or 3 tab-separated columns" in one_error_line(capsys)
    assert main(train_args + ["--skip-malformed", "--lr", "0.004"]) == 0
    assert load_checkpoint(out, "last.pt")["config"]["lr"] == 0.004  # --lr given; else tiny's 3e-3 on a real corpus
    printed = capsys.readouterr().out
    assert "skipped 1 malformed lines" in printed and "trained 2 steps" in printed
    assert main(["evaluate", "--checkpoint", str(out), "--split", "train", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)  # the recorded corpus, read with --skip-malformed again
    assert {"bleu", "bleu_single_ref", "chrf", "exact_match", "n", "signature"} <= scores.keys()
    assert "nrefs:2" in scores["signature"] and "tok:zh" in scores["signature"]  # several translations kept
    assert main(["evaluate", "--checkpoint", str(out), "--split", "train"]) == 0
    assert "first reference only" in capsys.readouterr().out


def test_train_with_mla_loads_back_as_mla(tmp_path, capsys):
    out = tmp_path / "mla"
    args = ["train", "--corpus", str(FIXTURE), "--out", str(out), "--max-steps", "1", "--attention", "mla", "--quiet"]
    assert main(args) == 0
    assert load_checkpoint(out)["config"]["attention"] == "mla"
    translator = Translator.from_checkpoint(out, device="cpu")
    assert all(isinstance(layer.self_attn, MultiHeadLatentAttention) for layer in translator.model.decoder.layers)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out), "--split", "train", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] > 0
    assert main(["translate", "--checkpoint", str(out), "I like tea."]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
