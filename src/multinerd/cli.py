"""The ``multinerd`` command: parse arguments, call one library function, print.

Library errors carry the file, line or setting at fault; here they become a one-line
message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from multinerd.config import Config, ConfigError, load_config
from multinerd.outputs import OutputExistsError, check_output

#: Exit status for bad input (data, settings, model names): the user can fix it.
EXIT_USAGE = 2


def _config(args: argparse.Namespace) -> Config:
    overrides = list(getattr(args, "set", None) or [])
    if getattr(args, "data", None):
        overrides.append(f"data.source={args.data}")
    return load_config(getattr(args, "config", None), overrides)


def _output(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.output or config.output)


def _seeds(text: str | None) -> list[int]:
    if not text:
        return []
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers like 1,2,3, got {text!r}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from multinerd.pipeline import metrics_of, run

    config = _config(args)
    output = _output(args, config)
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
            )
    if results and "B" not in results:
        print(
            "note: no B types for this data (set data.b_types=TYPE,...): trained system A alone",
            file=sys.stderr,
        )
    if results:
        print(f"report: {output / 'report.md'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from multinerd.corpus import load_corpus
    from multinerd.training import train_system

    config = _config(args)
    if args.dry_run:
        return _dry_run(config, [args.system])
    output = _output(args, config)
    check_output(output / args.system, "model", overwrite=args.overwrite, resume=args.resume)
    corpus = load_corpus(config.data.source, **config.data.loader_options())
    result = train_system(config, args.system, corpus, output, resume=args.resume)
    print(
        f"system {args.system}: best validation F1 {result.best_validation_f1}; model in {result.model_dir}"
    )
    return 0


def _dry_run(config: Config, systems: list[str]) -> int:
    from multinerd.dryrun import dry_run, format_dry_run

    print(format_dry_run(dry_run(config, systems)))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from multinerd.tune import retrain, tune

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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from multinerd.pipeline import evaluate_model

    config = _config(args)
    output = Path(args.output) if args.output else Path(args.model) / f"eval-{args.split}"
    metrics = evaluate_model(
        Path(args.model), config, split=args.split, scheme_name=args.scheme, output=output
    )
    strict, lenient = metrics["strict"]["micro"], metrics["lenient"]["micro"]
    print(
        f"{args.model} on {metrics['source']} {args.split} (scheme {metrics['scheme']}): "
        f"strict P {strict['precision']:.4f} R {strict['recall']:.4f} F1 {strict['f1']:.4f}; "
        f"lenient F1 {lenient['f1']:.4f}; {metrics['n_words_scored']}/{metrics['n_words']} words scored"
    )
    print(f"written to {output}")
    return 0


def cmd_data_stats(args: argparse.Namespace) -> int:
    from multinerd.corpus import audit, format_audit, load_corpus
    from multinerd.modelhub import load_tokenizer

    config = _config(args)
    tokenizer = load_tokenizer(args.model) if args.model else None
    summary = audit(load_corpus(config.data.source, **config.data.loader_options()), tokenizer=tokenizer)
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else format_audit(summary))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from multinerd.corpus import DataError
    from multinerd.documents import documents_from_texts, read_documents, write_predictions
    from multinerd.export import load_tagger

    documents = documents_from_texts(args.text)
    for path in args.input or []:
        documents += read_documents(path, args.input_format)
    if not documents:
        raise DataError("nothing to tag: give TEXT arguments or --input FILE")
    tagger = load_tagger(args.model, backend=args.backend, batch_size=args.batch_size)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            n_entities = write_predictions(tagger, documents, out, args.format)
        print(f"{len(documents)} documents, {n_entities} entities: written to {args.output}")
    else:
        n_entities = write_predictions(tagger, documents, sys.stdout, args.format)
        print(f"{len(documents)} documents, {n_entities} entities", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from multinerd.export import export_onnx

    check_output(Path(args.output), "export", overwrite=args.overwrite)
    result = export_onnx(
        args.model,
        args.output,
        int8=args.int8,
        parity_data=args.data,
        parity_split=args.split,
        max_sentences=args.max_sentences,
    )
    print(
        f"parity on {result.n_sentences} sentences of {result.data} ({result.split}); "
        f"torch strict F1 {result.torch_f1:.4f}"
    )
    for name, variant in result.variants.items():
        print(
            f"{name:>5}: {variant.file}: identical entities in {variant.sentence_agreement:.4f} "
            f"of sentences, strict F1 {variant.strict_f1:.4f} ({-100 * variant.f1_drop + 0.0:+.2f} points)"
        )
    if not result.passed:
        print(
            f"multinerd export: export refused: {'; '.join(result.failures())}; "
            f"files kept in {args.output} for inspection (see parity.md)",
            file=sys.stderr,
        )
        return 1  # the export ran, but its output must not be used: not a usage error
    print(f"export good: {args.output} (report: parity.md)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from multinerd.server import serve

    serve(
        args.model,
        host=args.host,
        port=args.port,
        backend=args.backend,
        max_body_bytes=args.max_body_bytes,
        max_text_chars=args.max_text_chars,
    )
    return 0


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="YAML configuration file (defaults apply without one)")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set train.epochs=2 (repeatable)",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished model or run in the output directory (default: %(default)s, refuse)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="load and encode the data, time a few training steps, estimate the run; save nothing "
        "(default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="multinerd", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="show library logs")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train A and B, score both on test, compare, write the report")
    _add_config_options(run)
    run.add_argument("--output", "-o", help="output directory (default: the config's output)")
    run.add_argument("--seeds", help="comma-separated seeds: one run each, mean and spread reported")
    run.add_argument(
        "--resume", action="store_true", help="continue interrupted training from its last checkpoint"
    )
    _add_output_options(run)
    run.set_defaults(handler=cmd_run)

    train = commands.add_parser("train", help="train one system")
    _add_config_options(train)
    train.add_argument("--system", choices=["A", "B"], required=True)
    train.add_argument("--output", "-o")
    train.add_argument("--resume", action="store_true")
    _add_output_options(train)
    train.set_defaults(handler=cmd_train)

    tune = commands.add_parser("tune", help="search the training recipe on validation F1 (Optuna)")
    _add_config_options(tune)
    tune.add_argument(
        "--system", choices=["A", "B"], required=True, help="the system whose recipe is searched"
    )
    tune.add_argument(
        "--trials", type=int, help="finished trials the study should hold (default: tune.trials)"
    )
    tune.add_argument("--timeout", type=float, help="seconds this worker may search (default: tune.timeout)")
    tune.add_argument(
        "--storage",
        help="Optuna storage URL shared by workers, e.g. postgresql://host/db "
        "(default: sqlite file study.db in the output directory)",
    )
    tune.add_argument("--study", help="study name (default: multinerd-SYSTEM)")
    tune.add_argument("--output", "-o", help="output directory (default: the config's output + -tune-SYSTEM)")
    tune.add_argument(
        "--retrain",
        action="store_true",
        help="train the best config and score it on test, as run does (default: %(default)s)",
    )
    tune.set_defaults(handler=cmd_tune)

    evaluate = commands.add_parser("evaluate", help="score a saved model on any source and split")
    _add_config_options(evaluate)
    evaluate.add_argument("--model", "-m", required=True, help="model directory")
    evaluate.add_argument("--data", help="data source (sample, hub, jsonl:DIR, tsv:DIR, conll:DIR)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--scheme", choices=["A", "B"], help="B scores an A model in B's label space")
    evaluate.add_argument("--output", "-o", help="default: MODEL/eval-SPLIT")
    evaluate.set_defaults(handler=cmd_evaluate)

    data = commands.add_parser("data", help="data tools")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    stats = data_commands.add_parser(
        "stats", help="sizes, types, languages, duplicates, split overlap, problems"
    )
    _add_config_options(stats)
    stats.add_argument("--data", help="data source (default: the config's, else sample)")
    stats.add_argument("--model", help="also count sub-tokens with this model's tokenizer")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=cmd_data_stats)

    predict = commands.add_parser("predict", help="tag raw text or pre-split words; entities with offsets")
    predict.add_argument("text", nargs="*", metavar="TEXT", help="raw text documents to tag")
    predict.add_argument(
        "--model", "-m", required=True, help="model directory (an export directory for onnx)"
    )
    predict.add_argument(
        "--input",
        "-i",
        action="append",
        metavar="FILE",
        help="file of documents: plain text (one per line), .jsonl (text or tokens) "
        "or .conll; - reads stdin (repeatable)",
    )
    predict.add_argument(
        "--input-format",
        choices=["auto", "text", "jsonl", "conll"],
        default="auto",
        help="how to read --input (default: by suffix; .jsonl, .conll, else plain text)",
    )
    predict.add_argument("--output", "-o", help="output file (default: standard output)")
    predict.add_argument("--format", "-f", choices=["jsonl", "tsv", "conll"], default="jsonl")
    predict.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default="torch")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.set_defaults(handler=cmd_predict)

    export = commands.add_parser("export", help="ONNX (and int8) export with a parity report")
    export.add_argument("--model", "-m", required=True, help="model directory")
    export.add_argument("--output", "-o", required=True, help="export directory")
    export.add_argument(
        "--int8", action="store_true", help="also write model_int8.onnx (dynamic quantisation)"
    )
    export.add_argument("--data", default="sample", help="data source for the parity check (default: sample)")
    export.add_argument("--split", default="validation", help="split for the parity check")
    export.add_argument("--max-sentences", type=int, help="check parity on the first N sentences only")
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished export in --output (default: %(default)s, refuse)",
    )
    export.set_defaults(handler=cmd_export)

    serve = commands.add_parser("serve", help="HTTP API and demo page")
    serve.add_argument(
        "--model",
        "-m",
        action="append",
        required=True,
        metavar="DIR|NAME=DIR",
        help="model directory, named by its directory name (repeatable: A and B side by side)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], default="torch")
    serve.add_argument("--max-body-bytes", type=int, default=1_000_000)
    serve.add_argument("--max-text-chars", type=int, default=100_000)
    serve.set_defaults(handler=cmd_serve)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input the user can fix. Evaluated only when an exception is raised,
    so the heavy modules are imported only then."""
    from multinerd.corpus import DataError
    from multinerd.export import ExportError
    from multinerd.features import AlignmentError
    from multinerd.labels import TagError
    from multinerd.modelhub import ModelNotFoundError
    from multinerd.scoring import ScoringError
    from multinerd.server import ServeError
    from multinerd.tagger import TaggerError

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
        OutputExistsError,
    )


def _quiet_libraries() -> None:
    """Keep library chatter (weight-loading tables, advice) out of the output; progress bars stay."""
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # Hides per-load bars ("Loading weights"); training and tagging bars use tqdm directly and stay.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if not args.verbose:
        _quiet_libraries()
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except _known_errors() as err:
        print(f"multinerd {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
