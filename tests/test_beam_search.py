"""Beam search with a pool of finished hypotheses, against exhaustive search and a plain-Python beam on fake models.

A fake model's next-token distribution is a fixed function of (source, prefix), so every sentence's probability
is known exactly: exhaustive search finds the best hypothesis by log P / lp, and a beam search written with
lists (no batching, no cache, no early stop) says what the tensor implementation must return for any K.
"""

import math
import random
from functools import lru_cache

import pytest
import torch

from course_lib import BOS_ID, EOS_ID, PAD_ID
from course_lib.decoding import beam_search, greedy_decode, length_penalty, live_bound

VOCAB = 6  # <pad> <bos> <eos> and three words: 3, 4, 5
WORDS = (EOS_ID, 3, 4, 5)  # what may follow a prefix


class PrefixCache:
    """The fake model's cache: the prefix of every row, reordered with the beams."""

    def __init__(self, batch_size: int):
        self.prefixes = [()] * batch_size

    def reorder(self, indices: torch.Tensor) -> None:
        self.prefixes = [self.prefixes[i] for i in indices.tolist()]


class FakeModel:
    """What decoding needs (encode, new_cache, decode_states, generator) around `logits_of(source, prefix)` (V,)."""

    def __init__(self, logits_of):
        self.logits_of = lru_cache(maxsize=None)(logits_of)
        self.generator = torch.nn.Identity()  # the "states" are the logits already

    def encode(self, src: torch.Tensor):
        return src[..., None].float(), src.ne(PAD_ID)[:, None, None, :]  # (B, Ls, 1), (B, 1, 1, Ls)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> PrefixCache:
        return PrefixCache(batch_size)

    def decode_states(self, tgt, memory, src_mask, cache=None) -> torch.Tensor:
        sources = [tuple(row[mask].long().tolist()) for row, mask in zip(memory[..., 0], src_mask[:, 0, 0],
                                                                          strict=True)]
        if cache is None:  # the whole prefix: logits at every position
            rows = [tuple(row) for row in tgt.tolist()]
            return torch.stack([torch.stack([self.logits_of(s, p[: i + 1]) for i in range(len(p))])
                                for s, p in zip(sources, rows, strict=True)])  # (B, t, V)
        # the cache holds the prefix but its newest token, `tgt` (B, 1): <bos> at the first step
        cache.prefixes = [p + (t,) for p, t in zip(cache.prefixes, tgt[:, -1].tolist(), strict=True)]
        return torch.stack([self.logits_of(s, p) for s, p in zip(sources, cache.prefixes, strict=True)])[:, None]


def random_model(seed: int) -> FakeModel:
    """Random next-token distributions: peaked or flat (a temperature per model), <eos> likelier or rarer."""
    rng = random.Random(seed)
    temperature, eos_bias = rng.choice([0.3, 1.0, 2.0, 4.0]), rng.uniform(-2.0, 2.0)

    def logits_of(source: tuple, prefix: tuple) -> torch.Tensor:
        node = random.Random(hash((seed, source, prefix)))
        logits = [float("-inf"), float("-inf")] + [node.gauss(0.0, 1.0) * temperature for _ in WORDS]
        logits[EOS_ID] += eos_bias
        return torch.tensor(logits)

    return FakeModel(logits_of)


def table_model(table: dict) -> FakeModel:
    """Distributions given as probabilities: table[prefix without <bos>] = {token: p}; the longest key that the
    prefix starts with applies (so ("b",) covers every prefix starting with b)."""
    def logits_of(source: tuple, prefix: tuple) -> torch.Tensor:
        words = prefix[1:]
        key = max((k for k in table if words[: len(k)] == k), key=len)
        probs = torch.zeros(VOCAB, dtype=torch.float64)
        for token, p in table[key].items():
            probs[token] = p
        return probs.log().float()

    return FakeModel(logits_of)


def next_logp(model: FakeModel, source: tuple, prefix: tuple) -> dict[int, float]:
    """log p(token | prefix) over the tokens that may follow (as decoding sees them: <pad>, <bos> excluded)."""
    logits = model.logits_of(source, prefix).double()
    logp = torch.log_softmax(logits[list(WORDS)], dim=-1).tolist()
    return dict(zip(WORDS, logp, strict=True))


def normalised(log_p: float, length: int, alpha: float) -> float:
    return log_p / float(length_penalty(torch.tensor(float(length)), alpha))


def exhaustive(model, source: tuple, max_new_tokens: int, alpha: float) -> tuple[int, ...]:
    """Every finished sentence up to `max_new_tokens` tokens; the best by log P / lp (tokens after <bos>)."""
    best, best_score = None, -math.inf
    frontier = [((BOS_ID,), 0.0)]
    for length in range(1, max_new_tokens + 1):
        grown = []
        for prefix, log_p in frontier:
            for token, lp in next_logp(model, source, prefix).items():
                if token == EOS_ID:
                    score = normalised(log_p + lp, length, alpha)
                    if score > best_score:
                        best, best_score = prefix[1:] + (EOS_ID,), score
                else:
                    grown.append((prefix + (token,), log_p + lp))
        frontier = grown
    return best


def list_beam(model, source: tuple, max_new_tokens: int, k: int, alpha: float) -> tuple[int, ...]:
    """The beam search of the docstring, with lists: K live beams; <eos> among the K best extensions of a step
    goes to the pool; stop when it holds K or at the limit; the best of the pool, else the likeliest live beam."""
    live, pool = [((BOS_ID,), 0.0)], []
    for length in range(1, max_new_tokens + 1):
        extensions = sorted(((prefix + (token,), log_p + lp) for prefix, log_p in live
                             for token, lp in next_logp(model, source, prefix).items() if log_p + lp > -math.inf),
                            key=lambda h: -h[1])
        pool += [(h[0][1:], normalised(h[1], length, alpha)) for h in extensions[:k] if h[0][-1] == EOS_ID]
        live = [h for h in extensions if h[0][-1] != EOS_ID][:k]
        if len(pool) >= k:
            break
    if pool:
        return max(pool, key=lambda h: h[1])[0]  # max keeps the first of equal scores, as the search does
    return max(live, key=lambda h: h[1])[0][1:]


def answer(ids: torch.Tensor) -> tuple[int, ...]:
    """A returned row (<bos> first, <pad> after the end) as its tokens after <bos>."""
    return tuple(t for t in ids[1:].tolist() if t != PAD_ID)


SOURCES = [(5, 4, EOS_ID), (3, EOS_ID), (4, 4, 5, 3, EOS_ID)]


def padded(sources) -> torch.Tensor:
    width = max(map(len, sources))
    return torch.tensor([list(s) + [PAD_ID] * (width - len(s)) for s in sources])  # (B, Ls)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, -0.5])
def test_a_beam_that_prunes_nothing_finds_the_exhaustive_best(alpha):
    # 5 tokens: at most 3**5 live prefixes and 4 * 3**4 extensions a step, so K = 324 keeps every one; the early
    # stop (live_bound) is on, so this also shows it never cuts off a better hypothesis
    for seed in range(12):
        model = random_model(seed)
        got = beam_search(model, padded(SOURCES), 5, beam_size=324, alpha=alpha)
        for source, row in zip(SOURCES, got, strict=True):
            assert answer(row) == exhaustive(model, source, 5, alpha), (seed, source)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
def test_every_beam_size_returns_the_list_beam_search(k, alpha):
    for seed in range(25):
        model = random_model(100 + seed)
        got = beam_search(model, padded(SOURCES), 6, beam_size=k, alpha=alpha)
        for source, row in zip(SOURCES, got, strict=True):
            assert answer(row) == list_beam(model, source, 6, k, alpha), (seed, source)


# the issue's example: <eos> 0.40, a 0.35, b 0.25; after b, "b b b <eos>" is nearly certain; after a, no <eos> soon
A, B = 3, 4
ISSUE = {(): {EOS_ID: 0.40, A: 0.35, B: 0.25}, (A,): {EOS_ID: 0.02, A: 0.49, B: 0.49},
         (B,): {B: 0.999, EOS_ID: 0.001}, (B, B, B, B): {EOS_ID: 0.999, B: 0.001}}


def test_two_beams_keep_the_long_hypothesis_that_a_finished_one_would_have_pruned():
    model = table_model(ISSUE)
    src = padded(SOURCES[:1])
    # b b b b <eos>: log P = log 0.25 + 4 log 0.999 = -1.390, / lp(5) = -0.834 with alpha = 1; <eos>: -0.916
    assert exhaustive(model, SOURCES[0], 6, alpha=1.0) == (B, B, B, B, EOS_ID)
    assert answer(beam_search(model, src, 6, beam_size=2, alpha=1.0)[0]) == (B, B, B, B, EOS_ID)
    assert answer(greedy_decode(model, src, 6)[0]) == (EOS_ID,)
    # <eos> finished at step 1, yet two beams (a and b) stayed live
    trace = beam_search(model, src, 6, beam_size=2, alpha=1.0, return_trace=True)[1][0]
    assert trace[0]["finished"] == [((EOS_ID,), pytest.approx(math.log(0.4)), pytest.approx(math.log(0.4)))]
    assert [tokens for tokens, _ in trace[0]["live"]] == [(A,), (B,)]
    assert trace[-1]["stop"] == "the pool holds K" and len(trace[-1]["pool"]) == 2
    assert trace[-1]["pool"][0][0] == (B, B, B, B, EOS_ID)


def test_the_bound_stops_a_sentence_no_live_beam_can_improve():
    # <eos> 0.9 at once; every other prefix keeps <eos> at 0.001, so its live beams fall far behind
    model = table_model({(): {EOS_ID: 0.9, A: 0.05, B: 0.05}, (A,): {EOS_ID: 0.001, A: 0.5, B: 0.499},
                         (B,): {EOS_ID: 0.001, A: 0.5, B: 0.499}})
    ids, trace = beam_search(model, padded(SOURCES[:1]), 40, beam_size=3, alpha=0.6, return_trace=True)
    assert answer(ids[0]) == (EOS_ID,)
    last = trace[0][-1]
    assert last["stop"] == "no live beam can beat the best finished" and len(last["pool"]) < 3
    assert last["step"] < 40 and last["bound"] <= last["pool"][0][2]
    # without the stop the search would run on to the pool's K: the same answer, by the list beam search
    assert list_beam(model, SOURCES[0], 40, 3, 0.6) == (EOS_ID,)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0, -1.0])
def test_the_bound_is_above_every_continuation(alpha):
    torch.manual_seed(0)
    scores = -torch.rand(4, 3) * 6  # (B, K): log P of live beams of length 3
    bound = live_bound(scores, 3, 9, alpha)  # (B,)
    for length in range(4, 10):  # any finished length, with the most likely continuation (log P unchanged)
        assert (scores.max(-1).values / length_penalty(torch.tensor(float(length)), alpha) <= bound + 1e-6).all()


@pytest.mark.parametrize("seed", range(8))
def test_a_beam_of_one_is_greedy(seed):
    model = random_model(200 + seed)
    src = padded(SOURCES)
    assert torch.equal(beam_search(model, src, 6, beam_size=1), greedy_decode(model, src, 6))


@pytest.mark.parametrize("seed", range(6))
def test_cached_equals_uncached_and_batched_equals_one_at_a_time(seed):
    model = random_model(300 + seed)
    src = padded(SOURCES)
    cached, logits = beam_search(model, src, 6, beam_size=3, return_logits=True)
    uncached, logits_r = beam_search(model, src, 6, beam_size=3, use_cache=False, return_logits=True)
    assert torch.equal(cached, uncached) and torch.equal(logits, logits_r)
    for source, row, row_logits in zip(SOURCES, cached, logits, strict=True):
        alone, alone_logits = beam_search(model, torch.tensor([source]), 6, beam_size=3, return_logits=True)
        assert answer(alone[0]) == answer(row)
        steps = len(answer(row))
        assert torch.equal(alone_logits[0, :steps], row_logits[:steps])
        # the logits are the fake model's own at each prefix of the answer
        prefix = (BOS_ID,) + answer(row)
        expected = torch.stack([model.logits_of(source, prefix[: i + 1]) for i in range(steps)])
        assert torch.equal(row_logits[:steps], expected)


def test_a_sentence_that_never_ends_returns_its_likeliest_live_beam():
    model = table_model({(): {A: 0.6, B: 0.4}})  # <eos> impossible
    ids, trace = beam_search(model, padded(SOURCES[:1]), 4, beam_size=2, return_trace=True)
    assert answer(ids[0]) == (A, A, A, A) and trace[0][-1]["stop"] == "the length limit"
    assert trace[0][-1]["pool"] == []


def test_the_trace_follows_each_sentence_until_it_stops():
    model = random_model(7)
    ids, trace = beam_search(model, padded(SOURCES), 6, beam_size=2, alpha=0.6, return_trace=True)
    assert len(trace) == len(SOURCES)
    for row, steps in zip(ids, trace, strict=True):
        assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
        assert [s["stop"] for s in steps[:-1]] == [None] * (len(steps) - 1) and steps[-1]["stop"] is not None
        for s in steps:
            assert len(s["live"]) == 2 and all(len(tokens) == s["step"] for tokens, _ in s["live"])
            assert [h[2] for h in s["pool"]] == sorted((h[2] for h in s["pool"]), reverse=True)
            assert all(h[0][-1] == EOS_ID and h[2] == pytest.approx(normalised(h[1], len(h[0]), 0.6))
                       for h in s["finished"])
        if steps[-1]["pool"]:
            assert steps[-1]["pool"][0][0] == answer(row)
