"""BERT token classification in plain PyTorch: the torch backend's model where a directory holds one.

Importing transformers' model classes cost about 1.7 s before the first sentence was tagged
(``-X importtime`` on a 2-core AVX-512 EPYC, transformers 5.25: its BERT module pulls in
``torch.distributed.tensor``, ``torch._dynamo`` and the generation utilities), more than
half of the 3 s a one-sentence ``predict`` may take. Inference needs
none of that: a BERT encoder is embeddings, attention, a feed-forward block and layer norms.
So a directory holding a plain ``BertForTokenClassification`` (what ``multinerd train`` writes
from the bundled MiniLM or bert-base) runs here, and everything else goes to transformers:
other architectures, options this module does not implement (see :func:`unsupported_reason`),
weights whose names do not load strictly.

The module names mirror transformers' so its ``model.safetensors`` loads with
``strict=True``; the modules are built on the meta device, so nothing is initialised only to
be overwritten. Weights are read as fp32 whatever their stored format, as the backend's fp32
and bf16 paths expect. Tests hold the logits to transformers' own on the same weights, padded and
not. Training, export and the ``precision=auto`` measurement keep transformers' model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.nn import functional

logger = logging.getLogger(__name__)

ARCHITECTURE = "BertForTokenClassification"
WEIGHTS_FILE = "model.safetensors"
#: Buffers older transformers releases saved with the weights; they hold nothing a model learnt.
SAVED_BUFFERS = ("bert.embeddings.position_ids", "bert.embeddings.token_type_ids")
#: transformers' ``BertConfig`` defaults, for a ``config.json`` that leaves a field out.
BERT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
}


@dataclass
class TokenClassifierOutput:
    """What the torch backend reads from a model call (transformers' output has the same field)."""

    logits: torch.Tensor


def unsupported_reason(config: dict[str, Any]) -> str | None:
    """Why a ``config.json`` is not a BERT this module runs exactly as transformers does, or ``None``."""
    checks = (
        (config.get("architectures") == [ARCHITECTURE], f"architectures is not [{ARCHITECTURE}]"),
        (config.get("model_type") == "bert", "model_type is not bert"),
        (config.get("hidden_act", "gelu") == "gelu", "hidden_act is not gelu"),
        (config.get("position_embedding_type", "absolute") == "absolute", "position_embedding_type is not absolute"),
        (
            not config.get("is_decoder") and not config.get("add_cross_attention"),
            "it is a decoder or has cross-attention",
        ),
    )
    failed = [reason for holds, reason in checks if not holds]
    return "; ".join(failed) or None


class _Layer(nn.Module):
    """One encoder layer, with transformers' module names (``attention.self.query``...)."""

    def __init__(self, hidden: int, intermediate: int, heads: int, eps: float) -> None:
        super().__init__()
        self.head_size = hidden // heads
        self.attention = _container(
            self=_container(
                query=nn.Linear(hidden, hidden), key=nn.Linear(hidden, hidden), value=nn.Linear(hidden, hidden)
            ),
            output=_container(dense=nn.Linear(hidden, hidden), LayerNorm=nn.LayerNorm(hidden, eps=eps)),
        )
        self.intermediate = _container(dense=nn.Linear(hidden, intermediate))
        self.output = _container(dense=nn.Linear(intermediate, hidden), LayerNorm=nn.LayerNorm(hidden, eps=eps))

    def forward(self, hidden: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, _ = hidden.shape
        attention = self.attention.self

        def heads(states: torch.Tensor) -> torch.Tensor:
            return states.view(batch, length, -1, self.head_size).transpose(1, 2)

        context = functional.scaled_dot_product_attention(
            heads(attention.query(hidden)), heads(attention.key(hidden)), heads(attention.value(hidden)),
            attn_mask=key_mask, scale=self.head_size**-0.5,
        )
        context = context.transpose(1, 2).reshape(batch, length, -1)
        attended = self.attention.output.LayerNorm(self.attention.output.dense(context) + hidden)
        inner = functional.gelu(self.intermediate.dense(attended))
        return self.output.LayerNorm(self.output.dense(inner) + attended)


class BertTokenClassifier(nn.Module):
    """``BertForTokenClassification``'s inference forward: ``model(input_ids=, attention_mask=).logits``."""

    def __init__(self, config: SimpleNamespace) -> None:
        super().__init__()
        self.config = config
        hidden, eps = config.hidden_size, config.layer_norm_eps
        embeddings = _container(
            word_embeddings=_table(config.vocab_size, hidden),
            position_embeddings=_table(config.max_position_embeddings, hidden),
            token_type_embeddings=_table(config.type_vocab_size, hidden),
            LayerNorm=nn.LayerNorm(hidden, eps=eps),
        )
        layers = nn.ModuleList(
            _Layer(hidden, config.intermediate_size, config.num_attention_heads, eps)
            for _ in range(config.num_hidden_layers)
        )
        self.bert = _container(embeddings=embeddings, encoder=_container(layer=layers))
        self.classifier = nn.Linear(hidden, len(config.id2label))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TokenClassifierOutput:
        embeddings = self.bert.embeddings
        length = input_ids.shape[1]
        # Token type 0 and positions 0.. as transformers fills them in; summed in its order.
        hidden = functional.embedding(input_ids, embeddings.word_embeddings.weight)
        hidden = hidden + embeddings.token_type_embeddings.weight[0]
        hidden = embeddings.LayerNorm(hidden + embeddings.position_embeddings.weight[:length])
        # Like transformers, no mask at all when nothing is padding (SDPA's fastest path).
        key_mask = None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :]
        for layer in self.bert.encoder.layer:
            hidden = layer(hidden, key_mask)
        return TokenClassifierOutput(self.classifier(hidden))


def _container(**modules: nn.Module) -> nn.Module:
    """A module that only holds named children, so parameter names match transformers'."""
    holder = nn.Module()
    for name, module in modules.items():
        holder.add_module(name, module)
    return holder


def _table(rows: int, width: int) -> nn.Module:
    """An embedding table as a bare ``weight``: ``nn.Embedding``'s random initialisation on the
    meta device imports ``torch._dynamo`` (0.8 s), and the weights are loaded over it anyway."""
    holder = nn.Module()
    holder.weight = nn.Parameter(torch.empty(rows, width))
    return holder


def load(directory: Path) -> BertTokenClassifier | None:
    """The model in ``directory`` in fp32, or ``None`` where transformers must run it.

    Which of the two runs it, and why, is logged (``predict -v`` shows it).
    """
    config_file, weights_file = directory / "config.json", directory / WEIGHTS_FILE
    if not config_file.is_file() or not weights_file.is_file():
        logger.info("%s: no config.json or %s; transformers runs it", directory, WEIGHTS_FILE)
        return None
    config = json.loads(config_file.read_text(encoding="utf-8"))
    reason = unsupported_reason(config)
    if reason:
        logger.info("%s: %s; transformers runs it", directory, reason)
        return None
    from safetensors.torch import load_file

    state = {name: tensor.float() for name, tensor in load_file(weights_file).items() if name not in SAVED_BUFFERS}
    with torch.device("meta"):
        model = BertTokenClassifier(SimpleNamespace(**(BERT_DEFAULTS | config)))
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        logger.info("%s: weights do not match a plain BERT (%s); transformers runs it", directory, error)
        return None
    logger.info("%s: a plain BERT token classifier; run without transformers' model code", directory)
    return model.eval()
