"""A saved fast tokenizer read straight from ``tokenizer.json``, without importing transformers.

Importing transformers costs about a second before the first sentence is tagged; for the
ONNX path that is most of the start-up time. A fast tokenizer is wholly described by its
``tokenizer.json`` (the Rust ``tokenizers`` object transformers wraps) plus the special
token names and length limit in ``tokenizer_config.json``, so :class:`TokenizerFile`
loads those and offers the few members word alignment (:mod:`multinerd.model.features`) uses:
calling it on pre-split words, ``word_ids``, ``unk_token_id``, ``pad_token_id``,
``model_max_length`` and ``backend_tokenizer``. Anything it cannot read makes
:func:`load_tokenizer_file` return ``None``, and the caller uses transformers instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokenizers import Encoding, Tokenizer

TOKENIZER_CONFIG = "tokenizer_config.json"
#: What transformers reports when a tokenizer has no length limit.
NO_LIMIT = int(1e30)


class Encoded(dict):
    """``{"input_ids": [...]}`` per row, with ``word_ids(row)`` as transformers' BatchEncoding has."""

    def __init__(self, encodings: list[Encoding]) -> None:
        super().__init__(input_ids=[e.ids for e in encodings])
        self.encodings = encodings

    def word_ids(self, row: int) -> list[int | None]:
        return self.encodings[row].word_ids


class TokenizerFile:
    """The subset of a transformers fast tokenizer that word alignment needs (see the module docstring)."""

    def __init__(self, backend: Tokenizer, config: dict[str, Any]) -> None:
        backend.no_truncation()
        backend.no_padding()
        self.backend_tokenizer = backend
        self.unk_token_id = _token_id(backend, config.get("unk_token"))
        self.pad_token_id = _token_id(backend, config.get("pad_token"))
        self.model_max_length = int(config.get("model_max_length") or NO_LIMIT)
        self.add_prefix_space = bool(config.get("add_prefix_space", False))

    def __call__(
        self, batch: Sequence[Sequence[str]], *, is_split_into_words: bool, add_special_tokens: bool = True,
        **_: Any,
    ) -> Encoded:
        """Encode pre-split words; truncation and padding are never applied (word alignment windows itself)."""
        if not is_split_into_words:
            raise ValueError("TokenizerFile encodes pre-split words only (is_split_into_words=True)")
        return Encoded(
            self.backend_tokenizer.encode_batch(
                [list(words) for words in batch], is_pretokenized=True, add_special_tokens=add_special_tokens
            )
        )


def _token_id(backend: Tokenizer, token: Any) -> int | None:
    if isinstance(token, dict):  # an AddedToken as transformers serialises it
        token = token.get("content")
    return backend.token_to_id(token) if isinstance(token, str) else None


def load_tokenizer_file(directory: Path) -> TokenizerFile | None:
    """The directory's tokenizer without transformers, or ``None`` when its files do not say enough."""
    tokenizer_json, config_json = directory / "tokenizer.json", directory / TOKENIZER_CONFIG
    if not tokenizer_json.is_file() or not config_json.is_file():
        return None
    try:
        config = json.loads(config_json.read_text(encoding="utf-8"))
        tokenizer = TokenizerFile(Tokenizer.from_file(str(tokenizer_json)), config)
    except Exception:  # noqa: BLE001 - the Rust loader raises plain Exception; let transformers try
        return None
    return tokenizer if tokenizer.unk_token_id is not None and tokenizer.pad_token_id is not None else None
