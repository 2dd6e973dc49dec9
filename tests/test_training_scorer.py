"""The training-time scorer, without training: DevScorer, argmax_logits and the evaluation order.

DevScorer is fed what the Trainer would feed it (padded label ids per window, -100 where no
word starts) for a validation split whose long sentences are cut into several windows, and
its F1 is checked against seqeval's strict IOB2 mode on the word-level tags. Under the default
(Viterbi) decoding it is fed log-probabilities, and must score exactly what the Tagger's tags
score, so that model selection sees what users get.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from conftest import MINILM, save_tiny_model
from multinerd.config import load_config
from multinerd.data.corpus import Sentence
from multinerd.labels import TagScheme
from multinerd.model.features import IGNORE_INDEX
from multinerd.model.modelhub import load_tokenizer
from multinerd.model.training import (
    DevScorer,
    SequentialEvalTrainer,
    WindowDataset,
    argmax_logits,
    encode_split,
    log_softmax_logits,
    metric_inputs,
    training_arguments,
)

SCHEME = TagScheme("A", ("PER", "LOC"))
WORDS = ["Ada", "Lovelace", "met", "Babbage", "in", "London", "and", "Paris", "today", "."]


def _split(n_sentences: int = 12, seed: int = 0):
    rng = random.Random(seed)
    sentences = []
    for i in range(n_sentences):
        n = rng.randint(3, 40)  # long ones do not fit in one 24-token window
        words = tuple(rng.choice(WORDS) for _ in range(n))
        tags = tuple(rng.choice(SCHEME.labels) for _ in range(n))
        sentences.append(Sentence(words, tags, "en", f"t:{i}"))
    config = load_config(overrides=["model.max_length=24", "model.stride=4"])
    return encode_split(sentences, SCHEME, load_tokenizer(MINILM), config)


def _trainer_view(split, word_tags: list[list[str]]):
    """What the Trainer hands compute_metrics: padded predicted ids and label ids per window."""
    width = max(len(w.input_ids) for w in split.windows)
    ids = SCHEME.label2id
    predictions = np.zeros((len(split.windows), width), dtype=np.int64)
    labels = np.full((len(split.windows), width), IGNORE_INDEX, dtype=np.int64)
    for row, window in enumerate(split.windows):
        for position, word in zip(window.first_positions, window.word_ids):
            predictions[row, position] = ids[word_tags[window.sentence_index][word]]
            labels[row, position] = window.labels[position]
    return SimpleNamespace(predictions=predictions, label_ids=labels)


def test_dev_scorer_on_windowed_sentences_equals_seqeval_strict():
    split = _split()
    assert split.stats.windowed_sentences > 0, "the test needs sentences cut into several windows"
    scorer = DevScorer(split, SCHEME, "argmax")  # random gold tags: not valid IOB2
    assert scorer(_trainer_view(split, split.gold)) == {"f1": 1.0}
    rng = random.Random(1)
    for _ in range(5):
        pred = [
            [tag if rng.random() < 0.7 else rng.choice(SCHEME.labels) for tag in tags] for tags in split.gold
        ]
        expected = f1_score(split.gold, pred, mode="strict", scheme=IOB2)
        assert scorer(_trainer_view(split, pred))["f1"] == pytest.approx(expected, abs=1e-12)


def test_dev_scorer_reads_each_shared_word_from_one_window_only():
    """A word two windows share is counted once: junk in the window not chosen changes nothing."""
    split = _split()
    view = _trainer_view(split, split.gold)
    changed = 0
    by_sentence: dict[int, list[int]] = {}
    for row, window in enumerate(split.windows):
        by_sentence.setdefault(window.sentence_index, []).append(row)
    for rows in by_sentence.values():
        if len(rows) > 1:  # corrupt the overlap at the start of every later window
            for row in rows[1:]:
                window = split.windows[row]
                view.predictions[row, window.first_positions[0]] = SCHEME.label2id["I-LOC"]
                changed += 1
    assert changed > 0
    assert DevScorer(split, SCHEME, "argmax")(view)["f1"] == 1.0


def test_viterbi_dev_scorer_scores_what_the_tagger_predicts(tmp_path):
    """Log-probabilities per window, as the Trainer keeps them, give the F1 of Tagger.predict_words."""
    from transformers import AutoModelForTokenClassification

    from multinerd.evaluate.scoring import micro_f1
    from multinerd.model.tagger import Tagger

    split = _split(n_sentences=20, seed=3)
    model_dir = save_tiny_model(tmp_path / "m", SCHEME.labels, seed=2)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():  # I- tags as likely as B- tags: argmax then emits invalid IOB2
        model.classifier.bias.copy_(torch.tensor([0.0, 0.2, 0.2, 0.2, 0.2]))
    model.save_pretrained(model_dir)
    width = max(len(w.input_ids) for w in split.windows)
    input_ids = np.zeros((len(split.windows), width), dtype=np.int64)
    mask = np.zeros_like(input_ids)
    labels = np.full_like(input_ids, IGNORE_INDEX)
    for row, window in enumerate(split.windows):
        input_ids[row, : len(window.input_ids)] = window.input_ids
        mask[row, : len(window.input_ids)] = 1
        labels[row, : len(window.labels)] = window.labels
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(input_ids), attention_mask=torch.tensor(mask)).logits
    kept = metric_inputs("viterbi")(logits, torch.tensor(labels)).numpy()
    assert kept.shape == (*input_ids.shape, len(SCHEME.labels))
    tagger = Tagger.from_pretrained(model_dir, max_length=24, stride=4)
    assert tagger.decoding == "viterbi"
    tags = tagger.predict_words([list(s.words) for s in split.sentences])
    expected = micro_f1(split.gold, tags, scheme=SCHEME)
    f1 = DevScorer(split, SCHEME)(SimpleNamespace(predictions=kept, label_ids=labels))["f1"]
    assert f1 == pytest.approx(expected, abs=1e-12)
    argmax_tags = Tagger.from_pretrained(model_dir, max_length=24, stride=4, decoding="argmax").predict_words(
        [list(s.words) for s in split.sentences]
    )
    assert tags != argmax_tags, "the random model should emit some invalid IOB2 under argmax"
    ids = metric_inputs("argmax")(logits, torch.tensor(labels)).numpy()
    argmax_f1 = DevScorer(split, SCHEME, "argmax")(SimpleNamespace(predictions=ids, label_ids=labels))["f1"]
    assert argmax_f1 == pytest.approx(micro_f1(split.gold, argmax_tags, scheme=SCHEME), abs=1e-12)


def test_metric_inputs_follow_the_decoding():
    assert metric_inputs("viterbi") is log_softmax_logits
    assert metric_inputs("argmax") is argmax_logits
    logits = torch.tensor([[[0.1, 2.0, 0.3]]])
    assert torch.allclose(log_softmax_logits(logits, None).exp().sum(-1), torch.tensor(1.0))


def test_argmax_logits_keeps_only_label_ids():
    logits = torch.tensor([[[0.1, 2.0, 0.3], [5.0, 0.0, 0.0]]])
    labels = torch.tensor([[1, IGNORE_INDEX]])
    assert argmax_logits(logits, labels).tolist() == [[1, 0]]


def test_evaluation_keeps_dataset_order_under_group_by_length(tmp_path):
    from transformers import AutoModelForTokenClassification, DataCollatorForTokenClassification, Trainer

    split = _split(n_sentences=30)
    model = AutoModelForTokenClassification.from_pretrained(save_tiny_model(tmp_path / "m", SCHEME.labels))
    config = load_config(overrides=["train.group_by_length=true", "train.eval_batch_size=4"])
    args = training_arguments(config, tmp_path / "ckpt", 10)
    dataset = WindowDataset(split.windows)
    common = {"model": model, "args": args, "train_dataset": dataset, "eval_dataset": dataset,
              "data_collator": DataCollatorForTokenClassification(load_tokenizer(MINILM))}  # fmt: skip
    trainer = SequentialEvalTrainer(**common)
    stock = Trainer(**common)
    stock_lengths = [
        int(mask.sum()) for batch in stock.get_eval_dataloader() for mask in batch["attention_mask"]
    ]
    # Without the override, evaluation batches come grouped by length (what DevScorer cannot merge).
    assert stock_lengths != [len(window.input_ids) for window in split.windows]
    loader = trainer.get_eval_dataloader()
    lengths = [int(mask.sum()) for batch in loader for mask in batch["attention_mask"]]
    assert lengths == [len(window.input_ids) for window in split.windows]
