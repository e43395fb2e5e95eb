"""Using a trained translator: text in, text out (greedy or beam search on the KV cache), and its scores."""

import warnings

import torch

from ..decoding import beam_search, greedy_decode
from ..tokens import EOS_ID, PAD_ID
from ..transformer import Transformer
from .checkpoint import BEST, checkpoint_file, load_checkpoint, load_weights, mismatch, require_keys
from .config import config_from_checkpoint
from .corpus import references
from .dataset import Languages, languages_from_checkpoint, load_splits
from .everyday import EVERYDAY, everyday_pairs
from .grammar import PHENOMENA, check_phenomena
from .metrics import bleu_interval, corpus_scores, phenomenon_accuracy, phenomenon_check_accuracy
from .split import corpus_names, leakage


def mps_available() -> bool:
    """Whether Apple's Metal (MPS) backend can be used."""
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(requested: str = "auto") -> torch.device:
    """`auto`: CUDA, then Apple's MPS, then the CPU; otherwise the device asked for, if this machine has it."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError):
        device = None  # not a device name at all
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device must be auto, cpu, cuda[:N] or mps, got {requested!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {requested} requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {requested} requested but this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s)")
    if device.type == "mps" and not mps_available():
        raise ValueError(f"--device {requested} requested but MPS is not available")
    return device


class Translator:
    """A trained model with its languages: `translate(["I like tea ."])` -> ["我喜欢茶。"]."""

    def __init__(self, model: Transformer, languages: Languages, max_len: int, device: torch.device):
        self.model, self.languages, self.max_len, self.device = model.eval(), languages, max_len, device
        self.src_tok, self.tgt_tok = languages.tokenizers

    @classmethod
    def from_checkpoint(cls, where, device: str = "auto", which: str = BEST) -> "Translator":
        """Load the best (or `which`) checkpoint of a training directory."""
        path = checkpoint_file(where, which)
        return cls.from_state(load_checkpoint(path), device, path)

    @classmethod
    def from_state(cls, state: dict, device: str = "auto", path="the checkpoint") -> "Translator":
        """Rebuild the model and languages of a loaded checkpoint (`path` names it in errors)."""
        device = pick_device(device)
        config = config_from_checkpoint(state, path)
        languages = languages_from_checkpoint(state, path)
        require_keys(state, path, ["model"])
        try:
            model = Transformer(len(languages.src_vocab), len(languages.tgt_vocab), **config.model_kwargs())
        except (TypeError, ValueError) as err:
            raise mismatch(path, "model settings", err) from None
        load_weights(model, state["model"], path)
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


def score(translator: Translator, pairs, beam: int = 1, interval: bool = False) -> dict:
    """Corpus BLEU (every reference, and the first one only), chrF and exact match of the translations of `pairs`
    (with `interval`, also `bleu_ci`: BLEU's bootstrap 95 % interval, all references);
    where the pairs carry phenomena (the toy corpus), per phenomenon: `phenomena`, the share of its sentences whose
    targeted check passes (grammar.check_phenomena), and `phenomena_sentence`, the share translated exactly."""
    sources, refs = references(pairs)
    hypotheses = translator.translate(sources, beam=beam)
    lang = translator.languages.target_lang
    scores = corpus_scores(hypotheses, refs, lang)
    scores["bleu_single_ref"] = corpus_scores(hypotheses, [r[:1] for r in refs], lang)["bleu"]
    if interval:
        scores["bleu_ci"] = list(bleu_interval(hypotheses, refs, lang))
    if any(p.phenomena for p in pairs):
        first = {}
        for p in pairs:
            first.setdefault(p.src, p)
        tagged = [first[s] for s in sources]
        scores["phenomena"] = {k: v for k, v in phenomenon_check_accuracy(tagged, hypotheses, check_phenomena).items()
                               if k in PHENOMENA}
        scores["phenomena_sentence"] = {k: v for k, v in phenomenon_accuracy(tagged, hypotheses).items()
                                        if k in PHENOMENA}
    return scores


def evaluate(where, corpus: str | None = None, split: str = "test", beam: int = 1, device: str = "auto",
             limit: int | None = None) -> dict:
    """Score a checkpoint on a split of its corpus (by default the corpus, split method and seed it was trained on),
    or on the course's everyday sentences (split="everyday"), with BLEU's bootstrap interval and the leakage
    figures: the shares of the scored sentences whose target, or a near copy of whose English, training holds."""
    path = checkpoint_file(where)
    state = load_checkpoint(path)
    config = config_from_checkpoint(state, path)
    translator = Translator.from_state(state, device, path)
    corpus = corpus or config.corpus
    splits, _ = load_splits(corpus, config.split_seed, config.skip_malformed, split_method=config.split_method)
    names = corpus_names(splits)  # the split's normalisation: masked names come from the corpus alone
    splits = {**splits, EVERYDAY: everyday_pairs()}
    if split not in splits:
        raise ValueError(f"split must be one of {sorted(splits)}, got split={split!r}")
    pairs = splits[split] if limit is None else splits[split][:limit]
    scores = score(translator, pairs, beam, interval=True)
    split_method = "toy" if corpus == "toy" else config.split_method  # the toy corpus has its own split
    return {**scores, **leakage(pairs, splits["train"], names), "split_method": split_method}
