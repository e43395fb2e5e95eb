"""A training run's directory: checked before any work, never replaced by accident, used by one process at a time,
resumed only as the same run (settings and corpus), and saved when a signal asks the run to stop."""

import hashlib
import os
import signal
import tempfile
import threading
from dataclasses import fields, replace
from pathlib import Path

from .checkpoint import BEST, LAST
from .config import TrainConfig

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK = ".lock"  # holds the process id of the training that uses the directory
# settings that steer a run but not what it computes: a resumed run may change them (and says so); the device is
# the one the resumed run finds (Trainer)
CONTROLS = ("max_steps", "max_minutes", "eval_every", "eval_sentences")
BUDGETS = ("max_steps", "max_minutes")


class RunError(ValueError):
    """A run directory or a resume that cannot be used as asked."""


def require_writable_dir(out_dir: Path) -> None:
    """Before any work: `out_dir` is (or can be made) a directory this process can write checkpoints to."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"{out_dir} is a file, not a checkpoint directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out_dir).close()
    except OSError as err:
        raise RunError(f"cannot write checkpoints to {out_dir}: {err.strerror or err}") from None


def require_new_or_chosen(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """A run already in `out_dir` is continued (`resume`) or replaced (`overwrite`), never replaced silently."""
    if resume and overwrite:
        raise RunError("--resume continues a run and --overwrite replaces it: choose one")
    held = [name for name in (BEST, LAST) if (out_dir / name).exists()]
    if held and not (resume or overwrite):
        raise RunError(f"{out_dir} already holds a training run ({', '.join(held)}): continue it with --resume or "
                       "replace it with --overwrite")


def remove_run(out_dir: Path) -> None:
    """Delete the checkpoints of the run in `out_dir` (--overwrite), so none of them outlives the new run."""
    for name in (BEST, LAST):
        (out_dir / name).unlink(missing_ok=True)


class RunLock:
    """This process's exclusive use of a run directory; the operating system releases it when the process ends,
    however it ends, so a killed training leaves no stale lock."""

    def __init__(self, directory: Path):
        self.directory, self.fd = directory, None

    def acquire(self) -> "RunLock":
        """Take the lock, or raise RunError naming the process that holds it."""
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            lock_file(fd)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunError(f"{self.directory} is in use by process {holder}: wait for it to finish, or train into "
                           "another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        """Give the directory back (closing the file drops the lock)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def lock_file(fd: int) -> None:
    """An exclusive lock on an open file without waiting: OSError if another process holds it."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:  # lock one byte far past the process id, which stays readable
        os.lseek(fd, 1 << 20, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        finally:
            os.lseek(fd, 0, os.SEEK_SET)


def corpus_fingerprint(splits: dict) -> dict:
    """The sentence pairs a run trains and validates on, as their number and a SHA-256 of their text."""
    digest, pairs = hashlib.sha256(), 0
    for name in sorted(splits):
        for pair in splits[name]:
            digest.update(f"{name}\t{pair.src}\t{pair.tgt}\n".encode())
            pairs += 1
    return {"pairs": pairs, "sha256": digest.hexdigest()}


def require_same_corpus(saved: dict | None, now: dict, corpus: str, path) -> None:
    """RunError unless the corpus is the one the saved run trained on (a checkpoint without a fingerprint passes)."""
    if saved is not None and saved != now:
        raise RunError(f"corpus {corpus!r} has changed since {path} was saved ({saved['pairs']} pairs, sha256 "
                       f"{saved['sha256'][:12]} then; {now['pairs']} pairs, sha256 {now['sha256'][:12]} now): "
                       "resume with the same corpus, or train into a new --out")


def resumed_config(saved: TrainConfig, requested: TrainConfig, given, path) -> tuple[TrainConfig, list[str]]:
    """The saved run's configuration with the controls `requested` changes, and a note on each change.

    `given` names the settings the caller chose (None: all of them); a chosen setting that would change what the
    run computes is refused, naming each. A budget replaces the saved one only when one is chosen.
    """
    given = {f.name for f in fields(TrainConfig)} if given is None else set(given)
    wanted = replace(requested, preset=requested.preset or saved.preset).resolved(saved.device)
    changed = [f"{name}={getattr(wanted, name)!r} (saved: {getattr(saved, name)!r})"
               for name in sorted(given - {"device", *CONTROLS}) if getattr(wanted, name) != getattr(saved, name)]
    if changed:
        raise RunError(f"--resume continues the run saved in {path}, which these settings would change: "
                       f"{', '.join(changed)}; leave them out, or train into a new --out")
    chosen = [name for name in CONTROLS if name in given or (name in BUDGETS and given & set(BUDGETS))]
    config = replace(saved, **{name: getattr(requested, name) for name in chosen})
    notes = [f"{name} {getattr(saved, name)} -> {getattr(config, name)}" for name in CONTROLS
             if getattr(config, name) != getattr(saved, name)]
    return config, notes


class StopSignals:
    """While active, SIGINT (Ctrl-C) and SIGTERM only ask the training loop to stop: it saves, then raises
    Interrupted. A second signal acts at once (the handlers from before are back). Main thread only; a signal the
    process ignores (a job started in the background, or under nohup) stays ignored."""

    def __enter__(self) -> "StopSignals":
        self.signum, self.previous = None, {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self.ask) for signum in (signal.SIGINT, signal.SIGTERM)
                             if signal.getsignal(signum) is not signal.SIG_IGN}
        return self

    def ask(self, signum, frame) -> None:
        """The handler: remember the signal; the next one gets the old handler."""
        self.signum = signum
        self.restore()

    def restore(self) -> None:
        """Put the handlers from before back."""
        for signum, handler in self.previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self.previous = {}

    def __exit__(self, *exc) -> None:
        self.restore()


class Interrupted(Exception):
    """A run stopped by a signal after saving its state; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, signum: int, step: int, path: Path):
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; saved {path}: continue with "
                         "--resume")

