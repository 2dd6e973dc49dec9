"""The CPU benchmark set in one run (``make bench``): results/*.json, then BENCHMARKS.md from them.

Every ratio in BENCHMARKS.md comes from systems measured one after the other in this one
process on this one machine; the tables are written from the JSON by :func:`write_markdown`,
never typed by hand. The machine's load average is recorded before and after, because a
shared machine makes absolute figures noisy (ratios less so: both sides pay the same).

    .venv/bin/python bench/run_all.py                  # the full set, under 30 minutes on 2 cores
    .venv/bin/python bench/run_all.py --markdown-only  # rewrite BENCHMARKS.md from bench/results
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
for name, value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("HF_DATASETS_OFFLINE", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(name, value)

RESULTS = BENCH / "results"
MARKDOWN = REPO / "BENCHMARKS.md"
COMMAND = ".venv/bin/python bench/run_all.py"


@dataclass(frozen=True)
class Sizes:
    """How much each part measures; the defaults keep the whole set under 30 minutes on 2 shared cores."""

    speed_sentences: int = 6400
    minilm_steps: int = 11
    bert_steps: int = 4
    f1_train_sentences: int = 384
    f1_epochs: float = 3.0
    texts: int = 250
    text_pool: int = 4000
    profile_steps: int = 6
    matmul_seconds: float = 5.0


#: The F1 slice leaves out the 540-word sentences the generator plants in every split: in a few
#: hundred sentences they are ~0.5% of rows (MultiNERD: ~0.05%) and would dominate a short run's time.
F1_MAX_WORDS = 200
#: A learning rate at which 2 epochs of a few hundred sentences learn MiniLM something (1e-4 gives F1 0).
F1_LEARNING_RATE = 5e-4

QUICK = Sizes(
    speed_sentences=70,
    minilm_steps=2,
    bert_steps=0,
    f1_train_sentences=32,
    f1_epochs=1.0,
    texts=6,
    text_pool=60,
    profile_steps=2,
    matmul_seconds=0.2,
)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import onnxruntime
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = next(line for line in meminfo.read_text().splitlines() if line.startswith("MemTotal"))
        memory = round(int(total.split()[1]) / 1024**2, 1)
    return {
        "cpu": cpu,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": memory,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }


def inference_texts(directory: Path, n_texts: int, pool: int) -> list[str]:
    """``n_texts`` raw English texts drawn at random from a generated test split of ``pool`` sentences.

    Drawing from a larger pool keeps the share of 540-word sentences near MultiNERD's instead
    of the generator's minimum of two per split.
    """
    import train_throughput

    corpus = train_throughput.bench_corpus(directory, pool, seed=1)
    sentences = corpus.splits["train"]
    return [" ".join(s.words) for s in random.Random(0).sample(sentences, min(n_texts, len(sentences)))]


def _loads() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_training(sizes: Sizes, workdir: Path, peak: float) -> dict[str, Any]:
    import flops
    import train_throughput as tt
    from transformers import AutoConfig

    from multinerd.corpus import load_corpus
    from multinerd.labels import TagScheme
    from multinerd.modelhub import resolve_model_name

    corpus = tt.bench_corpus(workdir / "speed-data", sizes.speed_sentences)
    models = [tt.MINILM] + (
        [tt.random_bert_base(workdir / "bert-base", TagScheme.multinerd(None, name="A"))]
        if sizes.bert_steps
        else []
    )
    results: dict[str, Any] = {"speed": []}
    for model, steps in zip(models, (sizes.minilm_steps, sizes.bert_steps)):
        print(f"training throughput: {model}, {steps} steps per path", flush=True)
        speed = tt.compare_speed(model, corpus, steps, workdir / "speed", candidate=model == tt.MINILM)
        speed["label"] = "MiniLM-L6 (bundled)" if model == tt.MINILM else "bert-base-sized (random init)"
        shape = flops.encoder_shape(AutoConfig.from_pretrained(resolve_model_name(model)))
        shape["labels"] = len(TagScheme.multinerd(None).labels)
        speed["shape"] = shape
        for path in speed.keys() & {"baseline", "ours", "ours_candidate"}:
            figures = speed[path]
            figures |= flops.utilisation(shape, figures["batches"], figures["seconds"], peak, training=True)
        results["speed"].append(speed)
    print("validation F1 after the same epochs (MiniLM, bundled sample)", flush=True)
    sample = load_corpus("sample")
    kept = [s for s in sample.splits["train"] if len(s.words) <= F1_MAX_WORDS]
    sample.splits["train"] = kept[: sizes.f1_train_sentences]
    results["f1"] = tt.compare_f1(
        sample, sizes.f1_epochs, workdir / "f1", save_ours=workdir / "model", learning_rate=F1_LEARNING_RATE
    )
    results["f1"]["max_words"] = F1_MAX_WORDS
    return results


def run_inference(sizes: Sizes, workdir: Path, peaks: dict[str, Any], shape: dict[str, int]) -> dict[str, Any]:
    """The Tagger's backends against the pipeline; each row's utilisation against its own format's peak."""
    import flops
    import infer_throughput

    texts = inference_texts(workdir / "infer-data", sizes.texts, sizes.text_pool)
    print(f"inference throughput: {len(texts)} texts", flush=True)
    result = infer_throughput.compare_inference(workdir / "model", texts, workdir / "infer")
    for figures in result["systems"].values():
        fmt = figures.get("precision", "fp32")
        if "batches" in figures and peaks[fmt]["gflops"]:
            figures |= flops.utilisation(
                shape, figures["batches"], figures["seconds"], peaks[fmt]["gflops"], training=False, fmt=fmt
            )
    return result


def run_profiles(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """cProfile phase shares and torch operator shares of our training path, and of the Tagger."""
    import flops
    import train_throughput as tt

    from multinerd.labels import TagScheme
    from multinerd.tagger import Tagger

    print("profiles", flush=True)
    corpus = tt.bench_corpus(workdir / "speed-data", sizes.speed_sentences)
    config = tt.bench_config(tt.MINILM, workdir / "profile")
    scheme = TagScheme.multinerd(None, name="A")
    sentences = corpus.splits["train"]
    trainer, collator, _, _ = tt.our_trainer(
        config, scheme, sentences, workdir / "profile", n_steps=sizes.profile_steps
    )
    training = flops.profile_training(trainer, collator)
    trainer, _, _, _ = tt.our_trainer(
        config, scheme, sentences, workdir / "profile", n_steps=sizes.profile_steps
    )
    training["ops"] = flops.op_shares(trainer.train)
    texts = inference_texts(workdir / "infer-data", sizes.texts, sizes.text_pool)
    tagger = Tagger.from_pretrained(workdir / "model", backend="torch", device="cpu", precision="fp32")
    inference = flops.profile_inference(tagger, texts)
    inference["ops"] = flops.op_shares(lambda: tagger.predict_text(texts))
    return {"training": training, "inference": inference}


def run(sizes: Sizes, workdir: Path, results_dir: Path) -> dict[str, Any]:
    """Every CPU benchmark, then the JSON files; returns the combined results."""
    import flops

    started = time.perf_counter()
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": COMMAND,
        "machine": machine(),
        "load_before": _loads(),
        "sizes": sizes.__dict__,
    }
    peaks = flops.matmul_peaks(seconds=sizes.matmul_seconds)
    matmul = peaks["fp32"]
    training = run_training(sizes, workdir, matmul["gflops"])
    inference = run_inference(sizes, workdir, peaks, training["speed"][0]["shape"])
    profiles = run_profiles(sizes, workdir)
    meta["matmul"] = matmul
    meta["peaks"] = peaks
    meta["matmul_after"] = flops.matmul_gflops(seconds=sizes.matmul_seconds)
    meta["load_after"] = _loads()
    meta["seconds"] = time.perf_counter() - started
    results = {"meta": meta, "training": training, "inference": inference, "profiles": profiles}
    results_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (
        ("run_all", meta),
        ("train_throughput", training),
        ("infer_throughput", inference),
        ("flops", {"matmul": matmul, "profiles": profiles}),
    ):
        (results_dir / f"{name}.json").write_text(json.dumps(part, indent=1) + "\n", encoding="utf-8")
    return results


# ---------------------------------------------------------------------------- BENCHMARKS.md


def load_results(results_dir: Path) -> dict[str, Any]:
    def read(name: str) -> Any:
        path = results_dir / f"{name}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    flops_part = read("flops") or {}
    return {
        "meta": read("run_all"),
        "training": read("train_throughput"),
        "inference": read("infer_throughput"),
        "profiles": flops_part.get("profiles"),
        "data_scale": read("data_scale"),
        "load_test": read("load_test"),
        "load_batching": read("load_batching"),
        "hardware": read("hardware"),
        "tune": [part for name in ("tune_search_sample", "tune_search_short") if (part := read(name))],
        "dry_run": read("dry_run"),
        "decoding": read("decoding"),
        "decoding_cost": read("decoding_cost"),
    }


PATH_NAMES = {"baseline": "baseline", "ours": "ours", "ours_candidate": "ours, no attention dropout"}


def _paths(speed: dict[str, Any]) -> list[str]:
    return [path for path in PATH_NAMES if path in speed]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _training_section(training: dict[str, Any], peak: float) -> list[str]:
    lines = [
        "## 1. Training throughput: our path against the baseline recipe",
        "",
        (
            "Baseline: `bench/baseline_recipe.py` (HF Trainer, batches of 32 in random order, padded to the "
            "longest row, fp32, no length grouping, sentences truncated at 512 sub-tokens; labels on first "
            "sub-tokens as in our path, since labelling does not change the compute). Ours: `training_arguments` "
            "+ `WindowDataset` + length-grouped sampler + `DataCollatorForTokenClassification` (multiple of 8 "
            "only on GPU), fp32. Same encoder, same generated English sentences (MultiNERD-like lengths), "
            "same number of steps of 32 rows, taken from one epoch of each path's own sampler order at evenly "
            "spaced quantiles of batch width (so wide batches are sampled in proportion); the first step is a "
            "warm-up (a median-width batch) and not timed. A row is a sentence (ours: a window; only sentences past 510 "
            "sub-tokens give more than one). Command: `.venv/bin/python bench/run_all.py` "
            "(one path alone: `.venv/bin/python bench/train_throughput.py --steps 11`)."
        ),
        "",
    ]
    rows = []
    for speed in training["speed"]:
        for path in _paths(speed):
            f = speed[path]
            rows.append(
                [
                    speed["label"],
                    PATH_NAMES[path],
                    f["steps"],
                    f"{f['sentences_per_s']:.2f}",
                    f"{f['tokens_per_s']:.0f}",
                    f"{f['mean_width']:.0f}",
                    _pct(f["padding_share"]),
                    _pct(f["padding_flop_share"]),
                    f"{f.get('speedup', 1.0):.2f}x",
                ]
            )
    lines += _table(
        [
            "encoder",
            "path",
            "timed steps",
            "sentences/s",
            "real tokens/s",
            "mean padded width",
            "padding (positions)",
            "padding (FLOPs)",
            "speed-up",
        ],
        rows,
    )
    target = all(speed["speedup"] >= 1.8 for speed in training["speed"])
    ratios = ", ".join(f"{speed['label']}: {speed['speedup']:.2f}x" for speed in training["speed"])
    lines.append(f"Target >= 1.8x baseline sentences/s on the CPU: {_verdict(target)} ({ratios}).")
    candidates = [speed for speed in training["speed"] if "ours_candidate" in speed]
    for speed in candidates:
        gain = speed["ours_candidate"]["sentences_per_s"] / speed["ours"]["sentences_per_s"]
        lines.append(
            f"\nCandidate measured beside ours ({speed['label']}): loading the encoder with "
            "`attention_probs_dropout_prob=0.0` lets PyTorch's scaled dot-product attention use its fused "
            "kernel in training instead of the unfused math path (a [rows, heads, n, n] probability tensor "
            f"and dropout mask): {gain:.2f}x our path's sentences/s on the same batches."
        )
    f1 = training["f1"]
    lines += [
        "",
        (
            f"**Validation F1 after the same number of epochs** (MiniLM, {f1['epochs']:g} epochs at learning rate "
            f"{f1.get('learning_rate', 1e-4):g} of the first {f1['n_train']} English training sentences of the "
            f"bundled sample of at most {f1.get('max_words', 'any')} words (the generator's 540-word sentences, "
            "10x over-represented in a small slice, left out), validation on its "
            f"{f1['n_validation']} English validation sentences, each path with its own sampler, both scored by "
            "the library's Tagger, strict IOB2 micro F1):"
        ),
        "",
    ]
    lines += _table(
        ["path", "strict F1", "sentences/s over the whole run", "padding (positions)"],
        [
            [
                p,
                f"{f1[p]['validation_f1']:.4f}",
                f"{f1[p]['sentences_per_s']:.2f}",
                _pct(f1[p]["padding_share"]),
            ]
            for p in ("baseline", "ours")
        ],
    )
    lines.append(
        f"F1 no worse than the baseline: {_verdict(f1['f1_difference'] >= 0)} "
        f"(difference {100 * f1['f1_difference']:+.2f} points; whole-run speed-up {f1['speedup']:.2f}x)."
    )
    return lines + [""]


def _inference_section(inference: dict[str, Any]) -> list[str]:
    names = {
        "tagger_torch": "Tagger, PyTorch",
        "tagger_onnx": "Tagger, ONNX fp32",
        "tagger_onnx_int8": "Tagger, ONNX int8",
        "pipeline_batch1": "pipeline (default batch 1)",
        "pipeline_batch32": "pipeline (batch_size=32)",
    }
    lines = [
        "## 2. Inference throughput: the Tagger against `transformers.pipeline`",
        "",
        (
            f"{inference['n_texts']} raw English texts ({inference['n_words']} words) drawn from a generated test "
            'split, the MiniLM model trained in section 1. `pipeline("token-classification", '
            'aggregation_strategy="first")` is the baseline, at its default batch size of 1 (and at 32). '
            "Agreement: entity-level (character span and type) micro F1 and exact-text agreement with the "
            "PyTorch Tagger; the pipeline splits words differently (hyphens, clitics), so part of its "
            "disagreement is word splitting. Command: `.venv/bin/python bench/run_all.py` "
            "(alone: `.venv/bin/python bench/infer_throughput.py --model-dir DIR`)."
        ),
        "",
    ]
    rows = []
    for key, f in inference["systems"].items():
        rows.append(
            [
                names.get(key, key),
                f"{f['words_per_s']:.0f}",
                f"{f['speedup_vs_pipeline']:.2f}x",
                f"{f['entity_f1']:.4f}" if "entity_f1" in f else "reference",
                _pct(f["text_agreement"]) if "text_agreement" in f else "",
            ]
        )
    lines += _table(["system", "words/s", "vs pipeline", "entity agreement F1", "texts identical"], rows)
    systems = inference["systems"]
    lines.append(
        f"Target Tagger (PyTorch) >= 5x pipeline: {_verdict(systems['tagger_torch']['speedup_vs_pipeline'] >= 5)} "
        f"({systems['tagger_torch']['speedup_vs_pipeline']:.2f}x)."
    )
    if "tagger_onnx_int8" in systems:
        lines.append(
            f"Target int8 >= 10x pipeline: {_verdict(systems['tagger_onnx_int8']['speedup_vs_pipeline'] >= 10)} "
            f"({systems['tagger_onnx_int8']['speedup_vs_pipeline']:.2f}x)."
        )
    parity = inference.get("parity")
    if parity:
        lines += [
            "",
            f"F1 against gold from the export's parity check (bundled sample, test split, {parity['n_sentences']} "
            f"sentences): PyTorch {parity['torch_f1']:.4f}, "
            + ", ".join(
                f"{v} {parity[v]['strict_f1']:.4f} (drop {parity[v]['f1_drop_points']:+.2f} points, "
                f"sentence agreement {_pct(parity[v]['sentence_agreement'])})"
                for v in ("fp32", "int8")
                if v in parity
            )
            + ".",
        ]
        if "int8" in parity:
            lines.append(
                f"Target int8 F1 within 0.5 points of fp32: {_verdict(parity['int8']['f1_drop_points'] <= 0.5)}."
            )
    return lines + [""]


def _data_scale_section(data_scale: dict[str, Any] | None) -> list[str]:
    lines = ["## 3. Data at full size", ""]
    if not data_scale:
        return lines + [
            (
                "`bench/results/data_scale.json` was not present when this file was written; "
                "run `.venv/bin/python bench/data_scale.py`."
            ),
            "",
        ]
    lines += [
        (
            f"From `bench/data_scale.py`, measured in its own run ({data_scale.get('date')}; command: "
            f"`{data_scale.get('command')}`), copied from `bench/results/data_scale.json`. Each step runs in a "
            "fresh child process; memory is that child's peak resident set size."
        ),
        "",
    ]
    rows = []
    for run in data_scale.get("results", []):
        load, encode = run.get("load_audit", {}), run.get("features") or {}
        rows.append(
            [
                sum(run.get("english_sentences", {}).values()),
                load.get("load_s"),
                load.get("audit_s"),
                load.get("load_audit_s"),
                load.get("peak_rss_mb"),
                encode.get("encode_s", "-"),
                encode.get("peak_rss_mb", "-"),
            ]
        )
    lines += _table(
        [
            "English sentences",
            "load s",
            "audit s",
            "load + audit + fingerprint s",
            "peak MB",
            "featurise s (MiniLM tokenizer)",
            "featurise peak MB",
        ],
        rows,
    )
    if len(rows) > 1 and rows[0][3]:
        growth = rows[-1][3] / rows[0][3]
        lines.append(
            f"From {rows[0][0]} to {rows[-1][0]} sentences ({rows[-1][0] / rows[0][0]:.0f}x) load + audit "
            f"time grows {growth:.1f}x. Targets (theirs): {data_scale.get('targets')}, largest size within "
            f"them: {data_scale.get('largest_within_targets')}."
        )
    return lines + [""]


def _load_test_section(load: dict[str, Any] | None) -> list[str]:
    if not load:
        return ["## Server under load", "", "`bench/results/load_test.json` is missing; run `bench/load_test.py`.", ""]
    latency = load["latency_ms"]
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(load["status_counts"].items()))
    return [
        "## Server under load and abuse",
        "",
        (
            f"`{load['command']}` ({load['date']}; load average before {load['machine']['load_average']}): "
            f"{load['requests']} requests from {load['concurrency']} concurrent clients against `multinerd serve` "
            f"on loopback ({load['model']}), {load['bad_share']:.0%} of them malformed, oversized, non-UTF-8 or "
            "of the wrong shape."
        ),
        "",
        *_table(
            ["good requests answered 200", "bad requests answered 4xx", "good right after a bad one",
             "p50 ms", "p90 ms", "p99 ms", "requests/s"],
            [[
                f"{load['good_succeeded']} / {load['good_requests']}",
                f"{load['bad_answered_4xx']} / {load['bad_requests']}",
                f"{load['good_right_after_bad_succeeded']} / {load['good_right_after_bad']}",
                f"{latency['p50']:.0f}", f"{latency['p90']:.0f}", f"{latency['p99']:.0f}",
                f"{load['throughput_rps']:.1f}",
            ]],
        ),
        (
            f"Status codes: {statuses}. Healthy after the run: {load['healthy_after']}. The server binds to "
            f"{', '.join(load['binding']['listening'])} by default (non-loopback connection: "
            f"{', '.join(f'{k} {v}' for k, v in load['binding']['non_loopback_connect'].items()) or 'no other address'}). "
            "Model calls run one at a time; concurrent requests share them (dynamic batching, below)."
        ),
        "",
    ]


def _batching_section(batching: dict[str, Any] | None) -> list[str]:
    if not batching:
        missing = "`bench/results/load_batching.json` is missing; run `bench/load_test.py --batching`."
        return ["## Dynamic batching", "", missing, ""]
    rows = [[row["setting"], row["server_options"], row["clients"], row["requests"],
             f"{row['throughput_rps']:.1f}", f"{row['latency_ms']['p50']:.0f}", f"{row['latency_ms']['p99']:.0f}",
             row["good_failed"], row["bad_not_4xx"]] for row in batching["rows"]]  # fmt: skip
    scaling = ", ".join(f"{setting} {ratio:.2f}x" for setting, ratio in batching["scaling_50_over_1"].items())
    return [
        "## Dynamic batching: 1, 10 and 50 clients, before and after",
        "",
        (
            f"`{batching['command']}` ({batching['date']}; model: {batching['model']}; load average before "
            f"{batching['machine']['load_average']}, after {batching['machine']['load_average_after']}). "
            "\"before\" is the server with batching off (one request per model call), \"after\" its defaults; "
            "each row is one run of the same seeded mix of requests (10% bad) against a fresh server after a warm-up."
        ),
        "",
        *_table(["setting", "serve options", "clients", "requests", "requests/s", "p50 ms", "p99 ms",
                 "good failed", "bad not 4xx"], rows),
        f"Requests/s at 50 clients over 1 client: {scaling} (target: at least 2x, p99 at most 1 s).",
        ""
        if max(batching["machine"]["load_average"][0], batching["machine"]["load_average_after"][0])
        <= batching["machine"]["cpu_count"]
        else "The machine was shared with other work during the run (load average above its core count): "
        "absolute rates and latencies are far from a quiet machine's; compare the rows with each other.",
        "",
    ]


def _limit_section(results: dict[str, Any]) -> list[str]:
    meta, training, inference, profiles = (
        results["meta"],
        results["training"],
        results["inference"],
        results["profiles"],
    )
    peak = max(meta["matmul"]["gflops"], meta["matmul_after"]["gflops"])
    lines = [
        "## 4. How close to the limit",
        "",
        (
            f"Sustained fp32 matmul rate (torch, {meta['matmul']['size']}x{meta['matmul']['size']}, "
            f"{meta['matmul']['threads']} threads): {meta['matmul']['gflops']:.1f} GFLOP/s at the start of the run, "
            f"{meta['matmul_after']['gflops']:.1f} GFLOP/s at the end; fractions below are of the higher, "
            f"**{peak:.1f} GFLOP/s**. FLOPs counted from the encoder's shape "
            "(`bench/flops.py`: linear layers + attention, training = 3x forward); *useful* counts real tokens, "
            "*executed* counts padded positions. Command: `.venv/bin/python bench/run_all.py` "
            "(matmul alone: `.venv/bin/python bench/flops.py`)."
        ),
        "",
    ]
    rows = []
    for speed in training["speed"]:
        for path in _paths(speed):
            f = speed[path]
            rows.append(
                [
                    f"training, {speed['label']}, {PATH_NAMES[path]}",
                    f"{f['useful_gflops']:.1f}",
                    _pct(f["useful_gflops"] / peak),
                    f"{f['executed_gflops']:.1f}",
                    _pct(f["executed_gflops"] / peak),
                ]
            )
    for key, f in inference["systems"].items():
        if "useful_gflops" in f:
            own = f.get("peak_gflops", peak) if f.get("format", "fp32") != "fp32" else peak
            rows.append(
                [
                    f"inference, MiniLM, {key}",
                    f"{f['useful_gflops']:.1f}",
                    _pct(f["useful_gflops"] / own),
                    f"{f['executed_gflops']:.1f}",
                    _pct(f["executed_gflops"] / own),
                ]
            )
    lines += _table(["what", "useful GFLOP/s", "of its format's matmul rate", "executed GFLOP/s",
                     "of its format's matmul rate"], rows)
    if "peaks" in meta:
        lines.append(
            "Each row is against the matmul rate of the format it computes in, measured at the start of the "
            "run: " + ", ".join(f"{fmt} {p['gflops']:.1f}" for fmt, p in meta["peaks"].items() if p["gflops"])
            + " G(FL)OP/s (int8 ONNX keeps its feed-forward layers in fp32, so its share is a lower bound)."
        )
    else:
        lines.append("int8 rows count the same FLOPs against the fp32 matmul rate (these results predate "
                     "per-format peaks; rerun `bench/run_all.py`).")
    lines.append("")
    lines.append("**Where the time goes** (cProfile cumulative shares; profiling inflates Python overhead):")
    lines.append("")
    for part in ("training", "inference"):
        p = profiles[part]
        shares = ", ".join(f"{k} {_pct(v)}" for k, v in p["shares"].items())
        ops = ", ".join(f"{k} {_pct(v)}" for k, v in p["ops"]["top_ops"][:6])
        lines.append(
            f"- {part} (MiniLM, our path, {p['seconds']:.1f} s profiled): {shares}. "
            f"torch operators: matmuls {_pct(p['ops']['matmul_share'])} of operator time; top: {ops}."
        )
    return lines + [""]


def _tune_section(runs: list[dict[str, Any]]) -> list[str]:
    """``multinerd tune`` against the quickstart's defaults (``bench/tune_search.py``)."""
    lines = ["## Tuning: 8 trials against the defaults", ""]
    if not runs:
        return lines + ["`bench/results/tune_search_*.json` is missing; run `.venv/bin/python bench/tune_search.py`.", ""]
    rows = []
    for run in runs:
        for r in run["results"]:
            low, high = r["gain_ci95"] if r.get("gain_ci95") else (None, None)
            interval = f"[{low:+.3f}, {high:+.3f}]" if low is not None else "n/a"
            rows.append([
                f"{r['corpus']} ({r['sentences']['train']}/{r['sentences']['validation']}/{r['sentences']['test']})",
                f"{r['validation_f1_default']:.3f} / {r['validation_f1_best_trial']:.3f}",
                f"{r['test_f1_default']:.3f} / {r['test_f1_tuned']:.3f}",
                f"{r['gain']:+.3f} {interval}",
                f"{r['search_seconds']:.0f} s of {r['search_budget_seconds']:.0f} s",
                f"`{run['command']}`",
            ])
    lines += _table(
        ["corpus (train/validation/test)", "validation F1: defaults / best trial", "test F1: defaults / tuned",
         "test gain [95% CI]", "search time of the budget (8 default runs)", "command"],
        rows,
    )
    return lines + [
        (
            "System B, quickstart settings as the defaults, strict micro F1. The corpora are small slices "
            "(the benchmark ran on a machine shared with other work, so it had to fit in minutes); on them "
            "the defaults' 2 epochs do not learn any entity, and the search mostly finds more epochs at a "
            "higher learning rate. With 8 trials Optuna's TPE sampler is still in its random start-up "
            "trials, so this is in effect a random search; the intervals are paired bootstrap intervals "
            "over test sentences."
        ),
        "",
    ]


def _dry_run_section(dry: dict[str, Any] | None) -> list[str]:
    """``--dry-run``'s estimate against a real training run of the same system (``bench/dry_run.py``)."""
    lines = ["## The dry run's estimate against a real run", ""]
    if not dry:
        return lines + ["`bench/results/dry_run.json` is missing; run `.venv/bin/python bench/dry_run.py`.", ""]
    ratio = dry["estimate_over_real"]
    lines += _table(
        ["dry run took", "estimated training", "real training", "estimate / real", "target (within 1.5x)",
         "load before / after", "command"],
        [[
            f"{dry['dry_run_seconds']:.0f} s",
            f"{dry['estimated_total_seconds']:.0f} s",
            f"{dry['real_total_seconds']:.0f} s",
            f"{ratio:.2f}",
            _verdict(1 / 1.5 <= ratio <= 1.5),
            f"{dry['load_average_before'][0]:.1f} / {dry['load_average_after'][0]:.1f}",
            f"`{dry['command']}`",
        ]],
    )
    return lines


def write_markdown(results: dict[str, Any], path: Path = MARKDOWN) -> str:
    """BENCHMARKS.md from the results: every figure generated, with its command, machine and date."""
    meta = results["meta"]
    m = meta["machine"]
    lines = [
        "# Benchmarks",
        "",
        (
            "Generated by `bench/run_all.py` from `bench/results/*.json`; do not edit by hand "
            "(`.venv/bin/python bench/run_all.py --markdown-only` rewrites it from the JSON)."
        ),
        "",
        (
            f"- Date: {meta['date']}; whole run {meta['seconds'] / 60:.1f} minutes; command `{meta['command']}` "
            "(also `make bench`)."
        ),
        (
            f"- Machine: {m['cpu']}, {m['usable_cores']} usable cores, {m['memory_gib']} GiB memory, "
            f"GPU: {m['gpu'] or 'none'}; {m['platform']}; Python {m['python']}, torch {m['torch']} "
            f"({m['torch_threads']} threads), transformers {m['transformers']}, onnxruntime {m['onnxruntime']}."
        ),
        f"- Load average (1, 5, 15 min) before the run: {meta['load_before']}, after: {meta['load_after']}. "
        + (
            "The machine was shared with other work during the run (load above its core count), so absolute "
            "rates are low and noisy; the ratios compare systems measured minutes apart under similar load."
            if max(meta["load_before"][0], meta["load_after"][0]) > m["usable_cores"]
            else "The machine was otherwise quiet."
        ),
        "",
    ]
    lines += _training_section(results["training"], meta["matmul"]["gflops"])
    lines += _inference_section(results["inference"])
    lines += _data_scale_section(results.get("data_scale"))
    lines += _limit_section(results)
    lines += _load_test_section(results.get("load_test"))
    lines += _batching_section(results.get("load_batching"))
    if results.get("hardware"):
        import hardware

        lines += hardware.markdown(results["hardware"])
    else:
        lines += ["## Number formats: fp32, bf16, int8", "",
                  ("`bench/results/hardware.json` is missing; run "
                   "`.venv/bin/python bench/hardware.py --model-dir runs/quickstart/A`."), ""]
    lines += _tune_section(results.get("tune") or [])
    lines += _dry_run_section(results.get("dry_run"))
    import decoding_bench

    decoding = results.get("decoding")
    if decoding and results.get("decoding_cost"):
        decoding = decoding | {"cost_run": results["decoding_cost"]}
    lines += decoding_bench.markdown(decoding)
    lines += [
        "## 5. GPU",
        "",
        (
            "No GPU figures were measured: no GPU machine was lent to this session (the device tool reported "
            "`not_drawn`). `bench/gpu_check.sh` is the prepared script that runs sections 1 and 2 with bf16 "
            "for the bert-base-sized encoder and prints model FLOP utilisation against the card's peak; its "
            "figures belong here once a session with a GPU runs it."
        ),
        "",
    ]
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    return text


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--markdown-only", action="store_true", help="rewrite BENCHMARKS.md from bench/results"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that everything runs")
    parser.add_argument("--workdir", type=Path, default=REPO / "runs" / "bench")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--markdown", type=Path, default=MARKDOWN)
    args = parser.parse_args(argv)
    if not args.markdown_only:
        if args.workdir.exists():
            shutil.rmtree(args.workdir)
        run(QUICK if args.quick else Sizes(), args.workdir, args.results)
        if not args.quick:
            import load_test

            load_test.main(["--output", str(args.results / "load_test.json")])
            # The batching target is stated for the quickstart's models: use them when they exist.
            batching = ["--batching", "--output", str(args.results / "load_batching.json")]
            quickstart_a = REPO / "runs" / "quickstart" / "A"
            if quickstart_a.is_dir():
                batching += ["--model", str(quickstart_a), "--requests-per-client", "10"]
            load_test.main(batching)
    write_markdown(load_results(args.results), args.markdown)
    print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
