"""The everyday sentences: English written for the course, with Chinese references, that no corpus holds and no
setting was tuned on — a small held-out check of how a translator trained on Tatoeba does on new text."""

from importlib.resources import as_file, files

from .corpus import Pair, read_tsv

EVERYDAY = "everyday"  # the name `evaluate --split` knows the set by


def everyday_pairs() -> list[Pair]:
    """The set's pairs (an English sentence with two references is two pairs, as in a Tatoeba file)."""
    with as_file(files(__package__) / "data" / f"{EVERYDAY}.tsv") as path:
        return read_tsv(path).pairs
