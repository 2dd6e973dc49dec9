"""``predict-corpus``'s files without Ray: finding inputs, reading rows (bad ones included), shards;
and no command but ``predict-corpus`` imports Ray."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import save_tiny_model
from multinerd.apps.corpus_files import (
    ReadOptions,
    UnreadableFile,
    find_inputs,
    read_rows,
    read_shards,
    shard_name,
    write_shard,
)
from multinerd.data.readers import DataError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "multinerd"


def test_inputs_from_directories_globs_and_files_in_a_stable_order(tmp_path):
    for name in ("b.txt", "a.jsonl", "sub/c.parquet", ".hidden/x.txt", ".y.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    found = find_inputs([str(tmp_path), str(tmp_path / "*.txt"), str(tmp_path / "b.txt")])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.jsonl", "b.txt", "sub/c.parquet"]
    with pytest.raises(DataError, match="no such file"):
        find_inputs([str(tmp_path / "missing.txt")])
    with pytest.raises(DataError, match="matches no file"):
        find_inputs([str(tmp_path / "*.csv")])


def _by_line(rows):
    return {row["line"]: row for row in rows}


def test_text_lines_bad_bytes_and_empty_lines_become_error_rows(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_bytes(b"Angela Merkel met the Pope.\n\xff bad\n   \nlast\n")
    rows = _by_line(read_rows(path, ReadOptions()))
    assert rows[1]["kind"] == "text" and rows[1]["text"] == "Angela Merkel met the Pope."
    assert rows[1]["id"] == f"{path}:1"
    assert rows[2]["kind"] == "error" and rows[2]["reason"].startswith("not UTF-8")
    assert rows[3]["kind"] == "error" and rows[3]["reason"] == "empty document"
    assert rows[4]["text"] == "last" and len(rows) == 4


def test_jsonl_records_ids_tokens_and_faults(tmp_path):
    path = tmp_path / "docs.jsonl"
    lines = ['{"id": 7, "text": "Ada"}', "", '{"text": ', '{"tokens": ["Ada", "Lovelace"]}', '{"text": ""}',
             '{"id": 9, "words": []}']  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    rows = _by_line(read_rows(path, ReadOptions(id_column="id")))
    assert rows[1]["id"] == "7" and rows[1]["text"] == "Ada"
    assert 2 not in rows  # a blank line is no document, as in predict
    assert rows[3]["kind"] == "error" and "malformed JSON" in rows[3]["reason"]
    assert rows[4]["kind"] == "tokens" and json.loads(rows[4]["tokens"]) == ["Ada", "Lovelace"]
    assert rows[5]["reason"] == "empty document"
    assert rows[6]["id"] == "9" and "exactly one of 'text'" in rows[6]["reason"]


def test_parquet_text_column_ids_nulls_and_unreadable_files(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"body": ["Rome.", None, " "], "key": ["a", "b", "c"]}), path)
    rows = read_rows(path, ReadOptions(text_column="body", id_column="key"))
    assert [(r["id"], r["kind"]) for r in rows] == [("a", "text"), ("b", "error"), ("c", "error")]
    assert rows[0]["line"] == 1 and "None, not a string" in rows[1]["reason"]
    with pytest.raises(UnreadableFile, match=r"no column 'text' \(columns: body, key\)"):
        read_rows(path, ReadOptions())
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(UnreadableFile, match="not a readable Parquet file"):
        read_rows(broken, ReadOptions())


def test_conll_sentences_are_documents_and_a_fault_makes_the_file_unreadable(tmp_path):
    path = tmp_path / "docs.conll"
    path.write_text("Ada\tB-PER\nLovelace\tI-PER\n\nRome\tB-LOC\n")
    rows = read_rows(path, ReadOptions())
    assert [(r["line"], json.loads(r["tokens"])) for r in rows] == [(1, ["Ada", "Lovelace"]), (4, ["Rome"])]
    path.write_bytes(b"Ada\tB-PER\n\xff\tO\n")
    with pytest.raises(UnreadableFile, match="not UTF-8"):
        read_rows(path, ReadOptions())


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_shards_are_written_whole_under_their_name(tmp_path, fmt):
    rows = [{"id": "f:1", "file": "f", "line": 1, "input": "text", "words": 2,
             "entities": [{"text": "Ada", "type": "PER", "start": 0, "end": 3, "score": 0.5}],
             "model": "m", "backend": "torch"}]  # fmt: skip
    target = tmp_path / "predictions" / shard_name("in/a.txt", fmt)
    write_shard(target, rows, fmt)
    assert read_shards(tmp_path / "predictions") == rows
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left
    assert shard_name("in/a.txt", fmt) != shard_name("other/a.txt", fmt)


def test_only_predict_corpus_imports_ray():
    """Read from the source: no module but corpus_predict imports Ray, at any level."""
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
            if any(name == "ray" or name.startswith("ray.") for name in names):
                importers.add(path.stem)
    assert importers == {"corpus_predict"}


@pytest.mark.slow
def test_other_commands_never_import_ray(tmp_path):
    model = save_tiny_model(tmp_path / "model")
    code = (
        "import sys\n"
        "from multinerd.apps.cli import build_parser, main\n"
        f"assert main(['predict', '--model', {str(model)!r}, 'Ada lived in Rome.']) == 0\n"
        "build_parser().parse_args(['predict-corpus', '--model', 'm', '--input', 'x', '--output', 'o'])\n"
        "import multinerd.apps.corpus_files\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
