"""Turning a trained Transformer into output sequences: greedy decoding, with or without the KV cache."""

import torch

from .tokens import BOS_ID, EOS_ID, PAD_ID
from .validation import require_positive_int


def never_special(logits: torch.Tensor, bos_id: int = BOS_ID) -> torch.Tensor:
    """Logits with <pad> and <bos> set to -inf: a decoder may end a sentence but never pad or restart it."""
    logits = logits.clone()
    logits[..., [PAD_ID, bos_id]] = float("-inf")
    return logits


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, max_new_tokens: int, bos_id: int = BOS_ID, eos_id: int = EOS_ID,
                  use_cache: bool = True, return_logits: bool = False):
    """Pick the most likely next token until every row has produced <eos> or `max_new_tokens` are made.

    Returns ids (B, 1 + steps) starting with <bos>, <pad> after a row's <eos>; with `return_logits`,
    also the logits of every step (B, steps, V). `use_cache=False` recomputes the whole prefix each step.
    """
    require_positive_int("max_new_tokens", max_new_tokens)
    memory, src_mask = model.encode(src)  # (B, Ls, d_model), (B, 1, 1, Ls)
    batch = src.size(0)
    ids = torch.full((batch, 1), bos_id, dtype=torch.long, device=src.device)  # (B, 1)
    cache = model.new_cache(batch, max_new_tokens, dtype=memory.dtype, device=src.device) if use_cache else None
    done = torch.zeros(batch, dtype=torch.bool, device=src.device)  # (B,)
    step_logits = []
    for _ in range(max_new_tokens):
        # 1. logits for the next position: feed only the newest token when the cache holds the rest
        new = ids[:, -1:] if use_cache else ids  # (B, 1) or (B, t)
        logits = model.decode(new, memory, src_mask, cache)[:, -1]  # (B, V)
        step_logits.append(logits)
        # 2. argmax over real tokens (never <pad> or <bos>), then <pad> for rows already finished
        next_id = never_special(logits, bos_id).argmax(dim=-1).masked_fill(done, PAD_ID)  # (B,)
        ids = torch.cat([ids, next_id.unsqueeze(1)], dim=1)  # (B, t + 1)
        done |= next_id == eos_id
        if done.all():
            break
    return (ids, torch.stack(step_logits, dim=1)) if return_logits else ids
