"""Training runs that never lose work: an existing run is refused, a directory is locked, checkpoints are written
atomically, SIGINT/SIGTERM and a timer save last.pt, a resume keeps its run's settings and corpus."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from course_lib.translator import TrainConfig, config, train
from course_lib.translator import trainer as trainer_module
from course_lib.translator.checkpoint import BEST, LAST, load_checkpoint, save_checkpoint
from course_lib.translator.cli import main
from course_lib.translator.runs import Interrupted, RunError, RunLock, StopSignals

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"
TINY = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.1)
QUIET = dict(progress=False, log=lambda *_: None)




@pytest.fixture
def tiny_preset(monkeypatch):
    """The command line's `tiny` preset shrunk to a model that trains in milliseconds."""
    monkeypatch.setitem(config.PRESETS, "tiny", TINY)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def cli_train(out, *args) -> list[str]:
    return ["train", "--corpus", str(FIXTURE), "--out", str(out), "--device", "cpu", "--quiet", *args]


# --- an existing run is continued or replaced, never replaced silently

def test_a_directory_holding_a_run_is_refused_unless_resumed_or_overwritten(tmp_path, tiny_preset, capsys):
    assert main(cli_train(tmp_path, "--max-steps", "2")) == 0
    best = (tmp_path / BEST).read_bytes()
    assert main(cli_train(tmp_path, "--max-steps", "2")) == 1
    assert "already holds a training run (best.pt, last.pt): continue it with --resume or replace it with " \
           "--overwrite" in one_error_line(capsys)
    assert (tmp_path / BEST).read_bytes() == best  # the earlier best model is still there
    assert main(cli_train(tmp_path, "--max-steps", "1", "--overwrite")) == 0
    assert load_checkpoint(tmp_path, LAST)["progress"]["step"] == 1
    assert main(cli_train(tmp_path, "--resume", "--overwrite")) == 1
    assert "choose one" in one_error_line(capsys)


def test_overwrite_deletes_the_old_run_first(tmp_path, tiny_config):
    train(tiny_config(), tmp_path, **QUIET)
    with pytest.raises(RunError, match="already holds a training run"):
        train(tiny_config(), tmp_path, **QUIET)
    (tmp_path / BEST).write_bytes(b"the old run's best model")
    trainer = trainer_module.Trainer(tiny_config(), tmp_path, overwrite=True, **QUIET)
    assert not (tmp_path / BEST).exists() and not (tmp_path / LAST).exists()  # before the new run saves anything
    trainer.run()
    assert load_checkpoint(tmp_path)["progress"]["step"] == 4


@pytest.mark.parametrize("where, message", [
    ("file", "is a file, not a checkpoint directory"),
    ("file/run", "cannot write checkpoints to"),  # a directory inside a file
])
def test_an_unusable_out_is_found_before_any_work(tmp_path, capsys, monkeypatch, where, message):
    (tmp_path / "file").write_text("not a directory")
    out = tmp_path / where
    monkeypatch.setattr(trainer_module, "load_splits", lambda *a, **k: pytest.fail("read the corpus first"))
    assert main(cli_train(out, "--max-steps", "1")) == 1
    assert message in one_error_line(capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_a_read_only_out_is_found_before_any_work(tmp_path, capsys):
    tmp_path.chmod(0o500)
    try:
        assert main(cli_train(tmp_path, "--max-steps", "1")) == 1
    finally:
        tmp_path.chmod(0o700)
    assert "cannot write checkpoints to" in one_error_line(capsys)


# --- one process at a time

def test_a_directory_in_use_is_refused_naming_the_process(tmp_path, tiny_preset, capsys):
    lock = RunLock(tmp_path).acquire()  # as a training in progress holds it
    try:
        assert main(cli_train(tmp_path, "--max-steps", "1")) == 1
        assert f"{tmp_path} is in use by process {os.getpid()}" in one_error_line(capsys)
    finally:
        lock.release()
    assert main(cli_train(tmp_path, "--max-steps", "1")) == 0  # free again
    assert main(cli_train(tmp_path, "--resume", "--max-steps", "2")) == 0  # and after each run


def test_a_killed_training_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from course_lib.translator.runs import RunLock; RunLock(Path(sys.argv[1])).acquire(); "
                               "print('locked', flush=True); time.sleep(60)", str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"in use by process {holder.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    RunLock(tmp_path).acquire().release()


def test_concurrent_saves_never_leave_a_half_written_file(tmp_path):
    path = tmp_path / LAST
    states = [{"weights": torch.full((64, 1024), float(i)), "i": i} for i in range(4)]  # 256 KiB each
    save_checkpoint(states[0], path)
    errors, seen = [], set()

    def write(state):
        try:
            for _ in range(15):
                save_checkpoint(state, path)
        except Exception as err:  # noqa: BLE001 - any failure is the test's failure
            errors.append(repr(err))

    def read(stop):
        try:
            while not stop.is_set():
                state = load_checkpoint(path)  # a half-written file raises
                assert torch.equal(state["weights"], torch.full((64, 1024), float(state["i"])))
                seen.add(state["i"])
        except Exception as err:  # noqa: BLE001
            errors.append(repr(err))

    stop = threading.Event()
    reader = threading.Thread(target=read, args=(stop,))
    writers = [threading.Thread(target=write, args=(state,)) for state in states]
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert errors == [] and seen
    assert [p.name for p in tmp_path.iterdir()] == [LAST]  # no temporary file left behind


# --- SIGINT and SIGTERM save the run; so does a timer

def drain(stream, into: bytearray) -> None:
    """Append everything `stream` yields to `into`, as it comes."""
    for chunk in iter(lambda: stream.read1(4096), b""):
        into.extend(chunk)


TINY_CLI = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "  # Ctrl-C as in a terminal
            "from course_lib.translator import config; "
            f"config.PRESETS['tiny'] = {TINY!r}; "
            "from course_lib.translator.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_run_and_exits_with_one_line_of_its_own(tmp_path, signum, code):
    # the toy corpus's first epoch is ~150 steps: the signal comes long before the first validation checkpoint
    process = subprocess.Popen([sys.executable, "-c", TINY_CLI, "train", "--out", str(tmp_path), "--device", "cpu",
                                "--max-steps", "100000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = bytearray()
    reader = threading.Thread(target=drain, args=(process.stderr, err))
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not re.search(rb"\| +([3-9]|\d\d+)/100000", bytes(err)):  # three steps done: the bar says so
            assert process.poll() is None, bytes(err).decode()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        process.send_signal(signum)
        assert process.wait(timeout=120) == code
    finally:
        process.kill()
        reader.join()
    text = bytes(err).decode()
    assert text.endswith("\n") and "Traceback" not in text
    *before, last = text.rstrip("\n").split("\n")
    step = int(re.fullmatch(rf"stopped by {signum.name} at step (\d+); saved {re.escape(str(tmp_path / LAST))}: "
                            r"continue with --resume", last).group(1))
    assert step >= 3 and "training" in before[-1]  # the progress bar ended its own line first
    assert load_checkpoint(tmp_path, LAST)["progress"]["step"] == step and not (tmp_path / BEST).exists()
    if signum == signal.SIGINT:  # the saved run goes on (the exactness of such a resume: the next test)
        summary = train(TrainConfig(max_steps=step + 2, eval_sentences=8), tmp_path, resume=True,
                        given=["max_steps", "eval_sentences"], **QUIET)
        assert summary["steps"] == step + 2


def test_an_interrupted_run_resumes_exactly(tmp_path, monkeypatch, tiny_config, terminal_sigint):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train(tiny_config(max_steps=7), straight, **QUIET)
    step = trainer_module.Trainer.train_step

    def signalled_at_step_3(self, batch):
        loss = step(self, batch)
        if self.step == 2:  # the step now running is the third
            signal.raise_signal(signal.SIGINT)
        return loss

    monkeypatch.setattr(trainer_module.Trainer, "train_step", signalled_at_step_3)
    with pytest.raises(Interrupted, match=f"stopped by SIGINT at step 3; saved {re.escape(str(stopped / LAST))}"):
        train(tiny_config(max_steps=7), stopped, **QUIET)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler from before is back
    monkeypatch.undo()
    assert load_checkpoint(stopped, LAST)["progress"]["step"] == 3
    train(tiny_config(max_steps=7), stopped, resume=True, **QUIET)
    a, b = load_checkpoint(straight, LAST), load_checkpoint(stopped, LAST)
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["history"]["loss"] == b["history"]["loss"]


def test_a_signal_the_process_ignores_stays_ignored():
    # a run started in the background (`make test &`, nohup) ignores Ctrl-C; SIGTERM still saves it
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopSignals() as stop:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) == stop.ask
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_last_is_saved_every_few_minutes(tmp_path, monkeypatch, tiny_config):
    saves = []
    save = trainer_module.save_checkpoint
    monkeypatch.setattr(trainer_module, "save_checkpoint",
                        lambda state, path: saves.append((path.name, state["progress"]["step"])) or save(state, path))
    # an epoch is 4 batches, longer than 3 steps: the only validation checkpoint is the last one
    train(tiny_config(max_steps=3), tmp_path / "hourly", save_every_minutes=60.0, **QUIET)
    assert saves == [(LAST, 3), (BEST, 3)]
    saves.clear()
    train(tiny_config(max_steps=3), tmp_path / "always", save_every_minutes=1e-9, **QUIET)  # due before each step
    assert saves == [(LAST, 0), (LAST, 1), (LAST, 2), (LAST, 3), (BEST, 3)]


# --- a resume continues the saved run

def test_resume_refuses_options_that_would_change_the_run(tmp_path, tiny_preset, capsys):
    assert main(cli_train(tmp_path, "--max-steps", "2")) == 0
    capsys.readouterr()
    assert main(cli_train(tmp_path, "--resume", "--preset", "small", "--attention", "mla", "--seed", "99",
                          "--max-steps", "4")) == 1
    err = one_error_line(capsys)
    assert f"--resume continues the run saved in {tmp_path / LAST}, which these settings would change: " \
           "attention='mla' (saved: 'mha'), " in err
    assert "preset='small' (saved: 'tiny')" in err and "seed=99 (saved: 0)" in err
    assert main(cli_train(tmp_path, "--resume", "--corpus", "toy")) == 1
    assert "corpus='toy' (saved: " in one_error_line(capsys)
    assert main(cli_train(tmp_path, "--resume", "--seed", "0", "--attention", "mha")) == 0  # the same: accepted


def test_resume_keeps_the_saved_budget_unless_given_one(tmp_path, tiny_preset, capsys):
    assert main(cli_train(tmp_path, "--max-steps", "2")) == 0
    capsys.readouterr()
    assert main(cli_train(tmp_path, "--resume")) == 0  # not the 10-minute default: the run is already done
    out = capsys.readouterr().out
    assert f"resuming {tmp_path / LAST} at step 2 with a budget of 2 steps\n" in out and "trained 2 steps" in out
    assert load_checkpoint(tmp_path, LAST)["config"]["max_minutes"] is None
    assert main(cli_train(tmp_path, "--resume", "--max-steps", "4", "--eval-every", "1")) == 0
    out = capsys.readouterr().out
    assert "at step 2 with a budget of 4 steps; changed: max_steps 2 -> 4, eval_every None -> 1" in out
    assert "trained 4 steps" in out


def test_resume_refuses_a_changed_corpus(tmp_path, tiny_preset, capsys):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_bytes(FIXTURE.read_bytes())
    out = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--out", str(out), "--max-steps", "1", "--quiet"]) == 0
    assert load_checkpoint(out, LAST)["corpus"]["pairs"] == 26
    with corpus.open("a", encoding="utf-8") as file:
        file.write("A new line.\t新的一行。\n")
    capsys.readouterr()
    assert main(["train", "--corpus", str(corpus), "--out", str(out), "--resume", "--max-steps", "2", "--quiet"]) == 1
    err = one_error_line(capsys)
    assert f"corpus {str(corpus)!r} has changed since {out / LAST} was saved (26 pairs, sha256 " in err
    assert "27 pairs" in err
