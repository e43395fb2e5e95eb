"""Turning a trained Transformer into output sequences: greedy and beam search, with or without the KV cache."""

import torch

from .tokens import BOS_ID, EOS_ID, PAD_ID
from .validation import require_positive_int


def never_special(logits: torch.Tensor, bos_id: int = BOS_ID) -> torch.Tensor:
    """Logits with <pad> and <bos> set to -inf: a decoder may end a sentence but never pad or restart it."""
    logits = logits.clone()
    logits[..., [PAD_ID, bos_id]] = float("-inf")
    return logits


def next_logits(model, ids: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor, cache) -> torch.Tensor:
    """Logits (B, V) for the position after `ids` (B, t): only the newest token is fed when a cache holds the rest.

    Without a cache the whole prefix is recomputed, but only its newest vector goes through the output layer:
    the logits of the earlier positions would be computed only to be thrown away.
    """
    new = ids if cache is None else ids[:, -1:]  # (B, t) or (B, 1)
    newest = model.decode_states(new, memory, src_mask, cache)[:, -1]  # (B, d_model)
    return model.generator(newest)  # (B, V)


def length_penalty(length: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha; a hypothesis is ranked by log P(Y) / lp(Y)."""
    return ((5.0 + length) / 6.0) ** alpha


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
        # 1. logits for the next position
        logits = next_logits(model, ids, memory, src_mask, cache)  # (B, V)
        step_logits.append(logits)
        # 2. argmax over real tokens (never <pad> or <bos>), then <pad> for rows already finished
        next_id = never_special(logits, bos_id).argmax(dim=-1).masked_fill(done, PAD_ID)  # (B,)
        ids = torch.cat([ids, next_id.unsqueeze(1)], dim=1)  # (B, t + 1)
        done |= next_id == eos_id
        if done.all():
            break
    return (ids, torch.stack(step_logits, dim=1)) if return_logits else ids


def select_beams(scores: torch.Tensor, logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One beam-search step: scores (B, K) of the prefixes and logp (B*K, V) of their next tokens ->
    the K best extensions per sentence: their scores (B, K), the rows they extend (B*K,) and their tokens (B, K)."""
    batch, k = scores.shape
    vocab = logp.size(-1)
    # log P(prefix + token) = log P(prefix) + log p(token | prefix), ranked across all K prefixes of a sentence
    candidates = (scores.reshape(-1, 1) + logp).view(batch, k * vocab)  # (B, K*V)
    best, flat = candidates.topk(k, dim=-1)  # (B, K) each
    rows = (flat // vocab + torch.arange(batch, device=scores.device)[:, None] * k).view(-1)  # (B*K,)
    return best, rows, flat % vocab


@torch.no_grad()
def beam_search(model, src: torch.Tensor, max_new_tokens: int, beam_size: int = 4, alpha: float = 0.6,
                bos_id: int = BOS_ID, eos_id: int = EOS_ID, use_cache: bool = True, return_logits: bool = False):
    """Keep the `beam_size` most likely prefixes per sentence; return the best by log P(Y) / lp(Y).

    Batched: sentence b's beams are rows b*K .. b*K + K - 1. A finished beam keeps its score and is only
    extended with <pad>. Returns ids (B, 1 + steps) like `greedy_decode`; with `return_logits`, also the
    logits (B, steps, V) the chosen hypothesis was built from (for the cached == recomputed test).
    """
    require_positive_int("max_new_tokens", max_new_tokens)
    require_positive_int("beam_size", beam_size)
    batch, k = src.size(0), beam_size
    memory, src_mask = model.encode(src)  # (B, Ls, d_model), (B, 1, 1, Ls)
    memory = memory.repeat_interleave(k, dim=0)  # (B*K, Ls, d_model)
    src_mask = src_mask.repeat_interleave(k, dim=0)  # (B*K, 1, 1, Ls)
    ids = torch.full((batch * k, 1), bos_id, dtype=torch.long, device=src.device)  # (B*K, 1)
    cache = model.new_cache(batch * k, max_new_tokens, dtype=memory.dtype, device=src.device) if use_cache else None
    # only beam 0 is live at the start, so the first step does not pick the same token K times
    scores = torch.full((batch, k), float("-inf"), device=src.device)  # (B, K): log P of each prefix
    scores[:, 0] = 0.0
    done = torch.zeros(batch * k, dtype=torch.bool, device=src.device)  # (B*K,)
    lengths = torch.zeros(batch * k, device=src.device)  # (B*K,): tokens after <bos>, <eos> included
    history = []  # with return_logits: each step's logits (B*K, V) and the rows its beams came from
    for _ in range(max_new_tokens):
        # 1. log-probabilities of every next token; a finished beam may only add <pad>, at no cost
        logits = next_logits(model, ids, memory, src_mask, cache)  # (B*K, V)
        logp = torch.log_softmax(never_special(logits, bos_id).float(), dim=-1)  # (B*K, V)
        logp[done] = float("-inf")
        logp[done, PAD_ID] = 0.0
        # 2. keep the K likeliest extensions per sentence
        scores, rows, tokens = select_beams(scores, logp)  # (B, K), (B*K,), (B, K)
        # 3. the surviving beams' histories (and caches) follow them to their new rows
        ids = torch.cat([ids[rows], tokens.view(-1, 1)], dim=1)  # (B*K, t + 1)
        if return_logits:
            history.append((logits, rows))
        lengths = lengths[rows] + (~done[rows]).float()  # (B*K,)
        done = done[rows] | tokens.view(-1).eq(eos_id)  # (B*K,)
        if cache is not None:
            cache.reorder(rows)
        if done.all():
            break
    # 4. the best hypothesis per sentence by length-normalised score
    best = (scores / length_penalty(lengths.view(batch, k), alpha)).argmax(dim=-1)  # (B,)
    chosen = best + torch.arange(batch, device=src.device) * k  # (B,)
    if not return_logits:
        return ids[chosen]
    return ids[chosen], trace_logits(history, chosen)


def trace_logits(history: list, chosen: torch.Tensor) -> torch.Tensor:
    """Follow the chosen beams back through each step's parent rows: the logits they were built from (B, T, V)."""
    picked = []
    for logits, rows in reversed(history):
        chosen = rows[chosen]  # (B,): the row this hypothesis sat in before the step
        picked.append(logits[chosen])  # (B, V)
    return torch.stack(picked[::-1], dim=1)  # (B, T, V)
