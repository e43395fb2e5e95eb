"""Argument checks that raise one clear error naming the argument, the expected and the actual value."""

import torch


def require_int(name: str, value) -> None:
    """Raise TypeError unless `value` is an int (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")


def require_positive_int(name: str, value) -> None:
    """Raise TypeError/ValueError unless `value` is an int > 0."""
    require_int(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {name}={value}")


def require_non_negative_int(name: str, value) -> None:
    """Raise TypeError/ValueError unless `value` is an int >= 0 (positions, offsets, ids)."""
    require_int(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {name}={value}")


def require_non_negative_number(name: str, value) -> None:
    """Raise TypeError/ValueError unless `value` is a real number >= 0 (LayerNorm's eps)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {name}={value}")


def require_divisible(name: str, value: int, by_name: str, by: int) -> None:
    """Raise ValueError unless `value` is a multiple of `by` (e.g. d_model and num_heads)."""
    if value % by != 0:
        raise ValueError(f"{name}={value} is not divisible by {by_name}={by}")


def require_head_split(d_model: int, num_heads: int) -> None:
    """Raise TypeError/ValueError unless d_model and num_heads are positive ints and the heads split d_model evenly."""
    require_positive_int("d_model", d_model)
    require_positive_int("num_heads", num_heads)
    require_divisible("d_model", d_model, "num_heads", num_heads)


def require_probability(name: str, value: float) -> None:
    """Raise ValueError unless 0 <= value < 1 (dropout rates)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {name}={value}")


def require_choice(name: str, value, choices) -> None:
    """Raise ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {name}={value!r}")


def require_token_ids(name: str, tokens: torch.Tensor, vocab_size: int) -> None:
    """Raise TypeError for non-integer ids and ValueError for ids outside [0, vocab_size)."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype {tokens.dtype}")
    if tokens.numel() == 0:
        return
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(
            f"{name} holds token id {bad}, outside the vocabulary: ids must be in [0, {vocab_size}) "
            f"for vocab_size={vocab_size}"
        )
