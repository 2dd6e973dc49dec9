"""Documents in and predictions out for ``multinerd predict``: plain text, JSONL and CoNLL files.

Inputs (``read_input``), chosen by ``fmt`` or, with ``"auto"``, by the file name and else by
the content (a ``.txt`` file, a ``.json`` file or standard input says nothing by its name):

* ``jsonl`` (``.jsonl``, ``.ndjson``, or every non-blank line is a JSON object): one object per
  line with a ``text`` string (raw text) or a ``tokens`` list of strings (pre-split words);
  other fields, such as an ``id``, are passed through to the output. Blank lines are skipped.
* ``conll`` (``.conll``, ``.iob``, ``.iob2``, ``.bio``, or every line is a token and a tag):
  one word per line in the first column (tab- or space-separated), a blank line between
  sentences; ``-DOCSTART-`` and ``#`` comment lines are skipped and tag columns ignored.
  Each sentence is one document of pre-split words.
* ``text`` (anything else): one document per line, raw text. Every line is a document,
  empty ones included, so output record N always belongs to input line N.

Outputs (``write_predictions``):

* ``jsonl`` (default): one object per document, ``{"text" or "tokens", ..., "entities": [...]}``
  with entities ``{"text", "type", "start", "end", "score"}`` -- character offsets for raw
  text, word indices (end exclusive) for pre-split words.
* ``tsv``: a header, then one row per entity: document index (from 0), start, end, type,
  text, score. Tabs and line breaks inside an entity's text become spaces (offsets still
  point into the original).
* ``conll``: ``word<TAB>predicted tag``, a blank line after each document; raw text is
  split into words the way the Tagger splits it. The tags are valid IOB2, written from
  the same entities ``jsonl`` returns. When the input had gold tags (``Document.gold``),
  each line is ``word<TAB>gold<TAB>pred``, ready for ``multinerd score`` or conlleval.

Errors name the file and line (:class:`multinerd.data.corpus.DataError`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from multinerd.data.corpus import DataError
from multinerd.data.readers import (
    RecordError,
    conll_blocks,
    conll_columns,
    decode_json_line,
    looks_like_conll,
    looks_like_jsonl,
    read_text_lines,
)
from multinerd.data.schemes import SchemeError, detect, to_iob2
from multinerd.labels import TagError, spans_to_tags
from multinerd.model.tagger import Tagger, decode_entities, split_words

INPUT_FORMATS = ("auto", "text", "jsonl", "conll")
OUTPUT_FORMATS = ("jsonl", "tsv", "conll")
_SUFFIXES = {
    ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".conll": "conll", ".iob": "conll", ".iob2": "conll", ".bio": "conll",
}  # fmt: skip
TSV_HEADER = ("doc", "start", "end", "type", "text", "score")


@dataclass(frozen=True)
class Document:
    """One unit to tag: raw ``text`` or pre-split ``tokens`` (exactly one is set)."""

    text: str | None = None
    tokens: tuple[str, ...] | None = None
    #: Where it came from (``path:line`` or ``argument N``), for messages.
    origin: str = ""
    #: Other fields of a JSONL record, written back unchanged.
    extra: dict[str, Any] = field(default_factory=dict)
    #: Gold IOB2 tags, one per token, when the input had them (CoNLL with a tag column);
    #: ``--format conll`` then writes ``token gold pred`` for ``multinerd score``.
    gold: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.tokens is None):
            raise ValueError(f"{self.origin}: a document has either text or tokens, not both or neither")
        if self.gold is not None and len(self.gold) != len(self.tokens or ()):
            raise ValueError(f"{self.origin}: {len(self.gold)} gold tags for {len(self.tokens or ())} tokens")


@dataclass(frozen=True)
class Input:
    """The documents of one input file, the format they were read as, and why that format."""

    documents: list[Document]
    format: str
    #: ``"--input-format"``, ``"suffix .jsonl"`` or ``"content"``.
    reason: str


def input_format(path: Path, fmt: str = "auto", lines: Sequence[str] = ()) -> tuple[str, str]:
    """The format to read ``path`` as and why: ``fmt`` itself, else its suffix, else its ``lines``."""
    if fmt not in INPUT_FORMATS:
        raise DataError(f"unknown input format {fmt!r}; expected one of {', '.join(INPUT_FORMATS)}", path)
    if fmt != "auto":
        return fmt, "--input-format"
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix], f"suffix {suffix}"
    lines = list(lines)
    if looks_like_conll(lines):
        return "conll", "content"
    if looks_like_jsonl(lines):
        return "jsonl", "content"
    return "text", "content"


def _read_text(path: Path, lines: list[str]) -> list[Document]:
    return [Document(text=line, origin=f"{path}:{n}") for n, line in enumerate(lines, start=1)]


def _read_jsonl(path: Path, lines: list[str]) -> list[Document]:
    documents = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            documents.append(json_document(decode_json_line(line), f"{path}:{number}"))
        except RecordError as err:
            raise DataError(str(err), path, number) from None
    return documents


def json_document(record: dict[str, Any], origin: str) -> Document:
    """A document from one JSONL record: exactly one of ``text`` (a string) or ``tokens`` (a list)."""
    text, tokens = record.pop("text", None), record.pop("tokens", None)
    if (text is None) == (tokens is None):
        found = "both" if text is not None else f"fields {sorted(record) or 'none'}"
        raise RecordError(f"expected exactly one of 'text' (a string) or 'tokens' (a list), found {found}")
    if text is not None and not isinstance(text, str):
        raise RecordError(f"'text' must be a string, found {type(text).__name__}")
    if tokens is not None:
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t.strip() for t in tokens):
            raise RecordError("'tokens' must be a list of non-empty strings")
        tokens = tuple(tokens)
    return Document(text=text, tokens=tokens, origin=origin, extra=record)


def _read_conll(path: Path, lines: list[str]) -> list[Document]:
    """Pre-split documents; when every row ends in a tag, those tags become the gold (as IOB2).

    Gold tags let ``predict --format conll`` write ``token gold pred``, ready for
    ``multinerd score`` or conlleval.
    """
    blocks = list(conll_blocks(lines))
    rows = [[conll_columns(line) for _, line in block] for _, block in blocks]
    tagged = looks_like_conll(lines)
    scheme = detect([[columns[-1] for columns in sentence] for sentence in rows]) if tagged else None
    documents: list[Document] = []
    for (start, block), sentence in zip(blocks, rows):
        for (number, _), columns in zip(block, sentence):
            if not columns[0]:
                raise DataError("empty first column; expected a word", path, number)
        gold = None
        if scheme is not None:
            try:
                gold = tuple(to_iob2([columns[-1] for columns in sentence], scheme))
            except (SchemeError, TagError) as err:
                raise DataError(str(err), path, start) from None
        words = tuple(columns[0] for columns in sentence)
        documents.append(Document(tokens=words, gold=gold, origin=f"{path}:{start}"))
    return documents


def read_input(path: str | Path, fmt: str = "auto") -> Input:
    """The documents of a file (``-`` reads standard input); see the module docstring for formats."""
    path = Path(path)
    lines = read_text_lines(path, "an input file")
    kind, reason = input_format(path, fmt, lines)
    readers = {"text": _read_text, "jsonl": _read_jsonl, "conll": _read_conll}
    return Input(readers[kind](path, lines), kind, reason)


def documents_from_texts(texts: Sequence[str]) -> list[Document]:
    """Documents from raw texts given on the command line."""
    return [Document(text=text, origin=f"argument {i}") for i, text in enumerate(texts, start=1)]


# ---------------------------------------------------------------------------- predicting


def annotate(
    tagger: Tagger, documents: Sequence[Document], min_score: float | None = None
) -> list[list[dict[str, Any]]]:
    """Entities of every document, in order; raw texts and pre-split ones are each tagged in one batch.

    With ``min_score``, entities scoring below it are left out.
    """
    texts = [i for i, d in enumerate(documents) if d.text is not None]
    token_docs = [i for i, d in enumerate(documents) if d.tokens is not None]
    entities: list[list[dict[str, Any]]] = [[] for _ in documents]
    if texts:
        for i, found in zip(texts, tagger.predict_text([documents[i].text or "" for i in texts], min_score)):
            entities[i] = found
    if token_docs:
        sentences = [list(documents[i].tokens or ()) for i in token_docs]
        for i, found in zip(token_docs, tagger.predict_tokens(sentences, min_score)):
            entities[i] = found
    return entities


def document_words(document: Document) -> list[str]:
    """The words the Tagger sees for a document."""
    if document.tokens is not None:
        return list(document.tokens)
    return [word for word, _, _ in split_words(document.text or "")]


# ---------------------------------------------------------------------------- writing


Entities = Sequence[list[dict[str, Any]]]


def _write_jsonl(documents: Sequence[Document], entities: Entities, out: IO[str]) -> None:
    for document, found in zip(documents, entities):
        body: dict[str, Any] = {"text": document.text}
        if document.tokens is not None:
            body = {"tokens": list(document.tokens)}
        out.write(json.dumps({**document.extra, **body, "entities": found}, ensure_ascii=False) + "\n")


def _tsv_field(value: object) -> str:
    return " ".join(str(value).replace("\t", " ").splitlines()) if isinstance(value, str) else str(value)


def _write_tsv(documents: Sequence[Document], entities: Entities, out: IO[str]) -> None:
    out.write("\t".join(TSV_HEADER) + "\n")
    for index, found in enumerate(entities):
        for entity in found:
            row = [index, entity["start"], entity["end"], entity["type"], _tsv_field(entity["text"]),
                   f"{entity['score']:.4f}"]
            out.write("\t".join(_tsv_field(value) for value in row) + "\n")


def _write_conll(documents: Sequence[Document], tagger: Tagger, out: IO[str], min_score: float | None) -> int:
    """``word<TAB>pred`` (or ``word<TAB>gold<TAB>pred``): valid IOB2 written from the entities
    the same call returns in JSON, so both formats always name the same entities."""
    words = [document_words(document) for document in documents]
    n_entities = 0
    for document, sentence, (tags, scores) in zip(documents, words, tagger.predict_words_with_scores(words)):
        spans = [
            (entity_type, start, end)
            for entity_type, start, end, score in decode_entities(tags, scores)
            if min_score is None or score >= min_score
        ]
        pred = spans_to_tags(spans, len(sentence))
        gold = document.gold if document.gold is not None else (None,) * len(sentence)
        for word, gold_tag, tag in zip(sentence, gold, pred):
            out.write("\t".join([word, tag] if gold_tag is None else [word, gold_tag, tag]) + "\n")
        out.write("\n")
        n_entities += len(spans)
    return n_entities


def write_predictions(
    tagger: Tagger, documents: Sequence[Document], out: IO[str], fmt: str = "jsonl", min_score: float | None = None
) -> int:
    """Tag ``documents`` and write the predictions to ``out`` in ``fmt``; returns the number of entities.

    Every format writes the entities read from the predicted tags by
    :func:`multinerd.labels.entity_spans` in :data:`~multinerd.labels.DECODING_MODE`;
    ``conll`` writes them back as valid IOB2 tags. With ``min_score``, entities scoring below
    it are left out of every format.
    """
    if fmt not in OUTPUT_FORMATS:
        raise DataError(f"unknown output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    if fmt == "conll":
        return _write_conll(documents, tagger, out, min_score)
    entities = annotate(tagger, documents, min_score)
    (_write_jsonl if fmt == "jsonl" else _write_tsv)(documents, entities, out)
    return sum(len(found) for found in entities)
