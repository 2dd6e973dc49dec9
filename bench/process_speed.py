"""``multinerd predict`` against ``transformers.pipeline`` as whole processes: command to last output line.

A user compares what they type, so each system is a fresh ``python`` process reading the same
text file (one text per line) and writing one JSON line per text: interpreter start, imports,
model loading, tokenisation and tagging all count. The pipeline runs at its default batch size
(1) with ``aggregation_strategy="first"`` (word-level entities, as ours). Entity agreement of
each system with ``multinerd predict`` in PyTorch fp32 is computed from the written files.

    .venv/bin/python bench/process_speed.py --model-dir runs/quickstart/A --export-dir X --texts 2000
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The pipeline as a user runs it: one text per line in, one JSON line of entities per text out.
PIPELINE_SCRIPT = """
import json, sys
from transformers import pipeline
ner = pipeline("token-classification", model=sys.argv[1], aggregation_strategy="first", device="cpu")
with open(sys.argv[2], encoding="utf-8") as source, open(sys.argv[3], "w", encoding="utf-8") as out:
    for line in source:
        text = line.rstrip("\\n")
        found = ner(text)
        out.write(json.dumps({"entities": [{"type": e["entity_group"], "start": int(e["start"]),
                                            "end": int(e["end"])} for e in found]}) + "\\n")
"""


def spans(path: Path) -> set[tuple[int, str, int, int]]:
    """``(line, type, start, end)`` of every entity in a JSON-lines output file (character offsets)."""
    found = set()
    for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        for entity in json.loads(line)["entities"]:
            found.add((index, entity["type"], int(entity["start"]), int(entity["end"])))
    return found


def agreement(reference: set[Any], other: set[Any]) -> float:
    """Micro F1 of ``other``'s entities against ``reference``'s (1.0 when neither has any)."""
    return 2 * len(reference & other) / (len(reference) + len(other)) if reference or other else 1.0


def timed_process(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one child process, which must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def systems(model_dir: Path, export_dir: Path | None, texts: Path, out: Path) -> dict[str, list[str]]:
    """The command of each system, writing its entities to ``out/<name>.jsonl``."""
    predict = [sys.executable, "-m", "multinerd.apps.cli", "-q", "predict", "--input", str(texts), "--input-format", "text",
               "--format", "jsonl"]
    commands = {
        "multinerd predict, torch fp32": [*predict, "--model", str(model_dir), "--precision", "fp32"],
        "multinerd predict, torch auto": [*predict, "--model", str(model_dir), "--precision", "auto"],
    }
    if export_dir is not None:
        commands["multinerd predict, onnx fp32"] = [*predict, "--model", str(export_dir)]
        if (export_dir / "model_int8.onnx").is_file():
            commands["multinerd predict, onnx int8"] = [*predict, "--model", str(export_dir), "--backend", "onnx-int8"]
    commands["transformers.pipeline (batch 1)"] = [sys.executable, "-c", PIPELINE_SCRIPT, str(model_dir), str(texts)]
    for index, (name, command) in enumerate(commands.items()):
        target = out / f"system{index}.jsonl"
        command += ["--output", str(target)] if name.startswith("multinerd") else [str(target)]
    return commands


def compare(
    model_dir: Path, export_dir: Path | None, texts: Sequence[str], workdir: Path, repeats: int = 1
) -> dict[str, Any]:
    """Seconds (median of ``repeats`` rounds, systems taking turns so that a change of load falls on
    all of them), texts/s, ratio to the pipeline and entity agreement with torch fp32, per system."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "texts.txt"
    source.write_text("".join(text.replace("\n", " ") + "\n" for text in texts), encoding="utf-8")
    env = os.environ | {"PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    result: dict[str, Any] = {"n_texts": len(texts), "repeats": repeats, "systems": {}}
    commands = systems(model_dir, export_dir, source, workdir)
    outputs = {name: workdir / f"system{index}.jsonl" for index, name in enumerate(commands)}
    timings: dict[str, list[float]] = {name: [] for name in commands}
    loads: dict[str, float] = {}
    for _ in range(repeats):
        for name, command in commands.items():
            print(f"  whole process: {name}", flush=True)
            loads.setdefault(name, round(os.getloadavg()[0], 2))
            timings[name].append(timed_process(command, env))
    for name, command in commands.items():
        shown = [part if part != sys.executable else "python" for part in command]
        if "-c" in shown:
            shown[shown.index("-c") + 1] = "<bench/process_speed.py PIPELINE_SCRIPT>"
        seconds = statistics.median(timings[name])
        result["systems"][name] = {"seconds": seconds, "all_seconds": timings[name],
                                   "texts_per_s": len(texts) / seconds, "load_at_start": loads[name],
                                   "command": " ".join(shown)}
    reference = spans(outputs["multinerd predict, torch fp32"])
    pipeline = result["systems"]["transformers.pipeline (batch 1)"]["seconds"]
    for name, figures in result["systems"].items():
        figures["speedup_vs_pipeline"] = pipeline / figures["seconds"]
        figures["entity_agreement_vs_torch_fp32"] = agreement(reference, spans(outputs[name]))
    return result
