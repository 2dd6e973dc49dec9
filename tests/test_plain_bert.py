"""The plain-PyTorch BERT: transformers' logits on the same weights, the same fallbacks, and a
``predict`` that does not import transformers' model code (the start-up it exists for)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SENTENCE, predict_in_fresh_interpreter, save_tiny_model
from multinerd.model import plain_bert
from multinerd.model.backends import TorchBackend, load_backend


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny BERT whose weights are large enough that attention is far from uniform.

    At the usual 0.02 initialisation every attention score is near zero, so a wrong scale or
    a dropped layer would hardly move the logits; at 0.3 each part of the forward pass shows.
    """
    directory = save_tiny_model(tmp_path_factory.mktemp("plain_bert") / "A")
    strong = transformers_model(directory)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in strong.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    strong.save_pretrained(directory)
    return directory


def transformers_model(directory: Path):
    from transformers import AutoModelForTokenClassification

    return AutoModelForTokenClassification.from_pretrained(directory).eval()


def padded_batch() -> tuple[np.ndarray, np.ndarray]:
    """Three rows of different lengths (padding in two), ids from the tiny model's vocabulary."""
    generator = np.random.default_rng(0)
    input_ids = generator.integers(1000, 5000, size=(3, 11)).astype(np.int64)
    attention_mask = np.ones_like(input_ids)
    attention_mask[1, 7:] = 0
    attention_mask[2, 3:] = 0
    input_ids[attention_mask == 0] = 0
    return input_ids, attention_mask


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_logits_match_transformers(model, padded):
    ids, mask = padded_batch()
    if not padded:
        ids, mask = ids[:1], mask[:1]
    ours = TorchBackend(plain_bert.load(model), "cpu").logits(ids, mask)
    theirs = TorchBackend(transformers_model(model), "cpu").logits(ids, mask)
    real = mask.astype(bool)
    assert np.abs(ours - theirs)[real].max() < 1e-5
    assert (ours.argmax(-1) == theirs.argmax(-1))[real].all()


def test_bf16_logits_match_transformers_in_bf16(model, monkeypatch):
    """Under the backend's bf16 (linear weights cast once, autocast), both models compute the same ops."""
    from multinerd import hardware

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    ids, mask = padded_batch()
    ours = TorchBackend(plain_bert.load(model), "cpu", "bf16").logits(ids, mask)
    theirs = TorchBackend(transformers_model(model), "cpu", "bf16").logits(ids, mask)
    assert np.abs(ours - theirs)[mask.astype(bool)].max() < 1e-2


def test_the_loader_picks_plain_bert_for_a_bert_directory_and_says_so(model, caplog):
    with caplog.at_level("INFO", logger=plain_bert.__name__):
        backend = load_backend(model, "torch", device="cpu")
    assert isinstance(backend.model, plain_bert.BertTokenClassifier)
    assert backend.model.config.id2label["1"] == "B-PER"
    assert "a plain BERT token classifier" in caplog.text


def edited_copy(source: Path, target: Path, **config_changes) -> Path:
    target.mkdir()
    for file in source.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    config = json.loads((target / "config.json").read_text()) | config_changes
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"hidden_act": "gelu_new"}, "hidden_act is not gelu"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type is not absolute"),
        ({"is_decoder": True}, "it is a decoder"),
        ({"architectures": ["BertForMaskedLM"]}, "architectures is not"),
    ],
)
def test_anything_else_goes_to_transformers_and_the_log_says_why(model, tmp_path, caplog, change, reason):
    directory = edited_copy(model, tmp_path / "other", **change)
    assert reason in plain_bert.unsupported_reason(json.loads((directory / "config.json").read_text()))
    with caplog.at_level("INFO", logger=plain_bert.__name__):
        assert plain_bert.load(directory) is None
    assert f"{reason}" in caplog.text and "transformers runs it" in caplog.text


def test_weights_that_do_not_load_strictly_go_to_transformers(model, tmp_path):
    from safetensors.torch import load_file, save_file

    directory = edited_copy(model, tmp_path / "pooled")
    weights = load_file(directory / plain_bert.WEIGHTS_FILE)
    weights["bert.pooler.dense.weight"] = torch.zeros(32, 32)
    save_file(weights, directory / plain_bert.WEIGHTS_FILE)
    assert plain_bert.load(directory) is None
    backend = load_backend(directory, "torch", device="cpu")
    assert not isinstance(backend.model, plain_bert.BertTokenClassifier)


def test_buffers_older_releases_saved_are_ignored(model, tmp_path):
    from safetensors.torch import load_file, save_file

    directory = edited_copy(model, tmp_path / "old")
    weights = load_file(directory / plain_bert.WEIGHTS_FILE)
    weights["bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    save_file(weights, directory / plain_bert.WEIGHTS_FILE)
    assert isinstance(plain_bert.load(directory), plain_bert.BertTokenClassifier)


def test_predict_on_a_bert_directory_imports_no_transformers_model_code(model):
    """The start-up this module exists for: the torch path of `multinerd predict` in a fresh interpreter."""
    document, run = predict_in_fresh_interpreter(
        ["--model", str(model), "--precision", "fp32", SENTENCE],
        heavy="m.startswith(('transformers', 'torch._dynamo'))",
    )
    assert document["text"] == SENTENCE
    assert run == {"status": 0, "heavy": []}
