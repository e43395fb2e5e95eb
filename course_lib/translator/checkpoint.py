"""Checkpoints: one file of plain data and tensors, written atomically, read with torch.load(weights_only=True)."""

import os
from pathlib import Path

import torch

FORMAT = 1
BEST, LAST = "best.pt", "last.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or not one of ours."""


def save_checkpoint(state: dict, path: Path) -> None:
    """Write `state` to `path` through a temporary file, so a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, **state}, tmp)
    os.replace(tmp, path)


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
