"""Options several ``multinerd`` commands share, and the reading of them back into settings.

Each command's own options sit beside its handler (``cli_train``, ``cli_use``); what more than one
command takes lives here once, so the same flag reads the same, with the same help, everywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TypeAlias

from multinerd.config import Config, load_config

#: The ``add_subparsers`` object a command registers itself on (``multinerd`` or ``multinerd data``).
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(commands: Commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """A sub-parser whose description is its help line as a sentence, taking ``-v``/``-q`` too."""
    return commands.add_parser(
        name,
        help=help_text,
        description=help_text[:1].upper() + help_text[1:] + ".",
        parents=[verbosity_options(argparse.SUPPRESS)],
    )


def config_of(args: argparse.Namespace) -> Config:
    """The settings: ``--config`` with each ``--set``, then ``--data`` and ``--decoding`` on top."""
    overrides = list(getattr(args, "set", None) or [])
    if getattr(args, "data", None):
        overrides.append(f"data.source={args.data}")
    if getattr(args, "decoding", None):
        overrides.append(f"eval.decoding={args.decoding}")
    return load_config(getattr(args, "config", None), overrides)


def output_of(args: argparse.Namespace, config: Config) -> Path:
    """``--output``, else the config's output directory."""
    return Path(args.output or config.output)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--set``: every command that reads settings takes both."""
    parser.add_argument(
        "--config", "-c", metavar="FILE", help="YAML settings file (default: none; built-in defaults apply)"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set train.epochs=2; repeatable (default: none)",
    )


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend``: how a saved model runs (torch, onnx, onnx-int8)."""
    from multinerd.model.backends import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="how to run the model (default: the directory's own: torch for a model directory, "
        "onnx for an export directory; onnx-int8 runs model_int8.onnx)",
    )


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """``--precision``: the torch backend's number format."""
    from multinerd.model.backends import PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="torch backend's number format (default: %(default)s: bf16 where the CPU or GPU "
        "computes it natively, else fp32; bf16 is refused where it is not native)",
    )


def add_decoding_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    """``--decoding``; ``default`` names the default in the help (None: the config's)."""
    from multinerd.evaluate.decoding import DECODINGS

    parser.add_argument(
        "--decoding",
        choices=DECODINGS,
        default=None,
        help="how tags are read from the model's probabilities: viterbi, the most probable valid IOB2 "
        "sequence, or argmax, each word's most likely tag "
        f"(default: {default or 'eval.decoding of the config, viterbi'})",
    )


def _min_score(text: str) -> float:
    """``--min-score``'s type: a float in [0, 1] (argparse names this function in its errors)."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """How a saved model runs: shared by ``predict`` and ``serve``."""
    add_backend_option(parser)
    add_precision_option(parser)
    add_decoding_option(parser, "viterbi")
    parser.add_argument(
        "--min-score",
        type=_min_score,
        default=None,
        metavar="S",
        help="leave out entities whose score is below S, between 0 and 1; scores are calibrated by the "
        "model directory's calibration.json when it has one (default: keep every entity)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=32,
        metavar="N",
        help="windows per model call (default: %(default)s)",
    )


def verbosity_options(default: Any) -> argparse.ArgumentParser:
    """``-v`` and ``-q``, accepted before or after the subcommand.

    Subcommands get them with a suppressed default, so an unset flag there does not
    overwrite one given before the subcommand.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument(
        "--verbose", "-v", action="store_true", default=default, help="also show library logs (default: off)"
    )
    group.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        default=default,
        help="only errors and the final summary; no progress (default: off)",
    )
    return parent


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--overwrite`` and ``--dry-run``: shared by ``run`` and ``train``."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished model or run in the output directory (default: off, refuse)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="load and encode the data, time a few training steps, estimate the run; save nothing "
        "(default: off)",
    )

