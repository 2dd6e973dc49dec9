"""The main job, stage after stage: data, train A and B, predict the test split, score, compare, report.

This is what ``multinerd run``, ``train`` (its model card and validation scores),
``evaluate`` and ``score`` call; each stage lives in its own module and this one only
passes results along, in one direction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from multinerd import progress
from multinerd.config import Config, ConfigError
from multinerd.data.corpus import Corpus, Sentence, corpus_fingerprint, load_configured
from multinerd.data.tagfiles import read_tagged_file
from multinerd.evaluate import calibration, modelcard, report, scoring
from multinerd.evaluate.decoding import DEFAULT_DECODING, Probabilities, compare_decodings
from multinerd.labels import STRICT, TagScheme, entity_spans
from multinerd.model.modeldir import read_train_log, saved_system
from multinerd.model.tagger import Tagger
from multinerd.model.training import TrainResult, train_system
from multinerd.progress import is_main_process
from multinerd.systems import System, default_b_types, scoring_scheme, systems_of

logger = logging.getLogger(__name__)

#: Test and validation scores are computed in fp32 whatever the training precision, so they do not move.
SCORING_PRECISION = "fp32"


def unknown_gold_types(gold: Sequence[Sequence[str]], known: Sequence[str]) -> dict[str, int]:
    """Gold entities (strict spans) per type that is not in ``known``, types sorted by name."""
    counts: dict[str, int] = {}
    allowed = set(known)
    for tags in gold:
        for entity_type, _, _ in entity_spans(tags, STRICT):
            if entity_type not in allowed:
                counts[entity_type] = counts.get(entity_type, 0) + 1
    return dict(sorted(counts.items()))


def write_gold_and_predictions(
    path: Path, sentences: Sequence[Sentence], gold: Sequence[list[str]], pred: Sequence[list[str]]
) -> None:
    """``predictions.jsonl``: one line per sentence, so any error can be looked at with its context.

    ``multinerd score`` reads it back and gives the same figures.
    """
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
    sentences: Sequence[Sentence],
    pred: Sequence[list[str]],
    system: System,
    config: Config,
    split: str,
    *,
    scheme: TagScheme | None = None,
    restrict: bool = False,
) -> Evaluation:
    """Gold tags mapped for ``system`` in ``scheme`` against predictions mapped into it, every word scored.

    ``run`` and ``evaluate`` both score here, so the same model gives the same figures. Gold
    is mapped by :meth:`System.gold`: types of the system's inventory outside ``scheme``
    (default the system's own) become O, as in training (B's ten other types). Gold types
    outside the inventory (types the model was never told about) are counted as missed,
    listed under ``unknown_gold_types``; with ``restrict`` they are left out instead and
    ``restricted_to_model_types`` says so. ``gold_mapping`` says in words what was set to O.
    """
    scheme = scheme or system.scheme
    raw_gold = [system.gold(sentence.tags, scheme) for sentence in sentences]
    unknown = unknown_gold_types(raw_gold, system.inventory)
    task = scheme if restrict or not unknown else TagScheme(scheme.name, scheme.types + tuple(unknown))
    gold = scoring.to_scheme(raw_gold, task)
    mapped = scoring.to_scheme(pred, scheme)
    metrics = scoring.score(gold, mapped, scheme=task, bootstrap=config.eval.bootstrap, seed=config.eval.seed)
    metrics = {"split": split, "scheme": scheme.name, "types": list(scheme.types)} | metrics
    metrics |= {"unknown_gold_types": unknown, "restricted_to_model_types": restrict}
    metrics["gold_mapping"] = system.mapping_note(scheme)
    return Evaluation(metrics, gold, mapped)


def load_for_scoring(model_dir: Path, batch_size: int, backend: str | None = None) -> Tagger:
    """The model as every score reads it: in fp32 (:data:`SCORING_PRECISION`), its own backend unless told."""
    return Tagger.from_pretrained(model_dir, batch_size=batch_size, backend=backend, precision=SCORING_PRECISION)


def predict_probabilities(tagger: Tagger, sentences: Sequence[Sentence]) -> Probabilities:
    """Per-word label probabilities of ``sentences``: the one model call that every decoding reads."""
    return Probabilities(tuple(tagger.labels), tagger.predict_proba([list(s.words) for s in sentences]))


def predict(
    model_dir: Path,
    sentences: Sequence[Sentence],
    batch_size: int,
    backend: str | None = None,
    decoding: str = DEFAULT_DECODING,
) -> list[list[str]]:
    """Tags of ``sentences`` decoded by ``decoding``: the path ``run`` and ``evaluate`` both score."""
    return predict_probabilities(load_for_scoring(model_dir, batch_size, backend), sentences).tags(decoding)


def _write_scores(output: Path, metrics: dict[str, Any]) -> None:
    """``metrics.json`` and the short ``report.md`` that ``evaluate`` and ``score`` both write."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    report.write_evaluation_report(output, metrics)


def evaluate_model(
    model_dir: Path,
    config: Config,
    *,
    split: str = "test",
    scheme_name: str | None = None,
    restrict_to_model_types: bool = False,
    output: Path | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    """Score a saved model on ``data.source`` and ``split``, in its own scheme or ``scheme_name``.

    ``scheme_name`` is checked by :func:`scoring_scheme` before anything is predicted.
    Gold entities of types the model does not know count as missed unless
    ``restrict_to_model_types`` (see :func:`score_predictions`). ``backend`` runs an export
    directory's ONNX file (``onnx``, ``onnx-int8``); by default the directory's own (see
    :func:`multinerd.model.backends.detect_backend`), always in fp32 or int8 as saved. Writes
    ``metrics.json``, ``predictions.jsonl`` and a short ``report.md`` to ``output``.
    """
    system = saved_system(model_dir)
    scheme = scoring_scheme(system.scheme, scheme_name, default_b_types(config, system.multinerd_tags))
    corpus = load_configured(config.data)
    sentences = corpus.get(split)
    if not sentences:
        found = ", ".join(name for name, rows in corpus.splits.items() if rows) or "none"
        raise ConfigError(
            f"--split {split}: {corpus.source} has no sentences in it; splits with sentences: {found}"
        )
    pred = predict(model_dir, sentences, config.train.eval_batch_size, backend, config.eval.decoding)
    evaluation = score_predictions(
        sentences, pred, system, config, split, scheme=scheme, restrict=restrict_to_model_types
    )
    evaluation.metrics["decoding"] = config.eval.decoding
    evaluation.metrics["source"] = corpus.source
    evaluation.metrics["data_problems"] = corpus.problems
    if output is not None:
        _write_scores(output, evaluation.metrics)
        write_gold_and_predictions(output / "predictions.jsonl", sentences, evaluation.gold, evaluation.pred)
    return evaluation.metrics


def score_file(
    path: str | Path, *, bootstrap: int = 1000, seed: int = 0, output: Path | None = None
) -> dict[str, Any]:
    """Score predictions made anywhere: a CoNLL ``token … gold pred`` file or a ``predictions.jsonl``.

    Types are those found in either column; strict and lenient figures are read from
    the tags as written (see :mod:`multinerd.data.tagfiles`). Writes ``metrics.json`` and a
    short ``report.md`` to ``output``, as ``evaluate`` does.
    """
    tagged = read_tagged_file(path)
    metrics = scoring.score(tagged.gold, tagged.pred, words=tagged.words, bootstrap=bootstrap, seed=seed)
    metrics = {"input": str(tagged.path)} | metrics
    if output is not None:
        _write_scores(output, metrics)
    return metrics


@dataclass
class SystemScores:
    """A trained system scored on the test split: what ``report.json`` keeps of it, under its name."""

    metrics: dict[str, Any]
    train_log: list[dict[str, Any]]
    #: Every test sentence with an error; the report picks a few per type.
    examples: list[dict[str, Any]]
    #: The same probabilities under both decodings, with the paired bootstrap on the difference.
    decodings: dict[str, Any]
    #: Entity-score calibration on test, at the temperature fitted on validation.
    confidence: dict[str, Any]


@dataclass
class RunResults:
    """Everything ``run`` scored, in the shape the report and ``report.json`` are written from."""

    systems: dict[str, SystemScores]
    run: dict[str, Any]
    a_in_b: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        results: dict[str, Any] = {name: asdict(scores) for name, scores in self.systems.items()}
        if self.a_in_b is not None:
            results |= {"A_in_B_space": self.a_in_b, "comparison": self.comparison}
        return results


def validate_model(config: Config, result: TrainResult, system: System, corpus: Corpus, tagger: Tagger
                   ) -> dict[str, Any]:
    """Score the selected checkpoint on the validation split; fit the entity-score calibration on it.

    Writes ``validation_metrics.json`` and ``calibration.json`` (see :mod:`multinerd.evaluate.calibration`)
    into ``result.model_dir``. Returns the validation metrics.
    """
    probabilities = predict_probabilities(tagger, corpus.splits["validation"])
    decoding = config.eval.decoding
    evaluation = score_predictions(
        corpus.splits["validation"], probabilities.tags(decoding), system, config, "validation"
    )
    metrics = evaluation.metrics | {"decoding": decoding}
    table = calibration.entity_table(
        probabilities.probs, probabilities.ids(decoding), probabilities.labels, evaluation.gold
    )
    calibration.save(result.model_dir, calibration.fit(table) | {"decoding": decoding})
    (result.model_dir / "validation_metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


def describe_model(config: Config, result: TrainResult, corpus: Corpus) -> dict[str, Any]:
    """``multinerd train``'s files next to a model: validation scores, calibration and the model card."""
    system = systems_of(corpus, config)[result.scheme.name]
    tagger = load_for_scoring(result.model_dir, config.train.eval_batch_size)
    metrics = validate_model(config, result, system, corpus, tagger)
    write_card(config, result, metrics)
    return metrics


def write_card(config: Config, result: TrainResult, metrics: dict[str, Any]) -> Path:
    """The model card of a trained system, showing ``metrics`` and naming the data it was trained on."""
    return modelcard.write_model_card(
        result.model_dir,
        metrics=metrics,
        scheme=result.scheme,
        settings=config.to_dict(),
        base_model=config.model.name,
        source=config.data.source,
        lang=config.data.lang,
    )


def score_system(
    config: Config, result: TrainResult, system: System, corpus: Corpus, test: Sequence[Sentence]
) -> tuple[SystemScores, list[list[str]]]:
    """Score a trained system on validation, then on the test split; write its files next to the model.

    The model is loaded once for both splits. One model call per split gives the
    probabilities; the figures come from ``eval.decoding``, and the other decoding is
    scored beside it, with entity-score calibration on test. The card is written once, with
    the test scores. Returns the scores and the test predictions (mapped into the system's
    scheme) that A-in-B's comparison reads.
    """
    tagger = load_for_scoring(result.model_dir, config.train.eval_batch_size)
    validate_model(config, result, system, corpus, tagger)
    probabilities = predict_probabilities(tagger, test)
    decoding = config.eval.decoding
    evaluation = score_predictions(test, probabilities.tags(decoding), system, config, config.eval.split)
    evaluation.metrics["decoding"] = decoding
    evaluation.metrics["encoding"] = {
        "train": result.train_stats.as_dict(),
        "validation": result.validation_stats.as_dict(),
    }
    (result.model_dir / "metrics.json").write_text(json.dumps(evaluation.metrics, indent=2), encoding="utf-8")
    write_gold_and_predictions(result.model_dir / "predictions.jsonl", test, evaluation.gold, evaluation.pred)
    write_card(config, result, evaluation.metrics)
    table = calibration.entity_table(
        probabilities.probs, probabilities.ids(decoding), probabilities.labels, evaluation.gold
    )
    scores = SystemScores(
        metrics=evaluation.metrics,
        train_log=read_train_log(result.model_dir),
        examples=error_examples(test, evaluation.gold, evaluation.pred),
        decodings=compare_decodings(
            evaluation.gold, probabilities, result.scheme, decoding, bootstrap=config.eval.bootstrap,
            seed=config.eval.seed,
        ),
        confidence=calibration.split_report(table, calibration.load(result.model_dir)),
    )
    return scores, evaluation.pred


def compare_in_b_space(
    config: Config, systems: dict[str, System], test: Sequence[Sentence], pred: dict[str, list[list[str]]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A's test predictions scored in B's label space, and the paired comparison of A and B there."""
    b_scheme = systems["B"].scheme
    a_in_b = score_predictions(test, pred["A"], systems["A"], config, config.eval.split, scheme=b_scheme)
    a_in_b.metrics["scheme"] = "A in B's space"
    comparison = scoring.compare(
        a_in_b.gold, a_in_b.pred, pred["B"], scheme=b_scheme, bootstrap=config.eval.bootstrap, seed=config.eval.seed
    )
    return a_in_b.metrics, comparison


def describe_run(config: Config, corpus: Corpus, fingerprint: str, systems: dict[str, System],
                 trained: dict[str, TrainResult]) -> dict[str, Any]:
    """The run's description in ``report.json`` (``run``): data, settings, times and precisions."""
    return {
        "data_source": corpus.source,
        "data_fingerprint": fingerprint,
        "data_problems": corpus.problems,
        "tag_schemes_read": corpus.tag_schemes,
        "sentences": {split: len(sentences) for split, sentences in corpus.splits.items()},
        "model": config.model.name,
        "schemes": {name: system.scheme.to_dict() for name, system in systems.items()},
        "settings": config.to_dict(),
        "seconds": {system: result.seconds for system, result in trained.items()},
        "training_precision": {system: result.precision for system, result in trained.items()},
        "scoring_precision": SCORING_PRECISION,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def run_once(config: Config, output: Path, *, resume: bool = False) -> dict[str, Any]:
    """Train A (and B where defined), score both on the test split, A in B's space, write the report.

    Data flows one way: the corpus is read and fingerprinted once, each system is trained,
    then loaded once and scored, then compared, then reported. Returns the results the
    report was written from, with the run's description under ``"run"``; other processes of
    a distributed run return an empty dict.
    """
    corpus = load_configured(config.data)
    fingerprint = corpus_fingerprint(corpus)
    systems = systems_of(corpus, config)
    stages = len(systems) + 3  # data, one per system, test, report
    sizes = ", ".join(f"{len(sentences)} {split}" for split, sentences in corpus.splits.items())
    progress.say(f"[1/{stages}] data {corpus.source}: {sizes} sentences")
    if "B" not in systems:
        logger.warning("no B types for %s (set data.b_types): training system A alone", corpus.source)
    test = corpus.splits.get(config.eval.split)
    if not test:
        raise ConfigError(f"{corpus.source} has no {config.eval.split!r} split to score on")
    output.mkdir(parents=True, exist_ok=True)
    # Every process trains; only the main one tests, after all training, so that no process
    # waits at a collective operation while another is busy scoring.
    trained = {}
    for stage, name in enumerate(systems, start=2):
        progress.say(f"[{stage}/{stages}] training {name}")
        trained[name] = train_system(config, name, corpus, output, resume=resume, fingerprint=fingerprint)
    if not is_main_process():
        return {}
    progress.say(f"[{stages - 1}/{stages}] scoring {', '.join(trained)} on {config.eval.split}")
    scored = {name: score_system(config, result, systems[name], corpus, test) for name, result in trained.items()}
    results = RunResults({name: scores for name, (scores, _) in scored.items()},
                         describe_run(config, corpus, fingerprint, systems, trained))  # fmt: skip
    if "B" in systems:
        pred = {name: test_pred for name, (_, test_pred) in scored.items()}
        results.a_in_b, results.comparison = compare_in_b_space(config, systems, test, pred)
    progress.say(f"[{stages}/{stages}] writing the report to {output}")
    report.write_report(output, results=results.to_dict(), run_info=results.run)
    return results.to_dict() | {"run": results.run}


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
        key: scoring.aggregate_seeds([report.metrics_of(results, key) for results in per_seed])
        for key in systems
    }
    results = first | {"seeds": {"values": list(seeds), "aggregate": aggregate}}
    run_info = first["run"] | {"seeds": list(seeds), "runs": [f"seed-{seed}" for seed in seeds]}
    report.write_report(output, results=results, run_info=run_info)
    return results
