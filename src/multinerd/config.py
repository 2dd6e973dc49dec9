"""One typed configuration tree: loaded from YAML, overridden by ``--set a.b=value``, checked when built.

Every model directory gets the resolved tree as ``multinerd.yaml``, so that file alone
is enough to re-run its training.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

#: Longest window (sub-tokens, special tokens included) when neither settings nor the model say less.
DEFAULT_MAX_LENGTH = 512
#: Words shared by consecutive windows when nothing says otherwise.
DEFAULT_STRIDE = 32

#: Keys a saved ``multinerd.yaml`` adds beside the settings; loading it again ignores them.
RUN_RECORD_KEYS = ("scheme", "system", "data_fingerprint")


class ConfigError(ValueError):
    """A configuration key that does not exist or a value of the wrong type or range."""


@dataclass
class DataConfig:
    """Where the sentences come from and which entity types each system keeps."""

    source: str = "sample"
    #: Language kept; every other language is dropped before training and scoring.
    lang: str = "en"
    #: System A's types; ``None`` keeps every type the data has.
    types: list[str] | None = None
    #: System B's types; ``None`` means MultiNERD's five on MultiNERD data, and no B elsewhere.
    b_types: list[str] | None = None
    #: ``raise`` stops at the first bad record; ``skip`` drops it, counts it and reports it.
    on_error: Literal["raise", "skip"] = "raise"
    #: Rewrite an I-X that starts an entity to B-X (counted and reported either way).
    repair_iob2: bool = True
    #: Drop duplicate training sentences and those also in the test split.
    dedup_train: bool = False
    #: Use only the first N sentences of each split (quick runs, tests); ``None`` uses all.
    max_sentences: int | None = None
    #: The tag scheme of the data: ``auto`` detects it per split; IOB1, IOBES/BIOES and BILOU
    #: are converted to IOB2 on reading (counted in ``data stats`` and the report).
    tag_scheme: Literal["auto", "iob1", "iob2", "iobes", "bilou"] = "auto"
    #: Hugging Face datasets (``hub:``, ``disk:``): the column of words and the column of tags.
    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    #: Hugging Face datasets: the dataset's name for each split; ``None`` finds it by its usual
    #: names (``validation``, ``valid``, ``dev`` ...).
    train_split: str | None = None
    validation_split: str | None = None
    test_split: str | None = None

    def loader_options(self) -> dict[str, Any]:
        """The keyword arguments of ``corpus.load_corpus`` that these settings fix (all but the source)."""
        return {
            "lang": self.lang,
            "on_error": self.on_error,
            "repair_iob2": self.repair_iob2,
            "max_sentences": self.max_sentences,
            "dedup_train": self.dedup_train,
            "tag_scheme": self.tag_scheme,
            "tokens_column": self.tokens_column,
            "tags_column": self.tags_column,
            "split_names": {
                ours: theirs
                for ours, theirs in (
                    ("train", self.train_split),
                    ("validation", self.validation_split),
                    ("test", self.test_split),
                )
                if theirs is not None
            },
        }


@dataclass
class ModelConfig:
    """The pretrained encoder and how long inputs are cut into windows."""

    #: Hub name, local directory, or ``pypi:PACKAGE`` for a model shipped inside a Python package.
    name: str = "bert-base-cased"
    #: Sub-tokens per window, special tokens included; longer sentences are windowed.
    max_length: int = DEFAULT_MAX_LENGTH
    #: Words shared by consecutive windows, so every word has context on both sides.
    stride: int = DEFAULT_STRIDE
    #: Attention dropout for fine-tuning; ``None`` keeps the encoder's own. 0 lets PyTorch use its
    #: fused attention kernel in training on a GPU (a CPU trains with the unfused one, see
    #: :func:`multinerd.model.autoprecision.training_attention`).
    attention_dropout: float | None = None


@dataclass
class TrainConfig:
    """Hugging Face Trainer settings that matter for this task."""

    seed: int = 42
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    gradient_accumulation_steps: int = 1
    #: Evaluate (and checkpoint) every N steps; ``None`` evaluates once per epoch.
    eval_steps: int | None = None
    #: Also evaluate the untrained model, so the log shows where training started from.
    eval_on_start: bool = False
    #: Stop after this many evaluations without a better validation F1; 0 never stops early.
    patience: int = 3
    #: ``auto``: bf16 where the hardware computes it natively (a GPU that reports it, a CPU with
    #: AVX-512 BF16 or AMX), fp16 on older GPUs, else fp32. ``bf16`` on a CPU without it is refused.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    group_by_length: bool = True
    dataloader_workers: int = 0
    #: Checkpoints kept on disk besides the best one.
    save_total_limit: int = 2


@dataclass
class EvalConfig:
    """Scoring settings."""

    #: Bootstrap resamples for intervals and the A-vs-B test; below 40 (0 included) the scores
    #: come with no interval, p-value or verdict, and say why (see scoring.MIN_RESAMPLES).
    bootstrap: int = 1000
    seed: int = 0
    split: str = "test"
    #: How tags are read from the model's probabilities, in training's validation scorer,
    #: ``evaluate``, ``run`` and ``predict``: ``viterbi`` (the most probable valid IOB2 sequence)
    #: or ``argmax`` (each word's most likely tag). ``run`` reports the other one beside it.
    decoding: Literal["argmax", "viterbi"] = "viterbi"


@dataclass
class TuneConfig:
    """``multinerd tune``: the budget and the search space over ``train`` and ``model`` settings.

    A range is ``[low, high]``, a list of choices is any length; ``null`` leaves that
    setting out of the search (the ``train``/``model`` value is used).
    """

    #: Finished trials (complete or pruned) the study should hold, all workers together.
    trials: int = 20
    #: Seconds this process may search; trials finished by then are kept. ``None``: no limit.
    timeout: float | None = None
    #: Stops trials whose validation F1 trails: ``median`` of earlier trials at the same epoch,
    #: ``halving`` (successive halving), or ``none``.
    pruner: Literal["median", "halving", "none"] = "median"
    seed: int = 0
    #: Range, sampled log-uniformly.
    learning_rate: list[float] | None = field(default_factory=lambda: [1.0e-5, 1.0e-3])
    #: Choices.
    batch_size: list[int] | None = field(default_factory=lambda: [8, 16, 32])
    #: Range of whole epochs (early stopping with ``train.patience`` still applies).
    epochs: list[int] | None = field(default_factory=lambda: [1, 4])
    #: Range.
    warmup_ratio: list[float] | None = field(default_factory=lambda: [0.0, 0.2])
    #: Range.
    weight_decay: list[float] | None = field(default_factory=lambda: [0.0, 0.1])
    #: Choices (``model.attention_dropout``); 0 lets PyTorch use its fused attention kernel on a GPU.
    attention_dropout: list[float] | None = field(default_factory=lambda: [0.0, 0.1])


#: The ``tune`` settings searched as a ``[low, high]`` range; the others are lists of choices.
TUNE_RANGES = ("learning_rate", "epochs", "warmup_ratio", "weight_decay")


def _check_tune(tune: TuneConfig) -> None:
    if tune.trials < 1:
        raise ConfigError(f"tune.trials must be at least 1, got {tune.trials}")
    for name in TUNE_RANGES:
        bounds = getattr(tune, name)
        if bounds is not None and (len(bounds) != 2 or not bounds[0] < bounds[1]):
            raise ConfigError(f"tune.{name} must be a range [low, high] with low < high, got {bounds}")
    if tune.learning_rate is not None and tune.learning_rate[0] <= 0:
        raise ConfigError(f"tune.learning_rate must be positive (log scale), got {tune.learning_rate}")
    for name in ("batch_size", "attention_dropout"):
        if getattr(tune, name) == []:
            raise ConfigError(f"tune.{name} needs at least one choice, or null to leave it out")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    output: str = "runs/multinerd"

    def __post_init__(self) -> None:
        _check_ranges(self)
        _check_tune(self.tune)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _check_ranges(config: Config) -> None:
    positive = {
        "train.batch_size": config.train.batch_size,
        "train.eval_batch_size": config.train.eval_batch_size,
        "train.gradient_accumulation_steps": config.train.gradient_accumulation_steps,
        "model.max_length": config.model.max_length,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}")
    if config.model.stride < 0:
        raise ConfigError(f"model.stride must be 0 or more, got {config.model.stride}")
    if config.train.learning_rate <= 0:
        raise ConfigError(f"train.learning_rate must be positive, got {config.train.learning_rate}")
    if config.train.epochs <= 0 and config.train.max_steps <= 0:
        raise ConfigError("train.epochs or train.max_steps must be positive")
    if not 0 <= config.train.warmup_ratio < 1:
        raise ConfigError(f"train.warmup_ratio must be in [0, 1), got {config.train.warmup_ratio}")
    if config.eval.bootstrap < 0:
        raise ConfigError(f"eval.bootstrap must be 0 or more, got {config.eval.bootstrap}")


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field's annotation, parsing strings from ``--set`` on the way."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        is_null = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_null and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        (item_type,) = args
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_convert(item, item_type, key) for item in value]
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if annotation in (int, float):
        # An int is a valid float setting, never the other way round; bools are neither.
        accepted = (int,) if annotation is int else (int, float)
        if isinstance(value, accepted) and not isinstance(value, bool):
            return annotation(value)
        if isinstance(value, str):
            try:
                return annotation(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be {'an integer' if annotation is int else 'a number'}, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key} must be a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported setting type {annotation!r}")


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown setting {prefix}{unknown[0]}; known in this section: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _convert(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def _apply_override(tree: dict[str, Any], assignment: str) -> None:
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE (like train.epochs=2), got {assignment!r}")
    *sections, leaf = key.strip().split(".")
    node = tree
    for section in sections:
        node = node.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {section} is not a section")
    try:
        parsed = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        parsed = raw
    # A value like "conll:/data" is text, never a mapping; the typed check parses the rest.
    node[leaf] = raw if isinstance(parsed, dict) else parsed


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (or the defaults), apply ``a.b=value`` overrides, and validate it all."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        tree = loaded or {}
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        tree = {key: value for key, value in tree.items() if key not in RUN_RECORD_KEYS}
    for assignment in overrides:
        _apply_override(tree, assignment)
    try:
        return _build(Config, tree, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None
