"""``multinerd predict``, ``export`` and ``serve`` end to end on a tiny model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from conftest import save_tiny_model
from multinerd.apps.cli import EXIT_USAGE, main
from test_export import conll_source

TEXT = "Angela Merkel met the Pope in Rome."


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("cli") / "A")


def test_predict_text_arguments_print_one_json_object_per_document(model: Path, capsys) -> None:
    assert main(["predict", "--model", str(model), TEXT, "Paris"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["text"] for r in records] == [TEXT, "Paris"]
    assert any(records[0]["entities"])
    for record in records:
        for entity in record["entities"]:
            assert record["text"][entity["start"] : entity["end"]] == entity["text"]
    assert "2 documents" in captured.err


def test_predict_files_to_tsv_output_file(model: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "in.txt").write_text(f"{TEXT}\nRome\n", encoding="utf-8")
    (tmp_path / "in.jsonl").write_text(json.dumps({"tokens": ["Angela", "Merkel"]}) + "\n", encoding="utf-8")
    inputs = ["-i", str(tmp_path / "in.txt"), "-i", str(tmp_path / "in.jsonl")]
    assert main(["predict", "-m", str(model), *inputs]) == 0
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    n_entities = sum(len(record["entities"]) for record in expected)
    assert n_entities > 0  # the tiny model is biased to find entities: the rows below are not vacuous
    output = tmp_path / "out.tsv"
    assert main(["predict", "-m", str(model), *inputs, "--format", "tsv", "--output", str(output)]) == 0
    assert capsys.readouterr().out.strip() == f"3 documents, {n_entities} entities: written to {output}"
    rows = [line.split("\t") for line in output.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["doc", "start", "end", "type", "text", "score"]
    # One row per entity, in document order, each the entity the JSONL output gives.
    assert [row[:5] for row in rows[1:]] == [
        [str(doc), str(e["start"]), str(e["end"]), e["type"], e["text"]]
        for doc, record in enumerate(expected)
        for e in record["entities"]
    ]
    for row in rows[1:]:
        if row[0] in ("0", "1"):  # raw text: offsets are characters of the input line
            assert [TEXT, "Rome"][int(row[0])][int(row[1]) : int(row[2])] == row[4]


def test_predict_reads_standard_input(model: Path, monkeypatch, capsys) -> None:
    for argv in (["predict", "-m", str(model)], ["predict", "-m", str(model), "--input", "-"]):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(f"{TEXT}\nRome\n".encode())))
        assert main(argv) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [record["text"] for record in records] == [TEXT, "Rome"]


def test_predict_with_nothing_on_a_terminal_says_how_to_give_input(model: Path, monkeypatch, capsys) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    assert main(["predict", "-m", str(model)]) == EXIT_USAGE
    assert "nothing to tag: give TEXT arguments, --input FILE, or pipe text" in capsys.readouterr().err


def test_predict_empty_file_and_unwritable_output_are_one_line_errors(model: Path, tmp_path: Path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert main(["predict", "-m", str(model), "-i", str(empty)]) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"multinerd predict: error: {empty} is empty: no documents to tag"
    target = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    assert main(["predict", "-m", str(model), TEXT, "--output", str(target)]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err == f"multinerd predict: error: {target}: No such file or directory"


def test_predict_quiet_prints_results_only(model: Path, capsys) -> None:
    assert main(["predict", "-m", str(model), "-q", TEXT]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["text"] == TEXT and captured.err == ""


def test_predict_conll_in_and_out(model: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "in.conll").write_text("Angela B-PER\nMerkel I-PER\n\nRome B-LOC\n", encoding="utf-8")
    assert main(["predict", "-m", str(model), "-i", str(tmp_path / "in.conll"), "--format", "conll"]) == 0
    blocks = capsys.readouterr().out.strip("\n").split("\n\n")
    words = [[line.split("\t")[0] for line in block.splitlines()] for block in blocks]
    assert words == [["Angela", "Merkel"], ["Rome"]]


def test_predict_errors_are_one_line(model: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"txt": "typo"}\n', encoding="utf-8")
    assert main(["predict", "-m", str(model), "-i", str(tmp_path / "bad.jsonl")]) == EXIT_USAGE
    assert "bad.jsonl:2:" in capsys.readouterr().err
    assert main(["predict", "-m", str(tmp_path / "missing"), TEXT]) == EXIT_USAGE
    assert "model directory not found" in capsys.readouterr().err


def test_export_then_predict_with_onnx(model: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from multinerd.model import export

    # Thresholds any int8 of this random model meets: what is tested is the accepted path end to end.
    monkeypatch.setitem(export.MIN_ENTITY_AGREEMENT, "int8", 0.0)
    monkeypatch.setitem(export.MAX_F1_DROP, "int8", 1.0)
    output = tmp_path / "onnx"
    data = conll_source(tmp_path / "data")
    assert main(["export", "-m", str(model), "-o", str(output), "--int8", "--data", data]) == 0
    captured = capsys.readouterr()
    assert "export good" in captured.out and "refused" not in captured.err
    assert " fp32: model.onnx: entity agreement 1.0000" in captured.out
    report = json.loads((output / "parity.json").read_text(encoding="utf-8"))
    assert report["passed"] and (output / "model_int8.onnx").exists()

    assert main(["predict", "-m", str(model), "--precision", "fp32", TEXT]) == 0
    by_torch = json.loads(capsys.readouterr().out)
    assert by_torch["entities"]
    # No --backend: the export directory is recognised and its fp32 graph runs.
    assert main(["predict", "-m", str(output), TEXT]) == 0
    by_onnx = json.loads(capsys.readouterr().out)
    assert [(e["type"], e["start"], e["end"]) for e in by_onnx["entities"]] == [
        (e["type"], e["start"], e["end"]) for e in by_torch["entities"]]
    assert main(["predict", "-m", str(output), "--backend", "onnx-int8", TEXT]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == TEXT
    assert main(["predict", "-m", str(output), "--precision", "bf16", "--backend", "onnx", TEXT]) == EXIT_USAGE
    assert "precision bf16 is for the torch backend" in capsys.readouterr().err


def test_evaluate_an_export_directory_with_its_backend(model: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "onnx"
    data = conll_source(tmp_path / "data")
    status = main(["export", "-m", str(model), "-o", str(output), "--int8", "--force", "--data", data])
    parity = json.loads((output / "parity.json").read_text(encoding="utf-8"))
    assert status == (0 if parity["passed"] else 1)
    capsys.readouterr()
    scores = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        directory = model if backend == "torch" else output
        out = tmp_path / f"eval-{backend}"
        # Every split of this data holds the same sentences, and parity scores the model's own types:
        # evaluate restricted to them gives parity's figures exactly.
        argv = ["evaluate", "-m", str(directory), "--data", data, "--split", "test", "-o", str(out),
                "--set", "eval.bootstrap=0", "--restrict-to-model-types"]
        assert main([*argv, "--backend", backend] if backend == "onnx-int8" else argv) == 0
        assert "strict P" in capsys.readouterr().out
        scores[backend] = json.loads((out / "metrics.json").read_text())["strict"]["micro"]["f1"]
    assert scores["onnx"] == pytest.approx(scores["torch"], abs=1e-9)
    assert scores["torch"] == pytest.approx(parity["torch"]["strict_f1"], abs=1e-9)
    assert scores["onnx-int8"] == pytest.approx(parity["variants"]["int8"]["strict_f1"], abs=1e-9)


def test_export_fp32_only_passes(model: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "onnx"
    assert main(["export", "-m", str(model), "-o", str(output), "--data", conll_source(tmp_path / "d")]) == 0
    assert "export good" in capsys.readouterr().out
    assert not (output / "model_int8.onnx").exists()


def test_export_refusal_exits_non_zero_and_removes_or_keeps_files(model: Path, tmp_path: Path, capsys,
                                                                   monkeypatch):
    from multinerd.model import export

    # An impossible threshold stands in for a broken export: the verdict path is what is tested.
    monkeypatch.setitem(export.MIN_ENTITY_AGREEMENT, "fp32", 1.01)
    output = tmp_path / "onnx"
    assert main(["export", "-m", str(model), "-o", str(output), "--data", conll_source(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "refused: fp32: entity agreement 1.0000 is below 1.01" in err and "removed (keep with --force)" in err
    assert not (output / "model.onnx").exists() and "refused" in (output / "parity.md").read_text()
    argv = ["export", "-m", str(model), "-o", str(output), "--force", "--data", conll_source(tmp_path / "d")]
    assert main(argv) == 1
    assert "kept and marked refused (--force)" in capsys.readouterr().err
    assert (output / "model.onnx").exists() and (output / "model.onnx.REFUSED").exists()
    from multinerd.model.backends import RefusedExportWarning

    with pytest.warns(RefusedExportWarning, match="failed its parity check"):
        assert main(["predict", "-m", str(output), TEXT]) == 0


@pytest.fixture
def fake_uvicorn(monkeypatch) -> dict:
    """Replaces ``uvicorn.run`` with a recorder, so ``serve`` returns with the app it would serve."""
    calls: dict = {}

    def fake_run(app, host, port, **kwargs):
        calls.update(app=app, host=host, port=port)

    monkeypatch.setattr("uvicorn.run", fake_run)
    return calls


def test_serve_loads_named_models_and_binds_localhost(model: Path, tmp_path: Path, fake_uvicorn: dict) -> None:
    other = save_tiny_model(tmp_path / "B", labels=("O", "B-LOC", "I-LOC"), seed=1)
    assert main(["serve", "--model", str(model), "--model", f"second={other}", "--port", "8123"]) == 0
    assert (fake_uvicorn["host"], fake_uvicorn["port"]) == ("127.0.0.1", 8123)
    from fastapi.testclient import TestClient

    client = TestClient(fake_uvicorn["app"])
    assert client.get("/health").json()["models"] == ["A", "second"]  # A by its directory name
    models = {m["name"]: m for m in client.get("/models").json()["models"]}
    # Each name serves the model loaded from its own directory.
    assert models["A"]["labels"] == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"] and models["A"]["default"]
    assert models["second"]["labels"] == ["O", "B-LOC", "I-LOC"] and models["second"]["types"] == ["LOC"]
    answer = client.post("/predict", json={"text": TEXT, "model": "second"}).json()
    assert answer["model"] == "second" and {e["type"] for e in answer["entities"]} <= {"LOC"}
    by_cli = [json.loads(line) for line in _predict_lines(other, TEXT)]
    assert answer["entities"] == by_cli[0]["entities"]  # the same model, the same prediction path


def _predict_lines(model: Path, text: str) -> list[str]:
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["predict", "-m", str(model), "-q", text]) == 0
    return out.getvalue().splitlines()


def test_serve_beyond_loopback_needs_a_key_or_no_auth(model: Path, fake_uvicorn: dict, monkeypatch, capsys):
    monkeypatch.delenv("MULTINERD_API_KEY", raising=False)
    assert main(["serve", "--model", str(model), "--host", "0.0.0.0", "--port", "8124"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--host 0.0.0.0" in err and "--api-key" in err and "--no-auth" in err
    assert fake_uvicorn == {}  # refused before anything was loaded or bound
    assert main(["serve", "--model", str(model), "--host", "0.0.0.0", "--port", "8124", "--no-auth"]) == 0
    assert fake_uvicorn["host"] == "0.0.0.0"


def test_serve_api_key_from_option_or_environment(model: Path, fake_uvicorn: dict, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    for argv, env in ((["--api-key", "k1"], None), ([], "k1")):
        if env:
            monkeypatch.setenv("MULTINERD_API_KEY", env)
        assert main(["serve", "--model", str(model), "--host", "0.0.0.0", "--port", "8125", *argv]) == 0
        client = TestClient(fake_uvicorn["app"])
        assert client.post("/predict", json={"text": TEXT}).status_code == 401
        assert client.post("/predict", json={"text": TEXT}, headers={"Authorization": "Bearer k1"}).status_code == 200


def test_predict_min_score_returns_only_entities_scoring_at_least_that(model: Path, capsys) -> None:
    texts = [TEXT, "Paris and Rome and Berlin met London and Angela in Madrid."]
    assert main(["predict", "--model", str(model), *texts]) == 0
    every = [e for line in capsys.readouterr().out.splitlines() for e in json.loads(line)["entities"]]
    scores = sorted(e["score"] for e in every)
    assert len(set(scores)) > 2, "the tiny model should give entities of different scores"
    middle = scores[len(scores) // 2]
    for threshold in (0.9, middle):
        assert main(["predict", "--model", str(model), "--min-score", str(threshold), *texts]) == 0
        captured = capsys.readouterr()
        kept = [e for line in captured.out.splitlines() for e in json.loads(line)["entities"]]
        assert all(e["score"] >= threshold for e in kept)
        assert kept == [e for e in every if e["score"] >= threshold]
        assert "temperature 1.0 (uncalibrated)" in captured.err  # the tiny model has no calibration.json
    assert main(["predict", "--model", str(model), "--min-score", str(middle), "--format", "conll", TEXT]) == 0
    with pytest.raises(SystemExit) as refused:
        main(["predict", "--model", str(model), "--min-score", "1.5", TEXT])
    assert refused.value.code == EXIT_USAGE
    assert "must be between 0 and 1" in capsys.readouterr().err


def test_predict_decoding_option(model: Path, capsys) -> None:
    for decoding in ("argmax", "viterbi"):
        assert main(["predict", "--model", str(model), "--decoding", decoding, "--format", "conll", TEXT]) == 0
    with pytest.raises(SystemExit) as refused:
        main(["predict", "--model", str(model), "--decoding", "greedy", TEXT])
    assert refused.value.code == EXIT_USAGE
