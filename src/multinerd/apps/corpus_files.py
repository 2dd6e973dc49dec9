"""Files of ``multinerd predict-corpus``: finding inputs, reading them into rows, shards and the manifest.

Nothing here imports Ray: the Ray side (:mod:`multinerd.apps.corpus_predict`) calls these
functions inside its tasks and in the driver, and the tests check them without a cluster.

**Inputs.** ``--input`` takes directories (every file below them, hidden ones left out),
globs and files. Each file is one *unit*: read whole, tagged, written as one shard, and
recorded in the manifest once its shard is in place. Formats: ``.parquet`` (a text column,
``--text-column``), else what ``predict`` reads (plain text one document a line, JSONL with
``text`` or ``tokens``, CoNLL), told apart as :func:`multinerd.apps.documents.input_format` does.

**Bad input does not stop a corpus.** An undecodable line, an empty document, a malformed
JSON record or a Parquet null becomes an *error row* ``(id, file, line, reason)``; only a
file that cannot be read at all (missing, not Parquet, no such column, a CoNLL file with a
fault) is an :class:`UnreadableFile`, and that file gets no shard.

**Ids.** The input's own id column (``--id-column``) where a record has it, else
``FILE:LINE`` (Parquet: ``FILE:ROW``, counted from 1; CoNLL: the sentence's first line).

**Shards.** ``OUT/predictions/NAME`` and, when a file had bad records, ``OUT/errors/NAME``,
each written under a temporary name and renamed into place, then the manifest
(``OUT/manifest.json``, also replaced by rename) records the file as done. A run killed at
any point leaves either a finished shard or none; a rerun redoes only what the manifest
does not list, and a shard written but not yet listed is simply written again.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multinerd.apps.documents import input_format, json_document, read_input
from multinerd.data.readers import DataError, RecordError, decode_json_line, decode_lines

OUTPUT_FORMATS = ("parquet", "jsonl")
PREDICTIONS_DIR = "predictions"
ERRORS_DIR = "errors"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
TMP_SUFFIX = ".tmp"


class UnreadableFile(DataError):
    """A whole input file that cannot be read: the run goes on without it and exits non-zero."""


# ---------------------------------------------------------------------------- finding inputs


def find_inputs(specs: Sequence[str]) -> list[Path]:
    """The input files named by directories, globs and files, in a stable order without repeats."""
    found: dict[Path, None] = {}
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(spec):
            matches = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        else:
            raise DataError("no such file or directory", spec)
        if not matches:
            raise DataError("matches no file", spec)
        found.update(dict.fromkeys(matches))
    return list(found)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


# ---------------------------------------------------------------------------- reading rows


@dataclass(frozen=True)
class ReadOptions:
    """How input files are read: the Parquet text column, the id column, the text format."""

    text_column: str = "text"
    id_column: str | None = None
    #: ``auto``, ``text``, ``jsonl`` or ``conll`` (Parquet goes by its suffix).
    input_format: str = "auto"


def _row(file: str, line: int, doc_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """One row between the reading and tagging stages: every column a string or an int, so every
    block has one schema. ``kind`` is ``text``, ``tokens`` or ``error`` (then ``reason`` says why)."""
    row = {"id": doc_id or f"{file}:{line}", "file": file, "line": line, "kind": "text", "text": "",
           "tokens": "", "reason": ""}  # fmt: skip
    row.update(fields)
    return row


def _error(file: str, line: int, reason: str, doc_id: str | None = None) -> dict[str, Any]:
    return _row(file, line, doc_id, kind="error", reason=reason)


def _text_rows(file: str, lines: list[str], bad: dict[int, str]) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if number in bad:
            rows.append(_error(file, number, f"not UTF-8: {bad[number]}"))
        elif not line.strip():
            rows.append(_error(file, number, "empty document"))
        else:
            rows.append(_row(file, number, text=line))
    return rows


def _record_id(record: dict[str, Any], id_column: str | None) -> str | None:
    value = record.get(id_column) if id_column else None
    return None if value is None else str(value)


def _jsonl_rows(
    file: str, lines: list[str], bad: dict[int, str], id_column: str | None
) -> list[dict[str, Any]]:
    """One row per non-blank line (blank lines separate nothing and are no document, as in ``predict``)."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if number in bad:
            rows.append(_error(file, number, f"not UTF-8: {bad[number]}"))
            continue
        if not line.strip():
            continue
        doc_id = None
        try:
            record = decode_json_line(line)
            doc_id = _record_id(record, id_column)
            document = json_document(record, f"{file}:{number}")
        except RecordError as err:
            rows.append(_error(file, number, str(err), doc_id))
            continue
        if document.tokens is not None:
            rows.append(_row(file, number, doc_id, kind="tokens", tokens=json.dumps(list(document.tokens))))
        elif not (document.text or "").strip():
            rows.append(_error(file, number, "empty document", doc_id))
        else:
            rows.append(_row(file, number, doc_id, text=document.text))
    return rows


def _conll_rows(path: Path) -> list[dict[str, Any]]:
    """CoNLL sentences as pre-split documents; a fault in a CoNLL file makes the whole file unreadable,
    since a broken line breaks the sentence structure around it."""
    try:
        documents = read_input(path, "conll").documents
    except DataError as err:
        raise UnreadableFile(err.message, err.path, err.line) from None
    rows = []
    for document in documents:
        line = int(document.origin.rsplit(":", 1)[1])
        rows.append(_row(str(path), line, kind="tokens", tokens=json.dumps(list(document.tokens or ()))))
    return rows


def _parquet_rows(path: Path, options: ReadOptions) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    file = str(path)
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise UnreadableFile(f"not a readable Parquet file ({type(err).__name__}: {err})", path) from None
    wanted = [options.text_column] + ([options.id_column] if options.id_column else [])
    missing = [name for name in wanted if name not in names]
    if missing:
        raise UnreadableFile(
            f"no column {missing[0]!r} (columns: {', '.join(names)}); see --text-column", path
        )
    table = pq.read_table(path, columns=list(dict.fromkeys(wanted)))
    texts = table.column(options.text_column).to_pylist()
    ids = table.column(options.id_column).to_pylist() if options.id_column else [None] * len(texts)
    rows = []
    for number, (text, doc_id) in enumerate(zip(texts, ids), start=1):
        key = None if doc_id is None else str(doc_id)
        if not isinstance(text, str):
            rows.append(_error(file, number, f"{options.text_column!r} is {text!r}, not a string", key))
        elif not text.strip():
            rows.append(_error(file, number, "empty document", key))
        else:
            rows.append(_row(file, number, key, text=text))
    return rows


def read_rows(path: str | Path, options: ReadOptions) -> list[dict[str, Any]]:
    """Every document (or error row) of one input file, in file order; :class:`UnreadableFile` if none can be read."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return _parquet_rows(path, options)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UnreadableFile(err.strerror or str(err), path) from None
    lines, bad = decode_lines(data)
    try:
        kind, _ = input_format(path, options.input_format, lines)
    except DataError as err:
        raise UnreadableFile(err.message, path) from None
    if kind == "conll":
        return _conll_rows(path)
    if kind == "jsonl":
        return _jsonl_rows(str(path), lines, bad, options.id_column)
    return _text_rows(str(path), lines, bad)


# ---------------------------------------------------------------------------- shards


def shard_name(path: str | Path, fmt: str) -> str:
    """The shard of an input file: its name (made safe) and a hash of its path, so two ``a.txt`` differ."""
    digest = hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).name)[:60]
    return f"{stem}-{digest}.{fmt}"


def _entity_type() -> Any:
    import pyarrow as pa

    return pa.struct([("text", pa.string()), ("type", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                      ("score", pa.float64())])  # fmt: skip


def _schema(kind: str) -> Any:
    import pyarrow as pa

    if kind == ERRORS_DIR:
        return pa.schema(
            [("id", pa.string()), ("file", pa.string()), ("line", pa.int64()), ("reason", pa.string())]
        )
    return pa.schema([
        ("id", pa.string()), ("file", pa.string()), ("line", pa.int64()),
        ("input", pa.string()), ("words", pa.int64()), ("entities", pa.list_(_entity_type())),
        ("model", pa.string()), ("backend", pa.string()),
    ])  # fmt: skip


def write_shard(path: Path, rows: list[dict[str, Any]], fmt: str, kind: str = PREDICTIONS_DIR) -> None:
    """``rows`` into ``path`` in ``fmt`` (``parquet`` or ``jsonl``), atomically: a temporary file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}{TMP_SUFFIX}")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows, schema=_schema(kind)), temporary)
    elif fmt == "jsonl":
        with temporary.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise DataError(f"unknown output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    os.replace(temporary, path)


def read_shards(directory: Path) -> list[dict[str, Any]]:
    """Every row of every shard in ``directory`` (Parquet or JSONL), for tests and checks."""
    rows: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*")):
        if path.name.startswith("."):
            continue
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows += pq.read_table(path).to_pylist()
        else:
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def remove_temporaries(output: Path) -> None:
    """Half-written shards a killed run left behind (never listed in the manifest)."""
    for kind in (PREDICTIONS_DIR, ERRORS_DIR):
        for path in (output / kind).glob(f".*{TMP_SUFFIX}"):
            path.unlink()


# ---------------------------------------------------------------------------- the manifest


def write_json(path: Path, data: dict[str, Any]) -> None:
    """A JSON file replaced in one rename, so a reader sees the old one or the new one, never half."""
    temporary = path.with_name(f".{path.name}{TMP_SUFFIX}")
    temporary.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_manifest(output: Path) -> dict[str, Any] | None:
    path = output / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
