"""Fine-tune transformer encoders for named-entity recognition on MultiNERD and score them honestly.

The stages live in folders (``data``, ``evaluate``, ``model``, ``apps``; see the README's
Layout); the names a user reaches for are importable from here too, loaded on first use so
that ``import multinerd`` stays light (no torch, no transformers, no Ray).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
PUBLIC = {
    "Tagger": "multinerd.model.tagger",
    "load_config": "multinerd.config",
    "run": "multinerd.apps.pipeline",
    "evaluate_model": "multinerd.apps.pipeline",
    "score_file": "multinerd.apps.pipeline",
    "create_app": "multinerd.apps.server",
    "load_corpus": "multinerd.data.corpus",
}

__all__ = ["Tagger", "__version__", "create_app", "evaluate_model", "load_config", "load_corpus", "run", "score_file"]


def __getattr__(name: str) -> Any:
    if name in PUBLIC:
        return getattr(importlib.import_module(PUBLIC[name]), name)
    raise AttributeError(f"module 'multinerd' has no attribute {name!r}")
