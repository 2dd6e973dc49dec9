"""Scoring checked two ways: hand-computed numbers on small cases, and seqeval as an independent oracle."""

from __future__ import annotations

import random

import numpy as np
import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from multinerd.evaluate.scoring import (
    MIN_RESAMPLES,
    MISSED,
    WRONG_BOUNDARY,
    ScoringError,
    aggregate_seeds,
    compare,
    confusion_table,
    headline_figures,
    score,
    to_scheme,
)
from multinerd.labels import SCHEME_B_TYPES, TagScheme

SCHEME_B = TagScheme.multinerd(SCHEME_B_TYPES)


def micro(metrics: dict, mode: str) -> tuple[float, float, float]:
    row = metrics[mode]["micro"]
    return row["precision"], row["recall"], row["f1"]


# --- hand-computed cases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred", "strict", "lenient"),
    [
        # I- without B-: strict sees no predicted entity, lenient sees PER over words 0-1.
        (["B-PER", "I-PER", "O"], ["I-PER", "I-PER", "O"], (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        # A type change inside a span: strict keeps PER(0,1) only; lenient also starts LOC(1,2).
        (
            ["B-PER", "I-PER", "O", "B-LOC"],
            ["B-PER", "I-LOC", "O", "B-LOC"],
            (0.5, 0.5, 0.5),
            (1 / 3, 0.5, 0.4),
        ),
        # Adjacent entities of one type are two entities; merging them finds neither.
        (["B-PER", "B-PER", "O"], ["B-PER", "I-PER", "O"], (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        (["B-PER", "B-PER", "O"], ["B-PER", "B-PER", "O"], (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
        # An I- after an entity of another type: strict drops it, lenient counts a spurious ORG.
        (["B-PER", "O"], ["B-PER", "I-ORG"], (1.0, 1.0, 1.0), (0.5, 1.0, 2 / 3)),
        # Invalid I- in gold is read the same way on both sides.
        (["O", "I-LOC", "I-LOC"], ["O", "B-LOC", "I-LOC"], (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    ],
)
def test_strict_and_lenient_on_disagreement_cases(gold, pred, strict, lenient) -> None:
    metrics = score([gold], [pred], bootstrap=0)
    assert micro(metrics, "strict") == pytest.approx(strict)
    assert micro(metrics, "lenient") == pytest.approx(lenient)


def two_sentences() -> tuple[list[list[str]], list[list[str]]]:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC", "I-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "B-LOC", "O"]]
    return gold, pred


def test_micro_macro_per_type_and_token_accuracy_by_hand() -> None:
    gold, pred = two_sentences()
    metrics = score(gold, pred, scheme=SCHEME_B, bootstrap=0)
    assert (metrics["n_sentences"], metrics["n_words"], metrics["n_words_scored"]) == (2, 8, 8)
    # PER 1/1 found; LOC 0 of 2 (the second is cut short); ORG 1 right and 1 spurious.
    assert micro(metrics, "strict") == pytest.approx((0.5, 0.5, 0.5))
    per_type = metrics["strict"]["per_type"]
    assert list(per_type) == ["PER", "ORG", "LOC", "ANIM", "DIS"]
    assert per_type["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert per_type["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert per_type["ORG"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert per_type["DIS"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # Macro over the three types with support; DIS and ANIM (support 0) do not drag it down.
    assert metrics["strict"]["macro"] == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 5 / 9})
    assert metrics["token_accuracy"] == pytest.approx(6 / 8)
    assert metrics["token_accuracy_entities"] == pytest.approx(4 / 6)


def test_confusion_table_by_hand() -> None:
    gold = [
        ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "O", "O"],
        ["B-DIS", "O"],
    ]
    pred = [
        ["B-ORG", "I-ORG", "O", "B-LOC", "I-LOC", "O", "B-ORG", "O", "B-PER"],
        ["O", "O"],
    ]
    table = confusion_table(gold, pred, scheme=SCHEME_B)
    assert table["columns"] == ["PER", "ORG", "LOC", "ANIM", "DIS", WRONG_BOUNDARY, MISSED]
    rows = table["rows"]
    assert rows["PER"]["ORG"] == 1 and sum(rows["PER"].values()) == 1
    assert rows["LOC"][WRONG_BOUNDARY] == 1 and sum(rows["LOC"].values()) == 1
    assert rows["ORG"][WRONG_BOUNDARY] == 1 and sum(rows["ORG"].values()) == 1
    assert rows["DIS"][MISSED] == 1 and sum(rows["DIS"].values()) == 1
    assert sum(rows["ANIM"].values()) == 0
    assert table["spurious"] == {"PER": 1, "ORG": 0, "LOC": 0, "ANIM": 0, "DIS": 0}
    assert score(gold, pred, scheme=SCHEME_B, bootstrap=0)["confusion"] == table


def test_a_in_b_space_mapping_by_hand() -> None:
    gold_a = [["B-PER", "O", "B-FOOD", "I-FOOD", "B-DIS"], ["B-TIME", "B-ANIM"]]
    pred_a = [["B-PER", "O", "B-FOOD", "O", "B-PLANT"], ["B-LOC", "B-ANIM"]]
    assert to_scheme(gold_a, SCHEME_B) == [["B-PER", "O", "O", "O", "B-DIS"], ["O", "B-ANIM"]]
    metrics = score(to_scheme(gold_a, SCHEME_B), to_scheme(pred_a, SCHEME_B), scheme=SCHEME_B, bootstrap=0)
    # In B's space A finds PER and ANIM, misses DIS, and adds a LOC where gold has a TIME (now O).
    assert micro(metrics, "strict") == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert metrics["strict"]["per_type"]["DIS"]["support"] == 1
    with pytest.raises(ScoringError, match="outside the scheme"):
        score(gold_a, pred_a, scheme=SCHEME_B, bootstrap=0)


@pytest.mark.parametrize(
    ("gold", "pred", "message"),
    [
        ([["O", "O"]], [["O"]], "sentence 0: gold has 2 tags but pred has 1"),
        ([["O"], ["O"]], [["O"]], "gold has 2 sentences but pred has 1"),
        ([["O", "X-PER"]], [["O", "O"]], "gold sentence 0, word 1"),
        ([[]], [[]], "nothing to score"),
    ],
)
def test_unscorable_input_fails_loudly(gold, pred, message) -> None:
    with pytest.raises(ScoringError, match=message):
        score(gold, pred, bootstrap=0)


def test_words_must_match_tags() -> None:
    with pytest.raises(ScoringError, match="words has 1"):
        score([["B-PER", "O"]], [["B-PER", "O"]], words=[["Ada"]], bootstrap=0)


# --- seqeval as the oracle -------------------------------------------------------------------------


def random_corpus(rng: random.Random) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and a noisy prediction over three types, invalid I- tags included on both sides."""
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    gold, pred = [], []
    for _ in range(rng.randint(1, 6)):
        sentence = [rng.choice(tags) for _ in range(rng.randint(1, 9))]
        gold.append(sentence)
        pred.append([t if rng.random() < 0.6 else rng.choice(tags) for t in sentence])
    gold[0][0] = "B-PER"  # at least one entity, so seqeval's report has a row
    return gold, pred


@pytest.mark.parametrize("case", range(300))
def test_agrees_with_seqeval_on_random_tags(case: int) -> None:
    gold, pred = random_corpus(random.Random(case))
    metrics = score(gold, pred, bootstrap=0)
    for mode, seqeval_args in (("strict", {"mode": "strict", "scheme": IOB2}), ("lenient", {"mode": None})):
        expected = (
            precision_score(gold, pred, zero_division=0, **seqeval_args),
            recall_score(gold, pred, zero_division=0, **seqeval_args),
            f1_score(gold, pred, zero_division=0, **seqeval_args),
        )
        assert micro(metrics, mode) == pytest.approx(expected), mode
        report = classification_report(gold, pred, output_dict=True, zero_division=0, **seqeval_args)
        ours = metrics[mode]["per_type"]
        for entity_type, row in report.items():
            if entity_type.endswith("avg"):
                continue
            assert ours[entity_type]["support"] == row["support"], (mode, entity_type)
            for key in ("precision", "recall"):
                assert ours[entity_type][key] == pytest.approx(row[key]), (mode, entity_type, key)
            assert ours[entity_type]["f1"] == pytest.approx(row["f1-score"]), (mode, entity_type)
        supported = [row for name, row in report.items() if not name.endswith("avg") and row["support"] > 0]
        expected_macro = sum(r["f1-score"] for r in supported) / len(supported)
        assert metrics[mode]["macro"]["f1"] == pytest.approx(expected_macro)


# --- bootstrap, comparison, seeds ------------------------------------------------------------------


def noisy_corpus(seed: int, n: int = 300, keep: float = 0.8) -> tuple[list[list[str]], list[list[str]]]:
    """Gold with one or two entities a sentence, and a prediction that misses about 1 - keep of them."""
    rng = random.Random(seed)
    gold, pred = [], []
    for _ in range(n):
        sentence = ["O"] * 8
        for start in rng.sample(range(0, 8, 2), rng.randint(1, 2)):
            entity_type = rng.choice(SCHEME_B_TYPES)
            sentence[start : start + 2] = [f"B-{entity_type}", f"I-{entity_type}"]
        gold.append(sentence)
        pred.append([t if rng.random() < keep else "O" for t in sentence])
    return gold, pred


def test_bootstrap_is_seeded_and_contains_the_point_estimate() -> None:
    gold, pred = noisy_corpus(0)
    first = score(gold, pred, scheme=SCHEME_B, bootstrap=200, seed=7)
    again = score(gold, pred, scheme=SCHEME_B, bootstrap=200, seed=7)
    other = score(gold, pred, scheme=SCHEME_B, bootstrap=200, seed=8)
    assert first["ci95"] == again["ci95"] and first["ci95_per_type"] == again["ci95_per_type"]
    assert first["ci95"] != other["ci95"]
    for mode in ("strict", "lenient"):
        low, high = first["ci95"][f"{mode}_micro_f1"]
        assert low < first[mode]["micro"]["f1"] < high
        assert high - low < 0.2
        for entity_type, (low, high) in first["ci95_per_type"][mode].items():
            assert low <= first[mode]["per_type"][entity_type]["f1"] <= high
    assert first["bootstrap"]["n_resamples"] == 200


def test_no_bootstrap_gives_no_interval() -> None:
    gold, pred = noisy_corpus(1, n=10)
    metrics = score(gold, pred, bootstrap=0)
    assert metrics["ci95"] == {"strict_micro_f1": None, "lenient_micro_f1": None}


def test_compare_finds_a_clearly_better_system() -> None:
    gold, weak = noisy_corpus(2, keep=0.6)
    _, strong = noisy_corpus(2, keep=0.95)
    result = compare(gold, weak, strong, scheme=SCHEME_B, bootstrap=500, seed=0)
    assert result["f1_b"] > result["f1_a"]
    assert result["difference"] == pytest.approx(result["f1_b"] - result["f1_a"])
    assert 0 < result["ci95"][0] <= result["difference"] <= result["ci95"][1]
    assert result["p_value"] == pytest.approx(1 / 501)
    assert set(result["per_type"]) == set(SCHEME_B_TYPES)
    assert all(row["difference"] > 0 for row in result["per_type"].values())
    n_gold_entities = sum(tag.startswith("B-") for sentence in gold for tag in sentence)
    assert sum(row["support"] for row in result["per_type"].values()) == n_gold_entities
    # The point estimates are exactly the two systems' own strict micro F1.
    assert result["f1_a"] == score(gold, weak, bootstrap=0)["strict"]["micro"]["f1"]


def test_compare_of_identical_predictions_is_zero() -> None:
    gold, pred = noisy_corpus(3)
    result = compare(gold, pred, pred, bootstrap=100)
    assert result["difference"] == 0
    assert result["ci95"] == [0.0, 0.0]
    assert result["p_value"] == 1.0


def test_compare_is_paired_and_seeded() -> None:
    gold, weak = noisy_corpus(4, keep=0.7)
    _, strong = noisy_corpus(4, keep=0.75)
    first = compare(gold, weak, strong, bootstrap=300, seed=1)
    assert first == compare(gold, weak, strong, bootstrap=300, seed=1)
    # Swapping the systems mirrors the difference and its interval.
    swapped = compare(gold, strong, weak, bootstrap=300, seed=1)
    assert swapped["difference"] == pytest.approx(-first["difference"])
    assert swapped["ci95"] == pytest.approx([-first["ci95"][1], -first["ci95"][0]])
    assert swapped["p_value"] == pytest.approx(first["p_value"])


@pytest.mark.parametrize("b_is_better", [True, False])
def test_p_value_counts_resamples_tied_at_zero_as_the_other_side(b_is_better: bool) -> None:
    """One system misses one entity in four sentences: every resample without that sentence ties at
    zero, about (3/4)^4 = 32% of them. Counted as the other side (as documented), p is about 0.63;
    counted as neither side it would fall to the floor 1/(n + 1) and claim a real difference."""
    gold = [["B-PER", "O"]] * 4
    perfect = [list(tags) for tags in gold]
    missing = [["O", "O"]] + perfect[1:]
    a, b = (missing, perfect) if b_is_better else (perfect, missing)
    result = compare(gold, a, b, bootstrap=2000, seed=0)
    assert (result["difference"] > 0) is b_is_better
    assert 0.5 < result["p_value"] < 0.75
    assert result["per_type"]["PER"]["p_value"] == result["p_value"]
    assert result["ci95"][0 if b_is_better else 1] == 0.0  # the interval reaches zero: no verdict


def test_p_value_by_hand_with_ties() -> None:
    from multinerd.evaluate.scoring import _p_value

    resampled = np.array([0.0] * 10 + [0.02] * 89 + [-0.01])
    assert _p_value(0.02, resampled) == pytest.approx(2 * 11 / 100)
    assert _p_value(-0.02, -resampled) == pytest.approx(2 * 11 / 100)
    assert _p_value(0.02, np.array([0.0] * 100)) == 1.0
    assert _p_value(0.02, np.array([0.02] * 100)) == pytest.approx(1 / 101)


def test_compare_checks_its_inputs() -> None:
    with pytest.raises(ScoringError, match="pred_b has 1"):
        compare([["O", "O"]], [["O", "O"]], [["O"]])


def test_aggregate_seeds_by_hand() -> None:
    gold, pred = two_sentences()
    perfect = score(gold, gold, bootstrap=0)
    half = score(gold, pred, bootstrap=0)
    summary = aggregate_seeds([perfect, half])
    assert summary["n_runs"] == 2
    f1 = summary["figures"]["strict.micro.f1"]
    assert f1["values"] == [1.0, 0.5]
    assert f1["mean"] == pytest.approx(0.75)
    assert f1["std"] == pytest.approx(0.5**0.5 / 2)  # sample std of {1, 0.5}
    assert summary["figures"]["strict.per_type.LOC.f1"]["mean"] == pytest.approx(0.5)
    assert set(headline_figures(perfect)) <= set(summary["figures"])
    assert aggregate_seeds([half])["figures"]["token_accuracy"] == {
        "mean": 0.75,
        "std": 0.0,
        "n": 1,
        "values": [0.75],
    }
    with pytest.raises(ScoringError):
        aggregate_seeds([])


@pytest.mark.parametrize("n_resamples", [0, 1, MIN_RESAMPLES - 1])
def test_too_few_resamples_give_no_interval_no_p_value_and_say_why(n_resamples) -> None:
    gold = [["B-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"]] * 10
    pred = [["B-PER", "O", "O"], ["B-ORG", "I-ORG", "O"]] * 10
    metrics = score(gold, pred, bootstrap=n_resamples)
    assert metrics["ci95"] == {"strict_micro_f1": None, "lenient_micro_f1": None}
    assert metrics["bootstrap"]["note"].startswith(f"no 95% interval, p-value or verdict: {n_resamples} ")
    result = compare(gold, pred, gold, bootstrap=n_resamples)
    assert result["difference"] == pytest.approx(1 - metrics["strict"]["micro"]["f1"])
    assert result["ci95"] is result["p_value"] is result["ci95_a"] is None
    assert all(row["ci95"] is None and row["p_value"] is None for row in result["per_type"].values())
    assert result["note"] == metrics["bootstrap"]["note"]


def test_enough_resamples_give_intervals() -> None:
    gold = [["B-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"]] * 10
    metrics = score(gold, gold, bootstrap=MIN_RESAMPLES)
    assert metrics["ci95"]["strict_micro_f1"] == [1.0, 1.0] and metrics["bootstrap"]["note"] is None


def test_compare_reports_every_field_with_its_defaults() -> None:
    """What mutation testing found unchecked: the record's keys, A's and B's own intervals, the defaults."""
    from multinerd.evaluate.scoring import P_VALUE_METHOD, micro_f1

    gold, weak = noisy_corpus(5, n=60, keep=0.5)
    _, strong = noisy_corpus(5, n=60, keep=0.95)
    result = compare(gold, weak, strong)
    assert result == compare(gold, weak, strong, bootstrap=1000, seed=0)
    assert result != compare(gold, weak, strong, bootstrap=1000, seed=1)
    assert {k: result[k] for k in ("metric", "n_sentences", "n_resamples", "seed", "method")} == {
        "metric": "strict micro F1 in B's label space", "n_sentences": 60, "n_resamples": 1000, "seed": 0,
        "method": P_VALUE_METHOD}  # fmt: skip
    assert result["f1_a"] == micro_f1(gold, weak) and result["f1_b"] == micro_f1(gold, strong)
    for side in ("a", "b"):
        low, high = result[f"ci95_{side}"]
        assert low < result[f"f1_{side}"] < high
    assert result["ci95_a"][1] < result["ci95_b"][0]  # the strong system's interval lies above the weak one's
    with pytest.raises(ScoringError):
        compare(gold, weak, strong, scheme=TagScheme("B", ("PER",)))


def test_equal_f1_from_different_errors_has_p_value_one() -> None:
    gold = [["B-PER", "O"], ["B-LOC", "O"]] * 10
    a = [["O", "O"], ["B-LOC", "O"]] + [list(t) for t in gold[2:]]
    b = [["B-PER", "O"], ["O", "O"]] + [list(t) for t in gold[2:]]
    result = compare(gold, a, b, bootstrap=500)
    assert result["difference"] == 0 and result["p_value"] == 1.0


@pytest.mark.parametrize(
    ("gold", "pred", "mode", "expected"),
    [
        ([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]], "strict", 1.0),
        ([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]], "strict", 0.0),
        ([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]], "strict", 2 / 3),
        ([["B-PER", "I-PER"]], [["I-PER", "I-PER"]], "strict", 0.0),
        ([["B-PER", "I-PER"]], [["I-PER", "I-PER"]], "lenient", 1.0),
        ([["O", "O"]], [["O", "O"]], "strict", 0.0),
    ],
)
def test_micro_f1_by_hand(gold, pred, mode, expected) -> None:
    from multinerd.evaluate.scoring import micro_f1

    assert micro_f1(gold, pred, mode=mode) == pytest.approx(expected)
    assert micro_f1(gold, pred, mode=mode) == score(gold, pred, bootstrap=0)[mode]["micro"]["f1"]
