"""Toy sequence tasks for notebook 10: copy or reverse a random string of digits, framed by <bos> and <eos>.

A source is the digits then <eos>; a target is <bos>, the answer, then <eos>; both padded with <pad> to the
batch's longest row. Digit d has the token id FIRST_DIGIT_ID + d, after the four special tokens.
"""

from dataclasses import dataclass

import torch

from .tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS
from .validation import require_choice, require_positive_int

TASKS = ("copy", "reverse")
FIRST_DIGIT_ID = len(SPECIAL_TOKENS)  # 4: ids 0..3 are <pad>, <bos>, <eos>, <unk>
NUM_DIGITS = 10
VOCAB_SIZE = FIRST_DIGIT_ID + NUM_DIGITS  # 14 tokens: the specials and the digits 0..9
TOKEN_NAMES = SPECIAL_TOKENS + tuple(str(d) for d in range(NUM_DIGITS))  # id -> printable name


@dataclass(frozen=True)
class ToyBatch:
    """One batch of a toy task: source ids (B, Ls), target ids (B, Lt) and the number of digits per row (B,)."""

    src: torch.Tensor
    tgt: torch.Tensor
    lengths: torch.Tensor


def answer_positions(task: str, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, width): which source digit the answer holds at each position (copy: t, reverse: length - 1 - t)."""
    require_choice("task", task, TASKS)
    t = torch.arange(width, device=lengths.device).expand(lengths.size(0), width)  # (B, width)
    if task == "copy":
        return t
    return (lengths[:, None] - 1 - t).clamp(min=0)  # (B, width): past a row's end the index is unused


def frame(digits: torch.Tensor, lengths: torch.Tensor, bos: bool) -> torch.Tensor:
    """Digit ids (B, W), <pad> past each row's length -> [<bos>] digits <eos> <pad>... of shape (B, W + 1 [+ 1])."""
    pad_column = torch.full_like(digits[:, :1], PAD_ID)  # (B, 1)
    framed = torch.cat([digits, pad_column], dim=1)  # (B, W + 1)
    framed = framed.scatter(1, lengths[:, None], EOS_ID)  # <eos> right after the last digit
    if bos:
        framed = torch.cat([torch.full_like(pad_column, BOS_ID), framed], dim=1)  # (B, W + 2)
    return framed


def make_batch(task: str, batch_size: int, min_len: int = 1, max_len: int = 8,
               generator: torch.Generator | None = None) -> ToyBatch:
    """Random digit strings of min_len..max_len digits; the target is the same digits (copy) or reversed."""
    require_choice("task", task, TASKS)
    require_positive_int("batch_size", batch_size)
    require_positive_int("min_len", min_len)
    if max_len < min_len:
        raise ValueError(f"max_len must be >= min_len={min_len}, got max_len={max_len}")
    lengths = torch.randint(min_len, max_len + 1, (batch_size,), generator=generator)  # (B,)
    width = int(lengths.max())
    digits = torch.randint(FIRST_DIGIT_ID, VOCAB_SIZE, (batch_size, width), generator=generator)  # (B, W)
    real = torch.arange(width) < lengths[:, None]  # (B, W): True on a row's digits
    digits = digits.masked_fill(~real, PAD_ID)  # (B, W)
    answer = digits.gather(1, answer_positions(task, lengths, width)).masked_fill(~real, PAD_ID)  # (B, W)
    return ToyBatch(src=frame(digits, lengths, bos=False), tgt=frame(answer, lengths, bos=True), lengths=lengths)


def teacher_forcing_pair(tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Target (B, L) -> decoder input tgt[:, :-1] (starts with <bos>) and labels tgt[:, 1:] (end with <eos>)."""
    if tgt.dim() != 2 or tgt.size(1) < 2:
        raise ValueError(f"tgt must be (batch, length >= 2), got shape {tuple(tgt.shape)}")
    return tgt[:, :-1], tgt[:, 1:]  # (B, L - 1) each: position t reads token t and must predict token t + 1


def sequence_accuracy(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """Share of rows where `predicted` equals `target` token for token (the shorter one padded with <pad>)."""
    if predicted.dim() != 2 or target.dim() != 2 or predicted.size(0) != target.size(0):
        raise ValueError(f"predicted and target must be (batch, length) with the same batch, "
                         f"got shapes {tuple(predicted.shape)} and {tuple(target.shape)}")
    width = max(predicted.size(1), target.size(1))
    predicted = torch.nn.functional.pad(predicted, (0, width - predicted.size(1)), value=PAD_ID)  # (B, W)
    target = torch.nn.functional.pad(target, (0, width - target.size(1)), value=PAD_ID)  # (B, W)
    return (predicted == target).all(dim=1).float().mean().item()


def to_text(ids: torch.Tensor) -> str:
    """One row of ids (L,) as readable tokens, e.g. '<bos> 3 1 4 <eos>'; <pad> is left out."""
    return " ".join(TOKEN_NAMES[i] for i in ids.tolist() if i != PAD_ID)
