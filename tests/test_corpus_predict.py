"""``multinerd predict-corpus`` on a real (local) Ray: one row per document, valid offsets, the same
entities as ``predict``, bad input as error rows, kill -9 and rerun equal to a clean run.

Every test shares one local Ray for the session (``ray.init(num_cpus=2)`` once, a small object
store), as Ray's testing advice says; the killed run joins it with ``--address``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip(
    "ray", reason="Ray is the scale extra: pip install -e '.[scale]' (make test installs it)"
)

from conftest import save_tiny_model
from multinerd.apps.cli import main
from multinerd.apps.corpus_files import read_manifest, read_shards, write_json

WORDS = ["Angela", "Merkel", "met", "the", "Pope", "in", "Rome", "Paris", "Google", "bought", "a", "café", "ünïcode",
         "New", "York", "yesterday", ",", "and", "U.S.", "Merkel's", "well-known", "😀"]  # fmt: skip
LINES_PER_FILE = 300


@pytest.fixture(scope="session")
def ray_address():
    """One local Ray for every test of the session; its address lets a subprocess join it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_worker_niceness", "0")  # as predict-corpus's own local Ray
    ray.init(
        address="local",
        num_cpus=2,
        object_store_memory=200 * 1024**2,
        include_dashboard=False,
        log_to_driver=False,
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 25)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A model and a directory of every input kind, bad records included; ``texts``/``tokens`` by id."""
    root = tmp_path_factory.mktemp("corpus")
    model = save_tiny_model(root / "model")
    rng = random.Random(0)
    data = root / "in"
    data.mkdir()
    texts, tokens, errors = {}, {}, {}
    for n in range(4):
        lines = [_sentence(rng) for _ in range(LINES_PER_FILE)]
        path = data / f"part{n}.txt"
        raw = [line.encode() for line in lines]
        if n == 0:
            raw[4], raw[9] = b"bad \xff byte", b""
            errors[f"{path}:5"], errors[f"{path}:10"] = "not UTF-8", "empty document"
        path.write_bytes(b"\n".join(raw) + b"\n")
        texts.update(
            {f"{path}:{i}": line for i, line in enumerate(lines, start=1) if f"{path}:{i}" not in errors}
        )
    jsonl = data / "records.jsonl"
    records = ['{"text": "Ada Lovelace lived in London."}', '{"text": ', '{"tokens": ["Ada", "Lovelace"]}']
    jsonl.write_text("\n".join(records) + "\n")
    texts[f"{jsonl}:1"], errors[f"{jsonl}:2"] = "Ada Lovelace lived in London.", "malformed JSON"
    tokens[f"{jsonl}:3"] = ["Ada", "Lovelace"]
    conll = data / "words.conll"
    conll.write_text("Angela\tB-PER\nMerkel\tI-PER\n\nRome\tB-LOC\n.\tO\n")
    tokens[f"{conll}:1"], tokens[f"{conll}:4"] = ["Angela", "Merkel"], ["Rome", "."]
    bodies = [_sentence(rng) for _ in range(50)] + [None]
    keys = [f"k{i}" for i in range(len(bodies))]
    pq.write_table(pa.table({"body": bodies, "key": keys}), data / "table.parquet")
    texts.update({key: body for key, body in zip(keys, bodies) if body is not None})
    errors["k50"] = "not a string"
    return {"model": model, "input": data, "texts": texts, "tokens": tokens, "errors": errors, "root": root}


def _command(corpus, output: Path, *extra: str) -> list[str]:
    return ["predict-corpus", "--model", str(corpus["model"]), "--input", str(corpus["input"]), "--output",
            str(output), "--text-column", "body", "--id-column", "key", "--actors", "1", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def clean(corpus, ray_address, tmp_path_factory):
    output = tmp_path_factory.mktemp("clean") / "out"
    status = main(_command(corpus, output))
    return {"status": status, "output": output}


def _rows(output: Path, kind: str = "predictions") -> list[dict]:
    return sorted(read_shards(output / kind), key=lambda row: row["id"])


def _spans(entities: list[dict]) -> list[tuple]:
    return [(e["type"], e["start"], e["end"], e["text"]) for e in entities]


def _predict(corpus, lines: list[str], name: str, *options: str) -> list[list[dict]]:
    source, target = corpus["root"] / f"{name}.in", corpus["root"] / f"{name}.out.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = ["predict", "--model", str(corpus["model"]), "--input", str(source), "--output", str(target)]
    assert main([*command, *options]) == 0
    return [json.loads(line)["entities"] for line in target.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_one_row_per_document_valid_offsets_and_the_entities_of_predict(corpus, clean, capsys):
    assert clean["status"] == 0  # only bad records failed, no whole file
    listed = _rows(clean["output"])
    rows = {row["id"]: row for row in listed}
    errors = {row["id"]: row["reason"] for row in _rows(clean["output"], "errors")}
    assert len(rows) == len(listed)  # ids are unique
    assert set(rows) == set(corpus["texts"]) | set(corpus["tokens"])  # no gaps, no extras
    assert set(errors) == set(corpus["errors"])  # every bad record is an error row, none skipped
    assert all(reason in errors[key] for key, reason in corpus["errors"].items()), errors
    for key, row in rows.items():
        assert row["model"] == str(corpus["model"]) and row["backend"] == "torch"
        if key in corpus["texts"]:
            assert row["input"] == "text"
            assert all(e["text"] == corpus["texts"][key][e["start"] : e["end"]] for e in row["entities"]), key
        else:
            words = corpus["tokens"][key]
            assert all(e["text"] == " ".join(words[e["start"] : e["end"]]) for e in row["entities"]), key
    text_ids = sorted(corpus["texts"])
    expected = _predict(corpus, [corpus["texts"][key] for key in text_ids], "texts")
    expected += _predict(corpus, [json.dumps({"tokens": corpus["tokens"][k]}) for k in sorted(corpus["tokens"])],
                         "tokens.jsonl")  # fmt: skip
    ours = [rows[key]["entities"] for key in [*text_ids, *sorted(corpus["tokens"])]]
    assert [_spans(found) for found in ours] == [_spans(found) for found in expected]
    scores = [e["score"] for found in ours for e in found]
    assert scores == pytest.approx([e["score"] for found in expected for e in found], abs=1e-5)
    assert sum(len(found) for found in ours) > 100  # the tiny model does find entities
    summary = json.loads((clean["output"] / "summary.json").read_text())
    assert summary["documents"] == len(rows) and summary["errors"] == len(errors) == 4
    assert summary["actors"] == 1 and summary["actor_processes"] == 1  # the model loaded in one actor
    assert summary["words"] == sum(row["words"] for row in rows.values())


@pytest.mark.slow
def test_decoding_and_min_score_reach_the_actors_and_the_manifest(corpus, clean, ray_address, tmp_path):
    """The same choices ``predict`` takes: argmax decoding and a score floor give predict's entities."""
    data, output = tmp_path / "in", tmp_path / "out"
    data.mkdir()
    part = corpus["input"] / "part1.txt"
    (data / "part1.txt").write_bytes(part.read_bytes())
    lines = part.read_text(encoding="utf-8").splitlines()
    clean_rows = {row["id"]: row for row in _rows(clean["output"])}
    unfiltered = [e["score"] for i in range(1, len(lines) + 1) for e in clean_rows[f"{part}:{i}"]["entities"]]
    floor = round(sorted(unfiltered)[len(unfiltered) // 2], 4)  # the tiny model's median: keeps about half
    choices = ("--decoding", "argmax", "--min-score", str(floor))
    command = ["predict-corpus", "--model", str(corpus["model"]), "--input", str(data), "--output", str(output),
               "--actors", "1", *choices]  # fmt: skip
    assert main(command) == 0
    manifest = read_manifest(output)
    assert manifest["settings"]["decoding"] == "argmax" and manifest["settings"]["min_score"] == floor
    rows = sorted(read_shards(output / "predictions"), key=lambda row: int(row["id"].rsplit(":", 1)[1]))
    ours = [row["entities"] for row in rows]
    expected = _predict(corpus, lines, "floor", *choices)
    assert [_spans(found) for found in ours] == [_spans(found) for found in expected]
    kept = [e["score"] for found in ours for e in found]
    assert kept and min(kept) >= floor
    assert len(kept) < len(unfiltered)  # the floor dropped entities: the check is not vacuous


@pytest.mark.e2e
@pytest.mark.slow
def test_a_killed_run_reruns_to_exactly_the_clean_output(corpus, clean, ray_address, tmp_path):
    output = tmp_path / "out"
    command = [sys.executable, "-m", "multinerd.apps.cli", *_command(corpus, output, "--address", ray_address)]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and run.poll() is None:
        manifest = read_manifest(output) if (output / "manifest.json").exists() else None
        if manifest and manifest["done"]:
            break
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    done = read_manifest(output)["done"]
    assert 1 <= len(done) < 7, f"the kill should land mid-run; finished files: {len(done)}"
    assert main(_command(corpus, output)) == 0  # the same command (on this process's Ray) continues
    assert _rows(output) == _rows(clean["output"])
    assert _rows(output, "errors") == _rows(clean["output"], "errors")
    assert read_manifest(output)["complete"] is True


@pytest.mark.slow
def test_an_unreadable_file_exits_non_zero_and_is_retried_never_skipped(
    corpus, ray_address, tmp_path, capsys
):
    data, output = tmp_path / "in", tmp_path / "out"
    data.mkdir()
    (data / "good.txt").write_text("Angela Merkel met the Pope in Rome.\n")
    (data / "broken.parquet").write_bytes(b"not parquet")
    command = ["predict-corpus", "--model", str(corpus["model"]), "--input", str(data), "--output", str(output),
               "--format", "jsonl"]  # fmt: skip
    assert main(command) == 1
    err = capsys.readouterr().err
    assert f"unreadable file, no shard (rerun the same command once fixed): {data / 'broken.parquet'}" in err
    assert len(read_shards(output / "predictions")) == 1 and read_manifest(output)["complete"] is False
    (data / "broken.parquet").unlink()
    assert main(command) == 0
    assert read_manifest(output)["complete"] is True
    assert main(command) == 2  # a finished output is not replaced silently
    assert "a finished predict-corpus output; pass --overwrite" in capsys.readouterr().err
    assert [p.suffix for p in (output / "predictions").iterdir()] == [".jsonl"]


SETTINGS = {"model": "m", "backend": "torch", "format": "parquet"}


def test_output_refused_continued_or_replaced_as_the_manifest_says(tmp_path):
    from multinerd.apps.corpus_predict import prepare_output
    from multinerd.model.outputs import OutputExistsError

    output = tmp_path / "out"
    manifest = prepare_output(output, SETTINGS, overwrite=False)
    manifest["done"]["a.txt"] = {"shard": "a"}
    write_json(output / "manifest.json", manifest)
    (output / "predictions").mkdir()
    (output / "predictions" / ".a.parquet.tmp").write_text("half")
    assert prepare_output(output, SETTINGS, overwrite=False)["done"] == {"a.txt": {"shard": "a"}}  # continued
    assert not (output / "predictions" / ".a.parquet.tmp").exists()  # a killed run's half shard is gone
    with pytest.raises(OutputExistsError, match=r"a partial run with other settings \(model\)"):
        prepare_output(output, SETTINGS | {"model": "other"}, overwrite=False)
    write_json(output / "manifest.json", manifest | {"complete": True})
    with pytest.raises(OutputExistsError, match="a finished predict-corpus output; pass --overwrite"):
        prepare_output(output, SETTINGS, overwrite=False)
    (output / "predictions" / "a.parquet").write_text("old")
    assert prepare_output(output, SETTINGS, overwrite=True)["done"] == {}
    assert not (output / "predictions").exists()
    (output / "manifest.json").unlink()
    (output / "errors").mkdir()
    with pytest.raises(OutputExistsError, match="holds shards but no manifest.json"):
        prepare_output(output, SETTINGS, overwrite=False)
