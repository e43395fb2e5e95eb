"""Near copies of a sentence pair: what a test sentence must not share with training to measure generalisation.

Two English sentences are near copies when their *normalised* words (lower case, no punctuation, contractions
expanded, names and pronouns masked) are within `MAX_EDITS` word edits (insert, delete, substitute) of each
other: "I'm cold." / "I am cold." / "She is cold." / "Tom is cold!" all normalise to within one edit.
Two Chinese targets are copies when they are equal without spaces and punctuation.

Finding every pair within k edits by comparing all pairs is quadratic; instead each sentence is indexed under
its *deletion variants* (every subsequence with at most k words deleted, as in SymSpell): if a and b are within
k edits, deleting at most k words from each gives a common variant (a substitution deletes one word from both
sides, an insertion one word from the other side), so only sentences sharing a variant are compared.
"""

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations

MAX_EDITS = 2
NAME, PRONOUN, POSSESSIVE = "<name>", "<pro>", "<pos>"
WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)*")
PRONOUNS = dict.fromkeys("i you he she it we they me him her us them".split(), PRONOUN) | dict.fromkeys(
    "my your his its our their mine yours hers ours theirs".split(), POSSESSIVE)
WHOLE_WORDS = {"can't": ("can", "not"), "cannot": ("can", "not"), "won't": ("will", "not"),
               "shan't": ("shall", "not"), "let's": ("let", "us")}
SUFFIXES = {"n't": "not", "'m": "am", "'re": "are", "'ll": "will", "'ve": "have", "'d": "would"}
IS_AFTER = set("he she it that what there who where here how this".split())  # "it's" = it is; "Tom's" stays


def find_names(sentences: Iterable[str]) -> frozenset[str]:
    """Lower-cased words written with a capital inside a sentence (not first, not "I") and never in lower case."""
    capital, lower = set(), set()
    for sentence in sentences:
        for position, word in enumerate(WORD.findall(sentence)):
            stem = word.split("'")[0]
            if stem[0].isupper() and position > 0 and stem != "I":
                capital.add(stem.lower())
            elif stem[0].islower():
                lower.add(stem)
    return frozenset(capital - lower)


def expand(word: str) -> tuple[str, ...]:
    """A lower-cased word with its contraction written out: "don't" -> ("do", "not"), "it's" -> ("it", "is")."""
    if word in WHOLE_WORDS:
        return WHOLE_WORDS[word]
    if word.endswith("n't"):
        return word[:-3], "not"
    stem, _, rest = word.partition("'")
    if not rest:
        return (word,)
    suffix = "'" + rest
    if suffix == "'s":
        return (stem, "is") if stem in IS_AFTER else (stem, suffix)
    return stem, SUFFIXES.get(suffix, suffix)


def english_key(sentence: str, names: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The normalised words of an English sentence: "Tom doesn't like me." -> (<name>, does, not, like, <pro>)."""
    words = (part for word in WORD.findall(sentence.replace("\u2019", "'").lower()) for part in expand(word))
    return tuple(NAME if word in names else PRONOUNS.get(word, word) for word in words)


def target_key(text: str) -> str:
    """A translation without spaces and punctuation: "我很冷 。" and "我很冷！" are the same target."""
    return "".join(ch for ch in text if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def within_edits(a: Sequence[str], b: Sequence[str], max_edits: int = MAX_EDITS) -> bool:
    """Whether the word edit (Levenshtein) distance between `a` and `b` is at most `max_edits`."""
    if abs(len(a) - len(b)) > max_edits:
        return False
    # d[i][j] = min(d[i-1][j] + 1, d[i][j-1] + 1, d[i-1][j-1] + [a_i != b_j]), one row at a time
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        if min(current) > max_edits:  # a row's minimum never decreases further down
            return False
        previous = current
    return previous[-1] <= max_edits


def deletion_variants(words: tuple[str, ...], max_edits: int = MAX_EDITS) -> set[tuple[str, ...]]:
    """Every subsequence of `words` with at most `max_edits` words deleted (the sequence itself included)."""
    n = len(words)
    return {variant for kept in range(max(0, n - max_edits), n + 1) for variant in combinations(words, kept)}


def variant_index(keys: Sequence[tuple[str, ...]], max_edits: int = MAX_EDITS) -> dict[tuple, list[int]]:
    """deletion variant -> the positions of the keys that have it."""
    index = defaultdict(list)
    for position, key in enumerate(keys):
        for variant in deletion_variants(key, max_edits):
            index[variant].append(position)
    return index


class DisjointSets:
    """Union-find over 0..n-1 (path halving): which items ended up linked together."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        """The representative of x's set."""
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        """Merge the sets of x and y."""
        self.parent[self.find(x)] = self.find(y)


def link_near_copies(keys: Sequence[tuple[str, ...]], sets: DisjointSets, max_edits: int = MAX_EDITS) -> None:
    """Union every two keys within `max_edits` word edits (only keys sharing a deletion variant are compared,
    and only when not linked already: the linking, not the list of every near pair, is what a split needs)."""
    for members in variant_index(keys, max_edits).values():
        for i, first in enumerate(members):
            for second in members[i + 1 :]:
                if sets.find(first) != sets.find(second) and within_edits(keys[first], keys[second], max_edits):
                    sets.union(first, second)


def has_near_copy(queries: Sequence[tuple[str, ...]], corpus: Iterable[tuple[str, ...]],
                  max_edits: int = MAX_EDITS) -> list[bool]:
    """For each query key, whether some key of `corpus` is within `max_edits` word edits of it."""
    index, found = variant_index(queries, max_edits), [False] * len(queries)
    for key in set(corpus):
        for variant in deletion_variants(key, max_edits):
            for q in index.get(variant, ()):
                if not found[q] and within_edits(queries[q], key, max_edits):
                    found[q] = True
    return found

