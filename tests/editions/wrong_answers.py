"""A plausible wrong answer to every exercise, typed into its stub by the student-edition test.

Each is a mistake a learner really makes (most are the notebooks' own "spot the bug" versions, renamed to the
exercise's function). The test also tries a trivially wrong answer made from the stub itself (it returns its first
argument), so every exercise is run three ways: untouched, plausibly wrong, trivially wrong.
Every exercise of every notebook must have an entry here: the test says which one is missing.
"""

WRONG_ANSWERS: dict[str, dict[str, str]] = {
    "01_embeddings": {
        "encode": '''
def encode(sentence, vocab):
    return torch.tensor([vocab.get(word, 0) for word in sentence.split()])  # an unknown word becomes <pad>
''',
        "scaled_embedding": '''
def scaled_embedding(ids, table):
    return table[ids] * table.size(1)  # d_model, not its square root
''',
        "make_embedding": '''
def make_embedding(vocab_size, d_model):
    return course_lib.TokenEmbedding(vocab_size, d_model, padding_idx=course_lib.EOS_ID)  # <eos> is not <pad>
''',
    },
    "02_positional_encoding": {
        "positional_encoding": '''
def positional_encoding(max_len, d_model):
    pe = torch.zeros(max_len, d_model)
    for pos in range(max_len):
        for dim in range(d_model):
            angle = pos / 10000 ** (dim / d_model)  # each dimension its own exponent, not its pair's
            pe[pos, dim] = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    return pe
''',
        "shift_matrix": '''
def shift_matrix(k, d_model):
    blocks = []
    for i in range(d_model // 2):
        angle = k / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        blocks.append(torch.tensor([[c, -s], [s, c]]))  # the transposed rotation: it moves backwards
    return torch.block_diag(*blocks)
''',
    },
    "03_attention": {
        "softmax": '''
def softmax(x):
    return x.exp() / x.exp().sum(dim=-1, keepdim=True)  # overflows for large scores
''',
        "attention": '''
def attention(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)  # no scale
    return weights @ v, weights
''',
    },
    "04_masking": {
        "causal_mask": '''
def causal_mask(size):
    return torch.ones(size, size, dtype=torch.bool).triu(diagonal=1)  # True above the diagonal: blocked
''',
        "padding_mask": '''
def padding_mask(tokens, pad_id):
    return (tokens != 0)[:, None, None, :]  # ignores pad_id
''',
        "masked_softmax": '''
def masked_softmax(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # NaN on a fully masked row
''',
    },
    "05_multi_head_attention": {
        "split_heads": '''
def split_heads(x, num_heads):
    batch, length, width = x.shape
    return x.view(batch, num_heads, length, width // num_heads)  # a view without the transpose
''',
        "merge_heads": '''
def merge_heads(x):
    batch, heads, length, d_k = x.shape
    return x.reshape(batch, length, heads * d_k)  # no transpose back
''',
        "multi_head_attention": '''
def multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads):
    q, k, v = (course_lib.split_heads(x @ w, num_heads) for w in (w_q, w_k, w_v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(x.size(-1)), dim=-1)  # d_model, not d_k
    return course_lib.merge_heads(weights @ v) @ w_o
''',
    },
    "06_feed_forward": {
        "feed_forward": '''
def feed_forward(x, W1, b1, W2, b2):
    return (x @ W1 + b1) @ W2 + b2  # no max(0, .) between the two maps
''',
        "make_conv_ffn": '''
def make_conv_ffn(d_model, d_ff):
    return nn.Sequential(nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model))  # no activation
''',
    },
    "07_add_and_norm": {
        "layer_norm": '''
def layer_norm(x, weight, bias, eps):
    mean, std = x.mean(dim=-1, keepdim=True), x.std(dim=-1, keepdim=True)  # unbiased std, eps outside the root
    return weight * (x - mean) / (std + eps) + bias
''',
        "residual_block": '''
def residual_block(x, sublayer, norm, norm_first):
    if norm_first:
        x = norm(x)  # the skip path now carries norm(x)
        return x + sublayer(x)
    return norm(x + sublayer(x))
''',
    },
    "08_encoder": {
        "encoder_layer": '''
def encoder_layer(layer, x, mask):
    h = layer.norm1(x + layer.self_attn(x))  # the mask never reaches the attention
    return layer.norm2(h + layer.ffn(h))
''',
        "make_encoder": '''
def make_encoder(num_layers, d_model, num_heads, d_ff):
    layer = course_lib.EncoderLayer(d_model, num_heads, d_ff)
    encoder = course_lib.Encoder(num_layers, d_model, num_heads, d_ff)
    encoder.layers = nn.ModuleList([layer] * num_layers)  # one layer, N times
    return encoder
''',
    },
    "09_decoder": {
        "cross_attention": '''
def cross_attention(y, memory, memory_mask, w_q, w_k, w_v):
    q, k, v = memory @ w_q, y @ w_k, y @ w_v  # the memory asks the questions
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    return weights @ v, weights
''',
        "decoder_layer": '''
def decoder_layer(layer, y, memory, tgt_mask, memory_mask):
    h1 = layer.norm1(y + layer.self_attn(y, y, y, None))  # no causal mask
    h2 = layer.norm2(h1 + layer.cross_attn(h1, memory, memory, memory_mask))
    return layer.norm3(h2 + layer.ffn(h2))
''',
    },
    "10_transformer": {
        "teacher_forcing_pair": '''
def teacher_forcing_pair(tgt):
    return tgt[:, :-1], tgt[:, :-1]  # the labels are the decoder input itself
''',
        "transformer_masks": '''
def transformer_masks(src, tgt_in, pad_id):
    causal = torch.ones(tgt_in.size(1), tgt_in.size(1), dtype=torch.bool).tril()
    return (src != 0)[:, None, None, :], (tgt_in != 0)[:, None, None, :] & causal  # 0, not pad_id
''',
        "sequence_accuracy": '''
def sequence_accuracy(predicted, target):
    width = min(predicted.size(1), target.size(1))
    return (predicted[:, :width] == target[:, :width]).float().mean().item()  # token accuracy
''',
    },
    "11_mla": {
        "expand_kv_heads": '''
def expand_kv_heads(kv, num_heads):
    return kv.repeat(1, num_heads // kv.size(1), 1, 1)  # [g0, g1, g0, g1], not [g0, g0, g1, g1]
''',
        "rotate_half": '''
def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x2, -x1], dim=-1)  # the rotation the other way
''',
        "absorbed_scores": '''
def absorbed_scores(q_nope, q_rope, w_uk, c_kv, k_rope):
    batch, heads, length, nope = q_nope.shape
    q_latent = torch.einsum("bhld,hdc->bhlc", q_nope, w_uk.view(heads, nope, -1))
    raw = q_latent @ c_kv[:, None].transpose(-2, -1) + q_rope @ k_rope[:, None].transpose(-2, -1)
    return raw / math.sqrt(c_kv.size(-1) + k_rope.size(-1))  # the latent's width, not the head's
''',
        "fold_value_into_output": '''
def fold_value_into_output(w_uv, w_o, num_heads):
    return w_o @ w_uv  # one product for all heads: (d_model, d_c), the per-head blocks W^O_h W^UV_h never formed
''',
    },
    "12_translator": {
        "length_penalty": '''
def length_penalty(length, alpha):
    return ((5.0 + length) / 5.0) ** alpha  # divides by 5: a one-token sentence is penalised
''',
        "select_beams": '''
def select_beams(scores, logp):
    batch, k = scores.shape
    vocab = logp.size(-1)
    best, flat = (scores.reshape(-1, 1) + logp).view(batch, k * vocab).topk(k, dim=-1)
    return best, (flat // vocab).view(-1), flat % vocab  # rows within the sentence, not across the batch
''',
    },
}
