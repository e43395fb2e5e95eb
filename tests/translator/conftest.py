"""Fixtures of the translator tests."""

import signal
from pathlib import Path

import pytest

from course_lib.translator import TrainConfig

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"


@pytest.fixture
def tiny_config():
    """TrainConfig(**overrides) for a model that trains a step in milliseconds on the fixture corpus (dropout on, so
    a resume must restore the random state); an epoch is 4 batches of <= 60 tokens."""
    def make(**overrides) -> TrainConfig:
        settings = dict(corpus=str(FIXTURE), device="cpu", max_steps=4, max_tokens=60, eval_sentences=4,
                        warmup_steps=4, model=dict(d_model=16, num_heads=2, num_encoder_layers=1,
                                                   num_decoder_layers=1, d_ff=32, dropout=0.1))
        return TrainConfig(**{**settings, **overrides})
    return make


@pytest.fixture
def terminal_sigint():
    """SIGINT as a terminal leaves it (KeyboardInterrupt), whatever started pytest: a background job ignores it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
