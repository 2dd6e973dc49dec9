"""Checks on one record (a JSON line, a CoNLL/TSV line, a dataset row) before it becomes a sentence.

A record's fault is a :class:`RecordError` saying what is wrong with it; the reader adds the
file and line through :class:`ErrorPolicy`, which raises a :class:`DataError` at the first
bad record or, with ``on_error="skip"``, counts it per file and goes on. The rules of what a
word is and what a tag is live here, the same for every source.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from multinerd.data.readers import DataError, RecordError, conll_columns
from multinerd.data.schemes import parse_tag
from multinerd.labels import MULTINERD_TAGS, MULTINERD_TYPES, TagError

#: MultiNERD's tag ids (the hub's jsonl files) and the names they stand for.
ID2TAG: dict[int, str] = dict(enumerate(MULTINERD_TAGS))
_MULTINERD_TAG_SET = frozenset(MULTINERD_TAGS)
#: Unicode categories with nothing to see: a token made only of these (a zero-width space, a
#: right-to-left mark, a NUL, a no-break space) is as empty as whitespace, and tokenizers drop it.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


class ErrorPolicy:
    """The on_error policy: raise at the first bad record, or count it per file and go on."""

    def __init__(self, policy: str) -> None:
        if policy not in ("raise", "skip"):
            raise DataError(f"on_error must be 'raise' or 'skip', got {policy!r}")
        self.skip = policy == "skip"
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def bad(self, path: str | Path, line: int | None, message: str) -> None:
        """Raise for the record at ``path:line``, or (skipping) count it and keep the first message."""
        if not self.skip:
            raise DataError(message, path, line)
        key = str(path)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.first.setdefault(key, f"line {line}: {message}")

    def problems(self) -> list[str]:
        """One line per file with skipped records: how many, and the first one's fault."""
        return [
            f"{path}: skipped {n} bad record(s); the first at {self.first[path]}"
            for path, n in self.counts.items()
        ]


def record_tags(
    tokens: Any, ids: Any, id2tag: dict[int, str] | None, columns: tuple[str, str] = ("tokens", "ner_tags")
) -> tuple[str, ...]:
    """The tags of one record of words and tag ids (or tag strings, with ``id2tag`` None), checked.

    Raises :class:`RecordError` saying what is wrong: not lists, no words, lengths that
    differ, a word that is no word, an id outside the table, a tag no scheme writes.
    """
    if type(tokens) is not list or type(ids) is not list:
        raise RecordError(
            f"expected lists under {columns[0]!r} and {columns[1]!r}, "
            f"found {type(tokens).__name__} and {type(ids).__name__}"
        )
    if not tokens:
        raise RecordError("empty sentence (no tokens)")
    if len(tokens) != len(ids):
        raise RecordError(f"{len(tokens)} tokens but {len(ids)} tags")
    if {*map(type, tokens)} != {str}:
        position, token = next((i, t) for i, t in enumerate(tokens, 1) if type(t) is not str)
        raise RecordError(f"token {position} is {token!r}, not a string")
    # Nearly every token is printable and not blank: only the others need a closer look.
    if "" in tokens or not all(map(str.isprintable, tokens)) or any(map(str.isspace, tokens)):
        for position, token in enumerate(tokens, 1):
            problem = token_problem(token)
            if problem:
                raise RecordError(f"token {position} is {problem}")
    if id2tag is None:
        return string_tags(ids)
    if {*map(type, ids)} == {int}:
        try:
            return tuple(map(id2tag.__getitem__, ids))
        except KeyError:
            pass
    position, tag_id = next((i, t) for i, t in enumerate(ids, 1) if type(t) is not int or t not in id2tag)
    raise RecordError(f"tag {position} is {tag_id!r}; expected an integer id 0-{len(id2tag) - 1}")


def string_tags(tags: list[Any]) -> tuple[str, ...]:
    """Tag names as they are, once each is a string some scheme writes (the scheme is checked later)."""
    for position, tag in enumerate(tags, 1):
        if type(tag) is not str:
            raise RecordError(f"tag {position} is {tag!r}; expected a tag name such as B-PER")
        check_scheme_tag(tag)
    return tuple(tags)


def check_scheme_tag(tag: str) -> None:
    """A tag some scheme writes (``O``, ``B-X``, ``S-X`` ...), or a :class:`RecordError` saying why not."""
    try:
        parse_tag(tag)
    except TagError as err:
        raise RecordError(str(err)) from None


def token_problem(token: str) -> str | None:
    """Why a token cannot be a word, or None: empty or whitespace, invisible, or not valid Unicode.

    A word needs one character that is not a control, format or space character; combining
    marks, emoji and right-to-left letters are words. A lone surrogate (only JSON escapes can
    make one) cannot be encoded as UTF-8, so no tokenizer or report could handle it.
    """
    if token and token.isprintable() and not token.isspace():
        return None
    if not token.strip():
        return f"empty or whitespace ({token!r})"
    surrogate = next((char for char in token if "\ud800" <= char <= "\udfff"), None)
    if surrogate is not None:
        return f"not valid Unicode: a lone surrogate U+{ord(surrogate):04X} ({token!r})"
    if all(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in token):
        return f"invisible ({token!r}): only control, format or space characters, as empty as whitespace"
    return None


def check_token(token: str) -> None:
    """A word, or a :class:`RecordError` saying why the token is none (see :func:`token_problem`)."""
    problem = token_problem(token)
    if problem is not None:
        raise RecordError(f"token is {problem}")


def tsv_line(line: str) -> tuple[str, str]:
    """Word and tag of one line of MultiNERD's GitHub TSV files (``index<TAB>token<TAB>tag``)."""
    parts = line.split("\t")
    if len(parts) < 3:
        raise RecordError(f"expected index<TAB>token<TAB>tag, found {len(parts)} column(s): {line!r}")
    token, tag = parts[1], parts[2].strip()
    if tag not in _MULTINERD_TAG_SET:
        raise RecordError(
            f"unknown tag {tag!r}; expected O, B-TYPE or I-TYPE, TYPE one of {', '.join(MULTINERD_TYPES)}"
        )
    check_token(token)
    return token, tag


def conll_line(line: str) -> tuple[str, str]:
    """Word and tag of one CoNLL line: the first column and the last, split on tabs or else spaces."""
    parts = conll_columns(line)
    if len(parts) < 2:
        raise RecordError(f"expected a token and a tag separated by tabs or spaces, found {line!r}")
    token, tag = parts[0], parts[-1]
    check_scheme_tag(tag)
    check_token(token)
    return token, tag
