"""Tokenizers: English words (lower-cased, punctuation apart) or learned English subwords (subwords.py), Chinese
characters, and plain words (lower-cased for a source, case kept for a target: sacrebleu's BLEU and exact match
compare case)."""

import re
from dataclasses import dataclass

from ..validation import require_choice
from .subwords import SUBWORDS, SubwordTokenizer

CJK_LANGS = ("zh", "cmn", "ja", "jpn")
PUNCTUATION_NO_SPACE_BEFORE = set(".,!?;:%)]}")


@dataclass(frozen=True)
class Tokenizer:
    """A named pair of functions: text -> tokens and tokens -> text."""

    name: str
    pattern: re.Pattern
    lower: bool
    join_with: str

    def encode(self, text: str) -> list[str]:
        """The tokens of `text`."""
        return self.pattern.findall(text.lower() if self.lower else text)

    def decode(self, tokens: list[str]) -> str:
        """Tokens back to text: Chinese joined directly; words with spaces, none before punctuation."""
        if not self.join_with:
            return "".join(tokens)
        text = ""
        for token in tokens:
            glue = "" if not text or token in PUNCTUATION_NO_SPACE_BEFORE else " "
            text += glue + token
        return text


WORD_OR_MARK = re.compile(r"\w+(?:'\w+)?|[^\w\s]")  # any script written with spaces: a word, or one punctuation mark

TOKENIZERS = {
    # a word (with an inner apostrophe: "don't") or one punctuation mark
    "en_words": Tokenizer("en_words", re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]"), lower=True, join_with=" "),
    # a run of Latin letters/digits, or any other single character; spaces dropped
    "zh_chars": Tokenizer("zh_chars", re.compile(r"[A-Za-z0-9]+|\S"), lower=False, join_with=""),
    # any language written with spaces: words and single punctuation marks
    "words": Tokenizer("words", WORD_OR_MARK, lower=True, join_with=" "),
    # the same, case kept: the target side, whose output is scored against references as written
    "words_cased": Tokenizer("words_cased", WORD_OR_MARK, lower=False, join_with=" "),
}


def tokenizer(name: str, model: bytes = b"") -> Tokenizer | SubwordTokenizer:
    """The tokenizer called `name` (en_words, zh_chars, words or words_cased; en_subwords with its trained `model`)."""
    require_choice("tokenizer", name, (*TOKENIZERS, SUBWORDS))
    if name != SUBWORDS:
        return TOKENIZERS[name]
    if not model:
        raise ValueError(f"tokenizer {SUBWORDS} needs its trained subword model, got none")
    return SubwordTokenizer(model)


def default_tokenizers(target_lang: str) -> tuple[str, str]:
    """(source, target) tokenizer names for English -> `target_lang`: the source lower-cased, the target as written."""
    return "en_words", "zh_chars" if target_lang in CJK_LANGS else "words_cased"
