"""Finished outputs are never replaced silently: train, run and export refuse them without a flag."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import save_tiny_model
from multinerd.apps.cli import EXIT_USAGE, main
from multinerd.model.outputs import OutputExistsError, check_output, finished_outputs


def _finished_model(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "multinerd.yaml").write_text("scheme: {}\n")
    return path


def test_partial_outputs_of_a_killed_run_are_not_finished(tmp_path):
    (tmp_path / ".work" / "A" / "checkpoints" / "checkpoint-6").mkdir(parents=True)
    (tmp_path / "A").mkdir()  # an empty directory: no model was published
    assert finished_outputs(tmp_path, "run") == []
    assert finished_outputs(tmp_path / "A", "model") == []
    check_output(tmp_path, "run")
    check_output(tmp_path / "A", "model")


def test_finished_model_run_and_export_are_refused_with_the_ways_on(tmp_path):
    model = _finished_model(tmp_path / "run" / "B")
    with pytest.raises(OutputExistsError, match=r"B is a finished model .*--resume.*--overwrite"):
        check_output(model, "model")
    with pytest.raises(OutputExistsError, match="finished run"):
        check_output(tmp_path / "run", "run")
    export = tmp_path / "onnx"
    export.mkdir()
    (export / "model.onnx").write_text("")
    check_output(export, "export")  # no parity.json yet: the export did not finish
    (export / "parity.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="finished export already; pass --overwrite"):
        check_output(export, "export")
    check_output(export, "export", overwrite=True)
    (export / "model.onnx").unlink()  # every file refused and removed: only the parity report is left
    check_output(export, "export")
    check_output(model, "model", resume=True)
    with pytest.raises(OutputExistsError, match="exclude each other"):
        check_output(model, "model", overwrite=True, resume=True)


def test_run_and_export_commands_refuse_a_finished_output(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.md").write_text("# done\n")
    assert main(["run", "--output", str(tmp_path / "run")]) == EXIT_USAGE
    assert "report.md is a finished run" in capsys.readouterr().err
    export = tmp_path / "onnx"
    export.mkdir()
    (export / "parity.json").write_text("{}")
    (export / "model_int8.onnx").write_text("")
    assert main(["export", "--model", str(tmp_path / "m"), "--output", str(export)]) == EXIT_USAGE
    assert "finished export" in capsys.readouterr().err
    assert (tmp_path / "run" / "report.md").read_text() == "# done\n"


def _digest(directory: Path) -> str:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()


@pytest.mark.slow
def test_second_train_is_refused_and_overwrite_and_resume_do_what_they_say(tmp_path, capsys):
    encoder = save_tiny_model(tmp_path / "tiny")
    output = tmp_path / "out"

    def train(*extra: str) -> int:
        return main([
            "train", "--system", "B", "--output", str(output),
            "--set", "data.max_sentences=24", "--set", f"model.name={encoder}", "--set", "model.max_length=48",
            "--set", "train.batch_size=8", "--set", "train.max_steps=3", "--set", "train.patience=0",
            *extra,
        ])  # fmt: skip

    assert train() == 0
    first = _digest(output / "B")
    assert train("--set", "train.learning_rate=1e-3") == EXIT_USAGE
    assert "is a finished model already" in capsys.readouterr().err
    assert _digest(output / "B") == first
    assert train("--resume") == 0  # a finished model has nothing left to train: kept as it is
    assert _digest(output / "B") == first
    assert train("--overwrite", "--set", "train.learning_rate=1e-3") == 0
    assert _digest(output / "B") != first
    assert "learning_rate: 0.001" in (output / "B" / "multinerd.yaml").read_text()


@pytest.mark.slow
def test_run_killed_after_a_refuses_without_a_flag_and_resume_keeps_a_and_trains_b(tmp_path, capsys):
    import shutil

    encoder = save_tiny_model(tmp_path / "tiny")
    output = tmp_path / "out"

    def run(*extra: str) -> int:
        return main([
            "run", "--output", str(output),
            "--set", "data.max_sentences=24", "--set", f"model.name={encoder}", "--set", "model.max_length=48",
            "--set", "train.batch_size=8", "--set", "train.max_steps=3", "--set", "train.patience=0",
            "--set", "eval.bootstrap=0", *extra,
        ])  # fmt: skip

    assert run() == 0
    # As if killed while B trained: A published, no B, no report.
    shutil.rmtree(output / "B")
    (output / "report.md").unlink()
    weights_a = (output / "A" / "model.safetensors").stat()
    assert run() == EXIT_USAGE
    assert "A is a finished run" in capsys.readouterr().err
    assert run("--resume") == 0
    assert (output / "B" / "multinerd.yaml").exists() and (output / "report.md").exists()
    # The same file, not retrained (CPU training is deterministic, so equal bytes would not show that).
    kept = (output / "A" / "model.safetensors").stat()
    assert (kept.st_ino, kept.st_mtime_ns) == (weights_a.st_ino, weights_a.st_mtime_ns)
