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
    """How much each part measures; the defaults finish in about ten minutes on 2 quiet cores."""

    matmul_seconds: float = 3.0
    train_sentences: int = 1600
    train_steps: int = 7
    bert_steps: int = 0
    texts: int = 160
    short_texts: int = 320
    startup_repeats: int = 3
    process_texts: int = 2000
    f1_seeds: int = 0
    f1_train_sentences: int = 384
    f1_epochs: float = 3.0


QUICK = HardwareSizes(
    matmul_seconds=0.2, train_sentences=120, train_steps=2, texts=8, short_texts=8, startup_repeats=1,
    process_texts=8,
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
    fp32 = result["f1"]["fp32"]
    result["bf16_within_fp32_spread"] = all(min(fp32) <= f <= max(fp32) for f in result["f1"]["bf16"])
    return result


def precision_auto(model: str, workdir: Path) -> dict[str, Any]:
    """What ``precision=auto`` picks here and why, and bf16's measured speed against fp32 on this shape.

    The measurement is :func:`multinerd.model.autoprecision.measure_bf16_speedup`, the one ``auto``
    runs on a CPU with bf16 flags; here it runs on any CPU (its cache kept in ``workdir``).
    """
    from transformers import AutoConfig

    from multinerd.model import autoprecision
    from multinerd.model.modelhub import resolve_model_name

    os.environ[autoprecision.CACHE_ENV] = str(workdir / "precision-cache")
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
        results[kind] = process_speed.compare(model_dir, export_dir, batch, workdir / "process" / kind)
    return results


def profiles(model_dir: Path, workdir: Path) -> dict[str, Any]:
    """The profiler split of predict (fp32, MultiNERD-like texts) and of a training step (fp32, and bf16)."""
    import profile_split
    import torch

    print("profile: predict and a training step", flush=True)
    kinds = text_kinds(workdir, 400, seed=3)
    texts = [" ".join(s.words) for s in kinds["multinerd"].splits["train"][:200]]
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (32, 64), generator=generator)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.zeros_like(ids)}
    return {
        "predict": profile_split.profile_predict(model_dir, texts),
        "train_fp32": profile_split.profile_training_step(model_dir, batch),
        "train_bf16": profile_split.profile_training_step(model_dir, batch, bf16=True),
    }


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
    }
    print(f"{meta['cpu']} ({', '.join(meta['flags'])}), load {meta['load_before']}", flush=True)

    def part(name: str) -> None:
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
        result["f1"] = f1_by_precision(sizes, workdir)
    result["peaks_after"] = flops.matmul_peaks(seconds=sizes.matmul_seconds)
    add_utilisation(result)
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["seconds"] = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------- markdown


def markdown(result: dict[str, Any]) -> list[str]:
    """The BENCHMARKS.md section of these results, every figure beside its command."""
    from common import INT8_TARGET, TAGGER_TARGET
    from common import pct as _pct
    from common import table as _table
    from common import verdict as _met

    meta, peaks = result["meta"], result["peaks"]
    loaded = max(meta["load_before"][0], meta.get("load_after", [0])[0]) > meta["cores"]
    lines = [
        f"### {meta.get('cpu', 'CPU not recorded')} ({', '.join(meta.get('flags', [])) or 'flags not recorded'})",
        "",
        f"Command: `{meta['command']}` ({meta['date']}, {meta['seconds'] / 60:.1f} minutes, sizes "
        f"`{json.dumps(meta['sizes'])}`). Native bf16 on this CPU: {meta['bf16_feature'] or 'no'}. "
        f"Load average before {meta['load_before']}, after {meta.get('load_after')} on {meta['cores']} cores"
        + (": **the machine was shared with other work**, so absolute rates are low; ratios are side by side."
           if loaded else "."),
        "",
        ("**Peaks** (`bench/flops.py`: sustained 2048x2048 matmuls on the same threads, one run; "
        "utilisation below is against the higher of start and end):"),
        "",
    ]
    fp32 = peaks["fp32"]["gflops"]
    lines += _table(
        ["format", "G(FL)OP/s at start", "at end", "vs fp32"],
        [[fmt, f"{p['gflops']:.1f}" if p["gflops"] else p.get("error"),
          f"{result['peaks_after'][fmt]['gflops']:.1f}" if result["peaks_after"][fmt]["gflops"] else "-",
          f"{p['gflops'] / fp32:.2f}x" if p["gflops"] else "-"] for fmt, p in peaks.items()],
    )
    lines += ["**Training** (our path, same batches; utilisation against the peak of the format used):", ""]
    rows = []
    for speed in result["training"]["speed"]:
        for path in ("ours", "ours_bf16"):
            if path not in speed:
                continue
            f = speed[path]
            rows.append([speed["label"], speed["kind"], f["precision"], f"{f['sentences_per_s']:.2f}",
                         f"{f['mean_width']:.0f}", _pct(f["padding_share"]),
                         f"{f.get('useful_gflops', 0):.1f}", _pct(f.get("useful_fraction_of_matmul", 0)),
                         f"{f['sentences_per_s'] / speed['ours']['sentences_per_s']:.2f}x"])
    lines += _table(["encoder", "texts", "precision", "sentences/s", "mean width", "padding", "useful GFLOP/s",
                     "of its format's peak", "vs fp32"], rows)
    for speed in result["training"]["speed"]:
        if "bf16_speedup_vs_fp32" in speed:
            target = 1.3 if "MiniLM" in speed["label"] else 1.6
            lines.append(f"- bf16 >= {target}x fp32 ({speed['label']}, {speed['kind']}): "
                         f"{_met(speed['bf16_speedup_vs_fp32'] >= target)} ({speed['bf16_speedup_vs_fp32']:.2f}x).")
    if "f1" in result:
        f1 = result["f1"]
        lines.append(f"- Validation F1 after {f1['epochs']:g} epochs ({f1['n_train']} sample sentences): fp32 "
                     f"{[round(x, 4) for x in f1['f1']['fp32']]}, bf16 {[round(x, 4) for x in f1['f1']['bf16']]}; "
                     f"bf16 within fp32's seed spread: {_met(f1['bf16_within_fp32_spread'])}.")
    else:
        lines.append("- Validation F1 by precision was not measured in this run (`--f1-seeds 3` measures it).")
    lines += ["", ("**Inference** (same texts for every system; agreement: entity micro F1 against the PyTorch "
              "fp32 Tagger):"), ""]
    names = {"tagger_torch": "Tagger, PyTorch fp32", "tagger_torch_bf16": "Tagger, PyTorch bf16",
             "tagger_onnx": "Tagger, ONNX fp32", "tagger_onnx_int8": "Tagger, ONNX int8",
             "pipeline_batch1": "pipeline (default)"}
    rows = []
    for kind, inference in result["inference"].items():
        for key, f in inference["systems"].items():
            rows.append([kind, names.get(key, key), f"{f['words_per_s']:.0f}", f"{f['speedup_vs_pipeline']:.2f}x",
                         f"{f['entity_f1']:.4f}" if "entity_f1" in f else "reference",
                         _pct(f["useful_fraction_of_matmul"]) + f" of {f['format']}"
                         if "useful_fraction_of_matmul" in f else ""])
    lines += _table(["texts", "system", "words/s", "vs pipeline", "entity agreement", "useful FLOP/s"], rows)
    for kind, inference in result["inference"].items():
        systems = inference["systems"]
        good = [(f["speedup_vs_pipeline"], k) for k, f in systems.items()
                if k.startswith("tagger") and f.get("entity_f1", 1.0) >= 0.99]
        best, key = max(good)
        lines.append(f"- {kind}: fastest path agreeing >= 0.99 with fp32 ({names[key]}) >= {TAGGER_TARGET:g}x "
                     f"pipeline: {_met(best >= TAGGER_TARGET)} ({best:.2f}x).")
        if "tagger_onnx_int8" in systems:
            int8 = systems["tagger_onnx_int8"]
            lines.append(f"- {kind}: int8 >= {INT8_TARGET:g}x pipeline with >= 0.98 agreement: "
                         f"{_met(int8['speedup_vs_pipeline'] >= INT8_TARGET and int8['entity_f1'] >= 0.98)} "
                         f"({int8['speedup_vs_pipeline']:.2f}x, agreement {int8['entity_f1']:.4f}).")
    parity = result["inference"]["multinerd"].get("parity")
    if parity:
        lines.append(
            f"- Gold F1 from the export's parity check (sample test split, {parity['n_sentences']} sentences): "
            f"torch {parity['torch_f1']:.4f}; "
            + "; ".join(f"{v} {parity[v]['strict_f1']:.4f} ({-parity[v]['f1_drop_points']:+.2f} points, entity "
                        f"agreement {parity[v]['entity_agreement']:.4f}, {'accepted' if parity[v]['passed'] else 'refused'})"
                        for v in ("fp32", "int8") if v in parity)
            + ". Target int8 <= 0.5 points lost: "
            + (_met(parity["int8"]["f1_drop_points"] <= 0.5) if "int8" in parity else "-") + "."
        )
    start = result["startup"]
    lines += ["", f"**Start-up**: one sentence from command to output (median of {start['repeats']} runs):", ""]
    lines += _table(["backend", "command", "seconds"],
                    [[name, f"`{c['command']}`", f"{c['median_s']:.2f}"] for name, c in start["cases"].items()])
    onnx, torch_s = start["cases"]["onnx fp32"]["median_s"], start["cases"]["torch fp32"]["median_s"]
    lines.append(f"- ONNX <= 1 s: {_met(onnx <= 1.0)} ({onnx:.2f} s); torch <= 3 s: {_met(torch_s <= 3)} "
                 f"({torch_s:.2f} s)" + (" on a loaded machine; the targets are for a quiet one." if loaded else "."))
    return lines + [""] + _newer_parts(result)


def _newer_parts(result: dict[str, Any]) -> list[str]:
    """precision=auto, whole processes and the profile: parts that runs before them do not have."""
    from common import pct as _pct
    from common import table as _table

    lines: list[str] = []
    auto = result.get("precision_auto")
    if auto:
        lines += [(f"**precision=auto** (encoder {auto['shape']}, forward and backward at widths {auto['widths']}, "
                   f"batch {auto['batch']}): `{auto['line']}`. bf16 measured on this CPU regardless of its flags: "
                   f"**{auto['bf16_speedup_measured']:.2f}x** fp32."), ""]
    process = result.get("whole_process")
    if process:
        lines += [("**Whole processes** (`bench/process_speed.py`: one fresh process per system, same text file, "
                   "command to last line; agreement: entity F1 against `multinerd predict` in torch fp32):"), ""]
        rows = [[kind, name, f"{f['seconds']:.1f}", f"{f['texts_per_s']:.1f}", f"{f['speedup_vs_pipeline']:.2f}x",
                 f"{f['entity_agreement_vs_torch_fp32']:.4f}", f"{f['load_at_start']}"]
                for kind, part in process.items() for name, f in part["systems"].items()]
        lines += _table(["texts", "system", "seconds", "texts/s", "vs pipeline", "entity agreement", "load"], rows)
        lines += [f"- {kind}: {part['n_texts']} texts; best `multinerd predict` "
                  f"{max(f['speedup_vs_pipeline'] for n, f in part['systems'].items() if n.startswith('multinerd')):.2f}x "
                  "the pipeline (targets: >= 5x AVX-512 BF16, >= 8x AMX)." for kind, part in process.items()]
        lines.append("")
    profile = result.get("profile")
    if profile:
        groups = list(next(iter(profile.values()))["seconds"])
        lines += [("**Where the time goes** (`bench/profile_split.py`: torch profiler, self CPU time per operator "
                   "group; tokenisation timed apart; the rest of the wall time is Python and framework overhead):"), ""]
        lines += _table(["group", *[p["what"] for p in profile.values()]],
                        [[group, *[f"{_pct(p['shares'][group])} ({p['seconds'][group]:.2f} s)"
                                   for p in profile.values()]] for group in groups])
    return lines


def load_all(results_dir: Path) -> list[dict[str, Any]]:
    """Every CPU kind's results under ``results_dir/hardware/``, in file-name order."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted((results_dir / "hardware").glob("*.json"))]


def _side_by_side_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """One row per measure, one column per CPU kind; ``-`` where a run did not measure it."""
    def figure(result: dict[str, Any], read: Any) -> str:
        try:
            return read(result)
        except (KeyError, TypeError, StopIteration, ValueError):
            return "-"

    def training(label: str, kind: str) -> Any:
        return lambda r: f"{next(s for s in r['training']['speed'] if label in s['label'] and s['kind'] == kind)['bf16_speedup_vs_fp32']:.2f}x"

    def process(kind: str, system: str) -> Any:
        return lambda r: f"{r['whole_process'][kind]['systems'][system]['speedup_vs_pipeline']:.2f}x"

    measures = [
        ("load average at start", lambda r: str(r["meta"]["load_before"][0])),
        ("fp32 matmul peak, GFLOP/s", lambda r: f"{r['peaks']['fp32']['gflops']:.0f}"),
        ("bf16 peak vs fp32", lambda r: f"{r['peaks']['bf16']['gflops'] / r['peaks']['fp32']['gflops']:.2f}x"),
        ("int8 peak vs fp32", lambda r: f"{r['peaks']['int8']['gflops'] / r['peaks']['fp32']['gflops']:.2f}x"),
        ("precision=auto picks", lambda r: r["precision_auto"]["verdict"]["precision"]),
        ("bf16 / fp32, auto's measurement", lambda r: f"{r['precision_auto']['bf16_speedup_measured']:.2f}x"),
        ("bf16 / fp32 training, MiniLM, MultiNERD-like", training("MiniLM", "multinerd")),
        ("bf16 / fp32 training, MiniLM, short texts", training("MiniLM", "short")),
        ("bf16 / fp32 training, bert-base-sized, MultiNERD-like", training("bert-base", "multinerd")),
        ("predict torch auto / pipeline, processes, MultiNERD-like", process("multinerd", "multinerd predict, torch auto")),
        ("predict torch auto / pipeline, processes, short", process("short", "multinerd predict, torch auto")),
        ("predict onnx int8 / pipeline, processes, MultiNERD-like", process("multinerd", "multinerd predict, onnx int8")),
        ("predict onnx int8 / pipeline, processes, short", process("short", "multinerd predict, onnx int8")),
        ("one sentence, onnx fp32, s", lambda r: f"{r['startup']['cases']['onnx fp32']['median_s']:.2f}"),
        ("one sentence, torch fp32, s", lambda r: f"{r['startup']['cases']['torch fp32']['median_s']:.2f}"),
    ]
    return [[name, *[figure(r, read) for r in results]] for name, read in measures]


def section(results: list[dict[str, Any]]) -> list[str]:
    """BENCHMARKS.md's number-format section: every CPU kind measured, side by side, then each in detail."""
    from common import table as _table

    lines = ["## Number formats: fp32, bf16, int8, per CPU kind", ""]
    if not results:
        return lines + [("No `bench/results/hardware/*.json` yet; run "
                         "`.venv/bin/python bench/hardware.py --model-dir runs/quickstart/A`."), ""]
    lines += [("Each column is one run of `bench/hardware.py` on one kind of CPU (its results file "
               "`bench/results/hardware/<cpu>.json`); ratios are measured side by side within that run. "
               "`-`: not measured by that run (it predates the measure)."), ""]
    names = [f"{r['meta'].get('cpu', '?')} ({r['meta'].get('bf16_feature') or 'no bf16'}), {r['meta']['date'][:10]}"
             for r in results]
    lines += _table(["measure", *names], _side_by_side_rows(results))
    for result in results:
        lines += markdown(result)
    return lines


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
    args.output = args.output or RESULTS_DIR / f"{result['meta']['cpu_key']}.json"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    markdown_path = args.output.with_suffix(".md")
    markdown_path.write_text("\n".join(markdown(result)), encoding="utf-8")
    print(f"wrote {args.output} and {markdown_path}")


if __name__ == "__main__":
    main()
