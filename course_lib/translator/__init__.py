"""The translator (notebook 12): English→Chinese with the course's Transformer, from data to a command line.

Modules: grammar (the embedded toy corpus), corpus (Tatoeba TSV files, splits), tokenizers, vocab, batching,
metrics (BLEU, chrF, exact match), dataset (corpus -> numbered pairs), config (presets), trainer (training,
checkpoints, resume, DDP), translate (greedy/beam translation, evaluation), cli.
"""

from .config import PRESETS, TrainConfig
from .trainer import Trainer, train
from .translate import Translator, evaluate

__all__ = ["PRESETS", "TrainConfig", "Trainer", "Translator", "evaluate", "train"]
