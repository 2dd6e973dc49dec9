"""``multinerd predict-corpus``: a model over a corpus of many files, on Ray Data, resumable.

The shape is Ray Data's: a dataset of input files, a read stage that turns each file into
document rows (:func:`multinerd.apps.corpus_files.read_rows`, in Ray tasks), a tagging stage in
a pool of **actors** (``map_batches(TagActor, compute=ActorPoolStrategy(size=N))``: the model loads once per
actor, through the same :meth:`Tagger.from_pretrained` as ``predict``, with the backend
``predict`` would pick) and the driver, which writes one shard per finished input file and
records it in the manifest (:mod:`multinerd.apps.corpus_files` says how that stays exact when a
run is killed). Each actor tags a whole file's block in one call, so the windows of a file
are sorted by length together, as ``predict`` sorts its input.

Without ``address`` a local Ray starts with the machine's usable CPUs (or ``cpus``), a small
object store and its workers at the caller's priority (Ray's default niceness is 15); with ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) the run
joins a running cluster, whose nodes must see the input files at the same paths; the driver
writes the output where it runs. Actors x threads per actor = the cluster's CPUs.

Only this module imports Ray, and only ``predict-corpus`` imports this module.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray

from multinerd import progress
from multinerd.apps.corpus_files import (
    ERRORS_DIR,
    MANIFEST,
    PREDICTIONS_DIR,
    SUMMARY,
    ReadOptions,
    UnreadableFile,
    find_inputs,
    read_manifest,
    read_rows,
    remove_temporaries,
    shard_name,
    write_json,
    write_shard,
)
from multinerd.data.readers import DataError
from multinerd.model.outputs import OutputExistsError

#: Ray's shared-memory object store for a local Ray: small, since rows are text and entities,
#: and the machine stays usable for other work.
OBJECT_STORE_BYTES = 200 * 1024**2


# ---------------------------------------------------------------------------- the Ray stages


def read_unit(item: dict[str, Any], options: ReadOptions) -> list[dict[str, Any]]:
    """The rows of one input file, each marked with its file and the file's row count, so the
    driver knows when a file is complete. An unreadable file gives one ``unreadable`` row, an
    empty one an error row: a file never just vanishes."""
    path = item["path"]
    try:
        rows = read_rows(path, options)
        if not rows:
            rows = [{"id": f"{path}:0", "file": path, "line": 0, "kind": "error", "text": "", "tokens": "",
                     "reason": "the file holds no documents"}]  # fmt: skip
    except UnreadableFile as err:
        rows = [{"id": path, "file": path, "line": 0, "kind": "unreadable", "text": "", "tokens": "",
                 "reason": str(err)}]  # fmt: skip
    for row in rows:
        row["unit"], row["n_unit"] = path, len(rows)
    return rows


class TagActor:
    """A Ray actor holding one loaded model; each call tags one batch of document rows."""

    def __init__(self, model: str, backend: str, precision: str, batch_size: int, threads: int,
                 decoding: str = "viterbi", min_score: float | None = None) -> None:
        from multinerd.model.tagger import Tagger

        self.min_score = min_score

        os.environ["OMP_NUM_THREADS"] = str(threads)
        self.tagger = Tagger.from_pretrained(
            model, backend=backend, precision=precision, batch_size=batch_size, progress=False, decoding=decoding
        )
        if backend == "torch":
            import torch

            torch.set_num_threads(threads)
        else:  # the loader gives ONNX Runtime every usable CPU; this actor owns only `threads` of them
            from multinerd.model.backends import BACKEND_FILES, OnnxBackend

            self.tagger.forward = OnnxBackend(
                Path(model) / str(BACKEND_FILES[backend]), threads=threads
            ).logits

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        from multinerd.apps.documents import Document, annotate, document_words

        kinds = [str(kind) for kind in batch["kind"]]
        tagged = [i for i, kind in enumerate(kinds) if kind in ("text", "tokens")]
        documents = [
            Document(text=str(batch["text"][i])) if kinds[i] == "text"
            else Document(tokens=tuple(json.loads(str(batch["tokens"][i]))))
            for i in tagged
        ]  # fmt: skip
        entities = [""] * len(kinds)
        words = [0] * len(kinds)
        for i, document, found in zip(tagged, documents, annotate(self.tagger, documents, min_score=self.min_score)):
            entities[i] = json.dumps(found, ensure_ascii=False)
            words[i] = len(document_words(document))
        out = {name: [item.item() if hasattr(item, "item") else item for item in batch[name]]
               for name in ("unit", "n_unit", "id", "file", "line", "kind", "reason")}  # fmt: skip
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        node = ray.get_runtime_context().get_node_id()
        return out | {"entities": entities, "words": words, "pid": [os.getpid()] * len(kinds),
                      "node": [node] * len(kinds), "rss_mb": [peak_mb] * len(kinds)}  # fmt: skip


# ---------------------------------------------------------------------------- output directory


def prepare_output(output: Path, settings: dict[str, Any], *, overwrite: bool) -> dict[str, Any]:
    """The manifest to continue: a new one, the partial run's own, or a refusal.

    A finished output (every input done) is replaced only with ``overwrite``; a partial one
    is continued when its settings are the same, else replaced only with ``overwrite``.
    """
    manifest = read_manifest(output)
    if manifest is not None and not overwrite:
        if manifest.get("complete"):
            raise OutputExistsError(
                f"{output / MANIFEST}: a finished predict-corpus output; pass --overwrite to replace it"
            )
        if manifest["settings"] != settings:
            changed = sorted(k for k in settings if manifest["settings"].get(k) != settings[k])
            raise OutputExistsError(
                f"{output / MANIFEST}: a partial run with other settings ({', '.join(changed)}); "
                "pass --overwrite to start afresh"
            )
    if (
        manifest is None
        and not overwrite
        and any((output / name).exists() for name in (PREDICTIONS_DIR, ERRORS_DIR))
    ):
        raise OutputExistsError(f"{output} holds shards but no {MANIFEST}; pass --overwrite to replace them")
    if overwrite:
        for name in (PREDICTIONS_DIR, ERRORS_DIR):
            shutil.rmtree(output / name, ignore_errors=True)
        for name in (MANIFEST, SUMMARY):
            (output / name).unlink(missing_ok=True)
        manifest = None
    if manifest is None:
        manifest = {"settings": settings, "done": {}, "complete": False}
        output.mkdir(parents=True, exist_ok=True)
        write_json(output / MANIFEST, manifest)
    remove_temporaries(output)
    return manifest


def finish_unit(
    output: Path, manifest: dict[str, Any], rows: list[dict[str, Any]], settings: dict[str, Any]
) -> dict[str, int]:
    """Write one input file's shards (errors first, then predictions), then list it in the manifest."""
    unit, fmt = rows[0]["unit"], settings["format"]
    rows.sort(key=lambda row: row["line"])
    errors = [{"id": r["id"], "file": r["file"], "line": r["line"], "reason": r["reason"]}
              for r in rows if r["kind"] == "error"]  # fmt: skip
    predictions = [
        {"id": r["id"], "file": r["file"], "line": r["line"], "input": r["kind"], "words": r["words"],
         "entities": json.loads(r["entities"]), "model": settings["model"], "backend": settings["backend"]}
        for r in rows if r["kind"] != "error"
    ]  # fmt: skip
    name = shard_name(unit, fmt)
    if errors:
        write_shard(output / ERRORS_DIR / name, errors, fmt, ERRORS_DIR)
    write_shard(output / PREDICTIONS_DIR / name, predictions, fmt)
    record = {"shard": name, "errors_shard": name if errors else None, "documents": len(predictions),
              "errors": len(errors), "words": sum(r["words"] for r in predictions),
              "entities": sum(len(r["entities"]) for r in predictions)}  # fmt: skip
    manifest["done"][unit] = record
    write_json(output / MANIFEST, manifest)
    return record


# ---------------------------------------------------------------------------- Ray itself


def connect(address: str | None, cpus: int | None) -> tuple[bool, str]:
    """Join the cluster at ``address``, or start a local Ray; ``(started here, description)``.

    A Ray already running in this process (a test session's) is used as it is.
    """
    from multinerd.hardware import usable_cpus

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return False, "the Ray already running in this process"
    if address:
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise DataError(f"--address {address}: cannot join a Ray cluster there ({err})") from None
        return True, f"the Ray cluster at {address}"
    cpus = cpus or usable_cpus()
    # Ray starts its workers at niceness 15 so that its own daemons stay responsive; here the actors
    # are the job (the driver mostly waits), and `predict` runs at the caller's priority too.
    os.environ.setdefault("RAY_worker_niceness", "0")
    # address="local": a new Ray of our own even where `ray start` left a cluster running on this machine.
    ray.init(
        address="local",
        num_cpus=cpus,
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=False,
        log_to_driver=False,
    )
    return True, f"a local Ray with {cpus} CPUs (no --address)"


def plan_actors(cluster_cpus: int, actors: int | None) -> tuple[int, int]:
    """``(actors, threads per actor)`` with actors x threads = the cluster's CPUs (at least 1 each)."""
    actors = max(1, min(actors or cluster_cpus, cluster_cpus))
    return actors, max(1, cluster_cpus // actors)


@dataclass
class CorpusSummary:
    """What a run did: totals over the whole output, and this run's rate."""

    files: int
    files_done_before: int
    unreadable: list[str]
    documents: int
    words: int
    entities: int
    errors: int
    documents_this_run: int
    seconds: float
    startup_seconds: float
    documents_per_second: float
    actors: int
    threads: int
    backend: str
    cluster: str
    actor_processes: int
    actor_nodes: int
    peak_actor_memory_mb: float

    def line(self) -> str:
        return (
            f"{self.documents} documents, {self.words} words, {self.entities} entities, {self.errors} errors; "
            f"{self.documents_per_second:.1f} documents/s over {self.seconds:.1f} s "
            f"({self.documents_this_run} tagged in this run, start-up {self.startup_seconds:.1f} s); "
            f"{self.actors} actors x {self.threads} threads, backend {self.backend}"
        )


def _dataset(
    pending: list[Path], options: ReadOptions, actor_args: dict[str, Any], actors: int, threads: int
) -> Any:
    items = [{"path": str(path)} for path in pending]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    # Reads ask for no CPU: the actors hold every CPU, and a read waiting for one would never start.
    dataset = dataset.flat_map(read_unit, fn_kwargs={"options": options}, num_cpus=0)
    # batch_size=None: one call per block, i.e. per input file, whatever else is pending.
    return dataset.map_batches(
        TagActor,
        fn_constructor_kwargs=actor_args,
        batch_size=None,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads,
    )


def predict_corpus(
    model: str | Path,
    inputs: list[str],
    output: str | Path,
    *,
    options: ReadOptions | None = None,
    fmt: str = "parquet",
    address: str | None = None,
    cpus: int | None = None,
    backend: str | None = None,
    precision: str = "auto",
    batch_size: int = 32,
    decoding: str = "viterbi",
    min_score: float | None = None,
    actors: int | None = None,
    overwrite: bool = False,
) -> CorpusSummary:
    """Tag every document of ``inputs`` into shards under ``output``; see the module docstring."""
    from multinerd.model.backends import detect_backend
    from multinerd.model.modeldir import read_labels

    started = time.perf_counter()
    options = options or ReadOptions()
    output = Path(output)
    files = find_inputs(inputs)
    backend = backend or detect_backend(model)
    read_labels(Path(model))  # a bad model directory fails here, once, not in every actor
    settings = {"model": str(model), "backend": backend, "precision": precision, "format": fmt,
                "decoding": decoding, "min_score": min_score} | asdict(
        options
    )
    manifest = prepare_output(output, settings, overwrite=overwrite)
    pending = [path for path in files if str(path) not in manifest["done"]]
    done_before = len(files) - len(pending)
    started_here, where = connect(address, cpus)
    try:
        n_actors, threads = plan_actors(int(ray.cluster_resources().get("CPU", 1)), actors)
        startup = time.perf_counter() - started
        progress.say(f"predict-corpus: {where}: {n_actors} actors x {threads} threads, backend {backend}; "
                     f"{len(files)} files, {done_before} done before, {len(pending)} to tag")  # fmt: skip
        ray.data.DataContext.get_current().enable_progress_bars = progress.interactive()
        actor_args = {"model": str(model), "backend": backend, "precision": precision, "batch_size": batch_size,
                      "threads": threads, "decoding": decoding, "min_score": min_score}  # fmt: skip
        run = (
            _tag(output, manifest, settings, pending, options, actor_args, n_actors, threads)
            if pending
            else {}
        )
    finally:
        if started_here:
            ray.shutdown()
    return _summarise(output, manifest, files, done_before, run, started, startup, n_actors, threads, where)


def _tag(output: Path, manifest: dict[str, Any], settings: dict[str, Any], pending: list[Path],
         options: ReadOptions, actor_args: dict[str, Any], actors: int, threads: int) -> dict[str, Any]:  # fmt: skip
    """Run the dataset and write each input file's shards as soon as all its rows are back."""
    waiting: dict[str, list[dict[str, Any]]] = {}
    run: dict[str, Any] = {"documents": 0, "unreadable": [], "pids": set(), "nodes": set(), "peak_mb": 0.0}
    finished = 0
    for batch in _dataset(pending, options, actor_args, actors, threads).iter_batches(
        batch_size=None, batch_format="pyarrow"
    ):
        for row in batch.to_pylist():
            run["pids"].add(row["pid"])
            run["nodes"].add(row["node"])
            run["peak_mb"] = max(run["peak_mb"], row["rss_mb"])
            rows = waiting.setdefault(row["unit"], [])
            rows.append(row)
            if len(rows) < row["n_unit"]:
                continue
            del waiting[row["unit"]]
            finished += 1
            if rows[0]["kind"] == "unreadable":
                run["unreadable"].append(rows[0]["reason"])
                progress.say(f"[{finished}/{len(pending)}] unreadable, no shard: {rows[0]['reason']}")
                continue
            record = finish_unit(output, manifest, rows, settings)
            run["documents"] += record["documents"]
            progress.say(f"[{finished}/{len(pending)}] {row['unit']}: {record['documents']} documents, "
                         f"{record['errors']} error rows, {record['entities']} entities")  # fmt: skip
    return run


def _summarise(output: Path, manifest: dict[str, Any], files: list[Path], done_before: int, run: dict[str, Any],
               started: float, startup: float, actors: int, threads: int, where: str) -> CorpusSummary:  # fmt: skip
    records = [manifest["done"][str(path)] for path in files if str(path) in manifest["done"]]
    seconds = time.perf_counter() - started
    documents_this_run = run.get("documents", 0)
    summary = CorpusSummary(
        files=len(files), files_done_before=done_before, unreadable=run.get("unreadable", []),
        documents=sum(r["documents"] for r in records), words=sum(r["words"] for r in records),
        entities=sum(r["entities"] for r in records), errors=sum(r["errors"] for r in records),
        documents_this_run=documents_this_run, seconds=seconds, startup_seconds=startup,
        documents_per_second=documents_this_run / seconds if seconds else 0.0, actors=actors, threads=threads,
        backend=manifest["settings"]["backend"], cluster=where, actor_processes=len(run.get("pids", ())),
        actor_nodes=len(run.get("nodes", ())),
        peak_actor_memory_mb=run.get("peak_mb", 0.0),
    )  # fmt: skip
    if len(records) == len(files):
        manifest["complete"] = True
        write_json(output / MANIFEST, manifest)
        write_json(output / SUMMARY, asdict(summary))
    return summary


def run_command(args: Any) -> int:
    """``multinerd predict-corpus``: the summary on stdout; exit 1 when a whole file was unreadable."""
    summary = predict_corpus(
        args.model, args.input, args.output,
        options=ReadOptions(args.text_column, args.id_column, args.input_format), fmt=args.format,
        address=args.address, cpus=args.cpus, backend=args.backend, precision=args.precision,
        batch_size=args.batch_size, decoding=args.decoding, min_score=args.min_score, actors=args.actors,
        overwrite=args.overwrite,
    )  # fmt: skip
    print(f"{summary.line()}; written to {args.output}")
    for reason in summary.unreadable:
        print(f"multinerd predict-corpus: unreadable file, no shard (rerun the same command once fixed): {reason}",
              file=sys.stderr)  # fmt: skip
    return 1 if summary.unreadable else 0
