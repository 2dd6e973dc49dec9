"""The ``multinerd`` commands that use a trained model: predict, predict-corpus, export, serve.

Each command is an ``add_*`` function registering its sub-parser and options beside the ``cmd_*``
handler that reads them, so a command is read in one place.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from multinerd import progress
from multinerd.apps.cli_options import Commands, add_command, add_runtime_options
from multinerd.model.outputs import check_output

#: Environment variable holding the API key for ``serve`` (so it stays out of ``ps`` and shell history).
API_KEY_ENV = "MULTINERD_API_KEY"


def _predict_inputs(args: argparse.Namespace) -> list[Any]:
    """The documents to tag: TEXT arguments, then each ``--input`` file; standard input when
    neither is given and it is not a terminal (``echo TEXT | multinerd predict ...``)."""
    from multinerd.apps.documents import documents_from_texts, read_input
    from multinerd.data.corpus import DataError

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
        progress.say(f"{where}: read as {read.format} (by {read.reason}), {len(read.documents)} documents")
        documents += read.documents
    return documents


def cmd_predict(args: argparse.Namespace) -> int:
    """``multinerd predict``: tag documents with one model, written as JSONL, TSV or CoNLL."""
    from multinerd.apps.documents import write_predictions
    from multinerd.model.tagger import Tagger

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
        if args.min_score is not None:
            progress.say(f"--min-score {args.min_score}: {tagger.temperature_note}")
        n_entities = write_predictions(tagger, documents, out, args.format, min_score=args.min_score)
    summary = f"{len(documents)} documents, {n_entities} entities"
    if args.output:
        print(f"{summary}: written to {args.output}")
    else:
        progress.say(summary)
    return 0


def add_predict(commands: Commands) -> None:
    """``predict``: tag TEXT arguments, files or standard input with one model."""
    predict = add_command(commands, "predict", "tag raw text or pre-split words; entities with offsets")
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
    add_runtime_options(predict)
    predict.set_defaults(handler=cmd_predict)


def cmd_predict_corpus(args: argparse.Namespace) -> int:
    """``multinerd predict-corpus``: kept apart so only this command pays for importing Ray."""
    from multinerd.apps.corpus_predict import run_command  # imports Ray: only this command does

    return run_command(args)


def add_predict_corpus(commands: Commands) -> None:
    """``predict-corpus``: ``predict`` over many files on Ray Data (multinerd.apps.corpus_predict)."""
    corpus = add_command(
        commands, "predict-corpus", "tag a corpus of many files on Ray Data, resumable; shards out"
    )
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
    add_runtime_options(corpus)
    corpus.set_defaults(handler=cmd_predict_corpus)


def cmd_export(args: argparse.Namespace) -> int:
    """``multinerd export``: ONNX files; exit status 1 when a file fails its parity check."""
    from multinerd.model.export import export_onnx

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


def add_export(commands: Commands) -> None:
    """``export``: ONNX files, each kept only if it passes its parity check."""
    export = add_command(commands, "export", "ONNX (and int8) export with a parity report")
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


def cmd_serve(args: argparse.Namespace) -> int:
    """``multinerd serve``: the HTTP API; the key may come from the environment, out of ``ps``."""
    import os

    from multinerd.apps.server import serve

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


def add_serve(commands: Commands) -> None:
    """``serve``: the HTTP API and demo page, with its request limits."""
    serve = add_command(commands, "serve", "HTTP API and demo page")
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
    add_runtime_options(serve)
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

