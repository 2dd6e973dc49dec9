"""Line-level file reading shared by the corpus (training data) and documents (``predict`` input).

One home for each on-disk shape: text lines from bytes (a BOM and CRLF accepted, bad UTF-8
named per line), CoNLL sentences (blank-line separated, ``-DOCSTART-`` and ``#`` comment
lines skipped, columns split on tabs or else on spaces) and one JSON object per line.
Nothing here knows about tags or files' meaning; what a record must hold is the caller's job.
A fault in a record is a :class:`RecordError`; the caller adds the file and line and raises
a :class:`DataError` (defined here, where every reader can reach it; ``multinerd.data.corpus``
re-exports it).
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multinerd.data.schemes import parse_tag
from multinerd.labels import TagError

#: Where a CoNLL file puts something that is not a sentence (documents, as CoNLL-2003 does).
DOCSTART = "-DOCSTART-"


class DataError(ValueError):
    """Input that cannot be read as sentences; ``str(err)`` is one line, ``path:line: what is wrong``."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = " ".join(message.split())
        self.path = None if path is None else str(path)
        self.line = line
        where = "" if path is None else f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + self.message)


class RecordError(ValueError):
    """One record (a JSON line, a CoNLL line) that cannot be read; the message says why, not where."""


def decode_lines(data: bytes) -> tuple[list[str], dict[int, str]]:
    """The lines of ``data`` without line ends and, per 1-based line number that is not UTF-8, why.

    A BOM and CRLF line ends are accepted silently, and a final line end makes no extra line.
    Callers report an undecodable line as the record that holds it.
    """
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        lines, bad = _decode_by_line(data)
    else:
        lines, bad = text.replace("\r\n", "\n").split("\n") if "\r" in text else text.split("\n"), {}
    if lines and lines[-1] == "":
        lines.pop()
    return lines, bad


def read_text_lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 text file (``-`` is standard input) that a command was given.

    ``what`` names the file expected (``"an input file"``), for the one-line errors when the
    path is missing, a directory, or holds bytes that are not UTF-8 (naming the first such line).
    """
    if str(path) == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError("file not found", path) from None
        except IsADirectoryError:
            raise DataError(f"is a directory; expected {what}", path) from None
    lines, bad = decode_lines(data)
    if bad:
        number = min(bad)
        raise DataError(f"not UTF-8: {bad[number]}", path, number)
    return lines


def _decode_by_line(data: bytes) -> tuple[list[str], dict[int, str]]:
    lines: list[str] = []
    bad: dict[int, str] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as err:
            bad[number] = f"bytes that are not UTF-8 (0x{raw[err.start]:02x} at column {err.start + 1})"
            lines.append(raw.decode("utf-8", errors="replace"))
    return lines, bad


def decode_json_line(line: str) -> dict[str, Any]:
    """One JSON object from one line; anything else is a :class:`RecordError`."""
    try:
        record = json.loads(line)
    except ValueError as err:
        raise RecordError(f"malformed JSON: {err}") from None
    if type(record) is not dict:
        raise RecordError(f"expected a JSON object, found {type(record).__name__}")
    return record


def conll_columns(line: str) -> list[str]:
    """A CoNLL line's columns: split on tabs when it has any (tokens may hold spaces), else on spaces."""
    if "\t" in line:
        return [part.strip() for part in line.split("\t")]
    return line.split()


def _is_tag(text: str) -> bool:
    try:
        parse_tag(text)
    except TagError:
        return False
    return True


def is_comment(line: str) -> bool:
    """A ``#`` line that is not a token row: ``# sent_id = 3`` is a comment, ``#    O`` and ``#tag B-X`` are tokens.

    A row's last column is its tag, so a ``#`` line of several columns whose last is no tag is
    a comment; a lone ``#`` (one-column CoNLL) is a word.
    """
    if not line.startswith("#"):
        return False
    columns = conll_columns(line)
    return len(columns) > 1 and not _is_tag(columns[-1])


def conll_blocks(lines: list[str]) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Sentences of a one-token-a-line file: ``(first line, [(line number, text), ...])``, 1-based.

    Blank lines (or whitespace-only) end a sentence; ``-DOCSTART-`` and comment lines are skipped.
    """
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith(DOCSTART):
            if block:
                yield block[0][0], block
            block = []
        elif not is_comment(line):
            block.append((number, line))
    if block:
        yield block[0][0], block


def looks_like_conll(lines: list[str]) -> bool:
    """Whether text reads as CoNLL with tags: every non-blank, non-comment line has a token and a tag."""
    rows = [
        line
        for line in lines[:200]
        if line.strip() and not line.startswith(DOCSTART) and not is_comment(line)
    ]
    return bool(rows) and all(len(c := conll_columns(row)) >= 2 and _is_tag(c[-1]) for row in rows)


def looks_like_jsonl(lines: list[str]) -> bool:
    """Whether text reads as JSONL: its first non-blank line is a JSON object.

    Prose never is one, and judging by the first line alone lets a later broken line be
    reported with its file and line instead of turning the whole file into raw text.
    """
    first = next((line for line in lines if line.strip()), None)
    try:
        return first is not None and decode_json_line(first) is not None
    except RecordError:
        return False
