"""Shared by the course_lib tests: tolerances per dtype, comparing tensors, small random modules.

(A module of its own, not conftest.py: test files import these names, and tests/translator has a conftest too.)
"""

import torch
from torch import nn

# The bar for "equal to PyTorch": absolute max difference per dtype.
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
DTYPES = [torch.float64, torch.float32]


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest |a - b| (computed in float64); the shapes must match exactly."""
    assert a.shape == b.shape, f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
    assert not torch.isnan(a).any() and not torch.isnan(b).any(), "NaN in a compared tensor"
    if a.numel() == 0:
        return 0.0
    return (a.detach().to(torch.float64) - b.detach().to(torch.float64)).abs().max().item()


@torch.no_grad()
def randomize_(module: nn.Module, std: float = 0.3) -> nn.Module:
    """Give every parameter distinct random values (LayerNorm weights near 1), so copies can't hide."""
    for name, param in module.named_parameters():
        if param.dim() == 1 and "norm" in name and name.endswith("weight"):
            param.copy_(1.0 + 0.2 * torch.randn_like(param))
        else:
            param.copy_(std * torch.randn_like(param))
    return module
