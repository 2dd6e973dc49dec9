"""Entity scores you can act on: temperature scaling fitted on validation, ECE, precision-recall by threshold.

An entity's ``score`` is the mean, over its words, of the probability of the tag decoded
for each word. Raw, that number is typically over-confident and says nothing about what
precision a threshold buys. Here:

* **Temperature scaling** divides every logit by one number ``T`` before the softmax that
  entity scores are read from; the decoded tags do not change (decoding reads the
  uncalibrated probabilities, so F1 is the same with or without calibration). ``T`` is
  fitted after training on the validation split: it minimises the log loss of the entity
  scores against whether each predicted entity is correct (type and both boundaries match
  a gold entity), the quantity a user thresholds. It is stored in the model directory as
  ``calibration.json`` (:data:`CALIBRATION_FILE`), with the validation thresholds that
  reach precision 0.90 and 0.95; a model without the file uses ``T = 1`` and says so.
* **Expected calibration error** (ECE): predicted entities binned by score into
  :data:`ECE_BINS` equal-width bins; the share-weighted mean gap between each bin's mean
  score and its share of correct entities.
* **Precision and recall by threshold**: keeping the entities with score >= t, the
  precision among them and their recall of the gold entities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multinerd.labels import DECODING_MODE, STRICT, entity_spans

CALIBRATION_FILE = "calibration.json"
ECE_BINS = 10
#: The precision targets whose validation thresholds are stored and reported.
PRECISION_TARGETS: tuple[float, ...] = (0.90, 0.95)
#: log(T) is searched over this range (T from 0.05 to 20).
_LOG_T_RANGE = (float(np.log(0.05)), float(np.log(20.0)))
_TINY = 1e-45
NO_CALIBRATION_NOTE = f"no {CALIBRATION_FILE} in the model directory: entity scores use temperature 1.0 (uncalibrated)"


class CalibrationError(ValueError):
    """A ``calibration.json`` that cannot be read, or a temperature that is not a positive number."""


def tag_probabilities(probs: np.ndarray, ids: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Per word, the probability of label ``ids[w]`` after dividing the logits by ``temperature``.

    ``probs`` are softmax outputs; ``log(probs)`` equals the logits up to a per-word constant,
    which the softmax ignores, so scaling the log-probabilities scales the logits.
    """
    if not len(ids):
        return np.zeros(0)
    log_p = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _TINY)) / temperature
    chosen = log_p[np.arange(len(ids)), ids]
    return 1.0 / np.exp(log_p - chosen[:, None]).sum(axis=1)


@dataclass(frozen=True)
class EntityTable:
    """Every predicted entity of a split, with what its score is made of and whether it is correct.

    ``rows`` holds, for each word of each predicted entity, the log-probabilities over labels;
    ``chosen`` the decoded label of that word; ``entity`` which entity the word belongs to.
    """

    log_probs: np.ndarray
    chosen: np.ndarray
    entity: np.ndarray
    correct: np.ndarray
    n_gold: int

    def scores(self, temperature: float = 1.0) -> np.ndarray:
        """Each entity's score (mean calibrated probability of its words' tags) at ``temperature``."""
        if not len(self.correct):
            return np.zeros(0)
        scaled = self.log_probs / temperature
        chosen = scaled[np.arange(len(self.chosen)), self.chosen]
        word_p = 1.0 / np.exp(scaled - chosen[:, None]).sum(axis=1)
        counts = np.bincount(self.entity, minlength=len(self.correct))
        return np.bincount(self.entity, weights=word_p, minlength=len(self.correct)) / counts


def entity_table(
    probs: Sequence[np.ndarray], ids: Sequence[np.ndarray], labels: Sequence[str], gold: Sequence[Sequence[str]]
) -> EntityTable:
    """The entities read from decoded ``ids`` (as predict reads them) against the strict gold spans.

    ``gold`` tags are in the label space of ``labels`` (or a subset: other types never match).
    """
    rows, chosen, entity, correct = [], [], [], []
    n_gold = 0
    for p, sentence_ids, gold_tags in zip(probs, ids, gold):
        gold_spans = set(entity_spans(gold_tags, STRICT))
        n_gold += len(gold_spans)
        tags = [labels[i] for i in sentence_ids]
        log_p = np.log(np.maximum(np.asarray(p, dtype=np.float64), _TINY))
        for span in entity_spans(tags, DECODING_MODE):
            _, start, end = span
            rows.append(log_p[start:end])
            chosen.append(np.asarray(sentence_ids[start:end]))
            entity += [len(correct)] * (end - start)
            correct.append(span in gold_spans)
    n_labels = len(labels)
    return EntityTable(
        np.concatenate(rows) if rows else np.zeros((0, n_labels)),
        np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64),
        np.asarray(entity, dtype=np.int64),
        np.asarray(correct, dtype=bool),
        n_gold,
    )


def _log_loss(scores: np.ndarray, correct: np.ndarray) -> float:
    clipped = np.clip(scores, 1e-9, 1 - 1e-9)
    return float(-np.mean(np.where(correct, np.log(clipped), np.log(1 - clipped))))


def fit_temperature(table: EntityTable, steps: int = 121) -> float:
    """The temperature minimising the log loss of entity scores against correctness (1.0 with no entity).

    A grid over log T, then a golden-section search in the grid cell around the best point.
    """
    if not len(table.correct) or table.correct.all() or not table.correct.any():
        return 1.0

    def loss(log_t: float) -> float:
        return _log_loss(table.scores(float(np.exp(log_t))), table.correct)

    grid = np.linspace(*_LOG_T_RANGE, steps)
    best = int(np.argmin([loss(x) for x in grid]))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, steps - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if loss(a) < loss(b):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))


def expected_calibration_error(scores: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """ECE over equal-width score bins (None with no entity); see the module docstring."""
    if not len(scores):
        return None
    which = np.minimum((scores * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(float(correct[members].mean()) - float(scores[members].mean()))
    return total


def precision_recall(scores: np.ndarray, correct: np.ndarray, n_gold: int, threshold: float) -> dict[str, Any]:
    """Precision and recall of the entities with score >= ``threshold``."""
    kept = scores >= threshold
    n_kept, tp = int(kept.sum()), int(correct[kept].sum())
    return {
        "threshold": threshold,
        "kept": n_kept,
        "precision": tp / n_kept if n_kept else None,
        "recall": tp / n_gold if n_gold else None,
    }


def _cuts(scores: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(threshold, kept, hits)`` at every distinct score used as the threshold, highest first.

    Only cuts between distinct scores exist: a threshold keeps every entity with its score.
    """
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], np.cumsum(correct[order])
    last_of_value = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    at = np.flatnonzero(last_of_value)
    return sorted_scores[at], at + 1, hits[at]


def pr_curve(scores: np.ndarray, correct: np.ndarray, n_gold: int, max_points: int = 200) -> list[dict[str, Any]]:
    """Precision and recall with each distinct score as the threshold, highest first; at most
    ``max_points`` cuts, evenly spaced in rank, the first and last always kept."""
    if not len(scores):
        return []
    thresholds, kept, hits = _cuts(scores, correct)
    picked = np.unique(np.linspace(0, len(thresholds) - 1, min(max_points, len(thresholds))).round().astype(int))
    return [
        {"threshold": float(thresholds[i]), "kept": int(kept[i]), "precision": float(hits[i] / kept[i]),
         "recall": float(hits[i] / n_gold) if n_gold else None}
        for i in picked
    ]  # fmt: skip


def threshold_for_precision(scores: np.ndarray, correct: np.ndarray, target: float) -> float | None:
    """The lowest threshold whose kept entities reach ``target`` precision (the most recall); None if none does."""
    if not len(scores):
        return None
    thresholds, kept, hits = _cuts(scores, correct)
    reached = np.flatnonzero(hits / kept >= target)
    return float(thresholds[reached[-1]]) if len(reached) else None


def fit(table: EntityTable) -> dict[str, Any]:
    """What ``calibration.json`` holds: T, ECE before and after on validation, thresholds per target."""
    temperature = fit_temperature(table)
    before, after = table.scores(1.0), table.scores(temperature)
    return {
        "temperature": temperature,
        "fitted_on": "validation",
        "objective": "log loss of entity scores against entity correctness (strict match)",
        "n_entities": len(table.correct),
        "n_gold": table.n_gold,
        "ece_before": expected_calibration_error(before, table.correct),
        "ece_after": expected_calibration_error(after, table.correct),
        "thresholds": {
            f"{target:.2f}": threshold_for_precision(after, table.correct, target) for target in PRECISION_TARGETS
        },
    }


def save(model_dir: str | Path, fitted: dict[str, Any]) -> Path:
    path = Path(model_dir) / CALIBRATION_FILE
    path.write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")
    return path


def load(model_dir: str | Path) -> dict[str, Any] | None:
    """The directory's ``calibration.json``, checked; None when it has none."""
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CalibrationError(f"{path}: not valid JSON (line {err.lineno}): {err.msg}") from None
    temperature = saved.get("temperature") if isinstance(saved, dict) else None
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise CalibrationError(f"{path}: 'temperature' must be a positive number, found {temperature!r}")
    return saved


def read_temperature(model_dir: str | Path) -> tuple[float, str]:
    """``(T, where it came from)``: the stored temperature, else 1.0 with :data:`NO_CALIBRATION_NOTE`."""
    saved = load(model_dir)
    if saved is None:
        return 1.0, NO_CALIBRATION_NOTE
    return float(saved["temperature"]), f"temperature {saved['temperature']:.4g} from {CALIBRATION_FILE}"


def split_report(table: EntityTable, saved: dict[str, Any] | None) -> dict[str, Any]:
    """On the test split: ECE before and after, the PR curve, and the validation thresholds' test P and R."""
    temperature = float(saved["temperature"]) if saved else 1.0
    before, after = table.scores(1.0), table.scores(temperature)
    thresholds = (saved or {}).get("thresholds") or {}
    return {
        "temperature": temperature,
        "note": None if saved else NO_CALIBRATION_NOTE,
        "n_entities": len(table.correct),
        "n_gold": table.n_gold,
        "ece_before": expected_calibration_error(before, table.correct),
        "ece_after": expected_calibration_error(after, table.correct),
        "validation_ece_before": (saved or {}).get("ece_before"),
        "validation_ece_after": (saved or {}).get("ece_after"),
        "curve": pr_curve(after, table.correct, table.n_gold),
        "at_validation_thresholds": {
            target: None if t is None else precision_recall(after, table.correct, table.n_gold, t)
            for target, t in thresholds.items()
        },
    }


def drop_below(entities: list[dict[str, Any]], min_score: float | None) -> list[dict[str, Any]]:
    """The entities whose score is at least ``min_score`` (all of them when it is None)."""
    if min_score is None:
        return entities
    return [entity for entity in entities if entity["score"] >= min_score]
