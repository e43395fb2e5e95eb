"""From a corpus name to tokenized, numbered sentence pairs: splits, tokenizers and vocabularies."""

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from .batching import encode_pairs
from .checkpoint import mismatch, require_keys
from .corpus import Pair, read_tsv, require_splittable
from .grammar import toy_corpus
from .split import split_pairs
from .subwords import SUBWORDS, train_subwords
from .tokenizers import default_tokenizers, tokenizer
from .vocab import Vocab

CJK = re.compile(r"[\u3400-\u9fff]")
KANA = re.compile(r"[\u3040-\u30ff]")  # hiragana and katakana: Japanese, not Chinese


def guess_target_lang(pairs: list[Pair]) -> str:
    """'ja' when most targets hold kana, 'zh' when most hold Chinese characters, else 'xx' (a space-separated
    language)."""
    sample = pairs[:1000]
    if sum(bool(KANA.search(p.tgt)) for p in sample) * 2 > len(sample):
        return "ja"
    chinese = sum(bool(CJK.search(p.tgt)) for p in sample)
    return "zh" if chinese * 2 > len(sample) else "xx"


def load_splits(corpus: str, split_seed: int = 0, skip_malformed: bool = False, log=None,
                split_method: str = "group") -> tuple[dict[str, list[Pair]], str]:
    """The train/valid/test pairs of `corpus` ("toy": its own split; or a TSV path, split by `split_method`,
    split.SPLIT_METHODS) and its target language."""
    if corpus == "toy":
        return toy_corpus(seed=split_seed), "zh"
    path = Path(corpus)
    if not path.is_file():
        raise FileNotFoundError(f"corpus {corpus!r} is not 'toy' and not a readable file")
    table = read_tsv(path, skip_malformed)
    pairs = table.pairs
    if table.skipped and log is not None:
        log(f"{corpus}: skipped {table.skipped} malformed lines")
    if not pairs:
        raise ValueError(f"corpus {corpus!r} holds no sentence pairs")
    splits = split_pairs(pairs, split_method, split_seed)
    require_splittable(splits, corpus, split_method)
    return splits, guess_target_lang(pairs)


def model_tensor(model: bytes) -> torch.Tensor | None:
    """A serialized model as a uint8 tensor (what torch.load(weights_only=True) reads on every torch), or None."""
    return torch.frombuffer(bytearray(model), dtype=torch.uint8) if model else None


def model_bytes(tensor: torch.Tensor | None) -> bytes:
    """Inverse of `model_tensor`."""
    return b"" if tensor is None else tensor.numpy().tobytes()


@dataclass
class Languages:
    """The two sides of a translation direction: tokenizers and vocabularies (saved with a checkpoint)."""

    source_lang: str
    target_lang: str
    src_tokenizer: str
    tgt_tokenizer: str
    src_vocab: Vocab
    tgt_vocab: Vocab
    src_model: bytes = b""  # the English subword model (en_subwords), learned on the training split

    @classmethod
    def build(cls, train: list[Pair], target_lang: str, min_freq: int, subwords: int = 0) -> "Languages":
        """Tokenizers for the languages (English subwords when `subwords` > 0: a model of that many pieces learned
        on the training sources) and vocabularies counted on the training pairs (every piece kept)."""
        src_name, tgt_name = default_tokenizers(target_lang)
        src_model = train_subwords([p.src for p in train], subwords) if subwords else b""
        src_name = SUBWORDS if subwords else src_name
        src_tok, tgt_tok = tokenizer(src_name, src_model), tokenizer(tgt_name)
        src_vocab = Vocab.build([src_tok.encode(p.src) for p in train], min_freq=1 if subwords else min_freq)
        tgt_vocab = Vocab.build([tgt_tok.encode(p.tgt) for p in train], min_freq=min_freq)
        return cls("en", target_lang, src_name, tgt_name, src_vocab, tgt_vocab, src_model)

    @cached_property
    def tokenizers(self) -> tuple:
        """(source, target) tokenizers."""
        return tokenizer(self.src_tokenizer, self.src_model), tokenizer(self.tgt_tokenizer)

    def encode(self, pairs: list[Pair], max_len: int) -> list[tuple[list[int], list[int]]]:
        """Pairs -> (source ids + <eos>, <bos> + target ids + <eos>), each at most `max_len` long."""
        return encode_pairs(pairs, *self.tokenizers, self.src_vocab, self.tgt_vocab, max_len)

    def to_dict(self) -> dict:
        """Plain data for a checkpoint (loadable with weights_only=True)."""
        return dict(source_lang=self.source_lang, target_lang=self.target_lang, src_tokenizer=self.src_tokenizer,
                    tgt_tokenizer=self.tgt_tokenizer, src_vocab=self.src_vocab.to_list(),
                    tgt_vocab=self.tgt_vocab.to_list(), src_model=model_tensor(self.src_model))

    @classmethod
    def from_dict(cls, data: dict) -> "Languages":
        """Inverse of `to_dict` (checkpoints from before subwords have no src_model)."""
        return cls(data["source_lang"], data["target_lang"], data["src_tokenizer"], data["tgt_tokenizer"],
                   Vocab.from_list(data["src_vocab"]), Vocab.from_list(data["tgt_vocab"]),
                   model_bytes(data.get("src_model")))


def languages_from_checkpoint(state: dict, path) -> Languages:
    """The Languages saved in a checkpoint, or a one-line CheckpointError saying why they cannot be read."""
    require_keys(state, path, ["languages"])
    try:
        languages = Languages.from_dict(state["languages"])
        languages.tokenizers  # noqa: B018 (built now: a bad tokenizer name or model fails here, in one line)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
        raise mismatch(path, "languages", err) from None
    return languages
