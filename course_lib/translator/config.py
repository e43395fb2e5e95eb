"""The translator's settings: model presets and the training configuration, all plain data (saved in checkpoints)."""

from dataclasses import asdict, dataclass, field, fields

from ..validation import require_choice, require_non_negative_int
from .checkpoint import mismatch, require_keys
from .split import SPLIT_METHODS

PRESETS = {
    # name: the model size, and the training settings that suit it
    "tiny": dict(d_model=128, num_heads=4, num_encoder_layers=2, num_decoder_layers=2, d_ff=512, dropout=0.1),
    "small": dict(d_model=256, num_heads=4, num_encoder_layers=3, num_decoder_layers=3, d_ff=1024, dropout=0.1),
    "base": dict(d_model=512, num_heads=8, num_encoder_layers=6, num_decoder_layers=6, d_ff=2048, dropout=0.1),
}
PRESET_TRAINING = {
    # lr on the toy corpus; real_lr on real ones (tiny's chosen on Tatoeba's validation BLEU at 2,400 steps: 28.8
    # at 3e-3 against 27.9 at 2e-3; small's and base's not tuned)
    "tiny": dict(lr=2e-3, real_lr=3e-3, warmup_steps=300, max_tokens=3000),
    "small": dict(lr=1e-3, real_lr=1e-3, warmup_steps=1000, max_tokens=8000),
    "base": dict(lr=7e-4, real_lr=7e-4, warmup_steps=2000, max_tokens=16000),
}
DEVICES = ("auto", "cpu", "cuda", "mps")
ATTENTIONS = ("mha", "mla")
MAX_SEED = 2**32 - 1  # seeds are below 2**32, so each (seed, rank) and (seed, epoch) stream seeds torch in range


def default_preset(device: str) -> str:
    """The model size that trains in minutes on the device: tiny on CPU/MPS, base on a GPU."""
    return "base" if device.startswith("cuda") else "tiny"


@dataclass
class TrainConfig:
    """Everything a training run depends on; `None` means the preset's (or the device's) default."""

    corpus: str = "toy"  # "toy" (the embedded grammar) or a path to a Tatoeba-style TSV file
    preset: str | None = None
    device: str = "auto"
    seed: int = 0  # model initialisation, dropout and batch order
    split_seed: int = 0  # which sentences land in train/valid/test (real corpora)
    split_method: str = "group"  # real corpora: "group" (no near copies across splits) or "source" (split.py)
    skip_malformed: bool = False  # real corpora: skip (and count) malformed lines instead of stopping
    attention: str = "mha"  # the decoder's self-attention: multi-head or multi-head latent attention
    max_steps: int | None = None
    max_minutes: float | None = None
    lr: float | None = None
    warmup_steps: int | None = None
    max_tokens: int | None = None  # tokens (source or target, padded) per batch
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    weight_decay: float = 0.01
    max_len: int = 64  # tokens per sentence, <bos>/<eos> included
    min_freq: int | None = None  # vocabulary cut-off: 1 for the toy corpus, 2 for real ones
    subwords: int = 0  # English subword pieces learned on the training split (subwords.py); 0: whole words
    eval_every: int | None = None  # steps between validations; None: once per epoch
    eval_sentences: int = 400  # validation sentences decoded for BLEU
    model: dict = field(default_factory=dict)  # overrides of the preset's model (size, tie_embeddings)

    def __post_init__(self):
        require_choice("device", self.device.split(":")[0], DEVICES)
        require_choice("attention", self.attention, ATTENTIONS)
        require_choice("split_method", self.split_method, tuple(SPLIT_METHODS))
        require_non_negative_int("subwords", self.subwords)
        if self.preset is not None:
            require_choice("preset", self.preset, tuple(PRESETS))
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an int from 0 to {MAX_SEED}, got seed={self.seed}")
        if self.max_steps is None and self.max_minutes is None:
            raise ValueError("set a budget: max_steps or max_minutes (or both), got neither")
        for name in ("max_steps", "max_minutes"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive (or None for no such budget), got {name}={value!r}")

    def resolved(self, device: str) -> "TrainConfig":
        """A copy with every default filled in for `device`."""
        preset = self.preset or default_preset(device)
        training = PRESET_TRAINING[preset]
        values = asdict(self)
        values.update(preset=preset, device=device,
                      lr=self.lr or training["lr" if self.corpus == "toy" else "real_lr"],
                      warmup_steps=self.warmup_steps or training["warmup_steps"],
                      max_tokens=self.max_tokens or training["max_tokens"],
                      min_freq=self.min_freq or (1 if self.corpus == "toy" else 2),
                      model={**PRESETS[preset], **self.model})
        return TrainConfig(**values)

    def model_kwargs(self) -> dict:
        """Keyword arguments of course_lib.Transformer (besides the vocabulary sizes)."""
        return {**self.model, "max_len": self.max_len, "self_attention": self.attention}


def config_from_checkpoint(state: dict, path, **overrides) -> TrainConfig:
    """The TrainConfig saved in a checkpoint (with `overrides`), or a one-line CheckpointError saying why not."""
    require_keys(state, path, ["config"])
    values = state["config"]
    if not isinstance(values, dict):
        raise mismatch(path, "configuration", f"'config' is a {type(values).__name__}, not a dict")
    unknown = sorted(set(values) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise mismatch(path, "configuration", f"unknown settings {', '.join(unknown)}")
    values = {"split_method": "source", **values}  # saved before the group split existed: split by source
    try:
        return TrainConfig(**{**values, **overrides})
    except (TypeError, ValueError) as err:
        raise mismatch(path, "configuration", err) from None
