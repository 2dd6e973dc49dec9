"""Gold and predicted tags made anywhere, read for ``multinerd score``.

Two layouts, chosen by the file's first non-blank character (``{`` means JSON lines):

* **CoNLL, conlleval's layout**: one word per line, columns separated by whitespace,
  ``token … gold pred`` (the gold tag second to last, the prediction last, any columns
  between them ignored), a blank line between sentences, ``-DOCSTART-`` lines skipped.
  Every line of a file has the same number of columns (at least three), as conlleval
  requires.
* **``predictions.jsonl``** as ``multinerd evaluate`` and ``run`` write it: one object per
  sentence with ``words``, ``gold`` and ``pred`` lists of equal length.

Tags are kept as written when they use only ``B-``/``I-``/``O``: strict scoring then reads
them as IOB2 (as seqeval's strict mode does) and lenient scoring as conlleval does, so an
IOB1 column scores the same as under conlleval. A column with IOBES or BILOU prefixes is
converted to IOB2 by :mod:`multinerd.data.schemes`, so its entities are the ones its own scheme
names.
Errors name the file and line (:class:`multinerd.data.corpus.DataError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from multinerd.data.readers import (
    DataError,
    RecordError,
    conll_blocks,
    conll_columns,
    decode_json_line,
    read_text_lines,
)
from multinerd.data.schemes import SchemeError, detect, to_iob2
from multinerd.labels import TagError


@dataclass
class TaggedFile:
    """Sentences of a scored file: words, gold tags and predicted tags, each one list per sentence."""

    path: Path
    words: list[list[str]]
    gold: list[list[str]]
    pred: list[list[str]]


def _as_iob2(tags: list[str], path: Path, line: int) -> list[str]:
    """The tags of one column of one sentence, as IOB2 strings.

    B-/I-/O columns are returned as written (IOB1 included: see the module docstring); a
    column that uses IOBES or BILOU prefixes is converted with the entities of its scheme.
    """
    try:
        scheme = detect([tags])
        return to_iob2(tags, scheme) if scheme in ("iobes", "bilou") else to_iob2(tags, "iob2")
    except (SchemeError, TagError) as err:
        raise DataError(str(err), path, line) from None


def _read_conll(path: Path, lines: list[str]) -> TaggedFile:
    result = TaggedFile(path, [], [], [])
    n_columns: int | None = None
    for start, block in conll_blocks(lines):
        rows = []
        for number, line in block:
            columns = conll_columns(line)
            if len(columns) < 3:
                found = f"found {len(columns)}"
                raise DataError(f"expected 'token … gold pred' (3 or more columns), {found}", path, number)
            if n_columns is not None and len(columns) != n_columns:
                raise DataError(f"{len(columns)} columns where earlier lines have {n_columns}", path, number)
            n_columns = len(columns)
            rows.append(columns)
        result.words.append([columns[0] for columns in rows])
        result.gold.append(_as_iob2([columns[-2] for columns in rows], path, start))
        result.pred.append(_as_iob2([columns[-1] for columns in rows], path, start))
    return result


def _tag_list(record: dict, key: str, n_words: int, path: Path, line: int) -> list[str]:
    tags = record.get(key)
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise DataError(f"'{key}' must be a list of tag strings", path, line)
    if len(tags) != n_words:
        raise DataError(f"'{key}' has {len(tags)} tags for {n_words} words", path, line)
    return _as_iob2(tags, path, line)


def _read_jsonl(path: Path, lines: list[str]) -> TaggedFile:
    result = TaggedFile(path, [], [], [])
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = decode_json_line(line)
        except RecordError as err:
            raise DataError(str(err), path, number) from None
        words = record.get("words")
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            raise DataError("expected an object with 'words', 'gold' and 'pred' lists", path, number)
        result.words.append(words)
        result.gold.append(_tag_list(record, "gold", len(words), path, number))
        result.pred.append(_tag_list(record, "pred", len(words), path, number))
    return result


def read_tagged_file(path: str | Path) -> TaggedFile:
    """Words, gold and predicted tags of a CoNLL ``token … gold pred`` file or a ``predictions.jsonl``."""
    path = Path(path)
    lines = read_text_lines(path, "a file of gold and predicted tags")
    is_jsonl = next((line for line in lines if line.strip()), "").lstrip().startswith("{")
    result = (_read_jsonl if is_jsonl else _read_conll)(path, lines)
    if not result.words:
        raise DataError("no sentences found (expected 'token … gold pred' lines or predictions.jsonl)", path)
    return result
