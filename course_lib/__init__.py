"""course_lib: the Transformer built piece by piece, one module per notebook of the course."""

from .add_and_norm import LayerNorm, add_and_norm
from .attention import fused_attention, scaled_dot_product_attention
from .decoder import Decoder, DecoderLayer
from .decoding import beam_search, greedy_decode
from .embeddings import TokenEmbedding
from .encoder import Encoder, EncoderLayer
from .feed_forward import PositionwiseFeedForward
from .fused import set_fused
from .grouped_query_attention import GroupedQueryAttention, expand_kv_heads
from .kv_cache import CacheGroup, CrossAttentionCache, KVCache
from .latent_attention import MultiHeadLatentAttention, mla_sizes
from .masking import causal_mask, padding_mask
from .multi_head_attention import MultiHeadAttention
from .positional_encoding import PositionalEncoding, sinusoidal_positional_encoding
from .rms_norm import RMSNorm
from .rope import apply_rope, apply_rope_interleaved, interleaved_to_half_permutation, rotate_half
from .tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID
from .toy_tasks import sequence_accuracy, teacher_forcing_pair
from .training import inverse_sqrt_schedule, label_smoothed_cross_entropy
from .transformer import Transformer

__all__ = [
    "BOS_ID", "EOS_ID", "PAD_ID", "SPECIAL_TOKENS", "UNK_ID",
    "CacheGroup", "CrossAttentionCache", "Decoder", "DecoderLayer", "Encoder", "EncoderLayer", "KVCache", "LayerNorm",
    "MultiHeadAttention", "PositionalEncoding", "PositionwiseFeedForward", "TokenEmbedding", "Transformer",
    "add_and_norm", "beam_search", "causal_mask", "fused_attention", "greedy_decode", "inverse_sqrt_schedule",
    "label_smoothed_cross_entropy", "padding_mask", "scaled_dot_product_attention",
    "set_fused", "sinusoidal_positional_encoding",
    # notebook 11: MQA/GQA, RoPE and multi-head latent attention
    "GroupedQueryAttention", "MultiHeadLatentAttention", "RMSNorm", "apply_rope", "apply_rope_interleaved",
    "expand_kv_heads", "interleaved_to_half_permutation", "mla_sizes", "rotate_half",
    # notebook 10: the toy tasks' shift and score
    "sequence_accuracy", "teacher_forcing_pair",
]
