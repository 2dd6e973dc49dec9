"""Fine-tuning on the Hugging Face Trainer: dev-F1 model selection, early stopping, resume, multi-GPU.

The Trainer does the loop; this module supplies what it lacks for NER: word-level
validation F1 (strict IOB2, every word of every window merged back into its sentence)
as the selection metric, a ``train_log.jsonl`` per run, and a model directory that
appears under its final name only once it is complete. Under ``torchrun`` or
``accelerate launch`` the same code runs data-parallel; only the main process writes.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from multinerd import progress
from multinerd.config import Config, ConfigError
from multinerd.data.corpus import Corpus, Sentence, corpus_fingerprint
from multinerd.evaluate import scoring
from multinerd.evaluate.decoding import ARGMAX, DEFAULT_DECODING, check_decoding, decode_tags
from multinerd.labels import TagScheme
from multinerd.model import features
from multinerd.model.autoprecision import use_training_attention
from multinerd.model.backends import BackendError, choose_precision
from multinerd.model.modeldir import TRAIN_LOG, read_train_log
from multinerd.model.modelhub import load_tokenizer, resolve_model_name
from multinerd.model.outputs import is_finished_model, move_into_place
from multinerd.model.train_progress import TrainLogCallback, TrainProgress
from multinerd.progress import is_main_process
from multinerd.systems import systems_of

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


class WindowDataset(torch.utils.data.Dataset):
    """Encoded windows as the Trainer wants them: one dict of lists per row."""

    def __init__(self, windows: Sequence[features.Window]):
        self.rows = [window.as_features() for window in windows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


@dataclass
class EncodedSplit:
    sentences: list[Sentence]
    gold: list[list[str]]
    windows: list[features.Window]
    stats: features.EncodingStats


def encode_split(
    sentences: Sequence[Sentence], scheme: TagScheme, tokenizer: Any, config: Config
) -> EncodedSplit:
    """Tags mapped into ``scheme`` (other types become O) and cut into model windows."""
    gold = [scheme.convert(sentence.tags) for sentence in sentences]
    windows, stats = features.encode_dataset(
        [list(sentence.words) for sentence in sentences],
        [scheme.encode(tags) for tags in gold],
        tokenizer,
        config.model.max_length,
        config.model.stride,
    )
    return EncodedSplit(list(sentences), gold, windows, stats)


class DevScorer:
    """``compute_metrics`` for the Trainer: strict word-level entity F1 on the validation split.

    Windows are merged back into sentences first, so a word that two windows share is
    counted once; the sentences are decoded as ``predict`` decodes them (``decoding``, see
    :mod:`multinerd.evaluate.decoding`), so model selection sees the tags users get; the score comes
    from :mod:`multinerd.evaluate.scoring`, the scorer of the test report (seqeval stays the tests' oracle).
    """

    def __init__(self, split: EncodedSplit, scheme: TagScheme, decoding: str = DEFAULT_DECODING):
        self.split = split
        self.scheme = scheme
        self.decoding = check_decoding(decoding)

    def __call__(self, prediction: Any) -> dict[str, float]:
        predicted, label_ids = prediction.predictions, prediction.label_ids
        if predicted.ndim == 2:
            # Only ids reached here (argmax_logits); as one-hot rows they go through the same
            # window merge as scores, and argmax returns the id of the window chosen for each word.
            predicted = np.eye(len(self.scheme.labels), dtype=np.float32)[predicted]
        per_window = [rows[labels != features.IGNORE_INDEX] for rows, labels in zip(predicted, label_ids)]
        merged = features.merge_window_logits(
            self.split.windows, per_window, [len(s.words) for s in self.split.sentences]
        )
        if prediction.predictions.ndim == 3:
            merged = [np.exp(rows) for rows in merged]  # log-probabilities (softmax_logits)
        tags = decode_tags(merged, self.scheme.labels, self.decoding)
        return {"f1": scoring.micro_f1(self.split.gold, tags, scheme=self.scheme)}


def argmax_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Keep only label ids during evaluation: full logits of a large dev set would not fit in memory."""
    return logits.argmax(dim=-1)


def log_softmax_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Keep log-probabilities (float32) during evaluation: Viterbi needs every label's score.

    This keeps ``[windows, length, labels]`` floats for the whole validation split (about
    4 bytes x labels per sub-token: ~0.6 GB for MultiNERD English's 33k validation sentences).
    """
    return torch.log_softmax(logits.float(), dim=-1)


def metric_inputs(decoding: str) -> Any:
    """What the Trainer keeps of each evaluation batch for :class:`DevScorer` under ``decoding``."""
    return argmax_logits if check_decoding(decoding) == ARGMAX else log_softmax_logits


class SequentialEvalTrainer(Trainer):
    """A Trainer whose evaluation keeps dataset order.

    With ``train_sampling_strategy="group_by_length"`` the stock Trainer also shuffles
    evaluation batches by length; :class:`DevScorer` merges windows back into sentences
    by position, so evaluation must see the windows in order.
    """

    def _get_eval_sampler(self, eval_dataset: torch.utils.data.Dataset) -> torch.utils.data.Sampler:
        return torch.utils.data.SequentialSampler(eval_dataset)


def training_precision(precision: str, encoder: Any = None) -> str:
    """The format training computes in: ``fp32``, ``bf16`` (autocast) or ``fp16`` (GPU only).

    ``auto`` takes bf16 on a GPU that reports it (fp16 on older GPUs) and on a CPU only
    where bf16 measured faster than fp32 for ``encoder``'s shape (a transformers config;
    :mod:`multinerd.model.autoprecision`, which gives fp32 without measuring on a CPU with
    no AVX-512 BF16 or AMX). Weights are saved in fp32 either way.
    """
    return training_precision_choice(precision, encoder)[0]


def training_precision_choice(precision: str, encoder: Any = None) -> tuple[str, str]:
    """:func:`training_precision` with the reason for it, as the run's log says it."""
    if torch.cuda.is_available():
        if precision == "auto":
            return ("bf16", "the GPU computes bf16") if torch.cuda.is_bf16_supported() else ("fp16", "no GPU bf16")
        return precision, "asked for"
    if precision == "fp16":
        raise ConfigError("train.precision=fp16 needs a GPU; on the CPU use auto, bf16 (where native) or fp32")
    try:
        return choose_precision(precision, "cpu", encoder)
    except BackendError as err:
        raise ConfigError(f"train.precision={precision}: {err}") from None


def _precision_flags(precision: str) -> dict[str, bool]:
    """TrainingArguments' ``bf16``/``fp16`` for an already resolved precision."""
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def training_arguments(
    config: Config,
    checkpoint_dir: Path,
    steps_per_epoch: int | None = None,
    precision: str | None = None,
    find_unused_parameters: bool | None = None,
) -> TrainingArguments:
    """The Trainer settings of ``config.train``, with selection on validation F1.

    Training loss is logged a few times between evaluations (``steps_per_epoch`` sizes
    that), so every line of ``train_log.jsonl`` has a training loss. ``precision`` is the
    format already chosen for the model (else ``train.precision`` is resolved here);
    ``find_unused_parameters`` is DDP's (:func:`unused_parameters`; ``None``: the Trainer's default).
    """
    train = config.train
    strategy = "steps" if train.eval_steps else "epoch"
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        seed=train.seed,
        num_train_epochs=train.epochs,
        max_steps=train.max_steps,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        # transformers 5 reads a warmup_steps below 1 as a share of all steps (warmup_ratio is gone).
        warmup_steps=train.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=train.eval_steps,
        eval_on_start=train.eval_on_start,
        save_steps=train.eval_steps,
        logging_strategy="steps",
        logging_steps=max(1, min(50, (train.eval_steps or steps_per_epoch or 200) // 4)),
        load_best_model_at_end=True,
        metric_for_best_model="f1",
        greater_is_better=True,
        save_total_limit=train.save_total_limit,
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        dataloader_num_workers=train.dataloader_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without use_cpu, accelerate does not treat several CPU processes (torchrun, gloo) as
        # one distributed job, and each process would train alone and write its own model.
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        disable_tqdm=True,  # TrainProgress draws the bars; the Trainer's own print raw dicts
        ddp_find_unused_parameters=find_unused_parameters,
        **_precision_flags(precision or training_precision(train.precision)),
    )


@dataclass
class TrainResult:
    model_dir: Path
    scheme: TagScheme
    train_stats: features.EncodingStats
    validation_stats: features.EncodingStats
    best_validation_f1: float | None
    seconds: float
    #: The format training computed in (``fp32``, ``bf16``, ``fp16``), as ``train.precision`` resolved.
    precision: str = "fp32"


def _dropout_overrides(config: Config) -> dict[str, float]:
    """``attention_probs_dropout_prob`` for encoders whose config has it (BERT, RoBERTa, DeBERTa, ...)."""
    if config.model.attention_dropout is None:
        return {}
    encoder_config = AutoConfig.from_pretrained(resolve_model_name(config.model.name))
    if not hasattr(encoder_config, "attention_probs_dropout_prob"):
        raise ConfigError(
            f"model.attention_dropout: {config.model.name} ({encoder_config.model_type}) has no "
            "attention_probs_dropout_prob setting; leave model.attention_dropout unset"
        )
    return {"attention_probs_dropout_prob": config.model.attention_dropout}


def _steps_per_epoch(n_windows: int, config: Config) -> int:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = config.train.batch_size * config.train.gradient_accumulation_steps * world_size
    return max(1, math.ceil(n_windows / per_step))


def _last_checkpoint(checkpoint_dir: Path) -> str | None:
    return get_last_checkpoint(str(checkpoint_dir)) if checkpoint_dir.is_dir() else None


def resume_point(system: str, checkpoint_dir: Path) -> str | None:
    """The checkpoint ``--resume`` continues from, said out loud; None (with a warning) if there is none."""
    found = _last_checkpoint(checkpoint_dir)
    if found is None:
        logger.warning("--resume: no checkpoint under %s; %s starts from the beginning", checkpoint_dir, system)
    else:
        progress.say(f"{system}: resuming from checkpoint {found}")
    return found


def system_scheme(corpus: Corpus, config: Config, system: str) -> TagScheme:
    """The scheme ``system`` trains in, after checking that the data can train it."""
    found = systems_of(corpus, config).get(system)
    if found is None:
        raise ConfigError(
            f"system {system} is not defined for this data: set data.b_types to the types B keeps"
        )
    if not corpus.splits.get("train") or not corpus.splits.get("validation"):
        raise ConfigError(f"{corpus.source}: training needs non-empty train and validation splits")
    return found.scheme


@dataclass
class BuiltTrainer:
    """A Trainer ready to ``train()``, with what publishing its model needs."""

    trainer: Trainer
    scheme: TagScheme
    train_split: EncodedSplit
    validation_split: EncodedSplit
    log_path: Path
    #: The format training computes in (see :func:`training_precision`).
    precision: str


def load_model(config: Config, scheme: TagScheme) -> torch.nn.Module:
    """The pretrained encoder with a fresh classification head for ``scheme``'s labels."""
    set_seed(config.train.seed)
    return AutoModelForTokenClassification.from_pretrained(
        resolve_model_name(config.model.name),
        num_labels=len(scheme.labels),
        id2label=scheme.id2label,
        label2id=scheme.label2id,
        ignore_mismatched_sizes=True,
        **_dropout_overrides(config),
    )


def batch_width_multiple() -> int | None:
    """Batch widths padded to a multiple of 8 for a GPU's tensor cores; on a CPU, not padded.

    Padding bf16 batches to multiples of 16, so that oneDNN would build fewer kernel shapes,
    cost more than it saved on an AVX-512 BF16 EPYC: every step pays for the padded tokens,
    while a new width's kernels are built once and widths recur every epoch.
    """
    return 8 if torch.cuda.is_available() else None


def unused_parameters(model: torch.nn.Module) -> list[str]:
    """Parameters that a forward and backward pass leaves without a gradient.

    DDP must know: with ``find_unused_parameters=True`` it walks the autograd graph after
    every step to find them (and warns that this costs time when there are none); with
    ``False`` and some unused, it fails. One pass on a two-row batch answers, with the random
    state restored so the seed's training is unchanged.
    """
    ids = torch.tensor([[1, 2, 3, 4], [1, 2, 0, 0]])
    with torch.random.fork_rng():
        model(input_ids=ids, attention_mask=(ids != 0).long()).logits.float().sum().backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    return unused


def build_trainer(
    config: Config,
    scheme: TagScheme,
    corpus: Corpus,
    work_dir: Path,
    *,
    callbacks: Sequence[TrainerCallback] = (),
    args: TrainingArguments | None = None,
) -> BuiltTrainer:
    """Encode train and validation, load the encoder, and build the Trainer; nothing is trained.

    ``callbacks`` are added to the log and early-stopping ones (``tune`` reports to Optuna
    through one); ``args`` replaces :func:`training_arguments` (the dry run times steps
    without evaluating).
    """
    tokenizer = load_tokenizer(config.model.name)
    train_split = encode_split(corpus.splits["train"], scheme, tokenizer, config)
    validation_split = encode_split(corpus.splits["validation"], scheme, tokenizer, config)
    model = load_model(config, scheme)
    log_path = work_dir / TRAIN_LOG
    precision, reason = training_precision_choice(config.train.precision, model.config)
    if is_main_process():
        progress.say(f"{scheme.name}: precision {config.train.precision} -> {precision}: {reason}")
    use_training_attention(model)
    all_callbacks: list[TrainerCallback] = [
        TrainLogCallback(log_path, precision),
        TrainProgress(scheme.name),
        *callbacks,
    ]
    if config.train.patience > 0:
        all_callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.train.patience))
    steps_per_epoch = _steps_per_epoch(len(train_split.windows), config)
    find_unused = bool(unused_parameters(model)) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None
    trainer = SequentialEvalTrainer(
        model=model,
        args=args or training_arguments(config, work_dir / CHECKPOINTS, steps_per_epoch, precision, find_unused),
        data_collator=DataCollatorForTokenClassification(
            tokenizer, pad_to_multiple_of=batch_width_multiple()
        ),
        train_dataset=WindowDataset(train_split.windows),
        eval_dataset=WindowDataset(validation_split.windows),
        processing_class=tokenizer,
        compute_metrics=DevScorer(validation_split, scheme, config.eval.decoding),
        preprocess_logits_for_metrics=metric_inputs(config.eval.decoding),
        callbacks=all_callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # TrainProgress prints; the Trainer's own prints raw dicts
    return BuiltTrainer(trainer, scheme, train_split, validation_split, log_path, precision)


def _prepare_work_dir(work_dir: Path, resume: bool) -> str | None:
    """The checkpoint to resume from (``None``: a fresh start, with the old work directory removed)."""
    # work_dir is OUT/.work/SYSTEM: its name labels the message.
    resume_from = resume_point(work_dir.name, work_dir / CHECKPOINTS) if resume else None
    if not resume_from and is_main_process() and work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if not resume_from:
        (work_dir / TRAIN_LOG).unlink(missing_ok=True)
    return resume_from


def publish(built: BuiltTrainer, config: Config, corpus: Corpus, final_dir: Path, fingerprint: str | None = None
            ) -> None:
    """Save the selected model and move it, with its settings and log, to ``final_dir`` (main process).

    ``fingerprint`` is the corpus's (:func:`corpus_fingerprint`) when the caller has it already.
    """
    trainer = built.trainer
    staging = built.log_path.parent / "model"
    trainer.save_model(str(staging))
    if trainer.args.should_save:
        # The output directory actually used, not the config's default, so the file tells where it lives.
        settings = replace(config, output=str(final_dir.parent))
        system = systems_of(corpus, config)[built.scheme.name]
        move_into_place(staging, final_dir, settings, system, fingerprint or corpus_fingerprint(corpus), built.log_path)
    trainer.accelerator.wait_for_everyone()


def _kept_result(config: Config, scheme: TagScheme, corpus: Corpus, final_dir: Path) -> TrainResult:
    """The result of a model that an earlier run finished (``--resume`` keeps it as it is)."""
    logger.warning("--resume: %s is finished; keeping it", final_dir)
    tokenizer = load_tokenizer(config.model.name)
    stats = [encode_split(corpus.splits[s], scheme, tokenizer, config).stats for s in ("train", "validation")]
    log = read_train_log(final_dir)
    scores = [line["eval_f1"] for line in log if line.get("eval_f1") is not None]
    precision = log[-1].get("precision", "fp32") if log else "fp32"
    return TrainResult(final_dir, scheme, *stats, max(scores, default=None), 0.0, precision)


def train_system(
    config: Config,
    system: str,
    corpus: Corpus,
    output: Path,
    *,
    resume: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    fingerprint: str | None = None,
) -> TrainResult:
    """Fine-tune one system and save its best model (by validation F1) to ``output/system``.

    Build (data, model, Trainer), train in ``output/.work/system``, then publish: the
    finished model is moved to its final name in one rename, so a directory named ``A``
    is always complete. With ``resume``, a finished model is kept and a killed run
    continues from its last checkpoint. ``fingerprint`` saves hashing the corpus again when
    the caller has hashed it already.
    """
    started = time.time()
    scheme = system_scheme(corpus, config, system)
    final_dir = output / system
    work_dir = output / ".work" / system
    if resume and is_finished_model(final_dir) and not work_dir.exists():
        return _kept_result(config, scheme, corpus, final_dir)
    resume_from = _prepare_work_dir(work_dir, resume)
    # train.eval_on_start scores the untrained encoder; a resumed run would score its checkpoint
    # a second time and log that step twice.
    training_config = replace(config, train=replace(config.train, eval_on_start=False)) if resume_from else config
    built = build_trainer(training_config, scheme, corpus, work_dir, callbacks=callbacks)
    built.trainer.train(resume_from_checkpoint=resume_from)
    publish(built, config, corpus, final_dir, fingerprint)
    return TrainResult(
        final_dir,
        scheme,
        built.train_split.stats,
        built.validation_split.stats,
        built.trainer.state.best_metric,
        time.time() - started,
        built.precision,
    )


