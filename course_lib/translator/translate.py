"""Using a trained translator: text in, text out (greedy or beam search on the KV cache), and its scores."""

import warnings

import torch

from ..decoding import beam_search, greedy_decode
from ..tokens import EOS_ID, PAD_ID
from ..transformer import Transformer
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .corpus import references
from .dataset import Languages, load_splits
from .grammar import PHENOMENA
from .metrics import corpus_scores, phenomenon_accuracy
from .tokenizers import tokenizer


def pick_device(requested: str = "auto") -> torch.device:
    """`auto`: CUDA, then Apple's MPS, then the CPU; otherwise the device asked for."""
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class Translator:
    """A trained model with its languages: `translate(["I like tea ."])` -> ["我喜欢茶。"]."""

    def __init__(self, model: Transformer, languages: Languages, max_len: int, device: torch.device):
        self.model, self.languages, self.max_len, self.device = model.eval(), languages, max_len, device
        self.src_tok = tokenizer(languages.src_tokenizer)
        self.tgt_tok = tokenizer(languages.tgt_tokenizer)

    @classmethod
    def from_checkpoint(cls, where, device: str = "auto", which: str = "best.pt") -> "Translator":
        """Load the best (or `which`) checkpoint of a training directory."""
        return cls.from_state(load_checkpoint(where, which), device)

    @classmethod
    def from_state(cls, state: dict, device: str = "auto") -> "Translator":
        """Rebuild the model and languages of a loaded checkpoint."""
        config = TrainConfig(**state["config"])
        languages = Languages.from_dict(state["languages"])
        model = Transformer(len(languages.src_vocab), len(languages.tgt_vocab), **config.model_kwargs())
        model.load_state_dict(state["model"])
        device = pick_device(device)
        return cls(model.to(device), languages, config.max_len, device)

    def encode(self, text: str) -> tuple[list[int], bool]:
        """Source ids ending in <eos>, and whether the sentence had to be cut to the model's max_len."""
        ids = self.languages.src_vocab.encode(self.src_tok.encode(text))
        truncated = len(ids) > self.max_len - 1
        return ids[: self.max_len - 1] + [EOS_ID], truncated

    def decode(self, ids: list[int]) -> str:
        """Target ids -> text (stops at <eos>; Chinese joined without spaces)."""
        return self.tgt_tok.decode(self.languages.tgt_vocab.decode(ids))

    @torch.no_grad()
    def translate(self, texts: list[str], beam: int = 1, alpha: float = 0.6, batch_size: int = 64) -> list[str]:
        """Translate every text; an empty (or blank) text gives an empty line."""
        encoded = [self.encode(text) for text in texts]
        if any(truncated for _, truncated in encoded):
            warnings.warn(f"input longer than the model's max_len={self.max_len} tokens was truncated", stacklevel=2)
        out = [""] * len(texts)
        todo = sorted((i for i, text in enumerate(texts) if text.strip()), key=lambda i: len(encoded[i][0]))
        for start in range(0, len(todo), batch_size):
            rows = todo[start : start + batch_size]
            src = pad_rows([encoded[i][0] for i in rows]).to(self.device)  # (B, Ls)
            if beam > 1:
                ids = beam_search(self.model, src, self.max_len - 1, beam_size=beam, alpha=alpha)  # (B, 1 + T)
            else:
                ids = greedy_decode(self.model, src, self.max_len - 1)  # (B, 1 + T)
            for i, row in zip(rows, ids.tolist(), strict=True):
                out[i] = self.decode(row)
        return out


def pad_rows(rows: list[list[int]]) -> torch.Tensor:
    """Lists of ids -> (B, L) padded with <pad>."""
    width = max(len(row) for row in rows)
    return torch.tensor([row + [PAD_ID] * (width - len(row)) for row in rows], dtype=torch.long)


def score(translator: Translator, pairs, beam: int = 1) -> dict:
    """Corpus BLEU (every reference, and the first one only), chrF and exact match of the translations of `pairs`;
    per-phenomenon accuracy where the pairs carry phenomena (the toy corpus)."""
    sources, refs = references(pairs)
    hypotheses = translator.translate(sources, beam=beam)
    lang = translator.languages.target_lang
    scores = corpus_scores(hypotheses, refs, lang)
    scores["bleu_single_ref"] = corpus_scores(hypotheses, [r[:1] for r in refs], lang)["bleu"]
    if any(p.phenomena for p in pairs):
        first = {}
        for p in pairs:
            first.setdefault(p.src, p)
        scores["phenomena"] = {k: v for k, v in phenomenon_accuracy([first[s] for s in sources], hypotheses).items()
                               if k in PHENOMENA}
    return scores


def evaluate(where, corpus: str | None = None, split: str = "test", beam: int = 1, device: str = "auto",
             limit: int | None = None) -> dict:
    """Score a checkpoint on a split of its corpus (by default the corpus and split seed it was trained on)."""
    state = load_checkpoint(where)
    config = TrainConfig(**state["config"])
    splits, _ = load_splits(corpus or config.corpus, config.split_seed, config.skip_malformed)
    if split not in splits:
        raise ValueError(f"split must be one of {sorted(splits)}, got split={split!r}")
    translator = Translator.from_state(state, device)
    pairs = splits[split] if limit is None else splits[split][:limit]
    return score(translator, pairs, beam)
