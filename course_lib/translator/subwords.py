"""Subword units for the English side: a unigram language model (Kudo, 2018) learned with sentencepiece on the
training sentences alone; its serialized model travels in the checkpoint, so translating needs no other file.

A rare word becomes known pieces ("unbelievably" -> ▁unbelievabl y) instead of <unk>; case is folded (NFKC +
lower case, sentencepiece's nmt_nfkc_cf rule), as the word tokenizer lower-cases. sentencepiece is imported only
here, when a subword model is trained or loaded, so course_lib imports without it.
"""

import io
from dataclasses import dataclass, field

from ..validation import require_positive_int

SUBWORDS = "en_subwords"  # the tokenizer's name in a checkpoint


def sentencepiece():
    """The sentencepiece module, or an ImportError saying how to install it."""
    try:
        import sentencepiece as spm
    except ImportError:
        raise ImportError("English subwords need sentencepiece: pip install sentencepiece==0.2.3 "
                          "(requirements.txt pins it)") from None
    return spm


def train_subwords(sentences: list[str], vocab_size: int) -> bytes:
    """A unigram model of at most `vocab_size` pieces learned on `sentences` (deterministic: one thread)."""
    require_positive_int("vocab_size", vocab_size)
    model = io.BytesIO()
    try:
        sentencepiece().SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size, model_type="unigram",
            character_coverage=1.0, normalization_rule_name="nmt_nfkc_cf", num_threads=1, minloglevel=2,
            hard_vocab_limit=False,  # a small corpus may hold fewer pieces than asked for
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1)  # the course's Vocab numbers tokens; sentencepiece only cuts
    except RuntimeError as err:  # e.g. fewer pieces than the corpus has characters
        raise ValueError(f"subwords={vocab_size}: sentencepiece cannot learn such a model here "
                         f"({str(err).split('] ')[-1]})") from None
    return model.getvalue()


@dataclass(frozen=True)
class SubwordTokenizer:
    """text -> sentencepiece pieces ("▁i", "▁like", "▁tea", ".") and back."""

    model: bytes = field(repr=False)
    name: str = SUBWORDS

    def __post_init__(self):
        processor = sentencepiece().SentencePieceProcessor(model_proto=self.model)
        object.__setattr__(self, "processor", processor)

    def encode(self, text: str) -> list[str]:
        """The pieces of `text`."""
        return self.processor.encode(text, out_type=str)

    def decode(self, tokens: list[str]) -> str:
        """Pieces back to (case-folded) text."""
        return self.processor.decode_pieces(tokens)
