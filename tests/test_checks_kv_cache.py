"""Notebook 09's KV-cache checkers: pass the reference, say "not implemented yet" on a stub, name each mistake's
cause."""

import math

import torch
from checking import fails_with

from course_lib import KVCache, MultiHeadAttention, causal_mask
from course_lib.checks import check_cached_attention_step, check_prefix_causal_mask
from course_lib.multi_head_attention import merge_heads, split_heads


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- cached_attention_step

def _attend(q, k, v, scale):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(scale), dim=-1) @ v  # (B, H, 1, d_k)


def cached_attention_step(x_new, past_k, past_v, w_q, w_k, w_v, w_o):
    heads = past_k.size(1)
    q = split_heads(x_new @ w_q, heads)
    k = torch.cat([past_k, split_heads(x_new @ w_k, heads)], dim=2)
    v = torch.cat([past_v, split_heads(x_new @ w_v, heads)], dim=2)
    return merge_heads(_attend(q, k, v, k.size(-1))) @ w_o, k, v


def test_cached_attention_step_checker_passes_the_reference(capsys):
    check_cached_attention_step(cached_attention_step)
    assert capsys.readouterr().out == "✔ cached_attention_step: all 3 checks passed\n"


def test_cached_attention_step_checker_accepts_course_lib_on_a_cache(capsys):
    def through_the_module(x_new, past_k, past_v, w_q, w_k, w_v, w_o):  # a MultiHeadAttention holding the weights
        batch, heads, cached, d_k = past_k.shape
        attn = MultiHeadAttention(heads * d_k, heads, bias=False).double()
        for projection, w in zip((attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj), (w_q, w_k, w_v, w_o),
                                 strict=True):
            projection.weight.data = w.T
        cache = KVCache(batch, cached + 1)
        if cached:
            cache.append(k=past_k, v=past_v)
        out = attn(x_new, cache=cache)
        return out, cache.filled()["k"], cache.filled()["v"]

    check_cached_attention_step(through_the_module)
    assert "all 3 checks passed" in capsys.readouterr().out


def test_cached_attention_step_checker_on_the_stub():
    fails_with(check_cached_attention_step, _stub, "^cached_attention_step: not implemented yet")


def test_cached_attention_step_checker_names_each_mistake():
    def step(x_new, past_k, past_v, w_q, w_k, w_v, w_o, past_only=False, new_first=False, scale=None, mix=True,
             first_key_only=False):
        heads = past_k.size(1)
        q = split_heads(x_new @ w_q, heads)
        k_new, v_new = split_heads(x_new @ w_k, heads), split_heads(x_new @ w_v, heads)
        k = torch.cat([k_new, past_k] if new_first else [past_k, k_new], dim=2)
        v = torch.cat([v_new, past_v] if new_first else [past_v, v_new], dim=2)
        keys, values = (past_k, past_v) if past_only else (k, v)
        if first_key_only:
            keys, values = keys[:, :, :1], values[:, :, :1]
        out = merge_heads(_attend(q, keys, values, scale or q.size(-1)))
        return (out @ w_o if mix else out), k, v

    mistakes = {  # the wrong answer -> its case and the words of its hint
        "the new position attends to itself too": lambda *a: step(*a, past_only=True),
        "the cache keeps time order": lambda *a: step(*a, new_first=True),
        "not of d_model": lambda x_new, *rest: step(x_new, *rest, scale=x_new.size(-1)),
        "it needs no causal mask": lambda *a: step(*a, first_key_only=True),
        "mix them with the output projection w_o": lambda *a: step(*a, mix=False),
        "return the grown cache": lambda *a: (step(*a)[0], a[1], a[2]),
    }
    for words, wrong in mistakes.items():
        fails_with(check_cached_attention_step, wrong,
                   r"failed on x_new \(1, 1, 8\) after 3 cached positions: past_k, past_v \(1, 2, 3, 4\).*Hint: .*"
                   + words)


def test_cached_attention_step_checker_names_the_returned_value_that_is_wrong():
    line = fails_with(check_cached_attention_step, lambda *a: (cached_attention_step(*a)[0], a[1], a[2]),
                      r"the keys: expected shape \(1, 2, 4, 4\), got shape \(1, 2, 3, 4\)")
    assert "the output" not in line


def test_cached_attention_step_checker_reports_a_concatenation_on_the_wrong_dim():
    def heads_dim(x_new, past_k, past_v, w_q, w_k, w_v, w_o):
        heads = past_k.size(1)
        k = torch.cat([past_k, split_heads(x_new @ w_k, heads)], dim=1)  # (B, 2H, ...) only if T == 1
        return x_new, k, k

    fails_with(check_cached_attention_step, heads_dim,
               r"failed on x_new \(1, 1, 8\) after 3 cached positions.*it raised RuntimeError.*Hint: project x_new")


def test_cached_attention_step_checker_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_cached_attention_step(cached_attention_step)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- prefix_causal_mask

def prefix_causal_mask(new_len, cached_len):
    return torch.ones(new_len, cached_len + new_len, dtype=torch.bool).tril(diagonal=cached_len)


def test_prefix_causal_mask_checker_passes_the_reference_and_course_lib(capsys):
    check_prefix_causal_mask(prefix_causal_mask)
    check_prefix_causal_mask(lambda new_len, cached_len: causal_mask(new_len, offset=cached_len))
    assert capsys.readouterr().out == "✔ prefix_causal_mask: all 4 checks passed\n" * 2


def test_prefix_causal_mask_checker_on_the_stub():
    fails_with(check_prefix_causal_mask, _stub, "^prefix_causal_mask: not implemented yet")


def test_prefix_causal_mask_checker_names_each_mistake():
    def lower(rows, columns, diagonal):
        return torch.ones(rows, columns, dtype=torch.bool).tril(diagonal=diagonal)

    mistakes = {  # the wrong answer -> its case and the words of its hint
        r"new_len=1 after cached_len=3 .*expected shape \(1, 4\), got shape \(1, 1\).*a column for every key":
            lambda n, c: lower(n, n, 0),
        r"new_len=1 after cached_len=3 .*the diagonal moves right by cached_len": lambda n, c: lower(n, c + n, 0),
        r"new_len=3 after cached_len=2.*must not see the new tokens after it": lambda n, c: lower(n, c + n, c + n),
        r"new_len=1 after cached_len=3 .*True = may attend": lambda n, c: ~lower(n, c + n, c),
        r"new_len=1 after cached_len=3 .*the diagonal itself is True": lambda n, c: lower(n, c + n, c - 1),
        r"new_len=1 after cached_len=3 .*the first cached_len columns are all True":
            lambda n, c: torch.cat([torch.zeros(n, c, dtype=torch.bool), lower(n, n, 0)], dim=1),
    }
    for pattern, wrong in mistakes.items():
        fails_with(check_prefix_causal_mask, wrong, "failed on " + pattern)


def test_prefix_causal_mask_checker_wants_a_bool_mask():
    fails_with(check_prefix_causal_mask, lambda n, c: prefix_causal_mask(n, c).float(),
               r"failed on new_len=1 after cached_len=3 .*expected a bool tensor")
