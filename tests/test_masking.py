"""causal_mask and padding_mask: shapes, offsets, polarity (True = may attend)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import PAD_ID, causal_mask, padding_mask
from course_lib.interop import from_torch_mask, key_padding_to_course, to_torch_mask
from course_lib.masking import broadcasts_to


def test_causal_mask_is_lower_triangular_bool():
    mask = causal_mask(4)
    assert mask.shape == (4, 4) and mask.dtype == torch.bool
    assert torch.equal(mask, torch.tril(torch.ones(4, 4, dtype=torch.bool)))
    assert mask.diagonal().all()  # a query always sees itself


@pytest.mark.parametrize("size, offset", [(1, 0), (1, 5), (3, 2), (2, 7)])
def test_causal_mask_with_offset_is_the_bottom_rows_of_the_full_mask(size, offset):
    mask = causal_mask(size, offset=offset)
    assert mask.shape == (size, offset + size)
    assert torch.equal(mask, causal_mask(offset + size)[offset:])
    for i in range(size):
        for j in range(offset + size):
            assert bool(mask[i, j]) == (j <= offset + i)


def test_single_decoding_step_sees_every_cached_position():
    assert causal_mask(1, offset=6).all()


def test_causal_mask_device():
    assert causal_mask(3, device="cpu").device.type == "cpu"


def test_padding_mask_shape_and_values():
    tokens = torch.tensor([[5, 6, PAD_ID, PAD_ID], [7, 8, 9, 4]])
    mask = padding_mask(tokens, PAD_ID)
    assert mask.shape == (2, 1, 1, 4) and mask.dtype == torch.bool
    assert torch.equal(mask[:, 0, 0], torch.tensor([[True, True, False, False], [True] * 4]))


def test_padding_mask_uses_the_given_pad_id():
    tokens = torch.tensor([[0, 9, 9]])
    assert torch.equal(padding_mask(tokens, 9)[0, 0, 0], torch.tensor([True, False, False]))


def test_padding_and_causal_combine_by_broadcasting():
    tokens = torch.tensor([[5, 6, 7, PAD_ID], [5, 6, 7, 8]])
    combined = padding_mask(tokens, PAD_ID) & causal_mask(4)
    assert combined.shape == (2, 1, 4, 4)
    assert not combined[0, 0, :, 3].any()
    assert torch.equal(combined[1, 0], causal_mask(4))


def test_torch_mask_polarity_round_trip():
    mask = torch.rand(3, 5) > 0.5
    assert torch.equal(to_torch_mask(mask), ~mask)
    assert torch.equal(from_torch_mask(to_torch_mask(mask)), mask)
    float_mask = torch.zeros(3, 5).masked_fill(~mask, float("-inf"))
    assert torch.equal(from_torch_mask(float_mask), mask)
    # torch's own causal mask is True above the diagonal (blocked)
    torch_causal = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert torch.equal(from_torch_mask(torch_causal), causal_mask(4))


def test_key_padding_mask_conversion():
    key_padding = torch.tensor([[False, False, True], [False, False, False]])  # torch: True at padding
    course = key_padding_to_course(key_padding)
    assert course.shape == (2, 1, 1, 3)
    assert torch.equal(course[:, 0, 0], ~key_padding)


@settings(deadline=None, derandomize=True, max_examples=300)
@given(st.lists(st.integers(1, 3), max_size=5), st.lists(st.integers(1, 3), min_size=1, max_size=4))
def test_broadcasts_to_agrees_with_torch(shape, target):
    """check_mask's plain-Python rule == torch.broadcast_shapes(shape, target) == target."""
    try:
        torch_says = torch.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except RuntimeError:
        torch_says = False
    assert broadcasts_to(tuple(shape), tuple(target)) == torch_says
