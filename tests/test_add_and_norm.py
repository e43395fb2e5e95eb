"""LayerNorm (explicit and fused) against nn.LayerNorm; Add & Norm; the position-wise feed-forward network."""

import pytest
import torch
import torch.nn.functional as F
from tolerances import TOL, max_abs_diff
from torch import nn

from course_lib import LayerNorm, PositionwiseFeedForward, add_and_norm, set_fused


def _norm_pair(d_model, dtype, eps=1e-5):
    ref = nn.LayerNorm(d_model, eps=eps).to(dtype)
    with torch.no_grad():
        ref.weight.copy_(1 + 0.3 * torch.randn(d_model))
        ref.bias.copy_(0.3 * torch.randn(d_model))
    ours = LayerNorm(d_model, eps=eps).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
@pytest.mark.parametrize("eps", [1e-5, 1e-6, 0.1])
def test_layer_norm_equals_torch(dtype, fused, eps):
    ours, ref = _norm_pair(16, dtype, eps)
    set_fused(ours, fused)
    assert ours.fused is fused
    x = 3 * torch.randn(2, 5, 16, dtype=dtype) + 1.5
    assert max_abs_diff(ours(x), ref(x)) <= TOL[dtype]


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
@pytest.mark.parametrize("weights", ["float32_weights", "same_weights"])
@pytest.mark.parametrize("half", [torch.bfloat16, torch.float16])
def test_layer_norm_keeps_a_half_precision_dtype(half, weights, fused):
    """Like nn.LayerNorm: float16/bfloat16 in, the same dtype out, within one unit in the last place of it."""
    ours, ref = _norm_pair(16, torch.float32)
    if weights == "same_weights":
        ours, ref = ours.to(half), ref.to(half)
    x = (3 * torch.randn(4, 5, 16) + 1.5).to(half)
    out, expected = set_fused(ours, fused)(x), ref(x)
    assert out.dtype == expected.dtype == half  # the explicit path used to return float32
    ulp = torch.finfo(half).eps * expected.float().abs().clamp(min=1.0)  # one step between neighbours, or more
    assert ((out.float() - expected.float()).abs() <= ulp).all()


def test_set_fused_switches_back_and_leaves_the_class_default():
    norm = LayerNorm(4)
    set_fused(norm)
    assert norm.fused and not LayerNorm.fused
    set_fused(norm, False)
    assert not norm.fused


def test_layer_norm_default_gives_zero_mean_unit_variance():
    x = 5 * torch.randn(3, 7, 32, dtype=torch.float64) - 2
    y = LayerNorm(32).double()(x)
    assert y.mean(-1).abs().max() <= 1e-12
    # biased variance of the output is var / (var + eps), just under 1
    var = x.var(-1, unbiased=False)
    assert max_abs_diff(y.var(-1, unbiased=False), var / (var + 1e-5)) <= 1e-10


def test_layer_norm_uses_biased_variance_and_eps_inside_the_root():
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0]], dtype=torch.float64)
    mean, var = 3.0, ((1 - 3) ** 2 + (2 - 3) ** 2 + 0 + (6 - 3) ** 2) / 4  # divide by d, not d - 1
    expected = (x - mean) / (var + 0.5) ** 0.5
    assert max_abs_diff(LayerNorm(4, eps=0.5).double()(x), expected) <= 1e-12


def _explicit(x, weight, bias):
    """Our explicit LayerNorm as a pure function of its parameters, for gradcheck in every input."""
    norm = LayerNorm(x.size(-1)).double()
    del norm.weight, norm.bias
    norm.weight, norm.bias = weight, bias
    return norm(x)


def test_layer_norm_gradcheck():
    norm, _ = _norm_pair(6, torch.float64)
    x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    weight = norm.weight.detach().clone().requires_grad_()
    bias = norm.bias.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(norm, (x,))
    assert torch.autograd.gradcheck(_explicit, (x, weight, bias))


def test_layer_norm_gradients_equal_torch():
    ours, ref = _norm_pair(8, torch.float64)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn(2, 3, 8, dtype=torch.float64)
    (ours(x1) * g).sum().backward()
    (ref(x2) * g).sum().backward()
    assert max_abs_diff(x1.grad, x2.grad) <= 1e-10
    assert max_abs_diff(ours.weight.grad, ref.weight.grad) <= 1e-10
    assert max_abs_diff(ours.bias.grad, ref.bias.grad) <= 1e-10


def test_add_and_norm_post_and_pre():
    norm = LayerNorm(4).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    sublayer = nn.Linear(4, 4).double()
    identity = nn.Identity()
    post = add_and_norm(x, sublayer, norm, identity, norm_first=False)
    pre = add_and_norm(x, sublayer, norm, identity, norm_first=True)
    assert max_abs_diff(post, norm(x + sublayer(x))) == 0
    assert max_abs_diff(pre, x + sublayer(norm(x))) == 0


def test_add_and_norm_applies_dropout_to_the_sublayer_only():
    x = torch.randn(2, 3, 4)
    drop_all = nn.Dropout(p=0.999999).train()
    torch.manual_seed(1)
    out = add_and_norm(x, lambda y: y + 100.0, nn.Identity(), drop_all, norm_first=True)
    assert max_abs_diff(out, x) <= 1e-5  # the residual path survives any dropout


@pytest.mark.parametrize("activation, fn", [("relu", F.relu), ("gelu", F.gelu)])
def test_feed_forward_equals_its_formula(activation, fn):
    ffn = PositionwiseFeedForward(6, 10, activation=activation).double()
    x = torch.randn(2, 3, 6, dtype=torch.float64)
    expected = fn(x @ ffn.linear1.weight.T + ffn.linear1.bias) @ ffn.linear2.weight.T + ffn.linear2.bias
    out = ffn(x)
    assert out.shape == (2, 3, 6)
    assert max_abs_diff(out, expected) <= 1e-12


def test_feed_forward_is_position_wise():
    ffn = PositionwiseFeedForward(4, 8).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    out = ffn(x)
    for pos in range(5):
        assert max_abs_diff(out[:, pos], ffn(x[:, pos : pos + 1])[:, 0]) <= 1e-12


def test_feed_forward_dropout_in_training_only():
    ffn = PositionwiseFeedForward(4, 64, dropout=0.5)
    x = torch.randn(2, 3, 4)
    ffn.eval()
    assert torch.equal(ffn(x), ffn(x))
    ffn.train()
    assert not torch.equal(ffn(x), ffn(x))
