"""The data audit (``data stats``): counts on known fixtures, strict spans, sub-tokens, the table."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from multinerd.data.audit import audit, format_audit
from multinerd.data.corpus import load_corpus
from multinerd.labels import MULTINERD_TYPES, entity_spans
from test_corpus import GOOD, broken_iob2_dir, hub_dir, record, write


def audit_fixture(root: Path) -> Path:
    same_words_other_tags = record(["Anna", "Smith", "visited", "Paris", "."], [1, 2, 0, 0, 0])
    train = [GOOD[0], GOOD[0], GOOD[0], same_words_other_tags, GOOD[1], GOOD[2]]
    write(root / "train" / "train_en.jsonl", "\n".join(train) + "\n")
    write(root / "val" / "val_en.jsonl", "\n".join([GOOD[1], GOOD[1], record(["Solo"], [0])]) + "\n")
    test = [GOOD[0], GOOD[1], record(["Only", "test"], [0, 0])]
    write(root / "test" / "test_en.jsonl", "\n".join(test) + "\n")
    write(root / "test" / "test_es.jsonl", record(["Hola"], [0], "es") + "\n")
    return root


def test_audit_counts_on_known_fixture(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{audit_fixture(tmp_path)}")
    report = audit(corpus)
    assert set(report) == {"source", "splits", "overlap", "problems"}
    train = report["splits"]["train"]
    assert train["tag_scheme"] == {"scheme": "iob2", "converted": 0}
    assert train["sentences"] == 6
    assert train["words"] == 5 * 4 + 4 + 5
    assert train["duplicates"] == 2  # three copies of GOOD[0]; the re-tagged copy differs
    assert train["entities"]["PER"] == 4 and train["entities"]["LOC"] == 3
    assert train["entities"]["DIS"] == 1 and train["entities"]["ANIM"] == 1
    assert train["entities"]["BIO"] == 0 and list(train["entities"]) == list(MULTINERD_TYPES)
    assert train["languages"] == {"en": 6}
    assert train["length"] == {"min": 4, "mean": 4.83, "median": 5.0, "p95": 5, "max": 5}
    assert report["splits"]["validation"]["duplicates"] == 1
    assert report["splits"]["test"]["languages"] == {"en": 3, "es": 1}
    # train-test share GOOD[0]'s words and GOOD[1]; train-validation GOOD[1]; validation-test GOOD[1].
    assert report["overlap"] == {"train-test": 2, "train-validation": 1, "validation-test": 1}
    assert report["source"] == f"jsonl:{tmp_path}"
    json.dumps(report)


def test_audit_entities_match_strict_spans(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{broken_iob2_dir(tmp_path)}", repair_iob2=False)
    expected = Counter(t for s in corpus.splits["train"] for t, _, _ in entity_spans(s.tags))
    found = audit(corpus)["splits"]["train"]["entities"]
    assert {t: n for t, n in found.items() if n} == dict(expected)


def test_audit_subtokens_with_a_tokenizer(tmp_path: Path) -> None:
    def tokenizer(batch: list[list[str]], is_split_into_words: bool, add_special_tokens: bool) -> dict:
        assert is_split_into_words and not add_special_tokens
        return {"input_ids": [[0] * sum(len(w) for w in words) for words in batch]}

    corpus = load_corpus(f"jsonl:{hub_dir(tmp_path)}")
    report = audit(corpus, tokenizer=tokenizer)
    # one "sub-token" per character: 22, 13, 11 characters in the three training sentences
    expected = {"min": 11, "mean": 15.33, "median": 13, "p95": 22, "max": 22}
    assert report["splits"]["train"]["subtokens"] == expected
    assert "sub-tokens/sentence max" in format_audit(report)


def test_format_audit_is_a_readable_table(tmp_path: Path) -> None:
    corpus = load_corpus(f"jsonl:{audit_fixture(tmp_path)}", dedup_train=True)
    text = format_audit(audit(corpus))
    lines = text.splitlines()
    assert lines[0] == f"source: jsonl:{tmp_path}"
    assert lines[1].split() == ["train", "validation", "test"]
    # dedup keeps only GOOD[2] in train: GOOD[0] and GOOD[1] are in test, the rest are copies.
    assert any(line.split() == ["sentences", "1", "3", "3"] for line in lines)
    assert any(line.split() == ["entities", "PER", "0", "0", "1"] for line in lines)
    assert any(line.split() == ["in", "source:", "es", "0", "0", "1"] for line in lines)
    assert "train-test 0, train-validation 0, validation-test 1" in text
    assert "problems: 1" in text and "dedup dropped" in text
