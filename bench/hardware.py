"""The hardware's number formats in one run: fp32, bf16 and int8 peaks, training and inference in each, start-up.

Everything here is measured side by side in one process (start-up in child processes, one
after the other), so the ratios hold even when absolute figures move with the machine's load:

1. **peaks**: sustained matmul rate per format (:func:`flops.matmul_peaks`);
2. **training**: our path in fp32 and in bf16 autocast on the same batches (MiniLM; also a
   bert-base-sized encoder with ``--bert-steps``), utilisation against the peak of the
   format each computes in;
3. **inference**: the Tagger with PyTorch fp32 and bf16, ONNX fp32 and int8, against
   ``transformers.pipeline`` at its default batch size, with entity agreement against fp32;
4. **start-up**: ``multinerd predict`` of one sentence from command to output, per backend;
5. **precision=auto**: the verdict ``auto`` reaches here, and bf16's measured speed against fp32
   on the encoder's shape (measured even on a CPU without bf16 flags, to show why it is refused);
6. **whole processes**: ``multinerd predict`` per backend against ``transformers.pipeline`` on
   the same text file (:mod:`process_speed`), with entity agreement against torch fp32;
7. **profile**: where predict's and a training step's time goes (:mod:`profile_split`);
8. optionally (``--f1-seeds N``) validation F1 after the same epochs, fp32 and bf16, N seeds each.

Results are keyed by CPU kind (:func:`cpu_key`: model name and bf16 feature), in
``bench/results/hardware/<key>.json``, so runs on several kinds of CPU sit side by side in
BENCHMARKS.md (:func:`section`); the load average is recorded at the start of every part.

Training and inference run on two kinds of text: MultiNERD-like sentences (generated, with
MultiNERD's long tail of lengths) and short texts of about 20 words, as in social-media NER,
where padding saves little and batch size matters more.

    .venv/bin/python bench/hardware.py --model-dir runs/quickstart/A            # ~12 min on 2 quiet cores
    .venv/bin/python bench/hardware.py --model-dir runs/quickstart/A --quick    # checks that it runs
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

#: The sentence the start-up figure tags.
STARTUP_SENTENCE = "Angela Merkel met Pope Francis in Rome."
#: Words per short text (social-media length).
SHORT_WORDS = 20
#: Where each CPU kind's results go (one JSON and one markdown file per kind).
RESULTS_DIR = BENCH / "results" / "hardware"
#: CPU flags worth naming beside a figure: what decides the fp32, bf16 and int8 kernels.
NOTABLE_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


@dataclass(frozen=True)
class HardwareSizes:
    """How much each part measures; the defaults take 10 to 30 minutes on 2 quiet cores, depending on the
    CPU (each results file records its own time under ``meta.seconds``)."""

    matmul_seconds: float = 3.0
    train_sentences: int = 1600
    train_steps: int = 7
    bert_steps: int = 0
    texts: int = 160
    short_texts: int = 320
    startup_repeats: int = 3
    process_texts: int = 2000
    #: Rounds of the whole-process comparison (median): one round moved a ratio by a quarter between runs.
    process_repeats: int = 3
    f1_seeds: int = 0
    f1_train_sentences: int = 384
    f1_epochs: float = 3.0


QUICK = HardwareSizes(
    matmul_seconds=0.2, train_sentences=120, train_steps=2, texts=8, short_texts=8, startup_repeats=1,
    process_texts=8, process_repeats=1,
)


def cpu_key(name: str, flags: frozenset[str]) -> str:
    """``amd-epyc-avx512_bf16``: the CPU's model name and its best bf16 feature, as a file name."""
    feature = next((f for f in ("amx_bf16", "avx512_bf16") if f in flags), "no-bf16")
    return re.sub(r"[^a-z0-9_]+", "-", f"{name} {feature}".lower()).strip("-")


def short_texts(sentences: Sequence[Any], words_per_text: int = SHORT_WORDS) -> list[Any]:
    """Sentences re-cut into texts of about ``words_per_text`` words, never inside an entity.

    The sentences are laid end to end and cut at the first word at or after each
    ``words_per_text`` boundary that does not continue an entity (its tag is not ``I-``).
    """
    from multinerd.data.corpus import Sentence

    words = [w for s in sentences for w in s.words]
    tags = [t for s in sentences for t in s.tags]
    pieces, start = [], 0
    while start < len(words):
        end = min(start + words_per_text, len(words))
        while end < len(words) and tags[end].startswith("I-"):
            end += 1
        pieces.append(Sentence(tuple(words[start:end]), tuple(tags[start:end]), "en", f"short:{len(pieces)}"))
        start = end
    return pieces


def text_kinds(workdir: Path, n_sentences: int, seed: int) -> dict[str, Any]:
    """``{"multinerd": Corpus, "short": Corpus}`` from one generated English set."""
    from dataclasses import replace

    import train_throughput as tt

    corpus = tt.bench_corpus(workdir / f"data-{seed}-{n_sentences}", n_sentences, seed=seed)
    short = replace(
        corpus,
        source=f"{corpus.source} (re-cut to ~{SHORT_WORDS} words)",
        splits={"train": short_texts(corpus.splits["train"])},
    )
    return {"multinerd": corpus, "short": short}


def add_utilisation(result: dict[str, Any]) -> None:
    """Utilisation of every training and inference row against its format's peak.

    The peak is the higher of the rates measured at the start and at the end of the run (a
    shared machine's load moves it), as in ``run_all``; rows keep their measured batches.
    """
    import flops

    peaks = {
        fmt: max(filter(None, (result["peaks"][fmt]["gflops"], result["peaks_after"][fmt]["gflops"])), default=None)
        for fmt in result["peaks"]
    }
    rows = [(speed[path], speed["shape"], True) for speed in result["training"]["speed"]
            for path in ("ours", "ours_bf16") if path in speed]
    rows += [(figures, result["inference_shape"], False) for inference in result["inference"].values()
             for figures in inference["systems"].values()]
    for figures, shape, training in rows:
        fmt = figures.get("precision", "fp32")
        if peaks.get(fmt) and "batches" in figures:
            figures |= flops.utilisation(shape, figures["batches"], figures["seconds"], peaks[fmt],
                                         training=training, fmt=fmt)


def _shape(model: str) -> dict[str, int]:
    import flops
    from transformers import AutoConfig

    from multinerd.model.modelhub import resolve_model_name

    return flops.encoder_shape(AutoConfig.from_pretrained(resolve_model_name(model)))


def run_training(sizes: HardwareSizes, workdir: Path) -> dict[str, Any]:
    """fp32 and bf16 training of our path on the same batches, per kind of text and encoder."""
    import train_throughput as tt

    from multinerd.labels import TagScheme

    scheme = TagScheme.multinerd(None, name="A")
    kinds = text_kinds(workdir, sizes.train_sentences, seed=0)
    models = [(tt.MINILM, sizes.train_steps, "MiniLM-L6 (bundled)")]
    if sizes.bert_steps:
        models.append((tt.random_bert_base(workdir / "bert-base", scheme), sizes.bert_steps, "bert-base-sized"))
    rows = []
    for model, steps, label in models:
        shape = _shape(model) | {"labels": len(scheme.labels)}
        for kind, corpus in kinds.items():
            print(f"training: {label}, {kind} texts, {steps} steps, fp32 then bf16", flush=True)
            speed = tt.compare_speed(model, corpus, steps, workdir / "speed", bf16=True, baseline=False)
            rows.append(speed | {"label": label, "kind": kind, "shape": shape})
    return {"speed": rows}


def run_inference(sizes: HardwareSizes, model_dir: Path, workdir: Path) -> dict[str, Any]:
    """Every backend and the pipeline on both kinds of text; one export serves both."""
    import infer_throughput

    kinds = text_kinds(workdir, max(sizes.texts, sizes.short_texts) * 2, seed=1)
    texts = {
        "multinerd": [" ".join(s.words) for s in kinds["multinerd"].splits["train"][: sizes.texts]],
        "short": [" ".join(s.words) for s in kinds["short"].splits["train"][: sizes.short_texts]],
    }
    results: dict[str, Any] = {}
    export_dir = None
    for kind, batch in texts.items():
        print(f"inference: {len(batch)} {kind} texts", flush=True)
        result = infer_throughput.compare_inference(
            model_dir, batch, workdir / "infer", bf16=True, pipeline_batches=(1,), export_dir=export_dir
        )
        export_dir = workdir / "infer" / "onnx"
        results[kind] = result
    return results


def startup(model_dir: Path, export_dir: Path, repeats: int) -> dict[str, Any]:
    """Seconds from command to output for one sentence, per backend (median of ``repeats`` child processes).

    Each child is ``python -m multinerd.apps.cli predict``, the installed entry point's code path,
    so the figure includes interpreter start, imports, loading and the first model call.
    """
    cases = {
        "torch fp32": [str(model_dir), "--precision", "fp32"],
        "torch auto (bf16 where native)": [str(model_dir), "--precision", "auto"],
        "onnx fp32": [str(export_dir)],
        "onnx int8": [str(export_dir), "--backend", "onnx-int8"],
    }
    env = os.environ | {"PYTHONWARNINGS": "ignore"}
    result: dict[str, Any] = {"sentence": STARTUP_SENTENCE, "repeats": repeats, "cases": {}}
    for name, args in cases.items():
        seconds, entities = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "multinerd.apps.cli", "predict", "--model", *args, STARTUP_SENTENCE],
                capture_output=True, text=True, env=env, check=True,
            )
            seconds.append(time.perf_counter() - started)
            entities = [e["text"] for e in json.loads(out.stdout.splitlines()[0])["entities"]]
        result["cases"][name] = {
            "command": f"multinerd predict --model {' '.join(args)} \"{STARTUP_SENTENCE}\"",
            "median_s": statistics.median(seconds),
            "all_s": seconds,
            "entities": entities,
        }
    return result


def f1_by_precision(sizes: HardwareSizes, workdir: Path) -> dict[str, Any]:
    """Validation F1 of MiniLM after the same epochs in fp32 and bf16, ``sizes.f1_seeds`` seeds each."""
    from dataclasses import replace

    import train_throughput as tt

    from multinerd.data.corpus import load_corpus
    from multinerd.labels import TagScheme

    sample = load_corpus("sample")
    train = [s for s in sample.splits["train"] if len(s.words) <= 200][: sizes.f1_train_sentences]
    scheme = TagScheme.multinerd(None, name="A")
    result: dict[str, Any] = {"epochs": sizes.f1_epochs, "n_train": len(train), "f1": {}}
    for precision in ("fp32", "bf16"):
        scores = []
        for seed in range(1, sizes.f1_seeds + 1):
            print(f"F1: {precision}, seed {seed}", flush=True)
            config = tt.bench_config(tt.MINILM, workdir / "f1", epochs=sizes.f1_epochs, learning_rate=5e-4,
                                     precision=precision)
            config = replace(config, train=replace(config.train, seed=seed))
            trainer, _, _, _ = tt.our_trainer(config, scheme, train, workdir / "f1")
            trainer.train()
            scores.append(tt.validation_f1(trainer.model.float(), trainer.processing_class, scheme,
                                           sample.splits["validation"]))
        result["f1"][precision] = scores
    return result


def precision_auto(model: str, workdir: Path) -> dict[str, Any]:
    """What ``precision=auto`` picks here and why, and bf16's measured speed against fp32 on this shape.

    The measurement is :func:`multinerd.model.autoprecision.measure_bf16_speedup`, the one ``auto``
    runs on a CPU with bf16 flags; here it runs on any CPU (its cache kept in ``workdir``).
    """
    from transformers import AutoConfig

    from multinerd.hardware import CACHE_ENV
    from multinerd.model import autoprecision
    from multinerd.model.modelhub import resolve_model_name

    os.environ[CACHE_ENV] = str(workdir / "precision-cache")
    shape = autoprecision.EncoderShape.of(AutoConfig.from_pretrained(resolve_model_name(model)))
    verdict = autoprecision.cpu_verdict(shape)
    measured = autoprecision.cpu_verdict(shape, measure_without_flag=True)
    print(f"{verdict.line()}; measured anyway: {measured.bf16_speedup:.2f}x", flush=True)
    return {"shape": shape.key(), "verdict": autoprecision.verdict_record(verdict), "line": verdict.line(),
            "bf16_speedup_measured": measured.bf16_speedup, "measured_line": measured.line(),
            "widths": list(autoprecision.MEASURED_WIDTHS), "batch": autoprecision.MEASURED_BATCH}


def whole_process(sizes: HardwareSizes, model_dir: Path, workdir: Path) -> dict[str, Any]:
    """Each ``multinerd predict`` backend and the pipeline as whole processes, on both kinds of text."""
    import process_speed

    kinds = text_kinds(workdir, sizes.process_texts, seed=2)
    texts = {
        "multinerd": [" ".join(s.words) for s in kinds["multinerd"].splits["train"][: sizes.process_texts]],
        "short": [" ".join(s.words) for s in kinds["short"].splits["train"][: sizes.process_texts]],
    }
    export_dir = workdir / "infer" / "onnx"
    results = {}
    for kind, batch in texts.items():
        print(f"whole processes: {len(batch)} {kind} texts", flush=True)
        results[kind] = process_speed.compare(
            model_dir, export_dir, batch, workdir / "process" / kind, sizes.process_repeats
        )
    return results


def profiles(model_dir: Path, workdir: Path) -> dict[str, Any]:
    """The profiler split of predict (fp32, MultiNERD-like texts) and of a training step (fp32, and bf16
    where the CPU computes it natively)."""
    import profile_split
    import torch

    print("profile: predict and a training step", flush=True)
    kinds = text_kinds(workdir, 400, seed=3)
    texts = [" ".join(s.words) for s in kinds["multinerd"].splits["train"][:200]]
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (32, 64), generator=generator)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.zeros_like(ids)}
    from multinerd.hardware import cpu_bf16_feature

    split = {
        "predict": profile_split.profile_predict(model_dir, texts),
        "train_fp32": profile_split.profile_training_step(model_dir, batch),
    }
    if cpu_bf16_feature() is not None:  # emulated bf16 would profile the emulation (minutes, nothing learnt)
        split["train_bf16"] = profile_split.profile_training_step(model_dir, batch, bf16=True)
    return split


def run(model_dir: Path, workdir: Path, sizes: HardwareSizes) -> dict[str, Any]:
    import flops

    from multinerd.hardware import cpu_bf16_feature, cpu_flags, cpu_name

    started = time.perf_counter()
    flags = cpu_flags()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": f".venv/bin/python bench/hardware.py --model-dir {model_dir}",
        "cpu": cpu_name(),
        "cpu_key": cpu_key(cpu_name(), flags),
        "flags": [flag for flag in NOTABLE_FLAGS if flag in flags],
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "cores": len(os.sched_getaffinity(0)),
        "bf16_feature": cpu_bf16_feature(),
        "sizes": asdict(sizes),
        "load_by_part": {},
        "seconds_by_part": {},
    }
    print(f"{meta['cpu']} ({', '.join(meta['flags'])}), load {meta['load_before']}", flush=True)

    def part(name: str) -> None:
        """Start timing ``name`` (ending the part before it) and record the load at its start."""
        now = time.perf_counter()
        if meta["load_by_part"]:
            previous = list(meta["load_by_part"])[-1]
            meta["seconds_by_part"][previous] = round(now - part.started, 1)
        part.started = now
        meta["load_by_part"][name] = [round(x, 2) for x in os.getloadavg()]

    part("peaks")
    peaks = flops.matmul_peaks(seconds=sizes.matmul_seconds)
    result: dict[str, Any] = {"meta": meta, "peaks": peaks}
    part("precision_auto")
    result["precision_auto"] = precision_auto(str(model_dir), workdir)
    part("training")
    result["training"] = run_training(sizes, workdir)
    part("inference")
    result["inference"] = run_inference(sizes, model_dir, workdir)
    result["inference_shape"] = _shape(str(model_dir))
    part("startup")
    result["startup"] = startup(model_dir, workdir / "infer" / "onnx", sizes.startup_repeats)
    part("whole_process")
    result["whole_process"] = whole_process(sizes, model_dir, workdir)
    part("profile")
    result["profile"] = profiles(model_dir, workdir)
    if sizes.f1_seeds:
        part("f1")
        result["f1"] = f1_by_precision(sizes, workdir)
    part("peaks_after")
    result["peaks_after"] = flops.matmul_peaks(seconds=sizes.matmul_seconds)
    part("end")
    del meta["load_by_part"]["end"]
    add_utilisation(result)
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["seconds"] = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------- markdown


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="a trained model directory")
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench-hardware"))
    parser.add_argument("--output", type=Path, default=None,
                        help="results file (default: bench/results/hardware/<cpu kind>.json)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that everything runs")
    parser.add_argument("--bert-steps", type=int, default=0, help="also bert-base-sized training (%(default)s steps)")
    parser.add_argument("--f1-seeds", type=int, default=0, help="seeds of the F1-by-precision check (%(default)s)")
    parser.add_argument("--texts", type=int, default=None, help="MultiNERD-like texts to tag")
    parser.add_argument("--train-steps", type=int, default=None, help="training steps per row")
    parser.add_argument("--process-texts", type=int, default=None, help="texts per whole-process comparison")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else HardwareSizes()
    overrides = {"bert_steps": args.bert_steps, "f1_seeds": args.f1_seeds}
    if args.texts:
        overrides |= {"texts": args.texts, "short_texts": 2 * args.texts}
    if args.train_steps:
        overrides["train_steps"] = args.train_steps
    if args.process_texts:
        overrides["process_texts"] = args.process_texts
    sizes = HardwareSizes(**(asdict(sizes) | overrides))
    result = run(args.model_dir, args.workdir, sizes)
    given = list(argv) if argv is not None else sys.argv[1:]
    result["meta"]["command"] = shlex.join([".venv/bin/python", "bench/hardware.py", *given])
    args.output = args.output or RESULTS_DIR / f"{result['meta']['cpu_key']}.json"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    markdown_path = args.output.with_suffix(".md")
    from hardware_report import markdown

    markdown_path.write_text("\n".join(markdown(result)), encoding="utf-8")
    print(f"wrote {args.output} and {markdown_path}")


if __name__ == "__main__":
    main()
