"""Greedy decoding (cached == recomputed) and the shared training pieces (loss, schedule)."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import BOS_ID, EOS_ID, PAD_ID, Transformer
from course_lib.decoding import greedy_decode
from course_lib.training import inverse_sqrt_schedule, label_smoothed_cross_entropy, warmup_inverse_sqrt


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
