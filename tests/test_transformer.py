"""The whole Transformer: shapes, the explicit vs fused path, teacher forcing, encoder and decoder stacks."""

import pytest
import torch
from tolerances import TOL, max_abs_diff, randomize_

from course_lib import (
    BOS_ID,
    PAD_ID,
    Decoder,
    Encoder,
    LayerNorm,
    MultiHeadAttention,
    Transformer,
    causal_mask,
    padding_mask,
    set_fused,
)

SRC_VOCAB, TGT_VOCAB = 13, 11


def _model(dtype=torch.float64, norm_first=False, activation="relu", dropout=0.0):
    model = Transformer(SRC_VOCAB, TGT_VOCAB, d_model=8, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
                        d_ff=16, dropout=dropout, max_len=16, norm_first=norm_first, activation=activation)
    return model.to(dtype).eval()


def _batch():
    src = torch.tensor([[5, 6, 7, 8, PAD_ID, PAD_ID], [9, 10, 11, 12, 4, 5]])
    tgt = torch.tensor([[BOS_ID, 4, 5, 6, PAD_ID], [BOS_ID, 7, 8, 9, 10]])
    return src, tgt


def test_logits_shape_and_dtype(dtype):
    src, tgt = _batch()
    logits = _model(dtype)(src, tgt)
    assert logits.shape == (2, 5, TGT_VOCAB) and logits.dtype == dtype
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_explicit_and_fused_paths_give_the_same_logits(dtype, norm_first, activation):
    model = _model(dtype, norm_first, activation)
    randomize_(model)
    src, tgt = _batch()
    with torch.no_grad():
        explicit = model(src, tgt)
        set_fused(model)
        fused = model(src, tgt)
        set_fused(model, False)
        again = model(src, tgt)
    assert max_abs_diff(explicit, fused) <= TOL[dtype]
    assert torch.equal(explicit, again)


def test_set_fused_reaches_every_attention_and_norm():
    model = set_fused(_model())
    switchable = [m for m in model.modules() if isinstance(m, (MultiHeadAttention, LayerNorm))]
    # 2 encoder layers x (1 attention + 2 norms) + 2 decoder layers x (2 attentions + 3 norms); no final norms
    assert len(switchable) == 2 * 3 + 2 * 5
    assert all(m.fused for m in switchable)
    assert set_fused(model, False) is model and not any(m.fused for m in switchable)


def test_pre_norm_stacks_get_a_final_norm_post_norm_do_not():
    assert _model(norm_first=False).encoder.norm is None and _model(norm_first=False).decoder.norm is None
    assert isinstance(_model(norm_first=True).encoder.norm, LayerNorm)
    assert isinstance(_model(norm_first=True).decoder.norm, LayerNorm)
    assert isinstance(Encoder(1, 8, 2, 16, final_norm=True).norm, LayerNorm)
    assert Decoder(1, 8, 2, 16, norm_first=True, final_norm=False).norm is None


def test_forward_is_encode_then_decode():
    model = _model()
    src, tgt = _batch()
    memory, src_mask = model.encode(src)
    assert memory.shape == (2, 6, 8) and src_mask.shape == (2, 1, 1, 6)
    assert torch.equal(src_mask, padding_mask(src, PAD_ID))
    assert torch.equal(model.decode(tgt, memory, src_mask), model(src, tgt))


def test_encode_equals_embeddings_positions_and_encoder():
    model = _model()
    src, _ = _batch()
    x = model.src_embed(src) + model.positions.pe[: src.size(1)].double()
    expected = model.encoder(x, padding_mask(src, PAD_ID))
    assert max_abs_diff(model.encode(src)[0], expected) <= 1e-12


def test_decode_applies_the_causal_and_padding_mask():
    model = _model()
    src, tgt = _batch()
    memory, src_mask = model.encode(src)
    x = model.tgt_embed(tgt) + model.positions.pe[: tgt.size(1)].double()
    tgt_mask = padding_mask(tgt, PAD_ID) & causal_mask(tgt.size(1))
    expected = model.generator(model.decoder(x, memory, tgt_mask, src_mask))
    assert max_abs_diff(model.decode(tgt, memory, src_mask), expected) <= 1e-12


def test_sentences_in_a_batch_do_not_interact():
    model = _model()
    src, tgt = _batch()
    together = model(src, tgt)
    for i in range(2):
        assert max_abs_diff(together[i : i + 1], model(src[i : i + 1], tgt[i : i + 1])) <= 1e-12


def test_dropout_only_in_training():
    model = _model(dropout=0.3)
    src, tgt = _batch()
    assert torch.equal(model(src, tgt), model(src, tgt))
    model.train()
    assert not torch.equal(model(src, tgt), model(src, tgt))


def test_gradients_reach_every_parameter():
    model = _model(torch.float32)
    src, tgt = _batch()
    logits = model(src, tgt[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, TGT_VOCAB), tgt[:, 1:].reshape(-1),
                                             ignore_index=PAD_ID)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    # the <pad> embeddings stay fixed (padding_idx): no gradient reaches them
    assert torch.all(model.src_embed.lookup.weight.grad[PAD_ID] == 0)


def test_a_few_training_steps_lower_the_loss():
    model = _model(torch.float32)
    model.train()
    src, tgt = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_fn():
        logits = model(src, tgt[:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, TGT_VOCAB), tgt[:, 1:].reshape(-1),
                                                 ignore_index=PAD_ID)

    first = loss_fn().item()
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def _tied_and_untied_copy():
    """A tied model and an untied one holding the same numbers (its output weight a copy of the target table)."""
    torch.manual_seed(0)
    tied = Transformer(SRC_VOCAB, TGT_VOCAB, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                       d_ff=16, dropout=0.0, max_len=16, tie_embeddings=True).double()
    untied = Transformer(SRC_VOCAB, TGT_VOCAB, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                         d_ff=16, dropout=0.0, max_len=16).double()
    untied.load_state_dict(tied.state_dict())  # both keys of the shared table carry the same numbers
    return tied, untied


def test_tied_embeddings_share_one_tensor():
    tied, untied = _tied_and_untied_copy()
    assert tied.generator.weight is tied.tgt_embed.lookup.weight
    assert tied.generator.weight.data_ptr() == tied.tgt_embed.lookup.weight.data_ptr()  # still after .double()
    assert untied.generator.weight is not untied.tgt_embed.lookup.weight
    saved = sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters())
    assert saved == TGT_VOCAB * 8  # one (tgt_vocab, d_model) table fewer; the source table stays its own
    assert tied.src_embed.lookup.weight is not tied.tgt_embed.lookup.weight


def test_tied_gradient_is_the_sum_of_both_uses():
    tied, untied = _tied_and_untied_copy()
    src, tgt = _batch()
    assert torch.equal(tied(src, tgt), untied(src, tgt))  # same numbers, same logits
    tied(src, tgt).square().sum().backward()
    untied(src, tgt).square().sum().backward()
    shared = tied.tgt_embed.lookup.weight.grad
    # one tensor receives both gradients: the input lookup's and the output layer's
    expected = untied.tgt_embed.lookup.weight.grad + untied.generator.weight.grad
    assert shared is tied.generator.weight.grad
    assert max_abs_diff(shared, expected) <= 1e-12
    assert max_abs_diff(untied.generator.weight.grad, expected) > 1e-6  # the lookup's share is not nothing


def test_tied_translator_checkpoint_round_trips(tmp_path):
    from course_lib.translator import TrainConfig, Translator, train

    model = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.0,
                 tie_embeddings=True)
    config = TrainConfig(corpus="toy", device="cpu", max_steps=2, max_tokens=300, eval_sentences=4, model=model,
                         warmup_steps=2)
    train(config, tmp_path, progress=False, log=lambda *_: None)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    loaded = Translator.from_checkpoint(tmp_path, device="cpu", which="last.pt").model
    assert loaded.tie_embeddings and loaded.generator.weight is loaded.tgt_embed.lookup.weight
    assert torch.equal(loaded.generator.weight, state["model"]["generator.weight"])
    assert torch.equal(state["model"]["generator.weight"], state["model"]["tgt_embed.lookup.weight"])
