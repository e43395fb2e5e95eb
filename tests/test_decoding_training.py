"""Greedy decoding (cached == recomputed) and the shared training pieces (loss, schedule)."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import BOS_ID, EOS_ID, PAD_ID, Transformer
from course_lib.decoding import beam_search, greedy_decode, never_special, next_logits
from course_lib.training import (
    ToyTrainingConfig,
    inverse_sqrt_schedule,
    label_smoothed_cross_entropy,
    warmup_inverse_sqrt,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Transformer(11, 13, d_model=16, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
                       d_ff=32, dropout=0.0).eval()


def test_greedy_cached_equals_recomputed(model):
    src = torch.tensor([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0]])
    ids_c, logits_c = greedy_decode(model, src, 12, return_logits=True)
    ids_r, logits_r = greedy_decode(model, src, 12, use_cache=False, return_logits=True)
    assert torch.equal(ids_c, ids_r)
    live = ids_c[:, :-1].ne(PAD_ID) & ids_c[:, :-1].ne(EOS_ID)  # steps taken before a row's <eos>
    assert live.sum() > 10
    torch.testing.assert_close(logits_c[live], logits_r[live], atol=1e-5, rtol=1e-5)
    assert ids_c[:, 0].eq(BOS_ID).all()


def test_uncached_next_logits_are_the_last_row_of_the_full_decode(model):
    # the uncached step sends only the newest position through the output layer: the same numbers, less work
    src = torch.tensor([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0]])
    ids = torch.tensor([[BOS_ID, 5, 6, 7], [BOS_ID, 9, 4, 2]])
    with torch.no_grad():
        memory, src_mask = model.encode(src)
        full = model.decode(ids, memory, src_mask)  # (B, t, V)
        states = model.decode_states(ids, memory, src_mask)  # (B, t, d_model)
        seen = []
        hook = model.generator.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
        newest = next_logits(model, ids, memory, src_mask, None)  # (B, V)
        hook.remove()
    assert seen == [torch.Size((2, 16))]  # one vector per sentence went through the output layer, not t of them
    assert torch.equal(model.generator(states), full)
    torch.testing.assert_close(newest, full[:, -1], atol=1e-6, rtol=1e-6)


def test_greedy_pads_after_eos_and_stops(model):
    with torch.no_grad():
        model.generator.bias.fill_(-1e4)
        model.generator.bias[EOS_ID] = 1e4  # every step says <eos>
    ids = greedy_decode(model, torch.tensor([[5, 6], [7, 8]]), 10)
    assert ids.tolist() == [[BOS_ID, EOS_ID], [BOS_ID, EOS_ID]]


def test_greedy_rejects_bad_budget(model):
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_decode(model, torch.tensor([[5]]), 0)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothing_equals_torch(smoothing):
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7, dtype=torch.float64)
    target = torch.randint(1, 7, (3, 5))
    target[0, 3:] = PAD_ID
    ours = label_smoothed_cross_entropy(logits, target, smoothing)
    theirs = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD_ID, label_smoothing=smoothing)
    assert abs(ours.item() - theirs.item()) < 1e-6


def test_label_smoothing_checks_shapes():
    with pytest.raises(ValueError, match=r"need target of shape \(2, 3\)"):
        label_smoothed_cross_entropy(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="smoothing"):
        label_smoothed_cross_entropy(torch.zeros(2, 3, 5), torch.zeros(2, 3, dtype=torch.long), 1.5)


def test_schedule_warms_up_then_decays():
    assert warmup_inverse_sqrt(1, 4) == 0.25
    assert warmup_inverse_sqrt(4, 4) == 1.0
    assert warmup_inverse_sqrt(16, 4) == 0.5
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = inverse_sqrt_schedule(opt, 4)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == [0.5, 1.0, 1.5, 2.0] and lrs[4] < 2.0


def test_cooldown_falls_linearly_to_zero_over_the_last_steps():
    # 10 steps, warm-up 1, the last 4 cooling down: the factor is 1/sqrt(s), times 4/4, 3/4, 2/4, 1/4 at s = 7..10
    factors = [warmup_inverse_sqrt(s, 1, total_steps=10, cooldown_steps=4) for s in range(1, 11)]
    plain = [warmup_inverse_sqrt(s, 1) for s in range(1, 11)]
    assert factors[:7] == plain[:7]
    assert factors[7:] == pytest.approx([plain[7] * 3 / 4, plain[8] * 2 / 4, plain[9] * 1 / 4])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = inverse_sqrt_schedule(opt, 1, 10, 4)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx(factors)


def test_cooldown_is_checked():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="cooldown_steps=5 is more than total_steps=4"):
        inverse_sqrt_schedule(opt, 1, 4, 5)
    with pytest.raises(TypeError, match="total_steps"):  # a cool-down needs the budget it ends
        inverse_sqrt_schedule(opt, 1, None, 5)
    with pytest.raises(ValueError, match="cooldown"):
        ToyTrainingConfig(cooldown=1.5)
    assert ToyTrainingConfig(steps=500, cooldown=0.2).cooldown_steps == 100


def test_beam_cached_equals_recomputed(model):
    src = torch.tensor([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0], [3, 3, 5, 2, 0]])
    ids_c, logits_c = beam_search(model, src, 12, beam_size=3, return_logits=True)
    ids_r, logits_r = beam_search(model, src, 12, beam_size=3, use_cache=False, return_logits=True)
    assert torch.equal(ids_c, ids_r)
    live = ids_c[:, :-1].ne(PAD_ID) & ids_c[:, :-1].ne(EOS_ID)
    assert live.sum() > 10
    torch.testing.assert_close(logits_c[live], logits_r[live], atol=1e-5, rtol=1e-5)
    # the traced logits are the ones the chosen tokens came from: recompute them with teacher forcing
    memory, src_mask = model.encode(src)
    forced = model.decode(ids_c[:, :-1], memory, src_mask)  # (B, T, V)
    torch.testing.assert_close(forced[live], logits_c[live], atol=1e-5, rtol=1e-5)


def test_beam_batched_equals_one_at_a_time(model):
    src = torch.tensor([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0], [3, 3, 5, 2, 0]])
    batched = beam_search(model, src, 12, beam_size=4)
    for row, expected in zip(src, batched, strict=True):
        alone = beam_search(model, row[row.ne(PAD_ID)][None], 12, beam_size=4)[0]
        assert alone.tolist() == expected[: alone.numel()].tolist()
        assert expected[alone.numel():].eq(PAD_ID).all()


def test_beam_of_one_is_greedy(model):
    src = torch.tensor([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0]])
    assert torch.equal(beam_search(model, src, 12, beam_size=1), greedy_decode(model, src, 12))


def test_beam_finds_a_likelier_sentence_than_greedy(model):
    """Beam search explores more prefixes: its sentences are likelier than greedy's (not always: it can prune
    the greedy path — but on most rows and on average)."""
    torch.manual_seed(1)
    src = torch.randint(4, 11, (16, 6))
    with torch.no_grad():  # N(0, 1) tables (x sqrt(d_model)): peaked next-token distributions, where greedy's
        for table in (model.src_embed.lookup.weight, model.tgt_embed.lookup.weight):  # early choice often costs
            table[1:].normal_(0.0, 1.0)  # later; <pad>'s row stays zero

    def log_prob(ids):
        memory, src_mask = model.encode(src)
        logp = torch.log_softmax(never_special(model.decode(ids[:, :-1], memory, src_mask)), -1)
        taken = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T)
        return taken.masked_fill(ids[:, 1:].eq(PAD_ID), 0.0).sum(-1)

    with torch.no_grad():
        greedy = log_prob(greedy_decode(model, src, 10))
        beam = log_prob(beam_search(model, src, 10, beam_size=4, alpha=0.0))
    assert (beam >= greedy - 1e-5).float().mean() >= 0.9
    assert beam.mean() > greedy.mean() + 1.0


def test_beam_rejects_bad_size(model):
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, torch.tensor([[5]]), 5, beam_size=0)


def test_beam_with_mla_self_attention_cached_equals_recomputed():
    torch.manual_seed(0)
    mla = Transformer(11, 13, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=2,
                      d_ff=32, dropout=0.0, self_attention="mla").eval()
    src = torch.tensor([[5, 6, 7, 8, 2], [9, 4, 2, 0, 0]])
    assert torch.equal(beam_search(mla, src, 10, beam_size=3), beam_search(mla, src, 10, beam_size=3, use_cache=False))
