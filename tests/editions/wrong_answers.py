"""A plausible wrong answer to every exercise, typed into its stub by the student-edition test.

Each is a mistake a learner really makes (most are the notebooks' own "spot the bug" versions, renamed to the
exercise's function). The test also tries a trivially wrong answer made from the stub itself (it returns its first
argument), so every exercise is run three ways: untouched, plausibly wrong, trivially wrong.
Every exercise of every notebook must have an entry here: the test says which one is missing.
"""

WRONG_ANSWERS: dict[str, dict[str, str]] = {
    "00_overview": {
        "relative_positions": '''
def relative_positions(length):
    positions = torch.arange(length)
    return positions[:, None] - positions[None, :]  # i - j: the table transposed
''',
        "count_parameters": '''
def count_parameters(model):
    return sum(t.numel() for t in model.state_dict().values())  # state_dict also holds buffers
''',
    },
    "01_embeddings": {
        "build_vocab": '''
def build_vocab(corpus, min_count):
    counts = {}
    for line in corpus:
        for word in line.split():
            counts[word] = counts.get(word, 0) + 1
    vocab = {token: i for i, token in enumerate(course_lib.SPECIAL_TOKENS)}
    for word, count in counts.items():  # section 2's order of first appearance, not the most frequent first
        if count >= min_count:
            vocab[word] = len(vocab)
    return vocab
''',
        "table_gradient": '''
def table_gradient(ids, grad_output, vocab_size):
    d_model = grad_output.size(-1)
    grad = torch.zeros(vocab_size, d_model, dtype=grad_output.dtype)
    grad[ids.flatten()] = grad_output.reshape(-1, d_model) * math.sqrt(d_model)  # = keeps one of a repeated id's
    grad[course_lib.PAD_ID] = 0.0
    return grad
''',
        "init_embedding": '''
def init_embedding(layer):
    nn.init.normal_(layer.weight, std=layer.embedding_dim ** -0.5)  # also overwrites the zeroed padding row
''',
    },
    "02_positional_encoding": {
        "positional_encoding": '''
def positional_encoding(max_len, d_model):
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    omega = 1.0 / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = position * omega
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles)  # section 2's build: one cosine column too many for an odd d_model
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
        "make_learned_positions": '''
def make_learned_positions(max_len, d_model):
    class LearnedPositions(nn.Module):
        def __init__(self):
            super().__init__()
            self.positions = nn.Embedding(max_len, d_model)

        def forward(self, x):
            return x + self.positions(torch.arange(x.size(1)))  # past max_len: an IndexError, not a ValueError

    return LearnedPositions()
''',
    },
    "03_attention": {
        "softmax": '''
def softmax(x):
    return x.exp() / x.exp().sum(dim=-1, keepdim=True)  # overflows for large scores
''',
        "softmax_backward": '''
def softmax_backward(weights, grad):
    return weights * (1 - weights) * grad  # the diagonal of the Jacobian only, as for a sigmoid
''',
        "blockwise_attention": '''
def blockwise_attention(q, k, v, block_size):
    out, total = 0.0, 0.0
    for start in range(0, k.size(-2), block_size):
        s = q @ k[..., start:start + block_size, :].transpose(-2, -1) / math.sqrt(q.size(-1))
        p = (s - s.amax(dim=-1, keepdim=True)).exp()  # each block shifted by its own max, never rescaled
        total = total + p.sum(dim=-1, keepdim=True)
        out = out + p @ v[..., start:start + block_size, :]
    return out / total
''',
    },
    "04_masking": {
        "padding_mask_from_lengths": '''
def padding_mask_from_lengths(lengths, max_len, padding_side="right"):
    return (torch.arange(max_len)[None, :] < lengths[:, None])[:, None, None, :]  # right padding only
''',
        "sliding_window_mask": '''
def sliding_window_mask(size, window):
    distance = torch.arange(size)[:, None] - torch.arange(size)[None, :]
    return distance.abs() < window  # a window on both sides: the query sees the future
''',
        "prefix_lm_mask": '''
def prefix_lm_mask(size, prefix_len):
    return torch.ones(size, size, dtype=torch.bool).tril()  # the prompt treated like the generated part
''',
    },
    "05_multi_head_attention": {
        "split_heads_interleaved": '''
def split_heads_interleaved(x, num_heads):
    batch, length, d_model = x.shape
    return x.view(batch, length, num_heads, d_model // num_heads).transpose(1, 2)  # section 2's contiguous split
''',
        "interleave_columns": '''
def interleave_columns(w, num_heads):
    d_in, width = w.shape
    return w.view(d_in, width // num_heads, num_heads).transpose(1, 2).reshape(d_in, width)  # the opposite way
''',
        "multi_head_attention": '''
from course_lib.multi_head_attention import merge_heads, split_heads


def multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads):
    q, k, v = (split_heads(x @ w, num_heads) for w in (w_q, w_k, w_v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    return merge_heads(weights @ v)  # the heads are concatenated, never mixed by W^O
''',
    },
    "06_feed_forward": {
        "swiglu_ffn": '''
def swiglu_ffn(x, W, V, W2):
    return (torch.sigmoid(x @ W) * (x @ V)) @ W2  # sigma(z), the original GLU's gate, not Swish z * sigma(z)
''',
        "make_conv_ffn": '''
class ConvFeedForward(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.conv1 = nn.Conv1d(d_model, d_ff, kernel_size=3, padding=1)  # the usual kernel size: mixes neighbours
        self.conv2 = nn.Conv1d(d_ff, d_model, kernel_size=3, padding=1)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)


def make_conv_ffn(d_model, d_ff):
    return ConvFeedForward(d_model, d_ff)
''',
    },
    "07_add_and_norm": {
        "rms_norm": '''
def rms_norm(x, weight, eps):
    centred = x - x.mean(dim=-1, keepdim=True)  # LayerNorm's habit: RMSNorm does not subtract the mean
    return weight * centred / torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + eps)
''',
        "batch_norm": '''
def batch_norm(x, eps):
    mean = x.mean(dim=-1, keepdim=True)  # over each token's features: that is LayerNorm, not BatchNorm
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)
''',
    },
    "08_encoder": {
        "sentence_vector": '''
def sentence_vector(memory, mask):
    return memory.mean(dim=1)  # the <pad> rows are averaged in with the words
''',
        "encoder_parameters": '''
def encoder_parameters(num_layers, d_model, num_heads, d_ff):
    per_layer = 4 * d_model * d_model + 2 * d_model * d_ff + 2 * 2 * d_model  # the linear maps' biases forgotten
    return num_layers * per_layer
''',
    },
    "09_decoder": {
        "cached_attention_step": '''
def cached_attention_step(x_new, past_k, past_v, w_q, w_k, w_v, w_o):
    heads = past_k.size(1)
    q = x_new @ w_q
    q = q.view(q.size(0), 1, heads, -1).transpose(1, 2)  # (B, H, 1, d_k)
    k_new = (x_new @ w_k).view(q.size(0), 1, heads, -1).transpose(1, 2)
    v_new = (x_new @ w_v).view(q.size(0), 1, heads, -1).transpose(1, 2)
    weights = torch.softmax(q @ past_k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)  # the new token misses itself
    out = (weights @ past_v).transpose(1, 2).reshape(q.size(0), 1, -1) @ w_o
    return out, torch.cat([past_k, k_new], dim=2), torch.cat([past_v, v_new], dim=2)
''',
        "prefix_causal_mask": '''
def prefix_causal_mask(new_len, cached_len):
    return torch.ones(new_len, cached_len + new_len, dtype=torch.bool).tril()  # the diagonal not moved by the prefix
''',
    },
    "10_transformer": {
        "sequence_accuracy": '''
def sequence_accuracy(predicted, target):
    width = min(predicted.size(1), target.size(1))
    return (predicted[:, :width] == target[:, :width]).float().mean().item()  # token accuracy
''',
        "decoder_only_pair": '''
def decoder_only_pair(src, tgt):
    sequence = torch.cat([src, tgt], dim=1)
    return sequence[:, :-1], sequence[:, 1:]  # a plain language model: the source's random digits are scored too
''',
        "decoder_only_mask": '''
def decoder_only_mask(ids, prefix_len, pad_id):
    causal = torch.ones(ids.size(1), ids.size(1), dtype=torch.bool).tril()
    return (ids != pad_id)[:, None, None, :] & causal  # section 2's decoder mask: the prefix is not read both ways
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
        "clipped_matches": '''
def clipped_matches(hypothesis, references, n):
    grams = [tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1)]
    found = {tuple(r[i:i + n]) for r in references for i in range(len(r) - n + 1)}
    return sum(gram in found for gram in grams), len(grams)  # not clipped: every repeat of "the" matches
''',
    },
}
