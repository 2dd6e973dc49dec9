"""Model-directory conventions: the file names a model or export directory holds, and their readers.

A model directory written by ``multinerd train`` is a Hugging Face directory (``config.json``,
weights, tokenizer files) plus ``multinerd.yaml``: the resolved settings, the tag scheme and
the data fingerprint. An export directory (``multinerd export``) holds the same files with
ONNX graphs instead of PyTorch weights. Every module that needs one of these files takes its
name and its reader from here, so a file is named, parsed and checked in one place only.

This module imports neither torch nor transformers: the ONNX path reads through it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from multinerd.config import DEFAULT_MAX_LENGTH
from multinerd.labels import MULTINERD_TYPES, TagError, TagScheme, split_tag
from multinerd.model.modelhub import ModelNotFoundError
from multinerd.systems import System, SystemRecordError, uses_multinerd_tags

#: The run record ``multinerd train`` writes beside the weights (settings, scheme, data fingerprint).
CONFIG_FILE = "multinerd.yaml"
#: The Hugging Face model configuration (architecture, ``id2label``).
HF_CONFIG = "config.json"
#: A fast tokenizer's single-file form; every directory this tool writes has one.
TOKENIZER_FILE = "tokenizer.json"
#: PyTorch weights, in the formats ``from_pretrained`` reads.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
#: The export's parity verdicts (:mod:`multinerd.model.export`).
PARITY_JSON = "parity.json"
#: One line per evaluation of a training run (epoch, step, losses, validation F1, precision).
TRAIN_LOG = "train_log.jsonl"
PARITY_MD = "parity.md"
#: Suffix of the marker written next to an exported file kept with ``--force`` despite failing parity.
REFUSED_SUFFIX = ".REFUSED"


class ModelDirError(ValueError):
    """A model directory whose ``config.json`` or ``multinerd.yaml`` is missing a key or malformed."""


def require_dir(directory: str | Path) -> Path:
    """``directory`` as a Path; the one error for a directory that is not there."""
    path = Path(directory)
    if not path.is_dir():
        raise ModelNotFoundError(f"model directory not found: {path}")
    return path


def has_torch_weights(directory: Path) -> bool:
    return any((directory / name).is_file() for name in WEIGHT_FILES)


# ---------------------------------------------------------------------------- config.json


def read_hf_config(directory: Path) -> dict[str, Any]:
    """``config.json`` as a dict, with the file and line of a parse error."""
    path = directory / HF_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelDirError(f"{path}: not found; expected a Hugging Face model directory") from None
    except json.JSONDecodeError as err:
        raise ModelDirError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    if not isinstance(config, dict):
        raise ModelDirError(f"{path}: expected a JSON object")
    return config


def read_labels(directory: Path) -> list[str]:
    """The IOB2 labels of a model directory's ``config.json``, indexed by label id."""
    path = directory / HF_CONFIG
    id2label = read_hf_config(directory).get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ModelDirError(f"{path}: no id2label mapping; expected IOB2 labels such as 'O', 'B-PER', 'I-PER'")
    try:
        ids = sorted(int(key) for key in id2label)
    except ValueError:
        raise ModelDirError(f"{path}: id2label keys must be integers, got {sorted(id2label)}") from None
    if ids != list(range(len(ids))):
        raise ModelDirError(f"{path}: id2label ids must be 0..{len(ids) - 1}, got {ids}")
    by_id = {int(key): str(value) for key, value in id2label.items()}
    labels = [by_id[i] for i in ids]
    for i, label in enumerate(labels):
        try:
            split_tag(label)
        except TagError:
            raise ModelDirError(
                f"{path}: id2label[{i}] is {label!r}, not an IOB2 label ('O', 'B-TYPE' or 'I-TYPE')"
            ) from None
    return labels


def default_max_length(directory: Path, tokenizer: Any) -> int:
    """The longest window a model takes: 512 at most, less when its tokenizer or positions say so.

    A tokenizer saved without ``model_max_length`` reports a huge number, so the model's
    ``max_position_embeddings`` is checked too; RoBERTa-style models start positions after
    the padding id and lose ``pad_token_id + 1`` of them.
    """
    config = read_hf_config(directory)
    limits = [DEFAULT_MAX_LENGTH]
    if tokenizer.model_max_length and tokenizer.model_max_length < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and positions > 0:
        offset = (config.get("pad_token_id") or 0) + 1 if "roberta" in str(config.get("model_type", "")) else 0
        limits.append(positions - offset)
    return min(limits)


# ---------------------------------------------------------------------------- multinerd.yaml


def read_run_config(directory: Path) -> dict[str, Any] | None:
    """The parsed ``multinerd.yaml`` of a directory, or ``None`` when it has none (any HF directory)."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ModelDirError(f"{path}: not valid YAML: {err}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ModelDirError(f"{path}: the top level must be a mapping, got {type(tree).__name__}")
    return tree


def run_value(directory: Path, tree: dict[str, Any], key: str) -> Any:
    """The value at dotted ``key`` of a ``multinerd.yaml`` tree; a clear error names what is missing."""
    node: Any = tree
    walked = []
    for part in key.split("."):
        walked.append(part)
        if not isinstance(node, dict) or part not in node:
            raise ModelDirError(
                f"{directory / CONFIG_FILE}: no key {'.'.join(walked)!r}; this file is written by "
                "`multinerd train`; rewrite it or remove it to fall back to config.json"
            )
        node = node[part]
    return node


def read_window_settings(directory: Path) -> tuple[int | None, int | None]:
    """``model.max_length`` and ``model.stride`` from ``multinerd.yaml``, when present."""
    tree = read_run_config(directory)
    model = (tree or {}).get("model") or {}
    if not isinstance(model, dict):
        raise ModelDirError(f"{directory / CONFIG_FILE}: model must be a mapping, got {model!r}")
    values = []
    for key in ("max_length", "stride"):
        value = model.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ModelDirError(f"{directory / CONFIG_FILE}: model.{key} must be an integer, got {value!r}")
        values.append(value)
    return values[0], values[1]


def read_saved_scheme(directory: Path) -> tuple[str, list[str]] | None:
    """``(name, types)`` of the scheme recorded in ``multinerd.yaml``; ``None`` without the file."""
    tree = read_run_config(directory)
    if tree is None:
        return None
    name = run_value(directory, tree, "scheme.name")
    types = run_value(directory, tree, "scheme.types")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ModelDirError(f"{directory / CONFIG_FILE}: scheme.types must be a list of type names, got {types!r}")
    return str(name), types


def read_system_record(directory: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``system`` (:mod:`multinerd.systems` reads it) and ``data.source`` from ``multinerd.yaml``.

    Either is ``None`` when absent: a directory written before systems were recorded has the
    source only; any other Hugging Face directory has neither.
    """
    tree = read_run_config(directory)
    if tree is None:
        return None, None
    record = tree.get("system")
    if record is not None and not isinstance(record, dict):
        raise ModelDirError(f"{directory / CONFIG_FILE}: system must be a mapping, got {record!r}")
    data = tree.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    return record, source if isinstance(source, str) else None


def read_train_log(model_dir: Path) -> list[dict[str, Any]]:
    """The evaluations of the run that trained ``model_dir`` (empty for a model trained elsewhere)."""
    path = model_dir / TRAIN_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def saved_system(model_dir: Path) -> System:
    """The system a model directory was trained as, from its ``multinerd.yaml``.

    A directory written before the record existed falls back on its recorded
    ``data.source`` (MultiNERD's inventory when the source stores MultiNERD's tags); any other
    Hugging Face directory with IOB2 labels knows its own types only.
    """
    record, source = read_system_record(model_dir)
    if record is not None:
        try:
            return System.from_dict(record, str(model_dir / CONFIG_FILE))
        except SystemRecordError as err:
            raise ModelDirError(str(err)) from None
    saved = read_saved_scheme(model_dir)
    if saved is not None:
        scheme = TagScheme(saved[0], tuple(saved[1]))
    else:
        types = [t for label in read_labels(model_dir) if (t := split_tag(label)[1]) is not None]
        scheme = TagScheme(model_dir.name, tuple(dict.fromkeys(types)))
    multinerd_tags = source is not None and uses_multinerd_tags(source)
    inventory = MULTINERD_TYPES if multinerd_tags else scheme.types
    return System(scheme, inventory, multinerd_tags)
