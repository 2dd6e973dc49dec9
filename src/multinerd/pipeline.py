"""The main job, stage after stage: data, train A and B, predict the test split, score, compare, report.

This is what ``multinerd run`` and ``multinerd evaluate`` call; each stage lives in its
own module and this one only passes results along, in one direction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from multinerd import report, scoring
from multinerd.config import Config, ConfigError
from multinerd.corpus import DEFAULT_HUB_DATASET, Corpus, Sentence, corpus_fingerprint, load_corpus
from multinerd.labels import SCHEME_B_TYPES, TagScheme, split_tag
from multinerd.modeldir import read_labels, read_saved_scheme
from multinerd.tagger import Tagger
from multinerd.training import (
    TrainResult,
    is_main_process,
    read_train_log,
    system_schemes,
    train_system,
)

logger = logging.getLogger(__name__)


def load_data(config: Config, source: str | None = None) -> Corpus:
    """The corpus named by ``source`` (default: the configured one) with the configured filters."""
    return load_corpus(source or config.data.source, **config.data.loader_options())


def model_scheme(model_dir: Path) -> TagScheme:
    """The scheme a saved model predicts in: from ``multinerd.yaml``, else from its ``id2label``.

    Any Hugging Face token-classification directory with IOB2 labels works.
    """
    saved = read_saved_scheme(model_dir)
    if saved is not None:
        return TagScheme(saved[0], tuple(saved[1]))
    types = [entity_type for label in read_labels(model_dir) if (entity_type := split_tag(label)[1]) is not None]
    return TagScheme(model_dir.name, tuple(dict.fromkeys(types)))


def write_predictions(
    path: Path, sentences: Sequence[Sentence], gold: Sequence[list[str]], pred: Sequence[list[str]]
) -> None:
    """``predictions.jsonl``: one line per sentence, so any error can be looked at with its context."""
    with path.open("w", encoding="utf-8") as handle:
        for sentence, gold_tags, pred_tags in zip(sentences, gold, pred):
            record = {
                "origin": sentence.origin,
                "words": list(sentence.words),
                "gold": gold_tags,
                "pred": pred_tags,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def error_examples(
    sentences: Sequence[Sentence], gold: Sequence[list[str]], pred: Sequence[list[str]]
) -> list[dict[str, Any]]:
    """Every test sentence with an error, in file order; the report picks a few per type."""
    return [
        {"words": list(sentence.words), "gold": gold_tags, "pred": pred_tags}
        for sentence, gold_tags, pred_tags in zip(sentences, gold, pred)
        if gold_tags != pred_tags
    ]


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    gold: list[list[str]]
    pred: list[list[str]]


def score_predictions(
    sentences: Sequence[Sentence], pred: Sequence[list[str]], scheme: TagScheme, config: Config, split: str
) -> Evaluation:
    """Gold tags in ``scheme`` against predictions mapped into it, with every word scored."""
    gold = scoring.to_scheme([sentence.tags for sentence in sentences], scheme)
    mapped = scoring.to_scheme(pred, scheme)
    metrics = scoring.score(
        gold, mapped, scheme=scheme, bootstrap=config.eval.bootstrap, seed=config.eval.seed
    )
    metrics = {"split": split, "scheme": scheme.name, "types": list(scheme.types)} | metrics
    return Evaluation(metrics, gold, mapped)


def predict(
    model_dir: Path, sentences: Sequence[Sentence], batch_size: int, backend: str | None = None
) -> list[list[str]]:
    tagger = Tagger.from_pretrained(model_dir, batch_size=batch_size, backend=backend)
    return tagger.predict_words([list(sentence.words) for sentence in sentences])


def evaluate_model(
    model_dir: Path,
    config: Config,
    *,
    source: str | None = None,
    split: str = "test",
    scheme_name: str | None = None,
    output: Path | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    """Score a saved model on any source and split; ``scheme_name="B"`` scores it in B's space.

    ``backend`` runs an export directory's ONNX file (``onnx``, ``onnx-int8``); by default the
    directory's own (see :func:`multinerd.backends.detect_backend`), always in fp32 or int8 as saved.

    Writes ``metrics.json``, ``predictions.jsonl`` and a short ``report.md`` to ``output``.
    """
    corpus = load_data(config, source)
    sentences = corpus.get(split)
    if not sentences:
        raise ConfigError(f"{corpus.source} has no sentences in split {split!r}")
    scheme = model_scheme(model_dir)
    if scheme_name == "B":
        scheme = scheme.subset(config.data.b_types or SCHEME_B_TYPES, name="B")
    elif scheme_name not in (None, "A", scheme.name):
        raise ConfigError(f"--scheme must be A or B, got {scheme_name!r}")
    pred = predict(model_dir, sentences, config.train.eval_batch_size, backend)
    evaluation = score_predictions(sentences, pred, scheme, config, split)
    evaluation.metrics["source"] = corpus.source
    evaluation.metrics["data_problems"] = corpus.problems
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / "metrics.json").write_text(json.dumps(evaluation.metrics, indent=2), encoding="utf-8")
        write_predictions(output / "predictions.jsonl", sentences, evaluation.gold, evaluation.pred)
        report.write_evaluation_report(output, evaluation.metrics)
    return evaluation.metrics


def card_dataset(source: str) -> str:
    """The dataset a model card names: the hub id for hub sources, else the source string itself,
    so that a model trained on the bundled sample or local files never claims the hub dataset."""
    if source == "hub":
        return DEFAULT_HUB_DATASET
    return source.removeprefix("hub:")


def _test_system(config: Config, result: TrainResult, test: Sequence[Sentence]) -> dict[str, Any]:
    """Score a trained system on the test split and write its files next to the model."""
    pred = predict(result.model_dir, test, config.train.eval_batch_size)
    evaluation = score_predictions(test, pred, result.scheme, config, config.eval.split)
    evaluation.metrics["encoding"] = {
        "train": result.train_stats.as_dict(),
        "validation": result.validation_stats.as_dict(),
    }
    (result.model_dir / "metrics.json").write_text(json.dumps(evaluation.metrics, indent=2), encoding="utf-8")
    write_predictions(result.model_dir / "predictions.jsonl", test, evaluation.gold, evaluation.pred)
    report.write_model_card(
        result.model_dir,
        metrics=evaluation.metrics,
        scheme=result.scheme,
        settings=config.to_dict(),
        base_model=config.model.name,
        dataset=card_dataset(config.data.source),
    )
    return {
        "metrics": evaluation.metrics,
        "train_log": read_train_log(result.model_dir),
        "examples": error_examples(test, evaluation.gold, evaluation.pred),
        "pred": evaluation.pred,
    }


def run_once(config: Config, output: Path, *, resume: bool = False) -> dict[str, Any]:
    """Train A (and B where defined), score both on the test split, A in B's space, write the report.

    Returns the results the report was written from, with the run's description under ``"run"``;
    other processes of a distributed run return an empty dict.
    """
    corpus = load_data(config)
    schemes = system_schemes(corpus, config)
    if "B" not in schemes:
        logger.warning("no B types for %s (set data.b_types): training system A alone", corpus.source)
    test = corpus.splits.get(config.eval.split)
    if not test:
        raise ConfigError(f"{corpus.source} has no {config.eval.split!r} split to score on")
    output.mkdir(parents=True, exist_ok=True)
    # Every process trains; only the main one tests, after all training, so that no process
    # waits at a collective operation while another is busy scoring.
    trained = {system: train_system(config, system, corpus, output, resume=resume) for system in schemes}
    if not is_main_process():
        return {}
    results: dict[str, Any] = {
        system: _test_system(config, result, test) for system, result in trained.items()
    }
    if "B" in schemes:
        a_in_b = score_predictions(test, results["A"]["pred"], schemes["B"], config, config.eval.split)
        a_in_b.metrics["scheme"] = "A in B's space"
        results["A_in_B_space"] = a_in_b.metrics
        results["comparison"] = scoring.compare(
            a_in_b.gold,
            a_in_b.pred,
            results["B"]["pred"],
            scheme=schemes["B"],
            bootstrap=max(config.eval.bootstrap, 1),
            seed=config.eval.seed,
        )
    run_info = {
        "data_source": corpus.source,
        "data_fingerprint": corpus_fingerprint(corpus),
        "data_problems": corpus.problems,
        "sentences": {split: len(sentences) for split, sentences in corpus.splits.items()},
        "model": config.model.name,
        "schemes": {name: scheme.to_dict() for name, scheme in schemes.items()},
        "settings": config.to_dict(),
        "seconds": {system: result.seconds for system, result in trained.items()},
        "training_precision": {system: result.precision for system, result in trained.items()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    for system in schemes:
        del results[system]["pred"]
    report.write_report(output, results=results, run_info=run_info)
    return results | {"run": run_info}


def metrics_of(results: dict[str, Any], key: str) -> dict[str, Any]:
    """The metrics of ``A``, ``B`` or ``A_in_B_space`` in the results of :func:`run`."""
    return results[key]["metrics"] if key in ("A", "B") else results[key]


def run(config: Config, output: Path, *, seeds: Sequence[int] = (), resume: bool = False) -> dict[str, Any]:
    """The main job; with several seeds, one full run per seed and the mean and spread of every figure.

    With several seeds each run goes to ``output/seed-N``, and ``output/report.md`` shows the
    first seed's run in detail with the aggregate over all seeds beside it.
    """
    if len(seeds) <= 1:
        if seeds:
            config = replace(config, train=replace(config.train, seed=seeds[0]))
        return run_once(config, output, resume=resume)
    per_seed = [
        run_once(
            replace(config, train=replace(config.train, seed=seed)), output / f"seed-{seed}", resume=resume
        )
        for seed in seeds
    ]
    if not is_main_process():
        return {}
    first = per_seed[0]
    systems = [key for key in ("A", "B", "A_in_B_space") if key in first]
    aggregate = {
        key: scoring.aggregate_seeds([metrics_of(results, key) for results in per_seed]) for key in systems
    }
    results = first | {"seeds": {"values": list(seeds), "aggregate": aggregate}}
    run_info = first["run"] | {"seeds": list(seeds), "runs": [f"seed-{seed}" for seed in seeds]}
    report.write_report(output, results=results, run_info=run_info)
    return results
