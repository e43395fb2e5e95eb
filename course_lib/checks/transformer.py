"""Checkers for notebook 10: the teacher-forcing shift and the two masks (its spot-the-bugs), sequence accuracy, and
the decoder-only variants of the shift and the mask (a source-then-answer sequence, the prefix-LM mask)."""

import torch

from ..masking import causal_mask, padding_mask
from ..tokens import BOS_ID, EOS_ID, PAD_ID
from ..toy_tasks import FIRST_DIGIT_ID, TOKEN_NAMES, make_batch, teacher_forcing_pair, to_text
from .core import CheckCase, CheckFailed, Mistake, run_checks


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
    mistakes = [Mistake("the labels are the decoder input itself, so position t is asked for the token it reads: "
                        "the labels start one token later", lambda tgt: (tgt[:, :-1], tgt[:, :-1]))]
    run_checks("teacher_forcing_pair", fn, cases, names=("the decoder input", "the labels"), mistakes=mistakes,
               hint="the decoder reads every token but the last and is asked for every token but the first")


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


def _token_accuracy(predicted: torch.Tensor, target: torch.Tensor) -> float:
    width = min(predicted.size(1), target.size(1))
    return (predicted[:, :width] == target[:, :width]).float().mean().item()


def _truncated_accuracy(predicted: torch.Tensor, target: torch.Tensor) -> float:
    width = min(predicted.size(1), target.size(1))
    return (predicted[:, :width] == target[:, :width]).all(dim=1).float().mean().item()


def _any_token_accuracy(predicted: torch.Tensor, target: torch.Tensor) -> float:
    width = max(predicted.size(1), target.size(1))
    pad = torch.nn.functional.pad
    predicted, target = pad(predicted, (0, width - predicted.size(1))), pad(target, (0, width - target.size(1)))
    return (predicted == target).any(dim=1).float().mean().item()


def check_sequence_accuracy(fn) -> None:
    """fn(predicted (B, Lp), target (B, Lt)) -> the share of rows equal token for token, <pad> filling the shorter."""
    target = _padded(_row(3, 1, 4), _row(9), _row(2, 7), _row(5, 5, 5, 5))  # (4, 6)
    one_wrong_digit = target.clone()
    one_wrong_digit[0, 2] = FIRST_DIGIT_ID + 8  # row 0: 3 8 4 instead of 3 1 4
    two_wrong = one_wrong_digit.clone()
    two_wrong[2, 2] = EOS_ID  # row 2 stops after one digit
    short = _padded(_row(3, 1), _row(9), _row(2))  # (3, 4): greedy stopped early; rows 0 and 2 are wrong
    cut_short = target[:1, :3]  # (1, 3): <bos> 3 1, out of new tokens before 4 and <eos>
    cases = [
        CheckCase(f"predicted == target = [{_shown(target)}]", (target, target), 1.0),
        CheckCase(f"predicted = [{_shown(one_wrong_digit)}] (one wrong digit in row 0)", (one_wrong_digit, target),
                  0.75),
        CheckCase(f"predicted = [{_shown(two_wrong)}] (rows 0 and 2 wrong)", (two_wrong, target), 0.5),
        CheckCase("predicted with two extra <pad> columns (equal to target)",
                  (torch.nn.functional.pad(target, (0, 2), value=PAD_ID), target), 1.0),
        CheckCase(f"predicted = [{_shown(short)}], narrower than target = [{_shown(target[:3])}]",
                  (short, target[:3]), round(1 / 3, 6)),
        CheckCase(f"predicted = [{_shown(cut_short)}] (out of steps), target = [{_shown(target[:1])}]",
                  (cut_short, target[:1]), 0.0),
    ]
    mistakes = [
        Mistake("comparing only the columns both have lets an output that was cut short pass: pad the narrower one "
                "with <pad> instead, so its missing tokens count as wrong", _truncated_accuracy),
        Mistake("that is the share of matching tokens: a string counts only when every one of its tokens matches",
                _token_accuracy),
        Mistake("a row counts when all of its tokens match, not any", _any_token_accuracy),
    ]
    run_checks("sequence_accuracy", lambda p, t: round(float(fn(p, t)), 6), cases, mistakes=mistakes,
               hint="each row is one string: it is right only if it equals its target at every position, the "
                    "narrower side padded with <pad>; the result is the share of right rows, a float")


# ---------------------------------------------------------------- one stack instead of two (beyond the text)

def _shown_ids(ids: torch.Tensor) -> str:
    """Rows of ids as tokens, <pad> included (its place matters in a packed sequence)."""
    return " | ".join(" ".join(TOKEN_NAMES[i] for i in row.tolist()) for row in ids)


def _decoder_only_pair(src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.cat([src, tgt[:, :-1]], dim=1)  # (B, Ls + Lt - 1)
    labels = torch.cat([torch.full_like(src, PAD_ID), tgt[:, 1:]], dim=1)  # (B, Ls + Lt - 1)
    return inputs, labels


def _language_model_pair(src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sequence = torch.cat([src, tgt], dim=1)  # (B, Ls + Lt)
    return sequence[:, :-1], sequence[:, 1:]  # every next token, the source's too


def _bos_predicted_pair(src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.cat([torch.full_like(src[:, 1:], PAD_ID), tgt], dim=1)  # <bos> under the source's last position
    return torch.cat([src, tgt[:, :-1]], dim=1), labels


def _unshifted_pair(src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.cat([src, tgt[:, :-1]], dim=1)
    return inputs, torch.cat([torch.full_like(src, PAD_ID), tgt[:, :-1]], dim=1)  # each answer token asked for itself


def check_decoder_only_pair(fn) -> None:
    """fn(src (B, Ls), tgt (B, Lt)) -> (inputs: src then tgt[:, :-1]; labels: <pad> under src, then tgt[:, 1:])."""
    src = _padded(_row(3, 1, 4)[1:])  # (1, 4): 3 1 4 <eos>
    tgt = _padded(_row(3, 1, 4))  # (1, 5): <bos> 3 1 4 <eos>
    ragged_src, ragged_tgt = _padded(_row(3, 1, 4)[1:], _row(9)[1:]), _padded(_row(4, 1, 3), _row(9))  # reverse
    generated = make_batch("reverse", 4, 1, 5, generator=torch.Generator().manual_seed(4))
    cases = [CheckCase(f"src = [{_shown_ids(s)}], tgt = [{_shown_ids(t)}]", (s, t), _decoder_only_pair(s, t))
             for s, t in ((src, tgt), (ragged_src, ragged_tgt), (generated.src, generated.tgt))]
    mistakes = [
        Mistake("those labels ask for the source's next digits too, which are random: only the answer is scored, so "
                "every position over the source gets <pad>, which the loss ignores", _language_model_pair),
        Mistake("the last source position is asked for <bos>, which is always given, never predicted: it gets <pad> "
                "too, and the first answer digit is asked of the position that reads <bos>", _bos_predicted_pair),
        Mistake("each answer position is asked for the token it reads: the labels are the answer one token later",
                _unshifted_pair),
    ]
    run_checks("decoder_only_pair", fn, cases, names=("the inputs", "the labels"), mistakes=mistakes,
               hint="the inputs are the whole source, <pad>s included, then the target without its last token; the "
                    "labels have one <pad> per source position, then the target without its first token")


def _decoder_only_mask(ids: torch.Tensor, prefix_len: int, pad_id: int, *, key_rule=True, causal=True,
                    strict=True, padding=True) -> torch.Tensor:
    """The reference (all flags True) and its known mistakes, one flag turned off each."""
    length = ids.size(1)
    query, key = torch.arange(length)[:, None], torch.arange(length)[None, :]  # (L, 1), (1, L)
    prompt = key < prefix_len if strict else key <= prefix_len  # (1, L): the prompt's keys
    if not key_rule:
        prompt = query < prefix_len  # (L, 1): a prompt query sees everything
    visible = (key <= query) | prompt if causal else key <= query  # (L, L)
    real = (ids != pad_id)[:, None, None, :] if padding else torch.ones_like(ids, dtype=torch.bool)[:, None, None, :]
    return real & visible  # (B, 1, L, L)


def check_decoder_only_mask(fn) -> None:
    """fn(ids (B, L), prefix_len, pad_id) -> bool (B, 1, L, L): key k visible to query q if it is not padding and
    k < prefix_len (the prompt, read both ways) or k <= q (the answer, causal)."""
    one = _decoder_only_pair(_padded(_row(3, 1, 4)[1:]), _padded(_row(3, 1, 4)))[0]  # (1, 8)
    ragged = _decoder_only_pair(_padded(_row(3, 1, 4)[1:], _row(9)[1:]), _padded(_row(4, 1, 3), _row(9)))[0]
    odd_pad = torch.tensor([[5, 6, 9, 7, 8, 9], [7, 9, 9, 6, 9, 9]])  # id 9 plays <pad> here, prefix 3

    def case(ids, prefix_len, pad_id, note=""):
        shown = f"[{_shown_ids(ids)}]" if pad_id == PAD_ID else str(ids.tolist())  # odd pad ids: show the numbers
        return CheckCase(f"ids = {shown}, prefix_len={prefix_len}, pad_id={pad_id}{note}",
                         (ids, prefix_len, pad_id), _decoder_only_mask(ids, prefix_len, pad_id))

    cases = [case(one, 4, PAD_ID), case(ragged, 4, PAD_ID), case(odd_pad, 3, 9, " (use the argument, not 0)"),
             case(ragged, 0, PAD_ID, " (no prompt: the decoder's padding & causal mask)"),
             case(ragged, ragged.size(1), PAD_ID, " (all prompt: every real token, as in the encoder)")]
    mistakes = [
        Mistake("the prompt is read both ways, as the encoder reads the source: a query in the prompt may also see "
                "the prompt positions after it", lambda ids, n, pad: _decoder_only_mask(ids, n, pad, causal=False)),
        Mistake("that lets a prompt query see the answer: what opens the prompt is the key's position (k < "
                "prefix_len), not the query's", lambda ids, n, pad: _decoder_only_mask(ids, n, pad, key_rule=False)),
        Mistake("positions 0 … prefix_len − 1 are the prompt: position prefix_len is the first answer token",
                lambda ids, n, pad: _decoder_only_mask(ids, n, pad, strict=False)),
        Mistake("compare the ids with the pad_id argument: here 9 plays <pad>",
                lambda ids, n, pad: _decoder_only_mask(ids, n, PAD_ID)),
        Mistake("the <pad> keys must stay hidden from every query",
                lambda ids, n, pad: _decoder_only_mask(ids, n, pad, padding=False)),
    ]

    def probe(function, ids, prefix_len, pad_id):
        mask = function(ids, prefix_len, pad_id)
        if isinstance(mask, torch.Tensor) and mask.dtype != torch.bool:
            raise CheckFailed(f"expected a bool mask (True = may attend), got dtype {mask.dtype}",
                              hint="comparisons give bool tensors: combine them with & and |, not * and +")
        return mask

    run_checks("decoder_only_mask", fn, cases, mistakes=mistakes, probe=probe,
               hint="key k is visible to query q when ids[:, k] is not pad_id and (k < prefix_len or k <= q); "
                    "shape (B, 1, L, L), bool")
