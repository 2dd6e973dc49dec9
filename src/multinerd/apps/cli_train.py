"""The ``multinerd`` commands that make and measure models: run, train, tune, evaluate, score, data stats.

Each command is an ``add_*`` function registering its sub-parser and options beside the ``cmd_*``
handler that reads them, so a command is read in one place.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from multinerd.apps.cli_options import (
    Commands,
    add_backend_option,
    add_command,
    add_config_options,
    add_decoding_option,
    add_output_options,
    config_of,
    output_of,
)
from multinerd.config import Config, ConfigError, load_config
from multinerd.model.outputs import check_output


def _seeds(text: str | None) -> list[int]:
    """``--seeds 1,2,3`` as integers; a typo is a usage error, not a traceback."""
    if not text:
        return []
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers like 1,2,3, got {text!r}") from None


def _dry_run(config: Config, systems: list[str]) -> int:
    """``--dry-run``: estimate the run and save nothing."""
    from multinerd.apps.dryrun import dry_run, format_dry_run

    print(format_dry_run(dry_run(config, systems)))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``multinerd run``: the README's recipe end to end; one line of scores per system."""
    from multinerd.apps.pipeline import run
    from multinerd.evaluate.decodingreport import decoding_note
    from multinerd.evaluate.report import metrics_of

    config = config_of(args)
    output = output_of(args, config)
    if args.dry_run:
        return _dry_run(config, ["A", "B"])
    check_output(output, "run", overwrite=args.overwrite, resume=args.resume)
    results = run(config, output, seeds=_seeds(args.seeds), resume=args.resume)
    for system in ("A", "B", "A_in_B_space"):
        if system in results:
            metrics = metrics_of(results, system)
            print(
                f"{system:>13}: strict micro F1 {metrics['strict']['micro']['f1']:.4f}  "
                f"lenient {metrics['lenient']['micro']['f1']:.4f}  ({metrics['n_words_scored']} words scored)"
                + decoding_note(results.get(system))
            )
    if results and "B" not in results:
        print(
            "note: no B types for this data (set data.b_types=TYPE,...): trained system A alone",
            file=sys.stderr,
        )
    if results:
        print(f"report: {output / 'report.md'}")
    return 0


def add_run(commands: Commands) -> None:
    """``run``: the whole recipe, A and B, as the README runs it."""
    run = add_command(commands, "run", "train A and B, score both on test, compare, write the report")
    add_config_options(run)
    run.add_argument("--output", "-o", metavar="DIR", help="output directory (default: the config's output)")
    run.add_argument(
        "--seeds",
        metavar="S1,S2,...",
        help="comma-separated seeds: one run each, mean and spread reported (default: the config's seed)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue interrupted training from its last checkpoint (default: start afresh)",
    )
    add_output_options(run)
    add_decoding_option(run, None)
    run.set_defaults(handler=cmd_run)


def cmd_train(args: argparse.Namespace) -> int:
    """``multinerd train``: one system's model directory, with its model card."""
    from multinerd.apps.pipeline import describe_model
    from multinerd.data.corpus import load_configured
    from multinerd.model.training import is_main_process, train_system

    config = config_of(args)
    if args.dry_run:
        return _dry_run(config, [args.system])
    output = output_of(args, config)
    check_output(output / args.system, "model", overwrite=args.overwrite, resume=args.resume)
    corpus = load_configured(config.data)
    result = train_system(config, args.system, corpus, output, resume=args.resume)
    if is_main_process():  # under torchrun every rank gets here; one summary is enough
        describe_model(config, result, corpus)
        print(
            f"system {args.system}: best validation F1 {result.best_validation_f1}; model in {result.model_dir} "
            "(validation_metrics.json, README.md model card)"
        )
    return 0


def add_train(commands: Commands) -> None:
    """``train``: one system, resumable."""
    train = add_command(commands, "train", "train one system")
    add_config_options(train)
    train.add_argument(
        "--system",
        choices=["A", "B"],
        required=True,
        help="A: all the data's types; B: the types in data.b_types (required)",
    )
    train.add_argument(
        "--output", "-o", metavar="DIR", help="the model goes to DIR/SYSTEM (default: the config's output)"
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint under DIR/.work/SYSTEM (default: start afresh)",
    )
    add_output_options(train)
    add_decoding_option(train, None)
    train.set_defaults(handler=cmd_train)


def cmd_tune(args: argparse.Namespace) -> int:
    """``multinerd tune``: search the recipe; ``--retrain`` scores the winner as ``run`` would."""
    from multinerd.apps.tune import retrain, tune

    overrides = [f"tune.{name}={value}" for name in ("trials", "timeout") if (value := getattr(args, name))]
    config = load_config(args.config, [*(args.set or []), *overrides])
    output = Path(args.output or f"{config.output}-tune-{args.system}")
    result = tune(config, args.system, output, storage=args.storage, study_name=args.study)
    best = f"{result.best_value:.4f}" if result.best_value is not None else "none yet"
    print(f"{result.trials} finished trials; best validation F1 {best}; config {result.best_config}")
    print(f"report: {output / 'tune.md'}")
    if args.retrain:
        retrain(result)
        print(f"best config retrained and scored on test: {result.best_config}")
    return 0


def add_tune(commands: Commands) -> None:
    """``tune``: an Optuna search, shareable by workers through ``--storage``."""
    tune = add_command(commands, "tune", "search the training recipe on validation F1 (Optuna)")
    add_config_options(tune)
    tune.add_argument(
        "--system", choices=["A", "B"], required=True, help="the system whose recipe is searched (required)"
    )
    tune.add_argument(
        "--trials", type=int, metavar="N", help="finished trials the study should hold (default: tune.trials)"
    )
    tune.add_argument(
        "--timeout", type=float, metavar="S", help="seconds this worker may search (default: tune.timeout)"
    )
    tune.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage URL shared by workers, e.g. postgresql://host/db "
        "(default: sqlite file study.db in the output directory)",
    )
    tune.add_argument("--study", metavar="NAME", help="study name (default: multinerd-SYSTEM)")
    tune.add_argument(
        "--output", "-o", metavar="DIR", help="output directory (default: the config's output + -tune-SYSTEM)"
    )
    tune.add_argument(
        "--retrain",
        action="store_true",
        help="train the best config and score it on test, as run does (default: off)",
    )
    tune.set_defaults(handler=cmd_tune)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``multinerd evaluate``: score a saved model, with its gold mapping and decoding named."""
    from multinerd.apps.pipeline import evaluate_model
    from multinerd.evaluate.report import summary_lines

    config = config_of(args)
    output = Path(args.output) if args.output else Path(args.model) / f"eval-{args.split}"
    metrics = evaluate_model(
        Path(args.model),
        config,
        split=args.split,
        scheme_name=args.scheme,
        restrict_to_model_types=args.restrict_to_model_types,
        output=output,
        backend=args.backend,
    )
    label = (
        f"{args.model} on {metrics['source']} {args.split} "
        f"(scheme {metrics['scheme']}: {metrics['gold_mapping']}; {metrics['decoding']} decoding)"
    )
    print("\n".join(summary_lines(metrics, label)))
    print(f"written to {output}")
    return 0


def add_evaluate(commands: Commands) -> None:
    """``evaluate``: a saved model on any source, split and scheme."""
    evaluate = add_command(commands, "evaluate", "score a saved model on any source and split")
    add_config_options(evaluate)
    evaluate.add_argument("--model", "-m", required=True, metavar="DIR", help="model directory (required)")
    evaluate.add_argument(
        "--data",
        metavar="SOURCE",
        help="data source: sample, hub, hub:OWNER/NAME, disk:DIR, jsonl:DIR, tsv:DIR, conll:DIR or "
        "conll:FILE (default: the config's)",
    )
    evaluate.add_argument("--split", default="test", help="split to score (default: %(default)s)")
    evaluate.add_argument(
        "--scheme",
        metavar="SCHEME",
        help="score in this scheme: the model's own, B (B's types, for an A model) or a comma-separated "
        "subset of its types such as PER,LOC (default: the model's own)",
    )
    evaluate.add_argument(
        "--restrict-to-model-types",
        action="store_true",
        help="leave out gold entities of types the model does not know, and say so "
        "(default: off: they count as missed)",
    )
    evaluate.add_argument("--output", "-o", metavar="DIR", help="where to write (default: MODEL/eval-SPLIT)")
    add_backend_option(evaluate)
    add_decoding_option(evaluate, None)
    evaluate.set_defaults(handler=cmd_evaluate)


def cmd_score(args: argparse.Namespace) -> int:
    """``multinerd score``: score a file of predictions made by any tool."""
    from multinerd.apps.pipeline import score_file
    from multinerd.evaluate.report import summary_lines

    config = config_of(args)
    output = Path(args.output) if args.output else Path(f"{args.file}.scores")
    metrics = score_file(args.file, bootstrap=config.eval.bootstrap, seed=config.eval.seed, output=output)
    print("\n".join(summary_lines(metrics, args.file)))
    print(f"written to {output}")
    return 0


def add_score(commands: Commands) -> None:
    """``score``: predictions made by any tool, scored as ours are."""
    score = add_command(commands, "score", "score predictions made anywhere: CoNLL 'token … gold pred' or predictions.jsonl")
    add_config_options(score)
    score.add_argument(
        "file", metavar="FILE", help="CoNLL file with gold and predicted tag columns, or predictions.jsonl (required)"
    )
    score.add_argument(
        "--output", "-o", metavar="DIR", help="directory for metrics.json and report.md (default: FILE.scores)"
    )
    score.set_defaults(handler=cmd_score)


def cmd_data_stats(args: argparse.Namespace) -> int:
    """``multinerd data stats``: what is in the data and what is wrong with it, before training."""
    from multinerd.data.audit import audit, format_audit
    from multinerd.data.corpus import load_configured
    from multinerd.model.modelhub import load_tokenizer

    config = config_of(args)
    tokenizer = load_tokenizer(args.model) if args.model else None
    summary = audit(load_configured(config.data), tokenizer=tokenizer)
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else format_audit(summary))
    return 0


def add_data(commands: Commands) -> None:
    """``data``, a group of data tools: today ``data stats``."""
    data = commands.add_parser("data", help="data tools (data stats)", description="Data tools.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    stats = add_command(
        data_commands, "stats", "sizes, types, languages, duplicates, split overlap, problems"
    )
    add_config_options(stats)
    stats.add_argument("--data", metavar="SOURCE", help="data source (default: the config's, else sample)")
    stats.add_argument(
        "--model", metavar="DIR", help="also count sub-tokens with this model's tokenizer (default: none)"
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    stats.set_defaults(handler=cmd_data_stats)

