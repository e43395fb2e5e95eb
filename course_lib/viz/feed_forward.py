"""Notebook 06's plots: the activation functions, the hidden activations of a feed-forward network on a short
sentence, and the function it computes along one input direction. Each plot has a pure data function beside it."""

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

TOKENS = ("I", "love", "AI")  # the study notes' sentence

# what sits between the two linear maps; "none" is notebook 06's bug: two linear maps collapse into one
ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "none": lambda h: h}


def _require_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got activation={activation!r}")


def example_input(d_model: int = 4, num_tokens: int = len(TOKENS), seed: int = 0,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Stand-in token vectors (num_tokens, d_model) with N(0, 1) entries, as the FFN sees after attention."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_tokens, d_model, generator=generator, dtype=dtype)  # (L, d_model)


def ffn_weights(d_model: int, d_ff: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """W1 (d_model, d_ff), b1 (d_ff,), W2 (d_ff, d_model), b2 (d_model,), each U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    like nn.Linear's default, written the way the formula reads: x @ W1, not x @ weight.T."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(fan_in: int, *shape: int) -> torch.Tensor:
        bound = 1 / math.sqrt(fan_in)
        return (2 * torch.rand(*shape, generator=generator, dtype=dtype) - 1) * bound

    return {"W1": uniform(d_model, d_model, d_ff), "b1": uniform(d_model, d_ff),
            "W2": uniform(d_ff, d_ff, d_model), "b2": uniform(d_ff, d_model)}


def hidden_data(x: torch.Tensor, weights: dict[str, torch.Tensor], activation: str = "relu") -> dict:
    """The FFN on x (L, d_model): pre-activations and hidden values (L, d_ff), output (L, d_model), the share of
    exactly-zero hidden values per token (L,) and the share of units that are zero for every token."""
    _require_activation(activation)
    # pre = x W1 + b1
    pre = x @ weights["W1"] + weights["b1"]  # (L, d_ff)
    hidden = ACTIVATIONS[activation](pre)  # (L, d_ff)
    # FFN(x) = act(x W1 + b1) W2 + b2
    output = hidden @ weights["W2"] + weights["b2"]  # (L, d_model)
    zero = hidden == 0  # (L, d_ff)
    return {"pre": pre, "hidden": hidden, "output": output, "zero_share": zero.float().mean(dim=-1),
            "zero_for_all": zero.all(dim=0).float().mean().item()}


def line_data(weights: dict[str, torch.Tensor], activation: str = "relu", direction_seed: int = 1,
              span: float = 3.0, steps: int = 241) -> dict:
    """The FFN along the line x = t * u through the input space (u a fixed random unit vector): t (S,), the output
    (S, d_model), and for relu the t where a hidden unit switches on or off (its kinks), sorted."""
    _require_activation(activation)
    d_model = weights["W1"].size(0)
    generator = torch.Generator().manual_seed(direction_seed)
    u = torch.randn(d_model, generator=generator, dtype=weights["W1"].dtype)  # (d_model,)
    u = u / u.norm()
    t = torch.linspace(-span, span, steps, dtype=u.dtype)  # (S,)
    x = t[:, None] * u  # (S, d_model)
    output = hidden_data(x, weights, activation)["output"]  # (S, d_model)
    kinks = torch.empty(0, dtype=u.dtype)
    if activation == "relu":
        # unit j switches where t (u . W1_j) + b1_j = 0
        slope, offset = u @ weights["W1"], weights["b1"]  # (d_ff,), (d_ff,)
        switch = -offset[slope != 0] / slope[slope != 0]
        kinks = switch[switch.abs() <= span].sort().values
    return {"t": t, "output": output, "kinks": kinks}


# the curves plot_activations draws: ReLU, GELU x Phi(x), and Swish (SiLU) x sigmoid(x), SwiGLU's gate
CURVES = {"relu": "relu", "gelu": "gelu", "swish": "swish (SiLU)"}


def activation_data(span: float = 4.0, steps: int = 161) -> dict[str, torch.Tensor]:
    """Each activation on a grid: {"x": (S,), "relu": (S,), "gelu": (S,), "swish": (S,)}."""
    x = torch.linspace(-span, span, steps, dtype=torch.float64)  # (S,)
    return {"x": x, "relu": F.relu(x), "gelu": F.gelu(x), "swish": F.silu(x)}


def plot_activations(data: dict[str, torch.Tensor], ax=None):
    """ReLU, GELU and Swish on one axes; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for name, label in CURVES.items():
        ax.plot(data["x"].numpy(), data[name].numpy(), label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("pre-activation  $xW_1 + b_1$")
    ax.set_ylabel("hidden value")
    ax.set_title("activation functions 激活函数", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax.figure


def plot_ffn(hidden: dict, line: dict, tokens=TOKENS, title: str | None = None):
    """Left: the hidden activations (tokens x d_ff) with a colorbar. Right: two output components along the input
    line, relu's kinks as dotted lines. Return the figure."""
    fig, (heat_ax, line_ax) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.3, 1]})
    values = hidden["hidden"]
    image = heat_ax.imshow(values.numpy(), cmap="viridis", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=heat_ax, label="hidden value", pad=0.02)
    heat_ax.set_yticks(range(len(tokens)), tokens)
    heat_ax.set_xlabel(f"hidden unit (d_ff = {values.size(1)})")
    share = hidden["zero_share"].mean().item()
    heat_ax.set_title(f"hidden activations: {share:.0%} exactly zero", fontsize=10)
    for k in range(2):
        line_ax.plot(line["t"].numpy(), line["output"][:, k].numpy(), label=f"output dim {k}")
    if len(line["kinks"]):
        line_ax.vlines(line["kinks"].numpy(), 0, 1, transform=line_ax.get_xaxis_transform(), colors="grey",
                       linestyles=":", lw=0.8)
    line_ax.set_xlabel("t   (input x = t · u)")
    line_ax.set_ylabel("FFN(x)")
    line_ax.set_title(f"along one input direction: {len(line['kinks'])} kinks", fontsize=10)
    line_ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def explore_ffn(d_ff: int = 16, activation: str = "relu", d_model: int = 4, seed: int = 0) -> None:
    """The explorer: hidden activations on "I love AI" and the FFN along one direction, for a width and activation."""
    weights = ffn_weights(d_model, d_ff, seed)
    hidden = hidden_data(example_input(d_model, seed=seed), weights, activation)
    plot_ffn(hidden, line_data(weights, activation), TOKENS, title=f"d_model = {d_model}, d_ff = {d_ff}, {activation}")
    plt.show()
