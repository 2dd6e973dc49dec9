"""Entity-score calibration: temperature fit, ECE, thresholds by precision, the stored file, min_score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multinerd.evaluate import calibration
from multinerd.evaluate.calibration import (
    CalibrationError,
    EntityTable,
    drop_below,
    entity_table,
    expected_calibration_error,
    fit,
    fit_temperature,
    pr_curve,
    read_temperature,
    tag_probabilities,
    threshold_for_precision,
)

LABELS = ["O", "B-geo-loc", "I-geo-loc", "B-PER", "I-PER"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _overconfident_table(n: int = 4000, true_t: float = 2.5, seed: int = 0) -> EntityTable:
    """One-word entities whose correctness follows the probabilities at ``true_t``, not at 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, len(LABELS))) * 4
    chosen = logits.argmax(axis=1)
    p_true = _softmax(logits / true_t)[np.arange(n), chosen]
    correct = rng.random(n) < p_true
    log_probs = np.log(_softmax(logits))
    return EntityTable(log_probs, chosen, np.arange(n), correct, n_gold=int(correct.sum()) + 100)


def test_tag_probabilities_at_temperature_one_are_the_probabilities() -> None:
    probs = _softmax(np.array([[2.0, 0.5, -1.0, 0.0, 0.0], [0.0, 3.0, 1.0, 0.0, 0.0]]))
    ids = np.array([0, 2])
    assert tag_probabilities(probs, ids) == pytest.approx(probs[[0, 1], ids])
    hot = tag_probabilities(probs, ids, 0.5)
    assert hot[0] > probs[0, 0] and hot[1] < probs[1, 2]  # sharper: the top gains, the others lose
    assert tag_probabilities(probs, np.zeros(0, dtype=int)).shape == (0,)


def test_fitted_temperature_recovers_overconfidence_and_lowers_ece() -> None:
    table = _overconfident_table()
    temperature = fit_temperature(table)
    assert temperature == pytest.approx(2.5, rel=0.15)
    before = expected_calibration_error(table.scores(1.0), table.correct)
    after = expected_calibration_error(table.scores(temperature), table.correct)
    assert after < 0.03 < before


def test_fit_leaves_temperature_one_when_there_is_nothing_to_fit() -> None:
    table = _overconfident_table(50)
    all_right = EntityTable(table.log_probs, table.chosen, table.entity, np.ones(50, dtype=bool), 50)
    assert fit_temperature(all_right) == 1.0
    empty = entity_table([np.zeros((0, 5))], [np.zeros(0, dtype=int)], LABELS, [[]])
    assert fit(empty)["temperature"] == 1.0 and fit(empty)["ece_before"] is None


def test_entity_table_reads_entities_as_predict_does_and_judges_them_strictly() -> None:
    probs = [_softmax(np.eye(5)[[1, 2, 0, 3]] * 5), _softmax(np.eye(5)[[0, 4]] * 5)]
    ids = [np.array([1, 2, 0, 3]), np.array([0, 4])]
    gold = [["B-geo-loc", "I-geo-loc", "O", "O"], ["O", "B-PER"]]
    table = entity_table(probs, ids, LABELS, gold)
    # geo-loc 0-2 (right), PER 3-4 (spurious), and the I-PER after O, read leniently as predict
    # reads it: PER 1-2, which is gold's span (right).
    assert table.correct.tolist() == [True, False, True]
    assert table.n_gold == 2
    scores = table.scores()
    expected = np.exp(5) / (np.exp(5) + 4)
    assert scores == pytest.approx([expected] * 3)


def test_threshold_for_precision_takes_the_lowest_threshold_that_reaches_it() -> None:
    scores = np.array([0.99, 0.95, 0.9, 0.9, 0.8, 0.7])
    correct = np.array([True, True, True, False, True, False])
    # Kept at >= 0.95: 2/2; at >= 0.9: 3/4 (both 0.9s together); at >= 0.8: 4/5; at >= 0.7: 4/6.
    assert threshold_for_precision(scores, correct, 0.8) == 0.8
    assert threshold_for_precision(scores, correct, 0.9) == 0.95
    assert threshold_for_precision(scores, np.zeros(6, dtype=bool), 0.5) is None
    curve = pr_curve(scores, correct, n_gold=8)
    assert [p["threshold"] for p in curve] == [0.99, 0.95, 0.9, 0.8, 0.7]
    assert curve[2] == {"threshold": 0.9, "kept": 4, "precision": 0.75, "recall": 3 / 8}
    short = pr_curve(np.linspace(0, 1, 1000), np.ones(1000, dtype=bool), 1000, max_points=20)
    assert len(short) == 20 and short[0]["threshold"] == 1.0 and short[-1]["threshold"] == 0.0


def test_ece_is_the_weighted_gap_per_bin() -> None:
    scores = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, False, True, True])
    # bin 9: mean score 0.95, accuracy 0.5; bin 5: 0.55 against 1.0; each half of the entities.
    assert expected_calibration_error(scores, correct) == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    assert expected_calibration_error(np.zeros(0), np.zeros(0, dtype=bool)) is None


def test_stored_calibration_is_read_and_checked(tmp_path: Path) -> None:
    assert read_temperature(tmp_path) == (1.0, calibration.NO_CALIBRATION_NOTE)
    calibration.save(tmp_path, {"temperature": 1.7, "thresholds": {"0.90": 0.8}})
    assert read_temperature(tmp_path)[0] == 1.7
    (tmp_path / calibration.CALIBRATION_FILE).write_text(json.dumps({"temperature": -1}))
    with pytest.raises(CalibrationError, match="'temperature' must be a positive number, found -1"):
        read_temperature(tmp_path)
    (tmp_path / calibration.CALIBRATION_FILE).write_text("{")
    with pytest.raises(CalibrationError, match="calibration.json: not valid JSON"):
        read_temperature(tmp_path)


def test_split_report_gives_test_precision_and_recall_at_the_stored_thresholds() -> None:
    table = _overconfident_table(2000, seed=1)
    saved = fit(_overconfident_table(2000, seed=2))
    report = calibration.split_report(table, saved)
    assert report["temperature"] == saved["temperature"] and report["note"] is None
    for target, at in report["at_validation_thresholds"].items():
        assert at["threshold"] == saved["thresholds"][target]
        kept = table.scores(saved["temperature"]) >= at["threshold"]
        assert at["kept"] == kept.sum()
        assert at["precision"] == pytest.approx(table.correct[kept].mean())
        assert at["precision"] > 0.85  # chosen on another sample of the same distribution
    assert calibration.split_report(table, None)["note"] == calibration.NO_CALIBRATION_NOTE


def test_drop_below_keeps_scores_at_or_over_the_threshold() -> None:
    entities = [{"score": 0.95}, {"score": 0.9}, {"score": 0.5}]
    assert drop_below(entities, 0.9) == entities[:2]
    assert drop_below(entities, None) == entities
