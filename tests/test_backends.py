"""Backends: precision detection and fallback, the one loader by name, export-directory detection."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import SENTENCE, predict_in_fresh_interpreter, save_tiny_model
from multinerd import hardware
from multinerd.config import ConfigError, load_config
from multinerd.model import autoprecision, backends
from multinerd.model.backends import (
    BackendError,
    RefusedExportWarning,
    detect_backend,
    load_backend,
    resolve_precision,
)
from multinerd.model.modelhub import ModelNotFoundError


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("backends") / "A")


@pytest.fixture()
def no_bf16(monkeypatch):
    """A CPU without AVX-512 BF16 or AMX, whatever this machine has."""
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))


@pytest.fixture()
def with_bf16(monkeypatch, tmp_path):
    """A CPU with AVX-512 BF16 on which bf16 measured twice as fast as fp32.

    Its own verdict cache: on a real bf16 CPU an earlier test may have measured and cached the
    same shape's verdict, which would win over the stand-in measurement.
    """
    monkeypatch.setenv(hardware.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    monkeypatch.setattr(autoprecision, "measure_bf16_speedup", lambda shape: 2.0)


def test_bf16_detection_reads_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16", "amx_tile"}))
    assert hardware.cpu_bf16_feature() == "amx_bf16"
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))
    assert hardware.cpu_bf16_feature() is None


def test_this_machines_flags_are_read_from_proc_cpuinfo():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo here")
    flags = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags"))
    assert hardware.cpu_flags() == frozenset(flags.partition(":")[2].split())
    expected = next((f for f in hardware.BF16_CPU_FLAGS if f in flags.split()), None)
    assert hardware.cpu_bf16_feature() == expected


def test_auto_picks_bf16_only_where_native(no_bf16):
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(BackendError, match="precision bf16: this CPU .*no native bf16 arithmetic; use auto or fp32"):
        resolve_precision("bf16", "cpu")
    with pytest.raises(BackendError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", "cpu")


def test_auto_and_bf16_accepted_on_a_bf16_cpu(with_bf16):
    assert resolve_precision("auto", "cpu") == resolve_precision("bf16", "cpu") == "bf16"


def test_training_precision_falls_back_to_fp32_and_refuses_bf16(no_bf16, tmp_path):
    from multinerd.model.training import training_arguments, training_precision

    assert training_precision("auto") == "fp32"
    with pytest.raises(ConfigError, match="train.precision=bf16: precision bf16: this CPU"):
        training_precision("bf16")
    with pytest.raises(ConfigError, match="train.precision=fp16 needs a GPU"):
        training_precision("fp16")
    args = training_arguments(load_config(None, ["train.precision=auto"]), tmp_path)
    assert (args.bf16, args.fp16) == (False, False)


def test_training_precision_uses_bf16_autocast_on_a_bf16_cpu(with_bf16, tmp_path):
    from multinerd.model.training import training_arguments, training_precision

    assert training_precision("auto") == training_precision("bf16") == "bf16"
    args = training_arguments(load_config(None, ["train.precision=auto"]), tmp_path)
    assert (args.bf16, args.fp16) == (True, False)


def test_training_on_a_cpu_switches_to_eager_attention_and_saves_the_default(with_bf16, model, tmp_path):
    from transformers import AutoModelForTokenClassification

    from multinerd.data.corpus import load_corpus
    from multinerd.labels import TagScheme
    from multinerd.model.autoprecision import training_attention
    from multinerd.model.training import build_trainer

    assert training_attention("cpu") == "eager" and training_attention("cuda:0") is None
    default = AutoModelForTokenClassification.from_pretrained(model).config._attn_implementation
    assert default != "eager"
    config = load_config(None, [f"model.name={model}", "train.precision=bf16", "data.max_sentences=20"])
    built = build_trainer(config, TagScheme.multinerd(None, name="A"), load_corpus("sample", max_sentences=20),
                          tmp_path / "work")
    assert built.precision == "bf16" and built.trainer.model.config._attn_implementation == "eager"
    assert built.trainer.data_collator.pad_to_multiple_of is None  # unpadded widths on a CPU
    built.trainer.model.save_pretrained(tmp_path / "saved")  # a saved model tags with the default attention
    assert AutoModelForTokenClassification.from_pretrained(tmp_path / "saved").config._attn_implementation == default


def test_train_log_lines_say_which_precision(tmp_path):
    from types import SimpleNamespace

    from multinerd.model.modeldir import read_train_log
    from multinerd.model.train_progress import TrainLogCallback

    callback = TrainLogCallback(tmp_path / "train_log.jsonl", "bf16")
    state = SimpleNamespace(is_world_process_zero=True, epoch=1.0, global_step=3, log_history=[{"loss": 0.5}])
    callback.on_evaluate(None, state, None, metrics={"eval_loss": 0.4, "eval_f1": 0.7})
    assert read_train_log(tmp_path)[0]["precision"] == "bf16"


def test_one_loader_by_name(model, tmp_path, no_bf16):
    torch_backend = load_backend(model, "torch", device="cpu")
    assert torch_backend.precision == "fp32"
    ids = np.array([[101, 2000, 102]], dtype=np.int64)
    assert torch_backend.logits(ids, np.ones_like(ids)).shape == (1, 3, 5)
    with pytest.raises(BackendError, match="unknown backend 'tensorflow'"):
        load_backend(model, "tensorflow")
    with pytest.raises(ModelNotFoundError, match="ONNX model not found"):
        load_backend(model, "onnx")
    with pytest.raises(ModelNotFoundError, match="model directory not found"):
        load_backend(tmp_path / "missing")
    with pytest.raises(BackendError, match="precision bf16: this CPU"):
        load_backend(model, "torch", device="cpu", precision="bf16")


def test_detect_backend_from_the_files(model, tmp_path):
    assert detect_backend(model) == "torch"
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.onnx").write_bytes(b"")
    assert detect_backend(export) == "onnx"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="neither PyTorch weights .* nor model.onnx"):
        detect_backend(tmp_path / "empty")


def test_a_refused_file_warns_when_loaded(model, tmp_path):
    from multinerd.model.export import write_onnx

    path = tmp_path / "model.onnx"
    write_onnx(model, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backends.OnnxBackend(path)  # an accepted file loads silently
    (tmp_path / "model.onnx.REFUSED").write_text("entity agreement 0.9 is below 0.999\n")
    with pytest.warns(RefusedExportWarning, match="failed its parity check.*entity agreement 0.9"):
        backends.OnnxBackend(path)


def test_onnx_path_imports_neither_torch_nor_transformers(model, tmp_path):
    """A separate interpreter runs `multinerd predict` on an export directory; torch must stay unimported."""
    from multinerd.model.export import copy_model_files, write_onnx

    export = tmp_path / "export"
    export.mkdir()
    write_onnx(model, export / "model.onnx")
    copy_model_files(model, export)
    document, run = predict_in_fresh_interpreter(
        ["--model", str(export), SENTENCE],
        heavy="m in ('torch', 'transformers') or m.startswith('transformers.models')",
    )
    assert document["text"] == SENTENCE
    assert run == {"status": 0, "heavy": []}


def test_tokenizer_file_windows_match_transformers(model):
    """The ONNX path's tokenizer (no transformers import) cuts exactly the windows transformers does."""
    from multinerd.model.features import encode_dataset, prepare_tokenizer
    from multinerd.model.modelhub import load_tokenizer
    from multinerd.model.tokenizer_file import load_tokenizer_file

    light = prepare_tokenizer(load_tokenizer_file(model))
    full = load_tokenizer(str(model))
    assert (light.unk_token_id, light.pad_token_id) == (full.unk_token_id, full.pad_token_id)
    assert light.model_max_length == full.model_max_length
    sentences = [["Angela", "Merkel", "visited", "Zürich", "'s", "Kunsthaus", "."] * 9, [], ["\u200b", "x"]]
    ours, our_stats = encode_dataset(sentences, None, light, 24, 4)
    theirs, their_stats = encode_dataset(sentences, None, full, 24, 4)
    assert [w.input_ids for w in ours] == [w.input_ids for w in theirs]
    assert [w.first_positions for w in ours] == [w.first_positions for w in theirs]
    assert our_stats == their_stats and len(ours) > 3


def test_tokenizer_file_declines_what_it_cannot_read(tmp_path, model):
    from multinerd.model.tokenizer_file import load_tokenizer_file

    assert load_tokenizer_file(tmp_path) is None
    (tmp_path / "tokenizer.json").write_text("{not json")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    assert load_tokenizer_file(tmp_path) is None
