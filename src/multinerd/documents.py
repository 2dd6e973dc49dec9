"""Documents in and predictions out for ``multinerd predict``: plain text, JSONL and CoNLL files.

Inputs (``read_documents``), chosen by ``fmt`` or, with ``"auto"``, by the file name:

* ``text`` (any other suffix): one document per line, raw text. Every line is a document,
  empty ones included, so output record N always belongs to input line N.
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line with a ``text`` string (raw
  text) or a ``tokens`` list of strings (pre-split words); other fields, such as an ``id``,
  are passed through to the output. Blank lines are skipped.
* ``conll`` (``.conll``, ``.iob``, ``.bio``): one word per line in the first column (tab- or
  space-separated), a blank line between sentences; ``-DOCSTART-`` lines are skipped and
  any tag columns ignored. Each sentence is one document of pre-split words.

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

Errors name the file and line (:class:`multinerd.corpus.DataError`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from multinerd.corpus import DataError
from multinerd.labels import DECODING_MODE, entity_spans, spans_to_tags
from multinerd.tagger import Tagger, split_words

INPUT_FORMATS = ("auto", "text", "jsonl", "conll")
OUTPUT_FORMATS = ("jsonl", "tsv", "conll")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".conll": "conll", ".iob": "conll", ".bio": "conll"}
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


def input_format(path: Path, fmt: str = "auto") -> str:
    """The input format to read ``path`` as: ``fmt`` itself, or guessed from the suffix for ``auto``."""
    if fmt not in INPUT_FORMATS:
        raise DataError(f"unknown input format {fmt!r}; expected one of {', '.join(INPUT_FORMATS)}", path)
    return _SUFFIXES.get(path.suffix.lower(), "text") if fmt == "auto" else fmt


def _lines(path: Path, data: bytes) -> list[str]:
    """Lines of ``data`` without their ends (a BOM and CRLF accepted); bad UTF-8 names its line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8").removesuffix("\r"))
        except UnicodeDecodeError as err:
            raise DataError(f"not UTF-8 (byte {err.start + 1} of the line)", path, number) from None
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _read_text(path: Path, lines: list[str]) -> list[Document]:
    return [Document(text=line, origin=f"{path}:{n}") for n, line in enumerate(lines, start=1)]


def _read_jsonl(path: Path, lines: list[str]) -> list[Document]:
    documents = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"not valid JSON: {err.msg} (column {err.colno})", path, number) from None
        if not isinstance(record, dict):
            found = type(record).__name__
            raise DataError(f"expected a JSON object with 'text' or 'tokens', found {found}", path, number)
        text, tokens = record.pop("text", None), record.pop("tokens", None)
        origin = f"{path}:{number}"
        if (text is None) == (tokens is None):
            found = "both" if text is not None else f"fields {sorted(record) or 'none'}"
            raise DataError(f"expected exactly one of 'text' (a string) or 'tokens' (a list), found {found}",
                            path, number)
        if text is not None and not isinstance(text, str):
            raise DataError(f"'text' must be a string, found {type(text).__name__}", path, number)
        if tokens is not None:
            if not isinstance(tokens, list) or not all(isinstance(t, str) and t.strip() for t in tokens):
                raise DataError("'tokens' must be a list of non-empty strings", path, number)
            tokens = tuple(tokens)
        documents.append(Document(text=text, tokens=tokens, origin=origin, extra=record))
    return documents


def _read_conll(path: Path, lines: list[str]) -> list[Document]:
    documents: list[Document] = []
    words: list[str] = []
    start = 1
    for number, line in enumerate([*lines, ""], start=1):
        if not line.strip():
            if words:
                documents.append(Document(tokens=tuple(words), origin=f"{path}:{start}"))
            words = []
            continue
        word = line.split("\t")[0].strip() if "\t" in line else line.split()[0]
        if not word:
            raise DataError("empty first column; expected a word", path, number)
        if word == "-DOCSTART-":
            continue
        if not words:
            start = number
        words.append(word)
    return documents


def read_documents(path: str | Path, fmt: str = "auto") -> list[Document]:
    """The documents of a file (``-`` reads standard input); see the module docstring for formats."""
    import sys

    path = Path(path)
    kind = input_format(path, fmt)
    if str(path) == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError("input file not found", path) from None
        except IsADirectoryError:
            raise DataError("is a directory; expected an input file", path) from None
    readers = {"text": _read_text, "jsonl": _read_jsonl, "conll": _read_conll}
    return readers[kind](path, _lines(path, data))


def documents_from_texts(texts: Sequence[str]) -> list[Document]:
    """Documents from raw texts given on the command line."""
    return [Document(text=text, origin=f"argument {i}") for i, text in enumerate(texts, start=1)]


# ---------------------------------------------------------------------------- predicting


def annotate(tagger: Tagger, documents: Sequence[Document]) -> list[list[dict[str, Any]]]:
    """Entities of every document, in order; raw texts and pre-split ones are each tagged in one batch."""
    texts = [i for i, d in enumerate(documents) if d.text is not None]
    token_docs = [i for i, d in enumerate(documents) if d.tokens is not None]
    entities: list[list[dict[str, Any]]] = [[] for _ in documents]
    if texts:
        for i, found in zip(texts, tagger.predict_text([documents[i].text or "" for i in texts])):
            entities[i] = found
    if token_docs:
        sentences = [list(documents[i].tokens or ()) for i in token_docs]
        for i, found in zip(token_docs, tagger.predict_tokens(sentences)):
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


def _write_conll(documents: Sequence[Document], tagger: Tagger, out: IO[str]) -> int:
    """``word<TAB>pred`` (or ``word<TAB>gold<TAB>pred``): valid IOB2 written from the entities
    the same call returns in JSON, so both formats always name the same entities."""
    words = [document_words(document) for document in documents]
    n_entities = 0
    for document, sentence, tags in zip(documents, words, tagger.predict_words(words)):
        spans = entity_spans(tags, DECODING_MODE)
        pred = spans_to_tags(spans, len(sentence))
        gold = document.gold if document.gold is not None else (None,) * len(sentence)
        for word, gold_tag, tag in zip(sentence, gold, pred):
            out.write("\t".join([word, tag] if gold_tag is None else [word, gold_tag, tag]) + "\n")
        out.write("\n")
        n_entities += len(spans)
    return n_entities


def write_predictions(tagger: Tagger, documents: Sequence[Document], out: IO[str], fmt: str = "jsonl") -> int:
    """Tag ``documents`` and write the predictions to ``out`` in ``fmt``; returns the number of entities.

    Every format writes the entities read from the predicted tags by
    :func:`multinerd.labels.entity_spans` in :data:`~multinerd.labels.DECODING_MODE`;
    ``conll`` writes them back as valid IOB2 tags.
    """
    if fmt not in OUTPUT_FORMATS:
        raise DataError(f"unknown output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    if fmt == "conll":
        return _write_conll(documents, tagger, out)
    entities = annotate(tagger, documents)
    (_write_jsonl if fmt == "jsonl" else _write_tsv)(documents, entities, out)
    return sum(len(found) for found in entities)
