"""Argument checks that raise one clear error naming the argument, the expected and the actual value."""

import math

import torch

INDEX_DTYPES = (torch.int64, torch.int32)  # what nn.Embedding and index_select accept as indices


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


def require_index(name: str, value, size: int, size_name: str) -> None:
    """Raise TypeError/ValueError unless `value` is an int in [0, size) (a token id of a vocabulary)."""
    require_int(name, value)
    if not 0 <= value < size:
        raise ValueError(f"{name} must be in [0, {size}) for {size_name}={size}, got {name}={value}")


def require_number(name: str, value) -> None:
    """Raise TypeError unless `value` is a real number, an int or a float (a bool or a string is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")


def require_non_negative_number(name: str, value) -> None:
    """Raise TypeError/ValueError unless `value` is a real number >= 0 (LayerNorm's eps)."""
    require_number(name, value)
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {name}={value}")


def require_positive_number(name: str, value) -> None:
    """Raise TypeError/ValueError unless `value` is a finite real number > 0 (RoPE's base, a softmax scale)."""
    require_number(name, value)
    if not 0 < value < math.inf:  # also rejects NaN
        raise ValueError(f"{name} must be a finite number > 0, got {name}={value}")


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
    """Raise TypeError unless `value` is a number and ValueError unless 0 <= value < 1 (dropout rates)."""
    require_number(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {name}={value}")


def require_choice(name: str, value, choices) -> None:
    """Raise ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {name}={value!r}")


# ---------------------------------------------------------------- tensors

def require_tensor(name: str, value, what: str = "a tensor") -> None:
    """Raise TypeError unless `value` is a torch.Tensor (a list or a NumPy array is not)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def require_float_tensor(name: str, value) -> None:
    """Raise TypeError unless `value` is a floating-point tensor (activations, never integer ids)."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        got = f"dtype {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise TypeError(f"{name} must be a floating-point tensor, got {got}")


def require_last_dim(name: str, x, size: int, size_name: str) -> None:
    """Raise TypeError unless `x` is a floating-point tensor and ValueError unless it is (..., size)."""
    require_float_tensor(name, x)
    if x.dim() == 0 or x.size(-1) != size:
        raise ValueError(f"{name} must be (..., {size_name}={size}), got shape {tuple(x.shape)}")


def require_batch_length_width(name: str, x, d_model: int) -> None:
    """Raise TypeError unless `x` is a floating-point tensor and ValueError unless it is (batch, length, d_model)."""
    require_float_tensor(name, x)
    if x.dim() != 3 or x.size(-1) != d_model:
        raise ValueError(f"{name} must be (batch, length, d_model={d_model}), got shape {tuple(x.shape)}")


def autocast_enabled(device_type: str) -> bool:
    """True inside torch.autocast for this device type (False for devices without autocast, such as "meta")."""
    return torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)


def require_keys_from_query(query, key, value, why: str, hint: str) -> None:
    """Raise ValueError unless key and value are None or the query itself (self-attention): `why`, then a `hint`."""
    for name, given in (("key", key), ("value", value)):
        if given is not None and given is not query:
            raise ValueError(f"{why}: {name} must be None or the query itself, got another "
                             f"{type(given).__name__} ({hint})")


def require_dtype(name: str, x: torch.Tensor, dtype: torch.dtype, owner: str) -> None:
    """Raise TypeError unless `x` has `dtype`, the dtype of `owner`; under torch.autocast, mixing is allowed.

    A plain compare on every attention call; autocast is asked only when the dtypes differ.
    """
    if x.dtype != dtype and not autocast_enabled(x.device.type):
        raise TypeError(f"{name} has dtype {x.dtype}, {owner} {dtype}: give them one dtype (.to()), "
                        f"or run under torch.autocast")


def require_indices(name: str, indices, size: int, size_name: str, item: str, outside: str) -> None:
    """Raise TypeError unless `indices` is a tensor of int64/int32 `item`s and ValueError unless each is in [0, size).

    One aminmax and its read (the device waits once), skipped for an empty tensor.
    """
    require_tensor(name, indices, f"a tensor of {item}s")
    if indices.dtype not in INDEX_DTYPES:
        raise TypeError(f"{name} must hold integer {item}s (torch.long), got dtype {indices.dtype}")
    if indices.numel() == 0:
        return
    low, high = (bound.item() for bound in torch.aminmax(indices))
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise ValueError(f"{name} holds {item} {bad}, outside {outside} must be in [0, {size}) for {size_name}={size}")


def require_token_ids(name: str, tokens, vocab_size: int) -> None:
    """Raise TypeError unless `tokens` is a tensor of integer ids and ValueError for ids outside [0, vocab_size)."""
    require_indices(name, tokens, vocab_size, "vocab_size", "token id", "the vocabulary: ids")


def require_token_batch(name: str, tokens, nonempty: bool = False) -> None:
    """Raise TypeError unless `tokens` is a tensor, ValueError unless it is (batch, length), length > 0 if nonempty."""
    require_tensor(name, tokens)
    if tokens.dim() != 2:
        raise ValueError(f"{name} must be (batch, length), got shape {tuple(tokens.shape)}")
    if nonempty and tokens.size(1) == 0:
        raise ValueError(f"{name} must hold at least one position, got shape {tuple(tokens.shape)}")
