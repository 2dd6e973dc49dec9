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
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import sections
from common import REPO, RESULTS, loads, machine

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


def inference_texts(directory: Path, n_texts: int, pool: int) -> list[str]:
    """``n_texts`` raw English texts drawn at random from a generated test split of ``pool`` sentences.

    Drawing from a larger pool keeps the share of 540-word sentences near MultiNERD's instead
    of the generator's minimum of two per split.
    """
    import train_throughput

    corpus = train_throughput.bench_corpus(directory, pool, seed=1)
    sentences = corpus.splits["train"]
    return [" ".join(s.words) for s in random.Random(0).sample(sentences, min(n_texts, len(sentences)))]


def run_training(sizes: Sizes, workdir: Path, peak: float) -> dict[str, Any]:
    import flops
    import train_throughput as tt
    from transformers import AutoConfig

    from multinerd.data.corpus import load_corpus
    from multinerd.labels import TagScheme
    from multinerd.model.modelhub import resolve_model_name

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
    from multinerd.model.tagger import Tagger

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
        "load_before": loads(),
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
    meta["load_after"] = loads()
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
    import hardware_report  # one results file per CPU kind: read them all

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
        "hardware": hardware_report.load_all(results_dir),
        "int8_seeds": read("int8_seeds"),
        "ddp_step": read("ddp_step"),
        "tune": [part for name in ("tune_search_sample", "tune_search_short") if (part := read(name))],
        "dry_run": read("dry_run"),
        "predict_corpus": read("predict_corpus"),
        "decoding": read("decoding"),
        "decoding_cost": read("decoding_cost"),
    }


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
    lines += sections.training_section(results["training"], meta["matmul"]["gflops"])
    lines += sections.inference_section(results["inference"])
    lines += sections.data_scale_section(results.get("data_scale"))
    lines += sections.limit_section(results)
    lines += sections.load_test_section(results.get("load_test"))
    lines += sections.batching_section(results.get("load_batching"))
    import hardware_report

    lines += hardware_report.section(results.get("hardware") or [])
    if results.get("int8_seeds"):
        import int8_seeds

        lines += int8_seeds.markdown(results["int8_seeds"])
    if results.get("ddp_step"):
        import ddp_step

        lines += ddp_step.markdown(results["ddp_step"])
    lines += sections.tune_section(results.get("tune") or [])
    lines += sections.dry_run_section(results.get("dry_run"))
    import predict_corpus

    lines += predict_corpus.markdown(results.get("predict_corpus"))
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
