"""Model-directory conventions: one reader per file, with errors that name the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multinerd.model import modeldir
from multinerd.model.modeldir import (
    ModelDirError,
    read_labels,
    read_run_config,
    read_saved_scheme,
    read_window_settings,
    require_dir,
)
from multinerd.model.modelhub import ModelNotFoundError


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_one_name_for_the_run_record():
    from multinerd.model import export, outputs

    assert outputs.CONFIG_FILE is modeldir.CONFIG_FILE == "multinerd.yaml"
    assert modeldir.CONFIG_FILE in export.COPIED_FILES


def test_missing_directory_is_one_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model directory not found: .*nowhere"):
        require_dir(tmp_path / "nowhere")
    assert require_dir(str(tmp_path)) == tmp_path


def test_saved_scheme_is_read_and_a_missing_key_is_named(tmp_path):
    assert read_saved_scheme(tmp_path) is None  # any HF directory: no multinerd.yaml
    write(tmp_path, "multinerd.yaml", "scheme:\n  name: B\n  types: [PER, LOC]\n")
    assert read_saved_scheme(tmp_path) == ("B", ["PER", "LOC"])
    write(tmp_path, "multinerd.yaml", "model:\n  max_length: 16\n")
    with pytest.raises(ModelDirError, match=r"multinerd.yaml: no key 'scheme'"):
        read_saved_scheme(tmp_path)
    write(tmp_path, "multinerd.yaml", "scheme:\n  name: B\n")
    with pytest.raises(ModelDirError, match=r"multinerd.yaml: no key 'scheme.types'"):
        read_saved_scheme(tmp_path)
    write(tmp_path, "multinerd.yaml", "scheme:\n  name: B\n  types: PER\n")
    with pytest.raises(ModelDirError, match="scheme.types must be a list"):
        read_saved_scheme(tmp_path)


def test_run_config_errors_name_the_file(tmp_path):
    write(tmp_path, "multinerd.yaml", "model: [unclosed\n")
    with pytest.raises(ModelDirError, match="multinerd.yaml: not valid YAML"):
        read_run_config(tmp_path)
    write(tmp_path, "multinerd.yaml", "- a list\n")
    with pytest.raises(ModelDirError, match="the top level must be a mapping"):
        read_run_config(tmp_path)
    write(tmp_path, "multinerd.yaml", "")
    assert read_run_config(tmp_path) == {} and read_window_settings(tmp_path) == (None, None)


def test_window_settings(tmp_path):
    write(tmp_path, "multinerd.yaml", "model:\n  max_length: 40\n  stride: 5\n")
    assert read_window_settings(tmp_path) == (40, 5)
    write(tmp_path, "multinerd.yaml", "model:\n  stride: true\n")
    with pytest.raises(ModelDirError, match="model.stride must be an integer, got True"):
        read_window_settings(tmp_path)


def test_labels_errors_name_file_and_line(tmp_path):
    with pytest.raises(ModelDirError, match="config.json: not found"):
        read_labels(tmp_path)
    write(tmp_path, "config.json", '{\n  "id2label": {\n')
    with pytest.raises(ModelDirError, match=r"config.json:3: not valid JSON"):
        read_labels(tmp_path)
    write(tmp_path, "config.json", json.dumps({"id2label": {"0": "O", "2": "B-PER"}}))
    with pytest.raises(ModelDirError, match=r"id2label ids must be 0..1, got \[0, 2\]"):
        read_labels(tmp_path)
    write(tmp_path, "config.json", json.dumps({"id2label": {"0": "O", "1": "B-geo-loc", "2": "I-geo-loc"}}))
    assert read_labels(tmp_path) == ["O", "B-geo-loc", "I-geo-loc"]
