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


class FinishedPool:
    """The finished hypotheses of each of B sentences: how many there are, and the best by log P(Y) / lp(Y)."""

    def __init__(self, batch: int, max_new_tokens: int, device):
        self.count = torch.zeros(batch, dtype=torch.long, device=device)  # (B,)
        self.best = torch.full((batch,), float("-inf"), device=device)  # (B,): log P / lp of the best
        self.ids = torch.full((batch, 1 + max_new_tokens), PAD_ID, dtype=torch.long, device=device)  # (B, 1 + T)
        self.length = torch.zeros(batch, dtype=torch.long, device=device)  # (B,): tokens after <bos>, <eos> included
        self.origin = torch.zeros(batch, dtype=torch.long, device=device)  # (B,): the live row it ended from

    def add(self, ended: torch.Tensor, admitted: torch.Tensor, ids: torch.Tensor, step: int, alpha: float,
            eos_id: int) -> None:
        """Admit the <eos> extensions marked in `admitted` (B, K) of the live `ids` (B*K, step); keep each best."""
        batch, k = ended.shape
        # a hypothesis of `step` tokens (<eos> included) is ranked by log P(Y) / lp(Y)
        normalised = ended.masked_fill(~admitted, float("-inf")) / length_penalty(torch.tensor(float(step)), alpha)
        value, beam = normalised.max(dim=-1)  # (B,) each: the best admitted this step
        better = value > self.best  # strictly: of equal scores the one found first stays
        rows = beam + torch.arange(batch, device=ended.device) * k  # (B,)
        self.ids[better, :step] = ids[rows[better]]
        self.ids[better, step] = eos_id
        self.best = torch.where(better, value, self.best)
        self.length = torch.where(better, step, self.length)
        self.origin = torch.where(better, rows, self.origin)
        self.count += admitted.sum(dim=-1)


def live_bound(scores: torch.Tensor, step: int, max_new_tokens: int, alpha: float) -> torch.Tensor:
    """The best log P / lp any hypothesis grown from the live beams (B, K) of length `step` can still reach (B,).

    A continuation has log P' <= log P <= 0 and a length L in (step, max_new_tokens]; lp is monotone in L (up for
    alpha > 0, down for alpha < 0), so log P' / lp(L) <= log P / max(lp(step + 1), lp(max_new_tokens)).
    """
    lengths = torch.tensor([step + 1.0, float(max_new_tokens)])
    return scores.max(dim=-1).values / length_penalty(lengths, alpha).max()  # (B,)


def finishing(scores: torch.Tensor, logp: torch.Tensor, live: torch.Tensor, eos_id: int):
    """The <eos> extension of every beam, log P (B, K), and whether it ranks among its sentence's K best extensions.

    `live` (B, K) are the K best extensions that do not end: the K best of all lie among them and the K <eos> ones.
    """
    batch, k = scores.shape
    ended = scores + logp[:, eos_id].view(batch, k)  # (B, K)
    kth = torch.cat([live, ended], dim=-1).topk(k, dim=-1).values[:, -1:]  # (B, 1): the K-th best extension
    return ended, (ended >= kth) & ended.isfinite()


@torch.no_grad()
def beam_search(model, src: torch.Tensor, max_new_tokens: int, beam_size: int = 4, alpha: float = 0.6,
                bos_id: int = BOS_ID, eos_id: int = EOS_ID, use_cache: bool = True, return_logits: bool = False,
                return_trace: bool = False):
    """Beam search with a pool of finished hypotheses (GNMT, Wu et al. 2016, section 7; fairseq).

    Each step extends the K live beams of a sentence by every token. An <eos> extension that ranks among the
    K best extensions of the step leaves for the sentence's pool, where it is ranked by log P(Y) / lp(Y); the K
    best extensions that do not end are the next live beams, so K prefixes stay alive whatever has finished.
    A sentence is done when its pool holds K hypotheses (fairseq's rule), or earlier when no live beam can still
    beat its best finished one (`live_bound`: exact, for any alpha: it never changes the result).
    The search ends when every sentence is done or after `max_new_tokens`; a sentence with an empty pool then
    returns its likeliest live beam, unfinished, as greedy decoding would. With K = 1 it is greedy decoding.

    Batched: sentence b's live beams are rows b*K .. b*K + K - 1, and the cache rows follow them (`cache.reorder`).
    Returns ids (B, 1 + T) like `greedy_decode`; with `return_logits`, also the logits (B, T, V) the chosen
    hypotheses were built from; with `return_trace`, also each sentence's steps (see `trace_step`).
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
    scores = torch.full((batch, k), float("-inf"), device=src.device)  # (B, K): log P of each live prefix
    scores[:, 0] = 0.0
    pool = FinishedPool(batch, max_new_tokens, src.device)
    done = torch.zeros(batch, dtype=torch.bool, device=src.device)  # (B,)
    history, trace = [], [[] for _ in range(batch)]  # with return_logits: (logits, parent rows); return_trace
    for step in range(1, max_new_tokens + 1):
        # 1. log-probabilities of every next token of every live beam
        logits = next_logits(model, ids, memory, src_mask, cache)  # (B*K, V)
        logp = torch.log_softmax(never_special(logits, bos_id).float(), dim=-1)  # (B*K, V)
        # 2. the K best extensions that do not end become the live beams
        going_on = logp.clone()  # (B*K, V)
        going_on[:, eos_id] = float("-inf")
        live, rows, tokens = select_beams(scores, going_on)  # (B, K), (B*K,), (B, K)
        # 3. an <eos> extension among the K best of the step goes to the pool (none once a sentence is done)
        ended, admitted = finishing(scores, logp, live, eos_id)  # (B, K) each
        admitted &= ~done[:, None]
        pool.add(ended, admitted, ids, step, alpha, eos_id)
        if return_logits:
            history.append((logits, rows))
        # 4. the live beams' histories and caches follow them to their new rows
        grown = torch.cat([ids[rows], tokens.view(-1, 1)], dim=1)  # (B*K, step + 1)
        if cache is not None:
            cache.reorder(rows)
        # 5. a sentence is done when its pool holds K, or when no live beam can beat its best finished one
        bound = live_bound(live, step, max_new_tokens, alpha)  # (B,)
        pool_full, beaten = pool.count.ge(k), bound.le(pool.best) & pool.best.isfinite()  # (B,) each
        if return_trace:
            why = stop_reasons(done, pool_full, beaten, step == max_new_tokens)
            trace_step(trace, step, ids, grown, live, ended, admitted, bound, why, eos_id, alpha)
        ids, scores, done = grown, live, done | pool_full | beaten
        if done.all():
            break
    chosen, length, origin = choose(pool, ids, scores, rows)  # (B, 1 + steps), (B,), (B,)
    width = int(length.max())
    out = (chosen[:, : 1 + width],)
    if return_logits:
        out += (trace_logits(history, length, origin, width),)
    if return_trace:
        out += (trace,)
    return out if len(out) > 1 else out[0]


def choose(pool: FinishedPool, ids: torch.Tensor, scores: torch.Tensor, rows: torch.Tensor):
    """Each sentence's answer: the best of its pool, else its likeliest live beam (unfinished).

    Returns ids (B, 1 + steps), lengths (B,) and the row each answer's last token was chosen from at its last step.
    """
    batch, k = scores.shape
    empty = pool.count.eq(0)  # (B,)
    likeliest = scores.argmax(dim=-1) + torch.arange(batch, device=scores.device) * k  # (B,)
    chosen = pool.ids[:, : ids.size(1)].clone()  # (B, 1 + steps)
    chosen[empty] = ids[likeliest[empty]]
    length = torch.where(empty, ids.size(1) - 1, pool.length)  # (B,)
    return chosen, length, torch.where(empty, rows[likeliest], pool.origin)


def trace_logits(history: list, length: torch.Tensor, origin: torch.Tensor, width: int) -> torch.Tensor:
    """The logits (B, width, V) each answer was built from (zeros after its end), followed back from its last step.

    history[j - 1] holds step j's logits (B*K, V) and the row at step j each row at step j + 1 came from.
    """
    picked, row = [], origin
    for step in range(width, 0, -1):
        logits, parents = history[step - 1]
        row = torch.where(length == step, origin, parents[row])  # (B,): the answer's row at this step
        picked.append(logits[row].masked_fill((length < step)[:, None], 0.0))  # (B, V)
    return torch.stack(picked[::-1], dim=1)  # (B, width, V)


def trace_step(trace: list, step: int, prefixes, ids, live, ended, admitted, bound, why: list, eos_id: int,
               alpha: float) -> None:
    """Append to trace[b], for every sentence b with why[b] != "done", what `step` did: its live beams
    [(tokens, log P)], the hypotheses it `finished` [(tokens, log P, log P / lp)], the whole `pool` so far (best
    first), the live beams' `bound` (`live_bound`) and why the sentence's search `stop`s (None: it goes on)."""
    k = live.size(1)
    lp = float(length_penalty(torch.tensor(float(step)), alpha))
    for b, reason in enumerate(why):
        if reason == "done":
            continue
        beams = list(enumerate(range(b * k, b * k + k)))
        finished = [(tokens_of(prefixes[row]) + (eos_id,), float(ended[b, j]), float(ended[b, j]) / lp)
                    for j, row in beams if admitted[b, j]]
        pool = sorted((trace[b][-1]["pool"] if trace[b] else []) + finished, key=lambda h: -h[2])
        live_beams = [(tokens_of(ids[row]), float(live[b, j])) for j, row in beams if live[b, j].isfinite()]
        trace[b].append({"step": step, "live": live_beams, "finished": finished, "pool": pool,
                         "bound": float(bound[b]), "stop": reason})


def stop_reasons(done, pool_full, beaten, last: bool) -> list:
    """Per sentence, why its search stops after this step: "done" before it, a reason, or None (it goes on)."""
    return ["done" if d else "the pool holds K" if f else "no live beam can beat the best finished" if s
            else "the length limit" if last else None
            for d, f, s in zip(done.tolist(), pool_full.tolist(), beaten.tolist(), strict=True)]


def tokens_of(ids: torch.Tensor) -> tuple[int, ...]:
    """A hypothesis row (<bos> first) as a tuple of its tokens after <bos>."""
    return tuple(ids[1:].tolist())
