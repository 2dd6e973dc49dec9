"""The ``multinerd`` command: parse arguments, call one library function, print.

Library errors carry the file, line or setting at fault; here they become a one-line
message on stderr and exit status 2, never a traceback. Results go to standard output;
progress, stages and warnings to standard error (``--quiet`` keeps only errors there).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from multinerd import __version__, progress
from multinerd.config import Config, ConfigError, load_config
from multinerd.outputs import OutputExistsError, check_output

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
#: Environment variable holding the API key for ``serve`` (so it stays out of ``ps`` and shell history).
API_KEY_ENV = "MULTINERD_API_KEY"


def _config(args: argparse.Namespace) -> Config:
    overrides = list(getattr(args, "set", None) or [])
    if getattr(args, "data", None):
        overrides.append(f"data.source={args.data}")
    if getattr(args, "decoding", None):
        overrides.append(f"eval.decoding={args.decoding}")
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
    from multinerd.decodingreport import decoding_note
    from multinerd.pipeline import run
    from multinerd.report import metrics_of

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


def cmd_train(args: argparse.Namespace) -> int:
    from multinerd.corpus import load_corpus
    from multinerd.pipeline import describe_model
    from multinerd.training import is_main_process, train_system

    config = _config(args)
    if args.dry_run:
        return _dry_run(config, [args.system])
    output = _output(args, config)
    check_output(output / args.system, "model", overwrite=args.overwrite, resume=args.resume)
    corpus = load_corpus(config.data.source, **config.data.loader_options())
    result = train_system(config, args.system, corpus, output, resume=args.resume)
    if is_main_process():  # under torchrun every rank gets here; one summary is enough
        describe_model(config, result, corpus)
        print(
            f"system {args.system}: best validation F1 {result.best_validation_f1}; model in {result.model_dir} "
            "(validation_metrics.json, README.md model card)"
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
    from multinerd.report import summary_lines

    config = _config(args)
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


def cmd_score(args: argparse.Namespace) -> int:
    from multinerd.pipeline import score_file
    from multinerd.report import summary_lines

    config = _config(args)
    output = Path(args.output) if args.output else Path(f"{args.file}.scores")
    metrics = score_file(args.file, bootstrap=config.eval.bootstrap, seed=config.eval.seed, output=output)
    print("\n".join(summary_lines(metrics, args.file)))
    print(f"written to {output}")
    return 0


def cmd_data_stats(args: argparse.Namespace) -> int:
    from multinerd.audit import audit, format_audit
    from multinerd.corpus import load_corpus
    from multinerd.modelhub import load_tokenizer

    config = _config(args)
    tokenizer = load_tokenizer(args.model) if args.model else None
    summary = audit(load_corpus(config.data.source, **config.data.loader_options()), tokenizer=tokenizer)
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else format_audit(summary))
    return 0


def _predict_inputs(args: argparse.Namespace) -> list[Any]:
    """The documents to tag: TEXT arguments, then each ``--input`` file; standard input when
    neither is given and it is not a terminal (``echo TEXT | multinerd predict ...``)."""
    from multinerd.corpus import DataError
    from multinerd.documents import documents_from_texts, read_input

    inputs = list(args.input or [])
    if not args.text and not inputs:
        if sys.stdin is None or sys.stdin.isatty():
            raise DataError(
                "nothing to tag: give TEXT arguments, --input FILE, or pipe text to standard input"
            )
        inputs = ["-"]
    documents = documents_from_texts(args.text)
    for path in inputs:
        read = read_input(path, args.input_format)
        where = "standard input" if path == "-" else path
        if not read.documents:
            raise DataError(f"{where} is empty: no documents to tag")
        if not progress.is_quiet():
            found = f"{len(read.documents)} documents"
            print(f"{where}: read as {read.format} (by {read.reason}), {found}", file=sys.stderr)
        documents += read.documents
    return documents


def cmd_predict(args: argparse.Namespace) -> int:
    from multinerd.documents import write_predictions
    from multinerd.tagger import Tagger

    documents = _predict_inputs(args)
    # Opened before the model loads, so an unwritable path fails at once (one line, see main).
    with (
        open(args.output, "w", encoding="utf-8") if args.output else contextlib.nullcontext(sys.stdout) as out
    ):
        tagger = Tagger.from_pretrained(
            args.model,
            backend=args.backend,
            precision=args.precision,
            batch_size=args.batch_size,
            decoding=args.decoding,
        )
        if args.min_score is not None and not progress.is_quiet():
            print(f"--min-score {args.min_score}: {tagger.temperature_note}", file=sys.stderr)
        n_entities = write_predictions(tagger, documents, out, args.format, min_score=args.min_score)
    summary = f"{len(documents)} documents, {n_entities} entities"
    if args.output:
        print(f"{summary}: written to {args.output}")
    elif not progress.is_quiet():
        print(summary, file=sys.stderr)
    return 0


def cmd_predict_corpus(args: argparse.Namespace) -> int:
    from multinerd.corpus_predict import run_command  # imports Ray: only this command does

    return run_command(args)


def _add_predict_corpus(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """``predict-corpus``: ``predict`` over many files on Ray Data (multinerd.corpus_predict)."""
    corpus = command("predict-corpus", "tag a corpus of many files on Ray Data, resumable; shards out")
    corpus.add_argument(
        "--model", "-m", required=True, metavar="DIR", help="model or export directory (required)"
    )
    corpus.add_argument(
        "--input",
        "-i",
        required=True,
        nargs="+",
        metavar="DIR|GLOB|FILE",
        help="directories, globs or files: .parquet, plain text, .jsonl or .conll (required)",
    )
    corpus.add_argument(
        "--output", "-o", required=True, metavar="DIR", help="output directory of shards (required)"
    )
    corpus.add_argument(
        "--text-column", default="text", help="Parquet column of the texts (default: %(default)s)"
    )
    corpus.add_argument(
        "--id-column",
        metavar="NAME",
        help="Parquet/JSONL field with a document id (default: none; ids are FILE:LINE)",
    )
    corpus.add_argument(
        "--input-format",
        choices=["auto", "text", "jsonl", "conll"],
        default="auto",
        help="how to read files other than .parquet, as for predict (default: %(default)s)",
    )
    corpus.add_argument(
        "--format",
        "-f",
        choices=["parquet", "jsonl"],
        default="parquet",
        help="shard format (default: %(default)s)",
    )
    corpus.add_argument(
        "--address",
        metavar="ray://HOST:PORT|auto",
        help="join a running Ray cluster (default: start a local Ray on this machine)",
    )
    corpus.add_argument("--cpus", type=int, metavar="N", help="CPUs of the local Ray (default: all usable)")
    corpus.add_argument(
        "--actors",
        type=int,
        metavar="N",
        help="model copies; threads per actor = CPUs / N (default: one per CPU)",
    )
    corpus.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished (or differently set) output (default: off, refuse; "
        "a partial output with the same settings is continued)",
    )
    _add_runtime_options(corpus)
    corpus.set_defaults(handler=cmd_predict_corpus)


def cmd_export(args: argparse.Namespace) -> int:
    from multinerd.export import export_onnx

    check_output(Path(args.output), "export", overwrite=args.overwrite)
    result = export_onnx(
        args.model,
        args.output,
        int8=args.int8,
        force=args.force,
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
            f"{name:>5}: {variant.file}: entity agreement {variant.entity_agreement:.4f}, strict F1 "
            f"{variant.strict_f1:.4f} ({-100 * variant.f1_drop + 0.0:+.2f} points): "
            f"{'accepted' if variant.passed else 'refused, ' + variant.status}"
        )
    if not result.passed:
        kept = "kept and marked refused (--force)" if args.force else "removed (keep with --force)"
        print(
            f"multinerd export: refused: {'; '.join(result.failures())}; refused files {kept}; "
            f"see {args.output}/parity.md",
            file=sys.stderr,
        )
        return 1  # the export ran, but a refused file must not be used: not a usage error
    print(f"export good: {args.output} (report: parity.md)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from multinerd.server import serve

    serve(
        args.model,
        host=args.host,
        port=args.port,
        backend=args.backend,
        batch_size=args.batch_size,
        precision=args.precision,
        decoding=args.decoding,
        min_score=args.min_score,
        api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        no_auth=args.no_auth,
        max_body_bytes=args.max_body_bytes,
        max_text_chars=args.max_text_chars,
        max_documents=args.max_documents,
        batch_wait_ms=args.batch_wait_ms,
        max_batch_documents=args.max_batch_documents,
    )
    return 0


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", metavar="FILE", help="YAML settings file (default: none; built-in defaults apply)"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set train.epochs=2; repeatable (default: none)",
    )


def _add_backend_option(parser: argparse.ArgumentParser) -> None:
    from multinerd.backends import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="how to run the model (default: the directory's own: torch for a model directory, "
        "onnx for an export directory; onnx-int8 runs model_int8.onnx)",
    )


def _add_precision_option(parser: argparse.ArgumentParser) -> None:
    from multinerd.backends import PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="torch backend's number format (default: %(default)s: bf16 where the CPU or GPU "
        "computes it natively, else fp32; bf16 is refused where it is not native)",
    )


def _add_decoding_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    from multinerd.decoding import DECODINGS

    parser.add_argument(
        "--decoding",
        choices=DECODINGS,
        default=None,
        help="how tags are read from the model's probabilities: viterbi, the most probable valid IOB2 "
        "sequence, or argmax, each word's most likely tag "
        f"(default: {default or 'eval.decoding of the config, viterbi'})",
    )


def _min_score(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """How a saved model runs: shared by ``predict`` and ``serve``."""
    _add_backend_option(parser)
    _add_precision_option(parser)
    _add_decoding_option(parser, "viterbi")
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


def _verbosity_options(default: Any) -> argparse.ArgumentParser:
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


def _add_output_options(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multinerd",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_verbosity_options(False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_verbosity_options(argparse.SUPPRESS)]

    def command(name: str, help_text: str, parent: Any = commands) -> argparse.ArgumentParser:
        return parent.add_parser(
            name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".", parents=common
        )

    run = command("run", "train A and B, score both on test, compare, write the report")
    _add_config_options(run)
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
    _add_output_options(run)
    _add_decoding_option(run, None)
    run.set_defaults(handler=cmd_run)

    train = command("train", "train one system")
    _add_config_options(train)
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
    _add_output_options(train)
    _add_decoding_option(train, None)
    train.set_defaults(handler=cmd_train)

    tune = command("tune", "search the training recipe on validation F1 (Optuna)")
    _add_config_options(tune)
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

    evaluate = command("evaluate", "score a saved model on any source and split")
    _add_config_options(evaluate)
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
    _add_backend_option(evaluate)
    _add_decoding_option(evaluate, None)
    evaluate.set_defaults(handler=cmd_evaluate)

    score = command("score", "score predictions made anywhere: CoNLL 'token … gold pred' or predictions.jsonl")
    _add_config_options(score)
    score.add_argument(
        "file", metavar="FILE", help="CoNLL file with gold and predicted tag columns, or predictions.jsonl (required)"
    )
    score.add_argument(
        "--output", "-o", metavar="DIR", help="directory for metrics.json and report.md (default: FILE.scores)"
    )
    score.set_defaults(handler=cmd_score)

    data = commands.add_parser("data", help="data tools (data stats)", description="Data tools.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    stats = command("stats", "sizes, types, languages, duplicates, split overlap, problems", data_commands)
    _add_config_options(stats)
    stats.add_argument("--data", metavar="SOURCE", help="data source (default: the config's, else sample)")
    stats.add_argument(
        "--model", metavar="DIR", help="also count sub-tokens with this model's tokenizer (default: none)"
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    stats.set_defaults(handler=cmd_data_stats)

    predict = command("predict", "tag raw text or pre-split words; entities with offsets")
    predict.add_argument(
        "text",
        nargs="*",
        metavar="TEXT",
        help="raw text documents to tag (default: --input, else standard input)",
    )
    predict.add_argument(
        "--model",
        "-m",
        required=True,
        metavar="DIR",
        help="model directory, or an export directory for onnx (required)",
    )
    predict.add_argument(
        "--input",
        "-i",
        action="append",
        metavar="FILE",
        help="file of documents: plain text (one per line), .jsonl (text or tokens) "
        "or .conll; - reads standard input; repeatable (default: none)",
    )
    predict.add_argument(
        "--input-format",
        choices=["auto", "text", "jsonl", "conll"],
        default="auto",
        help="how to read --input: auto goes by suffix (.jsonl, .conll, .iob2, .bio), else by content: "
        "token-and-tag lines are CoNLL, a JSON object a line is JSONL, else plain text (default: %(default)s)",
    )
    predict.add_argument("--output", "-o", metavar="FILE", help="output file (default: standard output)")
    predict.add_argument(
        "--format",
        "-f",
        choices=["jsonl", "tsv", "conll"],
        default="jsonl",
        help="output format (default: %(default)s)",
    )
    _add_runtime_options(predict)
    predict.set_defaults(handler=cmd_predict)

    _add_predict_corpus(command)

    export = command("export", "ONNX (and int8) export with a parity report")
    export.add_argument("--model", "-m", required=True, metavar="DIR", help="model directory (required)")
    export.add_argument("--output", "-o", required=True, metavar="DIR", help="export directory (required)")
    export.add_argument(
        "--int8",
        action="store_true",
        help="also write model_int8.onnx, dynamic int8 quantisation (default: off)",
    )
    export.add_argument(
        "--data",
        default="sample",
        metavar="SOURCE",
        help="data source for the parity check (default: %(default)s)",
    )
    export.add_argument(
        "--split", default="validation", help="split for the parity check (default: %(default)s)"
    )
    export.add_argument(
        "--max-sentences",
        type=int,
        metavar="N",
        help="check parity on the first N sentences only (default: all)",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="keep a file that fails its parity check, marked refused (every later use warns); "
        "default: off, such a file is removed",
    )
    export.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished export in --output (default: off, refuse)",
    )
    export.set_defaults(handler=cmd_export)

    serve = command("serve", "HTTP API and demo page")
    serve.add_argument(
        "--model",
        "-m",
        action="append",
        required=True,
        metavar="DIR|NAME=DIR",
        help="model directory, named by its directory name; repeatable: A and B side by side (required)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind; other than loopback needs --api-key or --no-auth (default: %(default)s)",
    )
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    _add_runtime_options(serve)
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' on /predict and /models "
        f"(default: ${API_KEY_ENV}, else none)",
    )
    serve.add_argument(
        "--no-auth", action="store_true", help="allow a non-loopback --host without an API key (default: off)"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=1_000_000,
        metavar="N",
        help="largest request body; larger ones get 413 (default: %(default)s)",
    )
    serve.add_argument(
        "--max-text-chars",
        type=int,
        default=100_000,
        metavar="N",
        help="longest document in characters; longer ones get 413 (default: %(default)s)",
    )
    serve.add_argument(
        "--max-documents",
        type=int,
        default=256,
        metavar="N",
        help="most documents in one request; more get 413 (default: %(default)s)",
    )
    serve.add_argument(
        "--batch-wait-ms",
        type=float,
        default=5.0,
        metavar="MS",
        help="how long a request waits for others to share its model call (default: %(default)s)",
    )
    serve.add_argument(
        "--max-batch-documents",
        type=int,
        default=64,
        metavar="N",
        help="most documents tagged in one shared model call (default: %(default)s)",
    )
    serve.set_defaults(handler=cmd_serve)
    return parser


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input the user can fix. Evaluated only when an exception is raised,
    so the heavy modules are imported only then."""
    from multinerd.backends import BackendError
    from multinerd.corpus import DataError
    from multinerd.export import ExportError
    from multinerd.features import AlignmentError
    from multinerd.labels import TagError
    from multinerd.modeldir import ModelDirError
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
