"""The whole Transformer (notebook 10): embeddings and positions, encoder, decoder and output layer."""

import torch
from torch import nn

from .decoder import Decoder
from .embeddings import TokenEmbedding
from .encoder import Encoder
from .kv_cache import CacheGroup
from .masking import causal_mask, padding_mask
from .positional_encoding import PositionalEncoding
from .tokens import PAD_ID
from .validation import require_non_negative_int, require_positive_int, require_token_batch


def require_pad_id(pad_id: int, src_vocab_size: int, tgt_vocab_size: int) -> None:
    """Raise TypeError/ValueError unless pad_id is a token id of both vocabularies."""
    require_non_negative_int("pad_id", pad_id)
    smallest = min(src_vocab_size, tgt_vocab_size)
    if pad_id >= smallest:
        raise ValueError(f"pad_id must be a token id of both vocabularies, in [0, {smallest}) for "
                         f"src_vocab_size={src_vocab_size} and tgt_vocab_size={tgt_vocab_size}, got pad_id={pad_id}")


class Transformer(nn.Module):
    """Encoder-decoder Transformer from token ids to next-token logits (Vaswani et al., 2017)."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 512, num_heads: int = 8,
                 num_encoder_layers: int = 6, num_decoder_layers: int = 6, d_ff: int = 2048,
                 dropout: float = 0.1, max_len: int = 512, norm_first: bool = False, pad_id: int = PAD_ID,
                 activation: str = "relu", self_attention: str = "mha", tie_embeddings: bool = False):
        """`self_attention="mla"`: the decoder's self-attention becomes MLA (`mla_sizes`); cross-attention stays MHA.

        `tie_embeddings=True` (the paper's §3.4; Press & Wolf, 2017): the output layer's weight *is* the target
        embedding table E, so logits = h·Eᵀ + b and one (tgt_vocab, d_model) matrix is learned instead of two; the
        source table stays separate (another vocabulary). √d_model: the embedding multiplies E[x] by √d_model on
        the way in; the output layer uses E as it is, without dividing by √d_model. With rows of E drawn from
        N(0, 1/d_model) (norm ≈ 1) and h from a LayerNorm (norm ≈ √d_model), the logits start with unit variance.
        The <pad> row is shared too: the output layer's gradient moves it (harmless: padded positions are masked).
        """
        super().__init__()
        require_positive_int("src_vocab_size", src_vocab_size)
        require_positive_int("tgt_vocab_size", tgt_vocab_size)
        require_pad_id(pad_id, src_vocab_size, tgt_vocab_size)
        self.pad_id = pad_id
        self.src_embed = TokenEmbedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embed = TokenEmbedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        self.positions = PositionalEncoding(d_model, max_len, dropout)
        self.encoder = Encoder(num_encoder_layers, d_model, num_heads, d_ff, dropout, norm_first, activation)
        self.decoder = Decoder(num_decoder_layers, d_model, num_heads, d_ff, dropout, norm_first, activation,
                               self_attention=self_attention)
        self.generator = nn.Linear(d_model, tgt_vocab_size)  # d_model -> logits over the target vocabulary
        self.tie_embeddings = tie_embeddings
        if tie_embeddings:
            # logits = h·Eᵀ + b: the lookup table and the output weight are one Parameter (one tensor, one gradient)
            self.generator.weight = self.tgt_embed.lookup.weight

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Source ids (B, Ls) -> (memory (B, Ls, d_model), src_mask (B, 1, 1, Ls))."""
        require_token_batch("src", src, nonempty=True)
        src_mask = padding_mask(src, self.pad_id)  # (B, 1, 1, Ls)
        x = self.positions(self.src_embed(src))  # (B, Ls, d_model)
        return self.encoder(x, src_mask), src_mask

    def decode_states(self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor,
                      cache: CacheGroup | None = None) -> torch.Tensor:
        """Target ids (B, Lt) -> the decoder's output vectors (B, Lt, d_model); with a cache, only new positions."""
        require_token_batch("tgt", tgt, nonempty=True)
        offset = 0 if cache is None else cache.length
        x = self.positions(self.tgt_embed(tgt), offset=offset)  # (B, Lt, d_model)
        # without a cache: padding & causal; with one, attention applies the causal offset itself
        tgt_mask = None if cache is not None else padding_mask(tgt, self.pad_id) & causal_mask(tgt.size(1), tgt.device)
        return self.decoder(x, memory, tgt_mask, src_mask, cache)  # (B, Lt, d_model)

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor,
               cache: CacheGroup | None = None) -> torch.Tensor:
        """Target ids (B, Lt) -> logits (B, Lt, tgt_vocab); with a cache, `tgt` holds only new positions."""
        return self.generator(self.decode_states(tgt, memory, src_mask, cache))  # (B, Lt, tgt_vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: `tgt` starts with <bos>; position t predicts target token t + 1."""
        memory, src_mask = self.encode(src)
        return self.decode(tgt, memory, src_mask)  # (B, Lt, tgt_vocab)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> CacheGroup:
        """An empty decoder cache for incremental decoding of up to `max_len` target positions."""
        return self.decoder.new_cache(batch_size, max_len, dtype, device)
