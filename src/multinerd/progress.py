"""Progress on standard error: labelled bars on a terminal, whole lines elsewhere, nothing when quiet.

A progress bar redraws itself with carriage returns and cursor moves; in a file or a CI log
those become junk. So bars are drawn only when standard error is a terminal, and the lines
that matter (stages, one per evaluation) are written as plain lines either way, through
:func:`say`, which prints them above any bar that is running. ``multinerd --quiet`` (or
:func:`set_quiet`) silences both; errors still go to the log as usual.

Under ``torchrun`` or ``accelerate launch`` every process runs the same code; only the main
one (global rank 0) speaks, so a two-process run prints each line once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) bars and progress lines for this process."""
    global _quiet
    _quiet = quiet


def is_main_process() -> bool:
    """True outside distributed runs and on global rank 0 under torchrun or accelerate."""
    return int(os.environ.get("RANK", "0")) == 0


def is_quiet() -> bool:
    """True when this process prints no progress: asked to be quiet, or not the main process."""
    return _quiet or not is_main_process()


def interactive() -> bool:
    """True when bars may be drawn: not quiet, and standard error is a terminal."""
    return not is_quiet() and sys.stderr.isatty()


def bar(
    label: str, iterable: Iterable[Any] | None = None, *, total: int | None = None, show: bool = True
) -> tqdm:
    """A bar labelled ``label`` (e.g. ``A train``); a disabled, silent one off a terminal or if not ``show``."""
    return tqdm(
        iterable,
        total=total,
        desc=label,
        disable=not (show and interactive()),
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )


def say(line: str) -> None:
    """One plain line on standard error, printed above any running bar (nothing when quiet or not rank 0)."""
    if not is_quiet():
        tqdm.write(line, file=sys.stderr)
