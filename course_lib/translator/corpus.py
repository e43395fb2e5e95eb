"""Sentence pairs: the Tatoeba/manythings tab-separated format, splits by source sentence, and references."""

import random
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    """One source sentence and one translation; `phenomena` and `combo` label toy pairs, `attribution` real ones."""

    src: str
    tgt: str
    phenomena: tuple[str, ...] = ()
    attribution: str = ""
    combo: tuple[str, ...] = ()  # toy pairs: (noun, verb, measure word), e.g. ("cat", "feed", "只")


@dataclass
class TsvCorpus:
    """The pairs of a TSV file and how many malformed lines were skipped."""

    pairs: list[Pair]
    skipped: int = 0


def parse_line(line: str, number: int, path: Path) -> Pair:
    """`English<TAB>translation[<TAB>attribution]` -> Pair; anything else raises ValueError naming the line."""
    columns = line.split("\t")
    if len(columns) not in (2, 3) or not columns[0].strip() or not columns[1].strip():
        raise ValueError(f"{path}:{number}: expected 2 or 3 tab-separated columns (English, translation"
                         f"[, attribution]), got {len(columns)}: {line[:60]!r}")
    return Pair(columns[0].strip(), columns[1].strip(), attribution=columns[2].strip() if len(columns) == 3 else "")


def read_tsv(path, skip_malformed: bool = False) -> TsvCorpus:
    r"""Read a Tatoeba-style file (UTF-8, an optional BOM); blank lines are ignored.

    Lines end at \n or \r\n only: str.splitlines() would also break inside a field at U+2028, U+0085 or a lone \r.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # bytes: text mode would turn a lone \r into a line end
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    pairs, skipped = [], 0
    for number, line in enumerate((line.removesuffix("\r") for line in text.split("\n")), start=1):
        if not line.strip():
            continue
        try:
            pairs.append(parse_line(line, number, path))
        except ValueError:
            if not skip_malformed:
                raise
            skipped += 1
    return TsvCorpus(pairs, skipped)


def split_by_source(pairs: list[Pair], seed: int = 0, valid_fraction: float = 0.05,
                    test_fraction: float = 0.05) -> dict[str, list[Pair]]:
    """Shuffle the unique source sentences with `seed` and split them: every translation of a source stays together."""
    sources = list(dict.fromkeys(p.src for p in pairs))  # unique, in first-seen order
    random.Random(seed).shuffle(sources)
    n_valid, n_test = round(len(sources) * valid_fraction), round(len(sources) * test_fraction)
    split_of = {s: "test" for s in sources[:n_test]}
    split_of.update({s: "valid" for s in sources[n_test : n_test + n_valid]})
    splits = {"train": [], "valid": [], "test": []}
    for pair in pairs:
        splits[split_of.get(pair.src, "train")].append(pair)
    return splits


def require_splittable(splits: dict[str, list[Pair]], corpus: str, method: str = "source") -> None:
    """ValueError saying why a split of `corpus` came out empty: too few sentences (naming the smallest number
    `split_by_source` can split), or, for the group split, too few groups of near copies."""
    if all(splits.values()):
        return
    sources = len({p.src for pairs in splits.values() for p in pairs})
    need = next(n for n in range(1, 10_000) if all(split_by_source([Pair(str(i), str(i)) for i in range(n)]).values()))
    if sources < need:
        raise ValueError(f"corpus {corpus!r} is too small to split into train, valid and test: it has {sources} "
                         f"distinct source sentence(s), and at least {need} are needed")
    raise ValueError(f"corpus {corpus!r} is too small to split into train, valid and test by {method!r}: its {sources} "
                     "distinct source sentences are near copies of each other, and near copies stay in one split; "
                     "use a larger corpus (or --split-method source)")


def references(pairs: list[Pair]) -> tuple[list[str], list[list[str]]]:
    """The unique sources in first-seen order and, for each, all of its translations."""
    refs: dict[str, list[str]] = {}
    for pair in pairs:
        refs.setdefault(pair.src, []).append(pair.tgt)
    return list(refs), list(refs.values())
