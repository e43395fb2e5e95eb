"""Checkpoints: one file of plain data and tensors, written atomically, read with torch.load(weights_only=True)."""

import os
import tempfile
from pathlib import Path

import torch

FORMAT = 1
BEST, LAST = "best.pt", "last.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or not one of ours."""


def save_checkpoint(state: dict, path: Path) -> None:
    """Write `state` to `path` atomically: a reader sees the old file or the new one, never half of one.

    The bytes go to a temporary file of a name no other writer uses, in the same directory (so the rename does not
    cross file systems), reach the disk (fsync), and only then replace `path` (os.replace: atomic).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save({"format": FORMAT, **state}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """fsync a directory, so a rename in it survives a power cut (POSIX; Windows cannot open directories)."""
    if os.name == "posix":
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def checkpoint_file(where: str | Path, which: str = BEST) -> Path:
    """The file of a checkpoint directory (`which`, else the other one) or the file itself."""
    where = Path(where)
    if where.is_file():
        return where
    if not where.is_dir():
        raise CheckpointError(f"no checkpoint at {str(where)!r}: it is neither a directory nor a file")
    for name in (which, LAST if which == BEST else BEST):
        if (where / name).is_file():
            return where / name
    raise CheckpointError(f"no checkpoint in {str(where)!r}: expected {BEST} or {LAST}")


def load_checkpoint(where: str | Path, which: str = BEST) -> dict:
    """Read a checkpoint onto the CPU, refusing anything but tensors and plain data."""
    path = checkpoint_file(where, which)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file; all mean the same here
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or not a checkpoint "
                              f"({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a course translator checkpoint (format {FORMAT})")
    return state


def one_line(message) -> str:
    """A (possibly multi-line) message as one line: its non-blank lines joined with '; '."""
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())


def mismatch(path, what: str, detail) -> CheckpointError:
    """The error for a checkpoint whose `what` does not fit this code (a KeyError detail reads "no 'name'")."""
    if isinstance(detail, KeyError) and detail.args:
        detail = f"no {detail.args[0]!r}"
    return CheckpointError(f"checkpoint {str(path)!r} does not match this translator's {what}: {one_line(detail)}")


def require_keys(state: dict, path, keys) -> None:
    """CheckpointError naming the first of `keys` the checkpoint lacks."""
    missing = [key for key in keys if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} is incomplete: it has no {', '.join(map(repr, missing))}")


def shape_problems(expected: dict, saved: dict) -> list[str]:
    """Where a saved state dict differs from a model's: missing and unexpected names, different shapes."""
    problems = [f"{name} is {tuple(saved[name].shape)} in the checkpoint, {tuple(tensor.shape)} in the model"
                for name, tensor in expected.items()
                if isinstance(saved.get(name), torch.Tensor) and saved[name].shape != tensor.shape]
    problems += [f"missing {name}" for name in expected if name not in saved]
    return problems + [f"unexpected {name}" for name in saved if name not in expected]


def first_few(items: list[str], shown: int) -> str:
    """The first `shown` items joined with '; ', and how many more there are."""
    more = f" (and {len(items) - shown} more)" if len(items) > shown else ""
    return "; ".join(items[:shown]) + more


def load_weights(module: torch.nn.Module, weights, path, what: str = "model") -> None:
    """`module.load_state_dict(weights)`, or a one-line CheckpointError naming the first differences."""
    problems = shape_problems(module.state_dict(), weights) if isinstance(weights, dict) else ["not a state dict"]
    if problems:
        raise mismatch(path, what, first_few(problems, 3))
    broken = [name for name, tensor in weights.items()
              if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:
        raise CheckpointError(f"checkpoint {str(path)!r} holds NaN or infinite weights in {first_few(broken, 1)}: "
                              "the run diverged before it was saved; use an earlier checkpoint")
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise mismatch(path, what, err) from None
