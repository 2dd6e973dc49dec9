"""Text helpers for reports and model cards: Markdown tables, rounded numbers, intervals, durations.

Kept apart from the report so that the model card, the dry run and the report format a
number, an interval or a time the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def num(value: float | None, digits: int = 3) -> str:
    """A rounded figure, or an en dash where there is none."""
    return "–" if value is None else f"{value:.{digits}f}"


def ci_text(interval: Sequence[float] | None, digits: int = 3) -> str:
    """`` [low, high]`` to append to a figure; empty where there is no interval."""
    return "" if not interval else f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def p_text(value: float | None) -> str:
    """A p-value to three significant digits, or an en dash where there is none."""
    return "–" if value is None else f"{value:.3g}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one letter per column (l or r), numbers right by default."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def duration(seconds: float, *, rough: bool = False) -> str:
    """A time in words: ``1h 02m 05s`` / ``2m 05s`` for a measured time, or with ``rough`` one unit
    (``45 s``, ``3.5 min``, ``2.1 h``) for an estimate, where more digits would claim a precision it lacks.
    """
    if rough:
        if seconds < 120:
            return f"{seconds:.0f} s"
        if seconds < 7200:
            return f"{seconds / 60:.1f} min"
        return f"{seconds / 3600:.1f} h"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def flatten_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"train.lr": 5e-5, ...}``, one row each in a table."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten_settings(value, f"{name}.")
        else:
            flat[name] = value
    return flat
