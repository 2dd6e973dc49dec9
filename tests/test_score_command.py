"""``multinerd score``: figures of files made anywhere against two independent references.

Lenient figures are checked against a conlleval-style chunk counter written here (the
state machine of conlleval's start-of-chunk / end-of-chunk rules, run token by token with
a boundary between sentences), strict figures against seqeval's strict IOB2 mode, both to
1e-9 on 200 random files, then on hand-made ones.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from multinerd.apps.cli import EXIT_USAGE, main
from multinerd.apps.pipeline import score_file
from multinerd.data.corpus import DataError
from multinerd.data.tagfiles import read_tagged_file

# --- the conlleval-style oracle -------------------------------------------------------------------


def _parts(tag: str) -> tuple[str, str]:
    return ("O", "") if tag == "O" else (tag[0], tag[2:])


def _chunk_ends(prev: str, tag: str, prev_type: str, tag_type: str) -> bool:
    if prev in ("B", "I") and tag in ("B", "O"):
        return True
    return prev != "O" and prev_type != tag_type


def _chunk_starts(prev: str, tag: str, prev_type: str, tag_type: str) -> bool:
    if tag == "B" or (prev == "O" and tag == "I"):
        return True
    return tag != "O" and prev_type != tag_type


def conlleval_counts(sentences: list[tuple[list[str], list[str]]]) -> tuple[Counter, Counter, Counter]:
    """Correct, guessed and gold chunks per type, counted the way conlleval counts them."""
    correct, guessed, gold = Counter(), Counter(), Counter()
    stream: list[tuple[str, str]] = []
    for gold_tags, pred_tags in sentences:
        stream += list(zip(gold_tags, pred_tags)) + [("O", "O")]  # a blank line reads as O O
    in_correct = False
    last_gold, last_gold_type, last_pred, last_pred_type = "O", "", "O", ""
    for gold_tag, pred_tag in stream:
        g, g_type = _parts(gold_tag)
        p, p_type = _parts(pred_tag)
        gold_ends = _chunk_ends(last_gold, g, last_gold_type, g_type)
        pred_ends = _chunk_ends(last_pred, p, last_pred_type, p_type)
        gold_starts = _chunk_starts(last_gold, g, last_gold_type, g_type)
        pred_starts = _chunk_starts(last_pred, p, last_pred_type, p_type)
        if in_correct:
            if gold_ends and pred_ends and last_gold_type == last_pred_type:
                in_correct = False
                correct[last_gold_type] += 1
            elif gold_ends != pred_ends or g_type != p_type:
                in_correct = False
        if gold_starts and pred_starts and g_type == p_type:
            in_correct = True
        if gold_starts:
            gold[g_type] += 1
        if pred_starts:
            guessed[p_type] += 1
        last_gold, last_gold_type, last_pred, last_pred_type = g, g_type, p, p_type
    return correct, guessed, gold


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


# --- random files ----------------------------------------------------------------------------------

TYPES = ["PER", "LOC", "geo-loc", "WORK_OF_ART"]
TAGS = ["O", "O", "O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]


def random_file(rng: random.Random, path: Path) -> list[tuple[list[str], list[str]]]:
    """A CoNLL file of random gold and predicted tags (invalid IOB2 included) in conlleval's layout."""
    sentences = []
    middle = rng.choice([0, 0, 1, 2])  # extra columns between the token and the two tags
    docstart = " ".join(["-DOCSTART-", *["-X-"] * middle, "O", "O"])
    lines = [docstart if rng.random() < 0.5 else None, ""]
    for _ in range(rng.randint(1, 8)):
        n = rng.randint(1, 10)
        gold = [rng.choice(TAGS) for _ in range(n)]
        pred = [rng.choice(TAGS) if rng.random() < 0.5 else tag for tag in gold]
        sentences.append((gold, pred))
        sep = rng.choice([" ", "\t"])
        for i, (g, p) in enumerate(zip(gold, pred)):
            lines.append(sep.join([f"w{i}", *(["NN"] * middle), g, p]))
        lines.append("")
    end = "\r\n" if rng.random() < 0.2 else "\n"
    path.write_text(end.join(line for line in lines if line is not None), encoding="utf-8")
    return sentences


def test_random_files_match_conlleval_lenient_and_seqeval_strict(tmp_path: Path) -> None:
    rng = random.Random(11)
    for k in range(200):
        path = tmp_path / f"f{k}.txt"
        sentences = random_file(rng, path)
        metrics = score_file(path, bootstrap=0)
        gold = [g for g, _ in sentences]
        pred = [p for _, p in sentences]
        correct, guessed, golds = conlleval_counts(sentences)
        lenient = metrics["lenient"]
        expected = prf(sum(correct.values()), sum(guessed.values()), sum(golds.values()))
        assert [lenient["micro"][key] for key in ("precision", "recall", "f1")] == pytest.approx(
            expected, abs=1e-9
        )
        for entity_type in set(guessed) | set(golds):
            row = lenient["per_type"][entity_type]
            want = prf(correct[entity_type], guessed[entity_type], golds[entity_type])
            assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(want, abs=1e-9), (
                k,
                entity_type,
            )
            assert row["support"] == golds[entity_type]
        strict = metrics["strict"]["micro"]
        options = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
        assert strict["precision"] == pytest.approx(precision_score(gold, pred, **options), abs=1e-9), k
        assert strict["recall"] == pytest.approx(recall_score(gold, pred, **options), abs=1e-9), k
        assert strict["f1"] == pytest.approx(f1_score(gold, pred, **options), abs=1e-9), k


# --- hand-made files -------------------------------------------------------------------------------

HAND_MADE = """\
-DOCSTART- -X- -X- O

São NNP B-LOC B-LOC
Paulo NNP I-LOC I-ORG
is VBZ O O
big JJ O I-MISC

Ada NNP B-PER I-PER
Lovelace NNP I-PER I-PER
"""


def test_hand_made_file_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "hand.conll"
    path.write_text(HAND_MADE, encoding="utf-8")
    metrics = score_file(path, bootstrap=0)
    assert metrics["n_sentences"] == 2 and metrics["n_words"] == 6
    # strict: gold LOC(0,2), PER(0,2); pred LOC(0,1) only (I-ORG, I-MISC and I-PER start nothing).
    assert metrics["strict"]["micro"]["precision"] == 0.0 and metrics["strict"]["micro"]["recall"] == 0.0
    # lenient: pred LOC(0,1), ORG(1,2), MISC(3,4), PER(0,2): one of four right, one of two gold found.
    assert metrics["lenient"]["micro"]["precision"] == pytest.approx(0.25)
    assert metrics["lenient"]["micro"]["recall"] == pytest.approx(0.5)
    assert metrics["lenient"]["per_type"]["PER"]["f1"] == 1.0


def test_predictions_jsonl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    records = [{"origin": "t:1", "words": ["Ada", "ran"], "gold": ["B-PER", "O"], "pred": ["B-PER", "O"]},
               {"words": ["in", "Rome"], "gold": ["O", "B-LOC"], "pred": ["O", "B-ORG"]}]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    metrics = score_file(path, bootstrap=0)
    assert metrics["strict"]["micro"]["f1"] == pytest.approx(0.5)
    assert metrics["strict"]["per_type"]["LOC"]["support"] == 1


def test_iobes_and_bilou_columns_score_as_their_iob2_reading(tmp_path: Path) -> None:
    iob2 = tmp_path / "iob2.txt"
    iob2.write_text("Ada B-PER B-PER\nLove I-PER O\nin O O\nParis B-LOC B-LOC\n", encoding="utf-8")
    other = tmp_path / "other.txt"
    other.write_text("Ada B-PER U-PER\nLove E-PER O\nin O O\nParis S-LOC U-LOC\n", encoding="utf-8")
    assert read_tagged_file(other).gold == read_tagged_file(iob2).gold
    assert read_tagged_file(other).pred == read_tagged_file(iob2).pred


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Ada B-PER\n", "hand.txt:1: expected 'token … gold pred' (3 or more columns), found 2"),
        ("Ada B-PER B-PER\nran O O x\n", "hand.txt:2: 4 columns where earlier lines have 3"),
        ("Ada S-PER O\nLove E-PER O\n", "hand.txt:1: IOBES tag 'E-PER' where O, B-, S- must come"),
        ("\n\n", "no sentences found"),
        ('{"words": ["a"], "gold": ["O"], "pred": []}\n', "hand.txt:1: 'pred' has 0 tags for 1 words"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "hand.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_tagged_file(path)


def test_score_command_writes_metrics_report_and_summary(tmp_path: Path, capsys) -> None:
    path = tmp_path / "hand.conll"
    path.write_text(HAND_MADE, encoding="utf-8")
    out = tmp_path / "scores"
    assert main(["score", str(path), "--output", str(out), "--set", "eval.bootstrap=0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["input"] == str(path) and metrics["n_words_scored"] == 6
    printed = capsys.readouterr().out
    assert "lenient F1 0.3333" in printed
    assert "note: no 95% interval, p-value or verdict: 0 bootstrap resamples" in printed
    report = (out / "report.md").read_text()
    assert "no 95% interval" in report and "| ORG |" in report


def test_score_command_on_a_missing_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["score", str(tmp_path / "nope.conll")]) == EXIT_USAGE
    assert "nope.conll: file not found" in capsys.readouterr().err
