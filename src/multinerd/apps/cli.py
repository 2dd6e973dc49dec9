"""The ``multinerd`` command: parse arguments, call one library function, print.

This module holds the entry point (``main``), the top-level parser and the output setup;
each command's options and handler live together in ``cli_train`` (making and measuring
models) or ``cli_use`` (using them), and options several commands share in ``cli_options``.

Library errors carry the file, line or setting at fault; here they become a one-line
message on stderr and exit status 2, never a traceback. Results go to standard output;
progress, stages and warnings to standard error (``--quiet`` keeps only errors there).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from multinerd import __version__, progress
from multinerd.apps.cli_options import verbosity_options
from multinerd.apps.cli_train import add_data, add_evaluate, add_run, add_score, add_train, add_tune
from multinerd.apps.cli_use import add_export, add_predict, add_predict_corpus, add_serve
from multinerd.config import ConfigError
from multinerd.model.outputs import OutputExistsError

#: Exit status for bad input (data, settings, model names): the user can fix it.
EXIT_USAGE = 2
#: What ``multinerd --help`` says first: written for users, with the commands most of them need.
DESCRIPTION = """\
Train named-entity taggers (MultiNERD systems A and B, or any IOB2 data), score them
honestly, and use them: tag text, export to ONNX, serve an HTTP API with a demo page.

The commands most people need:
  multinerd run --config configs/quickstart.yaml              train A and B, score, write the report
  multinerd predict --model runs/quickstart/A "Ada Lovelace lived in London."
  multinerd serve --model runs/quickstart/A --model runs/quickstart/B    API and demo page

Every command takes -v (library logs) or -q (only errors and the final summary), anywhere
on the line; `multinerd COMMAND --help` lists its options and their defaults."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: shared options here, each command's own in its module, in help order."""
    parser = argparse.ArgumentParser(
        prog="multinerd",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[verbosity_options(False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_run, add_train, add_tune, add_evaluate, add_score, add_data):
        add(commands)
    for add in (add_predict, add_predict_corpus, add_export, add_serve):
        add(commands)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input the user can fix. Evaluated only when an exception is raised,
    so the heavy modules are imported only then."""
    from multinerd.apps.server import ServeError
    from multinerd.data.corpus import DataError
    from multinerd.evaluate.scoring import ScoringError
    from multinerd.labels import TagError
    from multinerd.model.backends import BackendError
    from multinerd.model.export import ExportError
    from multinerd.model.features import AlignmentError
    from multinerd.model.modeldir import ModelDirError
    from multinerd.model.modelhub import ModelNotFoundError
    from multinerd.model.tagger import TaggerError

    return (
        ConfigError,
        DataError,
        TagError,
        ModelNotFoundError,
        AlignmentError,
        TaggerError,
        ScoringError,
        ExportError,
        ServeError,
        BackendError,
        ModelDirError,
        OutputExistsError,
    )


#: Warnings known to be noise for a user of the command line: (message regex, module regex).
#: Only these are hidden; any other warning is shown, so a real problem is never silenced.
NOISE_WARNINGS = (
    # torch's DataLoader asked to pin memory on a machine without a GPU: nothing to act on.
    (r"'pin_memory' argument is set as true but no accelerator is found", r"torch\.utils\.data"),
)


def _quiet_libraries() -> None:
    """Keep library chatter (weight-loading tables, advice, known-harmless warnings) out of the output."""
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # Hides per-load bars ("Loading weights"); training and tagging draw their own (multinerd.progress).
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:  # already imported (main called from Python): tell it directly
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
    for message, module in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)


class _StderrHandler(logging.StreamHandler):
    """A log handler writing to whatever ``sys.stderr`` is when a record arrives (tests swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname_lower)s: %(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.INFO:  # news, not a problem: no prefix
            return record.getMessage()
        record.levelname_lower = record.levelname.lower()
        return super().format(record)


def _configure_output(verbose: bool, quiet: bool) -> None:
    """Log level and progress for this invocation: warnings by default, library logs with -v,
    errors only with -q (which also turns progress bars and stage lines off)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    root.addHandler(_StderrHandler())
    root.setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)
    progress.set_quiet(quiet)
    if not verbose or not progress.is_main_process():  # other ranks would repeat rank 0's library reports
        _quiet_libraries()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_output(args.verbose, args.quiet)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except _known_errors() as err:
        print(f"multinerd {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        if err.filename is None:
            raise
        # A file or directory the command could not read or write: the user can fix the path.
        print(f"multinerd {args.command}: error: {err.filename}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
