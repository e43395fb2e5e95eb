"""Train/valid/test splits of a sentence-pair corpus, and how much of a held-out split training already saw.

`group` (the default): pairs are linked when they share a normalised English sentence or a Chinese target or
their English lies within two word edits (near_copies); each linked group goes whole to one split, so no
valid/test sentence has a near copy in training. Linking is transitive, so a chain of small edits makes one
group: on Tatoeba about half the sentences form one large group, which goes to training (it fits no other
split), and the held-out sentences are the ones with no near copy anywhere. Because every pair within two edits
is linked, no held-out sentence is left within two edits of training (nothing to drop afterwards): `leakage`
measures it, 0 on Tatoeba (tested) and reported by `evaluate`.

`source` (the old split): unique English sentences shuffled and cut; every translation of a sentence stays
together, but "I'm cold." can be in test while "I am cold." is in training. Kept to compare with.
"""

import random
from itertools import chain

from ..validation import require_choice
from .corpus import Pair, references, split_by_source
from .near_copies import DisjointSets, english_key, find_names, has_near_copy, link_near_copies, target_key

SPLIT_NAMES = ("train", "valid", "test")


def link_groups(pairs: list[Pair]) -> list[list[int]]:
    """The linked groups of pair positions, in order of their first pair."""
    names = find_names(p.src for p in pairs)
    keys = [english_key(p.src, names) for p in pairs]
    node = {key: i for i, key in enumerate(dict.fromkeys(keys))}  # one node per normalised English sentence
    sets = DisjointSets(len(node))
    link_near_copies(list(node), sets)  # equal or within two word edits
    first_with_target: dict[str, int] = {}
    for pair, key in zip(pairs, keys, strict=True):
        sets.union(node[key], first_with_target.setdefault(target_key(pair.tgt), node[key]))
    groups: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(sets.find(node[key]), []).append(position)
    return list(groups.values())


def split_by_group(pairs: list[Pair], seed: int = 0, valid_fraction: float = 0.05,
                   test_fraction: float = 0.05) -> dict[str, list[Pair]]:
    """Shuffle the linked groups with `seed`; fill test, then valid, with whole groups up to their share of the
    unique English sentences (a group larger than the room left goes to train); the rest is train."""
    groups = link_groups(pairs)
    random.Random(seed).shuffle(groups)
    unique = len({p.src for p in pairs})
    room = {"test": round(unique * test_fraction), "valid": round(unique * valid_fraction)}
    split_of = [""] * len(pairs)
    for group in groups:
        size = len({pairs[i].src for i in group})
        name = next((n for n in ("test", "valid") if size <= room[n]), "train")
        if name != "train":
            room[name] -= size
        for i in group:
            split_of[i] = name
    return {name: [p for p, s in zip(pairs, split_of, strict=True) if s == name] for name in SPLIT_NAMES}


SPLIT_METHODS = {"group": split_by_group, "source": split_by_source}


def split_pairs(pairs: list[Pair], method: str = "group", seed: int = 0) -> dict[str, list[Pair]]:
    """Train/valid/test pairs by `method` ("group" or "source"), shuffled with `seed`."""
    require_choice("split_method", method, tuple(SPLIT_METHODS))
    return SPLIT_METHODS[method](pairs, seed=seed)


def leakage(held_out: list[Pair], train: list[Pair], names: frozenset[str]) -> dict[str, float]:
    """Shares of the unique held-out English sentences whose target (any reference) is a training target, and
    whose normalised English is within two word edits of a training sentence (`names`: the corpus's names)."""
    sources, refs = references(held_out)
    if not sources:
        return {"leak_target_seen": 0.0, "leak_within_2_edits": 0.0}
    seen = {target_key(p.tgt) for p in train}
    target_seen = sum(any(target_key(r) in seen for r in rs) for rs in refs)
    near = has_near_copy([english_key(s, names) for s in sources], (english_key(p.src, names) for p in train))
    return {"leak_target_seen": target_seen / len(sources), "leak_within_2_edits": sum(near) / len(sources)}


def corpus_names(splits: dict[str, list[Pair]]) -> frozenset[str]:
    """The names (near_copies.find_names) of every English sentence of every split."""
    return find_names(p.src for p in chain.from_iterable(splits.values()))
