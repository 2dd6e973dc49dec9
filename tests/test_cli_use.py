"""``multinerd predict``, ``export`` and ``serve`` end to end on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import save_tiny_model
from multinerd import server
from multinerd.cli import EXIT_USAGE, main
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
    output = tmp_path / "out.tsv"
    argv = ["predict", "-m", str(model), "-i", str(tmp_path / "in.txt"), "-i", str(tmp_path / "in.jsonl"),
            "--format", "tsv", "--output", str(output)]
    assert main(argv) == 0
    rows = [line.split("\t") for line in output.read_text(encoding="utf-8").splitlines()]
    assert rows[0][0] == "doc"
    assert {row[0] for row in rows[1:]} <= {"0", "1", "2"}
    assert "3 documents" in capsys.readouterr().out


def test_predict_conll_in_and_out(model: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "in.conll").write_text("Angela B-PER\nMerkel I-PER\n\nRome B-LOC\n", encoding="utf-8")
    assert main(["predict", "-m", str(model), "-i", str(tmp_path / "in.conll"), "--format", "conll"]) == 0
    blocks = capsys.readouterr().out.strip("\n").split("\n\n")
    words = [[line.split("\t")[0] for line in block.splitlines()] for block in blocks]
    assert words == [["Angela", "Merkel"], ["Rome"]]


def test_predict_errors_are_one_line(model: Path, tmp_path: Path, capsys) -> None:
    assert main(["predict", "-m", str(model)]) == EXIT_USAGE
    assert "nothing to tag" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"txt": "typo"}\n', encoding="utf-8")
    assert main(["predict", "-m", str(model), "-i", str(tmp_path / "bad.jsonl")]) == EXIT_USAGE
    assert "bad.jsonl:2:" in capsys.readouterr().err
    assert main(["predict", "-m", str(tmp_path / "missing"), TEXT]) == EXIT_USAGE
    assert "model directory not found" in capsys.readouterr().err


def test_export_then_predict_with_onnx(model: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "onnx"
    data = conll_source(tmp_path / "data")
    assert main(["export", "-m", str(model), "-o", str(output), "--int8", "--data", data]) in (0, 1)
    captured = capsys.readouterr()
    assert (output / "parity.json").exists() and (output / "model_int8.onnx").exists()
    report = json.loads((output / "parity.json").read_text(encoding="utf-8"))
    assert report["variants"]["fp32"]["passed"]
    # The verdict printed matches the report: int8 on a random model may or may not pass.
    assert ("export good" in captured.out) == report["passed"]
    assert ("export refused" in captured.err) == (not report["passed"])

    assert main(["predict", "-m", str(model), TEXT]) == 0
    by_torch = json.loads(capsys.readouterr().out)
    assert main(["predict", "-m", str(output), "--backend", "onnx", TEXT]) == 0
    by_onnx = json.loads(capsys.readouterr().out)
    assert [(e["type"], e["start"], e["end"]) for e in by_onnx["entities"]] == [
        (e["type"], e["start"], e["end"]) for e in by_torch["entities"]]


def test_export_fp32_only_passes(model: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "onnx"
    assert main(["export", "-m", str(model), "-o", str(output), "--data", conll_source(tmp_path / "d")]) == 0
    assert "export good" in capsys.readouterr().out
    assert not (output / "model_int8.onnx").exists()


def test_export_refusal_exits_non_zero_and_keeps_files(model: Path, tmp_path: Path, capsys, monkeypatch):
    from multinerd import export

    # An impossible threshold stands in for a broken export: the verdict path is what is tested.
    monkeypatch.setitem(export.MIN_AGREEMENT, "fp32", 1.01)
    output = tmp_path / "onnx"
    assert main(["export", "-m", str(model), "-o", str(output), "--data", conll_source(tmp_path / "d")]) == 1
    assert "export refused: fp32: sentence agreement 1.0000 is below 1.01" in capsys.readouterr().err
    assert (output / "model.onnx").exists() and "FAILED" in (output / "parity.md").read_text(encoding="utf-8")


def test_serve_loads_named_models_and_binds_localhost(model: Path, monkeypatch) -> None:
    calls = {}

    def fake_run(app, host, port):
        calls.update(app=app, host=host, port=port)

    monkeypatch.setattr("uvicorn.run", fake_run)
    assert main(["serve", "--model", str(model), "--model", f"B={model}", "--port", "8123"]) == 0
    assert (calls["host"], calls["port"]) == ("127.0.0.1", 8123)
    from fastapi.testclient import TestClient

    client = TestClient(calls["app"])
    assert client.get("/health").json()["models"] == ["A", "B"]
    assert client.post("/predict", json={"text": TEXT, "model": "B"}).json()["model"] == "B"
    assert server.STATIC_DIR.joinpath("index.html").exists()
