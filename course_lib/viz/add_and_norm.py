"""Notebook 07's plots: how big the hidden state and its gradient are, layer by layer, through a deep stack of random
feed-forward sublayers with and without residual connections and LayerNorm (post- and pre-norm). Each plot has a
pure data function beside it."""

import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from ..add_and_norm import LayerNorm, add_and_norm

# how each layer wraps its sublayer f
CONFIGS = {
    "no residual, no norm": "f(x)",
    "residual, no norm": "x + f(x)",
    "post-norm": "LN(x + f(x))",
    "pre-norm": "x + f(LN(x))",
}


def random_sublayers(num_layers: int, d_model: int, gain: float = 1.0, seed: int = 0,
                     dtype: torch.dtype = torch.float64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(W1 (d_model, 4 d_model), W2 (4 d_model, d_model)) per layer: He initialisation times `gain`, so that at
    gain = 1 a sublayer f(x) = relu(x W1) W2 keeps the size of its input on average."""
    generator = torch.Generator().manual_seed(seed)
    d_ff = 4 * d_model
    return [(torch.randn(d_model, d_ff, generator=generator, dtype=dtype) * gain * math.sqrt(2 / d_model),
             torch.randn(d_ff, d_model, generator=generator, dtype=dtype) * gain * math.sqrt(1 / d_ff))
            for _ in range(num_layers)]


def wrap(x: torch.Tensor, sublayer, config: str, norm: nn.Module) -> torch.Tensor:
    """One layer of the stack: the sublayer wrapped as `config` says (a key of CONFIGS)."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {list(CONFIGS)}, got config={config!r}")
    if config == "no residual, no norm":
        return sublayer(x)
    if config == "residual, no norm":
        return x + sublayer(x)
    return add_and_norm(x, sublayer, norm, nn.Identity(), norm_first=config == "pre-norm")


def stack_data(num_layers: int = 24, d_model: int = 64, num_tokens: int = 16, gain: float = 1.0,
               seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """For each config, through the same random sublayers: "std" (N+1,), the standard deviation of the hidden state
    h_0 (the input) ... h_N, and "grad" (N+1,), the norm of d(loss)/d(h_l) for a fixed random readout loss."""
    sublayers = random_sublayers(num_layers, d_model, gain, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(num_tokens, d_model, generator=generator, dtype=torch.float64)  # (L, d_model)
    readout = torch.randn(num_tokens, d_model, generator=generator, dtype=torch.float64)  # (L, d_model)
    norm = LayerNorm(d_model).double()  # weight 1, bias 0: every layer's norm is this one at initialisation
    data = {}
    for config in CONFIGS:
        states = [x.clone().requires_grad_(True)]
        for W1, W2 in sublayers:
            h = wrap(states[-1], lambda y, W1=W1, W2=W2: F.relu(y @ W1) @ W2, config, norm)  # (L, d_model)
            h.retain_grad()
            states.append(h)
        # loss = sum(h_N * readout): a fixed linear read-out of the last hidden state
        (states[-1] * readout).sum().backward()
        stds = [h.detach().std(correction=0).item() for h in states]  # over all L * d_model entries
        data[config] = {"std": torch.tensor(stds, dtype=torch.float64),
                        "grad": torch.tensor([h.grad.norm().item() for h in states], dtype=torch.float64)}
    return data


def plot_stack(data: dict[str, dict[str, torch.Tensor]], title: str | None = None):
    """Two log-scale panels, one line per config: the hidden state's std and its gradient norm per layer."""
    fig, (std_ax, grad_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for config, series in data.items():
        layers = range(len(series["std"]))
        label = f"{config}: {CONFIGS[config]}"
        std_ax.plot(layers, series["std"].numpy(), marker=".", label=label)
        grad_ax.plot(layers, series["grad"].numpy(), marker=".", label=label)
    std_ax.set_ylabel("std of the hidden state $h_l$")
    std_ax.set_title("forward: how big the activations are", fontsize=10)
    grad_ax.set_ylabel(r"$\Vert \partial\, \mathrm{loss} / \partial h_l \Vert$")
    grad_ax.set_title("backward: how big the gradient is", fontsize=10)
    for ax in (std_ax, grad_ax):
        ax.set_yscale("log")
        ax.set_xlabel("layer l")
        ax.grid(True, which="major", alpha=0.3)
    std_ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def explore_stack(num_layers: int = 24, gain: float = 1.0, d_model: int = 64, seed: int = 0) -> None:
    """The explorer: activation and gradient size through a deep random stack, for a depth and a weight gain."""
    plot_stack(stack_data(num_layers, d_model, gain=gain, seed=seed),
               title=f"{num_layers} layers, d_model = {d_model}, weights × {gain:.2f} of He initialisation")
    plt.show()
