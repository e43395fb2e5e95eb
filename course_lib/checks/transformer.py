"""Checkers for notebook 10: the teacher-forcing shift, the two masks built from the pad id, sequence accuracy."""

import torch

from ..masking import causal_mask, padding_mask
from ..tokens import BOS_ID, EOS_ID, PAD_ID
from ..toy_tasks import FIRST_DIGIT_ID, make_batch, teacher_forcing_pair, to_text
from .core import CheckCase, CheckFailed, run_checks


def _row(*digits: int) -> list[int]:
    """<bos>, the digits' token ids, <eos>."""
    return [BOS_ID, *(FIRST_DIGIT_ID + d for d in digits), EOS_ID]


def _padded(*rows: list[int]) -> torch.Tensor:
    """Rows of ids padded with <pad> to the longest: (B, L)."""
    width = max(len(row) for row in rows)
    return torch.tensor([row + [PAD_ID] * (width - len(row)) for row in rows])  # (B, L)


def _shown(ids: torch.Tensor) -> str:
    return " | ".join(to_text(row) for row in ids)


def check_teacher_forcing_pair(fn) -> None:
    """fn(tgt (B, L)) must return (decoder input tgt[:, :-1], labels tgt[:, 1:]): input t is read, token t+1 is due."""
    single = _padded(_row(3, 1, 4))  # (1, 5)
    ragged = _padded(_row(3, 1, 4), _row(9))  # (2, 5)
    generated = make_batch("reverse", 4, 1, 6, generator=torch.Generator().manual_seed(3)).tgt  # (4, L)
    cases = [CheckCase(f"tgt = [{_shown(t)}]", (t,), teacher_forcing_pair(t)) for t in (single, ragged, generated)]
    run_checks("teacher_forcing_pair", fn, cases, names=("the decoder input", "the labels"),
               hint='the decoder reads tgt[:, :-1] and is asked for tgt[:, 1:]')


def _reference_masks(src: torch.Tensor, tgt_in: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    return padding_mask(src, pad_id), padding_mask(tgt_in, pad_id) & causal_mask(tgt_in.size(1))


_DEVICE_WORDS = ("cuda", "device", "nvidia")
WRONG_DEVICE = "it made a tensor on a fixed device such as the GPU (.cuda()) instead of the inputs' device"


def check_transformer_masks(fn) -> None:
    """fn(src, tgt_in, pad_id) -> bool masks src_mask (B, 1, 1, Ls) and tgt_mask (B, 1, Lt, Lt), True = may attend."""
    src = _padded(_row(3, 1, 4)[1:], _row(9)[1:])  # (2, 4): "3 1 4 <eos>" and "9 <eos> <pad> <pad>"
    tgt_in = _padded(_row(3, 1, 4)[:-1], _row(9)[:-1])  # (2, 4): "<bos> 3 1 4" and "<bos> 9 <pad> <pad>"
    odd_pad = torch.tensor([[5, 6, 9, 9], [7, 9, 9, 9]])  # id 9 plays <pad> here

    def probe(what: str, src: torch.Tensor, tgt_in: torch.Tensor, pad_id: int):
        try:
            masks = fn(src, tgt_in, pad_id)
        except (AssertionError, RuntimeError) as err:
            # CPU-only torch: "not compiled with CUDA"; no driver: "no NVIDIA driver"; a GPU: the devices differ.
            # One message for all three, so the notebook's stored output is the same on every machine.
            if not any(word in str(err).lower() for word in _DEVICE_WORDS):
                raise
            raise CheckFailed(WRONG_DEVICE, hint="create every tensor with device=tgt_in.device") from None
        if what == "devices and dtypes":
            return tuple(str(mask.device) for mask in masks) + tuple(mask.dtype for mask in masks)
        return masks

    cases = [
        CheckCase("the masks' devices and dtypes for CPU inputs (want the inputs' device, bool)",
                  ("devices and dtypes", src, tgt_in, PAD_ID), ("cpu", "cpu", torch.bool, torch.bool)),
        CheckCase(f"src = [{_shown(src)}], tgt_in = [{_shown(tgt_in)}], pad_id=0", ("masks", src, tgt_in, PAD_ID),
                  _reference_masks(src, tgt_in, PAD_ID)),
        CheckCase("one row without padding: src = [3 1 4 <eos>], tgt_in = [<bos> 3 1 4]",
                  ("masks", src[:1], tgt_in[:1], PAD_ID), _reference_masks(src[:1], tgt_in[:1], PAD_ID)),
        CheckCase(f"ids {odd_pad.tolist()} as both src and tgt_in with pad_id=9 (use the argument, not 0)",
                  ("masks", odd_pad, odd_pad, 9), _reference_masks(odd_pad, odd_pad, 9)),
    ]
    run_checks("transformer_masks", probe, cases, names=("src_mask", "tgt_mask"),
               hint=('src_mask = padding of src (B, 1, 1, Ls); tgt_mask = padding of tgt_in & a causal mask, on '
                     'tgt_in.device'))


def check_sequence_accuracy(fn) -> None:
    """fn(predicted (B, Lp), target (B, Lt)) -> the share of rows equal token for token, <pad> filling the shorter."""
    target = _padded(_row(3, 1, 4), _row(9), _row(2, 7), _row(5, 5, 5, 5))  # (4, 6)
    one_wrong_digit = target.clone()
    one_wrong_digit[0, 2] = FIRST_DIGIT_ID + 8  # row 0: 3 8 4 instead of 3 1 4
    two_wrong = one_wrong_digit.clone()
    two_wrong[2, 2] = EOS_ID  # row 2 stops after one digit
    short = _padded(_row(3, 1), _row(9), _row(2))  # (3, 4): greedy stopped early; rows 0 and 2 are wrong
    cases = [
        CheckCase(f"predicted == target = [{_shown(target)}]", (target, target), 1.0),
        CheckCase(f"predicted = [{_shown(one_wrong_digit)}] (one wrong digit in row 0)", (one_wrong_digit, target),
                  0.75),
        CheckCase(f"predicted = [{_shown(two_wrong)}] (rows 0 and 2 wrong)", (two_wrong, target), 0.5),
        CheckCase("predicted with two extra <pad> columns (equal to target)",
                  (torch.nn.functional.pad(target, (0, 2), value=PAD_ID), target), 1.0),
        CheckCase(f"predicted = [{_shown(short)}], narrower than target = [{_shown(target[:3])}]",
                  (short, target[:3]), round(1 / 3, 6)),
    ]
    run_checks("sequence_accuracy", lambda p, t: round(float(fn(p, t)), 6), cases,
               hint='pad both to the same width with PAD_ID, compare, .all(dim=1) per row, then the mean as a float')
