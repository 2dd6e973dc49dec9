"""The baseline we measure against: the task statement's first attempt, re-created.

The Hugging Face Trainer with batches of 32 drawn in random order, each padded to its
longest row by ``DataCollatorForTokenClassification``, fp32, no length grouping; each
sentence is tokenized whole and truncated at ``max_length`` sub-tokens (words past the cut
are lost, which our windowed path never does). The first attempt labelled every sub-token
of a word; here only the first sub-token carries the word's label, as in our path, so that
the two runs differ in how rows are batched and nothing else (the labelling scheme does not
change the compute of a step).

Everything that is not batching (learning rate, warmup, weight decay, optimizer, seed)
is taken from the same :class:`multinerd.config.Config` our path uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from multinerd.config import Config
from multinerd.data.corpus import Sentence
from multinerd.labels import TagScheme
from multinerd.model.features import IGNORE_INDEX

BATCH_SIZE = 32


def encode_baseline(
    sentences: Sequence[Sentence], scheme: TagScheme, tokenizer: Any, max_length: int
) -> tuple[list[dict[str, list[int]]], int]:
    """Rows of input ids, mask and first-sub-token labels, truncated at ``max_length``; and the words lost.

    This is the usual ``run_ner.py`` recipe: one ``tokenizer(..., is_split_into_words=True,
    truncation=True)`` call, labels aligned through ``word_ids()``.
    """
    encoded = tokenizer(
        [list(sentence.words) for sentence in sentences],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        return_token_type_ids=False,
    )
    rows, lost = [], 0
    for index, sentence in enumerate(sentences):
        label_ids = scheme.encode(scheme.convert(sentence.tags))
        labels, previous = [], None
        for word_id in encoded.word_ids(index):
            labels.append(label_ids[word_id] if word_id is not None and word_id != previous else IGNORE_INDEX)
            previous = word_id
        seen = {word_id for word_id in encoded.word_ids(index) if word_id is not None}
        lost += len(sentence.words) - len(seen)
        rows.append(
            {
                "input_ids": encoded["input_ids"][index],
                "attention_mask": encoded["attention_mask"][index],
                "labels": labels,
            }
        )
    return rows, lost


def baseline_arguments(config: Config, output_dir: Path, *, max_steps: int = -1):  # -> TrainingArguments
    """The first attempt's settings: batch 32, random order, fp32, nothing saved or evaluated mid-run."""
    from transformers import TrainingArguments

    train = config.train
    return TrainingArguments(
        output_dir=str(output_dir),
        seed=train.seed,
        num_train_epochs=train.epochs,
        max_steps=max_steps,
        per_device_train_batch_size=BATCH_SIZE,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        warmup_steps=train.warmup_ratio,
        lr_scheduler_type="linear",
        train_sampling_strategy="random",
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        bf16=False,
        fp16=False,
    )


def baseline_collator(tokenizer: Any):  # -> DataCollatorForTokenClassification
    """Pads each batch to its longest row; no rounding of the width."""
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer)
