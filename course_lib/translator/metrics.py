"""Scores of a translation system: sacrebleu's corpus BLEU (with its signature and a bootstrap interval) and chrF,
and exact match; BLEU's clipped n-gram matches, spelled out for notebook 12."""

from collections import Counter
from importlib.util import find_spec

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

from .tokenizers import CJK_LANGS

JAPANESE = ("ja", "jpn")


def mecab_available() -> bool:
    """Whether sacrebleu's 'ja-mecab' tokenizer can run (pip install sacrebleu[ja]: MeCab and its IPA dictionary)."""
    return find_spec("MeCab") is not None and find_spec("ipadic") is not None


def bleu_tokenize(target_lang: str) -> str:
    """sacrebleu's tokenizer for the target language: 'zh' splits Chinese characters; Japanese, whose kana 'zh'
    leaves in runs, is cut into words by 'ja-mecab' when installed, else into characters ('char'); '13a' is for
    spaced text. BLEU's signature names the one used (tok:...)."""
    if target_lang in JAPANESE:
        return "ja-mecab" if mecab_available() else "char"
    return "zh" if target_lang in CJK_LANGS else "13a"


def reference_streams(references: list[list[str]]) -> list[list[str]]:
    """Per-hypothesis reference lists -> sacrebleu's streams (one per reference position).

    A sentence with fewer references repeats its first: BLEU clips by the maximum count over references and
    picks the closest reference length, and chrF keeps the best reference, so a repeat changes neither.
    """
    most = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else refs[0] for refs in references] for k in range(most)]


def corpus_scores(hypotheses: list[str], references, target_lang: str) -> dict:
    """BLEU and chrF (0-100), exact match (0-1), the sentence count and BLEU's signature.

    `references[i]` is the reference of hypothesis i, or the list of all its references.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"need one reference (list) per hypothesis, got {len(hypotheses)} hypotheses and "
                         f"{len(references)} references")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "exact_match": 0.0, "n": 0, "signature": ""}
    streams = reference_streams(refs)
    bleu = BLEU(tokenize=bleu_tokenize(target_lang))
    bleu_score = bleu.corpus_score(hypotheses, streams)
    chrf = CHRF().corpus_score(hypotheses, streams)
    exact = sum(h.strip() in {r.strip() for r in rs} for h, rs in zip(hypotheses, refs, strict=True))
    return {"bleu": bleu_score.score, "chrf": chrf.score, "exact_match": exact / len(hypotheses),
            "n": len(hypotheses), "signature": str(bleu.get_signature())}


def bleu_interval(hypotheses: list[str], references: list[list[str]], target_lang: str, samples: int = 1000,
                  seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of corpus BLEU: resample the sentences with replacement `samples` times
    (seeded), recompute BLEU from each resample's summed n-gram statistics, keep the middle `level` of them."""
    if not hypotheses:
        return 0.0, 0.0
    bleu = BLEU(tokenize=bleu_tokenize(target_lang), effective_order=True)  # statistics only: no smoothing used
    rows = []
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        s = bleu.sentence_score(hypothesis, list(refs))
        rows.append([s.sys_len, s.ref_len, *s.counts, *s.totals])  # corpus BLEU = f(sum of these rows)
    stats = np.array(rows, dtype=np.int64)  # (N, 10)
    picks = np.random.default_rng(seed).integers(0, len(rows), size=(samples, len(rows)))  # (samples, N)
    sums = stats[picks].sum(axis=1)  # (samples, 10)
    scores = [BLEU.compute_bleu(row[2:6].tolist(), row[6:10].tolist(), int(row[0]), int(row[1])).score for row in sums]
    low, high = np.quantile(scores, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def phenomenon_accuracy(pairs, hypotheses: list[str]) -> dict[str, float]:
    """Sentence accuracy per phenomenon: for each label, the share of its sentences translated exactly (whole)."""
    exact = lambda pair, hypothesis: dict.fromkeys(pair.phenomena, hypothesis.strip() == pair.tgt.strip())  # noqa: E731
    return phenomenon_check_accuracy(pairs, hypotheses, exact)


def phenomenon_check_accuracy(pairs, hypotheses: list[str], check) -> dict[str, float]:
    """For each phenomenon, the share of its sentences where `check(pair, hypothesis)[name]` holds."""
    totals: dict[str, list[int]] = {}
    for pair, hypothesis in zip(pairs, hypotheses, strict=True):
        for name, ok in check(pair, hypothesis).items():
            right_total = totals.setdefault(name, [0, 0])
            right_total[0] += bool(ok)
            right_total[1] += 1
    return {name: right / total for name, (right, total) in sorted(totals.items())}


def ngram_counts(tokens: list[str], n: int) -> Counter:
    """How often each n-gram (a tuple of n tokens) occurs in `tokens`: len(tokens) - n + 1 of them in all."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def clipped_matches(hypothesis: list[str], references: list[list[str]], n: int) -> tuple[int, int]:
    """BLEU's modified n-gram precision of one sentence as (matches, total) (Papineni et al. 2002, section 2.1).

    Each n-gram of the hypothesis counts at most as often as it occurs in any one reference (the maximum over the
    references, not their sum), so "the the the the" does not match "the cat" four times.
    """
    counts = ngram_counts(hypothesis, n)
    most = Counter()
    for reference in references:
        most |= ngram_counts(reference, n)  # | keeps the larger count of each n-gram
    return sum(min(count, most[gram]) for gram, count in counts.items()), sum(counts.values())
